"""Synchronous materialisation for the CLI: the same job and asset code the sensor's runs use."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import dagster as dg

from cliply.config import Settings
from cliply_assets.media import process_source_job
from cliply_assets.partitions import SOURCES_PARTITIONS

PROJECT_DAGSTER_YAML = Path(__file__).resolve().parent.parent / "dagster.yaml"


def get_instance(settings: Settings) -> dg.DagsterInstance:
    """$DAGSTER_HOME when set (shared with `dagster dev`), else an embedded SQLite instance under CLIPLY_HOME."""
    home = Path(os.environ.get("DAGSTER_HOME") or settings.home / "dagster").resolve()
    home.mkdir(parents=True, exist_ok=True)
    target = home / "dagster.yaml"
    if not target.exists() and PROJECT_DAGSTER_YAML.exists():
        shutil.copyfile(PROJECT_DAGSTER_YAML, target)
    os.environ["DAGSTER_HOME"] = str(home)
    return dg.DagsterInstance.get()


def materialize_source_sync(
    source_id: str, instance: dg.DagsterInstance, *, log_level: str = "INFO"
) -> dg.ExecuteInProcessResult:
    from cliply.definitions import defs

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
