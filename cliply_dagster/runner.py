"""Synchronous runs for the CLI and scripts: the same named jobs and asset code the sensors' runs use, so the run
list shows `process_source` / `publish_posts` rather than Dagster's ephemeral asset job."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg

from cliply import wiring
from cliply.settings import Settings, export_dagster_home
from cliply_assets.labels import source_name, source_run_tags
from cliply_assets.media import SOURCES_PARTITIONS, process_source_job
from cliply_assets.publishing import PLATFORM_TAG, posts_partition_key, publish_posts_job

PROJECT_DAGSTER_YAML = Path(__file__).resolve().parent.parent / "dagster.yaml"


def get_instance(settings: Settings) -> dg.DagsterInstance:
    """$DAGSTER_HOME when set (shared with `dagster dev`), else an embedded SQLite instance under CLIPLY_HOME."""
    home = settings.resolved_dagster_home
    home.mkdir(parents=True, exist_ok=True)
    target = home / "dagster.yaml"
    if not target.exists() and PROJECT_DAGSTER_YAML.exists():
        shutil.copyfile(PROJECT_DAGSTER_YAML, target)
    export_dagster_home(home)
    return dg.DagsterInstance.get()


def materialize_source_sync(
    source_id: str, instance: dg.DagsterInstance, *, log_level: str = "INFO"
) -> dg.ExecuteInProcessResult:
    from cliply_dagster.definitions import defs

    if not instance.has_dynamic_partition(SOURCES_PARTITIONS, source_id):
        instance.add_dynamic_partitions(SOURCES_PARTITIONS, [source_id])
    job = defs().resolve_job_def(process_source_job.name)
    # INFO keeps the stage progress lines (fetching, transcribing n%, clip i/n rendering n%) and drops step chatter.
    return job.execute_in_process(
        partition_key=source_id,
        instance=instance,
        raise_on_error=False,
        tags=source_run_tags(source_id, source_name(wiring.build_database(Settings.from_env()), source_id)),
        run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
    )


def publish_platform_sync(
    platform: str,
    instance: dg.DagsterInstance,
    *,
    run_config: dict[str, Any] | None = None,
    now: datetime | None = None,
    raise_on_error: bool = True,
) -> dg.ExecuteInProcessResult:
    """One publish_posts run for `platform` (today's day|platform partition), in this process."""
    from cliply_dagster.definitions import defs

    job = defs().resolve_job_def(publish_posts_job.name)
    return job.execute_in_process(
        partition_key=posts_partition_key(now or datetime.now(UTC), platform),
        instance=instance,
        raise_on_error=raise_on_error,
        tags={PLATFORM_TAG: platform},
        run_config=run_config,
    )
