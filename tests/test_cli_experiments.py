"""`cliply experiments create|list|show|stop|apply|analyse` through click against the real service and SQLite:
the arm table and JSON, the chart PNG, applying the winner or a named arm onto the clip's scheduled targets, the
stopping rule on a CSV from elsewhere, and bad input as one `error:` line with exit 2."""

from __future__ import annotations

import csv
import json
import math
import random
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from PIL import Image
from sqlalchemy import select

from cliply.media.cover_upload import MAX_COVER_BYTES
from cliply.store.db import Database
from cliply.store.models import Clip, Source, utcnow
from cliply.store.models_experiments import Experiment
from cliply.store.models_publishing import PostTarget
from tests.test_cli_publishing import Env, env  # noqa: F401  (fixture)

PNG = b"\x89PNG\r\n\x1a\n"
CLIP = "src_1-c01"


def create_args(targets: str, *extra: str, variants: tuple[str, ...] = ("Money talk", "Interest grows")) -> list[str]:
    args = ["experiments", "create", CLIP, "--kind", "caption", "--targets", targets, "--posts-per-arm", "2"]
    for v in variants:
        args += ["--variant", v]
    when = ["--at", "2030-12-01 09:00", "--tz", "Europe/Paris", "--every", "6h"]
    return [*args, *when, "--seed", "7", "--min-posts", "2", *extra]


def created(r: Result) -> dict[str, Any]:
    assert r.exit_code == 0, r.output
    out: dict[str, Any] = json.loads(r.stdout)
    return out


def decide(db: Database, experiment_id: str, winner: str = "B") -> None:
    """What an evaluation that found a winner stores (the evaluation itself is the statistics' own tests)."""
    reason = f"{winner}: P(best) 0.97 >= 0.95 and expected loss 0.4 % < 1 %"
    decision = {"status": "winner", "winner": winner, "reason": reason}
    arms = [
        {"name": n, "posts": 5, "mean": m, "low": m - 0.2, "high": m + 0.2, "p_best": p, "expected_loss": loss}
        for n, m, p, loss in (("A", 0.1, 0.03, 0.2), ("B", 0.5, 0.97, 0.004))
    ]
    with db.session() as s:
        e = s.get(Experiment, experiment_id)
        assert e is not None
        e.status, e.winner, e.reason = "winner", winner, reason
        e.evaluation = {"model": "normal", "arms": arms, "decision": decision}
        e.evaluated_at = e.ended_at = utcnow()


def one_line_error(r: Result, code: int = 2) -> str:
    assert r.exit_code == code, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    return lines[0]


def captions(db: Database) -> list[str]:
    with db.session() as s:
        return sorted(t.caption or "" for t in s.scalars(select(PostTarget).where(PostTarget.state == "scheduled")))


def test_create_list_show_stop(env: Env, tmp_path: Path) -> None:
    yt, tt = env.account("youtube", "UC1"), env.account("x", "x1")
    exp = created(env.cli(*create_args(f"youtube:{yt},x:{tt}", "--name", "first test", "--json")))
    assert exp["status"] == "running" and exp["kind"] == "caption" and exp["metric"] == "views@24h"
    assert [a["name"] for a in exp["arms"]] == ["A", "B"] and exp["seed"] == 7
    assert len(exp["assignment"]) == 4 and {s["arm"] for s in exp["assignment"]} == {"A", "B"}
    assert captions(env.db) == ["Interest grows", "Interest grows", "Money talk", "Money talk"]

    listed = env.cli("experiments", "list")
    assert listed.exit_code == 0 and exp["id"] in listed.stdout and "running" in listed.stdout
    assert [e["id"] for e in json.loads(env.cli("experiments", "list", "--json").stdout)["experiments"]] == [exp["id"]]
    assert json.loads(env.cli("experiments", "list", "--status", "stopped", "--json").stdout) == {"experiments": []}

    png = tmp_path / "arms.png"
    shown = env.cli("experiments", "show", exp["id"], "--chart", str(png))
    assert shown.exit_code == 0, shown.output
    assert "P(best)" in shown.stdout and "expected loss" in shown.stdout and "status running" in shown.stdout
    assert "Money talk" in shown.stdout and f"chart written to {png}" in shown.stdout
    assert png.read_bytes().startswith(PNG)
    assert json.loads(env.cli("experiments", "show", exp["id"], "--json").stdout)["id"] == exp["id"]

    stopped = env.cli("experiments", "stop", exp["id"])
    assert stopped.exit_code == 0 and "status stopped" in stopped.stdout, stopped.output
    assert captions(env.db) == []  # its unpublished posts were cancelled
    again = json.loads(env.cli("experiments", "list", "--status", "stopped", "--json").stdout)["experiments"]
    assert [e["id"] for e in again] == [exp["id"]]


def test_apply_the_winner_or_a_named_arm(env: Env) -> None:
    yt = env.account("youtube", "UC1")
    first = created(env.cli(*create_args(f"youtube:{yt}", "--json")))
    refused = one_line_error(env.cli("experiments", "apply", first["id"]))  # running: no winner yet
    assert "winner" in refused
    decide(env.db, first["id"], "B")
    shown = env.cli("experiments", "show", first["id"])
    assert "winner B" in shown.stdout and "P(best) 0.97" in shown.stdout
    applied = env.cli("experiments", "apply", first["id"])
    assert applied.exit_code == 0, applied.output
    assert captions(env.db) == ["Interest grows"] * 4  # every scheduled target of the clip now has B's caption
    assert json.loads(env.cli("experiments", "show", first["id"], "--json").stdout)["applied_at"]

    second = created(env.cli(*create_args(f"youtube:{yt}", "--json", variants=("Third way", "Fourth way"))))
    decide(env.db, second["id"], "B")
    assert "no arm" in one_line_error(env.cli("experiments", "apply", second["id"], "--arm", "Z"))
    applied = env.cli("experiments", "apply", second["id"], "--arm", "A", "--json")
    assert applied.exit_code == 0, applied.output
    assert set(captions(env.db)) == {"Third way"}


def write_results(path: Path, rows: list[dict[str, Any]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def results(n: int = 30, uplift: float = 2.0) -> list[dict[str, Any]]:
    """Views of n posts per arm; B's are `uplift` times A's, on accounts of different sizes (the baseline); `lift`
    is the same on a relative scale (the log ratio), for the analysis without a baseline column."""
    rng = random.Random(3)
    rows = []
    for _ in range(n):
        for arm, factor in (("A", 1.0), ("B", uplift)):
            baseline = rng.choice((1_000, 10_000, 100_000))
            views = round(baseline * factor * rng.lognormvariate(0, 0.2))
            lift = round(math.log(views / baseline), 4)
            rows.append({"variant": arm, "views": views, "account_median": baseline, "lift": lift})
    return rows


def test_analyse_a_csv_with_and_without_a_baseline(env: Env, tmp_path: Path) -> None:
    data = write_results(tmp_path / "results.csv", results())
    r = env.cli("experiments", "analyse", str(data), "--metric", "lift", "--arm", "variant", "--json")
    plain = created(r)
    assert [a["name"] for a in plain["arms"]] == ["A", "B"] and plain["baseline_column"] is None
    assert plain["decision"]["winner"] == "B" and plain["metric"] == "lift"
    r = env.cli(
        "experiments", "analyse", str(data), "--metric", "views", "--arm", "variant", "--baseline", "account_median"
    )
    assert r.exit_code == 0, r.output
    assert "winner B" in r.stdout and "P(best)" in r.stdout and "relative to account_median" in r.stdout
    args = ["--metric", "views", "--arm", "variant", "--baseline", "account_median", "--p-best", "0.9", "--json"]
    adjusted = created(env.cli("experiments", "analyse", str(data), *args))
    assert adjusted["decision"]["status"] == "winner" and adjusted["decision"]["winner"] == "B"
    assert adjusted["rule"]["p_best"] == 0.9
    # the log ratio to the baseline column is the same number as the precomputed lift
    for a, b in zip(plain["arms"], adjusted["arms"], strict=True):
        assert a["mean"] == pytest.approx(b["mean"], abs=1e-3) and a["posts"] == b["posts"] == 30


def test_analyse_refuses_bad_files_and_columns_in_one_line(env: Env, tmp_path: Path) -> None:
    data = write_results(tmp_path / "results.csv", results(5))
    words = write_results(tmp_path / "words.csv", [{"variant": "A", "views": "many"}, {"variant": "B", "views": "3"}])
    base = ["experiments", "analyse"]
    cases = [
        ([str(data), "--metric", "likes", "--arm", "variant"], "likes"),
        ([str(data), "--metric", "views", "--arm", "variant", "--baseline", "nope"], "nope"),
        ([str(tmp_path / "missing.csv"), "--metric", "views", "--arm", "variant"], "missing.csv"),
        ([str(words), "--metric", "views", "--arm", "variant"], "views"),
        ([str(data), "--metric", "views", "--arm", "variant", "--p-best", "2"], "p_best"),
    ]
    for args, text in cases:
        line = one_line_error(env.cli(*base, *args))
        assert text in line, (args, line)


def test_bad_input_is_one_line_and_exit_2(env: Env, tmp_path: Path) -> None:
    yt = env.account("youtube", "UC1")
    cases: list[tuple[list[str], str]] = [
        (create_args(f"youtube:{yt}", variants=("only one",)), "variant"),
        (create_args(f"youtube:{yt}", "--metric", "likes@24h"), "likes"),
        (create_args(f"youtube:{yt}", "--every", "often"), "often"),
        (create_args(f"youtube:{yt}", "--p-best", "1.5"), "p_best"),
        (create_args("youtube:999"), "999"),
        (["experiments", "show", "exp_nope"], "exp_nope"),
        (["experiments", "stop", "exp_nope"], "exp_nope"),
        (
            [
                *create_args(f"youtube:{yt}", variants=(f"image:{tmp_path / 'no.png'}", "frame:40%")),
                "--kind",
                "thumbnail",
            ],
            "no.png",
        ),
    ]
    for args, text in cases:
        line = one_line_error(env.cli(*args))
        assert text in line, (args, line)
    assert env.cli(*create_args("nowhere:1")).exit_code == 2  # click's usage error names --targets
    assert json.loads(env.cli("experiments", "list", "--json").stdout) == {"experiments": []}


def test_another_workspace_does_not_see_it(env: Env) -> None:
    yt = env.account("youtube", "UC1")
    exp = created(env.cli(*create_args(f"youtube:{yt}", "--json")))
    assert env.cli("workspaces", "create", "other").exit_code == 0
    line = one_line_error(env.cli("experiments", "show", exp["id"], "--workspace", "other"))
    assert exp["id"] in line or "no experiment" in line
    assert json.loads(env.cli("experiments", "list", "--workspace", "other", "--json").stdout) == {"experiments": []}


def image_file(path: Path, shade: int) -> Path:
    Image.new("RGB", (640, 360), (shade, 255 - shade, 90)).save(path)
    return path


def rendered(db: Database, clip_id: str = CLIP) -> None:
    """The clip and its source as the pipeline leaves them (an uploaded image is cut without reading the video)."""
    with db.session() as s:
        clip = s.get(Clip, clip_id)
        assert clip is not None
        clip.media_key = f"clips/{clip_id}.mp4"
        source = s.get(Source, clip.source_id)
        assert source is not None
        source.media_key = f"sources/{source.id}.mp4"


def test_thumbnail_image_variants_are_read_and_sent_as_images(env: Env, tmp_path: Path) -> None:
    yt = env.account("youtube", "UC1")
    rendered(env.db)
    a, b = image_file(tmp_path / "a.png", 20), image_file(tmp_path / "b.png", 200)
    args = [*create_args(f"youtube:{yt}", variants=(f"image:{a}", f"image:{b}")), "--kind", "thumbnail", "--json"]
    exp = created(env.cli(*args))
    assert [(a["name"], a["variant"]) for a in exp["arms"]] == [("A", "image:0"), ("B", "image:1")]
    assert str(tmp_path) not in json.dumps(exp)  # a local path never reaches the service or its storage keys
    huge = tmp_path / "huge.png"
    huge.write_bytes(b"\x89PNG" + b"0" * MAX_COVER_BYTES)
    args = [*create_args(f"youtube:{yt}", variants=(f"image:{huge}", f"image:{a}")), "--kind", "thumbnail"]
    assert "larger than 10 MiB" in one_line_error(env.cli(*args))


def test_platform_options_reach_every_target_of_that_platform(env: Env) -> None:
    """TikTok refuses a post without a privacy level: --option gives it to every TikTok slot, as posts create does."""
    yt, tt = env.account("youtube", "UC1"), env.account("tiktok", "tt1")
    refused = env.cli(*create_args(f"youtube:{yt},tiktok:{tt}"))
    assert refused.exit_code == 2 and "privacy" in refused.stderr.lower(), refused.output
    exp = created(env.cli(*create_args(f"youtube:{yt},tiktok:{tt}", "--option", "tiktok.privacy=SELF_ONLY", "--json")))
    with env.db.session() as s:
        options = {t.platform: t.options for t in s.scalars(select(PostTarget))}
    assert options["tiktok"].get("privacy") == "SELF_ONLY" and "privacy" not in options["youtube"]
    assert {slot["platform"] for slot in exp["assignment"]} == {"youtube", "tiktok"}
