"""`analyse_csv`: a user's CSV (one row per post) through the same statistics and stopping rule, and one-line errors
for every way the file can be wrong."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import pytest

from cliply.experiments.analyse import analyse_csv
from cliply.experiments.stats import ArmData, StoppingRule, evaluate


def _write(tmp_path, text, name="posts.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def _posts(arms: Mapping[str, Sequence[tuple[float, float]]]) -> str:
    lines = ["arm,views_24h,baseline,account"]
    for arm, rows in arms.items():
        lines += [f"{arm},{v},{b},acct{i % 3}" for i, (v, b) in enumerate(rows)]
    return "\n".join(lines) + "\n"


def test_baseline_column_gives_log_ratios_and_a_winner(tmp_path):
    a = [(1000, 1000), (800, 1000), (1200, 1100), (5000, 5200), (4800, 5000), (300, 320)]
    b = [(2000, 1000), (2300, 1100), (10000, 5000), (9500, 5200), (700, 320), (1700, 800)]
    path = _write(tmp_path, _posts({"A": a, "B": b}))
    report = analyse_csv(path, metric="views_24h", arm="arm", baseline="baseline")
    assert {k: report[k] for k in ("file", "metric", "arm_column", "baseline_column", "model")} == {
        "file": str(path),
        "metric": "views_24h",
        "arm_column": "arm",
        "baseline_column": "baseline",
        "model": "normal",
    }
    assert report["scale"] == "log" and report["rule"] == StoppingRule().json()
    expected = evaluate(
        [
            ArmData("A", values=tuple(math.log(v / base) for v, base in a)),
            ArmData("B", values=tuple(math.log(v / base) for v, base in b)),
        ],
        model="normal",
        rule=StoppingRule(),
        elapsed_days=None,
    ).json()
    assert report["arms"] == expected["arms"]
    assert report["decision"]["status"] == "winner"
    assert report["decision"]["winner"] == "B"
    assert [arm["posts"] for arm in report["arms"]] == [6, 6]


def test_without_baseline_raw_views_are_on_the_absolute_scale(tmp_path):
    # B gets twice A's raw views: on the log scale's N(0, 1) prior these thousands would be nonsense.
    a = [1000, 1300, 800, 1100, 900, 1200]
    b = [2100, 2500, 1700, 2300, 1900, 2000]
    path = _write(tmp_path, "arm,views\n" + "".join(f"A,{x}\nB,{y}\n" for x, y in zip(a, b, strict=True)))
    report = analyse_csv(path, metric="views", arm="arm")
    assert (report["scale"], report["baseline_column"]) == ("absolute", None)
    assert (report["decision"]["status"], report["decision"]["winner"]) == ("winner", "B")
    arms = {x["name"]: x for x in report["arms"]}
    assert arms["A"]["mean"] == pytest.approx(sum(a) / 6, rel=0.01)
    assert arms["B"]["mean"] == pytest.approx(sum(b) / 6, rel=0.01)
    assert arms["A"]["expected_loss"] == pytest.approx(0.5, abs=0.05)  # relative: half of B's views
    expected = evaluate(
        [ArmData("A", values=tuple(map(float, a))), ArmData("B", values=tuple(map(float, b)))],
        model="normal",
        rule=StoppingRule(),
        elapsed_days=None,
        scale="absolute",
    ).json()
    assert report["arms"] == expected["arms"]


def test_without_baseline_the_metric_is_used_as_is_and_the_rule_applies(tmp_path):
    path = _write(tmp_path, "variant,lift\nx,0.1\ny,0.12\nx,0.05\ny,0.2\n")
    report = analyse_csv(path, metric="lift", arm="variant")
    assert report["baseline_column"] is None
    assert [a["name"] for a in report["arms"]] == ["x", "y"]
    assert report["decision"] == {
        "status": "inconclusive",
        "winner": None,
        "reason": "data complete: arm x has 2 of 5 posts",
    }
    loose = analyse_csv(path, metric="lift", arm="variant", rule=StoppingRule(min_posts=2, max_loss=0.5, p_best=0.6))
    assert loose["rule"]["min_posts"] == 2
    assert loose["decision"]["status"] == "winner"


@pytest.mark.parametrize(
    ("text", "kwargs", "message"),
    [
        ("arm,v\nA,1\nB,2\n", {"metric": "views"}, "no column 'views' (columns: arm, v)"),
        ("arm,v\nA,1\nB,2\n", {"metric": "v", "baseline": "base"}, "no column 'base' (columns: arm, v)"),
        ("arm,v\nA,1\nB,lots\n", {"metric": "v"}, "row 2 (line 3): 'v' is not a number: 'lots'"),
        ("arm,v\nA,1\nB,\n", {"metric": "v"}, "row 2 (line 3): 'v' is not a number: ''"),
        ("arm,v\nA,1\nB,inf\n", {"metric": "v"}, "row 2 (line 3): 'v' is not a number: 'inf'"),
        ("arm,v\nA,1\nA,2\n", {"metric": "v"}, "column 'arm' names 1 arm(s); an experiment needs at least 2"),
        ("arm,v\nA,1\n,2\n", {"metric": "v"}, "row 2 (line 3): 'arm' is empty"),
        ("arm,v\n", {"metric": "v"}, "no rows"),
        ("", {"metric": "v"}, "not a readable CSV"),
        ("arm,v,b\nA,1,2\nB,0,3\n", {"metric": "v", "baseline": "b"}, "row 2 (line 3): 'v' (0) and 'b' (3) must both"),
        (
            "arm,v,b\nA,1,-2\nB,1,3\n",
            {"metric": "v", "baseline": "b"},
            "row 1 (line 2): 'v' (1) and 'b' (-2) must both",
        ),
    ],
)
def test_bad_files_are_one_line_errors(tmp_path, text, kwargs, message):
    path = _write(tmp_path, text)
    with pytest.raises(ValueError) as error:
        analyse_csv(path, arm="arm", **kwargs)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_missing_file(tmp_path):
    with pytest.raises(ValueError, match="no such file"):
        analyse_csv(tmp_path / "nope.csv", metric="v", arm="arm")
