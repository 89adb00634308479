"""One module per scenario; see bench/registry.py."""
