"""Media sensors: new uploads become `sources` partitions, each with ONE process_source run (cursor + run_key)."""

import json

import dagster as dg

from cliply.ingest import register_inbox_entry
from cliply.settings import Settings
from cliply.store.repo import sources_with_status
from cliply_assets.labels import source_name, source_run_tags
from cliply_assets.media import process_source_job, sources_partitions
from cliply_resources import DatabaseResource, InboxResource

# Bounded batches keep each tick far below the 60 s sensor timeout and the SQLite variable limits.
MAX_SOURCES_PER_TICK = 50


def _result(names: dict[str, str], cursor: str | None, reason: str) -> dg.SensorResult | dg.SkipReason:
    """One run per source (id → original file name), tagged so the run list names the file."""
    if not names:
        return dg.SensorResult(skip_reason=dg.SkipReason(reason), cursor=cursor)
    return dg.SensorResult(
        dynamic_partitions_requests=[sources_partitions.build_add_request(list(names))],
        run_requests=[
            dg.RunRequest(partition_key=sid, run_key=f"source:{sid}", tags=source_run_tags(sid, name))
            for sid, name in names.items()
        ],
        cursor=cursor,
    )


@dg.sensor(
    job=process_source_job,
    minimum_interval_seconds=5,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Every 5 s: settled new files in the upload inbox (folder or S3 prefix) are registered as sources "
    "and each gets one process_source run (at most 50 per tick).",
)
def inbox_sensor(
    context: dg.SensorEvaluationContext, inbox: InboxResource, database: DatabaseResource
) -> dg.SensorResult | dg.SkipReason:
    settings = Settings.from_env()
    entries, cursor = inbox.get().list_new(context.cursor, limit=MAX_SOURCES_PER_TICK)
    db = database.get()
    names: dict[str, str] = {}
    for entry in entries:
        registered = register_inbox_entry(
            settings, db, inbox.url_resolved(), entry, workspace=settings.default_workspace
        )
        if registered is not None:
            # The stored (sanitised) name, so sensor and CLI runs of a source carry the same tag value.
            names[registered.source_id] = source_name(db, registered.source_id)
            context.log.info(f"inbox file {entry.name!r} → source {registered.source_id}")
    return _result(names, cursor or context.cursor, "no new files in the inbox")


@dg.sensor(
    job=process_source_job,
    minimum_interval_seconds=5,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Every 5 s: sources registered through `cliply ingest` (files and URL imports) each get "
    "one process_source run (at most 50 per tick).",
)
def registered_sources_sensor(
    context: dg.SensorEvaluationContext, database: DatabaseResource
) -> dg.SensorResult | dg.SkipReason:
    after = json.loads(context.cursor) if context.cursor else None
    with database.get().session() as session:
        rows = sources_with_status(session, "registered", limit=MAX_SOURCES_PER_TICK, after=after)
        batch = [(r.id, r.created_at.isoformat(), r.original_name) for r in rows]
    cursor = json.dumps([batch[-1][1], batch[-1][0]]) if batch else context.cursor
    return _result({sid: name for sid, _, name in batch}, cursor, "no newly registered sources")


MEDIA_SENSORS = [inbox_sensor, registered_sources_sensor]

defs = dg.Definitions(sensors=MEDIA_SENSORS)
