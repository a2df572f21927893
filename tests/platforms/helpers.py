"""Helpers several platform contract tests share: the sandbox's request log, read per platform."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from cliply.platforms.base import PlatformClient
from cliply.platforms.models import Credentials, PublishResult, VideoPost
from tests.fixtures.sandbox import RunningSandbox


def calls(sandbox: RunningSandbox, platform: str, since: int = 0) -> list[tuple[str, str]]:
    """(method, path) of each request `platform`'s sandbox logged, from index `since` on."""
    return [(r.method, r.path) for r in sandbox.state.requests_for(platform)[since:]]


def settle(sandbox: RunningSandbox, platform: str, method: str, path: str) -> None:
    """The request the client gave up on has finished server-side, so its late log entry lands in this test."""
    assert sandbox.wait_logged(platform, method=method, path=path), f"{method} {path} never completed"


def assert_ignores_posts_older_than_the_post(
    sandbox: RunningSandbox,
    platform: str,
    client: PlatformClient,
    creds: Credentials,
    post: VideoPost,
    old: PublishResult,
) -> datetime:
    """`old` is `post` published once already. Half an hour later the same text must not count as a later target's
    (created_after = now); a target created before it (or with our clock up to the skew ahead) still finds it.
    Returns the later created_after it tried."""
    created = sandbox.state.find_post(platform, old.post_id).created_at  # type: ignore[union-attr]
    sandbox.state.clock.advance(1800)
    later = sandbox.state.clock.now()
    assert client.find_existing(creds, replace(post, created_after=later)) is None
    for after in (created - timedelta(minutes=1), created + timedelta(minutes=4)):  # ours, clocks a little apart
        found = client.find_existing(creds, replace(post, created_after=after))
        assert found is not None and found.post_id == old.post_id
    return later


def assert_skips_posts_other_targets_own(
    client: PlatformClient, creds: Credentials, post: VideoPost, first: PublishResult, second: PublishResult
) -> None:
    """Two posts with the same text: excluding one finds the other; excluding both finds none."""
    mine = client.find_existing(creds, replace(post, exclude_post_ids=frozenset({second.post_id})))
    assert mine is not None and mine.post_id == first.post_id
    both = frozenset({first.post_id, second.post_id})
    assert client.find_existing(creds, replace(post, exclude_post_ids=both)) is None
