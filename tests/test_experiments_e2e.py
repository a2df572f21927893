"""End to end with the REAL dagster-daemon: a caption experiment on one clip, created through the service, is
published slot by slot to the platform sandbox (over HTTP), its posts are tracked and their metrics fetched, and the
experiments sensor evaluates it until the arm whose caption truly reaches more is declared the winner.

The sandbox makes that truth: posts whose text holds LIFT reach 8× more (state.lifts), and the spread between posts
is small (state.post_spread), so a few posts per arm decide. Time passes without waiting, as in the analytics
end-to-end test: the sandbox clock moves on and Cliply's stored times of the tracked posts move back by as much.

On PostgreSQL (app + Dagster instance), the production backend: the publishing end-to-end test runs the daemon on
both backends, and the experiments' Dagster assets and sensor run on both in tests/test_experiments_dagster.py."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from cliply import wiring
from cliply.experiments import service
from cliply_assets.analytics import refresh_metrics_job
from cliply_assets.experiments import evaluate_experiment_job, experiments
from tests.test_analytics_e2e import Analytics
from tests.test_publishing_e2e import E2E, Daemon, backend, e2e  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

WAIT_S = 240
LIFT = "[lift]"
POSTS_PER_ARM = 3
# One step just past the metric's age: every post then has a snapshot on each side of it. A day, not an hour: by
# then each post's reach has (almost) saturated, so how fast it saturates (τ 2–16 h) adds little noise to the value.
AGE = timedelta(hours=25)


def _show(app: wiring.Cliply, experiment_id: str) -> dict[str, Any]:
    return service.show_experiment(app, "default", experiment_id)


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_daemon_runs_a_caption_experiment_until_the_lifted_arm_wins(e2e: E2E, tmp_path: Path) -> None:
    world, state = e2e.world, e2e.world.sandbox.state
    state.lifts, state.post_spread = {LIFT: 8.0}, 0.1
    # One YouTube channel: YouTube reports views (Bluesky does not) and takes the same caption twice (X refuses).
    # With no posts outside the experiment, the channel's baseline is the median of all six: one baseline for both
    # arms. (Two channels would each get an uneven mix of arms, and each mix's median would absorb part of the lift.)
    accounts = [("youtube", e2e.connect("youtube", "yt-exp-e2e"))]
    app = wiring.cliply(db=world.db, media=world.store, vault=world.vault)
    spec = service.ExperimentSpec(
        clip_id=world.clip_ids[0],
        kind="caption",
        variants=("The best moment of the talk", f"The best moment of the talk {LIFT}"),
        targets=tuple(accounts),
        metric="views@24h",
        posts_per_arm=POSTS_PER_ARM,
        every="1s",
        rule={"min_days": 0, "min_posts": POSTS_PER_ARM},
        seed=3,
        name="Lifted caption",
    )
    created = service.create_experiment(app, "default", spec)
    eid = created["id"]
    lifted = {a["name"] for a in created["arms"] if LIFT in str(a["variant"])}
    assert len(lifted) == 1 and len(created["assignment"]) == 2 * POSTS_PER_ARM, created

    daemon = Daemon(e2e, tmp_path / "daemon.log")
    analytics = Analytics(e2e, daemon)
    try:
        # Published → tracked → fetched once, and the experiment has its partition.
        expected = 2 * POSTS_PER_ARM
        daemon.wait(
            lambda: len(c := analytics.snapshot_counts()) == expected and all(v >= 1 for v in c.values()),
            WAIT_S,
            f"{expected} tracked posts with a first snapshot",
        )
        daemon.wait(
            lambda: world.instance.has_dynamic_partition("experiments", eid), WAIT_S, "the experiment's partition"
        )
        assert _show(app, eid)["status"] == "running"  # no post is a day old yet: nothing to decide on

        # A day passes: the second snapshot of every post lies past the metric's age.
        daemon.wait(lambda: not analytics.in_progress(refresh_metrics_job.name), WAIT_S, "refresh runs done")
        analytics.age(AGE)
        daemon.wait(
            lambda: all(v >= 2 for v in analytics.snapshot_counts().values()), WAIT_S, "a second snapshot of each post"
        )
        seen: list[dict[str, Any]] = []

        def decided_or_none() -> dict[str, Any] | None:
            seen[:] = [_show(app, eid)]
            return seen[0] if seen[0]["status"] != "running" else None

        try:
            decided = daemon.wait(decided_or_none, WAIT_S, "the experiments sensor's evaluation to decide")
        except pytest.fail.Exception:
            runs = world.instance.get_run_records(filters=dg.RunsFilter(job_name=evaluate_experiment_job.name))
            statuses = [(r.dagster_run.status.value, r.dagster_run.tags.get("cliply/why")) for r in runs]
            pytest.fail(f"undecided: {seen[0]['decision']} arms {seen[0]['arms']}; evaluation runs {statuses}")
        assert decided["status"] == "winner", decided
        assert decided["winner"] in lifted, decided
        by_arm = {a["name"]: a for a in decided["arms"]}
        assert all(a["measured"] == POSTS_PER_ARM for a in by_arm.values()), by_arm
        [loser] = set(by_arm) - lifted
        [winner] = lifted
        assert by_arm[winner]["mean"] > by_arm[loser]["mean"] and by_arm[winner]["p_best"] >= 0.95, by_arm

        # Dagster's record: the deciding run's materialisation (stored just after the decision) shows it and the
        # chart; every evaluation run was of this experiment's partition.
        def newest() -> dg.AssetMaterialization | None:
            made = world.instance.fetch_materializations(experiments.key, limit=1).records[0].asset_materialization
            return made if made is not None and made.metadata["status"].value == "winner" else None

        made = daemon.wait(newest, WAIT_S, "the deciding materialisation")
        assert made.partition == eid and made.metadata["winner"].value == winner
        runs = world.instance.get_run_records(filters=dg.RunsFilter(job_name=evaluate_experiment_job.name))
        assert runs and all(r.dagster_run.tags.get("dagster/partition") == eid for r in runs)
        assert str(made.metadata["chart"].value).startswith("![arms](data:image/png;base64,")
        posted = [p for p in state.posts_for() if LIFT in str(p.payload)]
        assert len(posted) == POSTS_PER_ARM, [p.payload for p in state.posts_for()]
    finally:
        daemon.stop()
