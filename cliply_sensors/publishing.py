"""Publishing sensors and schedules: due posts → one run per platform; token refresh; media retention; run failures
→ the notifier. Each evaluation does one or two cheap queries; the work itself happens in runs."""

from datetime import UTC, datetime, timedelta

import dagster as dg

from cliply.publishing.ledger import awaiting_post_id, due_counts
from cliply.publishing.publisher import BACKFILL_WINDOW
from cliply.publishing.retention import has_expired_media
from cliply.publishing.switches import PublishSwitches
from cliply.store.accounts import EXPIRY_WARNING, accounts_expiring
from cliply_assets.publishing import (
    PLATFORM_TAG,
    backfill_ids_job,
    env_float,
    max_run_s,
    media_retention_job,
    posts_partition_key,
    publish_posts_job,
    refresh_tokens_job,
    retention_days,
)
from cliply_resources import DatabaseResource
from cliply_resources.publishing import NotifierResource

DUE_POSTS_INTERVAL_S = 15
IN_PROGRESS = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]
_NOT_YET_RUNNING = {dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED}
# A killed run worker is marked failed by the code server that launched it; a run still "started" after this long
# (its code server gone too, with run monitoring off) is presumed dead and a new one may start. The ledger's leases
# keep two live runs from publishing the same target anyway. Keep it above CLIPLY_PUBLISH_MAX_RUN_S.
DEFAULT_STALE_RUN_S = 1800
# Runs are requested this long before targets fall due: a run takes seconds to start on a small machine, and it
# lingers (claiming nothing early) until they do. Keep it below CLIPLY_PUBLISH_LINGER_S.
DEFAULT_LOOKAHEAD_S = 30


def _lookahead_s() -> float:
    return env_float("CLIPLY_PUBLISH_LOOKAHEAD_S", DEFAULT_LOOKAHEAD_S)


def _stale_after_s() -> float:
    return env_float("CLIPLY_PUBLISH_RUN_STALE_S", DEFAULT_STALE_RUN_S)


def publishing_in_progress(instance: dg.DagsterInstance, platform: str, now: datetime) -> str | None:
    """The id of a queued publish run for `platform`, or of a live one still taking new targets; else None.

    A run past max_run_s (less the lookahead) only finishes what it holds: its successor is requested then, and
    waits in the queue (one run per platform) to start the moment it ends, instead of a sensor tick later."""
    records = instance.get_run_records(
        filters=dg.RunsFilter(job_name=publish_posts_job.name, statuses=IN_PROGRESS, tags={PLATFORM_TAG: platform}),
        limit=10,
    )
    blocking_for = min(_stale_after_s(), max(0.0, max_run_s() - _lookahead_s()))
    for record in records:
        run = record.dagster_run
        if run.status in _NOT_YET_RUNNING:
            return run.run_id
        started = record.start_time or record.create_timestamp.timestamp()
        if now.timestamp() - started < blocking_for:
            return run.run_id
    return None


@dg.sensor(
    job=publish_posts_job,
    minimum_interval_seconds=DUE_POSTS_INTERVAL_S,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Post targets due now or within 30 s → one publish run per platform with due items (day|platform).",
)
def due_posts_sensor(context: dg.SensorEvaluationContext, database: DatabaseResource) -> dg.SensorResult:
    now = datetime.now(UTC)
    with database.get().session() as session:
        counts = due_counts(session, now + timedelta(seconds=_lookahead_s()))
    switches = PublishSwitches.from_env()
    window = int(now.timestamp()) // DUE_POSTS_INTERVAL_S
    requests: list[dg.RunRequest] = []
    notes: list[str] = []
    for platform in sorted(p for p, n in counts.items() if n > 0):
        if not switches.allows(platform):
            notes.append(f"{platform}: switched off")
            continue
        running = publishing_in_progress(context.instance, platform, now)
        if running is not None:
            notes.append(f"{platform}: run {running} in progress")
            continue
        requests.append(dg.RunRequest(
            partition_key=posts_partition_key(now, platform),
            run_key=f"posts:{platform}:{window}",
            tags={PLATFORM_TAG: platform, "cliply/due": str(counts[platform])},
        ))
    if notes:
        context.log.info("; ".join(notes))
    if not requests:
        reason = "; ".join(notes) if notes else "no post targets due"
        return dg.SensorResult(skip_reason=dg.SkipReason(reason))
    return dg.SensorResult(run_requests=requests)


@dg.schedule(
    name="token_refresh",
    job=refresh_tokens_job,
    cron_schedule="*/15 * * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every 15 min: refresh tokens near expiry, flag re-auth, warn 7 days ahead (skips when none).",
)
def token_refresh_schedule(context: dg.ScheduleEvaluationContext, database: DatabaseResource):  # type: ignore[no-untyped-def]
    now = context.scheduled_execution_time or datetime.now(UTC)
    with database.get().session() as session:
        due = accounts_expiring(session, now + EXPIRY_WARNING, 1)
    if not due:
        return dg.SkipReason("no account token expires or needs re-authorisation soon")
    return dg.RunRequest(run_key=f"token_refresh:{now:%Y%m%dT%H%M}")


@dg.schedule(
    name="public_ids_backfill",
    job=backfill_ids_job,
    cron_schedule="7,37 * * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Twice an hour: fetch the public ids of posts still in platform moderation (skips when none).",
)
def public_ids_schedule(context: dg.ScheduleEvaluationContext, database: DatabaseResource):  # type: ignore[no-untyped-def]
    now = context.scheduled_execution_time or datetime.now(UTC)
    with database.get().session() as session:
        waiting = awaiting_post_id(session, None, since=now - BACKFILL_WINDOW, limit=1)
    if not waiting:
        return dg.SkipReason("no published post is waiting for its public id")
    return dg.RunRequest(run_key=f"public_ids:{now:%Y%m%dT%H%M}")


@dg.schedule(
    name="media_retention",
    job=media_retention_job,
    cron_schedule="30 3 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Daily: delete rendered media older than CLIPLY_RETENTION_DAYS (default 7) unless a post needs it.",
)
def media_retention_schedule(context: dg.ScheduleEvaluationContext, database: DatabaseResource):  # type: ignore[no-untyped-def]
    now = context.scheduled_execution_time or datetime.now(UTC)
    if not has_expired_media(database.get(), now=now, days=retention_days()):
        return dg.SkipReason("no rendered media past retention")
    return dg.RunRequest(run_key=f"media_retention:{now:%Y%m%d}")


@dg.run_failure_sensor(
    name="run_failure_notifier",
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Any failed Cliply run → the notifier (log, e-mail, webhook).",
)
def run_failure_notifier(context: dg.RunFailureSensorContext, notifier: NotifierResource) -> None:
    run = context.dagster_run
    error = context.failure_event.message or ""
    notifier.notify(
        "run_failed",
        job=run.job_name,
        run_id=run.run_id,
        partition=run.tags.get("dagster/partition", ""),
        platform=run.tags.get(PLATFORM_TAG, ""),
        error=error[:500],
        message=f"Dagster run {run.run_id} of {run.job_name} failed.",
    )


PUBLISHING_SENSORS = [due_posts_sensor, run_failure_notifier]
PUBLISHING_SCHEDULES = [token_refresh_schedule, public_ids_schedule, media_retention_schedule]
