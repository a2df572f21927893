"""Contract tests: the real Bluesky client against the Bluesky sandbox (PDS + video service + AppView) on 127.0.0.1."""

from __future__ import annotations

import hashlib

import httpx
import pytest

from cliply.platforms.bluesky import POST, BlueskyClient, facets_for, tid_for
from cliply.platforms.errors import ErrorClass, PlatformError
from cliply.platforms.models import VideoPost


@pytest.fixture
def client(sandbox):
    c = BlueskyClient(sandbox.config("bluesky"))
    yield c
    c.close()


def _account(sandbox, handle="alice.test", password="app-pass-1234"):
    resp = httpx.post(
        f"{sandbox.url('bluesky')}/xrpc/com.atproto.server.createAccount", json={"handle": handle, "password": password}
    )
    assert resp.status_code == 200, resp.text
    return resp.json()["did"]


def _calls(sandbox, method):
    return [r for r in sandbox.state.requests_for("bluesky") if r.path.endswith("/" + method)]


def test_facets_use_utf8_byte_offsets():
    text = "Café 🎬 #clip https://x.example/a @bob.test @ghost.test"
    facets = facets_for(text, lambda h: "did:plc:bob" if h == "bob.test" else None)
    raw = text.encode()
    assert [raw[f["index"]["byteStart"] : f["index"]["byteEnd"]].decode() for f in facets] == [
        "#clip",
        "https://x.example/a",
        "@bob.test",
    ]
    assert facets[0]["index"]["byteStart"] == len("Café 🎬 ".encode()) != len("Café 🎬 ")


def test_facets_follow_the_official_detection():
    """As @atproto/api RichText: bare domains are links, a keycap is not a tag, $cashtags are tags."""
    text = "see example.com/a, www.example.org. #\ufe0f\u20e3 #clip! $aapl bsky.app/profile/x.bsky.social"
    facets = facets_for(text, lambda h: None)
    raw = text.encode()
    got = [(raw[f["index"]["byteStart"] : f["index"]["byteEnd"]].decode(), f["features"][0]) for f in facets]
    assert got == [
        ("example.com/a", {"$type": "app.bsky.richtext.facet#link", "uri": "https://example.com/a"}),
        ("www.example.org", {"$type": "app.bsky.richtext.facet#link", "uri": "https://www.example.org"}),
        ("#clip", {"$type": "app.bsky.richtext.facet#tag", "tag": "clip"}),
        ("$aapl", {"$type": "app.bsky.richtext.facet#tag", "tag": "$AAPL"}),
        (
            "bsky.app/profile/x.bsky.social",
            {"$type": "app.bsky.richtext.facet#link", "uri": "https://bsky.app/profile/x.bsky.social"},
        ),
    ]


def test_session_reuse_blob_and_record(sandbox, client, small_clip):
    did = _account(sandbox)
    bob = _account(sandbox, "bob.test")
    creds = client.login("alice.test", "app-pass-1234")
    text = "Clip 🎬 #cliply https://example.com/c @bob.test"
    first = client.publish(creds, VideoPost(video=small_clip, caption=text, idempotency_key="t1"))
    second = client.publish(creds, VideoPost(video=small_clip, caption="two", idempotency_key="t2"))
    assert first.post_id == f"at://{did}/{POST}/{tid_for('t1')}"
    assert first.url == f"https://bsky.app/profile/{did}/post/{tid_for('t1')}"
    assert len(_calls(sandbox, "com.atproto.server.createSession")) == 1  # reused, not per post
    blobs = _calls(sandbox, "com.atproto.repo.uploadBlob")
    assert [b.body_sha256 for b in blobs] == [hashlib.sha256(small_clip.read_bytes()).hexdigest()] * 2
    assert blobs[0].headers["content-type"] == "video/mp4"
    posts = sandbox.state.posts_for("bluesky")
    assert [p.post_id for p in posts] == [first.post_id, second.post_id]
    record = posts[0].payload
    assert record["embed"]["$type"] == "app.bsky.embed.video"
    assert record["embed"]["aspectRatio"] == {"width": 1080, "height": 1920}
    mention = [f for f in record["facets"] if f["features"][0]["$type"].endswith("#mention")]
    assert mention[0]["features"][0]["did"] == bob


def test_two_accounts_uploading_the_same_video_each_own_their_blob(sandbox, client, small_clip):
    """Blobs belong to a repo: bob uploading the same bytes (same CID) must not take alice's blob away from her."""
    _account(sandbox)
    _account(sandbox, "bob.test")
    alice = client.login("alice.test", "app-pass-1234")
    bob = client.login("bob.test", "app-pass-1234")
    xrpc = f"{sandbox.url('bluesky')}/xrpc"

    def upload(creds):  # type: ignore[no-untyped-def]
        resp = httpx.post(
            f"{xrpc}/com.atproto.repo.uploadBlob",
            content=small_clip.read_bytes(),
            headers={"Authorization": f"Bearer {creds.access_token}", "Content-Type": "video/mp4"},
        )
        assert resp.status_code == 200, resp.text
        return resp.json()["blob"]

    blob = upload(alice)
    assert upload(bob)["ref"] == blob["ref"]
    record = {
        "$type": POST,
        "text": "mine",
        "createdAt": "2026-11-21T10:00:00.000Z",
        "embed": {"$type": "app.bsky.embed.video", "video": blob, "aspectRatio": {"width": 9, "height": 16}},
    }
    auth = {"Authorization": f"Bearer {alice.access_token}"}
    resp = httpx.post(
        f"{xrpc}/com.atproto.repo.createRecord",
        headers=auth,
        json={"repo": alice.account_id, "collection": POST, "rkey": tid_for("a1"), "record": record},
    )
    assert resp.status_code == 200, resp.text


def test_expired_token_refreshes_once_and_rotates(sandbox, client, small_clip):
    _account(sandbox)
    creds = client.login("alice.test", "app-pass-1234")
    old_refresh = creds.refresh_token
    sandbox.state.expire_tokens("bluesky")
    client.publish(creds, VideoPost(video=small_clip, caption="after expiry", idempotency_key="e1"))
    assert len(_calls(sandbox, "com.atproto.server.refreshSession")) == 1
    assert len(_calls(sandbox, "com.atproto.server.createSession")) == 1
    assert creds.refresh_token != old_refresh  # rotated in place for the caller to persist
    with pytest.raises(PlatformError) as exc:  # the rotated-away refresh token is dead (replay)
        from dataclasses import replace

        client.refresh(replace(creds, refresh_token=old_refresh))
    assert exc.value.error_class is ErrorClass.AUTH_RECONNECT


def test_video_service_path(sandbox, small_clip):
    c = BlueskyClient(sandbox.config("bluesky", options={"video_service": "https://video.bsky.app"}))
    _account(sandbox)
    creds = c.login("alice.test", "app-pass-1234")
    c.publish(creds, VideoPost(video=small_clip, caption="via service", idempotency_key="v1"))
    assert _calls(sandbox, "app.bsky.video.uploadVideo") and not _calls(sandbox, "com.atproto.repo.uploadBlob")
    assert len(_calls(sandbox, "app.bsky.video.getJobStatus")) >= 2
    sandbox.fault("bluesky", "processing_failed", "processing")
    with pytest.raises(PlatformError) as exc:
        c.publish(creds, VideoPost(video=small_clip, caption="bad", idempotency_key="v2"))
    assert exc.value.error_class is ErrorClass.CONTENT_REJECTED
    for _ in range(23):  # 25 videos/day: one used, one failed, 23 more
        sandbox.state.hit_limit("bluesky", creds.account_id, "videosDay", 25, 86400)
    with pytest.raises(PlatformError) as exc:
        c.publish(creds, VideoPost(video=small_clip, caption="over", idempotency_key="v3"))
    assert exc.value.error_class is ErrorClass.QUOTA_EXHAUSTED and exc.value.retry_at is not None
    c.close()


def test_validation_before_any_request(sandbox, client, small_clip):
    _account(sandbox)
    creds = client.login("alice.test", "app-pass-1234")
    before = len(sandbox.state.requests)
    for caption in ("a" * 301, "👩‍👩‍👧‍👦" * 121):  # 301 graphemes; 121 graphemes but 3,025 bytes
        with pytest.raises(PlatformError) as exc:
            client.publish(creds, VideoPost(video=small_clip, caption=caption))
        assert exc.value.code == "validation"
    assert not client.validate(VideoPost(video=small_clip, caption="é" * 300))
    assert len(sandbox.state.requests) == before


@pytest.mark.parametrize(
    ("kind", "operation", "expected"),
    [
        ("error", "createRecord", ErrorClass.TRANSIENT),
        ("error", "uploadBlob", ErrorClass.TRANSIENT),
        ("rate_limit", "createRecord", ErrorClass.RATE_LIMITED),
        ("content_rejected", "createRecord", ErrorClass.CONTENT_REJECTED),
        ("expired_token", "createRecord", None),  # refreshed transparently
    ],
)
def test_fault_classes(sandbox, client, small_clip, kind, operation, expected):
    _account(sandbox)
    creds = client.login("alice.test", "app-pass-1234")
    sandbox.fault("bluesky", kind, operation, status=502)
    post = VideoPost(video=small_clip, caption="f", idempotency_key="f1")
    if expected is None:
        assert client.publish(creds, post).post_id.endswith(tid_for("f1"))
        return
    with pytest.raises(PlatformError) as exc:
        client.publish(creds, post)
    assert exc.value.error_class is expected
    if expected is ErrorClass.RATE_LIMITED:
        assert exc.value.retry_at is not None
    assert sandbox.state.posts_for("bluesky") == []


def test_session_rate_limit_and_bad_password(sandbox, client):
    _account(sandbox)
    with pytest.raises(PlatformError) as exc:
        client.login("alice.test", "wrong")
    assert exc.value.error_class is ErrorClass.AUTH_RECONNECT
    for _ in range(30):
        client.login("alice.test", "app-pass-1234")
    with pytest.raises(PlatformError) as exc:
        client.login("alice.test", "app-pass-1234")
    assert exc.value.error_class is ErrorClass.RATE_LIMITED and exc.value.retry_at is not None


def test_lost_response_then_find_existing_and_retry_is_duplicate(sandbox, client, small_clip):
    _account(sandbox)
    creds = client.login("alice.test", "app-pass-1234")
    post = VideoPost(video=small_clip, caption="lost", idempotency_key="L1")
    assert client.find_existing(creds, post) is None
    sandbox.fault("bluesky", "lost_response", "createRecord", delay_s=5.0)
    with pytest.raises(PlatformError) as exc:
        client.publish(creds, post)
    assert exc.value.error_class is ErrorClass.UNKNOWN_OUTCOME
    found = client.find_existing(creds, post)
    [recorded] = sandbox.state.posts_for("bluesky")
    assert found is not None and found.post_id == recorded.post_id
    with pytest.raises(PlatformError) as exc:  # same rkey: cannot post twice
        client.publish(creds, post)
    assert exc.value.error_class is ErrorClass.DUPLICATE and exc.value.details["existing_post_id"] == found.post_id
    assert len(sandbox.state.posts_for("bluesky")) == 1


def test_metrics_grow_with_clock_in_batches_of_25(sandbox, client, small_clip):
    _account(sandbox)
    creds = client.login("alice.test", "app-pass-1234")
    uri = client.publish(creds, VideoPost(video=small_clip, caption="m", idempotency_key="m1")).post_id
    post = next(p for p in sandbox.state.posts_for("bluesky") if p.post_id == uri)
    sandbox.state.clock.advance(3600)
    first = client.fetch_metrics(creds, [uri])[uri]
    truth_first = sandbox.state.metrics(post)
    sandbox.state.clock.advance(24 * 3600)
    later = client.fetch_metrics(creds, [uri] * 30)[uri]
    truth_later = sandbox.state.metrics(post)
    # The post's own curve (its size is random per post): the client reports what the sandbox counts, growing.
    assert (first.likes, later.likes) == (truth_first["likes"], truth_later["likes"])
    assert first.likes <= later.likes and truth_later["views"] > truth_first["views"] and later.views is None
    assert len(_calls(sandbox, "app.bsky.feed.getPosts")) == 3  # 1 + ceil(30 / 25)


@pytest.mark.parametrize(
    ("url", "post_id", "resolve"),
    [
        (
            "https://bsky.app/profile/alice.bsky.social/post/3kabcxyz2222a",
            "at://alice.bsky.social/app.bsky.feed.post/3kabcxyz2222a",
            True,
        ),
        (
            "https://bsky.app/profile/did:plc:abc123/post/3kabcxyz2222a",
            "at://did:plc:abc123/app.bsky.feed.post/3kabcxyz2222a",
            False,
        ),
    ],
)
def test_parse_post_url(url, post_id, resolve):
    ref = BlueskyClient.parse_post_url(url)
    assert ref is not None and ref.post_id == post_id and ref.needs_resolution is resolve


@pytest.mark.parametrize(
    "url",
    [
        "https://bsky.app/profile/alice.bsky.social",
        "https://x.com/a/status/1",
        "https://bsky.app/profile/a/feed/whats-hot",
    ],
)
def test_parse_post_url_rejects(url):
    assert BlueskyClient.parse_post_url(url) is None
