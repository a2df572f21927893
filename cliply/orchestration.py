"""The one adapter from the application to Dagster (the import rule's single exception, checked by a test).

`cliply process` materialises a source through the same job the sensors launch, and readiness asks whether the
Dagster instance is reachable. Dagster is imported lazily: it is heavy and nothing else in cliply/ needs it."""

from __future__ import annotations

from dataclasses import dataclass

from cliply.settings import Settings


@dataclass(frozen=True)
class RunOutcome:
    run_id: str
    success: bool
    failure: str  # the first failure's message, "" when the run succeeded


def materialize_source(settings: Settings, source_id: str, *, log_level: str = "INFO") -> RunOutcome:
    """Run the process_source job for one source now, in this process, on the configured Dagster instance."""
    from cliply_dagster.runner import get_instance, materialize_source_sync

    result = materialize_source_sync(source_id, get_instance(settings), log_level=log_level)
    failure = "" if result.success else next((str(e.message) for e in result.all_events if e.is_failure),
                                             "run failed")
    return RunOutcome(result.run_id, result.success, failure)


def check_instance(settings: Settings) -> tuple[bool, str]:
    """(ok, detail): can the Dagster instance's run storage be read?"""
    import dagster as dg

    if settings.dagster_home:
        instance = dg.DagsterInstance.get()
        where = str(settings.dagster_home)
    else:
        embedded = settings.resolved_dagster_home
        if not (embedded / "dagster.yaml").is_file():
            return False, "DAGSTER_HOME is not set and there is no embedded instance under CLIPLY_HOME"
        instance = dg.DagsterInstance.from_config(str(embedded))
        where = str(embedded)
    try:
        instance.get_run_records(limit=1)  # touches run storage: proves it is reachable
        return True, f"instance at {where}"
    finally:
        instance.dispose()
