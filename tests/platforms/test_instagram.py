"""Contract tests: the real Instagram client against the sandbox over HTTP (Meta pulls our clip from a local
file server, as it would pull a signed URL)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from cliply.platforms.errors import ErrorClass, PlatformError
from cliply.platforms.instagram import InstagramClient
from cliply.platforms.models import VideoPost
from tests.fixtures.sandbox import REDIRECT_URI, RunningSandbox
from tests.platforms.helpers import (
    assert_ignores_posts_older_than_the_post,
    assert_skips_posts_other_targets_own,
    calls,
)

P = "instagram"


@pytest.fixture(scope="module")
def clip_server(small_clip: Path) -> Iterator[tuple[str, list[str]]]:
    """Serves the real clip at /clip.mp4 (404 elsewhere) and remembers every path fetched."""
    data, seen = small_clip.read_bytes(), []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            seen.append(self.path)
            ok = self.path == "/clip.mp4"
            body = data if ok else b"not found"
            self.send_response(200 if ok else 404)
            self.send_header("Content-Type", "video/mp4" if ok else "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()


@pytest.fixture
def client(sandbox: RunningSandbox) -> Iterator[InstagramClient]:
    c = InstagramClient(sandbox.config(P))
    yield c
    c.close()


def _post(
    small_clip: Path,
    clip_server: tuple[str, list[str]],
    caption: str = "Big moment #clips #cliply",
    path: str = "/clip.mp4",
) -> VideoPost:
    return VideoPost(video=small_clip, caption=caption, video_url=clip_server[0] + path, cover_time_s=1.5)


def test_connect_exchanges_for_long_lived_token_refreshes_after_a_day_and_reports_scopes(
    sandbox: RunningSandbox, client: InstagramClient
) -> None:
    creds = sandbox.connect(client, account_id="ig-17841")
    assert creds.account_id == "ig-17841"
    assert client.missing_scopes(creds) == []
    assert creds.expires_at and creds.expires_at - datetime.now(UTC) > timedelta(days=59)
    assert [(m, p) for m, p in calls(sandbox, P)] == [
        ("GET", "/instagram/oauth/authorize"),
        ("POST", "/instagram/oauth/access_token"),
        ("GET", "/instagram/access_token"),
    ]
    with pytest.raises(PlatformError):  # a long-lived token must be 24 h old before it can be refreshed
        client.refresh(creds)
    sandbox.state.clock.advance(25 * 3600)
    fresh = client.refresh(creds)
    assert fresh.access_token != creds.access_token and fresh.account_id == creds.account_id
    assert sandbox.state.bearer(P, fresh.access_token) is not None

    # A user who unticks a permission: the granted-scope check notices.
    pending = client.authorization_url(redirect_uri=REDIRECT_URI)
    resp = httpx.get(pending.url + "&sandbox_scopes=instagram_business_basic", follow_redirects=False)
    code = parse_qs(urlparse(resp.headers["location"]).query)["code"][0]
    partial = client.exchange_code(code=code, redirect_uri=REDIRECT_URI)
    assert client.missing_scopes(partial) == [
        "instagram_business_content_publish",
        "instagram_business_manage_insights",
    ]
    with pytest.raises(PlatformError) as err:
        client.publish(partial, VideoPost(video=Path("x.mp4"), caption="hi", video_url="http://127.0.0.1:9/x.mp4"))
    assert err.value.error_class is ErrorClass.AUTH_RECONNECT  # code 10: permission missing


def _code(client: InstagramClient, account_id: str, ticked: str) -> str:
    pending = client.authorization_url(redirect_uri=REDIRECT_URI)
    extra = f"&sandbox_account={account_id}&sandbox_scopes={ticked}"
    resp = httpx.get(pending.url + extra, follow_redirects=False, timeout=10)
    return parse_qs(urlparse(resp.headers["location"]).query)["code"][0]


def test_code_exchange_answers_the_documented_data_array_by_default(
    sandbox: RunningSandbox, client: InstagramClient
) -> None:
    code = _code(client, "ig-shape", "instagram_business_basic,instagram_business_content_publish")
    form = {
        "client_id": client.config.client_id,
        "client_secret": client.config.client_secret,
        "grant_type": "authorization_code",
        "redirect_uri": REDIRECT_URI,
        "code": code,
    }
    body = httpx.post(f"{sandbox.url(P)}/oauth/access_token", data=form, timeout=10).json()
    assert set(body) == {"data"} and body["data"][0]["user_id"] == "ig-shape"
    assert body["data"][0]["permissions"] == "instagram_business_basic,instagram_business_content_publish"


@pytest.mark.parametrize(
    "shape",
    [{}, {"permissions_as": "list"}, {"token_response": "flat"}, {"token_response": "flat", "permissions_as": "list"}],
    ids=["data-string", "data-list", "flat-string", "flat-list"],
)
def test_connect_reads_user_and_granted_permissions_from_either_token_shape(
    sandbox: RunningSandbox, client: InstagramClient, shape: dict[str, str]
) -> None:
    sandbox.state.add_account(P, "ig-shape", **shape)
    creds = client.exchange_code(code=_code(client, "ig-shape", "instagram_business_basic"), redirect_uri=REDIRECT_URI)
    assert creds.account_id == "ig-shape" and creds.extra["token_kind"] == "long_lived"
    assert creds.scopes == ("instagram_business_basic",)  # what was granted, not what was asked for
    assert client.missing_scopes(creds) == ["instagram_business_content_publish", "instagram_business_manage_insights"]


def test_publish_reel_exact_requests_and_one_post(
    sandbox: RunningSandbox, client: InstagramClient, small_clip: Path, clip_server: tuple[str, list[str]]
) -> None:
    creds = sandbox.connect(client)
    before = len(sandbox.state.requests_for(P))
    fetched_before = len(clip_server[1])
    seen: list[float] = []
    result = client.publish(creds, _post(small_clip, clip_server), progress=seen.append)

    posts = sandbox.state.posts_for(P)
    assert len(posts) == 1 and posts[0].post_id == result.post_id
    assert posts[0].payload["media_type"] == "REELS" and posts[0].payload["thumb_offset"] == "1500"
    assert posts[0].payload["caption"] == "Big moment #clips #cliply"
    assert result.url.startswith("https://www.instagram.com/reel/") and result.raw["container_id"]
    assert clip_server[1][fetched_before:] == ["/clip.mp4"]  # the sandbox really pulled the video_url
    user, container, media = creds.account_id, result.raw["container_id"], result.post_id
    v = "/instagram/v23.0"
    assert calls(sandbox, P, before) == [
        ("GET", f"{v}/{user}/content_publishing_limit"),
        ("POST", f"{v}/{user}/media"),
        *[("GET", f"{v}/{container}")] * 3,
        ("POST", f"{v}/{user}/media_publish"),
        ("GET", f"{v}/{media}"),
    ]
    assert all(r.headers.get("authorization") == "<redacted>" for r in sandbox.state.requests_for(P)[before:])
    assert all("access_token" not in r.query for r in sandbox.state.requests_for(P)[before:])
    assert seen[-1] == 1.0 and seen == sorted(seen)
    assert client.last_usage is not None and client.last_usage.max_pct > 0


@pytest.mark.parametrize(
    ("kind", "operation", "expected"),
    [
        ("error", "create", ErrorClass.TRANSIENT),
        ("rate_limit", "publish", ErrorClass.RATE_LIMITED),
        ("quota", "publish", ErrorClass.QUOTA_EXHAUSTED),
        ("expired_token", "create", ErrorClass.AUTH_REFRESHABLE),
        ("content_rejected", "create", ErrorClass.CONTENT_REJECTED),
        ("media_fetch_failed", "create", ErrorClass.TRANSIENT),  # 9004/2207052 at once: retry with a new container
        ("media_fetch_failed", "processing", ErrorClass.TRANSIENT),  # container ends ERROR (2207052 in status)
        ("processing_failed", "processing", ErrorClass.CONTENT_REJECTED),  # container ends ERROR (2207026 in status)
    ],
)
def test_faults_are_classified(
    sandbox: RunningSandbox,
    client: InstagramClient,
    small_clip: Path,
    clip_server: tuple[str, list[str]],
    kind: str,
    operation: str,
    expected: ErrorClass,
) -> None:
    creds = sandbox.connect(client)
    sandbox.fault(P, kind, operation, retry_after_s=120)
    with pytest.raises(PlatformError) as err:
        client.publish(creds, _post(small_clip, clip_server))
    assert err.value.error_class is expected
    if expected in (ErrorClass.RATE_LIMITED, ErrorClass.QUOTA_EXHAUSTED):
        assert err.value.retry_at is not None and err.value.retry_at > datetime.now(UTC)
    assert sandbox.state.posts_for(P) == []


def test_unreachable_video_url_is_a_transient_media_fetch_failure(
    sandbox: RunningSandbox, client: InstagramClient, small_clip: Path, clip_server: tuple[str, list[str]]
) -> None:
    creds = sandbox.connect(client)
    with pytest.raises(PlatformError) as err:
        client.publish(creds, _post(small_clip, clip_server, path="/gone.mp4"))
    assert err.value.error_class is ErrorClass.TRANSIENT and err.value.code == "media_fetch_failed"
    assert (err.value.details["code"], err.value.details["subcode"]) == (9004, 2207052)
    assert "could not download the video from the signed URL" in err.value.message


def test_container_that_cannot_fetch_the_video_is_transient_and_a_new_container_publishes(
    sandbox: RunningSandbox, client: InstagramClient, small_clip: Path, clip_server: tuple[str, list[str]]
) -> None:
    creds = sandbox.connect(client)
    post = _post(small_clip, clip_server)
    sandbox.fault(P, "media_fetch_failed", "processing")  # accepted, then Meta's download fails
    with pytest.raises(PlatformError) as err:
        client.publish(creds, post)
    assert err.value.error_class is ErrorClass.TRANSIENT and err.value.retryable
    assert err.value.code == "media_fetch_failed" and err.value.details["status"] == "ERROR"
    assert "Instagram could not download the video from the signed URL" in err.value.message
    failed = err.value.details["container_id"]
    # The failed container never publishes, so the retry the publisher makes is safe: nothing to find, then one post.
    assert client.find_existing(creds, replace(post, options={"container_id": failed})) is None
    result = client.publish(creds, post)
    assert [p.post_id for p in sandbox.state.posts_for(P)] == [result.post_id]
    assert result.raw["container_id"] != failed


@pytest.mark.parametrize(
    ("status", "expected", "code"),
    [
        ("Error: Media download has failed. (2207052)", ErrorClass.TRANSIENT, "media_fetch_failed"),
        ("Error: timeout while downloading the media (2207003)", ErrorClass.TRANSIENT, "media_fetch_failed"),
        ("Error: Media upload has failed with error code 2207026", ErrorClass.CONTENT_REJECTED, "2207026"),
        ("Error: bad thumbnail offset (2207057)", ErrorClass.CONTENT_REJECTED, "2207057"),
        ("Error: Instagram server error (2207001)", ErrorClass.TRANSIENT, "2207001"),
    ],
)
def test_container_error_status_classification(
    client: InstagramClient, status: str, expected: ErrorClass, code: str
) -> None:
    assert client.failure_class("ERROR", {"status_code": "ERROR", "status": status}) == (expected, code)


def test_publishing_cap_read_from_content_publishing_limit(
    sandbox: RunningSandbox, client: InstagramClient, small_clip: Path, clip_server: tuple[str, list[str]]
) -> None:
    sandbox.state.add_account(P, "ig-capped", publish_quota=1)
    creds = sandbox.connect(client, account_id="ig-capped")
    client.publish(creds, _post(small_clip, clip_server))
    before = len(sandbox.state.requests_for(P))
    with pytest.raises(PlatformError) as err:
        client.publish(creds, _post(small_clip, clip_server, caption="second"))
    assert err.value.error_class is ErrorClass.QUOTA_EXHAUSTED and err.value.retry_at is not None
    assert [m for m, _ in calls(sandbox, P, before)] == ["GET"]  # refused before creating a container
    sandbox.state.clock.advance(24 * 3600 + 60)
    client.publish(creds, _post(small_clip, clip_server, caption="second"))
    assert len(sandbox.state.posts_for(P)) == 2


def test_lost_publish_response_is_unknown_then_found(
    sandbox: RunningSandbox, small_clip: Path, clip_server: tuple[str, list[str]]
) -> None:
    client = InstagramClient(sandbox.config(P, timeout_s=1.0))
    creds = sandbox.connect(client)
    sandbox.fault(P, "lost_response", "publish", delay_s=2.0)
    post = _post(small_clip, clip_server)
    with pytest.raises(PlatformError) as err:
        client.publish(creds, post)
    assert err.value.error_class is ErrorClass.UNKNOWN_OUTCOME and err.value.details["container_id"]
    found = client.find_existing(creds, post)
    posts = sandbox.state.posts_for(P)
    assert len(posts) == 1 and found is not None and found.post_id == posts[0].post_id
    # A fresh client (another worker) finds it from the container id alone.
    other = InstagramClient(sandbox.config(P))
    again = other.find_existing(
        creds,
        VideoPost(
            video=small_clip,
            caption=post.caption,
            video_url=post.video_url,
            options={"container_id": err.value.details["container_id"]},
        ),
    )
    assert again is not None and again.post_id == posts[0].post_id
    client.close()
    other.close()


def test_publish_timeout_before_commit_is_unknown_then_not_found(
    sandbox: RunningSandbox, small_clip: Path, clip_server: tuple[str, list[str]]
) -> None:
    client = InstagramClient(sandbox.config(P, timeout_s=1.0))
    creds = sandbox.connect(client)
    sandbox.fault(P, "timeout", "publish", delay_s=2.0)
    post = _post(small_clip, clip_server)
    with pytest.raises(PlatformError) as err:
        client.publish(creds, post)
    assert err.value.error_class is ErrorClass.UNKNOWN_OUTCOME
    assert client.find_existing(creds, post) is None  # container still FINISHED, not PUBLISHED
    assert sandbox.state.posts_for(P) == []
    client.close()


def test_validation_rejects_before_any_request(
    sandbox: RunningSandbox, client: InstagramClient, small_clip: Path
) -> None:
    creds = sandbox.connect(client)
    before = len(sandbox.state.requests_for(P))
    url = "https://cdn.example/clip.mp4"
    too_long = VideoPost(video=small_clip, caption="a" * 2199 + "😀", video_url=url)  # 2201 UTF-16 units
    too_many_tags = VideoPost(video=small_clip, caption="x", hashtags=tuple(f"t{i}" for i in range(6)), video_url=url)
    mentions = VideoPost(video=small_clip, caption=" ".join(f"@u{i}" for i in range(21)), video_url=url)
    for post in (too_long, too_many_tags, mentions, VideoPost(video=small_clip, caption="no url")):
        with pytest.raises(PlatformError) as err:
            client.publish(creds, post)
        assert err.value.error_class is ErrorClass.CONTENT_REJECTED and err.value.code == "validation"
    assert len(sandbox.state.requests_for(P)) == before
    assert [v.rule for v in client.validate(too_many_tags)] == ["hashtags"]
    assert InstagramClient(sandbox.config(P, options={"max_hashtags": "30"})).validate(too_many_tags) == []


def test_metrics_grow_with_time(
    sandbox: RunningSandbox, client: InstagramClient, small_clip: Path, clip_server: tuple[str, list[str]]
) -> None:
    creds = sandbox.connect(client)
    result = client.publish(creds, _post(small_clip, clip_server))
    sandbox.state.clock.advance(3600)
    first = client.fetch_metrics(creds, [result.post_id])[result.post_id]
    sandbox.state.clock.advance(6 * 3600)
    later = client.fetch_metrics(creds, [result.post_id])[result.post_id]
    assert first.views and later.views and later.views > first.views
    assert later.reach is not None and later.saves is not None and later.likes is not None
    assert later.likes >= first.likes  # type: ignore[operator]


def test_find_existing_ignores_the_same_caption_posted_before_the_first_attempt(
    sandbox: RunningSandbox, client: InstagramClient, small_clip: Path, clip_server: tuple[str, list[str]]
) -> None:
    creds = sandbox.connect(client)
    post = _post(small_clip, clip_server)
    old = client.publish(creds, post)
    other = InstagramClient(sandbox.config(P))  # another worker: no container in memory, so the listing decides
    # The media's `timestamp` predates the first attempt: the same caption posted earlier is not this target's.
    assert_ignores_posts_older_than_the_post(sandbox, P, other, creds, post, old)
    other.close()


def test_find_existing_skips_media_other_targets_own(
    sandbox: RunningSandbox, client: InstagramClient, small_clip: Path, clip_server: tuple[str, list[str]]
) -> None:
    creds = sandbox.connect(client)
    post = _post(small_clip, clip_server)
    first, second = client.publish(creds, post), client.publish(creds, post)
    other = InstagramClient(sandbox.config(P))
    assert other.find_existing(creds, post).post_id == second.post_id  # type: ignore[union-attr]  # newest first
    assert_skips_posts_other_targets_own(other, creds, post, first, second)
    other.close()


@pytest.mark.parametrize(
    ("url", "shortcode"),
    [
        ("https://www.instagram.com/reel/C9xYz_12-ab/", "C9xYz_12-ab"),
        ("https://instagram.com/reels/C9xYz_12-ab", "C9xYz_12-ab"),
        ("https://www.instagram.com/p/CuQ1abcDEF3/?igsh=MzRlODBiNWFlZA==", "CuQ1abcDEF3"),
        ("https://www.instagram.com/natgeo/reel/DAbc123xyz9/", "DAbc123xyz9"),
        ("https://m.instagram.com/tv/B_abc/", "B_abc"),
    ],
)
def test_parse_post_url(url: str, shortcode: str) -> None:
    ref = InstagramClient.parse_post_url(url)
    assert ref is not None and ref.post_id == shortcode and ref.id_kind == "shortcode"


@pytest.mark.parametrize(
    "url",
    [
        "https://www.instagram.com/natgeo/",
        "https://instagram.com.evil.example/reel/C9xYz/",
        "https://notinstagram.com/reel/C9xYz/",
        "https://www.threads.net/@natgeo/post/C9xYz",
        "https://www.instagram.com/stories/natgeo/3312/",
        "ftp://instagram.com/reel/C9xYz/",
    ],
)
def test_parse_post_url_rejects_lookalikes(url: str) -> None:
    assert InstagramClient.parse_post_url(url) is None
