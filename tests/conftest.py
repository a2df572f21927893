"""Shared fixtures: real media (tests/fixtures/media.py) and throwaway servers (tests/fixtures/*).

Every test is a unit test unless it is marked `integration` here: it needs a real server or process (PostgreSQL,
an S3 server, a Node protocol peer, dagster-daemon / dagster dev / the webserver), a Whisper model, the shared
LibriVox media, or renders real clips. `make test-fast` runs `-m "not integration and not slow"`; `make test` runs
everything. A test that is slow for another reason can still say `@pytest.mark.slow` itself.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Iterator

import pytest

pytest_plugins = [
    "tests.fixtures.media",
    "tests.fixtures.http_media",
    "tests.fixtures.postgres",
    "tests.fixtures.s3",
    "tests.fixtures.sandbox",
    "tests.fixtures.bluesky_pds",
    "tests.fixtures.oauth_peers",
]

# Fixtures that start a real server or peer, or that need the shared media / models.
INTEGRATION_FIXTURES = frozenset(
    {
        "postgres_cluster",
        "postgres_url",  # a throwaway PostgreSQL cluster (initdb + pg_ctl)
        "seaweedfs_s3",
        "moto_s3",  # S3 servers in subprocesses
        "bluesky_pds",
        "peers_node",
        "oidc_server",
        "oauth2_mock_server",  # Node 22 protocol peers
        "shared_media",
        "joined_audio",
        "talk_video",  # LibriVox media built with ffmpeg (and then transcribed)
    }
)

# Values of parametrised fixtures that start a server on demand (request.getfixturevalue).
SERVER_PARAMS = frozenset({"postgresql", "seaweedfs", "moto"})

# Whole modules that run the pipeline end to end (Whisper + rendering), Dagster's daemon or webserver, or real peers.
INTEGRATION_MODULES = frozenset(
    {
        "test_analytics_e2e",
        "test_demo_publish",
        "test_encoder_quality",
        "test_experiment_variant_media",
        "test_experiments_e2e",
        "test_framing",
        "test_framing_render",
        "test_oauth_real_servers",
        "test_process_e2e",
        "test_production_stack",
        "test_publishing_e2e",
        "test_reframe",
        "test_render",
        "test_renditions",
        "test_sensors",
        "test_transcribe",
        "test_web_browser",
        "test_web_browser_accounts",
        "test_web_browser_analytics",
        "test_web_browser_compose",
        "test_web_browser_experiments",
        "test_web_browser_flow",
        "test_web_browser_posts",
        "test_web_browser_sources",
    }
)

# A test whose own code starts one of these is integration wherever it lives.
INTEGRATION_SOURCE_MARKERS = ('"dagster-daemon"', '"dagster-webserver"', '"dagster", "dev"', 'with_name("dagster')

# Pipeline stages that load a Whisper model or render clips.
INTEGRATION_SOURCE_CALLS = ("materialize_transcript(", "materialize_clips(", "materialize_thumbnails(")


@functools.cache
def _source(function: object) -> str:
    try:
        return inspect.getsource(function)  # type: ignore[arg-type]
    except (OSError, TypeError):
        return ""


def _is_integration(item: pytest.Item) -> bool:
    if item.module is not None and item.module.__name__.rsplit(".", 1)[-1] in INTEGRATION_MODULES:  # type: ignore[attr-defined]
        return True
    if INTEGRATION_FIXTURES & set(getattr(item, "fixturenames", ())):
        return True
    callspec = getattr(item, "callspec", None)
    # Parametrised backends (`db_url` behind `db`, the S3 stores of test_inbox / test_media_store) that start a server.
    if callspec is not None and SERVER_PARAMS & {v for v in callspec.params.values() if isinstance(v, str)}:
        return True
    source = _source(getattr(item, "function", None))
    return any(marker in source for marker in (*INTEGRATION_SOURCE_MARKERS, *INTEGRATION_SOURCE_CALLS))


# Sandbox faults that hold a response back for seconds (the client times out or loses the answer): each such test
# waits out the delay and then the sandbox's idle check, so they are `slow` (still unit tests, still in `make test`).
SLOW_SOURCE_MARKERS = ('"lost_response"', '"timeout"', '"slow"')


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if _is_integration(item):
            item.add_marker(pytest.mark.integration)
        elif any(marker in _source(getattr(item, "function", None)) for marker in SLOW_SOURCE_MARKERS):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def _no_stale_defs_state_storage() -> Iterator[None]:
    """Each test starts with no "current" Dagster defs-state storage. An instance an earlier test made current can be
    garbage-collected by the time a later test loads definitions in process, which then fails on a dead weakref.
    Cliply's definitions use no state-backed parts; a test that needs a storage sets its own."""
    from dagster._core.storage.defs_state.base import set_defs_state_storage

    with set_defs_state_storage(None):
        yield
