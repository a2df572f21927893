"""Contract tests: the real X client against the X sandbox over HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from cliply.platforms.errors import ErrorClass, PlatformError
from cliply.platforms.models import Credentials, VideoPost
from cliply.platforms.text import x_weighted_length
from cliply.platforms.x import XClient, _match_key
from tests.fixtures.sandbox import REDIRECT_URI, RunningSandbox
from tests.platforms.helpers import (
    assert_ignores_posts_older_than_the_post,
    assert_skips_posts_other_targets_own,
    settle,
)

CAPTION = "Cliply test clip & friends <3 https://example.com/watch"


def make(sandbox: RunningSandbox, **overrides: object) -> XClient:
    return XClient(sandbox.config("x", **overrides))


def connect_with_scopes(client: XClient, scopes: str) -> Credentials:
    pending = client.authorization_url(redirect_uri=REDIRECT_URI)
    resp = httpx.get(pending.url + "&sandbox_scopes=" + scopes.replace(" ", "%20"), follow_redirects=False)
    code = parse_qs(urlparse(resp.headers["location"]).query)["code"][0]
    return client.exchange_code(code=code, redirect_uri=REDIRECT_URI, code_verifier=pending.code_verifier)


def test_oauth_connect_refresh_rotation_and_replay(sandbox: RunningSandbox) -> None:
    client = make(sandbox)
    creds = sandbox.connect(client, account_id="4242")
    assert creds.account_id == "4242" and client.missing_scopes(creds) == []
    pending = client.authorization_url(redirect_uri=REDIRECT_URI)
    query = parse_qs(urlparse(pending.url).query)
    assert query["code_challenge_method"] == ["S256"] and urlparse(pending.url).path == "/x/i/oauth2/authorize"

    fresh = client.refresh(creds)
    assert fresh.refresh_token and fresh.refresh_token != creds.refresh_token
    assert fresh.access_token != creds.access_token and fresh.account_id == "4242"
    with pytest.raises(PlatformError) as replay:
        client.refresh(creds)  # the rotated-away token: theft signal, the family is revoked
    assert replay.value.error_class is ErrorClass.AUTH_RECONNECT
    with pytest.raises(PlatformError) as revoked:
        client.refresh(fresh)
    assert revoked.value.error_class is ErrorClass.AUTH_RECONNECT
    token_posts = [r for r in sandbox.state.requests_for("x") if r.path == "/x/2/oauth2/token"]
    assert token_posts and all(r.headers["authorization"] == "<redacted>" for r in token_posts)  # Basic auth


def test_pkce_is_enforced(sandbox: RunningSandbox) -> None:
    client = make(sandbox)
    pending = client.authorization_url(redirect_uri=REDIRECT_URI)
    code = parse_qs(urlparse(httpx.get(pending.url).headers["location"]).query)["code"][0]
    with pytest.raises(PlatformError) as exc:
        client.exchange_code(code=code, redirect_uri=REDIRECT_URI, code_verifier="wrong-" + "v" * 50)
    assert exc.value.error_class is ErrorClass.AUTH_RECONNECT


def test_granted_scope_subset_is_reported(sandbox: RunningSandbox, small_clip) -> None:
    client = make(sandbox)
    creds = connect_with_scopes(client, "tweet.read tweet.write users.read")
    assert client.missing_scopes(creds) == ["media.write", "offline.access"]
    assert creds.refresh_token is None  # no offline.access, no refresh token
    with pytest.raises(PlatformError) as exc:
        client.publish(creds, VideoPost(small_clip, caption="no media scope"))
    assert exc.value.error_class is ErrorClass.AUTH_RECONNECT


def test_happy_path_exact_requests(sandbox: RunningSandbox, large_clip) -> None:
    client = make(sandbox)
    creds = sandbox.connect(client)
    before = len(sandbox.state.requests_for("x"))
    seen: list[float] = []
    result = client.publish(creds, VideoPost(large_clip, caption=CAPTION), progress=seen.append)

    reqs = sandbox.state.requests_for("x")[before:]
    media_id = next(iter(sandbox.state.objects["x"]))
    size = large_clip.stat().st_size
    chunk = 4 * 1024 * 1024
    n_chunks = -(-size // chunk)
    assert n_chunks >= 3
    expected = (
        [("POST", "/x/2/media/upload/initialize")]
        + [("POST", f"/x/2/media/upload/{media_id}/append")] * n_chunks
        + [("POST", f"/x/2/media/upload/{media_id}/finalize")]
        + [("GET", "/x/2/media/upload")] * 2
        + [("POST", "/x/2/tweets")]
    )
    assert [(r.method, r.path) for r in reqs] == expected
    assert all(r.status < 300 for r in reqs)
    assert reqs[0].headers["content-type"] == "application/json"
    assert reqs[-1].headers["content-type"] == "application/json"
    appends = reqs[1 : 1 + n_chunks]
    assert all(r.headers["content-type"].startswith("multipart/form-data") for r in appends)
    assert all(appends[i].body_size > chunk for i in range(n_chunks - 1))  # full 4 MiB segments plus form framing
    assert parse_qs(reqs[-2].query) == {"command": ["STATUS"], "media_id": [media_id]}
    # segment_index 0..n-1 with the exact byte counts, as the sandbox received them
    segments = sandbox.state.objects["x"][media_id]["segments"]
    assert segments == {i: min(chunk, size - i * chunk) for i in range(n_chunks)}

    posts = sandbox.state.posts_for("x")
    assert len(posts) == 1 and posts[0].post_id == result.post_id
    assert posts[0].payload["source_text"] == CAPTION and posts[0].payload["media_keys"] == [f"13_{media_id}"]
    assert result.url == f"https://x.com/{creds.extra['username']}/status/{result.post_id}"
    assert seen == sorted(seen) and seen[-1] == 1.0
    assert XClient.parse_post_url(result.url).post_id == result.post_id


@pytest.mark.parametrize(
    ("kind", "operation", "extra", "expected"),
    [
        ("error", "initialize", {"status": 503}, ErrorClass.TRANSIENT),
        ("error", "append", {"status": 500}, ErrorClass.TRANSIENT),
        ("rate_limit", "create_tweet", {"retry_after_s": 600}, ErrorClass.RATE_LIMITED),
        ("quota", "create_tweet", {"retry_after_s": 7200}, ErrorClass.QUOTA_EXHAUSTED),
        ("expired_token", "status", {}, ErrorClass.AUTH_REFRESHABLE),
        ("content_rejected", "create_tweet", {}, ErrorClass.CONTENT_REJECTED),
        ("duplicate", "create_tweet", {}, ErrorClass.DUPLICATE),
        ("processing_failed", "processing", {}, ErrorClass.CONTENT_REJECTED),
    ],
)
def test_faults_are_classified(sandbox: RunningSandbox, small_clip, kind, operation, extra, expected) -> None:
    client = make(sandbox)
    creds = sandbox.connect(client)
    sandbox.fault("x", kind, operation, **extra)
    with pytest.raises(PlatformError) as exc:
        client.publish(creds, VideoPost(small_clip, caption=f"fault {kind}"))
    err = exc.value
    assert err.error_class is expected
    if "retry_after_s" in extra:
        # retry_at comes from x-rate-limit-reset (X sends no Retry-After)
        assert err.retry_at is not None
        assert err.retry_at > datetime.now(UTC) + timedelta(seconds=extra["retry_after_s"] - 30)
    if kind == "processing_failed":
        assert err.code == "InvalidMedia"
    assert sandbox.state.posts_for("x") == []
    assert creds.access_token not in str(err)


def test_real_expiry_then_refresh_recovers(sandbox: RunningSandbox, small_clip) -> None:
    client = make(sandbox)
    creds = sandbox.connect(client)
    sandbox.state.clock.advance(2 * 3600 + 1)  # access tokens live 2 h
    with pytest.raises(PlatformError) as exc:
        client.publish(creds, VideoPost(small_clip, caption="after expiry"))
    assert exc.value.error_class is ErrorClass.AUTH_REFRESHABLE
    result = client.publish(client.refresh(creds), VideoPost(small_clip, caption="after expiry"))
    assert [p.post_id for p in sandbox.state.posts_for("x")] == [result.post_id]


def test_real_duplicate_text_is_duplicate(sandbox: RunningSandbox, small_clip) -> None:
    client = make(sandbox)
    creds = sandbox.connect(client)
    post = VideoPost(small_clip, caption=CAPTION)
    first = client.publish(creds, post)
    with pytest.raises(PlatformError) as exc:
        client.publish(creds, post)
    assert exc.value.error_class is ErrorClass.DUPLICATE
    assert client.find_existing(creds, post).post_id == first.post_id
    assert len(sandbox.state.posts_for("x")) == 1


def test_lost_response_on_create_is_reconciled(sandbox: RunningSandbox, small_clip) -> None:
    client = make(sandbox, timeout_s=0.5)
    creds = sandbox.connect(client)
    post = VideoPost(small_clip, caption=CAPTION)
    assert client.find_existing(creds, post) is None
    sandbox.fault("x", "lost_response", "create_tweet", delay_s=1.5)
    with pytest.raises(PlatformError) as exc:
        client.publish(creds, post)
    assert exc.value.error_class is ErrorClass.UNKNOWN_OUTCOME
    settle(sandbox, "x", "POST", "/x/2/tweets")
    found = client.find_existing(creds, post)
    posts = sandbox.state.posts_for("x")
    assert len(posts) == 1 and found is not None and found.post_id == posts[0].post_id
    # a different caption does not match
    assert client.find_existing(creds, VideoPost(small_clip, caption="something else")) is None


def test_find_existing_ignores_the_same_text_posted_before_the_first_attempt(
    sandbox: RunningSandbox, small_clip
) -> None:
    client = make(sandbox)
    creds = sandbox.connect(client)
    post = VideoPost(small_clip, caption=CAPTION)
    asked_before = len(sandbox.state.requests_for("x"))
    first_attempt = assert_ignores_posts_older_than_the_post(
        sandbox, "x", client, creds, post, client.publish(creds, post)
    )
    # The timeline is asked from the first attempt (less the skew allowance) on, not for the last 24 h.
    timeline = [
        r.query
        for r in sandbox.state.requests_for("x")[asked_before:]
        if r.method == "GET" and r.path.endswith("/tweets")
    ]
    assert parse_qs(timeline[0])["start_time"] == [
        (first_attempt - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    ]


def test_find_existing_skips_tweets_other_targets_own(sandbox: RunningSandbox, small_clip) -> None:
    client = make(sandbox)
    creds = sandbox.connect(client)
    post = VideoPost(small_clip, caption=CAPTION)
    first = client.publish(creds, post)
    sandbox.state.clock.advance(25 * 3600)  # X refuses the same text within 24 h
    creds = client.refresh(creds)
    second = client.publish(creds, post)
    assert client.find_existing(creds, post).post_id == second.post_id  # type: ignore[union-attr]
    assert_skips_posts_other_targets_own(client, creds, post, first, second)


def test_timeout_mid_upload_is_transient(sandbox: RunningSandbox, large_clip) -> None:
    client = make(sandbox, upload_timeout_s=0.4)
    creds = sandbox.connect(client)
    sandbox.fault("x", "timeout", "append", delay_s=1.2)
    with pytest.raises(PlatformError) as exc:
        client.publish(creds, VideoPost(large_clip, caption="mid-upload"))
    assert exc.value.error_class is ErrorClass.TRANSIENT
    media_id = next(iter(sandbox.state.objects["x"]))
    settle(sandbox, "x", "POST", f"/x/2/media/upload/{media_id}/append")
    assert sandbox.state.posts_for("x") == []


@pytest.mark.parametrize(
    ("caption", "ok"),
    [
        ("a" * 280, True),
        ("a" * 281, False),
        ("😀" * 140, True),  # emoji weigh 2
        ("😀" * 141, False),
        ("日本" * 70, True),  # CJK weigh 2
        ("日本" * 70 + "x", False),
        ("https://example.com/" + "a" * 300 + " " + "b" * 256, True),  # a URL counts 23
    ],
)
def test_validation_counts_weighted_and_sends_nothing(sandbox: RunningSandbox, small_clip, caption, ok) -> None:
    client = make(sandbox)
    post = VideoPost(small_clip, caption=caption)
    assert (client.validate(post) == []) is ok
    if not ok:
        with pytest.raises(PlatformError) as exc:
            client.publish(Credentials(access_token="unused", account_id="1"), post)
        assert exc.value.error_class is ErrorClass.CONTENT_REJECTED
        assert sandbox.state.requests_for("x") == []


def test_metrics_grow_and_batch_by_100(sandbox: RunningSandbox, small_clip) -> None:
    client = make(sandbox)
    creds = sandbox.connect(client)
    result = client.publish(creds, VideoPost(small_clip, caption="metrics"))
    sandbox.state.clock.advance(600)
    first = client.fetch_metrics(creds, [result.post_id])[result.post_id]
    sandbox.state.clock.advance(3600)
    before = len(sandbox.state.requests_for("x"))
    ids = [result.post_id] + [str(10**18 + i) for i in range(100)]
    later = client.fetch_metrics(creds, ids)
    lookups = [r for r in sandbox.state.requests_for("x")[before:] if r.path == "/x/2/tweets"]
    assert len(lookups) == 2  # 101 ids → two lookups of ≤ 100
    second = later[result.post_id]
    assert {k for k, m in later.items() if not m.gone} == {result.post_id}  # unknown ids: errors, not metrics
    assert all(later[i].gone for i in ids[1:])  # resource-not-found: gone, no numbers
    assert first.views and second.views > first.views and second.impressions > first.impressions
    assert second.likes >= first.likes


@pytest.mark.parametrize(
    ("url", "post_id"),
    [
        ("https://x.com/jack/status/20", "20"),
        ("https://twitter.com/Cliply_App/status/1790000000000000001?s=20", "1790000000000000001"),
        ("https://mobile.twitter.com/someone/statuses/123456789", "123456789"),
        ("https://x.com/i/web/status/1790000000000000002", "1790000000000000002"),
        ("https://www.x.com/i/status/42/photo/1", "42"),
    ],
)
def test_parse_post_url_accepts_real_shapes(url, post_id) -> None:
    ref = XClient.parse_post_url(url)
    assert ref is not None and ref.platform == "x" and ref.post_id == post_id


@pytest.mark.parametrize(
    "url",
    [
        "https://x.com.evil.example/jack/status/20",
        "https://notx.com/jack/status/20",
        "https://x.com/jack/likes",
        "https://x.com/jack/status/abc",
        "https://x.com/this_handle_is_far_too_long/status/1",
        "ftp://x.com/jack/status/20",
        "https://bsky.app/profile/jack/post/3k",
    ],
)
def test_parse_post_url_rejects_lookalikes(url) -> None:
    assert XClient.parse_post_url(url) is None


@pytest.mark.parametrize(
    ("caption", "weighted"),
    [
        ("\U0001f1eb\U0001f1f7", 2),  # a flag is one emoji
        ("1\ufe0f\u20e3", 2),  # so is a keycap
        ("example.com", 23),  # X links a bare domain
        ("example.notatld", 15),  # but not an unknown TLD
        ("https://example.com/a.", 24),  # the trailing full stop is not part of the link
    ],
)
def test_weighted_length_follows_twitter_text(caption: str, weighted: int) -> None:
    assert x_weighted_length(caption) == weighted


def test_match_key_drops_the_links_x_wraps() -> None:
    posted = "Clip &amp; more https://t.co/Ab_c-1 https://t.co/xyz"
    assert _match_key(posted) == _match_key("Clip & more example.com/watch") == "Clip & more"
