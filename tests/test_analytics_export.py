"""CSV export: formula-injection escaping (every dangerous prefix, text only), numbers and missing values, unicode,
and the export frame (one row per tracked post with its latest snapshot) on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd
import pytest

from cliply.analytics.export import EXPORT_COLUMNS, csv_text, escape_cell, export_frame, write_csv
from cliply.store import Database
from tests.test_analytics_reports import NOW, World, build_world, scope


def parse(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


@pytest.mark.parametrize("prefix", ["=", "+", "-", "@", "\t", "\r"])
def test_each_dangerous_prefix_gets_a_quote(prefix: str) -> None:
    cell = f'{prefix}HYPERLINK("http://evil","x")'
    got = parse(csv_text(pd.DataFrame({"caption": [cell]})))
    assert got == [["caption"], ["'" + cell]]


@pytest.mark.parametrize("safe", ["hello", " =not first", "a=b", "'already", "", "🎬 Clip", "x-1"])
def test_harmless_text_is_left_alone(safe: str) -> None:
    assert escape_cell(safe) == safe


def test_numbers_stay_numbers_and_missing_is_an_empty_cell() -> None:
    df = pd.DataFrame(
        {
            "views": pd.array([-5, None, 1_234_567_890_123], dtype="Int64"),
            "rate": pd.array([-0.25, None, 0.1], dtype="Float64"),
            "raw_float": [-1.5, float("nan"), 3.0],
            "text_minus": ["-5", None, "+1"],  # text that looks like a number is still text: escaped
            "flag": [True, False, True],
        }
    )
    got = parse(csv_text(df))
    assert got[0] == ["views", "rate", "raw_float", "text_minus", "flag"]
    assert got[1] == ["-5", "-0.25", "-1.5", "'-5", "true"]
    assert got[2] == ["", "", "", "", "false"]
    assert got[3] == ["1234567890123", "0.1", "3.0", "'+1", "true"]


def test_header_cells_are_escaped_too() -> None:
    assert parse(csv_text(pd.DataFrame({"=cmd": [1]})))[0] == ["'=cmd"]


def test_unicode_commas_quotes_and_newlines_round_trip(tmp_path: Path) -> None:
    cells = ["Ünïcödé — 日本語 🎬", 'say "hi", twice', "line one\nline two", "@handle"]
    df = pd.DataFrame({"text": cells})
    expected = [["text"], *([c] for c in cells[:3]), ["'@handle"]]
    assert parse(csv_text(df)) == expected
    path = write_csv(df, tmp_path / "out.csv")
    assert path == tmp_path / "out.csv"
    with path.open(encoding="utf-8", newline="") as fh:
        assert list(csv.reader(fh)) == expected


def test_export_frame_one_row_per_post_with_latest_snapshot(db: Database) -> None:
    world: World = build_world(db)
    with db.reading() as s:
        df = export_frame(scope(s), now=NOW)
        week = export_frame(scope(s), "7d", now=NOW)
        other = export_frame(scope(s, "b"), now=NOW)
    assert list(df.columns) == EXPORT_COLUMNS
    assert sorted(df["tracked_post_id"]) == sorted(world.post.values())  # B's post is not in A's export
    assert sorted(week["tracked_post_id"]) == sorted(world.post[n] for n in ("p2", "p3", "p5", "p6"))
    assert list(other["tracked_post_id"]) == [world.b_post]
    rows = {r[0]: r for r in parse(csv_text(df))[1:]}
    col = {name: i for i, name in enumerate(EXPORT_COLUMNS)}
    p1, p3, p6 = (rows[str(world.post[n])] for n in ("p1", "p3", "p6"))
    assert p1[col["views"]] == "1500" and p1[col["likes"]] == "80" and p1[col["shares"]] == ""  # not reported: empty
    assert p1[col["fetched_at"]] == (NOW - pd.Timedelta(hours=1)).isoformat()
    assert float(p1[col["engagement_rate"]]) == pytest.approx(88 / 1500)
    assert p1[col["stale"]] == "false" and p1[col["url"]] == "https://youtube.com/shorts/p1"
    assert p3[col["account"]] == "'@alice.bsky.social"  # a handle starting with @ is escaped
    assert p3[col["views"]] == "" and p3[col["engagement_rate"]] == ""
    assert p3[col["stale"]] == "true" and p3[col["reason"]] == "never fetched"
    assert p6[col["gone"]] == "true" and p6[col["status"]] == "gone" and p6[col["views"]] == "300"
