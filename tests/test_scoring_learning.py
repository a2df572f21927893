"""Learned clip scoring: the pure fit (planted signal found, no signal leaves the defaults, shrinkage, determinism),
the versioned weights of a workspace fitted from real rows and stored highlights (skips, versions, on/off, reset
with an audit entry, workspace isolation), and the highlights stage scoring a source with its workspace's active
weights and recording which ones."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from cliply import pipeline, wiring
from cliply.experiments import scoring
from cliply.experiments.learning import FEATURES, fit_weights, score
from cliply.media.highlights import WEIGHTS
from cliply.media.transcript_formats import to_json
from cliply.settings import Settings
from cliply.store.models_analytics import TrackedPost
from cliply.store.models_experiments import AuditEntry, ScoringWeights
from cliply.store.repo import WorkspaceScope, get_or_create_workspace
from tests.test_experiment_outcomes import T0, H, add_account, add_published, snap
from tests.test_highlights import random_talk
from tests.test_http import env_for

TOTAL = sum(WEIGHTS.values())
PLANTED = {"energy": 3.0, "hook": 2.0}  # log-views per unit of these features


def _planted(
    rng: np.random.Generator, n: int, effect: float, noise: float
) -> tuple[list[dict[str, float]], list[float]]:
    rows = [{k: float(v) for k, v in zip(FEATURES, rng.random(len(FEATURES)), strict=True)} for _ in range(n)]
    y = [sum(effect * PLANTED.get(k, 0.0) * r[k] for k in FEATURES) + rng.normal(0, noise) for r in rows]
    return rows, y


# --- the pure fit ---


def test_a_planted_preference_is_learned_and_ranks_better() -> None:
    rng = np.random.default_rng(1)
    rows, y = _planted(rng, 200, 1.0, 0.8)
    fit = fit_weights(rows, y, shrinkage=10)
    assert fit.n == 200
    assert sum(fit.weights.values()) == pytest.approx(TOTAL, abs=1e-5)
    assert all(w >= 0 for w in fit.weights.values())
    assert fit.weights["energy"] > WEIGHTS["energy"] + 0.05 and fit.weights["hook"] > WEIGHTS["hook"]
    assert fit.weights["energy"] > fit.weights["hook"] > fit.weights["richness"]
    assert fit.details["r"] > fit.details["r_default"]
    fresh, later = _planted(rng, 1000, 1.0, 0.8)
    learned = np.corrcoef([score(r, fit.weights) for r in fresh], later)[0, 1]
    default = np.corrcoef([score(r, WEIGHTS) for r in fresh], later)[0, 1]
    assert learned > default
    assert fit_weights(rows, y, shrinkage=10) == fit  # deterministic


@pytest.mark.parametrize("n", [20, 50, 200])
def test_without_a_signal_the_weights_stay_near_the_defaults(n: int) -> None:
    rows, y = _planted(np.random.default_rng(n), n, 0.0, 1.6)
    fit = fit_weights(rows, y, shrinkage=10)
    assert max(abs(fit.weights[k] - WEIGHTS[k]) for k in FEATURES) < 0.06
    assert sum(fit.weights.values()) == pytest.approx(TOTAL, abs=1e-5)


def test_shrinkage_pulls_toward_the_defaults() -> None:
    rows, y = _planted(np.random.default_rng(3), 40, 1.0, 0.5)
    loose, tight = fit_weights(rows, y, shrinkage=0), fit_weights(rows, y, shrinkage=10_000)
    assert tight.details["max_change"] < 0.01 < loose.details["max_change"]
    assert loose.details["fit_share"] == 1.0


def test_too_few_clips_or_no_varying_feature_give_the_defaults() -> None:
    assert fit_weights([], [], shrinkage=10).weights == pytest.approx(WEIGHTS)
    rows = [dict.fromkeys(FEATURES, 0.5) for _ in range(30)]
    assert fit_weights(rows, [float(i) for i in range(30)], shrinkage=0).weights == pytest.approx(WEIGHTS)
    with pytest.raises(ValueError, match="3 feature rows but 2 outcomes"):
        fit_weights(rows[:3], [1.0, 2.0], shrinkage=10)


def test_a_feature_missing_everywhere_keeps_its_default() -> None:
    rows, y = _planted(np.random.default_rng(4), 100, 1.0, 0.5)
    no_energy = [{k: v for k, v in r.items() if k != "energy"} for r in rows]
    fit = fit_weights(no_energy, y, shrinkage=10)
    assert "energy" not in fit.details["informative"]
    assert fit.weights["energy"] == pytest.approx(WEIGHTS["energy"])
    assert sum(fit.weights.values()) == pytest.approx(TOTAL, abs=1e-5)


# --- a workspace's versions, from rows and stored highlights ---


@dataclass
class World:
    app: wiring.Cliply
    env: dict[str, str]

    def ws(self, name: str) -> int:
        with self.app.db.session() as s:
            return get_or_create_workspace(s, name).id


def make_world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **extra: str) -> World:
    env = {**env_for(tmp_path), "CLIPLY_SCORING_MIN_CLIPS": "10", "CLIPLY_SCORING_SHRINKAGE": "5", **extra}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("CLIPLY_TOKEN_KEYS", raising=False)
    app = wiring.cliply(Settings.from_env())
    app.db.migrate()
    return World(app, env)


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    w = make_world(tmp_path, monkeypatch)
    yield w
    w.app.db.dispose()


def seed_published(w: World, ws_name: str, n_clips: int, *, seed: int = 0) -> int:
    """`n_clips` clips (5 per source) with stored highlight features, each posted to two of three accounts with a
    snapshot at 24 h whose views follow energy; every account has 5 older posts for its baseline. Returns the
    clips that have the metric (one extra clip's only post is too young)."""
    rng = np.random.default_rng(seed)
    with w.app.db.session() as s:
        scope = WorkspaceScope(s, get_or_create_workspace(s, ws_name))
        ws = scope.workspace_id
        accounts = [add_account(s, ws) for _ in range(3)]
        sizes = [100.0, 1000.0, 10_000.0]
        for acct, size in zip(accounts, sizes, strict=True):
            for i in range(5):
                tracked = TrackedPost(
                    workspace_id=ws,
                    platform="tiktok",
                    platform_post_id=f"hist-{ws}-{acct}-{i}",
                    account_id=acct,
                    origin="url",
                    published_at=T0 - (10 + i) * 24 * H,
                )
                s.add(tracked)
                s.flush()
                snap(s, tracked.id, tracked.published_at + 24 * H, views=int(size))
        for src in range((n_clips + 1 + 4) // 5):
            source = f"{ws_name}-src{src}"
            scope.add_source(source, "file", f"/in/{source}.mp4", f"{source}.mp4", status="ready")
            spans = [{"start_s": 20.0 * i, "end_s": 20.0 * i + 15.0, "text": f"clip {i}"} for i in range(5)]
            clips = scope.replace_clips(source, spans)
            highlights = []
            for clip in clips:
                features = {k: round(float(v), 4) for k, v in zip(FEATURES, rng.random(len(FEATURES)), strict=True)}
                highlights.append(
                    {"rank": clip.rank, "start": clip.start_s, "end": clip.end_s, "score": 50.0, "text": "",
                     "reasons": [], "features": features}
                )  # fmt: skip
                index = src * 5 + clip.rank - 1
                if index > n_clips:
                    continue
                published = T0 - 3 * 24 * H if index < n_clips else T0 + 12 * H  # the extra one is too young
                for a in rng.choice(3, 2, replace=False):
                    _, tp = add_published(s, ws, clip.id, accounts[a], published)
                    views = sizes[a] * math.exp(3.0 * (features["energy"] - 0.5) + rng.normal(0, 0.2))
                    snap(s, tp, published + 24 * H, views=int(views))
            w.app.media.put_bytes(pipeline.highlights_key(source), json.dumps(highlights).encode(), "application/json")
    return n_clips


NOW = T0 + 20 * H


def test_fit_skips_below_the_minimum_then_versions_and_switches(world: World) -> None:
    seed_published(world, "acme", 6)
    acme = world.ws("acme")
    skipped = scoring.fit_workspace(world.app, acme, now=NOW)
    assert skipped["skipped"] == "6 clips have views@24h; learning needs 10"
    seed_published(world, "globex", 30, seed=1)
    globex = world.ws("globex")
    first = scoring.fit_workspace(world.app, globex, now=NOW)
    assert first["version"] == 1 and first["learned_from"] == 30 and first["metric"] == "views@24h"
    assert first["weights"]["energy"] > WEIGHTS["energy"] + 0.05  # views follow energy
    assert sum(first["weights"].values()) == pytest.approx(TOTAL, abs=1e-5)
    assert first["details"]["r"] > first["details"]["r_default"]
    assert first["details"]["published_clips"] == 31
    with world.app.db.reading() as s:
        active = scoring.active_weights(s, globex)
        assert (active.version, active.learned_from) == (1, 30)
        assert active.weights == pytest.approx(first["weights"])
        assert scoring.active_weights(s, acme).json()["source"] == "default"  # isolation
    second = scoring.fit_workspace(world.app, globex, now=NOW)
    assert second["version"] == 2 and second["weights"] == first["weights"]  # same data, same fit
    status = scoring.scoring_status(world.app, "globex")
    assert [(v["version"], v["active"]) for v in status["versions"]] == [(2, True), (1, False)]
    assert status["active"]["version"] == 2 and status["learning"] is True
    assert scoring.scoring_status(world.app, "acme")["versions"] == []

    off = scoring.set_learning(world.app, "globex", False)
    assert off["learning"] is False and off["active"] == {**scoring.DEFAULT.json()}
    assert scoring.fit_workspace(world.app, globex, now=NOW)["skipped"] == "learning is off for this workspace"
    assert scoring.set_learning(world.app, "globex", True)["active"]["version"] == 2

    reset = scoring.reset_scoring(world.app, "globex")
    assert reset["active"]["source"] == "default" and not any(v["active"] for v in reset["versions"])
    with world.app.db.reading() as s:
        audit = s.scalars(select(AuditEntry).where(AuditEntry.workspace_id == globex)).all()
        assert [a.action for a in audit] == ["scoring.learning_off", "scoring.learning_on", "scoring.reset"]
        assert audit[-1].details == {"deactivated": [2]}
        assert s.scalars(select(AuditEntry).where(AuditEntry.workspace_id == acme)).all() == []
        assert len(s.scalars(select(ScoringWeights).where(ScoringWeights.workspace_id == acme)).all()) == 0
    assert scoring.fit_workspace(world.app, globex, now=NOW)["version"] == 3  # learning goes on from the data
    assert scoring.workspace_ids(world.app) == sorted([acme, globex])


def test_clips_without_stored_highlights_or_young_posts_do_not_count(world: World) -> None:
    seed_published(world, "acme", 17)
    world.app.media.delete(pipeline.highlights_key("acme-src0"))  # its 5 clips lose their features
    result = scoring.fit_workspace(world.app, world.ws("acme"), now=NOW)
    assert result["learned_from"] == 12 and result["details"]["published_clips"] == 18  # with posts: 17 + 1 young
    assert scoring.fit_workspace(world.app, world.ws("acme"), now=T0 - 60 * H)["skipped"].startswith("0 clips")


# --- the highlights stage ---


def _source_with_speech(w: World, ws_name: str, source: str, tmp_path: Path) -> pipeline.Services:
    talk = random_talk(7)
    wav = tmp_path / f"{source}.wav"
    rate = 16_000
    t = np.arange(int(talk.duration * rate)) / rate
    loud = 0.05 + 0.6 * (np.sin(t / 7.0) > 0.3)  # louder stretches, so energy varies between candidates
    with wave.open(str(wav), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes((loud * np.sin(2 * np.pi * 220 * t) * 32000).astype("<i2").tobytes())
    w.app.media.put_file(f"sources/{source}/{source}.wav", wav, "audio/wav")
    w.app.media.put_bytes(pipeline.transcript_keys(source)["json"], to_json(talk).encode(), "application/json")
    with w.app.db.session() as s:
        scope = WorkspaceScope(s, get_or_create_workspace(s, ws_name))
        scope.add_source(
            source, "file", f"/in/{source}.wav", f"{source}.wav", status="ready"
        ).media_key = f"sources/{source}/{source}.wav"
    settings = w.app.settings.model_copy(update={"clip_min_seconds": 10.0, "clip_max_seconds": 30.0, "max_clips": 4})
    return pipeline.Services(settings, w.app.db, w.app.media, transcriber=lambda: None)  # type: ignore[arg-type,return-value]


def _rescored(found: list[Any], weights: dict[str, float]) -> list[float]:
    return [round(100 * score({k: h.features[k] for k in FEATURES if k in h.features}, weights), 2) for h in found]


def test_highlights_use_the_workspace_weights_and_record_which(world: World, tmp_path: Path) -> None:
    svc = _source_with_speech(world, "acme", "talk1", tmp_path)
    default = pipeline.materialize_highlights(svc, "talk1")
    assert default and [h.score for h in default] == pytest.approx(_rescored(default, WEIGHTS), abs=0.02)
    assert pipeline.highlights_scoring(svc, "talk1") == {**scoring.DEFAULT.json()}

    learned = {**dict.fromkeys(FEATURES, 0.0), "energy": 0.7, "hook": 0.3}
    acme = world.ws("acme")
    with world.app.db.session() as s:
        s.add(ScoringWeights(workspace_id=acme, version=1, weights=learned, learned_from=42, metric="views@24h"))
    found = pipeline.materialize_highlights(svc, "talk1")
    assert [h.score for h in found] == pytest.approx(_rescored(found, learned), abs=0.02)
    assert [h.score for h in found] != pytest.approx(_rescored(found, WEIGHTS), abs=0.02)
    assert pipeline.highlights_scoring(svc, "talk1") == {
        "version": 1,
        "weights": pytest.approx(learned),
        "learned_from": 42,
        "source": "learned",
    }
    stored = json.loads(world.app.media.get_bytes(pipeline.highlights_key("talk1")))
    assert [d["score"] for d in stored] == [h.score for h in found]

    other = _source_with_speech(world, "globex", "talk2", tmp_path)  # another workspace: still the defaults
    assert pipeline.materialize_highlights(other, "talk2") == default
    assert pipeline.highlights_scoring(other, "talk2")["version"] is None

    scoring.set_learning(world.app, "acme", False)  # a re-run with learning off uses the defaults again
    assert pipeline.materialize_highlights(svc, "talk1") == default
    assert pipeline.highlights_scoring(svc, "talk1")["source"] == "default"


def test_a_source_scored_before_learning_existed_reads_as_default(world: World, tmp_path: Path) -> None:
    svc = _source_with_speech(world, "acme", "talk1", tmp_path)
    assert pipeline.highlights_scoring(svc, "talk1") == {
        "version": None,
        "weights": None,
        "learned_from": 0,
        "source": "default",
    }


def test_find_highlights_refuses_unknown_or_negative_weights() -> None:
    from cliply.media.highlights import find_highlights

    talk = random_talk(3)
    with pytest.raises(ValueError, match="unknown highlight feature weights: charm"):
        find_highlights(talk, weights={"charm": 1.0})
    with pytest.raises(ValueError, match="non-negative"):
        find_highlights(talk, weights={"hook": -1.0})
    assert find_highlights(talk, weights=dict(WEIGHTS)) == find_highlights(talk)


def test_a_fit_without_now_reads_the_posts_at_the_current_time(world: World) -> None:
    seed_published(world, "acme", 10)  # by now even the extra clip's post is past 24 h
    assert scoring.fit_workspace(world.app, world.ws("acme"))["learned_from"] == 11


def test_the_learning_bench_runs_quick_and_learned_ranks_better() -> None:
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        [sys.executable, str(root / "bench" / "learning_loop.py"), "--quick"],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    ).stdout
    rows = [line.split() for line in out.splitlines() if line.split()[:1] in (["20"], ["50"], ["200"])]
    assert len(rows) == 6, out
    for row in rows[:3]:  # train clips, default, learned, planted, better
        assert float(row[2]) > float(row[1]), out
    for row in rows[3:]:  # train clips, mean max |Δw|, worst max |Δw|, Spearman learned
        assert float(row[2]) < 0.1, out
    assert "did not rank better" not in out
