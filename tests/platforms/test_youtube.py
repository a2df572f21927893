"""Contract tests: the real YouTube client (google-api-python-client) against the emulated Data API v3 over HTTP."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from cliply.platforms.errors import ErrorClass, PlatformError
from cliply.platforms.models import Credentials, VideoPost
from cliply.platforms.youtube import SCOPE_READONLY, SCOPE_UPLOAD, YouTubeClient, marker_tag, next_pacific_midnight
from cliply.sandbox.state import RecordedRequest
from tests.fixtures.sandbox import REDIRECT_URI, RunningSandbox
from tests.platforms.helpers import assert_ignores_posts_older_than_the_post

P = "youtube"
KIB256 = 256 * 1024


def client(sandbox: RunningSandbox, **overrides: object) -> YouTubeClient:
    return YouTubeClient(sandbox.config(P, **overrides))


def post_for(video: Path, **kw: object) -> VideoPost:
    values: dict[str, object] = {
        "video": video,
        "title": "Best moment",
        "caption": "From the long stream",
        "hashtags": ("shorts",),
        "idempotency_key": "target-42",
    }
    values.update(kw)
    return VideoPost(**values)  # type: ignore[arg-type]


def publish_error(yt: YouTubeClient, creds: Credentials, post: VideoPost) -> PlatformError:
    with pytest.raises(PlatformError) as info:
        yt.publish(creds, post)
    return info.value


def wait_logged(sandbox: RunningSandbox, match: Callable[[RecordedRequest], bool]) -> None:
    """An abandoned request is logged only when its handler finishes: wait (bounded) so it lands in this test."""
    sandbox.wait_logged(P, match)


# ---- OAuth ---------------------------------------------------------------------------------------------------------
def test_connect_refresh_and_google_token_semantics(sandbox: RunningSandbox) -> None:
    yt = client(sandbox)
    creds = sandbox.connect(yt)
    assert creds.account_id.startswith("UC") and len(creds.account_id) == 24
    assert creds.extra["uploads_playlist"] == "UU" + creds.account_id[2:]
    assert creds.refresh_token and yt.missing_scopes(creds) == []

    auth = next(r for r in sandbox.state.requests_for(P) if r.path.endswith("/o/oauth2/v2/auth"))
    query = parse_qs(auth.query)
    assert query["access_type"] == ["offline"] and query["prompt"] == ["consent"]
    assert query["code_challenge_method"] == ["S256"]

    fresh = yt.refresh(creds)
    assert fresh.access_token != creds.access_token
    assert fresh.refresh_token == creds.refresh_token  # Google does not rotate refresh tokens
    assert fresh.account_id == creds.account_id
    assert yt.refresh(creds).access_token  # so the same refresh token keeps working

    with pytest.raises(PlatformError) as info:
        yt.refresh(replace(creds, refresh_token="revoked-or-unknown"))
    assert info.value.error_class is ErrorClass.AUTH_RECONNECT and info.value.code == "invalid_grant"


def test_pkce_verifier_is_checked(sandbox: RunningSandbox) -> None:
    yt = client(sandbox)
    pending = yt.authorization_url(redirect_uri=REDIRECT_URI)
    code = parse_qs(urlparse(httpx.get(pending.url).headers["location"]).query)["code"][0]
    with pytest.raises(PlatformError) as info:
        yt.exchange_code(code=code, redirect_uri=REDIRECT_URI, code_verifier="x" * 50)
    assert info.value.error_class is ErrorClass.AUTH_RECONNECT


def test_partial_consent_is_detected_and_reads_are_refused(sandbox: RunningSandbox, small_clip: Path) -> None:
    yt = client(sandbox)
    pending = yt.authorization_url(redirect_uri=REDIRECT_URI)
    resp = httpx.get(pending.url + "&sandbox_scopes=" + SCOPE_UPLOAD)
    code = parse_qs(urlparse(resp.headers["location"]).query)["code"][0]
    creds = yt.exchange_code(code=code, redirect_uri=REDIRECT_URI, code_verifier=pending.code_verifier)
    assert creds.scopes == (SCOPE_UPLOAD,)
    assert yt.missing_scopes(creds) == [SCOPE_READONLY]
    with pytest.raises(PlatformError) as info:
        yt.fetch_metrics(creds, ["abcdefghijk"])
    assert info.value.error_class is ErrorClass.AUTH_RECONNECT and info.value.code == "insufficientPermissions"


# ---- publishing --------------------------------------------------------------------------------------------------
def test_happy_path_exact_resumable_protocol(sandbox: RunningSandbox, small_clip: Path) -> None:
    yt = client(sandbox, chunk_size=KIB256)
    creds = sandbox.connect(yt)
    before = len(sandbox.state.requests_for(P))
    seen: list[float] = []
    result = yt.publish(creds, post_for(small_clip), progress=seen.append)

    size = small_clip.stat().st_size
    reqs = sandbox.state.requests_for(P)[before:]
    start, *chunks = [r for r in reqs if r.path == "/youtube/upload/youtube/v3/videos"]
    polls = [r for r in reqs if r.path == "/youtube/youtube/v3/videos"]
    assert [r.method for r in reqs] == ["POST"] + ["PUT"] * len(chunks) + ["GET"] * len(polls)
    assert len(polls) == 2  # uploaded → processed on the second status read
    assert all(parse_qs(p.query)["part"] == ["status,processingDetails"] for p in polls)

    q = parse_qs(start.query)
    assert q["uploadType"] == ["resumable"] and q["part"] == ["snippet,status"]
    assert start.headers["x-upload-content-length"] == str(size)
    assert start.headers["x-upload-content-type"] == "video/mp4"
    expected, offset = [], 0
    while offset < size:
        end = min(offset + KIB256, size) - 1
        expected.append(f"bytes {offset}-{end}/{size}")
        offset = end + 1
    assert len(expected) >= 2
    assert [c.headers["content-range"] for c in chunks] == expected
    assert all("upload_id" in parse_qs(c.query) for c in chunks)
    assert sum(c.body_size for c in chunks) == size
    assert [c.status for c in chunks] == [308] * (len(chunks) - 1) + [200]

    posts = sandbox.state.posts_for(P)
    assert len(posts) == 1 and posts[0].post_id == result.post_id
    assert posts[0].payload["size"] == size
    snippet = posts[0].payload["snippet"]
    assert snippet["title"] == "Best moment" and snippet["description"] == "From the long stream #shorts"
    assert marker_tag("target-42") in snippet["tags"]
    assert posts[0].payload["status"]["selfDeclaredMadeForKids"] is False
    assert result.status == "published" and result.url == f"https://www.youtube.com/shorts/{result.post_id}"
    assert seen == sorted(seen) and seen[-1] == 1.0


def test_large_clip_uses_256k_multiples(sandbox: RunningSandbox, large_clip: Path) -> None:
    yt = client(sandbox, chunk_size=5 * 1024 * 1024 + 1000)  # rounded down to a 256 KiB multiple
    creds = sandbox.connect(yt)
    yt.publish(creds, post_for(large_clip, options={"wait_processing": False}))
    puts = [r for r in sandbox.state.requests_for(P) if r.method == "PUT"]
    size = large_clip.stat().st_size
    assert len(puts) == -(-size // (5 * 1024 * 1024))
    assert all(p.body_size == 5 * 1024 * 1024 for p in puts[:-1])
    assert puts[-1].headers["content-range"].endswith(f"-{size - 1}/{size}")
    assert len(sandbox.state.posts_for(P)) == 1


def test_scheduled_publish_is_private_with_publish_at(sandbox: RunningSandbox, small_clip: Path) -> None:
    yt = client(sandbox)
    creds = sandbox.connect(yt)
    when = datetime.now(UTC) + timedelta(days=2)
    result = yt.publish(creds, post_for(small_clip, publish_at=when, options={"contains_synthetic_media": True}))
    status = sandbox.state.posts_for(P)[0].payload["status"]
    assert status["privacyStatus"] == "private" and status["publishAt"] == when.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert status["containsSyntheticMedia"] is True
    assert result.status == "scheduled"


def test_validation_rejects_before_any_request(sandbox: RunningSandbox, small_clip: Path) -> None:
    yt = client(sandbox)
    creds = sandbox.connect(yt)
    before = len(sandbox.state.requests_for(P))
    bad = [
        post_for(small_clip, title="t" * 101),
        post_for(small_clip, title="a <b> title"),
        post_for(small_clip, caption="🎬" * 1251),  # 1,251 emoji = 5,004 UTF-8 bytes
        post_for(small_clip, options={"tags": ["long tag " + "x" * 40] * 10}),
        post_for(small_clip, privacy="public", publish_at=datetime.now(UTC) + timedelta(days=1)),
        post_for(small_clip, hashtags=tuple(f"h{i}" for i in range(61))),
    ]
    for post in bad:
        assert yt.validate(post), post
        with pytest.raises(PlatformError) as info:
            yt.publish(creds, post)
        assert info.value.error_class is ErrorClass.CONTENT_REJECTED and info.value.code == "validation"
    assert yt.validate(post_for(small_clip, title="t" * 100, caption="🎬" * 1240)) == []
    assert len(sandbox.state.requests_for(P)) == before


# ---- faults → error classes ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kind", "operation", "expected", "code"),
    [
        ("error", "session", ErrorClass.TRANSIENT, "backendError"),
        ("content_rejected", "session", ErrorClass.CONTENT_REJECTED, "invalidVideoMetadata"),
        ("expired_token", "session", ErrorClass.AUTH_REFRESHABLE, "authError"),
        ("quota", "session", ErrorClass.QUOTA_EXHAUSTED, "quotaExceeded"),
    ],
)
def test_session_start_faults(
    sandbox: RunningSandbox, small_clip: Path, kind: str, operation: str, expected: ErrorClass, code: str
) -> None:
    yt = client(sandbox)
    creds = sandbox.connect(yt)
    sandbox.fault(P, kind, operation, status=503)
    err = publish_error(yt, creds, post_for(small_clip))
    assert err.error_class is expected and err.code == code
    assert sandbox.state.posts_for(P) == []


def test_rate_limit_carries_retry_at(sandbox: RunningSandbox, small_clip: Path) -> None:
    yt = client(sandbox)
    creds = sandbox.connect(yt)
    sandbox.fault(P, "rate_limit", "session", retry_after_s=120)
    err = publish_error(yt, creds, post_for(small_clip))
    assert err.error_class is ErrorClass.RATE_LIMITED and err.status == 429
    seconds = err.retry_after_seconds()
    assert err.retry_at is not None and seconds is not None and 100 < seconds <= 120


def test_daily_insert_quota_resets_at_pacific_midnight(sandbox: RunningSandbox, small_clip: Path) -> None:
    sandbox.state.add_account(P, "quota-user", insert_quota=1)
    yt = client(sandbox)
    creds = sandbox.connect(yt, account_id="quota-user")
    yt.publish(creds, post_for(small_clip, options={"wait_processing": False}))
    err = publish_error(yt, creds, post_for(small_clip, idempotency_key="target-43"))
    assert err.error_class is ErrorClass.QUOTA_EXHAUSTED and err.status == 403
    assert err.retry_at is not None and abs((err.retry_at - next_pacific_midnight()).total_seconds()) < 5
    sandbox.state.clock.advance(24 * 3600)  # a new Pacific day in the sandbox
    creds = yt.refresh(creds)
    yt.publish(creds, post_for(small_clip, idempotency_key="target-43", options={"wait_processing": False}))
    assert len(sandbox.state.posts_for(P)) == 2


def test_channel_upload_cap_is_quota(sandbox: RunningSandbox, small_clip: Path) -> None:
    sandbox.state.add_account(P, "capped", daily_upload_cap=1)
    yt = client(sandbox)
    creds = sandbox.connect(yt, account_id="capped")
    yt.publish(creds, post_for(small_clip, options={"wait_processing": False}))
    err = publish_error(yt, creds, post_for(small_clip, idempotency_key="again"))
    assert err.error_class is ErrorClass.QUOTA_EXHAUSTED and err.code == "uploadLimitExceeded"
    assert err.retry_at is not None


def test_expired_token_then_refresh(sandbox: RunningSandbox, small_clip: Path) -> None:
    yt = client(sandbox)
    creds = sandbox.connect(yt)
    sandbox.state.expire_tokens(P)
    err = publish_error(yt, creds, post_for(small_clip))
    assert err.error_class is ErrorClass.AUTH_REFRESHABLE and err.status == 401
    yt.publish(yt.refresh(creds), post_for(small_clip))
    assert len(sandbox.state.posts_for(P)) == 1


def test_server_side_metadata_rejection(sandbox: RunningSandbox, small_clip: Path) -> None:
    yt = client(sandbox)
    creds = sandbox.connect(yt)
    err = publish_error(yt, creds, post_for(small_clip, options={"category_id": "99"}))
    assert err.error_class is ErrorClass.CONTENT_REJECTED and err.code == "invalidCategoryId"


def test_processing_failure_is_content_rejected(sandbox: RunningSandbox, small_clip: Path) -> None:
    yt = client(sandbox)
    creds = sandbox.connect(yt)
    sandbox.fault(P, "processing_failed", "processing")
    err = publish_error(yt, creds, post_for(small_clip))
    assert err.error_class is ErrorClass.CONTENT_REJECTED and err.code == "conversion"
    assert err.details["upload_status"] == "failed"


def test_duplicate_upload_is_accepted_then_rejected_and_never_reconciled_as_posted(
    sandbox: RunningSandbox, small_clip: Path
) -> None:
    sandbox.state.add_account(P, "yt-dup", reject_duplicates=True)
    yt = client(sandbox)
    creds = sandbox.connect(yt, account_id="yt-dup")
    first = yt.publish(creds, post_for(small_clip, idempotency_key="first"))
    assert first.status == "published"
    second = post_for(small_clip, idempotency_key="second")
    err = publish_error(yt, creds, second)
    assert err.error_class is ErrorClass.DUPLICATE and err.code == "duplicate"
    assert err.details["upload_status"] == "rejected"
    assert len(sandbox.state.posts_for(P)) == 2  # the upload itself succeeded, as at YouTube
    assert yt.find_existing(creds, second) is None  # its marker matches, but a rejected video is not a post
    found = yt.find_existing(creds, post_for(small_clip, idempotency_key="first"))
    assert found is not None and found.post_id == first.post_id

    # After a lost final answer the session probe sees the rejection too, once processing has ended.
    third = post_for(small_clip, idempotency_key="third")
    sandbox.fault(P, "lost_response", "publish", delay_s=1.5)
    lost = publish_error(client(sandbox, upload_timeout_s=0.5), creds, third)
    assert lost.error_class is ErrorClass.UNKNOWN_OUTCOME
    sandbox.state.clock.advance(60)
    assert yt.find_existing(creds, replace(third, options={"youtube_session_uri": lost.details["session_uri"]})) is None


def test_transient_chunk_error_resumes_the_session(sandbox: RunningSandbox, small_clip: Path) -> None:
    yt = client(sandbox, chunk_size=KIB256)
    creds = sandbox.connect(yt)
    sandbox.fault(P, "error", "upload", times=1, status=503)
    yt.publish(creds, post_for(small_clip, options={"wait_processing": False}))
    size = small_clip.stat().st_size
    ranges = [r.headers.get("content-range") for r in sandbox.state.requests_for(P) if r.method == "PUT"]
    assert ranges[:3] == [f"bytes 0-{KIB256 - 1}/{size}", f"bytes */{size}", f"bytes 0-{KIB256 - 1}/{size}"]
    assert len(sandbox.state.posts_for(P)) == 1


def test_persistent_5xx_during_upload_is_transient(sandbox: RunningSandbox, small_clip: Path) -> None:
    yt = client(sandbox, chunk_size=KIB256)
    creds = sandbox.connect(yt)
    sandbox.fault(P, "error", "upload", times=-1, status=503)
    err = publish_error(yt, creds, post_for(small_clip))
    assert err.error_class is ErrorClass.TRANSIENT and err.details["session_uri"]
    assert sandbox.state.posts_for(P) == []


def test_timeout_mid_upload_resumes_from_the_server_offset(sandbox: RunningSandbox, small_clip: Path) -> None:
    yt = client(sandbox, chunk_size=KIB256, upload_timeout_s=0.5)
    creds = sandbox.connect(yt)
    yt.publish(creds, post_for(small_clip, idempotency_key="first", options={"wait_processing": False}))
    sandbox.state.requests.clear()
    sandbox.fault(P, "timeout", "upload", times=1, delay_s=1.5)
    result = yt.publish(creds, post_for(small_clip, options={"wait_processing": False}))
    size = small_clip.stat().st_size
    first_chunk = f"bytes 0-{KIB256 - 1}/{size}"
    wait_logged(sandbox, lambda r: r.status == 504)
    puts = [r for r in sandbox.state.requests_for(P) if r.method == "PUT"]
    assert [r.headers["content-range"] for r in puts if r.status == 504] == [first_chunk]  # the dropped chunk
    probes = [r for r in puts if r.headers["content-range"] == f"bytes */{size}"]
    assert len(probes) == 1 and probes[0].status == 308  # nothing stored: 308 without Range → resend from 0
    assert sorted(r.status for r in puts if r.headers["content-range"] == first_chunk) == [308, 504]  # resent
    assert [p.post_id for p in sandbox.state.posts_for(P)][-1] == result.post_id
    assert len(sandbox.state.posts_for(P)) == 2


def test_lost_response_on_final_chunk_is_reconciled(sandbox: RunningSandbox, small_clip: Path) -> None:
    yt = client(sandbox, upload_timeout_s=0.5)
    creds = sandbox.connect(yt)
    post = post_for(small_clip)
    assert yt.find_existing(creds, post) is None
    sandbox.fault(P, "lost_response", "publish", delay_s=1.5)
    err = publish_error(yt, creds, post)
    assert err.error_class is ErrorClass.UNKNOWN_OUTCOME
    session_uri = err.details["session_uri"]
    assert session_uri and "upload_id=" in session_uri

    [created] = sandbox.state.posts_for(P)
    by_marker = yt.find_existing(creds, post)  # channels → uploads playlist → videos.list tags
    assert by_marker is not None and by_marker.post_id == created.post_id
    by_session = yt.find_existing(creds, replace(post, options={"youtube_session_uri": session_uri}))
    assert by_session is not None and by_session.post_id == created.post_id
    assert yt.find_existing(creds, post_for(small_clip, idempotency_key="someone-else")) is None
    assert len(sandbox.state.posts_for(P)) == 1
    size = small_clip.stat().st_size
    wait_logged(
        sandbox, lambda r: r.method == "PUT" and r.headers.get("content-range", "").endswith(f"-{size - 1}/{size}")
    )


# ---- analytics and URLs ------------------------------------------------------------------------------------------
def test_metrics_grow_with_the_clock_and_batch_by_50(sandbox: RunningSandbox, small_clip: Path) -> None:
    yt = client(sandbox)
    creds = sandbox.connect(yt)
    vid = yt.publish(creds, post_for(small_clip)).post_id
    first = yt.fetch_metrics(creds, [vid])[vid]
    sandbox.state.clock.advance(3 * 3600)
    creds = yt.refresh(creds)  # the 1 h access token expired with the clock
    ids = [vid] + [f"missing{i:04d}" for i in range(60)]
    before = len(sandbox.state.requests_for(P))
    later = yt.fetch_metrics(creds, ids)
    assert {k for k, m in later.items() if not m.gone} == {vid}
    assert all(later[i].gone for i in ids[1:])  # absent from videos.list: deleted (or private to another channel)
    now = later[vid]
    assert now.views is not None and first.views is not None and now.views > first.views
    assert now.likes is not None and now.likes >= (first.likes or 0)
    calls = sandbox.state.requests_for(P)[before:]
    assert [len(parse_qs(c.query)["id"][0].split(",")) for c in calls] == [50, 11]


@pytest.mark.parametrize(
    ("url", "video_id"),
    [
        ("https://www.youtube.com/shorts/dQw4w9WgXcQ", "dQw4w9WgXcQ"),
        ("https://youtube.com/shorts/dQw4w9WgXcQ?feature=share", "dQw4w9WgXcQ"),
        ("https://m.youtube.com/watch?v=a-b_c1D2e3F&t=10s", "a-b_c1D2e3F"),
        ("https://www.youtube.com/watch?feature=x&v=dQw4w9WgXcQ", "dQw4w9WgXcQ"),
        ("https://youtu.be/dQw4w9WgXcQ?si=abc", "dQw4w9WgXcQ"),
        ("www.youtube.com/embed/dQw4w9WgXcQ", "dQw4w9WgXcQ"),
        ("https://www.youtube.com/live/dQw4w9WgXcQ", "dQw4w9WgXcQ"),
    ],
)
def test_parse_post_url_accepts_real_shapes(url: str, video_id: str) -> None:
    ref = YouTubeClient.parse_post_url(url)
    assert ref is not None and ref.platform == P and ref.post_id == video_id and ref.id_kind == "video_id"


@pytest.mark.parametrize(
    "url",
    [
        "https://notyoutube.com/shorts/dQw4w9WgXcQ",
        "https://youtube.com.evil.example/shorts/dQw4w9WgXcQ",
        "https://youtu.be.evil.example/dQw4w9WgXcQ",
        "https://www.youtube.com/shorts/dQw4w9WgXc",  # 10 characters
        "https://www.youtube.com/shorts/dQw4w9WgXcQQ",  # 12 characters
        "https://www.youtube.com/watch?list=dQw4w9WgXcQ",
        "https://www.youtube.com/@channel",
        "ftp://youtube.com/shorts/dQw4w9WgXcQ",
        "https://www.tiktok.com/@a/video/123",
    ],
)
def test_parse_post_url_rejects_lookalikes(url: str) -> None:
    assert YouTubeClient.parse_post_url(url) is None


def test_scan_without_marker_ignores_the_same_title_posted_before_the_first_attempt(
    sandbox: RunningSandbox, small_clip: Path
) -> None:
    yt = client(sandbox)
    creds = sandbox.connect(yt)
    post = post_for(small_clip, idempotency_key="", options={"wait_processing": False})  # title + description only
    # snippet.publishedAt predates the first attempt: an earlier upload with the same text is not this target's.
    assert_ignores_posts_older_than_the_post(sandbox, P, yt, creds, post, yt.publish(creds, post))


def test_scan_without_marker_skips_videos_other_targets_own(sandbox: RunningSandbox, small_clip: Path) -> None:
    yt = client(sandbox)
    creds = sandbox.connect(yt)
    post = post_for(small_clip, idempotency_key="", options={"wait_processing": False})
    first, second = yt.publish(creds, post), yt.publish(creds, post)
    found = {
        yt.find_existing(creds, replace(post, exclude_post_ids=frozenset({vid}))).post_id  # type: ignore[union-attr]
        for vid in (first.post_id, second.post_id)
    }
    assert found == {first.post_id, second.post_id}  # each exclusion leaves the other video
    both = frozenset({first.post_id, second.post_id})
    assert yt.find_existing(creds, replace(post, exclude_post_ids=both)) is None
