"""Contract tests: the real TikTok client against the TikTok sandbox over HTTP on 127.0.0.1."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from cliply.platforms.errors import ErrorClass, PlatformError
from cliply.platforms.models import Credentials, VideoPost
from cliply.platforms.tiktok import MB, TikTokClient, chunk_plan
from cliply.sandbox import tiktok as emu
from tests.fixtures.sandbox import REDIRECT_URI, RunningSandbox
from tests.platforms.helpers import (
    assert_ignores_posts_older_than_the_post,
    assert_skips_posts_other_targets_own,
    calls,
)

P = "tiktok"
ACCOUNT = "open-id-creator-1"
CREATOR_INFO = "/tiktok/v2/post/publish/creator_info/query/"
INIT = "/tiktok/v2/post/publish/video/init/"
INBOX_INIT = "/tiktok/v2/post/publish/inbox/video/init/"
STATUS = "/tiktok/v2/post/publish/status/fetch/"
UPLOAD = "/tiktok/video/"


def setup(sandbox: RunningSandbox, **config: object) -> tuple[TikTokClient, Credentials]:
    client = TikTokClient(sandbox.config(P, **config))
    if (P, ACCOUNT) not in sandbox.state.accounts:
        sandbox.state.add_account(P, ACCOUNT, handle="cliply.creator")
    return client, sandbox.connect(client, account_id=ACCOUNT)


def account_extra(sandbox: RunningSandbox, **extra: object) -> None:
    sandbox.state.add_account(P, ACCOUNT, handle="cliply.creator", **extra)


def post_for(video: Path, **kw: object) -> VideoPost:
    values: dict[str, object] = {
        "video": video,
        "caption": "Three things about chunked uploads",
        "hashtags": ("cliply",),
        "privacy": "PUBLIC_TO_EVERYONE",
    }
    values.update(kw)
    return VideoPost(**values)  # type: ignore[arg-type]


def settle(sandbox: RunningSandbox, method: str, path: str, count: int) -> None:
    """Wait (bounded) until a response the sandbox was holding back is logged, so it cannot leak into the next test."""
    sandbox.wait_logged(P, method=method, path=path, count=count)
    assert calls(sandbox, P).count((method, path)) == count


def expect(exc_info: pytest.ExceptionInfo[PlatformError], cls: ErrorClass) -> PlatformError:
    assert exc_info.value.error_class is cls, exc_info.value
    return exc_info.value


# ---- OAuth ---------------------------------------------------------------------------------------------------
def test_oauth_connect_refresh_rotation_and_reuse_detection(sandbox: RunningSandbox) -> None:
    client, creds = setup(sandbox)
    query = parse_qs(urlparse(client.authorization_url(redirect_uri=REDIRECT_URI).url).query)
    assert query["client_key"] == ["cliply-tiktok"] and "client_id" not in query
    assert query["scope"] == ["user.info.basic,video.publish,video.upload,video.list"]
    assert query["code_challenge_method"] == ["S256"]
    assert creds.account_id == ACCOUNT
    assert set(creds.scopes) == {"user.info.basic", "video.publish", "video.upload", "video.list"}
    assert client.missing_scopes(creds) == []
    assert creds.refresh_expires_at and creds.refresh_expires_at > datetime.now(UTC) + timedelta(days=100)
    assert creds.access_token not in repr(creds)

    fresh = client.refresh(creds)
    assert fresh.access_token != creds.access_token
    assert fresh.refresh_token and fresh.refresh_token != creds.refresh_token  # rotated: store the new one
    assert fresh.account_id == ACCOUNT
    assert client.creator_info(fresh)["creator_username"] == "cliply.creator"

    with pytest.raises(PlatformError) as replay:  # the spent token is replayed → the whole family is revoked
        client.refresh(creds)
    assert expect(replay, ErrorClass.AUTH_RECONNECT).code == "invalid_grant"
    with pytest.raises(PlatformError) as after:
        client.refresh(fresh)
    expect(after, ErrorClass.AUTH_RECONNECT)


def test_pkce_verifier_is_checked(sandbox: RunningSandbox) -> None:
    client = TikTokClient(sandbox.config(P))
    pending = client.authorization_url(redirect_uri=REDIRECT_URI)
    code = parse_qs(urlparse(httpx.get(pending.url).headers["location"]).query)["code"][0]
    with pytest.raises(PlatformError) as exc:
        client.exchange_code(code=code, redirect_uri=REDIRECT_URI, code_verifier="x" * 64)
    assert expect(exc, ErrorClass.AUTH_RECONNECT).code == "invalid_grant"


def test_granted_scope_subset_is_detected_and_publish_needs_reconnect(
    sandbox: RunningSandbox, small_clip: Path
) -> None:
    client = TikTokClient(sandbox.config(P))
    pending = client.authorization_url(redirect_uri=REDIRECT_URI)
    resp = httpx.get(pending.url + "&sandbox_scopes=user.info.basic,video.upload", follow_redirects=False)
    code = parse_qs(urlparse(resp.headers["location"]).query)["code"][0]
    creds = client.exchange_code(code=code, redirect_uri=REDIRECT_URI, code_verifier=pending.code_verifier)
    assert set(creds.scopes) == {"user.info.basic", "video.upload"}
    assert client.missing_scopes(creds) == ["video.publish", "video.list"]
    with pytest.raises(PlatformError) as exc:
        client.publish(creds, post_for(small_clip))
    assert expect(exc, ErrorClass.AUTH_RECONNECT).code == "scope_not_authorized"
    assert sandbox.state.posts_for(P) == []


# ---- publishing ----------------------------------------------------------------------------------------------
def test_direct_post_in_two_chunks_sends_exact_requests(sandbox: RunningSandbox, large_clip: Path) -> None:
    client, creds = setup(sandbox, chunk_size=5 * MB)
    size = large_clip.stat().st_size
    assert 10 * MB < size < 15 * MB  # so floor(size / 5 MB) = 2 and the last chunk absorbs the remainder
    before = len(sandbox.state.requests_for(P))
    seen: list[float] = []
    result = client.publish(creds, post_for(large_clip, cover_time_s=1.5), progress=seen.append)

    reqs = sandbox.state.requests_for(P)[before:]
    assert [(r.method, r.path) for r in reqs[:4]] == [
        ("POST", CREATOR_INFO),
        ("POST", INIT),
        ("PUT", UPLOAD),
        ("PUT", UPLOAD),
    ]
    puts = reqs[2:4]
    last = size - 1
    assert [r.headers["content-range"] for r in puts] == [
        f"bytes 0-{5 * MB - 1}/{size}",
        f"bytes {5 * MB}-{last}/{size}",
    ]
    assert [r.body_size for r in puts] == [5 * MB, size - 5 * MB]
    assert all(r.headers["content-type"] == "video/mp4" for r in puts)
    assert [r.status for r in puts] == [206, 201]
    polls = reqs[4:]
    assert polls and len(polls) <= 4 and all((r.method, r.path, r.status) == ("POST", STATUS, 200) for r in polls)

    posts = sandbox.state.posts_for(P)
    assert len(posts) == 1 and result.post_id == posts[0].post_id and result.status == "published"
    assert result.url == f"https://www.tiktok.com/@cliply.creator/video/{result.post_id}"
    info = posts[0].payload["post_info"]
    assert info["title"] == "Three things about chunked uploads #cliply"
    assert info["video_cover_timestamp_ms"] == 1500 and info["disable_comment"] is False
    job = sandbox.state.objects["tiktok:publish"][result.raw["publish_id"]]
    assert job["source"] == {"source": "FILE_UPLOAD", "video_size": size, "chunk_size": 5 * MB, "total_chunk_count": 2}
    assert seen == sorted(seen) and seen[-1] == 1.0


def test_small_file_goes_as_one_chunk_and_creator_disabled_toggles_stay_disabled(
    sandbox: RunningSandbox, small_clip: Path
) -> None:
    account_extra(sandbox, duet_disabled=True)
    client, creds = setup(sandbox, chunk_size=5 * MB)
    result = client.publish(creds, post_for(small_clip))
    size = small_clip.stat().st_size
    job = sandbox.state.objects["tiktok:publish"][result.raw["publish_id"]]
    assert job["source"] == {"source": "FILE_UPLOAD", "video_size": size, "chunk_size": size, "total_chunk_count": 1}
    assert job["post_info"]["disable_duet"] is True and job["post_info"]["disable_stitch"] is False
    puts = [r for r in sandbox.state.requests_for(P) if r.method == "PUT"]
    assert [r.headers["content-range"] for r in puts] == [f"bytes 0-{size - 1}/{size}"]
    assert len(sandbox.state.posts_for(P)) == 1


def test_inbox_mode_ends_in_user_inbox(sandbox: RunningSandbox, small_clip: Path) -> None:
    client, creds = setup(sandbox)
    before = len(sandbox.state.requests_for(P))
    result = client.publish(creds, post_for(small_clip, privacy="", options={"mode": "inbox"}))
    assert result.status == "inbox" and result.raw["status"] == "SEND_TO_USER_INBOX"
    paths = calls(sandbox, P, before)
    assert paths[:2] == [("POST", INBOX_INIT), ("PUT", UPLOAD)] and CREATOR_INFO not in {p for _, p in paths}
    assert [p.payload["mode"] for p in sandbox.state.posts_for(P)] == ["inbox"]


def test_pull_from_url(sandbox: RunningSandbox, small_clip: Path) -> None:
    client, creds = setup(sandbox)
    post = post_for(small_clip, video_url="https://media.cliply.test/c/1.mp4", options={"source": "url"})
    before = len(sandbox.state.requests_for(P))
    result = client.publish(creds, post)
    assert result.post_id == sandbox.state.posts_for(P)[0].post_id
    assert all(m != "PUT" for m, _ in calls(sandbox, P, before))

    sandbox.fault(P, "media_fetch_failed", "pull")
    with pytest.raises(PlatformError) as exc:
        client.publish(creds, post)
    assert expect(exc, ErrorClass.MEDIA_FETCH_FAILED).code == "video_pull_failed"

    account_extra(sandbox, verified_url_prefixes=["https://cdn.verified.test/"])
    with pytest.raises(PlatformError) as cfg:
        client.publish(creds, post)
    assert expect(cfg, ErrorClass.CONFIG).code == "url_ownership_unverified"
    assert len(sandbox.state.posts_for(P)) == 1


def test_unaudited_client_posts_private_without_public_id(sandbox: RunningSandbox, small_clip: Path) -> None:
    account_extra(sandbox, audited=False)
    client, creds = setup(sandbox)
    with pytest.raises(PlatformError) as exc:  # creator_info offers only SELF_ONLY: stop before init
        client.publish(creds, post_for(small_clip))
    assert expect(exc, ErrorClass.CONTENT_REJECTED).code == "privacy_level_option_mismatch"
    assert INIT not in {p for _, p in calls(sandbox, P)}
    result = client.publish(creds, post_for(small_clip, privacy="SELF_ONLY"))
    assert result.status == "published" and result.post_id == "" and result.raw["status"] == "PUBLISH_COMPLETE"
    assert len(sandbox.state.posts_for(P)) == 1


def test_clip_longer_than_creator_max_is_refused_before_init(sandbox: RunningSandbox, small_clip: Path) -> None:
    account_extra(sandbox, max_video_post_duration_sec=2)
    client, creds = setup(sandbox)
    with pytest.raises(PlatformError) as exc:
        client.publish(creds, post_for(small_clip))
    assert expect(exc, ErrorClass.CONTENT_REJECTED).code == "duration_check_failed"
    assert [p for _, p in calls(sandbox, P)][-1] == CREATOR_INFO


# ---- faults --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kind", "operation", "extra", "cls", "code"),
    [
        ("error", "init", {"status": 500}, ErrorClass.TRANSIENT, "internal_error"),
        ("error", "status", {"status": 503}, ErrorClass.TRANSIENT, "internal_error"),
        ("rate_limit", "init", {"retry_after_s": 40}, ErrorClass.RATE_LIMITED, "rate_limit_exceeded"),
        ("quota", "init", {"retry_after_s": 7200}, ErrorClass.QUOTA_EXHAUSTED, "spam_risk_too_many_posts"),
        ("expired_token", "creator_info", {}, ErrorClass.AUTH_REFRESHABLE, "access_token_invalid"),
        ("content_rejected", "init", {}, ErrorClass.CONTENT_REJECTED, "spam_risk_text"),
        ("processing_failed", "processing", {}, ErrorClass.CONTENT_REJECTED, "file_format_check_failed"),
    ],
)
def test_fault_classes(
    sandbox: RunningSandbox,
    small_clip: Path,
    kind: str,
    operation: str,
    extra: dict[str, float],
    cls: ErrorClass,
    code: str,
) -> None:
    client, creds = setup(sandbox)
    sandbox.fault(P, kind, operation, **extra)
    started = datetime.now(UTC)
    with pytest.raises(PlatformError) as exc:
        client.publish(creds, post_for(small_clip))
    err = expect(exc, cls)
    assert err.code == code
    if "retry_after_s" in extra:
        assert err.retry_at is not None and err.retry_at >= started + timedelta(seconds=extra["retry_after_s"] - 1)
    if operation in ("processing", "status"):  # failures after init carry the reconciliation handle
        assert err.details["publish_id"].startswith("v_pub_file~")
    # A failed status read does not undo the upload: the post exists and find_existing will see it.
    assert len(sandbox.state.posts_for(P)) == (1 if operation == "status" else 0)


def test_internal_fail_reason_is_transient(sandbox: RunningSandbox, small_clip: Path) -> None:
    account_extra(sandbox, fail_reason="internal")
    client, creds = setup(sandbox)
    sandbox.fault(P, "processing_failed", "processing")
    with pytest.raises(PlatformError) as exc:
        client.publish(creds, post_for(small_clip))
    assert expect(exc, ErrorClass.TRANSIENT).code == "internal"


def test_expired_token_is_refreshable_then_refresh_works(sandbox: RunningSandbox, small_clip: Path) -> None:
    client, creds = setup(sandbox)
    sandbox.state.expire_tokens(P)
    with pytest.raises(PlatformError) as exc:
        client.publish(creds, post_for(small_clip))
    expect(exc, ErrorClass.AUTH_REFRESHABLE)
    assert client.publish(client.refresh(creds), post_for(small_clip)).post_id


def test_per_minute_init_limit_and_daily_cap(sandbox: RunningSandbox, small_clip: Path) -> None:
    account_extra(sandbox, daily_post_cap=7)
    client, creds = setup(sandbox)
    for i in range(6):
        client.publish(creds, post_for(small_clip, caption=f"clip {i}"))
    with pytest.raises(PlatformError) as rate:
        client.publish(creds, post_for(small_clip, caption="clip 6"))
    err = expect(rate, ErrorClass.RATE_LIMITED)
    assert err.retry_at and err.retry_at > datetime.now(UTC) and client.last_rate_limit
    assert client.last_rate_limit.remaining == 0

    sandbox.state.clock.advance(61)
    client.publish(creds, post_for(small_clip, caption="clip 7"))
    sandbox.state.clock.advance(61)
    with pytest.raises(PlatformError) as cap:
        client.publish(creds, post_for(small_clip, caption="clip 8"))
    err = expect(cap, ErrorClass.QUOTA_EXHAUSTED)
    assert err.code == "spam_risk_too_many_posts" and err.retry_at
    assert err.retry_at > datetime.now(UTC) + timedelta(hours=20)
    assert len(sandbox.state.posts_for(P)) == 7


def test_lost_init_response_is_unknown_then_reconciled_to_one_post(sandbox: RunningSandbox, small_clip: Path) -> None:
    client, creds = setup(sandbox, timeout_s=0.5)
    sandbox.fault(P, "lost_response", "init", delay_s=1.5)
    post = post_for(small_clip)
    with pytest.raises(PlatformError) as exc:
        client.publish(creds, post)
    expect(exc, ErrorClass.UNKNOWN_OUTCOME)
    # The init committed but its upload_url never arrived: nothing can have been posted.
    assert client.find_existing(creds, post) is None
    assert sandbox.state.posts_for(P) == []
    result = client.publish(creds, post)
    assert [p.post_id for p in sandbox.state.posts_for(P)] == [result.post_id]
    assert client.find_existing(creds, post).post_id == result.post_id  # now matched via video/list
    settle(sandbox, "POST", INIT, 2)


def test_find_existing_ignores_the_same_caption_posted_before_the_first_attempt(
    sandbox: RunningSandbox, small_clip: Path
) -> None:
    client, creds = setup(sandbox)
    post = post_for(small_clip)
    # The same caption half an hour later: the old video (video/list create_time) is not ours.
    assert_ignores_posts_older_than_the_post(sandbox, P, client, creds, post, client.publish(creds, post))
    assert "create_time" in parse_qs(calls_query(sandbox, "/tiktok/v2/video/list/"))["fields"][0].split(",")


def test_find_existing_skips_videos_other_targets_own(sandbox: RunningSandbox, small_clip: Path) -> None:
    client, creds = setup(sandbox)
    post = post_for(small_clip)
    first, second = client.publish(creds, post), client.publish(creds, post)  # same caption, two targets
    assert client.find_existing(creds, post).post_id == second.post_id  # type: ignore[union-attr]  # newest first
    assert_skips_posts_other_targets_own(client, creds, post, first, second)


def calls_query(sandbox: RunningSandbox, path: str) -> str:
    return [r.query for r in sandbox.state.requests_for(P) if r.path == path][-1]


def test_lost_final_chunk_response_is_reconciled_by_publish_id(sandbox: RunningSandbox, small_clip: Path) -> None:
    client, creds = setup(sandbox, upload_timeout_s=0.5)
    sandbox.fault(P, "lost_response", "upload", delay_s=1.5)
    post = post_for(small_clip)
    with pytest.raises(PlatformError) as exc:
        client.publish(creds, post)
    err = expect(exc, ErrorClass.UNKNOWN_OUTCOME)
    pending = dataclasses.replace(post, options={"publish_id": err.details["publish_id"]})
    found = None
    for _ in range(10):  # bounded: each status fetch advances processing one stage
        found = client.find_existing(creds, pending)
        assert found is not None
        if found.post_id:
            break
    posts = sandbox.state.posts_for(P)
    assert found is not None and len(posts) == 1 and found.post_id == posts[0].post_id
    settle(sandbox, "PUT", UPLOAD, 1)
    assert calls(sandbox, P).count(("POST", INIT)) == 1


def test_timeout_mid_upload_is_transient_and_nothing_posted(sandbox: RunningSandbox, large_clip: Path) -> None:
    client, creds = setup(sandbox, chunk_size=5 * MB, upload_timeout_s=0.5)
    sandbox.fault(P, "timeout", "upload", delay_s=1.5)
    post = post_for(large_clip)
    with pytest.raises(PlatformError) as exc:
        client.publish(creds, post)
    err = expect(exc, ErrorClass.TRANSIENT)
    assert (
        client.find_existing(creds, dataclasses.replace(post, options={"publish_id": err.details["publish_id"]}))
        is None
    )
    settle(sandbox, "PUT", UPLOAD, 1)  # the first chunk, answered 504 after the client gave up
    assert sandbox.state.posts_for(P) == []


# ---- validation and the sandbox's own checks ---------------------------------------------------------------------
def test_validation_counts_utf16_and_rejects_before_any_request(sandbox: RunningSandbox, small_clip: Path) -> None:
    client = TikTokClient(sandbox.config(P))
    creds = Credentials(access_token="unused")
    assert client.validate(post_for(small_clip, caption="😀" * 1100, hashtags=())) == []  # 1,100 chars, 2,200 units
    for bad in (
        post_for(small_clip, caption="😀" * 1100 + "a", hashtags=()),
        post_for(small_clip, privacy=""),
        post_for(small_clip, privacy="SELF_ONLY", options={"brand_content_toggle": True}),
    ):
        assert client.validate(bad)
        with pytest.raises(PlatformError) as exc:
            client.publish(creds, bad)
        assert expect(exc, ErrorClass.CONTENT_REJECTED).code == "validation"
    assert sandbox.state.requests_for(P) == []


@pytest.mark.parametrize("size", [1, 3 * MB, 5 * MB, 13 * MB, 64 * MB, 64 * MB + 1, 23 * MB, 700 * MB, 4096 * MB])
@pytest.mark.parametrize("preferred", [0, 5 * MB, 10 * MB, 64 * MB])
def test_chunk_plan_satisfies_the_sandbox_rules(size: int, preferred: int) -> None:
    chunk, count = chunk_plan(size, preferred)
    assert emu.check_chunks(size, chunk, count) is None, (size, preferred, chunk, count)
    assert count == (1 if chunk == size else size // chunk)


def test_chunk_rules_examples() -> None:
    assert chunk_plan(23 * MB, 10 * MB) == (10 * MB, 2)  # TikTok's own example: 10 MB + 13 MB
    assert emu.check_chunks(23 * MB, 10 * MB, 3) is not None  # count must be the floor
    assert emu.check_chunks(3 * MB, 1 * MB, 3) is not None  # < 5 MB goes whole
    assert emu.check_chunks(100 * MB, 100 * MB, 1) is not None  # > 64 MB must be split
    assert emu.check_chunks(300 * MB, 64 * MB, 4) is None  # the last chunk absorbs 108 MB (≤ 128 MB)
    assert emu.check_chunks(300 * MB, 60 * MB, 5) is None
    assert emu.check_chunks(200 * MB, 4 * MB, 50) is not None  # chunks under 5 MB


def test_sandbox_rejects_out_of_order_chunks(sandbox: RunningSandbox, large_clip: Path) -> None:
    _, creds = setup(sandbox)
    api = sandbox.url(P)
    auth = {"Authorization": f"Bearer {creds.access_token}"}
    size = large_clip.stat().st_size
    info = {"title": "x", "privacy_level": "SELF_ONLY"}
    bad = httpx.post(
        f"{api}/v2/post/publish/video/init/",
        headers=auth,
        json={
            "post_info": info,
            "source_info": {"source": "FILE_UPLOAD", "video_size": size, "chunk_size": 5 * MB, "total_chunk_count": 3},
        },
    )
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_params"
    good = httpx.post(
        f"{api}/v2/post/publish/video/init/",
        headers=auth,
        json={
            "post_info": info,
            "source_info": {"source": "FILE_UPLOAD", "video_size": size, "chunk_size": 5 * MB, "total_chunk_count": 2},
        },
    )
    assert good.json()["error"]["code"] == "ok"
    second = large_clip.read_bytes()[5 * MB :]
    put = httpx.put(
        good.json()["data"]["upload_url"],
        content=second,
        headers={"Content-Type": "video/mp4", "Content-Range": f"bytes {5 * MB}-{size - 1}/{size}"},
    )
    assert put.status_code == 416 and put.json()["error"]["code"] == "invalid_file_upload"


# ---- analytics and URLs ---------------------------------------------------------------------------------------
def test_metrics_grow_with_time_and_are_batched_by_20(sandbox: RunningSandbox, small_clip: Path) -> None:
    client, creds = setup(sandbox)
    post_id = client.publish(creds, post_for(small_clip)).post_id
    sandbox.state.clock.advance(600)
    first = client.fetch_metrics(creds, [post_id])[post_id]
    sandbox.state.clock.advance(3600)
    before = len(sandbox.state.requests_for(P))
    ids = [post_id] + [str(10**18 + i) for i in range(24)]  # 25 ids, the others are not this creator's
    later = client.fetch_metrics(creds, ids)
    assert list(later) == [post_id]
    assert later[post_id].views > first.views > 0 and later[post_id].likes >= first.likes
    queries = sandbox.state.requests_for(P)[before:]
    assert [(r.path, r.status) for r in queries] == [("/tiktok/v2/video/query/", 200)] * 2
    assert all("fields=" in r.query for r in queries)


@pytest.mark.parametrize(
    ("url", "post_id", "kind", "resolve"),
    [
        ("https://www.tiktok.com/@scout2015/video/6718335390845095173", "6718335390845095173", "video_id", False),
        (
            "https://tiktok.com/@a.b_c/video/7350000000000000001?is_from_webapp=1",
            "7350000000000000001",
            "video_id",
            False,
        ),
        ("https://m.tiktok.com/@user/photo/7312345678901234567", "7312345678901234567", "photo_id", False),
        ("https://www.tiktok.com/embed/v2/6718335390845095173", "6718335390845095173", "video_id", False),
        ("https://vm.tiktok.com/ZMeAbCdEf/", "ZMeAbCdEf", "short_code", True),
        ("https://www.tiktok.com/t/ZTRabc123/", "ZTRabc123", "short_code", True),
    ],
)
def test_parse_post_url(url: str, post_id: str, kind: str, resolve: bool) -> None:
    ref = TikTokClient.parse_post_url(url)
    assert ref is not None and (ref.platform, ref.post_id, ref.id_kind, ref.needs_resolution) == (
        P,
        post_id,
        kind,
        resolve,
    )


@pytest.mark.parametrize(
    "url",
    [
        "https://www.tiktok.com.evil.com/@user/video/6718335390845095173",
        "https://nottiktok.com/@user/video/6718335390845095173",
        "https://evil.com/www.tiktok.com/@user/video/6718335390845095173",
        "https://www.tiktok.com/@user",
        "https://www.tiktok.com/@user/video/abc",
        "https://user@www.tiktok.com/@user/video/6718335390845095173",
        "ftp://www.tiktok.com/@user/video/6718335390845095173",
        "https://www.youtube.com/shorts/dQw4w9WgXcQ",
    ],
)
def test_parse_post_url_rejects_lookalikes(url: str) -> None:
    assert TikTokClient.parse_post_url(url) is None
