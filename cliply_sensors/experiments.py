"""Experiment sensor and scoring schedule: every experiment gets a partition; a running experiment is re-evaluated
when new post_metrics snapshots landed since it was last requested, or hourly anyway (so max-days decisions
happen); every workspace gets its scoring weights refitted daily. Bounded work per tick, run keys dedupe."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import dagster as dg

from cliply import wiring
from cliply.experiments import scoring, service
from cliply_assets.analytics import post_metrics
from cliply_assets.experiments import (
    EXPERIMENTS_PARTITIONS,
    WORKSPACES_PARTITIONS,
    evaluate_experiment_job,
    experiments_partitions,
    fit_scoring_weights_job,
)
from cliply_resources import DatabaseResource
from cliply_resources.analytics import AnalyticsResource
from cliply_sensors.analytics import MATERIALIZATIONS_PER_TICK, _snapshots

EXPERIMENTS_INTERVAL_S = 30
HOURLY_S = 3600.0
RUNS_PER_TICK = 50  # experiments requested per tick; the stalest go first, the rest on the next ticks
PARTITIONS_PER_TICK = 200  # partitions added per tick (SQLite caps the variables of one statement)


def _app(database: DatabaseResource, analytics: AnalyticsResource) -> wiring.Cliply:
    return wiring.cliply(analytics.settings(), db=database.get())


def _load(cursor: str | None) -> dict[str, Any]:
    """{"after": newest post_metrics storage id read, "metrics": newest one that appended snapshots,
    "seen": {experiment: the "metrics" id of its last request}, "at": {experiment: its last request's time}}."""
    state = json.loads(cursor) if cursor else {}
    return {
        "after": state.get("after"),
        "metrics": state.get("metrics", 0),
        **{k: state.get(k, {}) for k in ("seen", "at")},
    }


def _new_metrics(context: dg.SensorEvaluationContext, state: dict[str, Any]) -> None:
    """Move the cursor over post_metrics materialisations since the last tick; remember the newest with snapshots."""
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=post_metrics.key, after_storage_id=state["after"]),
        limit=MATERIALIZATIONS_PER_TICK,
        ascending=True,
    ).records
    if records:
        state["after"] = max(r.storage_id for r in records)
        landed = [r.storage_id for r in records if _snapshots(r)]
        if landed:
            state["metrics"] = max(landed)


def due_experiments(state: dict[str, Any], running: list[str], now: float) -> list[tuple[str, str]]:
    """(experiment, why) of the running experiments to evaluate now, the least recently requested first."""
    due = []
    for eid in running:
        if state["seen"].get(eid, -1) < state["metrics"]:
            due.append((eid, "metrics"))
        elif now - state["at"].get(eid, 0.0) >= HOURLY_S:
            due.append((eid, "hourly"))
    due.sort(key=lambda d: state["at"].get(d[0], 0.0))
    return due[:RUNS_PER_TICK]


@dg.sensor(
    job=evaluate_experiment_job,
    minimum_interval_seconds=EXPERIMENTS_INTERVAL_S,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Every 30 s: adds an `experiments` partition per new experiment, and requests one evaluation run per "
    "running experiment when post_metrics appended snapshots since its last run, or hourly anyway (so max-days "
    f"decisions happen). At most {RUNS_PER_TICK} runs per tick, the stalest first; run keys dedupe.",
)
def experiments_sensor(
    context: dg.SensorEvaluationContext, database: DatabaseResource, analytics: AnalyticsResource
) -> dg.SensorResult:
    app = _app(database, analytics)
    known = set(context.instance.get_dynamic_partitions(EXPERIMENTS_PARTITIONS))
    new = [eid for eid in service.experiment_ids(app) if eid not in known][:PARTITIONS_PER_TICK]
    running = [eid for eid in service.experiment_ids(app, running_only=True) if eid in known or eid in new]
    state = _load(context.cursor)
    _new_metrics(context, state)
    now = datetime.now(UTC).timestamp()
    requests = []
    for eid, why in due_experiments(state, running, now):
        key = state["metrics"] if why == "metrics" else f"h{int(now // HOURLY_S)}"
        requests.append(dg.RunRequest(partition_key=eid, run_key=f"experiment:{eid}:{key}", tags={"cliply/why": why}))
        state["seen"][eid], state["at"][eid] = state["metrics"], now
    live = set(running)  # finished experiments leave the cursor: it stays as small as the running set
    state["seen"] = {k: v for k, v in state["seen"].items() if k in live}
    state["at"] = {k: v for k, v in state["at"].items() if k in live}
    adds = [experiments_partitions.build_add_request(new)] if new else []
    if not requests and not adds:
        return dg.SensorResult(skip_reason=dg.SkipReason("no new experiment and none due"), cursor=json.dumps(state))
    return dg.SensorResult(run_requests=requests, dynamic_partitions_requests=adds, cursor=json.dumps(state))


@dg.schedule(
    job=fit_scoring_weights_job,
    cron_schedule="30 4 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Daily: adds a `workspaces` partition per new workspace and requests one fit_scoring_weights run "
    "per workspace (each skips with its reason when learning is off or too few clips have a metric).",
)
def scoring_weights_schedule(
    context: dg.ScheduleEvaluationContext, database: DatabaseResource, analytics: AnalyticsResource
) -> list[dg.RunRequest]:
    now = context.scheduled_execution_time or datetime.now(UTC)
    ids = [str(w) for w in scoring.workspace_ids(_app(database, analytics))]
    known = set(context.instance.get_dynamic_partitions(WORKSPACES_PARTITIONS))
    new = [w for w in ids if w not in known]
    if new:  # a schedule cannot return partition requests: add them before the runs that need them
        context.instance.add_dynamic_partitions(WORKSPACES_PARTITIONS, new)
    return [dg.RunRequest(partition_key=w, run_key=f"scoring:{w}:{now:%Y%m%d}") for w in ids]


defs = dg.Definitions(sensors=[experiments_sensor], schedules=[scoring_weights_schedule])
