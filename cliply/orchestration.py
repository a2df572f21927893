"""The one adapter from the application to Dagster (the import rule's single exception, checked by a test).

`cliply process` materialises a source through the same job the sensors launch, `make demo` follows that run's
steps, and readiness asks whether the Dagster instance is reachable and its daemon alive. Dagster is imported
lazily: it is heavy and nothing else in cliply/ needs it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cliply.settings import Settings

# The daemon writes a heartbeat every 30 s; missing two in a row means it is not running.
DAEMON_HEARTBEAT_TOLERANCE_S = 90.0


@dataclass(frozen=True)
class RunOutcome:
    run_id: str
    success: bool
    failure: str  # the first failure's message, "" when the run succeeded


def materialize_source(settings: Settings, source_id: str, *, log_level: str = "INFO") -> RunOutcome:
    """Run the process_source job for one source now, in this process, on the configured Dagster instance."""
    from cliply_dagster.runner import get_instance, materialize_source_sync

    result = materialize_source_sync(source_id, get_instance(settings), log_level=log_level)
    failure = "" if result.success else next((str(e.message) for e in result.all_events if e.is_failure), "run failed")
    return RunOutcome(result.run_id, result.success, failure)


@contextmanager
def _instance(settings: Settings) -> Iterator[tuple[Any, str] | None]:
    """(instance, where) of $DAGSTER_HOME or the embedded instance under CLIPLY_HOME; None when neither exists."""
    import dagster as dg

    if settings.dagster_home:
        instance, where = dg.DagsterInstance.get(), str(settings.dagster_home)
    else:
        embedded = settings.resolved_dagster_home
        if not (embedded / "dagster.yaml").is_file():
            yield None
            return
        instance, where = dg.DagsterInstance.from_config(str(embedded)), str(embedded)
    try:
        yield instance, where
    finally:
        instance.dispose()


NO_INSTANCE = "DAGSTER_HOME is not set and there is no embedded instance under CLIPLY_HOME"


def check_instance(settings: Settings) -> tuple[bool, str]:
    """(ok, detail): can the Dagster instance's run storage be read?"""
    with _instance(settings) as found:
        if found is None:
            return False, NO_INSTANCE
        instance, where = found
        instance.get_run_records(limit=1)  # touches run storage: proves it is reachable
        return True, f"instance at {where}"


def check_daemon(settings: Settings, *, now: float | None = None) -> tuple[bool, str]:
    """(ok, detail): has every daemon the instance needs (sensors, queued runs, …) sent a recent heartbeat?
    Scheduled posts are published by runs the daemon's sensors launch, so without it nothing goes out."""
    with _instance(settings) as found:
        if found is None:
            return False, f"daemon not running ({NO_INSTANCE})"
        instance, _where = found
        required = list(instance.get_required_daemon_types())
        beats = instance.get_daemon_heartbeats()
    if not required:
        return False, "daemon not running (the instance is ephemeral: it runs no daemon)"
    cutoff = (time.time() if now is None else now) - DAEMON_HEARTBEAT_TOLERANCE_S
    stale = sorted(t for t in required if t not in beats or beats[t].timestamp < cutoff)
    if stale:
        return (
            False,
            f"daemon not running (no heartbeat in {DAEMON_HEARTBEAT_TOLERANCE_S:.0f} s from "
            f"{', '.join(stale)}); start it with `make dev` or `dagster-daemon run`",
        )
    return True, f"daemon running ({len(required)} daemons alive)"


@dataclass(frozen=True)
class StepEvent:
    step: str  # the step key: the asset's name (sources, transcripts, …)
    kind: str  # "start", "success", "failure" or "skipped"
    timestamp: float


_STEP_KINDS = {"STEP_START": "start", "STEP_SUCCESS": "success", "STEP_FAILURE": "failure", "STEP_SKIPPED": "skipped"}


@contextmanager
def following_source_run(
    settings: Settings, on_step: Callable[[StepEvent], None], *, poll_s: float = 0.5
) -> Iterator[None]:
    """While the block runs (e.g. `cliply process` in a subprocess), call `on_step` from a polling thread for each
    step event of the first process_source run created after the block began, read from the instance's event log.
    The run's own logs stay in that event log; nothing is printed."""
    started = datetime.now(UTC)
    stop = threading.Event()
    thread = threading.Thread(
        target=_follow, args=(settings, started, on_step, stop, poll_s), name="cliply-run-follower", daemon=True
    )
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=30)


def _follow(
    settings: Settings, since: datetime, on_step: Callable[[StepEvent], None], stop: threading.Event, poll_s: float
) -> None:
    import dagster as dg

    from cliply_assets.media import process_source_job
    from cliply_dagster.runner import get_instance

    kinds = {dg.DagsterEventType(k) for k in _STEP_KINDS}
    run_id, cursor = None, None
    with get_instance(settings) as instance:
        while True:
            last = stop.is_set()  # one more read after the block ends: the final events are never missed
            if run_id is None:
                runs = instance.get_run_records(
                    dg.RunsFilter(job_name=process_source_job.name, created_after=since), limit=1, ascending=True
                )
                run_id = runs[0].dagster_run.run_id if runs else None
            if run_id is not None:
                page = instance.get_records_for_run(run_id, cursor=cursor, of_type=kinds)
                cursor = page.cursor
                for record in page.records:
                    _emit(record.event_log_entry, on_step)
            if last:
                return
            stop.wait(poll_s)


def _emit(entry: Any, on_step: Callable[[StepEvent], None]) -> None:
    kind = entry.dagster_event_type
    if kind is not None:
        on_step(StepEvent(entry.step_key or "", _STEP_KINDS[kind.value], entry.timestamp))
