"""Smart order router: decides A-, B- or C-book per order, records why, and executes (B in-process)."""
