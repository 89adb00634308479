"""fxmesh benchmark suite: floors and end-to-end scenarios against a stack the harness starts.

    .venv/bin/python -m bench [--quick] [scenario ...]

See ``bench/cli.py`` for the options and ``bench/registry.py`` for the scenarios.
"""
