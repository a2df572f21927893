"""Contract tests: the real Threads client against the sandbox over HTTP (Meta pulls our clip from a local server)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cliply.platforms.errors import ErrorClass, PlatformError
from cliply.platforms.models import VideoPost
from cliply.platforms.threads import ThreadsClient, threads_length
from tests.fixtures.sandbox import RunningSandbox
from tests.platforms.helpers import (
    assert_ignores_posts_older_than_the_post,
    assert_skips_posts_other_targets_own,
    calls,
)
from tests.platforms.test_instagram import clip_server  # noqa: F401  (fixture)

P = "threads"
Server = tuple[str, list[str]]


@pytest.fixture
def client(sandbox: RunningSandbox) -> Iterator[ThreadsClient]:
    c = ThreadsClient(sandbox.config(P))
    yield c
    c.close()


def _post(clip: Path, server: Server, text: str = "New clip is up", path: str = "/clip.mp4") -> VideoPost:
    return VideoPost(video=clip, caption=text, video_url=server[0] + path)


def test_connect_long_lived_refresh_and_scopes(sandbox: RunningSandbox, client: ThreadsClient) -> None:
    creds = sandbox.connect(client, account_id="th-1")
    assert creds.account_id == "th-1" and client.missing_scopes(creds) == []
    assert calls(sandbox, P) == [
        ("GET", "/threads/oauth/authorize"),
        ("POST", "/threads/oauth/access_token"),
        ("GET", "/threads/access_token"),
        ("GET", "/threads/v1.0/debug_token"),
    ]
    with pytest.raises(PlatformError):
        client.refresh(creds)  # th_refresh_token needs a token at least 24 h old
    sandbox.state.clock.advance(2 * 86400)
    fresh = client.refresh(creds)
    assert fresh.access_token != creds.access_token and sandbox.state.bearer(P, fresh.access_token)


def test_publish_exact_requests_and_one_post(
    sandbox: RunningSandbox, client: ThreadsClient, small_clip: Path, clip_server: Server
) -> None:
    creds = sandbox.connect(client)
    before = len(sandbox.state.requests_for(P))
    result = client.publish(creds, _post(small_clip, clip_server))
    posts = sandbox.state.posts_for(P)
    assert len(posts) == 1 and posts[0].post_id == result.post_id
    assert posts[0].payload["media_type"] == "VIDEO" and posts[0].payload["text"] == "New clip is up"
    assert result.url.startswith("https://www.threads.net/@")
    v, user, container = "/threads/v1.0", creds.account_id, result.raw["container_id"]
    assert calls(sandbox, P, before) == [
        ("GET", f"{v}/{user}/threads_publishing_limit"),
        ("POST", f"{v}/{user}/threads"),
        *[("GET", f"{v}/{container}")] * 3,
        ("POST", f"{v}/{user}/threads_publish"),
        ("GET", f"{v}/{result.post_id}"),
    ]
    assert ThreadsClient.parse_post_url(result.url).post_id == result.raw["shortcode"]  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("kind", "operation", "expected"),
    [
        ("error", "publish", ErrorClass.TRANSIENT),
        ("rate_limit", "create", ErrorClass.RATE_LIMITED),
        ("quota", "publish", ErrorClass.QUOTA_EXHAUSTED),
        ("expired_token", "publish", ErrorClass.AUTH_REFRESHABLE),
        ("content_rejected", "create", ErrorClass.CONTENT_REJECTED),
        ("media_fetch_failed", "create", ErrorClass.TRANSIENT),  # container ERROR FAILED_DOWNLOADING_VIDEO
        ("media_fetch_failed", "processing", ErrorClass.TRANSIENT),  # the same, after the create was accepted
        ("processing_failed", "processing", ErrorClass.CONTENT_REJECTED),  # FAILED_PROCESSING_VIDEO
    ],
)
def test_faults_are_classified(
    sandbox: RunningSandbox,
    client: ThreadsClient,
    small_clip: Path,
    clip_server: Server,
    kind: str,
    operation: str,
    expected: ErrorClass,
) -> None:
    creds = sandbox.connect(client)
    sandbox.fault(P, kind, operation)
    with pytest.raises(PlatformError) as err:
        client.publish(creds, _post(small_clip, clip_server))
    assert err.value.error_class is expected
    if expected in (ErrorClass.RATE_LIMITED, ErrorClass.QUOTA_EXHAUSTED):
        assert err.value.retry_at is not None and err.value.retry_at > datetime.now(UTC)
    assert sandbox.state.posts_for(P) == []


def test_unreachable_url_and_cap(
    sandbox: RunningSandbox, client: ThreadsClient, small_clip: Path, clip_server: Server
) -> None:
    sandbox.state.add_account(P, "th-capped", publish_quota=1)
    creds = sandbox.connect(client, account_id="th-capped")
    with pytest.raises(PlatformError) as err:
        client.publish(creds, _post(small_clip, clip_server, path="/missing.mp4"))
    assert err.value.error_class is ErrorClass.TRANSIENT and err.value.code == "media_fetch_failed"
    assert "Threads could not download the video from the signed URL" in err.value.message
    client.publish(creds, _post(small_clip, clip_server))
    with pytest.raises(PlatformError) as err:
        client.publish(creds, _post(small_clip, clip_server, text="again"))
    assert err.value.error_class is ErrorClass.QUOTA_EXHAUSTED and err.value.retry_at is not None
    assert len(sandbox.state.posts_for(P)) == 1


def test_container_that_cannot_fetch_the_video_is_transient_and_a_new_container_publishes(
    sandbox: RunningSandbox, client: ThreadsClient, small_clip: Path, clip_server: Server
) -> None:
    creds = sandbox.connect(client)
    post = _post(small_clip, clip_server)
    sandbox.fault(P, "media_fetch_failed", "processing")
    with pytest.raises(PlatformError) as err:
        client.publish(creds, post)
    assert err.value.error_class is ErrorClass.TRANSIENT and err.value.retryable
    assert err.value.code == "media_fetch_failed" and "FAILED_DOWNLOADING_VIDEO" in err.value.message
    failed = err.value.details["container_id"]
    assert client.find_existing(creds, replace(post, options={"container_id": failed})) is None
    result = client.publish(creds, post)
    assert [p.post_id for p in sandbox.state.posts_for(P)] == [result.post_id]


@pytest.mark.parametrize(
    ("message", "expected", "code"),
    [
        ("FAILED_DOWNLOADING_VIDEO", ErrorClass.TRANSIENT, "media_fetch_failed"),
        ("FAILED_PROCESSING_VIDEO", ErrorClass.CONTENT_REJECTED, "FAILED_PROCESSING_VIDEO"),
        ("INVALID_DURATION", ErrorClass.CONTENT_REJECTED, "INVALID_DURATION"),
        ("UNKNOWN", ErrorClass.TRANSIENT, "UNKNOWN"),
    ],
)
def test_container_error_message_classification(
    client: ThreadsClient, message: str, expected: ErrorClass, code: str
) -> None:
    assert client.failure_class("ERROR", {"status": "ERROR", "error_message": message}) == (expected, code)


def test_lost_publish_response_then_found_once(sandbox: RunningSandbox, small_clip: Path, clip_server: Server) -> None:
    client = ThreadsClient(sandbox.config(P, timeout_s=1.0))
    creds = sandbox.connect(client)
    sandbox.fault(P, "lost_response", "publish", delay_s=2.0)
    post = _post(small_clip, clip_server)
    with pytest.raises(PlatformError) as err:
        client.publish(creds, post)
    assert err.value.error_class is ErrorClass.UNKNOWN_OUTCOME
    found = client.find_existing(creds, post)
    posts = sandbox.state.posts_for(P)
    assert len(posts) == 1 and found is not None and found.post_id == posts[0].post_id
    client.close()


def test_text_counted_with_emoji_as_utf8_bytes(
    sandbox: RunningSandbox, client: ThreadsClient, small_clip: Path
) -> None:
    creds = sandbox.connect(client)
    before = len(sandbox.state.requests_for(P))
    assert threads_length("hi 😀") == 3 + 4
    fits = VideoPost(video=small_clip, caption="a" * 496 + "😀", video_url="https://cdn.example/c.mp4")
    over = VideoPost(video=small_clip, caption="a" * 497 + "😀", video_url="https://cdn.example/c.mp4")
    assert client.validate(fits) == []
    with pytest.raises(PlatformError) as err:
        client.publish(creds, over)
    assert err.value.error_class is ErrorClass.CONTENT_REJECTED and err.value.code == "validation"
    assert len(sandbox.state.requests_for(P)) == before


def test_metrics_grow_with_time(
    sandbox: RunningSandbox, client: ThreadsClient, small_clip: Path, clip_server: Server
) -> None:
    creds = sandbox.connect(client)
    result = client.publish(creds, _post(small_clip, clip_server))
    sandbox.state.clock.advance(1800)
    first = client.fetch_metrics(creds, [result.post_id])[result.post_id]
    sandbox.state.clock.advance(7200)
    later = client.fetch_metrics(creds, [result.post_id])[result.post_id]
    assert first.views and later.views and later.views > first.views
    assert later.comments is not None and later.shares is not None and set(later.raw) >= {"replies", "quotes"}


@pytest.mark.parametrize(
    ("url", "code", "handle"),
    [
        ("https://www.threads.net/@zuck/post/C8abc_12-Xy", "C8abc_12-Xy", "zuck"),
        ("https://threads.com/@meta.news/post/DAbc123?xmt=AQGz", "DAbc123", "meta.news"),
    ],
)
def test_parse_post_url(url: str, code: str, handle: str) -> None:
    ref = ThreadsClient.parse_post_url(url)
    assert ref is not None and (ref.post_id, ref.handle, ref.id_kind) == (code, handle, "shortcode")


@pytest.mark.parametrize(
    "url",
    [
        "https://www.threads.net/@zuck",
        "https://threads.net.evil.io/@a/post/C8abc",
        "https://www.instagram.com/reel/C8abc/",
        "https://threads.org/@a/post/C8abc",
    ],
)
def test_parse_post_url_rejects(url: str) -> None:
    assert ThreadsClient.parse_post_url(url) is None


def test_find_existing_ignores_the_same_text_posted_before_the_first_attempt(
    sandbox: RunningSandbox, client: ThreadsClient, small_clip: Path, clip_server: Server
) -> None:
    creds = sandbox.connect(client)
    post = _post(small_clip, clip_server)
    old = client.publish(creds, post)
    other = ThreadsClient(sandbox.config(P))  # another worker: no container in memory, so the listing decides
    assert_ignores_posts_older_than_the_post(sandbox, P, other, creds, post, old)
    other.close()


def test_find_existing_skips_posts_other_targets_own(
    sandbox: RunningSandbox, client: ThreadsClient, small_clip: Path, clip_server: Server
) -> None:
    creds = sandbox.connect(client)
    post = _post(small_clip, clip_server)
    first, second = client.publish(creds, post), client.publish(creds, post)
    other = ThreadsClient(sandbox.config(P))
    assert other.find_existing(creds, post).post_id == second.post_id  # type: ignore[union-attr]  # newest first
    assert_skips_posts_other_targets_own(other, creds, post, first, second)
    other.close()
