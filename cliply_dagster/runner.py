"""Synchronous materialisation for the CLI: the same job and asset code the sensor's runs use."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg

from cliply.settings import Settings, export_dagster_home
from cliply_assets.media import SOURCES_PARTITIONS, process_source_job

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
        tags={"cliply/source": source_id},
        run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
    )
