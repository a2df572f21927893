"""Every platform client's fetch_metrics against the sandbox: batching as the platform allows (counted in the
request log), only the metrics the platform reports (None otherwise, never 0), deleted posts marked gone by the
platform's own signal, posts with no numbers yet left out, another account's post readable or not as on the real
platform, and rate limits, server errors and dead tokens raised as classified PlatformErrors."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, fields
from datetime import timedelta

import httpx
import pytest

from cliply.platforms import make_client
from cliply.platforms.base import PlatformClient
from cliply.platforms.bluesky import BlueskyClient
from cliply.platforms.errors import ErrorClass, PlatformError
from cliply.platforms.models import Credentials, PostMetrics
from cliply.sandbox.state import RecordedPost
from tests.fixtures.sandbox import RunningSandbox

METRICS = ("views", "likes", "comments", "shares", "saves", "reach", "impressions", "watch_time_s")
OLD = timedelta(days=2)  # past every "no numbers yet" window


@dataclass(frozen=True)
class Spec:
    platform: str
    path: str  # what the metrics call's path ends with (counted in the request log)
    batch: int  # ids per call
    calls_per_batch: int  # LinkedIn asks one metric per call
    operation: str  # the sandbox fault operation of the metrics call
    reported: frozenset[str]
    deleted_gone: bool  # the platform says "deleted"; else a deleted post is just absent
    others_readable: bool  # another account's (public) post can be read with this account


SPECS = {
    s.platform: s
    for s in (
        Spec("youtube", "/videos", 50, 1, "metrics", frozenset({"views", "likes", "comments"}), True, True),
        Spec(
            "tiktok",
            "/v2/video/query/",
            20,
            1,
            "video_query",
            frozenset({"views", "likes", "comments", "shares"}),
            False,
            False,
        ),
        Spec(
            "instagram",
            "/insights",
            1,
            1,
            "insights",
            frozenset({"views", "likes", "comments", "shares", "saves", "reach", "watch_time_s"}),
            True,
            False,
        ),
        Spec(
            "facebook",
            "/video_insights",
            1,
            1,
            "insights",
            frozenset({"views", "likes", "comments", "shares", "reach", "watch_time_s"}),
            True,
            False,
        ),
        Spec(
            "threads",
            "/insights",
            1,
            1,
            "insights",
            frozenset({"views", "likes", "comments", "shares"}),
            True,
            False,
        ),
        Spec(
            "x",
            "/2/tweets",
            100,
            1,
            "lookup_tweets",
            frozenset({"views", "likes", "comments", "shares", "saves", "impressions"}),
            True,
            True,
        ),
        Spec(
            "linkedin",
            "/memberCreatorPostAnalytics",
            1,
            5,
            "analytics",
            frozenset({"likes", "comments", "shares", "reach", "impressions"}),
            True,
            False,
        ),
        Spec(
            "pinterest",
            "/analytics",
            1,
            1,
            "analytics",
            frozenset({"views", "likes", "comments", "saves", "impressions", "watch_time_s"}),
            True,
            False,
        ),
        Spec(
            "bluesky",
            "/app.bsky.feed.getPosts",
            25,
            1,
            "getPosts",
            frozenset({"likes", "comments", "shares"}),
            True,
            True,
        ),
    )
}


@dataclass
class Connected:
    spec: Spec
    sandbox: RunningSandbox
    client: PlatformClient
    creds: Credentials
    owner: str  # the sandbox account whose posts these credentials read

    def seed(self, n: int = 1, *, age: timedelta = OLD, owner: str | None = None) -> list[RecordedPost]:
        return [
            self.sandbox.state.seed_post(self.spec.platform, owner or self.owner, age=age, text=f"clip {i}")
            for i in range(n)
        ]

    def fetch(self, posts: list[RecordedPost]) -> tuple[dict[str, PostMetrics], int]:
        """The answer and how many metrics calls it took (after one token refresh if the clock outran the token)."""
        log = self.sandbox.state.requests_for
        try:
            self.client.fetch_metrics(self.creds, [])  # no ids: no call, but nothing else either
            before = len(log(self.spec.platform))
            out = self.client.fetch_metrics(self.creds, [p.post_id for p in posts])
        except PlatformError as exc:
            if exc.error_class is not ErrorClass.AUTH_REFRESHABLE:
                raise
            self.creds = self.client.refresh(self.creds)
            before = len(log(self.spec.platform))
            out = self.client.fetch_metrics(self.creds, [p.post_id for p in posts])
        calls = [r for r in log(self.spec.platform)[before:] if r.path.endswith(self.spec.path)]
        return out, len(calls)


def _connect(sandbox: RunningSandbox, platform: str, client: PlatformClient) -> tuple[Credentials, str]:
    if isinstance(client, BlueskyClient):
        resp = httpx.post(
            f"{sandbox.url(platform)}/xrpc/com.atproto.server.createAccount",
            json={"handle": "metrics.test", "password": "app-pass-1234"},
        )
        assert resp.status_code == 200, resp.text
        return client.login("metrics.test", "app-pass-1234"), resp.json()["did"]
    owner = f"{platform}-owner"
    creds = sandbox.connect(client, account_id=owner)
    return creds, creds.account_id if platform == "facebook" else owner  # Facebook posts belong to the Page


@pytest.fixture(params=sorted(SPECS))
def connected(request: pytest.FixtureRequest, sandbox: RunningSandbox) -> Iterator[Connected]:
    platform = request.param
    client = make_client(platform, sandbox.config(platform))
    creds, owner = _connect(sandbox, platform, client)
    yield Connected(SPECS[platform], sandbox, client, creds, owner)
    client.close()


def _reported(m: PostMetrics) -> set[str]:
    return {f for f in METRICS if getattr(m, f) is not None}


# ---- batching and the metric set -----------------------------------------------------------------------------------
def test_batches_as_the_platform_allows_and_reads_the_platforms_numbers(connected: Connected) -> None:
    spec = connected.spec
    n = spec.batch + 1 if spec.batch > 1 else 3
    posts = connected.seed(n)
    out, calls = connected.fetch(posts)
    assert calls == math.ceil(n / spec.batch) * spec.calls_per_batch
    assert set(out) == {p.post_id for p in posts}
    for post in posts:
        m = out[post.post_id]
        truth = connected.sandbox.state.metrics(post)
        assert not m.gone and m.likes == truth["likes"]  # the sandbox's one source, read through the platform
        assert m.raw  # the platform's own fields are kept


def test_only_reported_metrics_are_filled_the_rest_are_none(connected: Connected) -> None:
    [post] = connected.seed()
    m = connected.fetch([post])[0][post.post_id]
    assert _reported(m) == connected.spec.reported
    assert {f.name for f in fields(PostMetrics)} >= set(METRICS)
    if "watch_time_s" in connected.spec.reported:  # seconds, from the platform's milliseconds
        truth_s = connected.sandbox.state.metrics(post)["watch_time_ms"] / 1000
        assert m.watch_time_s == pytest.approx(truth_s, rel=0.05)


def test_numbers_grow_with_the_sandbox_clock(connected: Connected) -> None:
    [post] = connected.seed(age=timedelta(hours=1))
    state = connected.sandbox.state
    first, truth_first = connected.fetch([post])[0][post.post_id], state.metrics(post)
    state.clock.advance(6 * 3600)
    later, truth_later = connected.fetch([post])[0][post.post_id], state.metrics(post)
    key = "views" if "views" in connected.spec.reported else "likes"
    # Each read is the post's own curve at that time (a small post may still have 0 likes), and the curve grows.
    assert (getattr(first, key), getattr(later, key)) == (truth_first[key], truth_later[key])
    assert truth_later["views"] > truth_first["views"] > 0 and getattr(later, key) >= getattr(first, key)


# ---- deleted, not ready, someone else's ----------------------------------------------------------------------------
def test_deleted_post_is_gone_by_the_platforms_signal(connected: Connected) -> None:
    kept, deleted = connected.seed(2)
    assert connected.sandbox.state.delete_post(connected.spec.platform, deleted.post_id)
    out, _ = connected.fetch([kept, deleted])
    assert not out[kept.post_id].gone and out[kept.post_id].likes is not None
    if connected.spec.deleted_gone:
        gone = out[deleted.post_id]
        assert gone.gone and _reported(gone) == set()  # no numbers at all, not zeros
    else:  # TikTok's Display API has no deletion signal: the id is just absent, like a not-yet-visible video
        assert deleted.post_id not in out


@pytest.mark.parametrize(
    ("platform", "ready_after_s"),
    [("tiktok", 300), ("instagram", 40 * 60), ("bluesky", 15)],
)
def test_a_post_with_no_numbers_yet_is_left_out_then_appears(
    sandbox: RunningSandbox, platform: str, ready_after_s: float
) -> None:
    client = make_client(platform, sandbox.config(platform))
    creds, owner = _connect(sandbox, platform, client)
    c = Connected(SPECS[platform], sandbox, client, creds, owner)
    [new] = c.seed(age=timedelta(0))
    [old] = c.seed()
    out, _ = c.fetch([new, old])
    assert set(out) == {old.post_id}  # missing = no numbers this time; not gone, not zero
    sandbox.state.clock.advance(ready_after_s + 1)
    out, _ = c.fetch([new, old])
    assert set(out) == {new.post_id, old.post_id} and not out[new.post_id].gone
    client.close()


def test_another_accounts_post_is_readable_only_where_the_platform_allows(connected: Connected) -> None:
    other = "someone-else"
    if connected.spec.platform == "bluesky":
        other = httpx.post(
            f"{connected.sandbox.url('bluesky')}/xrpc/com.atproto.server.createAccount",
            json={"handle": "other.test", "password": "app-pass-5678"},
        ).json()["did"]
    [theirs] = connected.seed(owner=other)
    [mine] = connected.seed()
    out, _ = connected.fetch([theirs, mine])
    assert mine.post_id in out and not out[mine.post_id].gone
    if connected.spec.others_readable:
        assert not out[theirs.post_id].gone and out[theirs.post_id].likes is not None
    else:  # missing (or a permission refusal) = this account cannot read that post
        assert theirs.post_id not in out


@pytest.mark.parametrize("platform", ["youtube", "x"])
def test_private_or_protected_posts_of_others_are_not_readable(sandbox: RunningSandbox, platform: str) -> None:
    client = make_client(platform, sandbox.config(platform))
    creds, _ = _connect(sandbox, platform, client)
    if platform == "x":
        sandbox.state.add_account("x", "locked", protected=True)
        theirs = sandbox.state.seed_post("x", "locked", age=OLD)
    else:
        theirs = sandbox.state.seed_post("youtube", "other-channel", age=OLD, privacy="private")
    out = client.fetch_metrics(creds, [theirs.post_id])
    if platform == "x":
        assert out == {}  # not-authorized-for-resource: left out
    else:  # videos.list hides it exactly like a deleted video
        assert out[theirs.post_id].gone
    client.close()


# ---- errors --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kind", "extra", "expected"),
    [
        ("rate_limit", {"retry_after_s": 120.0}, ErrorClass.RATE_LIMITED),
        ("error", {"status": 503}, ErrorClass.TRANSIENT),
        ("error", {"status": 500}, ErrorClass.TRANSIENT),
    ],
)
def test_rate_limits_and_server_errors_are_classified(
    connected: Connected, kind: str, extra: dict[str, object], expected: ErrorClass
) -> None:
    [post] = connected.seed()
    connected.sandbox.fault(connected.spec.platform, kind, connected.spec.operation, **extra)
    with pytest.raises(PlatformError) as err:
        connected.client.fetch_metrics(connected.creds, [post.post_id])
    assert err.value.error_class is expected
    if expected is ErrorClass.RATE_LIMITED:
        assert err.value.retry_at is not None
    assert connected.client.fetch_metrics(connected.creds, [post.post_id])[post.post_id].likes is not None


def test_a_dead_token_is_an_auth_error(connected: Connected) -> None:
    [post] = connected.seed()
    connected.sandbox.state.expire_tokens(connected.spec.platform)
    if connected.spec.platform == "bluesky":  # getPosts is a public read: no token involved
        assert connected.client.fetch_metrics(connected.creds, [post.post_id])[post.post_id].likes is not None
        return
    with pytest.raises(PlatformError) as err:
        connected.client.fetch_metrics(connected.creds, [post.post_id])
    assert err.value.error_class in (ErrorClass.AUTH_REFRESHABLE, ErrorClass.AUTH_RECONNECT)


def test_duplicate_ids_cost_nothing_extra(connected: Connected) -> None:
    [post] = connected.seed()
    out, calls = connected.fetch([post, post, post])
    assert set(out) == {post.post_id} and calls == connected.spec.calls_per_batch
