"""Contract tests: the real LinkedIn client against the LinkedIn sandbox over HTTP on 127.0.0.1."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from cliply.platforms.errors import ErrorClass, PlatformError
from cliply.platforms.linkedin import LinkedInClient, escape_little_text
from cliply.platforms.models import VideoPost
from tests.platforms.helpers import assert_ignores_posts_older_than_the_post

VERSION = datetime.now(UTC).strftime("%Y%m")  # the sandbox accepts versions of the last 12 months


@pytest.fixture
def client(sandbox):
    c = LinkedInClient(sandbox.config("linkedin", options={"linkedin_version": VERSION}))
    yield c
    c.close()


@pytest.fixture
def partner(sandbox):
    c = LinkedInClient(
        sandbox.config("linkedin", client_id="cliply-linkedin-partner", options={"linkedin_version": VERSION})
    )
    yield c
    c.close()


def _post(clip, caption="New clip (part 1) #shorts @cliply [beta] <3 a_b*c~d|e{f}\\", **kw):
    return VideoPost(video=clip, caption=caption, title="Clip", **kw)


def test_connect_scopes_and_member_urn(sandbox, client):
    creds = sandbox.connect(client, account_id="abc123")
    assert creds.account_id == "abc123" and creds.extra["person_urn"] == "urn:li:person:abc123"
    assert creds.refresh_token is None  # standard apps get no refresh token
    assert client.missing_scopes(creds) == []
    assert not [r for r in sandbox.state.requests_for("linkedin") if "code_challenge" in r.query]  # no PKCE


def test_unticked_scope_is_reported_and_publish_is_reconnect(sandbox, client, small_clip):
    pending = client.authorization_url(redirect_uri="http://127.0.0.1:9/callback")
    resp = httpx.get(pending.url + "&sandbox_scopes=openid%20profile", follow_redirects=False)
    code = parse_qs(urlparse(resp.headers["location"]).query)["code"][0]
    creds = client.exchange_code(code=code, redirect_uri="http://127.0.0.1:9/callback")
    assert client.missing_scopes(creds) == ["w_member_social"]
    with pytest.raises(PlatformError) as exc:
        client.publish(creds, _post(small_clip))
    assert exc.value.error_class is ErrorClass.AUTH_RECONNECT and exc.value.status == 403


def test_publish_large_clip_exact_requests(sandbox, client, large_clip):
    creds = sandbox.connect(client)
    post = _post(large_clip)
    result = client.publish(creds, post)
    assert result.post_id.startswith("urn:li:share:")
    assert result.url == f"https://www.linkedin.com/feed/update/{result.post_id}/"

    reqs = [
        r
        for r in sandbox.state.requests_for("linkedin")
        if r.path.startswith("/linkedin/rest/") or r.path.startswith("/linkedin/dms-uploads/")
    ]
    size = large_clip.stat().st_size
    data = large_clip.read_bytes()
    part = 4 * 1024 * 1024
    n_parts = -(-size // part)
    assert n_parts >= 3
    assert (reqs[0].method, reqs[0].path, reqs[0].query) == ("POST", "/linkedin/rest/videos", "action=initializeUpload")
    puts = reqs[1 : 1 + n_parts]
    for i, put in enumerate(puts):  # each part to its own uploadUrl, in order, with the right bytes
        chunk = data[i * part : min((i + 1) * part, size)]
        assert put.method == "PUT" and put.path.endswith(f"/{i}")
        assert (put.body_size, put.body_sha256) == (len(chunk), hashlib.sha256(chunk).hexdigest())
        assert "authorization" not in put.headers  # pre-signed upload URLs get no bearer token
    fin = reqs[1 + n_parts]
    assert (fin.method, fin.query) == ("POST", "action=finalizeUpload")
    video = next(iter(sandbox.state.objects["linkedin"].values()))
    assert video["etags"] == [
        f"/ip/{hashlib.sha256(data[i * part : (i + 1) * part]).hexdigest()[:24]}/{i}" for i in range(n_parts)
    ]  # finalize accepted exactly these, in order
    polls = [r for r in reqs if r.method == "GET" and r.path.startswith("/linkedin/rest/videos/")]
    assert len(polls) >= 2
    assert reqs[-1].method == "POST" and reqs[-1].path == "/linkedin/rest/posts" and reqs[-1].status == 201
    for r in reqs:
        if "/rest/" in r.path:
            assert r.headers["linkedin-version"] == VERSION
            assert r.headers["x-restli-protocol-version"] == "2.0.0"

    [recorded] = sandbox.state.posts_for("linkedin")
    assert recorded.post_id == result.post_id
    assert recorded.payload["commentary"] == escape_little_text(post.full_caption())  # nothing truncated
    assert recorded.payload["commentary"].startswith(r"New clip \(part 1\) \#shorts \@cliply \[beta\] \<3 a\_b\*c")
    assert recorded.payload["content"]["media"]["id"] == video_urn(sandbox)
    assert recorded.payload["visibility"] == "PUBLIC" and recorded.payload["lifecycleState"] == "PUBLISHED"


def video_urn(sandbox):
    return next(iter(sandbox.state.objects["linkedin"]))


def test_validation_before_any_request(sandbox, client, small_clip):
    creds = sandbox.connect(client)
    before = len(sandbox.state.requests)
    with pytest.raises(PlatformError) as exc:
        client.publish(creds, _post(small_clip, caption="x" * 3001))
    assert exc.value.error_class is ErrorClass.CONTENT_REJECTED and exc.value.code == "validation"
    # escaping counts: 1500 '#' become 3000 characters + 1 over
    assert client.validate(_post(small_clip, caption="#" * 1501))
    assert len(sandbox.state.requests) == before


@pytest.mark.parametrize(
    ("kind", "operation", "expected"),
    [
        ("error", "initialize", ErrorClass.TRANSIENT),
        ("rate_limit", "post", ErrorClass.RATE_LIMITED),
        ("quota", "post", ErrorClass.QUOTA_EXHAUSTED),
        ("duplicate", "post", ErrorClass.DUPLICATE),
        ("content_rejected", "post", ErrorClass.CONTENT_REJECTED),
        ("error", "upload_part", ErrorClass.TRANSIENT),
        ("expired_token", "finalize", ErrorClass.AUTH_RECONNECT),
    ],
)
def test_fault_classes(sandbox, client, small_clip, kind, operation, expected):
    creds = sandbox.connect(client)
    sandbox.fault("linkedin", kind, operation, status=503)
    with pytest.raises(PlatformError) as exc:
        client.publish(creds, _post(small_clip))
    assert exc.value.error_class is expected
    if expected is ErrorClass.QUOTA_EXHAUSTED:  # daily limits reset at 00:00 UTC
        assert exc.value.retry_at.hour == 0 and exc.value.retry_at > datetime.now(UTC)
    if expected is ErrorClass.DUPLICATE:
        assert exc.value.details["existing_post_id"].startswith("urn:li:share:")
    assert sandbox.state.posts_for("linkedin") == []


def test_processing_failed_is_content_rejected(sandbox, client, small_clip):
    creds = sandbox.connect(client)
    sandbox.fault("linkedin", "processing_failed", "processing")
    with pytest.raises(PlatformError) as exc:
        client.publish(creds, _post(small_clip))
    assert exc.value.error_class is ErrorClass.CONTENT_REJECTED and exc.value.code == "PROCESSING_FAILED"


def test_real_duplicate_and_daily_cap(sandbox, client, small_clip):
    creds = sandbox.connect(client)
    first = client.publish(creds, _post(small_clip))
    with pytest.raises(PlatformError) as exc:
        client.publish(creds, _post(small_clip))
    assert exc.value.error_class is ErrorClass.DUPLICATE
    assert exc.value.details["existing_post_id"] == first.post_id


def test_expired_token_partner_refreshes_standard_reconnects(sandbox, client, partner, small_clip):
    std = sandbox.connect(client)
    creds = sandbox.connect(partner)
    assert creds.refresh_token and creds.refresh_expires_at
    sandbox.state.expire_tokens("linkedin")
    with pytest.raises(PlatformError) as exc:
        client.publish(std, _post(small_clip))
    assert exc.value.error_class is ErrorClass.AUTH_RECONNECT
    with pytest.raises(PlatformError) as exc:
        partner.publish(creds, _post(small_clip))
    assert exc.value.error_class is ErrorClass.AUTH_REFRESHABLE
    fresh = partner.refresh(creds)
    assert fresh.access_token != creds.access_token
    assert fresh.refresh_token == creds.refresh_token  # LinkedIn does not rotate
    assert fresh.account_id == creds.account_id
    assert partner.publish(fresh, _post(small_clip)).post_id.startswith("urn:li:share:")
    with pytest.raises(PlatformError) as exc:
        client.refresh(std)
    assert exc.value.error_class is ErrorClass.AUTH_RECONNECT


def test_lost_response_then_find_existing(sandbox, client, small_clip):
    creds = sandbox.connect(client)
    post = _post(small_clip)
    assert client.find_existing(creds, post) is None
    sandbox.fault("linkedin", "lost_response", "post", delay_s=5.0)
    with pytest.raises(PlatformError) as exc:
        client.publish(creds, post)
    assert exc.value.error_class is ErrorClass.UNKNOWN_OUTCOME
    [recorded] = sandbox.state.posts_for("linkedin")
    found = client.find_existing(creds, post)
    assert found is not None and found.post_id == recorded.post_id
    finder = [r for r in sandbox.state.requests_for("linkedin") if r.method == "GET" and r.path.endswith("/posts")]
    assert "q=author" in finder[-1].query


def test_find_existing_ignores_the_same_commentary_posted_before_the_first_attempt(sandbox, client, small_clip):
    creds = sandbox.connect(client)
    post = _post(small_clip)
    # createdAt is epoch milliseconds: a post from before the first attempt is not this target's.
    assert_ignores_posts_older_than_the_post(sandbox, "linkedin", client, creds, post, client.publish(creds, post))


def test_find_existing_skips_posts_other_targets_own(sandbox, client, small_clip):
    creds = sandbox.connect(client)
    post = _post(small_clip)
    other = client.publish(creds, post)  # another target of this member posted this commentary
    assert (
        client.find_existing(creds, replace(post, exclude_post_ids=frozenset({"urn:li:share:1"}))).post_id
        == other.post_id
    )
    assert client.find_existing(creds, replace(post, exclude_post_ids=frozenset({other.post_id}))) is None


def test_metrics_grow_with_clock(sandbox, client, small_clip):
    creds = sandbox.connect(client)
    urn = client.publish(creds, _post(small_clip)).post_id
    sandbox.state.clock.advance(3600)
    first = client.fetch_metrics(creds, [urn])[urn]
    sandbox.state.clock.advance(6 * 3600)
    later = client.fetch_metrics(creds, [urn])[urn]
    assert 0 < first.impressions < later.impressions
    assert later.likes > first.likes and later.reach > first.reach and later.views is None
    q = [r.query for r in sandbox.state.requests_for("linkedin") if r.path.endswith("memberCreatorPostAnalytics")]
    assert f"entity=(share:{urn.replace(':', '%3A')})" in q[0]


def test_sunset_version_is_config(sandbox, small_clip):
    old = LinkedInClient(sandbox.config("linkedin", options={"linkedin_version": "202301"}))
    creds = sandbox.connect(old)
    with pytest.raises(PlatformError) as exc:
        old.publish(creds, _post(small_clip))
    assert exc.value.error_class is ErrorClass.CONFIG and exc.value.status == 426


@pytest.mark.parametrize(
    ("url", "urn", "resolve"),
    [
        (
            "https://www.linkedin.com/feed/update/urn:li:share:7123456789012345678/",
            "urn:li:share:7123456789012345678",
            False,
        ),
        (
            "https://linkedin.com/feed/update/urn:li:ugcPost:7000000000000000001",
            "urn:li:ugcPost:7000000000000000001",
            False,
        ),
        (
            "https://www.linkedin.com/feed/update/urn:li:activity:7111111111111111111/",
            "urn:li:activity:7111111111111111111",
            True,
        ),
        (
            "https://www.linkedin.com/posts/jane-doe_clip-activity-7222222222222222222-AbCd",
            "urn:li:activity:7222222222222222222",
            True,
        ),
    ],
)
def test_parse_post_url(url, urn, resolve):
    ref = LinkedInClient.parse_post_url(url)
    assert ref is not None and ref.post_id == urn and ref.needs_resolution is resolve


@pytest.mark.parametrize(
    "url", ["https://www.linkedin.com/in/jane-doe/", "https://x.com/a/status/1", "https://www.linkedin.com/feed/"]
)
def test_parse_post_url_rejects(url):
    assert LinkedInClient.parse_post_url(url) is None
