"""`cliply track|tracked|stats|leaderboard|analytics export` through click, against the real platform sandbox:
tables say "n/a" (never 0) for what a platform does not report, bad input exits 2 with one line, a refusal from
outside (no account can read the post, an unknown id) exits 1."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

from click.testing import CliRunner, Result

from cliply.cli import main
from tests.test_analytics_service import World, sqlite_world  # noqa: F401  (fixture)


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_track_shows_the_first_metrics_then_already_tracked(sqlite_world: World) -> None:
    sqlite_world.connect("tiktok", "tt_alice")
    url = sqlite_world.seed("tiktok", "tt_alice").payload["public_url"]
    r = cli("track", url)
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith("tracking started")
    assert "tiktok" in r.stdout and "tt_alice" in r.stdout and "fetched just now" in r.stdout
    assert "n/a" in r.stdout  # saves, reach, impressions, watch time
    # relative and absolute times
    assert re.search(r"next fetch in \d+ min \(\d{4}-\d\d-\d\d \d\d:\d\d UTC\)", r.stdout), r.stdout
    again = json.loads(cli("track", url, "--json").stdout)
    assert again["created"] is False and again["message"] == "already tracked"

    listed = cli("tracked", "list")
    assert listed.exit_code == 0 and "tt_alice" in listed.stdout and "n/a" in listed.stdout
    assert json.loads(cli("tracked", "list", "--json").stdout)["tracked"][0]["id"] == again["id"]
    assert json.loads(cli("tracked", "list", "--status", "gone", "--json").stdout) == {"tracked": []}

    stats = cli("stats", "--post", str(again["id"]))
    assert stats.exit_code == 0 and "engagement rate" in stats.stdout and "n/a" in stats.stdout
    overview = cli("stats", "--since", "24h")
    assert overview.exit_code == 0 and "tiktok" in overview.stdout
    board = cli("leaderboard", "--by", "account", "--since", "7d")
    assert board.exit_code == 0 and "tt_alice" in board.stdout
    assert json.loads(cli("leaderboard", "--json").stdout)["rows"][0]["handle"] == "tt_alice"

    removed = cli("tracked", "remove", str(again["id"]))
    assert removed.exit_code == 0 and "stopped tracking" in removed.stdout
    missing = cli("tracked", "remove", str(again["id"]))
    assert missing.exit_code == 1 and missing.stderr.startswith("error: no tracked post")


def test_stats_chart_and_csv_export(sqlite_world: World, tmp_path: Path) -> None:
    sqlite_world.connect("youtube", "yt_alice", handle="+cmd")
    tracked = json.loads(cli("track", sqlite_world.seed("youtube", "yt_alice").payload["public_url"], "--json").stdout)
    png = tmp_path / "views.png"
    r = cli("stats", "--post", str(tracked["id"]), "--chart", str(png))
    assert r.exit_code == 0, r.output
    assert png.read_bytes().startswith(b"\x89PNG") and f"chart written to {png}" in r.stdout
    out = tmp_path / "export.csv"
    r = cli("analytics", "export", "--csv", str(out), "--since", "30d")
    assert r.exit_code == 0 and "wrote 1 tracked post to" in r.stdout
    rows = list(csv.DictReader(out.open(encoding="utf-8", newline="")))
    assert rows[0]["account"] == "'+cmd" and rows[0]["saves"] == ""


def test_bad_input_exits_2_and_refusals_exit_1_with_one_line(sqlite_world: World) -> None:
    for args in (
        ("stats", "--since", "yesterday"),
        ("leaderboard", "--since", "-3d"),
        ("analytics", "export", "--csv", "x.csv", "--since", "forever"),
        ("stats", "--post", "1", "--clip", "c"),
        ("track", "https://youtube.com.evil.example/watch?v=dQw4w9WgXcQ"),
        ("track", "https://example.com/post/1"),
    ):
        r = cli(*args)
        assert r.exit_code == 2, (args, r.output)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), (args, r.stderr)
    url = sqlite_world.seed("tiktok", "tt_stranger").payload["public_url"]
    r = cli("track", url)
    assert r.exit_code == 1
    assert r.stderr.strip().splitlines() == [
        "error: no connected TikTok account of this workspace can read this video: connect the TikTok account "
        "that posted this video: `cliply accounts connect tiktok` (TikTok lists a new video a few minutes after it "
        "is posted: try again shortly)"
    ]
    assert cli("stats", "--post", "999").exit_code == 1
