"""End to end with the REAL dagster-daemon: clips are published to the platform sandbox (over HTTP), every published
post becomes a tracked post, and the daemon's sensors keep its metrics: one refresh run per platform at a time, the
snapshots accumulate tier by tier as the posts age, forecasts appear once there is history, the reports and their
checks follow the new snapshots, and the platforms answer no 429.

Time passes without waiting: the sandbox clock is advanced (the posts grow on the platforms) and every stored
timestamp of the tracked posts (publish time, snapshots, forecasts, next fetch) is moved back by the same amount,
so Cliply sees older posts with older history, exactly as if that much time had gone by.

On PostgreSQL (app + Dagster instance), the production backend: the publishing end-to-end test runs the daemon on
both backends, and the analytics assets, sensors and checks run on both in tests/test_analytics_dagster.py."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import dagster as dg
import pytest
from sqlalchemy import func, select, update

from cliply.store.models_analytics import MetricForecast, MetricSnapshot, TrackedPost
from cliply_assets.analytics import (
    METRICS_PLATFORM_TAG,
    analytics_reports,
    analytics_reports_job,
    refresh_metrics_job,
)
from tests.test_publishing_e2e import E2E, Daemon, backend, e2e  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PLATFORMS = ("x", "youtube", "bluesky")
WAIT_S = 180
# How the posts age, step by step: two 20-minute steps (ultra_hot; three snapshots over 40 minutes are enough history
# to forecast), then past 6 h (hot, and the forecasts' horizons have passed), then past 24 h (warm).
STEPS = (timedelta(minutes=20), timedelta(minutes=20), timedelta(hours=6), timedelta(hours=20))
FORECAST_STEP = 3  # the snapshot whose fetch has three snapshots over 40 minutes to forecast from


class Analytics:
    def __init__(self, e2e: E2E, daemon: Daemon) -> None:
        self.e2e, self.db, self.daemon = e2e, e2e.world.db, daemon
        self.instance = e2e.world.instance

    def snapshot_counts(self) -> dict[int, int]:
        with self.db.session() as s:
            posts = s.scalars(select(TrackedPost.id)).all()
            stmt = select(MetricSnapshot.tracked_post_id, func.count()).group_by(MetricSnapshot.tracked_post_id)
            counts = {post: n for post, n in s.execute(stmt).all()}
        return {p: counts.get(p, 0) for p in posts}

    def tiers(self) -> dict[int, str]:
        with self.db.session() as s:
            return {post: tier for post, tier in s.execute(select(TrackedPost.id, TrackedPost.tier)).all()}

    def forecasts(self) -> int:
        with self.db.session() as s:
            return s.scalar(select(func.count()).select_from(MetricForecast)) or 0

    def in_progress(self, job: str) -> bool:
        statuses = [
            dg.DagsterRunStatus.QUEUED,
            dg.DagsterRunStatus.NOT_STARTED,
            dg.DagsterRunStatus.STARTING,
            dg.DagsterRunStatus.STARTED,
        ]
        return bool(self.instance.get_run_records(filters=dg.RunsFilter(job_name=job, statuses=statuses), limit=1))

    def age(self, delta: timedelta) -> None:
        """Let `delta` pass: the sandbox clock moves on, Cliply's stored times of every tracked post move back, and
        every active post is due now."""
        self.e2e.world.sandbox.state.clock.advance(delta.total_seconds())
        now = datetime.now(UTC)
        shifted = {
            TrackedPost: ("published_at", "tracked_at", "last_fetched_at", "last_attempt_at"),
            MetricSnapshot: ("fetched_at",),
            MetricForecast: ("made_at", "target_at"),
        }
        with self.db.session() as s:  # row by row in Python: datetime arithmetic in SQL differs per database
            for model, columns in shifted.items():
                for row in s.scalars(select(model)):
                    for column in columns:
                        if (value := getattr(row, column)) is not None:
                            setattr(row, column, value - delta)
            s.execute(update(TrackedPost).where(TrackedPost.status == "active").values(next_fetch_at=now))

    def last_end(self, job: str) -> float:
        records = self.instance.get_run_records(filters=dg.RunsFilter(job_name=job))
        return max((r.end_time or 0.0) for r in records)

    def report_runs(self, after: float) -> list[dg.RunRecord]:
        records = self.instance.get_run_records(
            filters=dg.RunsFilter(job_name=analytics_reports_job.name, statuses=[dg.DagsterRunStatus.SUCCESS])
        )
        return [r for r in records if (r.start_time or 0) > after]


def _overlaps(records: list[dg.RunRecord]) -> list[tuple[str, str, str]]:
    """Pairs of refresh runs of the same platform that ran at the same time."""
    spans: dict[str, list[tuple[float, float, str]]] = defaultdict(list)
    for r in records:
        spans[r.dagster_run.tags[METRICS_PLATFORM_TAG]].append(
            (r.start_time or 0, r.end_time or 0, r.dagster_run.run_id)
        )
    out = []
    for platform, runs in spans.items():
        runs.sort()
        out += [(platform, a[2], b[2]) for a, b in pairwise(runs) if b[0] < a[1]]
    return out


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_daemon_tracks_published_posts_refreshes_them_by_tier_forecasts_and_reports(e2e: E2E, tmp_path) -> None:  # type: ignore[no-untyped-def]
    world, state = e2e.world, e2e.world.sandbox.state
    accounts = {p: e2e.connect(p, f"{p}-metrics-e2e") for p in PLATFORMS}
    for n, clip in enumerate(world.clip_ids, start=1):  # distinct captions: X refuses duplicate text
        e2e.schedule(clip, list(accounts.items()), caption=f"Moment {n} worth watching", title=f"Moment {n}")
    expected = len(world.clip_ids) * len(PLATFORMS)

    daemon = Daemon(e2e, tmp_path / "daemon.log")
    analytics = Analytics(e2e, daemon)
    try:
        # Published → tracked → fetched once, with no help: the ledger tracks, the sensor sees them due.
        daemon.wait(
            lambda: len(c := analytics.snapshot_counts()) == expected and all(v >= 1 for v in c.values()),
            WAIT_S,
            f"{expected} tracked posts with a first snapshot",
        )
        [first_report] = daemon.wait(
            lambda: analytics.report_runs(0)[:1], WAIT_S, "a reports run on the first snapshots"
        )
        tiers_seen: dict[int, set[str]] = defaultdict(set)
        for post, tier in analytics.tiers().items():
            tiers_seen[post].add(tier)
        assert set(analytics.tiers().values()) == {"ultra_hot"}

        for n, delta in enumerate(STEPS, start=2):
            daemon.wait(lambda: not analytics.in_progress(refresh_metrics_job.name), WAIT_S, "refresh runs done")
            analytics.age(delta)
            daemon.wait(
                lambda n=n: all(v >= n for v in analytics.snapshot_counts().values()),
                WAIT_S,
                f"snapshot {n} of every post (after {delta})",
            )
            for post, tier in analytics.tiers().items():
                tiers_seen[post].add(tier)
            if n == FORECAST_STEP:
                daemon.wait(analytics.forecasts, WAIT_S, "forecasts stored")

        # Snapshots accumulated one per step, tier by tier: ultra_hot, then hot (past 6 h), then warm (past 24 h).
        assert all(v == len(STEPS) + 1 for v in analytics.snapshot_counts().values()), analytics.snapshot_counts()
        assert all(seen == {"ultra_hot", "hot", "warm"} for seen in tiers_seen.values()), tiers_seen
        with world.db.session() as s:
            views = s.execute(
                select(MetricSnapshot.tracked_post_id, MetricSnapshot.views).order_by(MetricSnapshot.fetched_at)
            ).all()
            with_actual = s.scalar(select(func.count()).where(MetricForecast.actual.is_not(None)))
        grew = defaultdict(list)
        for post, v in views:
            grew[post].append(v)
        assert any(series[-1] is not None and series[-1] > (series[0] or 0) for series in grew.values()), grew
        assert analytics.forecasts() > 0 and (with_actual or 0) > 0  # forecasts made, and later measured

        # The reports follow the last snapshots: a successful reports run after them, with passing checks.
        # Each platform refreshes in its own run: a reports run launched when one platform's run ended may have read
        # another platform's posts before their last snapshot. Take a run started after every refresh run ended.
        daemon.wait(lambda: not analytics.in_progress(refresh_metrics_job.name), WAIT_S, "refresh runs done")
        last_refresh_end = analytics.last_end(refresh_metrics_job.name)
        [run] = daemon.wait(lambda: analytics.report_runs(last_refresh_end)[:1], WAIT_S, "a reports run")
        assert run.dagster_run.run_id != first_report.dagster_run.run_id  # the reports were updated
        evaluations = _check_results(world.instance, run.dagster_run.run_id)
        assert evaluations["one_workspace_per_post"] and evaluations["reports_per_workspace"], evaluations
        assert evaluations["hot_posts_fresh"], evaluations
        assert "counters_never_drop" in evaluations  # may flag a sandbox platform correction: a warning, by design
        charts = [k for k in world.store.list("analytics/workspaces/") if k.endswith(".png")]
        assert {k.rsplit("/", 1)[1] for k in charts} >= {"platforms.png", "top_post_views.png"}, charts
        made = world.instance.fetch_materializations(analytics_reports.key, limit=1).records[0].asset_materialization
        assert made is not None and made.metadata["workspaces"].value == 1
        shown = [str(v.value) for k, v in made.metadata.items() if k.startswith("report_")]
        assert shown and shown[0].count("data:image/png;base64,") == 3  # the charts, in the UI

        # One refresh run per platform at a time, and the platforms never answered 429.
        refreshes = world.instance.get_run_records(filters=dg.RunsFilter(job_name=refresh_metrics_job.name))
        assert {r.dagster_run.tags[METRICS_PLATFORM_TAG] for r in refreshes} == set(PLATFORMS)
        assert _overlaps(refreshes) == []
        too_many = [(r.platform, r.method, r.path) for r in state.requests if r.status == 429]
        assert too_many == [], too_many
    finally:
        daemon.stop()


def _check_results(instance: dg.DagsterInstance, run_id: str) -> dict[str, bool]:
    out: dict[str, bool] = {}
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION):
        data = record.dagster_event.event_specific_data if record.dagster_event else None
        if isinstance(data, dg.AssetCheckEvaluation):
            out[data.check_name] = data.passed
    return out
