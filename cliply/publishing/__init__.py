"""Publishing: the posts ledger, platform limits and the publisher (domain code, no Dagster)."""
