"""Contract tests: the real Pinterest client against the Pinterest sandbox over HTTP."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from cliply.platforms.errors import ErrorClass, PlatformError
from cliply.platforms.models import Credentials, VideoPost
from cliply.platforms.pinterest import PinterestClient, with_marker
from tests.fixtures.sandbox import REDIRECT_URI, RunningSandbox
from tests.platforms.helpers import (
    assert_ignores_posts_older_than_the_post,
    assert_skips_posts_other_targets_own,
    settle,
)


def make(sandbox: RunningSandbox, **overrides: object) -> PinterestClient:
    return PinterestClient(sandbox.config("pinterest", **overrides))


def connected(sandbox: RunningSandbox, **overrides: object) -> tuple[PinterestClient, Credentials, str]:
    client = make(sandbox, **overrides)
    creds = sandbox.connect(client)
    board = client.list_boards(creds)[0]["id"]
    return client, creds, board


def clip_post(video, board: str, **kw: object) -> VideoPost:
    values: dict[str, object] = {
        "title": "A clip",
        "caption": "Watch this clip",
        "hashtags": ("cliply",),
        "link": "https://example.com/watch?v=1",
        "board_id": board,
        "idempotency_key": "tgt-123",
        "cover_time_s": 1.5,
    }
    values.update(kw)
    return VideoPost(video, **values)  # type: ignore[arg-type]


def test_oauth_basic_auth_rotation_and_replay(sandbox: RunningSandbox) -> None:
    client = make(sandbox)
    creds = sandbox.connect(client, account_id="pin-user-9")
    assert creds.account_id == "pin-user-9" and client.missing_scopes(creds) == []
    assert creds.refresh_expires_at and creds.refresh_expires_at > datetime.now(UTC) + timedelta(days=59)
    pending = client.authorization_url(redirect_uri=REDIRECT_URI)
    assert parse_qs(urlparse(pending.url).query)["scope"] == [",".join(client.required_scopes)]
    token_calls = [r for r in sandbox.state.requests_for("pinterest") if r.path == "/pinterest/v5/oauth/token"]
    assert token_calls[0].headers["authorization"] == "<redacted>"

    fresh = client.refresh(creds)
    assert fresh.refresh_token != creds.refresh_token and fresh.account_id == "pin-user-9"
    with pytest.raises(PlatformError) as replay:
        client.refresh(creds)
    assert replay.value.error_class is ErrorClass.AUTH_RECONNECT
    with pytest.raises(PlatformError) as revoked:  # the replay revoked the whole family
        client.refresh(fresh)
    assert revoked.value.error_class is ErrorClass.AUTH_RECONNECT


def test_token_endpoint_requires_basic_auth(sandbox: RunningSandbox) -> None:
    resp = httpx.post(
        sandbox.url("pinterest") + "/v5/oauth/token", data={"grant_type": "refresh_token", "refresh_token": "x"}
    )
    assert resp.status_code == 401 and resp.json()["code"] == 2


def test_granted_scope_subset(sandbox: RunningSandbox) -> None:
    client = make(sandbox)
    pending = client.authorization_url(redirect_uri=REDIRECT_URI)
    resp = httpx.get(pending.url + "&sandbox_scopes=boards:read,pins:read")
    code = parse_qs(urlparse(resp.headers["location"]).query)["code"][0]
    creds = client.exchange_code(code=code, redirect_uri=REDIRECT_URI)
    assert client.missing_scopes(creds) == ["pins:write", "user_accounts:read"]


def test_happy_path_exact_requests(sandbox: RunningSandbox, small_clip) -> None:
    client, creds, board = connected(sandbox)
    before = len(sandbox.state.requests_for("pinterest"))
    seen: list[float] = []
    post = clip_post(small_clip, board)
    result = client.publish(creds, post, progress=seen.append)

    reqs = sandbox.state.requests_for("pinterest")[before:]
    media_id = next(iter(sandbox.state.objects["pinterest:media"]))
    assert [(r.method, r.path) for r in reqs] == [
        ("POST", "/pinterest/v5/media"),
        ("POST", "/pinterest/"),  # the S3 form POST to upload_url
        ("GET", f"/pinterest/v5/media/{media_id}"),
        ("GET", f"/pinterest/v5/media/{media_id}"),
        ("POST", "/pinterest/v5/pins"),
    ]
    assert [r.status for r in reqs] == [201, 204, 200, 200, 201]
    assert reqs[1].headers["content-type"].startswith("multipart/form-data")
    assert "authorization" not in reqs[1].headers  # the bearer token never goes to S3
    assert reqs[1].body_size > small_clip.stat().st_size
    assert reqs[0].headers["content-type"] == reqs[4].headers["content-type"] == "application/json"

    posts = sandbox.state.posts_for("pinterest")
    assert len(posts) == 1 and posts[0].post_id == result.post_id
    payload = posts[0].payload
    assert payload["board_id"] == board and payload["media_id"] == media_id
    assert payload["description"] == "Watch this clip #cliply"
    assert parse_qs(urlparse(payload["link"]).query) == {"v": ["1"], "cliply": ["tgt-123"]}
    assert result.url == f"https://www.pinterest.com/pin/{result.post_id}/"
    assert PinterestClient.parse_post_url(result.url).post_id == result.post_id
    assert seen == sorted(seen) and seen[-1] == 1.0


@pytest.mark.parametrize(
    ("kind", "operation", "extra", "expected"),
    [
        ("error", "register_media", {"status": 503}, ErrorClass.TRANSIENT),
        ("error", "upload", {"status": 500}, ErrorClass.TRANSIENT),
        ("rate_limit", "create_pin", {"retry_after_s": 60}, ErrorClass.RATE_LIMITED),
        ("quota", "create_pin", {"retry_after_s": 6 * 3600}, ErrorClass.QUOTA_EXHAUSTED),
        ("expired_token", "media_status", {}, ErrorClass.AUTH_REFRESHABLE),
        ("content_rejected", "create_pin", {}, ErrorClass.CONTENT_REJECTED),
        ("duplicate", "create_pin", {}, ErrorClass.DUPLICATE),
        ("processing_failed", "processing", {}, ErrorClass.CONTENT_REJECTED),
        ("error", "create_pin", {"status": 502}, ErrorClass.TRANSIENT),
    ],
)
def test_faults_are_classified(sandbox: RunningSandbox, small_clip, kind, operation, extra, expected) -> None:
    client, creds, board = connected(sandbox)
    sandbox.fault("pinterest", kind, operation, **extra)
    with pytest.raises(PlatformError) as exc:
        client.publish(creds, clip_post(small_clip, board))
    err = exc.value
    assert err.error_class is expected
    if "retry_after_s" in extra:
        assert err.retry_at is not None
        assert err.retry_at > datetime.now(UTC) + timedelta(seconds=extra["retry_after_s"] - 30)
    assert sandbox.state.posts_for("pinterest") == []
    assert creds.access_token not in str(err)


def test_real_rate_limit_window(sandbox: RunningSandbox) -> None:
    client, creds, _board = connected(sandbox)
    sandbox.state.windows[("pinterest", creds.account_id, "writes_min")].extend([sandbox.state.clock.timestamp()] * 100)
    with pytest.raises(PlatformError) as exc:
        client.request(
            "POST",
            client.api + "/v5/media",
            json={"media_type": "video"},
            headers={"Authorization": f"Bearer {creds.access_token}"},
        )
    assert exc.value.error_class is ErrorClass.RATE_LIMITED and exc.value.retry_at is not None
    sandbox.state.clock.advance(61)  # the minute window frees
    resp = client.request(
        "POST",
        client.api + "/v5/media",
        json={"media_type": "video"},
        headers={"Authorization": f"Bearer {creds.access_token}"},
    )
    assert resp.status_code == 201 and client.last_rate_limit.remaining == 99


def test_lost_response_on_create_is_reconciled(sandbox: RunningSandbox, small_clip) -> None:
    client, creds, board = connected(sandbox, timeout_s=0.5)
    post = clip_post(small_clip, board)
    assert client.find_existing(creds, post) is None
    sandbox.fault("pinterest", "lost_response", "create_pin", delay_s=1.5)
    with pytest.raises(PlatformError) as exc:
        client.publish(creds, post)
    assert exc.value.error_class is ErrorClass.UNKNOWN_OUTCOME
    settle(sandbox, "pinterest", "POST", "/pinterest/v5/pins")
    found = client.find_existing(creds, post)
    posts = sandbox.state.posts_for("pinterest")
    assert len(posts) == 1 and found is not None and found.post_id == posts[0].post_id
    assert client.find_existing(creds, replace(post, idempotency_key="other-target")) is None
    # without a link, reconciliation falls back to title + description
    assert client.find_existing(creds, replace(post, link="", idempotency_key="")) is None


def test_reconcile_without_link_matches_title_and_description(sandbox: RunningSandbox, small_clip) -> None:
    client, creds, board = connected(sandbox)
    post = clip_post(small_clip, board, link="", idempotency_key="")
    published = client.publish(creds, post)
    assert client.find_existing(creds, post).post_id == published.post_id
    assert client.find_existing(creds, replace(post, title="Another title")) is None


def test_reconcile_without_link_ignores_the_same_pin_created_before_the_first_attempt(
    sandbox: RunningSandbox, small_clip
) -> None:
    client, creds, board = connected(sandbox)
    post = clip_post(small_clip, board, link="", idempotency_key="")
    # created_at is naive ISO (UTC): the same title + description pinned earlier is not this target's.
    assert_ignores_posts_older_than_the_post(sandbox, "pinterest", client, creds, post, client.publish(creds, post))


def test_reconcile_without_link_skips_pins_other_targets_own(sandbox: RunningSandbox, small_clip) -> None:
    client, creds, board = connected(sandbox)
    post = clip_post(small_clip, board, link="", idempotency_key="")
    first, second = client.publish(creds, post), client.publish(creds, post)
    assert client.find_existing(creds, post).post_id == second.post_id  # type: ignore[union-attr]  # newest first
    assert_skips_posts_other_targets_own(client, creds, post, first, second)


def test_timeout_mid_upload_is_transient(sandbox: RunningSandbox, large_clip) -> None:
    client, creds, board = connected(sandbox, upload_timeout_s=0.4)
    sandbox.fault("pinterest", "timeout", "upload", delay_s=1.2)
    with pytest.raises(PlatformError) as exc:
        client.publish(creds, clip_post(large_clip, board))
    assert exc.value.error_class is ErrorClass.TRANSIENT
    settle(sandbox, "pinterest", "POST", "/pinterest/")
    assert sandbox.state.posts_for("pinterest") == []


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"title": "t" * 101}, "title"),
        ({"caption": "d" * 800}, "description"),  # 800 + " #cliply" hashtag
        ({"link": "https://example.com/" + "a" * 2040}, "link"),  # marker pushes it over 2048
        ({"board_id": ""}, "board_id"),
        ({"link": "javascript:alert(1)"}, "link"),
    ],
)
def test_validation_rejects_before_any_request(sandbox: RunningSandbox, small_clip, changes, field) -> None:
    client = make(sandbox)
    post = clip_post(small_clip, "123", **changes)
    assert field in {v.field for v in client.validate(post)}
    with pytest.raises(PlatformError) as exc:
        client.publish(Credentials(access_token="unused"), post)
    assert exc.value.error_class is ErrorClass.CONTENT_REJECTED
    assert sandbox.state.requests_for("pinterest") == []


def test_limits_accept_exact_boundaries(sandbox: RunningSandbox, small_clip) -> None:
    post = clip_post(small_clip, "1", title="é" * 100, caption="😀" * 792)  # + " #cliply" = 800 code points
    assert make(sandbox).validate(post) == []


def test_metrics_grow_with_clock(sandbox: RunningSandbox, small_clip) -> None:
    client, creds, board = connected(sandbox)
    result = client.publish(creds, clip_post(small_clip, board))
    sandbox.state.clock.advance(900)
    first = client.fetch_metrics(creds, [result.post_id])[result.post_id]
    sandbox.state.clock.advance(6 * 3600)
    second = client.fetch_metrics(creds, [result.post_id])[result.post_id]
    assert first.views and second.views > first.views
    assert second.impressions > first.impressions and second.saves >= first.saves
    call = [r for r in sandbox.state.requests_for("pinterest") if r.path.endswith("/analytics")][-1]
    assert "VIDEO_MRC_VIEW" in parse_qs(call.query)["metric_types"][0]


def test_with_marker_keeps_query() -> None:
    assert with_marker("https://e.com/a?x=1&cliply=old", "k") == "https://e.com/a?x=1&cliply=k"
    assert with_marker("", "k") == ""


@pytest.mark.parametrize(
    ("url", "post_id", "short"),
    [
        ("https://www.pinterest.com/pin/1234567890123/", "1234567890123", False),
        ("https://pinterest.co.uk/pin/99887766/", "99887766", False),
        ("https://fr.pinterest.com/pin/4455/", "4455", False),
        ("https://www.pinterest.com.au/pin/778899", "778899", False),
        ("https://pin.it/3xYzAbC", "3xYzAbC", True),
    ],
)
def test_parse_post_url_accepts_real_shapes(url, post_id, short) -> None:
    ref = PinterestClient.parse_post_url(url)
    assert ref is not None and ref.post_id == post_id and ref.needs_resolution is short


@pytest.mark.parametrize(
    "url",
    [
        "https://pinterest.com.evil.example/pin/123/",
        "https://notpinterest.com/pin/123/",
        "https://www.pinterest.com/someone/board-name/",
        "https://www.pinterest.com/pin/abc/",
        "https://pin.it.evil.example/3xYz",
        "https://x.com/jack/status/20",
    ],
)
def test_parse_post_url_rejects_lookalikes(url) -> None:
    assert PinterestClient.parse_post_url(url) is None
