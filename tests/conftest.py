"""Shared fixtures: real media (tests/fixtures/media.py) and throwaway servers (tests/fixtures/*)."""

pytest_plugins = [
    "tests.fixtures.media",
    "tests.fixtures.http_media",
    "tests.fixtures.postgres",
    "tests.fixtures.s3",
    "tests.fixtures.sandbox",
    "tests.fixtures.bluesky_pds",
    "tests.fixtures.oauth_peers",
]
