"""Publishing sensors and schedules: due posts → one run per platform; token refresh; media retention; run failures
→ the notifier. Each evaluation does one or two cheap queries; the work itself happens in runs."""

from datetime import UTC, datetime, timedelta

import dagster as dg

from cliply.publishing.ledger import awaiting_post_id, due_counts
from cliply.publishing.publisher import BACKFILL_WINDOW
from cliply.publishing.retention import has_expired_media
from cliply.publishing.switches import PublishSwitches
from cliply.settings import Settings
from cliply.store.accounts import EXPIRY_WARNING, accounts_expiring
from cliply_assets.labels import REFUSED_TAG
from cliply_assets.publishing import (
    PLATFORM_TAG,
    backfill_ids_job,
    media_retention_job,
    posts_partition_key,
    publish_posts_job,
    refresh_tokens_job,
)
from cliply_resources import DatabaseResource, NotifierResource

DUE_POSTS_INTERVAL_S = 15
IN_PROGRESS = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]
_NOT_YET_RUNNING = {dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED}


def _blocking_for_s(settings: Settings) -> float:
    """How long a started publish run keeps its platform's next run waiting.

    Runs are requested publish_lookahead_s before targets fall due (a run takes seconds to start on a small machine),
    so a successor is requested that long before the current run stops taking targets. A run still "started" after
    publish_run_stale_s (its worker and code server gone, run monitoring off) is presumed dead; the ledger's leases
    keep two live runs from publishing the same target anyway."""
    return min(settings.publish_run_stale_s, max(0.0, settings.publish_max_run_s - settings.publish_lookahead_s))


def publishing_in_progress(
    instance: dg.DagsterInstance, platform: str, now: datetime, settings: Settings | None = None
) -> str | None:
    """The id of a queued publish run for `platform`, or of a live one still taking new targets; else None.

    A run past max_run_s (less the lookahead) only finishes what it holds: its successor is requested then, and
    waits in the queue (one run per platform) to start the moment it ends, instead of a sensor tick later."""
    records = instance.get_run_records(
        filters=dg.RunsFilter(job_name=publish_posts_job.name, statuses=IN_PROGRESS, tags={PLATFORM_TAG: platform}),
        limit=10,
    )
    blocking_for = _blocking_for_s(settings or Settings.from_env())
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
    description="Every 15 s: for each switched-on platform with post targets due now or within "
    "CLIPLY_PUBLISH_LOOKAHEAD_S (30 s), one publish_posts run (partition day|platform) unless one is "
    "already queued or still taking targets.",
)
def due_posts_sensor(context: dg.SensorEvaluationContext, database: DatabaseResource) -> dg.SensorResult:
    now = datetime.now(UTC)
    settings = Settings.from_env()
    with database.get().session() as session:
        counts = due_counts(session, now + timedelta(seconds=settings.publish_lookahead_s))
    switches = PublishSwitches.from_settings(settings)
    window = int(now.timestamp()) // DUE_POSTS_INTERVAL_S
    requests: list[dg.RunRequest] = []
    notes: list[str] = []
    for platform in sorted(p for p, n in counts.items() if n > 0):
        if not switches.allows(platform):
            notes.append(f"{platform}: switched off")
            continue
        running = publishing_in_progress(context.instance, platform, now, settings)
        if running is not None:
            notes.append(f"{platform}: run {running} in progress")
            continue
        requests.append(
            dg.RunRequest(
                partition_key=posts_partition_key(now, platform),
                run_key=f"posts:{platform}:{window}",
                tags={PLATFORM_TAG: platform, "cliply/due": str(counts[platform])},
            )
        )
    if notes:
        context.log.info("; ".join(notes))
    if not requests:
        reason = "; ".join(notes) if notes else "no post targets due"
        return dg.SensorResult(skip_reason=dg.SkipReason(reason))
    return dg.SensorResult(run_requests=requests)


@dg.schedule(
    job=refresh_tokens_job,
    cron_schedule="*/15 * * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every 15 min: refresh tokens near expiry, flag re-auth, warn 7 days ahead (skips when none).",
)
def token_refresh_schedule(
    context: dg.ScheduleEvaluationContext, database: DatabaseResource
) -> dg.RunRequest | dg.SkipReason:
    now = context.scheduled_execution_time or datetime.now(UTC)
    with database.get().session() as session:
        due = accounts_expiring(session, now + EXPIRY_WARNING, 1)
    if not due:
        return dg.SkipReason("no account token expires or needs re-authorisation soon")
    return dg.RunRequest(run_key=f"token_refresh:{now:%Y%m%dT%H%M}")


@dg.schedule(
    job=backfill_ids_job,
    cron_schedule="7,37 * * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Twice an hour: fetch the public ids of posts still in platform moderation (skips when none).",
)
def public_ids_schedule(
    context: dg.ScheduleEvaluationContext, database: DatabaseResource
) -> dg.RunRequest | dg.SkipReason:
    now = context.scheduled_execution_time or datetime.now(UTC)
    with database.get().session() as session:
        waiting = awaiting_post_id(session, None, since=now - BACKFILL_WINDOW, limit=1)
    if not waiting:
        return dg.SkipReason("no published post is waiting for its public id")
    return dg.RunRequest(run_key=f"public_ids:{now:%Y%m%dT%H%M}")


@dg.schedule(
    job=media_retention_job,
    cron_schedule="30 3 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Daily: delete rendered media older than CLIPLY_RETENTION_DAYS (default 7) unless a post needs it.",
)
def media_retention_schedule(
    context: dg.ScheduleEvaluationContext, database: DatabaseResource
) -> dg.RunRequest | dg.SkipReason:
    now = context.scheduled_execution_time or datetime.now(UTC)
    if not has_expired_media(database.get(), now=now, days=Settings.from_env().retention_days):
        return dg.SkipReason("no rendered media past retention")
    return dg.RunRequest(run_key=f"media_retention:{now:%Y%m%d}")


@dg.run_failure_sensor(
    name="run_failure_notifier",
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Reports every failed Cliply run (job, partition, platform, error) through the notifier: log, "
    "e-mail when SMTP is configured, webhook when set.",
)
def run_failure_notifier(context: dg.RunFailureSensorContext, notifier: NotifierResource) -> None:
    run = context.dagster_run
    if REFUSED_TAG in run.tags:  # a refused upload is bad input, recorded on its source: no operator to wake
        return
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

defs = dg.Definitions(sensors=PUBLISHING_SENSORS, schedules=PUBLISHING_SCHEDULES)
