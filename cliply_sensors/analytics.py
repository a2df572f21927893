"""Analytics sensors and schedule: due tracked posts → one refresh run per platform at a time; new snapshots → the
derived tables, reports and checks; a daily snapshot-thinning run. Each evaluation does one or two cheap queries."""

from collections import Counter
from datetime import UTC, date, datetime, timedelta

import dagster as dg
from sqlalchemy import select
from sqlalchemy.orm import Session

from cliply.settings import Settings
from cliply.store.models_analytics import MetricSnapshot, TrackedPost
from cliply_assets.analytics import (
    METRICS_PLATFORM_TAG,
    analytics_reports_job,
    analytics_retention_job,
    partition_key,
    post_metrics,
    refresh_metrics_job,
)
from cliply_resources import DatabaseResource
from cliply_resources.analytics import AnalyticsResource
from cliply_sensors.publishing import IN_PROGRESS

DUE_METRICS_INTERVAL_S = 15
REPORTS_INTERVAL_S = 30
# A refresh run still "started" after this long is presumed dead (worker gone, run monitoring off): one partition of
# one platform is a few batched calls, minutes at most even when the limit ledger makes it wait.
METRICS_RUN_STALE_S = 900.0
MATERIALIZATIONS_PER_TICK = 1000


def due_by_platform_day(session: Session, now: datetime) -> dict[str, Counter[date]]:
    """Active, non-frozen posts due now, counted by platform and UTC publish day (one narrow indexed query)."""
    stmt = select(TrackedPost.platform, TrackedPost.published_at).where(
        TrackedPost.status == "active", TrackedPost.tier != "frozen", TrackedPost.next_fetch_at <= now
    )
    out: dict[str, Counter[date]] = {}
    for platform, published in session.execute(stmt):
        out.setdefault(platform, Counter())[published.astimezone(UTC).date()] += 1
    return out


def run_in_progress(
    instance: dg.DagsterInstance, job_name: str, now: datetime, tags: dict[str, str] | None = None
) -> str | None:
    """The id of a queued run of `job_name` (with `tags`), or of a started one younger than the stale limit."""
    records = instance.get_run_records(
        filters=dg.RunsFilter(job_name=job_name, statuses=IN_PROGRESS, tags=tags or {}), limit=10
    )
    for record in records:
        started = record.start_time or record.create_timestamp.timestamp()
        if record.dagster_run.status not in (dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING):
            return record.dagster_run.run_id
        if now.timestamp() - started < METRICS_RUN_STALE_S:
            return record.dagster_run.run_id
    return None


@dg.sensor(
    job=refresh_metrics_job,
    minimum_interval_seconds=DUE_METRICS_INTERVAL_S,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Every 15 s: for each platform with tracked posts due (tier interval elapsed), one refresh_metrics "
    "run for the publish day with the most posts due (partition day|platform), unless that platform's refresh run "
    "is queued or running. Skips while CLIPLY_ANALYTICS_ENABLED is off.",
)
def due_metrics_sensor(context: dg.SensorEvaluationContext, database: DatabaseResource) -> dg.SensorResult:
    if not Settings.from_env().analytics_enabled:
        return dg.SensorResult(skip_reason=dg.SkipReason("analytics are switched off (CLIPLY_ANALYTICS_ENABLED)"))
    now = datetime.now(UTC)
    with database.get().reading() as session:
        due = due_by_platform_day(session, now)
    window = int(now.timestamp()) // DUE_METRICS_INTERVAL_S
    requests: list[dg.RunRequest] = []
    notes: list[str] = []
    for platform in sorted(due):
        running = run_in_progress(context.instance, refresh_metrics_job.name, now, {METRICS_PLATFORM_TAG: platform})
        if running is not None:
            notes.append(f"{platform}: run {running} in progress")
            continue
        key = partition_key(_busiest(due[platform]), platform)
        requests.append(
            dg.RunRequest(
                partition_key=key,
                run_key=f"metrics:{key}:{window}",
                tags={METRICS_PLATFORM_TAG: platform, "cliply/due": str(sum(due[platform].values()))},
            )
        )
    if notes:
        context.log.info("; ".join(notes))
    if not requests:
        return dg.SensorResult(skip_reason=dg.SkipReason("; ".join(notes) or "no tracked post due"))
    return dg.SensorResult(run_requests=requests)


def _busiest(days: Counter[date]) -> date:
    """The publish day with the most posts due; the newest first on a tie (young posts are the hot ones)."""
    return max(days, key=lambda d: (days[d], d))


@dg.sensor(
    job=analytics_reports_job,
    minimum_interval_seconds=REPORTS_INTERVAL_S,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Every 30 s: when post_metrics materialisations appended snapshots since the last reports run, one "
    "analytics_reports run (derived tables, reports, checks), never two at once.",
)
def analytics_reports_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    after = int(context.cursor) if context.cursor else None
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=post_metrics.key, after_storage_id=after),
        limit=MATERIALIZATIONS_PER_TICK,
        ascending=True,
    ).records
    if not records:
        return dg.SensorResult(skip_reason=dg.SkipReason("no new post_metrics materialisation"))
    latest = max(r.storage_id for r in records)
    landed = sum(_snapshots(r) for r in records)
    if not landed:
        return dg.SensorResult(skip_reason=dg.SkipReason("no new snapshots"), cursor=str(latest))
    running = run_in_progress(context.instance, analytics_reports_job.name, datetime.now(UTC))
    if running is not None:  # keep the cursor: the snapshots are reported by the next run
        return dg.SensorResult(skip_reason=dg.SkipReason(f"reports run {running} in progress"))
    return dg.SensorResult(
        run_requests=[dg.RunRequest(run_key=f"reports:{latest}", tags={"cliply/snapshots": str(landed)})],
        cursor=str(latest),
    )


def _snapshots(record: dg.EventLogRecord) -> int:
    materialization = record.asset_materialization
    value = materialization.metadata.get("snapshots") if materialization else None
    return int(value.value) if value is not None and isinstance(value.value, int | float) else 0


def has_thinning_work(session: Session, now: datetime, *, hourly_after: timedelta, daily_after: timedelta) -> bool:
    """Whether any snapshot is old enough to thin: raw past the hourly threshold, or hourly past the daily one."""
    ms = MetricSnapshot
    raw = (ms.granularity == "raw") & (ms.fetched_at < now - hourly_after)
    hourly = (ms.granularity == "hourly") & (ms.fetched_at < now - daily_after)
    return session.scalar(select(ms.id).where(raw | hourly).limit(1)) is not None


@dg.schedule(
    job=analytics_retention_job,
    cron_schedule="45 3 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Daily: thin metric snapshots to hourly after CLIPLY_ANALYTICS_HOURLY_AFTER_D (7) days and to daily "
    "after CLIPLY_ANALYTICS_DAILY_AFTER_D (30) days (skips when nothing is that old).",
)
def analytics_retention_schedule(
    context: dg.ScheduleEvaluationContext, database: DatabaseResource, analytics: AnalyticsResource
) -> dg.RunRequest | dg.SkipReason:
    now = context.scheduled_execution_time or datetime.now(UTC)
    settings = analytics.settings()
    with database.get().reading() as session:
        due = has_thinning_work(
            session,
            now,
            hourly_after=timedelta(days=settings.analytics_hourly_after_d),
            daily_after=timedelta(days=settings.analytics_daily_after_d),
        )
    if not due:
        return dg.SkipReason("no metric snapshot old enough to thin")
    return dg.RunRequest(run_key=f"analytics_retention:{now:%Y%m%d}")


ANALYTICS_SENSORS = [due_metrics_sensor, analytics_reports_sensor]
ANALYTICS_SCHEDULES = [analytics_retention_schedule]

defs = dg.Definitions(sensors=ANALYTICS_SENSORS, schedules=ANALYTICS_SCHEDULES)
