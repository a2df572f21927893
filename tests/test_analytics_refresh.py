"""The metrics refresher against the platform sandbox over real HTTP: due selection, batching per account (counted
on the sandbox's own request log), snapshots, tiers, failures with back-off, gone posts, ids not ready yet,
forecasts, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import func, select

from cliply.analytics.refresh import Refresher, backoff
from cliply.analytics.tracking import TrackedPosts
from cliply.platforms import make_client
from cliply.platforms.base import PlatformClient
from cliply.security.vault import KeyRing, TokenVault, generate_key
from cliply.settings import Settings
from cliply.store import Database, WorkspaceScope, get_or_create_workspace
from cliply.store.accounts import AccountsRepo
from cliply.store.models_accounts import Account
from cliply.store.models_analytics import MetricForecast, MetricSnapshot, TrackedPost
from cliply.wiring import Cliply, cliply
from tests.fixtures.sandbox import RunningSandbox

METRICS_PATHS = {
    "youtube": "/youtube/v3/videos",
    "tiktok": "/v2/video/query/",
    "x": "/2/tweets",
    "bluesky": "/xrpc/app.bsky.feed.getPosts",
}


@dataclass
class World:
    sandbox: RunningSandbox
    app: Cliply
    clients: list[PlatformClient] = field(default_factory=list)
    t: datetime | None = None  # the refresher's clock: the sandbox's, frozen between advances
    external: dict[str, str] = field(default_factory=dict)  # our name → the sandbox's account id (a DID on Bluesky)

    def __post_init__(self) -> None:
        self.t = self.sandbox.state.clock.now()

    @property
    def db(self) -> Database:
        return self.app.db

    def now(self) -> datetime:
        assert self.t is not None
        return self.t

    def advance(self, delta: timedelta) -> None:
        self.sandbox.state.clock.advance(delta.total_seconds())
        self.t = self.sandbox.state.clock.now()

    def refresher(self) -> Refresher:
        return Refresher(self.app, now=self.now)

    def client(self, platform: str) -> PlatformClient:
        c = make_client(platform, self.sandbox.config(platform))
        self.clients.append(c)
        return c

    def connect(self, platform: str, external: str, workspace: str = "acme", **extra: Any) -> int:
        if platform == "bluesky":  # an app-password session, not OAuth
            resp = httpx.post(
                f"{self.sandbox.url('bluesky')}/xrpc/com.atproto.server.createAccount",
                json={"handle": f"{external}.test", "password": "app-pass"},
                timeout=10,
            )
            assert resp.status_code == 200, resp.text
            creds = self.client(platform).login(f"{external}.test", "app-pass")  # type: ignore[attr-defined]
            self.external[external] = creds.account_id
        else:
            self.sandbox.state.add_account(platform, external, handle=external, **extra)
            creds = self.sandbox.connect(self.client(platform), account_id=external)
        with self.db.session() as s:
            return AccountsRepo(self.scope(s, workspace), self.app.vault).connect(platform, creds, handle=external).id

    def scope(self, session: Any, workspace: str = "acme") -> WorkspaceScope:
        return WorkspaceScope(session, get_or_create_workspace(session, workspace))

    def seed(
        self,
        platform: str,
        external: str,
        account_id: int | None,
        *,
        age: timedelta = timedelta(0),
        workspace: str = "acme",
        **options: Any,
    ) -> int:
        """A post on the sandbox, tracked by URL; returns the tracked post id."""
        post = self.sandbox.state.seed_post(platform, self.external.get(external, external), age=age, **options)
        with self.db.session() as s:
            tracked, _ = TrackedPosts(self.scope(s, workspace)).track(
                platform,
                post.post_id,
                origin="url",
                published_at=post.created_at,
                account_id=account_id,
                url=post.payload.get("public_url"),
                now=self.now(),
            )
            return tracked.id

    def post(self, id: int) -> TrackedPost:
        with self.db.session() as s:
            post = s.get(TrackedPost, id)
            assert post is not None
            s.expunge(post)
            return post

    def snapshots(self, id: int) -> list[MetricSnapshot]:
        with self.db.session() as s:
            rows = list(
                s.scalars(
                    select(MetricSnapshot).where(MetricSnapshot.tracked_post_id == id).order_by(MetricSnapshot.id)
                )
            )
            s.expunge_all()
            return rows

    def calls(self, platform: str) -> int:
        path = METRICS_PATHS[platform]
        return sum(1 for r in self.sandbox.state.requests_for(platform) if r.path.endswith(path))

    def status_codes(self, platform: str) -> list[int]:
        return [r.status for r in self.sandbox.state.requests_for(platform)]


def make_world(db_url: str, sandbox: RunningSandbox, tmp_path: Path, **settings: Any) -> Iterator[World]:
    db = Database(db_url)
    db.migrate()
    base = Settings(home=tmp_path).model_copy(update=settings)
    vault = TokenVault(KeyRing.parse(f"k1:{generate_key()}"))
    world = World(sandbox, cliply(base, db=db, vault=vault))
    world.app.overrides["clients"] = world.client
    try:
        yield world
    finally:
        for c in world.clients:
            c.close()
        db.dispose()


@pytest.fixture
def world(sandbox: RunningSandbox, tmp_path: Path) -> Iterator[World]:
    yield from make_world(f"sqlite:///{tmp_path / 'cliply.db'}", sandbox, tmp_path)


@pytest.fixture
def both(db_url: str, sandbox: RunningSandbox, tmp_path: Path) -> Iterator[World]:
    yield from make_world(db_url, sandbox, tmp_path)


# ---- batching and snapshots ----------------------------------------------------------------------------------------


def test_due_posts_are_fetched_in_batches_per_account_and_each_fetch_appends_a_snapshot(both: World) -> None:
    w = both
    a, b = w.connect("youtube", "yt-a"), w.connect("youtube", "yt-b")
    ids_a = [w.seed("youtube", "yt-a", a) for _ in range(55)]  # 50 + 5: two calls
    ids_b = [w.seed("youtube", "yt-b", b) for _ in range(3)]  # one call

    report = w.refresher().refresh("youtube")

    assert (report.due, report.fetched, report.snapshots, report.failures) == (58, 58, 58, 0)
    assert report.calls == 3 == w.calls("youtube")
    assert 429 not in w.status_codes("youtube")
    first = w.snapshots(ids_a[0])
    assert len(first) == 1 and first[0].views is not None and first[0].workspace_id == w.post(ids_a[0]).workspace_id
    assert first[0].shares is None and first[0].saves is None  # YouTube's videos.list does not report them
    post = w.post(ids_b[0])
    assert post.tier == "ultra_hot" and post.last_fetched_at == w.now()
    assert post.next_fetch_at == w.now() + timedelta(minutes=15)

    # Nothing is due until the interval has passed; then a second snapshot is appended (never overwritten).
    assert w.refresher().refresh("youtube").due == 0
    w.advance(timedelta(minutes=16))
    again = w.refresher().refresh("youtube")
    assert again.snapshots == 58 and w.calls("youtube") == 6
    assert w.snapshots(ids_a[0])[0].id == first[0].id and len(w.snapshots(ids_a[0])) == 2


@pytest.mark.parametrize(("platform", "batch"), [("tiktok", 20), ("x", 100), ("bluesky", 25)])
def test_batch_sizes_follow_each_platform(world: World, platform: str, batch: int) -> None:
    acct = world.connect(platform, f"{platform}-1")
    for _ in range(batch + 1):  # old enough for TikTok's eventually consistent reads to list them
        world.seed(platform, f"{platform}-1", acct, age=timedelta(minutes=10))
    report = world.refresher().refresh(platform)
    assert report.snapshots == batch + 1
    assert report.calls == 2 == world.calls(platform)


def test_a_metric_the_platform_does_not_report_is_null_not_zero(world: World) -> None:
    acct = world.connect("bluesky", "bsky-1")
    pid = world.seed("bluesky", "bsky-1", acct, age=timedelta(minutes=10))
    world.refresher().refresh("bluesky")
    (snap,) = world.snapshots(pid)
    assert snap.views is None and snap.impressions is None and snap.reach is None  # Bluesky has no views
    assert snap.likes is not None


# ---- tiers over time -------------------------------------------------------------------------------------------------


def test_tiers_move_with_age_and_frozen_posts_are_never_polled(world: World) -> None:
    acct = world.connect("youtube", "yt-a")
    pid = world.seed("youtube", "yt-a", acct)
    r = world.refresher()
    seen = []
    for step in (timedelta(0), timedelta(hours=7), timedelta(hours=20), timedelta(days=8), timedelta(days=90)):
        world.advance(step)
        r.refresh("youtube", every=True)
        post = world.post(pid)
        seen.append((post.tier, post.next_fetch_at - world.now() if post.next_fetch_at else None))
    assert seen == [
        ("ultra_hot", timedelta(minutes=15)),
        ("hot", timedelta(minutes=30)),
        ("warm", timedelta(hours=6)),
        ("cold", timedelta(hours=24)),
        ("frozen", None),
    ]
    before = world.calls("youtube")
    world.advance(timedelta(days=30))
    assert r.refresh("youtube").due == 0 and world.calls("youtube") == before


def test_a_fast_grower_in_the_workspaces_top_decile_stays_ultra_hot(world: World) -> None:
    acct = world.connect("youtube", "yt-a")
    ids = [world.seed("youtube", "yt-a", acct, age=timedelta(hours=30)) for _ in range(12)]  # warm by age
    with world.db.session() as s:  # one post is growing far faster than the others
        for n, pid in enumerate(ids):
            s.get(TrackedPost, pid).velocity = 10_000.0 if n == 0 else 1.0  # type: ignore[union-attr]
    world.refresher().refresh("youtube")
    tiers = [world.post(pid).tier for pid in ids]
    assert tiers[1:] == ["warm"] * 11
    assert tiers[0] == "ultra_hot"
    assert world.post(ids[0]).next_fetch_at == world.now() + timedelta(minutes=15)


# ---- failures, gone, not ready --------------------------------------------------------------------------------------


def test_a_failed_fetch_is_recorded_and_backs_off_growing(world: World) -> None:
    acct = world.connect("tiktok", "tt-1", query_lag_s=0)
    pid = world.seed("tiktok", "tt-1", acct)
    r = world.refresher()
    waits = []
    for _ in range(3):
        world.sandbox.fault("tiktok", "error", "video_query", status=500)
        report = r.refresh("tiktok", every=True)
        assert report.failures == 1 and report.snapshots == 0
        post = world.post(pid)
        waits.append(post.next_fetch_at - world.now())  # type: ignore[operator]
    assert post.last_error_class == "transient" and post.consecutive_failures == 3 and post.last_error
    assert waits[0] < waits[1] < waits[2]
    assert world.snapshots(pid) == []

    ok = r.refresh("tiktok", every=True)  # the next success clears the error
    post = world.post(pid)
    assert ok.snapshots == 1 and post.consecutive_failures == 0 and post.last_error_class is None


def test_backoff_doubles_from_the_tier_interval_and_is_capped() -> None:
    assert backoff(1, timedelta(minutes=30)) == timedelta(minutes=30)
    assert backoff(3, timedelta(minutes=30)) == timedelta(hours=2)
    assert backoff(40, timedelta(hours=24)) == timedelta(days=7)


def test_a_deleted_post_is_marked_gone_and_no_longer_polled(world: World) -> None:
    acct = world.connect("x", "x-1")
    keep, dead = world.seed("x", "x-1", acct), world.seed("x", "x-1", acct)
    world.sandbox.state.delete_post("x", world.post(dead).platform_post_id)
    report = world.refresher().refresh("x")
    assert (report.gone, report.snapshots, report.failures) == (1, 1, 0)
    post = world.post(dead)
    assert post.status == "gone" and post.gone_at == world.now() and post.next_fetch_at is None
    world.advance(timedelta(days=1))
    assert world.refresher().refresh("x").due == 1  # only the live one
    assert world.post(keep).status == "active"


def test_an_id_missing_from_the_answer_is_not_a_failure(world: World) -> None:
    acct = world.connect("tiktok", "tt-1", query_lag_s=600)  # TikTok lists a new video only after a while
    pid = world.seed("tiktok", "tt-1", acct)
    report = world.refresher().refresh("tiktok")
    post = world.post(pid)
    assert (report.due, report.snapshots, report.failures, report.calls) == (1, 0, 0, 1)
    assert post.consecutive_failures == 0 and post.last_error_class is None and post.last_fetched_at is None
    assert post.next_fetch_at == world.now() + timedelta(minutes=15)  # tried again next interval
    world.advance(timedelta(minutes=15))
    assert world.refresher().refresh("tiktok").snapshots == 1


def test_a_tiktok_video_no_longer_listed_for_two_days_is_gone(world: World) -> None:
    """TikTok's video/query only stops listing a deleted video: missing that long is treated as deleted."""
    acct = world.connect("tiktok", "tt-1", query_lag_s=0)
    pid = world.seed("tiktok", "tt-1", acct)
    assert world.refresher().refresh("tiktok").snapshots == 1
    world.sandbox.state.delete_post("tiktok", world.post(pid).platform_post_id)
    world.advance(timedelta(days=1))
    report = world.refresher().refresh("tiktok")
    assert (report.snapshots, report.gone, world.post(pid).status) == (0, 0, "active")  # could still be a lag
    world.advance(timedelta(days=1, minutes=1))
    report = world.refresher().refresh("tiktok")
    post = world.post(pid)
    assert (report.gone, post.status, post.next_fetch_at) == (1, "gone", None)
    assert "not returned by the platform" in (post.last_error or "")


# ---- forecasts ------------------------------------------------------------------------------------------------------


def test_forecasts_are_stored_and_their_actuals_filled_in(world: World) -> None:
    acct = world.connect("youtube", "yt-a")
    pid = world.seed("youtube", "yt-a", acct, age=timedelta(minutes=30))
    r = world.refresher()
    for _ in range(16):  # 4 hours at the ultra_hot interval
        r.refresh("youtube")
        world.advance(timedelta(minutes=15))
    with world.db.session() as s:
        rows = list(s.scalars(select(MetricForecast).where(MetricForecast.tracked_post_id == pid)))
    assert rows, "no forecast was stored after 4 hours of snapshots"
    assert {f.horizon_h for f in rows} == {1, 2, 3}
    assert all(f.low <= f.predicted <= f.high for f in rows)
    done = [f for f in rows if f.target_at <= world.now() - timedelta(minutes=15)]
    assert done and all(f.actual is not None for f in done)


def test_fetch_now_fetches_given_posts_whatever_their_tier(both: World) -> None:
    w = both
    acct = w.connect("youtube", "yt-a")
    old = w.seed("youtube", "yt-a", acct, age=timedelta(days=200))  # frozen from the start
    report = w.refresher().fetch_now([old])
    assert report.snapshots == 1 and len(w.snapshots(old)) == 1
    assert w.post(old).tier == "frozen" and w.post(old).next_fetch_at is None
    with w.db.session() as s:
        assert s.scalar(select(func.count()).select_from(MetricSnapshot)) == 1


# ---- posts read without a connected account --------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["yt-key-1", ""])
def test_youtube_public_videos_are_read_with_the_api_key(sandbox: RunningSandbox, tmp_path: Path, key: str) -> None:
    if key:
        sandbox.state.add_api_key(key)
    for w in make_world(f"sqlite:///{tmp_path / 'k.db'}", sandbox, tmp_path, youtube_api_key=SecretStr(key)):
        # Another creator's videos, tracked by URL with no connected channel.
        public = w.seed("youtube", "UC-someone-else", None, age=timedelta(hours=3))
        private = w.seed("youtube", "UC-someone-else", None, age=timedelta(hours=3), privacy="private")
        seeded = sandbox.state.find_post("youtube", w.post(public).platform_post_id)
        assert seeded is not None
        before = sandbox.state.metrics(seeded)["views"]  # the views grow with the sandbox's clock while it runs
        report = w.refresher().refresh("youtube")
        if key:
            assert (report.snapshots, report.gone, report.failures, report.calls) == (1, 1, 0, 1)
            assert before <= (w.snapshots(public)[0].views or -1) <= sandbox.state.metrics(seeded)["views"]
            assert w.post(private).status == "gone" and w.snapshots(private) == []
            (req,) = sandbox.state.requests_for("youtube")
            assert f"key={key}" in req.query and "authorization" not in req.headers  # the key, never a token
        else:
            assert report.failures == 2 and sandbox.state.requests_for("youtube") == []
            post = w.post(public)
            assert post.last_error_class == "config" and "API key" in (post.last_error or "")


# ---- credentials ----------------------------------------------------------------------------------------------------


def test_a_rejected_token_is_refreshed_stored_and_the_batch_retried(world: World) -> None:
    acct = world.connect("tiktok", "tt-1", query_lag_s=0)
    pid = world.seed("tiktok", "tt-1", acct)
    with world.db.session() as s:
        before = s.get(Account, acct).access_token_enc  # type: ignore[union-attr]
    world.sandbox.fault("tiktok", "expired_token", "video_query")

    report = world.refresher().refresh("tiktok")

    assert (report.snapshots, report.failures, report.calls) == (1, 0, 2)
    assert len(world.snapshots(pid)) == 1
    with world.db.session() as s:
        account = s.get(Account, acct)
        assert account is not None and account.access_token_enc != before and account.status == "connected"


def test_an_account_that_needs_reconnecting_fails_its_posts_without_a_call(world: World) -> None:
    acct = world.connect("x", "x-1")
    pid = world.seed("x", "x-1", acct)
    with world.db.session() as s:
        s.get(Account, acct).status = "reauth_required"  # type: ignore[union-attr]
    report = world.refresher().refresh("x")
    assert (report.failures, report.calls) == (1, 0) and world.calls("x") == 0
    post = world.post(pid)
    assert post.last_error_class == "auth_reconnect" and "reconnect" in (post.last_error or "")
