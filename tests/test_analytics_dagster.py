"""Analytics in Dagster: the code location loads, post_metrics' partitions (a post published today has one), the
due-metrics sensor (only partitions with posts due, one run per platform at a time, off switch) and the reports
sensor, and in-process materialisations against the platform sandbox over HTTP: snapshots appended, checks passing,
and each check failing on the data it guards (a dropped counter, a stale hot post, a snapshot of another
workspace)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from dagster._core.storage.defs_state.base import set_defs_state_storage
from dagster._core.test_utils import create_run_for_test
from sqlalchemy import select, update

from cliply.analytics.tracking import TrackedPosts
from cliply.platforms import make_client
from cliply.platforms.base import PlatformConfig
from cliply.security.vault import KeyRing, TokenVault, generate_key
from cliply.storage.media_store import LocalMediaStore
from cliply.store.accounts import AccountsRepo
from cliply.store.db import Database
from cliply.store.models_analytics import MetricSnapshot, TrackedPost
from cliply.store.repo import WorkspaceScope, get_or_create_workspace
from cliply_assets.analytics import (
    FIRST_DAY,
    METRICS_PLATFORM_TAG,
    analytics_reports,
    analytics_retention_job,
    counters_never_drop,
    foreign_rows,
    hot_posts_fresh,
    metrics_derived,
    metrics_partitions,
    one_workspace_per_post,
    partition_key,
    post_metrics,
    refresh_metrics_job,
    workspace_reports,
)
from cliply_dagster.definitions import defs
from cliply_resources import DatabaseResource, default_resources
from cliply_resources.analytics import AnalyticsResource, analytics_resources
from cliply_sensors.analytics import analytics_reports_sensor, analytics_retention_schedule, due_metrics_sensor
from tests.fixtures.sandbox import RunningSandbox
from tests.helpers import pipeline_settings, settings_env

ANALYTICS_ASSETS = ("post_metrics", "metrics_derived", "analytics_reports")
CHECKS = [hot_posts_fresh, counters_never_drop, one_workspace_per_post]


def _now() -> datetime:
    return datetime.now(UTC)


# ---- the code location ----------


def test_definitions_load_with_the_analytics_assets_sensors_and_schedule() -> None:
    with dg.instance_for_test():
        definitions = defs()
        dg.Definitions.validate_loadable(definitions)
        repo = definitions.get_repository_def()
        graph = repo.asset_graph
        for name in ANALYTICS_ASSETS:
            node = graph.get(dg.AssetKey(name))
            assert node.group_name == "analytics" and node.owners and node.kinds, name
            assert node.description, name
        checks = {ck.name for ck in graph.get(post_metrics.key).check_keys}
        assert checks == {"hot_posts_fresh", "counters_never_drop", "one_workspace_per_post"}
        assert {s.name for s in repo.sensor_defs} >= {"due_metrics_sensor", "analytics_reports_sensor"}
        assert "analytics_retention_schedule" in {s.name for s in repo.schedule_defs}
        assert "analytics" in definitions.resources  # type: ignore[operator]


def test_partitions_exist_for_a_post_published_today_and_older_days_map_to_the_first() -> None:
    today = _now().date()
    keys = metrics_partitions.get_partition_keys()
    assert str(partition_key(today, "tiktok")) in keys
    assert str(partition_key(today, "tiktok")) == f"{today:%Y-%m-%d}|tiktok"
    # A post tracked by URL may predate the first partition: it is fetched by the first one.
    assert str(partition_key(date(2020, 1, 1), "x")) == f"{FIRST_DAY:%Y-%m-%d}|x"
    assert {k.split("|")[1] for k in keys} == {
        "youtube",
        "tiktok",
        "instagram",
        "facebook",
        "threads",
        "x",
        "linkedin",
        "pinterest",
        "bluesky",
    }


# ---- the due-metrics sensor (SQLite and PostgreSQL) ----------


def _track(db: Database, workspace: str, platform: str, post_id: str, *, published: datetime, due: bool) -> int:
    with db.session() as s:
        scope = WorkspaceScope(s, get_or_create_workspace(s, workspace))
        post, _ = TrackedPosts(scope).track(platform, post_id, origin="url", published_at=published)
        post.next_fetch_at = _now() - timedelta(minutes=1) if due else _now() + timedelta(hours=1)
        return post.id


def _due_tick(db: Database, instance: dg.DagsterInstance) -> dg.SensorResult:
    with dg.build_sensor_context(
        instance=instance, definitions=defs(), resources={"database": DatabaseResource(url=str(db.url))}
    ) as ctx:
        return due_metrics_sensor(ctx)


def test_due_sensor_requests_only_partitions_with_posts_due_one_run_per_platform(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CLIPLY_ANALYTICS_ENABLED", raising=False)
    now = _now()
    yesterday = now - timedelta(days=1)
    _track(db, "a", "x", "x1", published=now, due=True)
    _track(db, "a", "x", "x2", published=yesterday, due=True)
    _track(db, "b", "x", "x3", published=yesterday, due=True)  # another workspace: same platform, same day
    _track(db, "a", "youtube", "yt1", published=now, due=False)  # not due: no youtube run
    before_first = datetime.combine(FIRST_DAY, datetime.min.time(), tzinfo=UTC) - timedelta(days=3)
    old = _track(db, "a", "tiktok", "tt1", published=before_first, due=True)  # older than the first partition
    with dg.instance_for_test() as instance:
        first = _due_tick(db, instance)
        by_platform = {r.tags[METRICS_PLATFORM_TAG]: r for r in first.run_requests}
        assert sorted(by_platform) == ["tiktok", "x"]
        # x: yesterday holds two due posts (two workspaces), today one: the busiest day goes first.
        assert by_platform["x"].partition_key == f"{yesterday:%Y-%m-%d}|x"
        assert by_platform["x"].tags["cliply/due"] == "3"
        assert by_platform["tiktok"].partition_key == f"{FIRST_DAY:%Y-%m-%d}|tiktok"

        # An x run not started yet and a started tiktok run: nothing new for either platform.
        create_run_for_test(
            instance,
            job_name=refresh_metrics_job.name,
            status=dg.DagsterRunStatus.NOT_STARTED,
            tags={METRICS_PLATFORM_TAG: "x"},
        )
        started = create_run_for_test(
            instance,
            job_name=refresh_metrics_job.name,
            status=dg.DagsterRunStatus.STARTED,
            tags={METRICS_PLATFORM_TAG: "tiktok"},
        )
        second = _due_tick(db, instance)
        assert second.run_requests == []
        assert "in progress" in (second.skip_reason.skip_message if second.skip_reason else "")

        # Once the tiktok run ended, tiktok is requested again (its post is still due); x still waits.
        instance.report_run_failed(started)
        assert [r.tags[METRICS_PLATFORM_TAG] for r in _due_tick(db, instance).run_requests] == ["tiktok"]

        # Fetched (next fetch in the future) or frozen posts are not due.
        with db.session() as s:
            s.execute(update(TrackedPost).where(TrackedPost.id == old).values(tier="frozen"))
        assert _due_tick(db, instance).run_requests == []


def test_due_sensor_skips_when_analytics_are_switched_off(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    _track(db, "a", "x", "x1", published=_now(), due=True)
    with dg.instance_for_test() as instance:
        assert len(_due_tick(db, instance).run_requests) == 1
        monkeypatch.setenv("CLIPLY_ANALYTICS_ENABLED", "false")
        off = _due_tick(db, instance)
        assert off.run_requests == [] and off.skip_reason is not None
        assert "switched off" in off.skip_reason.skip_message


def test_retention_schedule_runs_daily_when_snapshots_are_old_enough(db: Database) -> None:
    tick = datetime(2026, 12, 2, 3, 45, tzinfo=UTC)

    def evaluate() -> dg.ScheduleExecutionData:
        with (
            dg.instance_for_test() as instance,
            dg.build_schedule_context(
                instance=instance,
                scheduled_execution_time=tick,
                repository_def=defs().get_repository_def(),
                resources={"database": DatabaseResource(url=str(db.url)), "analytics": AnalyticsResource()},
            ) as ctx,
        ):
            return analytics_retention_schedule.evaluate_tick(ctx)

    post = _track(db, "a", "x", "x1", published=tick - timedelta(days=3), due=False)
    with db.session() as s:
        ws = s.get(TrackedPost, post).workspace_id  # type: ignore[union-attr]
        s.add(MetricSnapshot(tracked_post_id=post, workspace_id=ws, fetched_at=tick - timedelta(days=2), views=1))
    skipped = evaluate()
    assert not skipped.run_requests and skipped.skip_message
    with db.session() as s:  # a raw snapshot past the hourly threshold (7 days)
        s.add(MetricSnapshot(tracked_post_id=post, workspace_id=ws, fetched_at=tick - timedelta(days=8), views=0))
    [request] = evaluate().run_requests or []
    assert request.run_key == "analytics_retention:20261202"
    assert analytics_retention_schedule.cron_schedule == "45 3 * * *"


# ---- materialisations against the sandbox ----------


@dataclass
class World:
    db: Database
    store: LocalMediaStore
    vault: TokenVault
    sandbox: RunningSandbox
    instance: dg.DagsterInstance
    day: date | None = None  # the UTC day (the partition) of the post seeded last

    def scope(self, session, name: str = "default") -> WorkspaceScope:  # type: ignore[no-untyped-def]
        return WorkspaceScope(session, get_or_create_workspace(session, name))

    def connect(self, platform: str, account: str, workspace: str = "default") -> int:
        client = make_client(platform, PlatformConfig.from_env(platform))
        try:
            creds = self.sandbox.connect(client, account_id=account)
        finally:
            client.close()
        with self.db.session() as s:
            return AccountsRepo(self.scope(s, workspace), self.vault).connect(platform, creds, account).id

    def seed(self, platform: str, account: str, account_id: int, *, age: timedelta, workspace: str = "default") -> int:
        """A post on the sandbox `age` old, tracked in Cliply as published `age` ago (due now)."""
        post = self.sandbox.state.seed_post(platform, account, age=age, text="a clip")
        published = _now() - age
        self.day = published.date()
        with self.db.session() as s:
            tracked, _ = TrackedPosts(self.scope(s, workspace)).track(
                platform,
                post.post_id,
                origin="url",
                published_at=published,
                account_id=account_id,
                url=post.payload.get("public_url"),
            )
            return tracked.id

    def snapshots(self, tracked_post_id: int) -> list[MetricSnapshot]:
        with self.db.session() as s:
            stmt = select(MetricSnapshot).where(MetricSnapshot.tracked_post_id == tracked_post_id)
            return list(s.scalars(stmt.order_by(MetricSnapshot.fetched_at)))

    def make_due(self) -> None:
        with self.db.session() as s:
            s.execute(update(TrackedPost).values(next_fetch_at=_now() - timedelta(seconds=1)))

    def resources(self) -> dict[str, object]:
        return {**default_resources(), **analytics_resources()}


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sandbox: RunningSandbox) -> Iterator[World]:
    settings = pipeline_settings(tmp_path / "home")
    for key, value in settings_env(settings).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("CLIPLY_TOKEN_KEYS", f"k1:{generate_key()}")
    monkeypatch.delenv("CLIPLY_ANALYTICS_ENABLED", raising=False)
    for platform in ("x", "youtube", "tiktok", "bluesky"):
        for key, value in sandbox.env(platform).items():
            monkeypatch.setenv(key, value)
    db = Database(settings.resolved_database_url)
    db.migrate()
    store = LocalMediaStore(Path(settings.resolved_media_url))
    with dg.instance_for_test() as instance:
        yield World(db, store, TokenVault(KeyRing.from_env()), sandbox, instance)
    db.dispose()


def _materialize_metrics(
    world: World, platform: str, day: date | None = None, **kwargs: Any
) -> dg.ExecuteInProcessResult:
    with _loading():
        return dg.materialize(
            [post_metrics],
            partition_key=str(partition_key(day or _now().date(), platform)),
            instance=world.instance,
            resources=world.resources(),
            **kwargs,
        )


def _same_day(*hours: float) -> list[timedelta]:
    """Ages of these many hours, shifted back (when the run is just past midnight UTC) so all fall on one day."""
    since_midnight = _now() - _now().replace(hour=0, minute=0, second=0, microsecond=0)
    shift = timedelta(0) if since_midnight > timedelta(hours=max(hours) + 0.5) else since_midnight + timedelta(hours=1)
    return [timedelta(hours=h) + shift for h in hours]


def _run_reports(world: World, *, raise_on_error: bool = True) -> dg.ExecuteInProcessResult:
    with _loading():
        return dg.materialize(
            [post_metrics, metrics_derived, analytics_reports, *CHECKS],
            selection=dg.AssetSelection.assets(metrics_derived, analytics_reports) | dg.AssetSelection.checks(*CHECKS),
            instance=world.instance,
            resources=world.resources(),
            raise_on_error=raise_on_error,
        )


def _loading() -> AbstractContextManager[None]:
    """Load in-process definitions without a "current" defs-state storage: after many test instances came and went,
    the one left current can belong to an instance already gone. These definitions use no state-backed parts."""
    return set_defs_state_storage(None)


def _checks(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def test_post_metrics_appends_snapshots_and_the_reports_and_checks_follow(world: World) -> None:
    acc = world.connect("x", "x-metrics")
    posts = [world.seed("x", "x-metrics", acc, age=age) for age in _same_day(1, 3)]
    result = _materialize_metrics(world, "x", world.day)
    assert result.success
    [mat] = result.asset_materializations_for_node("post_metrics")
    meta = {k: v.value for k, v in mat.metadata.items()}
    assert meta["platform"] == "x" and meta["due"] == 2 and meta["snapshots"] == 2, meta
    assert meta["calls"] >= 1 and "token" not in str(meta).lower()
    first = {p: world.snapshots(p) for p in posts}
    assert all(len(s) == 1 and s[0].views is not None for s in first.values())

    # Again, not due: nothing fetched. Made due and the sandbox 30 min later: a second, larger snapshot each.
    assert (
        _materialize_metrics(world, "x", world.day)
        .asset_materializations_for_node("post_metrics")[0]
        .metadata["snapshots"]
        .value
        == 0
    )
    world.sandbox.state.clock.advance(1800)
    world.make_due()
    _materialize_metrics(world, "x", world.day)
    for p in posts:
        before, after = world.snapshots(p)
        assert after.views is not None and before.views is not None and after.views >= before.views

    # A reports run (as analytics_reports_sensor starts it): the sensor asks for it, the checks pass.
    with _loading(), dg.build_sensor_context(instance=world.instance, definitions=defs()) as ctx:
        tick = analytics_reports_sensor(ctx)
    assert len(tick.run_requests) == 1 and tick.cursor
    with dg.build_sensor_context(instance=world.instance, cursor=tick.cursor) as ctx:
        again = analytics_reports_sensor(ctx)
    assert again.run_requests == []  # nothing new since
    reports = _run_reports(world)
    checks = _checks(reports)
    assert {n: c.passed for n, c in checks.items()} == {
        "hot_posts_fresh": True,
        "counters_never_drop": True,
        "one_workspace_per_post": True,
        "reports_per_workspace": True,
    }
    [derived] = reports.asset_materializations_for_node("metrics_derived")
    assert derived.metadata["dagster/row_count"].value == 2
    assert "| tracked_post_id |" in str(derived.metadata["preview"].value)
    [made] = reports.asset_materializations_for_node("analytics_reports")
    report_md = str(next(v.value for k, v in made.metadata.items() if k.startswith("report_")))
    assert "data:image/png;base64," in report_md
    ws = {k.split("/")[2] for k in world.store.list("analytics/workspaces/")}
    assert len(ws) == 1
    [ws_id] = ws
    for chart in ("platforms.png", "leaderboard_account_7d.png", "top_post_views.png"):
        assert world.store.get_bytes(f"analytics/workspaces/{ws_id}/{chart}").startswith(b"\x89PNG"), chart
    assert world.store.exists(f"analytics/workspaces/{ws_id}/derived.csv")
    assert world.store.exists(f"analytics/workspaces/{ws_id}/leaderboard_clip_30d.csv")


def test_backfill_refetches_every_post_of_the_day(world: World) -> None:
    acc = world.connect("x", "x-backfill")
    post = world.seed("x", "x-backfill", acc, age=timedelta(hours=2))
    _materialize_metrics(world, "x", world.day)
    result = _materialize_metrics(
        world, "x", world.day, run_config=dg.RunConfig({"post_metrics": {"config": {"every": True}}})
    )
    meta = result.asset_materializations_for_node("post_metrics")[0].metadata
    assert meta["every"].value is True and meta["snapshots"].value == 1
    assert len(world.snapshots(post)) == 2


def test_checks_fail_on_a_dropped_counter_a_stale_hot_post_and_a_foreign_snapshot(world: World) -> None:
    acc = world.connect("x", "x-checks")
    post = world.seed("x", "x-checks", acc, age=timedelta(hours=2))
    _materialize_metrics(world, "x", world.day)
    assert all(c.passed for c in _checks(_run_reports(world)).values())
    [snap] = world.snapshots(post)
    with world.db.session() as s:
        # A later snapshot whose views fell by half: not a small platform correction.
        s.add(
            MetricSnapshot(
                tracked_post_id=post,
                workspace_id=snap.workspace_id,
                fetched_at=snap.fetched_at + timedelta(minutes=1),
                views=(snap.views or 0) // 2,
                likes=snap.likes,
                raw={},
            )
        )
    checks = _checks(_run_reports(world, raise_on_error=False))
    assert not checks["counters_never_drop"].passed
    [drop] = checks["counters_never_drop"].metadata["drops"].value  # type: ignore[misc]
    assert drop["tracked_post_id"] == post and drop["metric"] == "views"
    assert checks["hot_posts_fresh"].passed and checks["one_workspace_per_post"].passed

    with world.db.session() as s:
        other = get_or_create_workspace(s, "other")
        s.flush()
        s.add(MetricSnapshot(tracked_post_id=post, workspace_id=other.id, fetched_at=_now(), views=None, raw={}))
        # A hot post whose latest snapshot is hours old (its fetches kept failing, say).
        s.execute(
            update(MetricSnapshot)
            .where(MetricSnapshot.tracked_post_id == post)
            .values(fetched_at=_now() - timedelta(hours=5))
        )
        s.execute(
            update(TrackedPost).where(TrackedPost.id == post).values(tier="hot", tracked_at=_now() - timedelta(hours=6))
        )
    checks = _checks(_run_reports(world, raise_on_error=False))
    assert not checks["one_workspace_per_post"].passed
    [mismatch] = checks["one_workspace_per_post"].metadata["mismatches"].value  # type: ignore[misc]
    assert mismatch["tracked_post_id"] == post and mismatch["row"] == "snapshot"
    assert not checks["hot_posts_fresh"].passed
    [stale] = checks["hot_posts_fresh"].metadata["stale_posts"].value  # type: ignore[misc]
    assert stale["tracked_post_id"] == post and stale["tier"] == "hot"


def test_reports_are_per_workspace_and_the_check_catches_a_foreign_row(world: World) -> None:
    acc_a = world.connect("x", "x-ws-a", workspace="alpha")
    acc_b = world.connect("x", "x-ws-b", workspace="beta")
    [age] = _same_day(1)
    world.seed("x", "x-ws-a", acc_a, age=age, workspace="alpha")
    for _ in range(2):
        world.seed("x", "x-ws-b", acc_b, age=age, workspace="beta")
    _materialize_metrics(world, "x", world.day)
    reports = _run_reports(world)
    assert _checks(reports)["reports_per_workspace"].passed
    [derived] = reports.asset_materializations_for_node("metrics_derived")
    assert derived.metadata["rows_by_workspace"].value == {"alpha": 1, "beta": 2}
    with world.db.session() as s:
        ids = {name: get_or_create_workspace(s, name).id for name in ("alpha", "beta")}
    for name, posts in (("alpha", 1), ("beta", 2)):
        csv = world.store.get_bytes(f"analytics/workspaces/{ids[name]}/platforms.csv").decode()
        assert csv.splitlines()[1].startswith(f"x,{posts},"), csv

    # The check is not a formality: a leaderboard row naming beta's account in alpha's report is caught.
    with world.db.reading() as s:
        scope = world.scope(s, "alpha")
        frames = workspace_reports(scope, _now())
        assert foreign_rows(scope, frames) == []
        frames["leaderboard_account_7d"].loc[0, "account_id"] = acc_b
        assert foreign_rows(scope, frames) == [{"report": "leaderboard_account_7d", "account_id": acc_b}]


def test_retention_job_thins_old_snapshots(world: World) -> None:
    acc = world.connect("x", "x-retention")
    post = world.seed("x", "x-retention", acc, age=timedelta(days=40))
    with world.db.session() as s:
        ws = s.get(TrackedPost, post).workspace_id  # type: ignore[union-attr]
        day = _now() - timedelta(days=35)
        for minute in range(0, 240, 15):  # four hours of 15-minute snapshots, 35 days ago
            s.add(
                MetricSnapshot(
                    tracked_post_id=post, workspace_id=ws, fetched_at=day + timedelta(minutes=minute), views=minute
                )
            )
    with _loading():
        result = analytics_retention_job.execute_in_process(
            instance=world.instance, resources={**world.resources(), "analytics": AnalyticsResource(daily_after_d=30)}
        )
    assert result.success
    deleted = result.output_for_node("thin_snapshots")
    left = world.snapshots(post)
    assert deleted == 16 - len(left) and 1 <= len(left) <= 2  # one per day (the 4 h may straddle midnight)


def test_the_first_partition_fetches_posts_published_before_it(world: World) -> None:
    acc = world.connect("x", "x-older")
    first = datetime.combine(FIRST_DAY, datetime.min.time(), tzinfo=UTC)
    post = world.seed("x", "x-older", acc, age=_now() - first + timedelta(days=2))  # tracked by URL, older
    assert (
        _materialize_metrics(world, "x").asset_materializations_for_node("post_metrics")[0].metadata["snapshots"].value
        == 0
    )  # not today's partition
    result = _materialize_metrics(world, "x", FIRST_DAY)
    meta = result.asset_materializations_for_node("post_metrics")[0].metadata
    assert meta["snapshots"].value == 1 and meta["days"].value == [
        (FIRST_DAY - timedelta(days=2)).isoformat(),
        FIRST_DAY.isoformat(),
    ]
    assert len(world.snapshots(post)) == 1
