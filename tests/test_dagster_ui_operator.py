"""What an operator sees in the Dagster UI, read through the webserver's GraphQL API against a real instance: one
accepted upload, one refused upload (both dropped in the inbox, registered by the sensor, run like `cliply process`
runs them) and one publish run."""

from __future__ import annotations

import base64
import gc
import io
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import WorkspaceFileTarget
from dagster_webserver.app import create_app_from_workspace_process_context
from PIL import Image
from starlette.testclient import TestClient

from cliply.security.vault import generate_key
from cliply.settings import Settings
from cliply_assets.labels import REFUSED_TAG, SOURCE_NAME_TAG
from cliply_assets.publishing import POSTS_START_DATE
from cliply_dagster.definitions import defs
from cliply_dagster.runner import materialize_source_sync, publish_platform_sync
from cliply_resources import DatabaseResource, InboxResource
from cliply_sensors.media import inbox_sensor
from tests.fixtures.media import REPO
from tests.helpers import pipeline_settings, settings_env

GOOD_NAME = "Quarterly talk (final).mp4"
BAD_NAME = "holiday photos.mp4"


@dataclass
class Operator:
    webserver: TestClient  # the dagster-webserver app, as `make dev` serves it, over this test's instance
    good: str  # source ids
    bad: str
    publish_run_id: str

    def query(self, query: str, **variables: Any) -> dict[str, Any]:
        reply = self.webserver.post("/graphql", json={"query": query, "variables": variables})
        body = reply.json()
        assert reply.status_code == 200 and not body.get("errors"), body
        return body["data"]  # type: ignore[no-any-return]


def _drop(inbox: Path, name: str, src: Path | None = None) -> None:
    target = inbox / name
    if src is None:
        target.write_text("these are not the frames you are looking for")
    else:
        target.write_bytes(src.read_bytes())
    past = time.time() - 10  # settled: older than the inbox's min age
    os.utime(target, (past, past))


def _register_drops(settings: Settings, instance: dg.DagsterInstance) -> dict[str, str]:
    """One sensor tick: the inbox files become sources; file name → source id."""
    resources = {
        "inbox": InboxResource(url=settings.resolved_inbox_url, min_age_s=1.0),
        "database": DatabaseResource(url=settings.resolved_database_url),
    }
    with dg.build_sensor_context(instance=instance, definitions=defs(), resources=resources) as ctx:
        result = inbox_sensor(ctx)
    return {r.tags[SOURCE_NAME_TAG]: str(r.partition_key) for r in result.run_requests}


@pytest.fixture(scope="module")
def operator(talk_video: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Operator]:
    settings = pipeline_settings(tmp_path_factory.mktemp("ui") / "home", max_clips=1)
    # An instance an earlier test left unclosed resets Dagster's current defs-state storage when it is collected;
    # collect it now, before this module's instance becomes the current one.
    gc.collect()
    with pytest.MonkeyPatch.context() as mp, dg.instance_for_test() as instance:
        for key, value in {
            **settings_env(settings),
            "CLIPLY_TOKEN_KEYS": f"k1:{generate_key()}",
            "CLIPLY_PUBLISH_LINGER_S": "-1",
        }.items():
            mp.setenv(key, value)
        inbox = Path(settings.resolved_inbox_url)
        inbox.mkdir(parents=True)
        _drop(inbox, GOOD_NAME, talk_video)
        _drop(inbox, BAD_NAME)
        ids = _register_drops(settings, instance)
        for source_id in ids.values():
            materialize_source_sync(source_id, instance, log_level="WARNING")
        published = publish_platform_sync("x", instance)
        workspace = WorkspaceFileTarget(paths=[str(REPO / "workspace.yaml")])
        with (
            WorkspaceProcessContext(instance, workspace) as process,
            TestClient(create_app_from_workspace_process_context(process)) as webserver,
        ):
            yield Operator(webserver, ids[GOOD_NAME], ids[BAD_NAME], published.run_id)


RUNS = """{ runsOrError { ... on Runs { results { runId jobName status tags { key value } } } } }"""


def test_run_list_names_the_file_and_the_job(operator: Operator) -> None:
    runs = operator.query(RUNS)["runsOrError"]["results"]
    by_source = {}
    for run in runs:
        tags = {t["key"]: t["value"] for t in run["tags"]}
        if run["jobName"] == "process_source":
            by_source[tags["dagster/partition"]] = (run["status"], tags[SOURCE_NAME_TAG])
    assert by_source == {operator.good: ("SUCCESS", GOOD_NAME), operator.bad: ("FAILURE", BAD_NAME)}
    refused = {t["value"] for r in runs for t in r["tags"] if t["key"] == REFUSED_TAG}
    assert refused == {"not_a_video"}, "only the refused upload's run says so"
    publish = next(r for r in runs if r["runId"] == operator.publish_run_id)
    assert (publish["jobName"], publish["status"]) == ("publish_posts", "SUCCESS")
    assert not any(r["jobName"].startswith("__") for r in runs), "no run may show as Dagster's ephemeral asset job"


PARTITIONS = """query($path: [String!]!) { assetNodeOrError(assetKey: {path: $path}) { ... on AssetNode {
  assetPartitionStatuses { ... on DefaultPartitionStatuses { materializedPartitions failedPartitions } } } } }"""


def _statuses(operator: Operator, asset: str) -> tuple[list[str], list[str]]:
    node = operator.query(PARTITIONS, path=[asset])["assetNodeOrError"]["assetPartitionStatuses"]
    return node["materializedPartitions"], node["failedPartitions"]


def test_refused_upload_reads_failed_and_nothing_downstream_runs(operator: Operator) -> None:
    materialized, failed = _statuses(operator, "sources")
    assert operator.bad in failed and operator.bad not in materialized
    assert operator.good in materialized and operator.good not in failed
    for downstream in ("transcripts", "highlights", "clips", "thumbnails"):
        # Never materialised; Dagster reads the planned partitions of a failed run as failed too.
        materialized, failed = _statuses(operator, downstream)
        assert operator.bad not in materialized and operator.bad in failed, downstream
        assert operator.good in materialized, downstream


STEP_EVENTS = """query($runId: ID!) { logsForRun(runId: $runId) { ... on EventConnection { events {
  __typename ... on ExecutionStepStartEvent { stepKey }
  ... on ExecutionStepFailureEvent { stepKey error { message } failureMetadata { metadataEntries {
    label ... on TextMetadataEntry { text } } } } } } } }"""


def test_refusal_reason_is_the_failure_headline_with_metadata(operator: Operator) -> None:
    [run] = [
        r
        for r in operator.query(RUNS)["runsOrError"]["results"]
        if r["status"] == "FAILURE" and r["jobName"] == "process_source"
    ]
    events = operator.query(STEP_EVENTS, runId=run["runId"])["logsForRun"]["events"]
    assert [e["stepKey"] for e in events if e["__typename"] == "ExecutionStepStartEvent"] == ["sources"]
    [failure] = [e for e in events if e["__typename"] == "ExecutionStepFailureEvent"]
    assert failure["stepKey"] == "sources"
    headline = failure["error"]["message"]
    assert f"{BAD_NAME} refused (not_a_video)" in headline and "Traceback" not in headline
    meta = {m["label"]: m.get("text") for m in failure["failureMetadata"]["metadataEntries"]}
    assert meta["source_name"] == BAD_NAME and meta["reject_code"] == "not_a_video"
    assert meta["source_id"] == operator.bad and meta["reason"]


CHECKS = """query($path: [String!]!) { assetNodeOrError(assetKey: {path: $path}) { ... on AssetNode {
  assetChecksOrError { ... on AssetChecks { checks { name partitionDefinition { name }
    partitionStatuses { ... on AssetCheckDefaultPartitionStatuses { succeededPartitions failedPartitions } } }
  } } } } }"""
CHECK_EXECUTIONS = """query($path: [String!]!, $name: String!) {
  assetCheckExecutions(assetKey: {path: $path}, checkName: $name, limit: 10) {
    partition status evaluation { description metadataEntries { label ... on TextMetadataEntry { text } } } } }"""


def test_check_results_are_per_source_partition(operator: Operator) -> None:
    [check] = operator.query(CHECKS, path=["sources"])["assetNodeOrError"]["assetChecksOrError"]["checks"]
    assert check["name"] == "source_readable_within_limits" and check["partitionDefinition"]["name"] == "sources"
    assert check["partitionStatuses"]["succeededPartitions"] == [operator.good]
    assert check["partitionStatuses"]["failedPartitions"] == [operator.bad]
    executions = operator.query(CHECK_EXECUTIONS, path=["sources"], name=check["name"])["assetCheckExecutions"]
    by_partition = {e["partition"]: e for e in executions}
    assert by_partition[operator.bad]["status"] == "FAILED"
    assert BAD_NAME in by_partition[operator.bad]["evaluation"]["description"]
    good = {m["label"]: m.get("text") for m in by_partition[operator.good]["evaluation"]["metadataEntries"]}
    assert good["source_name"] == GOOD_NAME
    [clips_check] = operator.query(CHECKS, path=["clips"])["assetNodeOrError"]["assetChecksOrError"]["checks"]
    assert clips_check["partitionStatuses"]["succeededPartitions"] == [operator.good]


LATEST = """query($path: [String!]!) { assetOrError(assetKey: {path: $path}) { ... on Asset {
  assetMaterializations(limit: 1) { partition metadataEntries { __typename label
    ... on TableMetadataEntry { table { records schema { columns { name } } } }
    ... on UrlMetadataEntry { url } ... on MarkdownMetadataEntry { mdStr } ... on TextMetadataEntry { text }
    ... on IntMetadataEntry { intValue } } } } } }"""


def _latest(operator: Operator, asset: str) -> dict[str, dict[str, Any]]:
    [mat] = operator.query(LATEST, path=[asset])["assetOrError"]["assetMaterializations"]
    assert mat["partition"] == operator.good
    return {e["label"]: e for e in mat["metadataEntries"]}


def test_tables_links_and_previews_render_without_show_markdown(operator: Operator) -> None:
    sources = _latest(operator, "sources")
    assert sources["source_name"]["text"] == GOOD_NAME
    assert sources["uri"]["__typename"] == "UrlMetadataEntry" and sources["uri"]["url"].startswith("file://")
    highlights = _latest(operator, "highlights")["highlights"]
    assert highlights["__typename"] == "TableMetadataEntry" and highlights["table"]["records"]
    clips = _latest(operator, "clips")
    table = clips["clips"]["table"]
    assert clips["clips"]["__typename"] == "TableMetadataEntry"
    assert len(table["records"]) == clips["num_clips"]["intValue"] >= 1
    assert {"clip", "rank", "score", "path"} <= {c["name"] for c in table["schema"]["columns"]}
    assert clips["clip_1"]["__typename"] == "UrlMetadataEntry"
    previews = [e for label, e in _latest(operator, "thumbnails").items() if label.startswith("preview ")]
    assert previews and all(e["__typename"] == "MarkdownMetadataEntry" for e in previews)
    for entry in previews:
        md = entry["mdStr"]
        assert len(md) < 1000, "the asset page shows markdown inline only under 1,000 characters"
        jpeg = base64.b64decode(md.split("base64,", 1)[1].rstrip(")"))
        assert Image.open(io.BytesIO(jpeg)).width <= 96


LINEAGE = """{ assetNodes { assetKey { path } dependencyKeys { path } } }"""
POSTS_DAYS = """{ assetNodeOrError(assetKey: {path: ["posts"]}) { ... on AssetNode {
  partitionKeysByDimension { name partitionKeys } } } }"""


def test_posts_follow_clips_and_start_at_a_recent_day(operator: Operator) -> None:
    deps = {
        tuple(n["assetKey"]["path"]): [tuple(d["path"]) for d in n["dependencyKeys"]]
        for n in operator.query(LINEAGE)["assetNodes"]
    }
    assert deps[("posts",)] == [("clips",)]
    dims = {
        d["name"]: d["partitionKeys"]
        for d in operator.query(POSTS_DAYS)["assetNodeOrError"]["partitionKeysByDimension"]
    }
    assert dims["day"][0] == POSTS_START_DATE and len(dims["platform"]) == 9
