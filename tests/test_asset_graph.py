"""Snapshot of the code location as the Dagster UI shows it: assets (partitions, deps, checks, owners, kinds, group,
tags), jobs, schedules, sensors and resources. A change to any of them shows up as a diff in review.

After an intended change, regenerate the snapshot and commit it with the change:

    UPDATE_SNAPSHOTS=1 .venv/bin/pytest -q tests/test_asset_graph.py
"""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from cliply_dagster.definitions import defs

ROOT = Path(__file__).resolve().parent.parent
SNAPSHOT = ROOT / "tests" / "snapshots" / "asset_graph.json"
UPDATE_ENV = "UPDATE_SNAPSHOTS"  # tests may read the environment; the code under test may not


def _partitions(pd: dg.PartitionsDefinition | None) -> dict[str, Any] | None:
    if pd is None:
        return None
    if isinstance(pd, dg.DynamicPartitionsDefinition):
        return {"type": "dynamic", "name": pd.name}
    if isinstance(pd, dg.MultiPartitionsDefinition):
        return {"type": "multi", "dimensions": {d.name: _partitions(d.partitions_def) for d in pd.partitions_defs}}
    if isinstance(pd, dg.TimeWindowPartitionsDefinition):
        return {
            "type": "time_window",
            "cron": pd.cron_schedule,
            "start": pd.start.isoformat(),
            "timezone": pd.timezone,
            "fmt": pd.fmt,
            "end_offset": pd.end_offset,
        }
    if isinstance(pd, dg.StaticPartitionsDefinition):
        return {"type": "static", "keys": pd.get_partition_keys()}  # order is meaningful: keep it
    return {"type": type(pd).__name__, "text": str(pd)}


def _assets(repo: dg.RepositoryDefinition) -> dict[str, Any]:
    graph = repo.asset_graph
    out: dict[str, Any] = {}
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        checks = [graph.get_check_spec(ck) for ck in node.check_keys]
        out[key.to_user_string()] = {
            "partitions": _partitions(node.partitions_def),
            "deps": sorted(k.to_user_string() for k in node.parent_keys),
            "dep_partition_mappings": {
                k.to_user_string(): type(graph.get_partition_mapping(key, k)).__name__ for k in sorted(node.parent_keys)
            },
            "checks": sorted(
                ({"name": c.name, "blocking": c.blocking, "partitions": _partitions(c.partitions_def)} for c in checks),
                key=lambda c: c["name"],
            ),
            "owners": sorted(node.owners),
            "kinds": sorted(node.kinds),
            "group": node.group_name,
            "tags": {k: v for k, v in node.tags.items() if not k.startswith("dagster/kind/")},
        }
    return out


def _jobs(repo: dg.RepositoryDefinition) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for job in repo.get_all_jobs():
        if job.name.startswith("__"):  # Dagster's implicit asset job
            continue
        assets = sorted(k.to_user_string() for k in job.asset_layer.selected_asset_keys)
        selection = {"assets": assets} if assets else {"ops": sorted(n.name for n in job.graph.nodes)}
        out[job.name] = {**selection, "executor": job.executor_def.name, "tags": dict(job.tags)}
    return out


def _schedules(repo: dg.RepositoryDefinition) -> dict[str, Any]:
    return {
        s.name: {
            "cron": s.cron_schedule,
            "timezone": s.execution_timezone,
            "job": s.job_name,
            "default_status": s.default_status.value,
        }
        for s in repo.schedule_defs
    }


def _sensors(repo: dg.RepositoryDefinition) -> dict[str, Any]:
    return {
        s.name: {
            "type": s.sensor_type.value,
            "jobs": sorted(t.job_name for t in s.targets),
            "minimum_interval_s": s.minimum_interval_seconds,
            "default_status": s.default_status.value,
        }
        for s in repo.sensor_defs
    }


def _resources(definitions: dg.Definitions) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, resource in (definitions.resources or {}).items():
        fields = sorted(getattr(resource, "model_fields_set", ()))
        out[key] = {"class": type(resource).__name__, "config": {f: str(getattr(resource, f)) for f in fields}}
    return out


def render(definitions: dg.Definitions) -> str:
    """Deterministic JSON: sorted keys, no timestamps, no object reprs."""
    repo = definitions.get_repository_def()
    graph = {
        "assets": _assets(repo),
        "jobs": _jobs(repo),
        "schedules": _schedules(repo),
        "sensors": _sensors(repo),
        "resources": _resources(definitions),
    }
    return json.dumps(graph, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


@pytest.fixture
def rendered() -> Iterator[Callable[[], str]]:
    # Loading needs Dagster's current defs-state storage; an instance disposed by an earlier test can leave it
    # pointing nowhere, so each render happens inside a fresh test instance.
    with dg.instance_for_test():
        yield lambda: render(defs())


def test_rendering_is_stable(rendered: Callable[[], str]) -> None:
    assert rendered() == rendered()


def test_asset_graph_matches_snapshot(rendered: Callable[[], str]) -> None:
    actual = rendered()
    if os.environ.get(UPDATE_ENV) == "1":
        SNAPSHOT.parent.mkdir(parents=True, exist_ok=True)
        SNAPSHOT.write_text(actual)
    expected = SNAPSHOT.read_text() if SNAPSHOT.exists() else ""
    if actual != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True),
                actual.splitlines(keepends=True),
                fromfile=str(SNAPSHOT.relative_to(ROOT)),
                tofile="code location now",
            )
        )
        pytest.fail(
            f"The code location differs from its snapshot. If the change is intended, run\n"
            f"    {UPDATE_ENV}=1 .venv/bin/pytest -q tests/test_asset_graph.py\n"
            f"and commit {SNAPSHOT.name} with it.\n\n{diff}",
            pytrace=False,
        )
