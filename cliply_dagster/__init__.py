"""The Dagster code location (definitions.py) and the synchronous runner `cliply process` uses (runner.py)."""
