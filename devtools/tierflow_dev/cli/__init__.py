"""Command groups the dev tooling adds to ``tierflow`` (found through entry points)."""
