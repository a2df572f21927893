"""Experiments in Dagster: the arm chart (running, winner, no data), the sandbox's lift knob, the code location
(assets, partitions, sensor, schedule), the experiments sensor (a partition per experiment, runs only for running
experiments with new metrics or once an hour) and in-process materialisations of `experiments` (arm table, chart)
and `scoring_weights` (skips with its reason when too few clips have a metric)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.storage.defs_state.base import set_defs_state_storage
from PIL import Image
from sqlalchemy import select

from cliply import wiring
from cliply.experiments import service
from cliply.experiments.charts import arm_chart, arm_figure
from cliply.platforms import make_client
from cliply.platforms.base import PlatformConfig
from cliply.sandbox import growth
from cliply.sandbox.state import SandboxState
from cliply.security.vault import KeyRing, TokenVault, generate_key
from cliply.storage.media_store import LocalMediaStore
from cliply.store.accounts import AccountsRepo
from cliply.store.db import Database
from cliply.store.models_experiments import Experiment
from cliply.store.repo import WorkspaceScope, get_or_create_workspace
from cliply_assets.analytics import post_metrics
from cliply_assets.experiments import arm_table, experiments, scoring_weights
from cliply_dagster.definitions import defs
from cliply_resources import DatabaseResource, default_resources
from cliply_resources.analytics import AnalyticsResource, analytics_resources
from cliply_sensors.experiments import HOURLY_S, experiments_sensor, scoring_weights_schedule
from tests.fixtures.sandbox import RunningSandbox
from tests.helpers import pipeline_settings, seed_rendered_clips, settings_env

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _arm(name: str, mean: float | None, p_best: float | None, posts: int = 3) -> dict[str, object]:
    spread = None if mean is None else 0.3
    return {
        "name": name,
        "variant": f"caption {name}",
        "posts": posts,
        "measured": posts if mean is not None else 0,
        "mean": mean,
        "low": None if mean is None else mean - spread,  # type: ignore[operator]
        "high": None if mean is None else mean + spread,  # type: ignore[operator]
        "p_best": p_best,
        "expected_loss": None if mean is None else 0.01,
    }


def _experiment(status: str, winner: str | None, arms: list[dict[str, object]], reason: str) -> dict[str, object]:
    return {
        "id": "exp1",
        "name": "Caption test",
        "metric": "views@24h",
        "status": status,
        "arms": arms,
        "decision": {"status": status, "winner": winner, "reason": reason},
    }


CASES = {
    "running": _experiment("running", None, [_arm("A", 0.1, 0.4), _arm("B", 0.3, 0.6)], "B: P(best) 0.60 < 0.95"),
    "winner": _experiment(
        "winner", "B", [_arm("A", 0.1, 0.02), _arm("B", 1.9, 0.98)], "B: P(best) 0.98 >= 0.95 and loss 0.1 % < 1 %"
    ),
    "no_data": _experiment("running", None, [_arm("A", None, None, 0), _arm("B", None, None, 0)], "waiting for data"),
}


# ---- the chart ----------


@pytest.mark.parametrize("case", sorted(CASES))
def test_arm_chart_renders_a_small_png_with_the_decision_as_title(case: str) -> None:
    experiment = CASES[case]
    png = arm_chart(experiment)
    assert png.startswith(PNG_MAGIC) and len(png) < 80_000
    assert Image.open(io.BytesIO(png)).size == (700, 400)
    fig = arm_figure(experiment)
    [ax] = fig.axes
    title = ax.get_title()
    assert experiment["decision"]["status"] in title  # type: ignore[index]
    texts = [t.get_text() for t in ax.texts]
    if case == "no_data":
        assert texts.count("no data") == 2 and not ax.lines  # greyed labels, never a point at 0
        assert all("P(best) n/a" in t for t in texts if "P(best)" in t)
    else:
        assert "no data" not in texts
        assert any("P(best) 0.98" in t or "P(best) 0.60" in t for t in texts), texts
        assert any("3 posts" in t for t in texts)
    if case == "winner":
        assert "B wins" in title


def test_arm_chart_greys_only_the_arm_without_data() -> None:
    fig = arm_figure(_experiment("running", None, [_arm("A", 0.5, 1.0), _arm("B", None, None, 0)], "B has no posts"))
    [ax] = fig.axes
    labels = {t.get_text(): t.get_color() for t in ax.get_xticklabels()}
    assert labels["B"] == "#9e9e9e" and labels["A"] != "#9e9e9e"
    assert [t.get_text() for t in ax.texts].count("no data") == 1


def test_arm_table_reads_na_for_missing_values() -> None:
    table = arm_table(CASES["no_data"]["arms"])  # type: ignore[arg-type]
    assert table.splitlines()[0].startswith("| arm | variant | posts |")
    assert "| A | caption A | 0 | 0 | n/a | n/a | n/a | n/a |" in table


# ---- the sandbox lift knob ----------


def test_sandbox_lift_multiplies_the_reach_of_posts_whose_text_holds_the_marker() -> None:
    state = SandboxState()
    lifted = state.record_post("x", "acc", "t1", {"source_text": "Try this [LIFT]", "text": "Try this [LIFT]"})
    plain = state.record_post("x", "acc", "t2", {"text": "Try this"})
    nested = state.record_post("bluesky", "did", "b1", {"record": {"text": "nested [LIFT]"}})
    state.clock.advance(48 * 3600)
    before = {p.post_id: state.metrics(p)["views"] for p in (lifted, plain, nested)}
    assert before["t1"] == growth.counters("x", "t1", state.age_s(lifted))["views"]  # no knob: the usual numbers
    state.lifts = {"[LIFT]": 8.0}
    after = {p.post_id: state.metrics(p)["views"] for p in (lifted, plain, nested)}
    assert after["t2"] == before["t2"]
    for post in ("t1", "b1"):
        assert 6.0 * before[post] < after[post] < 8.5 * before[post], (post, before, after)
    # The spread override: with sigma 0 every post's reach is the platform median (times its lift).
    state.lifts, state.post_spread = {}, 0.0
    reach = growth.curve("x", "t2", 0.0, 1.0).reach
    assert reach == growth.MEDIAN_VIEWS["x"]
    state.reset()
    assert state.lifts == {} and state.post_spread is None


# ---- the code location ----------


def test_definitions_load_with_the_experiment_assets_sensor_and_schedule() -> None:
    with dg.instance_for_test():
        definitions = defs()
        dg.Definitions.validate_loadable(definitions)
        repo = definitions.get_repository_def()
        graph = repo.asset_graph
        for key, partitions in ((experiments.key, "experiments"), (scoring_weights.key, "workspaces")):
            node = graph.get(key)
            assert node.group_name == "experiments" and node.owners and node.kinds and node.description
            assert isinstance(node.partitions_def, dg.DynamicPartitionsDefinition)
            assert node.partitions_def.name == partitions
        assert post_metrics.key in graph.get(experiments.key).parent_keys
        assert "experiments_sensor" in {s.name for s in repo.sensor_defs}
        assert "scoring_weights_schedule" in {s.name for s in repo.schedule_defs}


# ---- the sensor (experiment rows as the service stores them) ----------


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    settings = pipeline_settings(tmp_path / "home")
    for key, value in settings_env(settings).items():
        monkeypatch.setenv(key, value)
    database = Database(settings.resolved_database_url)
    database.migrate()
    yield database
    database.dispose()


def _add_experiment(db: Database, eid: str, status: str) -> None:
    with db.session() as s:
        ws = get_or_create_workspace(s, "default")
        s.add(
            Experiment(
                id=eid,
                workspace_id=ws.id,
                clip_id="c1",
                kind="caption",
                metric="views",
                metric_age_s=86400.0,
                rule={},
                seed=1,
                status=status,
                started_at=datetime.now(UTC),
            )
        )


@dataclass
class Tick:
    requests: list[dg.RunRequest]
    added: list[str]  # partition keys added
    cursor: str | None
    skipped: bool

    def keys(self) -> list[str]:
        return sorted(str(r.partition_key) for r in self.requests)


def _tick(db: Database, instance: dg.DagsterInstance, cursor: str | None) -> Tick:
    with dg.build_sensor_context(
        instance=instance,
        cursor=cursor,
        definitions=defs(),
        resources={"database": DatabaseResource(url=str(db.url)), "analytics": AnalyticsResource()},
    ) as ctx:
        result = experiments_sensor(ctx)
    assert isinstance(result, dg.SensorResult)
    added = [
        k
        for req in result.dynamic_partitions_requests or []
        if isinstance(req, dg.AddDynamicPartitionsRequest)
        for k in req.partition_keys
    ]
    return Tick(list(result.run_requests or []), added, result.cursor, result.skip_reason is not None)


def _metrics_landed(instance: dg.DagsterInstance, snapshots: int) -> None:
    instance.report_runless_asset_event(
        dg.AssetMaterialization(asset_key=post_metrics.key, metadata={"snapshots": snapshots})
    )


def test_sensor_adds_partitions_and_requests_runs_only_for_running_experiments_with_new_metrics(db: Database) -> None:
    for eid, status in (("e-run-1", "running"), ("e-run-2", "running"), ("e-won", "winner")):
        _add_experiment(db, eid, status)
    with dg.instance_for_test() as instance:
        first = _tick(db, instance, None)
        assert sorted(first.added) == ["e-run-1", "e-run-2", "e-won"]
        # First sight of a running experiment: evaluated once; the decided one never.
        assert first.keys() == ["e-run-1", "e-run-2"]
        instance.add_dynamic_partitions("experiments", first.added)

        quiet = _tick(db, instance, first.cursor)
        assert quiet.requests == [] and quiet.added == [] and quiet.skipped

        _metrics_landed(instance, 0)  # a refresh that appended nothing: no evaluation
        nothing = _tick(db, instance, quiet.cursor)
        assert nothing.requests == []

        _metrics_landed(instance, 4)
        landed = _tick(db, instance, nothing.cursor)
        assert landed.keys() == ["e-run-1", "e-run-2"]
        assert all(r.tags["cliply/why"] == "metrics" for r in landed.requests)
        keys = {r.run_key for r in landed.requests}
        assert len(keys) == 2 and not keys & {r.run_key for r in first.requests}
        assert _tick(db, instance, landed.cursor).requests == []

        # A new experiment: its partition and its first run in one tick. An hour later the others run again.
        _add_experiment(db, "e-new", "running")
        fresh = _tick(db, instance, landed.cursor)
        assert fresh.added == ["e-new"] and fresh.keys() == ["e-new"]
        instance.add_dynamic_partitions("experiments", ["e-new"])
        state = json.loads(fresh.cursor or "{}")
        state["at"] = {k: v - HOURLY_S for k, v in state["at"].items()}
        hourly = _tick(db, instance, json.dumps(state))
        assert hourly.keys() == ["e-new", "e-run-1", "e-run-2"]
        assert all(r.tags["cliply/why"] == "hourly" for r in hourly.requests)


def test_scoring_schedule_adds_workspace_partitions_and_one_run_each(db: Database) -> None:
    with db.session() as s:
        ids = sorted(str(get_or_create_workspace(s, name).id) for name in ("alpha", "beta"))
    tick = datetime(2026, 12, 2, 4, 30, tzinfo=UTC)
    with dg.instance_for_test() as instance:
        with dg.build_schedule_context(
            instance=instance,
            scheduled_execution_time=tick,
            repository_def=defs().get_repository_def(),
            resources={"database": DatabaseResource(url=str(db.url)), "analytics": AnalyticsResource()},
        ) as ctx:
            requests = scoring_weights_schedule.evaluate_tick(ctx).run_requests or []
        assert set(ids) <= set(instance.get_dynamic_partitions("workspaces"))
        by_key = {r.partition_key: r.run_key for r in requests}
        assert set(ids) <= set(by_key) and by_key[ids[0]] == f"scoring:{ids[0]}:20261202"


# ---- materialisations against the sandbox ----------


@dataclass
class World:
    db: Database
    store: LocalMediaStore
    vault: TokenVault
    sandbox: RunningSandbox
    instance: dg.DagsterInstance
    workspace_id: int
    clip_ids: list[str]

    def connect(self, platform: str, account: str) -> int:
        client = make_client(platform, PlatformConfig.from_env(platform))
        try:
            creds = self.sandbox.connect(client, account_id=account)
        finally:
            client.close()
        with self.db.session() as s:
            scope = WorkspaceScope(s, get_or_create_workspace(s, "default"))
            return AccountsRepo(scope, self.vault).connect(platform, creds, account).id

    def app(self) -> wiring.Cliply:
        return wiring.cliply(db=self.db, media=self.store, vault=self.vault)

    def materialize(self, asset: dg.AssetsDefinition, partitions: str, key: str) -> dg.ExecuteInProcessResult:
        if not self.instance.has_dynamic_partition(partitions, key):
            self.instance.add_dynamic_partitions(partitions, [key])
        with set_defs_state_storage(None):
            return dg.materialize(
                [asset],
                partition_key=key,
                instance=self.instance,
                resources={**default_resources(), **analytics_resources()},
            )


@pytest.fixture
def world(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sandbox: RunningSandbox, small_clip: Path
) -> Iterator[World]:
    settings = pipeline_settings(tmp_path / "home")
    for key, value in settings_env(settings).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("CLIPLY_TOKEN_KEYS", f"k1:{generate_key()}")
    for key, value in sandbox.env("x").items():
        monkeypatch.setenv(key, value)
    db = Database(settings.resolved_database_url)
    db.migrate()
    store = LocalMediaStore(Path(settings.resolved_media_url))
    clip_ids, workspace_id = seed_rendered_clips(db, store, small_clip, 2)
    with dg.instance_for_test() as instance:
        yield World(db, store, TokenVault(KeyRing.from_env()), sandbox, instance, workspace_id, clip_ids)
    db.dispose()


def test_experiments_materialisation_shows_the_arm_table_decision_and_chart(world: World) -> None:
    account = world.connect("x", "x-exp")
    spec = service.ExperimentSpec(
        clip_id=world.clip_ids[0],
        kind="caption",
        variants=("First caption", "Second caption"),
        targets=(("x", account),),
        metric="views@24h",
        posts_per_arm=2,
        every="1h",
        rule={"min_posts": 2},
        seed=7,
        name="Caption test",
    )
    created = service.create_experiment(world.app(), "default", spec)
    result = world.materialize(experiments, "experiments", created["id"])
    assert result.success
    [mat] = result.asset_materializations_for_node("experiments")
    meta = {k: v.value for k, v in mat.metadata.items()}
    assert meta["status"] == "running" and meta["winner"] == "none" and meta["reason"], meta
    assert str(meta["arms"]).splitlines()[0].startswith("| arm | variant |")
    assert "| A | First caption |" in str(meta["arms"]) and "| B | Second caption |" in str(meta["arms"])
    assert str(meta["chart"]).startswith("![arms](data:image/png;base64,")
    assert isinstance(meta["rule"], dict) and "p_best" in meta["rule"]
    with world.db.session() as s:
        stored = s.scalar(select(Experiment).where(Experiment.id == created["id"]))
        assert stored is not None and stored.evaluated_at is not None  # the evaluation was stored


def test_scoring_weights_skips_with_a_reason_when_too_few_clips(world: World) -> None:
    result = world.materialize(scoring_weights, "workspaces", str(world.workspace_id))
    assert result.success
    [mat] = result.asset_materializations_for_node("scoring_weights")
    meta = {k: v.value for k, v in mat.metadata.items()}
    assert meta["version"] == "none" and meta["learned_from"] == 0, meta
    assert meta["skipped"] != "no" and len(str(meta["skipped"])) > 10, meta
    assert str(meta["weights"])  # the table of the weights in use (the defaults), or "no weights"
