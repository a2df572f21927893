"""Contract tests: the real Facebook Reels client against the sandbox over HTTP (binary rupload of a real clip)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cliply.platforms.errors import ErrorClass, PlatformError
from cliply.platforms.facebook import FacebookClient
from cliply.platforms.models import VideoPost
from tests.fixtures.sandbox import RunningSandbox
from tests.platforms.helpers import (
    assert_ignores_posts_older_than_the_post,
    assert_skips_posts_other_targets_own,
    calls,
)

P = "facebook"
V = "/facebook/v23.0"


@pytest.fixture
def client(sandbox: RunningSandbox) -> Iterator[FacebookClient]:
    c = FacebookClient(sandbox.config(P))
    yield c
    c.close()


def test_connect_gets_never_expiring_page_token_and_refresh_rederives_it(
    sandbox: RunningSandbox, client: FacebookClient
) -> None:
    creds = sandbox.connect(client, account_id="fb-user-9")
    assert calls(sandbox, P) == [
        ("GET", f"{V}/dialog/oauth"),
        ("GET", f"{V}/oauth/access_token"),
        ("GET", f"{V}/oauth/access_token"),
        ("GET", f"{V}/me/permissions"),
        ("GET", f"{V}/me/accounts"),
    ]
    assert client.missing_scopes(creds) == []
    assert creds.expires_at is None and creds.refresh_expires_at is not None  # Page token never expires
    assert creds.account_id == creds.extra["page_id"] and creds.account_id != "fb-user-9"
    sandbox.state.clock.advance(30 * 86400)
    fresh = client.refresh(creds)
    assert fresh.account_id == creds.account_id and fresh.access_token != creds.access_token
    assert fresh.refresh_token != creds.refresh_token  # a new long-lived user token


def test_publish_reel_exact_requests_binary_upload_and_one_post(
    sandbox: RunningSandbox, client: FacebookClient, small_clip: Path
) -> None:
    creds = sandbox.connect(client)
    before = len(sandbox.state.requests_for(P))
    seen: list[float] = []
    result = client.publish(
        creds, VideoPost(video=small_clip, caption="Watch this", hashtags=("clips",)), progress=seen.append
    )
    page, vid = creds.account_id, result.post_id
    assert calls(sandbox, P, before) == [
        ("POST", f"{V}/{page}/video_reels"),
        ("POST", f"/facebook/video-upload/v23.0/{vid}"),
        ("POST", f"{V}/{page}/video_reels"),
        ("GET", f"{V}/{vid}"),
        ("GET", f"{V}/{vid}"),
    ]
    upload = sandbox.state.requests_for(P)[before + 1]
    data = small_clip.read_bytes()
    assert upload.headers["offset"] == "0" and upload.headers["content-length"] == str(len(data))
    assert upload.body_sha256 == hashlib.sha256(data).hexdigest()
    assert upload.headers["authorization"] == "<redacted>"
    posts = sandbox.state.posts_for(P)
    assert len(posts) == 1 and posts[0].post_id == vid and posts[0].payload["description"] == "Watch this #clips"
    assert result.url == f"https://www.facebook.com/reel/{vid}" and FacebookClient.parse_post_url(result.url)
    assert seen == sorted(seen) and seen[-1] == pytest.approx(0.8)


@pytest.mark.parametrize(
    ("kind", "operation", "expected"),
    [
        ("error", "start", ErrorClass.TRANSIENT),
        ("rate_limit", "start", ErrorClass.RATE_LIMITED),
        ("quota", "finish", ErrorClass.QUOTA_EXHAUSTED),
        ("expired_token", "finish", ErrorClass.AUTH_RECONNECT),  # Page tokens cannot be refreshed silently
        ("duplicate", "finish", ErrorClass.DUPLICATE),
        ("processing_failed", "processing", ErrorClass.CONTENT_REJECTED),
    ],
)
def test_faults_are_classified(
    sandbox: RunningSandbox, client: FacebookClient, small_clip: Path, kind: str, operation: str, expected: ErrorClass
) -> None:
    creds = sandbox.connect(client)
    sandbox.fault(P, kind, operation)
    with pytest.raises(PlatformError) as err:
        client.publish(creds, VideoPost(video=small_clip, caption="x"))
    assert err.value.error_class is expected
    if expected in (ErrorClass.RATE_LIMITED, ErrorClass.QUOTA_EXHAUSTED):
        assert err.value.retry_at is not None and err.value.retry_at > datetime.now(UTC)
    assert sandbox.state.posts_for(P) == []


def test_thirty_reels_per_day_cap(sandbox: RunningSandbox, small_clip: Path) -> None:
    client = FacebookClient(sandbox.config(P))
    creds = sandbox.connect(client)
    sandbox.state.add_account(P, creds.account_id, publish_quota=1)  # the Page's cap, lowered for speed
    client.publish(creds, VideoPost(video=small_clip, caption="one"))
    with pytest.raises(PlatformError) as err:
        client.publish(creds, VideoPost(video=small_clip, caption="two"))
    assert err.value.error_class is ErrorClass.QUOTA_EXHAUSTED and err.value.code == "9"
    sandbox.state.clock.advance(86400 + 60)
    client.publish(creds, VideoPost(video=small_clip, caption="two"))
    assert len(sandbox.state.posts_for(P)) == 2
    client.close()


def test_upload_timeout_resumes_from_received_offset(sandbox: RunningSandbox, large_clip: Path) -> None:
    client = FacebookClient(sandbox.config(P, upload_timeout_s=1.0, chunk_size=4 * 1024 * 1024))
    creds = sandbox.connect(client)
    before = len(sandbox.state.requests_for(P))
    sandbox.fault(P, "timeout", "upload", delay_s=2.0)  # first part: client gives up, nothing kept
    result = client.publish(creds, VideoPost(video=large_clip, caption="resumed"))
    uploads = [r for r in sandbox.state.requests_for(P)[before:] if "/video-upload/" in r.path]
    # The dropped POST is logged only when the sandbox finally answers it, so check content, not order.
    assert [r.method for r in uploads].count("GET") == 1  # asked rupload for the received offset once
    kept = [r for r in uploads if r.method == "POST" and r.status == 200]
    chunk, size = 4 * 1024 * 1024, large_clip.stat().st_size
    assert [r.headers["offset"] for r in kept] == [str(o) for o in range(0, size, chunk)]  # resumed from 0
    assert sum(r.body_size for r in kept) == size
    assert [p.post_id for p in sandbox.state.posts_for(P)] == [result.post_id]
    client.close()


def test_upload_that_keeps_timing_out_is_transient(sandbox: RunningSandbox, small_clip: Path) -> None:
    client = FacebookClient(sandbox.config(P, upload_timeout_s=0.5))
    creds = sandbox.connect(client)
    sandbox.fault(P, "timeout", "upload", times=3, delay_s=1.0)
    with pytest.raises(PlatformError) as err:
        client.publish(creds, VideoPost(video=small_clip, caption="x"))
    assert err.value.error_class is ErrorClass.TRANSIENT and sandbox.state.posts_for(P) == []
    client.close()


def test_lost_finish_response_is_unknown_then_found_once(sandbox: RunningSandbox, small_clip: Path) -> None:
    client = FacebookClient(sandbox.config(P, timeout_s=1.0))
    creds = sandbox.connect(client)
    sandbox.fault(P, "lost_response", "finish", delay_s=2.0)
    post = VideoPost(video=small_clip, caption="lost")
    with pytest.raises(PlatformError) as err:
        client.publish(creds, post)
    assert err.value.error_class is ErrorClass.UNKNOWN_OUTCOME and err.value.details["video_id"]
    found = client.find_existing(creds, post)
    posts = sandbox.state.posts_for(P)
    assert len(posts) == 1 and found is not None and found.post_id == posts[0].post_id
    other = FacebookClient(sandbox.config(P))  # no memory of the video id: finds it in the Page's reels
    again = other.find_existing(creds, post)
    assert again is not None and again.post_id == posts[0].post_id
    assert other.find_existing(creds, VideoPost(video=small_clip, caption="never posted")) is None
    client.close()
    other.close()


def test_validation_rejects_before_any_request(
    sandbox: RunningSandbox, client: FacebookClient, small_clip: Path, tmp_path: Path
) -> None:
    creds = sandbox.connect(client)
    before = len(sandbox.state.requests_for(P))
    tiny = tmp_path / "tiny.mp4"
    tiny.write_bytes(b"\0" * 10)
    for post in (VideoPost(video=small_clip, caption="é" * 2201), VideoPost(video=tiny, caption="ok")):
        with pytest.raises(PlatformError) as err:
            client.publish(creds, post)
        assert err.value.error_class is ErrorClass.CONTENT_REJECTED and err.value.code == "validation"
    assert len(sandbox.state.requests_for(P)) == before


def test_metrics_grow_with_time(sandbox: RunningSandbox, client: FacebookClient, small_clip: Path) -> None:
    creds = sandbox.connect(client)
    result = client.publish(creds, VideoPost(video=small_clip, caption="m"))
    sandbox.state.clock.advance(3600)
    first = client.fetch_metrics(creds, [result.post_id])[result.post_id]
    sandbox.state.clock.advance(5 * 3600)
    later = client.fetch_metrics(creds, [result.post_id])[result.post_id]
    assert first.views and later.views and later.views > first.views
    assert later.likes is not None and later.reach is not None and later.comments is not None


@pytest.mark.parametrize(
    ("url", "vid", "short"),
    [
        ("https://www.facebook.com/reel/1234567890123456", "1234567890123456", False),
        ("https://m.facebook.com/reel/987654321/?s=ifu", "987654321", False),
        ("https://www.facebook.com/NASA/videos/1122334455667788/", "1122334455667788", False),
        ("https://www.facebook.com/NASA/videos/moon-landing/1122334455667788/", "1122334455667788", False),
        ("https://www.facebook.com/watch/?v=5566778899", "5566778899", False),
        ("https://www.facebook.com/watch?ref=x&v=5566778899", "5566778899", False),
        ("https://fb.watch/aBc-12_3/", "aBc-12_3", True),
    ],
)
def test_parse_post_url(url: str, vid: str, short: bool) -> None:
    ref = FacebookClient.parse_post_url(url)
    assert ref is not None and ref.post_id == vid and ref.needs_resolution is short


@pytest.mark.parametrize(
    "url",
    [
        "https://www.facebook.com/NASA",
        "https://facebook.com.evil.io/reel/123",
        "https://notfacebook.com/reel/123",
        "https://www.facebook.com/reel/abc",
        "https://www.instagram.com/reel/123/",
    ],
)
def test_parse_post_url_rejects(url: str) -> None:
    assert FacebookClient.parse_post_url(url) is None


def test_find_existing_ignores_the_same_description_posted_before_the_first_attempt(
    sandbox: RunningSandbox, client: FacebookClient, small_clip: Path
) -> None:
    creds = sandbox.connect(client)
    post = VideoPost(video=small_clip, caption="Watch this again")
    old = client.publish(creds, post)
    other = FacebookClient(sandbox.config(P))  # another worker: no video id in memory, so the Page's reels decide
    assert_ignores_posts_older_than_the_post(sandbox, P, other, creds, post, old)
    other.close()


def test_find_existing_skips_reels_other_targets_own(
    sandbox: RunningSandbox, client: FacebookClient, small_clip: Path
) -> None:
    creds = sandbox.connect(client)
    post = VideoPost(video=small_clip, caption="Watch this again")
    first, second = client.publish(creds, post), client.publish(creds, post)
    other = FacebookClient(sandbox.config(P))
    assert_skips_posts_other_targets_own(other, creds, post, first, second)
    other.close()
