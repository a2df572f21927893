"""Analytics reports on SQLite and PostgreSQL, against hand-computed values from hand-built rows: post series,
clip report, platform comparison, leaderboards over windows, freshness, forecast error, workspace isolation."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest

from cliply.analytics.reports import (
    clip_report,
    forecast_error,
    freshness,
    leaderboard,
    parse_since,
    platform_comparison,
    post_stats,
    to_records,
)
from cliply.store import Database, NotFound, WorkspaceScope, get_or_create_workspace
from cliply.store.models_accounts import Account
from cliply.store.models_analytics import MetricForecast, MetricSnapshot, TrackedPost

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
H, D = timedelta(hours=1), timedelta(days=1)


@dataclass
class World:
    """Workspace A (the one reported on) and B (whose rows must never show up in A's reports)."""

    a: int
    b: int
    acct: dict[str, int] = field(default_factory=dict)  # A: handle -> account id
    clip1: str = ""
    clip2: str = ""
    post: dict[str, int] = field(default_factory=dict)  # name -> tracked post id
    b_post: int = 0


def scope(s: Any, name: str = "a") -> WorkspaceScope:
    return WorkspaceScope(s, get_or_create_workspace(s, name))


def add_account(s: Any, ws: int, platform: str, handle: str) -> int:
    acct = Account(
        workspace_id=ws,
        platform=platform,
        handle=handle,
        external_id=f"ext-{handle}",
        status="connected",
        access_token_enc="enc",
        scopes=[],
        extra={},
    )
    s.add(acct)
    s.flush()
    return acct.id


def add_post(s: Any, ws: int, platform: str, *, published: datetime, **fields: Any) -> int:
    post = TrackedPost(
        workspace_id=ws,
        platform=platform,
        platform_post_id=fields.pop("platform_post_id", f"p{published.timestamp():.0f}-{platform}-{len(fields)}"),
        origin=fields.pop("origin", "published"),
        published_at=published,
        tracked_at=fields.pop("tracked_at", published),
        **fields,
    )
    s.add(post)
    s.flush()
    return post.id


def snap(s: Any, post_id: int, at: datetime, **metrics: Any) -> None:
    ws = s.get(TrackedPost, post_id).workspace_id
    s.add(MetricSnapshot(tracked_post_id=post_id, workspace_id=ws, fetched_at=at, raw={}, **metrics))
    s.flush()


def build_world(db: Database) -> World:
    """Six posts in A (three platforms, two clips, one without account, one gone) and one rival post in B that
    shares clip1's id string and beats everything."""
    with db.session() as s:
        a, b = scope(s, "a"), scope(s, "b")
        a.add_source("src_a", "file", "/in/a.mp4", "a.mp4")
        clips = a.replace_clips(
            "src_a",
            [
                {"start_s": 0.0, "end_s": 9.0, "text": "The big reveal at the end of the talk"},
                {"start_s": 9.0, "end_s": 20.0, "text": "Second clip"},
            ],
        )
        w = World(a.workspace_id, b.workspace_id, clip1=clips[0].id, clip2=clips[1].id)
        w.acct = {
            "alice_yt": add_account(s, w.a, "youtube", "alice_yt"),
            "alice_tt": add_account(s, w.a, "tiktok", "alice_tt"),
            "@alice.bsky.social": add_account(s, w.a, "bluesky", "@alice.bsky.social"),
        }
        yt, tt, bs = w.acct.values()
        p = w.post
        p["p1"] = add_post(
            s,
            w.a,
            "youtube",
            published=NOW - 10 * D,
            account_id=yt,
            clip_id=w.clip1,
            url="https://youtube.com/shorts/p1",
            tier="warm",
            last_fetched_at=NOW - H,
        )
        snap(s, p["p1"], NOW - 9 * D, views=100, likes=10, comments=1)
        snap(s, p["p1"], NOW - 7 * D - H, views=1000, likes=50, comments=5)
        snap(s, p["p1"], NOW - H, views=1500, likes=80, comments=8)
        snap(s, p["p1"], NOW + H, views=99_999, likes=1, comments=1)  # after `now`: never counted
        p["p2"] = add_post(
            s,
            w.a,
            "tiktok",
            published=NOW - 2 * D,
            account_id=tt,
            clip_id=w.clip1,
            tier="hot",
            last_fetched_at=NOW - 2 * H,
            consecutive_failures=3,
            last_error_class="rate_limited",
            last_error="429 Too Many Requests",
        )
        snap(s, p["p2"], NOW - 47 * H, views=200, likes=20, comments=2, shares=4)
        snap(s, p["p2"], NOW - 2 * H, views=900, likes=60, comments=6, shares=9)
        p["p3"] = add_post(s, w.a, "bluesky", published=NOW - 3 * D, account_id=bs, clip_id=w.clip1, tier="warm")
        snap(s, p["p3"], NOW - D, likes=7, comments=3, shares=2)  # Bluesky has no views
        p["p4"] = add_post(
            s,
            w.a,
            "youtube",
            published=NOW - 20 * D,
            account_id=yt,
            clip_id=w.clip2,
            origin="url",
            tracked_at=NOW - 3 * D,
            tier="hot",
            last_fetched_at=NOW - 2 * H,
        )
        snap(s, p["p4"], NOW - 3 * D, views=5000)
        snap(s, p["p4"], NOW - H, views=5600)
        p["p5"] = add_post(
            s, w.a, "youtube", published=NOW - 20 * H, origin="url", tier="frozen", last_fetched_at=NOW - 30 * D
        )
        snap(s, p["p5"], NOW - H, views=50)
        p["p6"] = add_post(
            s,
            w.a,
            "tiktok",
            published=NOW - 5 * D,
            account_id=tt,
            clip_id=w.clip2,
            status="gone",
            gone_at=NOW - 3 * D,
            last_fetched_at=NOW - 4 * D,
        )
        snap(s, p["p6"], NOW - 4 * D, views=300, likes=30, comments=3, shares=3)
        rival = add_account(s, w.b, "youtube", "bob_yt")
        w.b_post = add_post(
            s, w.b, "youtube", published=NOW - D, account_id=rival, clip_id=w.clip1, last_fetched_at=NOW - H
        )
        snap(s, w.b_post, NOW - 20 * H, views=10)
        snap(s, w.b_post, NOW - H, views=1_000_000, likes=1, comments=1)
    return w


@pytest.fixture
def world(db: Database) -> World:
    return build_world(db)


def rows(df: pd.DataFrame) -> list[dict[str, Any]]:
    return to_records(df)


# --- parse_since ---


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("24h", timedelta(hours=24)),
        ("7d", timedelta(days=7)),
        ("30d", timedelta(days=30)),
        ("2w", timedelta(weeks=2)),
        ("90m", timedelta(minutes=90)),
        (" 7D ", timedelta(days=7)),
    ],
)
def test_parse_since(text: str, expected: timedelta) -> None:
    assert parse_since(text) == expected


@pytest.mark.parametrize("text", ["", "7", "d7", "0d", "-1d", "7y", "1.5h", "7 days"])
def test_parse_since_refuses_with_a_clear_message(text: str) -> None:
    with pytest.raises(ValueError, match=r"bad time window .*e\.g\. 24h, 7d or 30d"):
        parse_since(text)


# --- post_stats ---


def test_post_stats_is_the_series_with_engagement_rate(db: Database, world: World) -> None:
    with db.reading() as s:
        df = post_stats(scope(s), world.post["p2"])
        p3 = rows(post_stats(scope(s), world.post["p3"]))
        recent = post_stats(scope(s), world.post["p1"], timedelta(days=2), now=NOW)
    got = rows(df)
    assert [r["views"] for r in got] == [200, 900]
    assert got[0]["engagement_rate"] == pytest.approx((20 + 2 + 4) / 200)
    assert got[1]["engagement_rate"] == pytest.approx((60 + 6 + 9) / 900)
    assert got[0]["saves"] is None and got[0]["reach"] is None  # TikTok reports neither: not 0
    assert got[0]["fetched_at"] == (NOW - 47 * H).isoformat()
    assert p3[0]["views"] is None and p3[0]["engagement_rate"] is None and p3[0]["likes"] == 7
    assert list(recent["views"]) == [1500, 99_999]  # since: only snapshots fetched within the window


def test_post_stats_of_another_workspace_is_not_found(db: Database, world: World) -> None:
    with db.reading() as s, pytest.raises(NotFound):
        post_stats(scope(s, "a"), world.b_post)


# --- clip_report ---


def test_clip_report_totals_across_platforms_and_accounts(db: Database, world: World) -> None:
    with db.reading() as s:
        report = clip_report(scope(s), world.clip1, timedelta(days=7), now=NOW)
    posts = {r["tracked_post_id"]: r for r in rows(report.posts)}
    assert set(posts) == {world.post["p1"], world.post["p2"], world.post["p3"]}  # not B's post with the same clip id
    p1, p2, p3 = (posts[world.post[n]] for n in ("p1", "p2", "p3"))
    assert (p1["views"], p1["likes"], p1["comments"], p1["shares"]) == (1500, 80, 8, None)
    assert p1["fetched_at"] == (NOW - H).isoformat() and p1["account"] == "alice_yt"
    assert p1["engagement_rate"] == pytest.approx(88 / 1500)
    assert (p1["views_gained"], p2["views_gained"], p3["views_gained"]) == (500, 900, None)
    assert p3["views"] is None and p3["engagement_rate"] is None
    totals = {r["metric"]: r for r in rows(report.totals)}
    assert (totals["views"]["total"], totals["views"]["posts_reporting"], totals["views"]["posts"]) == (2400, 2, 3)
    assert (totals["likes"]["total"], totals["likes"]["posts_reporting"]) == (147, 3)
    assert (totals["comments"]["total"], totals["shares"]["total"], totals["shares"]["posts_reporting"]) == (17, 11, 2)
    assert totals["saves"]["total"] is None and totals["saves"]["posts_reporting"] == 0  # not reported: not 0
    assert totals["views_gained"]["total"] == 1400
    json.dumps(report.to_dict())


def test_clip_report_of_an_untracked_or_foreign_clip_is_empty(db: Database, world: World) -> None:
    with db.reading() as s:
        report = clip_report(scope(s, "b"), world.clip2, now=NOW)
    assert report.posts.empty
    assert all(r["total"] is None and r["posts"] == 0 for r in rows(report.totals))


# --- leaderboard ---


def test_leaderboard_by_account_ranks_views_gained_in_7_days(db: Database, world: World) -> None:
    with db.reading() as s:
        got = rows(leaderboard(scope(s), by="account", since=timedelta(days=7), now=NOW))
    table = [(r["rank"], r["handle"], r["posts"], r["views"], r["views_gained"]) for r in got]
    assert table == [
        (1, "alice_tt", 2, 1200, 1200),  # p2 published in the window: 900 - 0; p6 likewise: 300
        (2, "alice_yt", 2, 7100, 1100),  # p1: 1500 - 1000 at the window start; p4 first seen in it: 5600 - 5000
        (3, None, 1, 50, 50),  # p5, read with the API key
        (4, "@alice.bsky.social", 1, None, None),  # Bluesky reports no views: unranked, not 0
    ]
    assert got[0]["platform"] == "tiktok" and got[0]["account_id"] == world.acct["alice_tt"]


def test_leaderboard_windows_and_limit(db: Database, world: World) -> None:
    with db.reading() as s:
        day = rows(leaderboard(scope(s), by="account", since="24h", now=NOW))
        ever = rows(leaderboard(scope(s), by="account", since=None, now=NOW, limit=2))
    assert [(r["handle"], r["views_gained"]) for r in day] == [
        ("alice_yt", 1100),  # p1: 1500 - 1000 (newest before the window); p4: 5600 - 5000
        ("alice_tt", 700),  # p2: 900 - 200; p6: 300 - 300
        (None, 50),
        ("@alice.bsky.social", None),
    ]
    assert [(r["handle"], r["views_gained"]) for r in ever] == [("alice_yt", 7100), ("alice_tt", 1200)]


def test_leaderboard_by_clip_uses_clip_text_and_leaves_out_clipless_posts(db: Database, world: World) -> None:
    with db.reading() as s:
        got = rows(leaderboard(scope(s), by="clip", since=timedelta(days=7), now=NOW))
    assert [(r["rank"], r["clip_id"], r["title"], r["posts"], r["views"], r["views_gained"]) for r in got] == [
        (1, world.clip1, "The big reveal at the end of the talk", 3, 2400, 1400),
        (2, world.clip2, "Second clip", 2, 5900, 900),
    ]


def test_leaderboard_never_shows_another_workspace(db: Database, world: World) -> None:
    with db.reading() as s:
        b = rows(leaderboard(scope(s, "b"), by="clip", since="7d", now=NOW))
        b_acct = rows(leaderboard(scope(s, "b"), by="account", since="7d", now=NOW))
        a = rows(leaderboard(scope(s, "a"), by="account", since="7d", now=NOW))
    assert [(r["clip_id"], r["title"], r["views_gained"]) for r in b] == [(world.clip1, world.clip1, 1_000_000)]
    assert [(r["handle"], r["views_gained"]) for r in b_acct] == [("bob_yt", 1_000_000)]
    assert "bob_yt" not in {r["handle"] for r in a} and max(r["views"] or 0 for r in a) < 1_000_000


def test_leaderboard_refuses_an_unknown_kind(db: Database, world: World) -> None:
    with db.reading() as s, pytest.raises(ValueError, match=r"account.*clip"):
        leaderboard(scope(s), by="platform")  # type: ignore[arg-type]


# --- platform comparison ---


def test_platform_comparison(db: Database, world: World) -> None:
    with db.reading() as s:
        got = {r["platform"]: r for r in rows(platform_comparison(scope(s), now=NOW))}
        week = {r["platform"]: r for r in rows(platform_comparison(scope(s), "7d", now=NOW))}
    assert list(got) == ["bluesky", "tiktok", "youtube"]
    bs, tt, yt = got["bluesky"], got["tiktok"], got["youtube"]
    assert (bs["posts"], bs["views"], bs["likes"], bs["comments"], bs["shares"], bs["saves"]) == (
        1,
        None,
        7,
        3,
        2,
        None,
    )
    assert bs["engagement_rate"] is None and bs["median_views"] is None
    assert (tt["posts"], tt["views"], tt["likes"], tt["comments"], tt["shares"]) == (2, 1200, 90, 9, 12)
    assert tt["engagement_rate"] == pytest.approx(111 / 1200) and tt["median_views"] == 600
    assert (yt["posts"], yt["views"], yt["likes"], yt["comments"], yt["shares"]) == (3, 7150, 80, 8, None)
    assert yt["engagement_rate"] == pytest.approx(88 / 7150) and yt["median_views"] == 1500
    # Published within 7 days: p2, p3, p5, p6 (p1 and p4 are older).
    assert {p: r["posts"] for p, r in week.items()} == {"bluesky": 1, "tiktok": 2, "youtube": 1}
    assert week["youtube"]["views"] == 50
    assert "1000000" not in json.dumps(list(got.values()))  # B's post is not in A's comparison


# --- freshness ---


def test_freshness_says_what_is_stale_and_why(db: Database, world: World) -> None:
    with db.reading() as s:
        got = {r["tracked_post_id"]: r for r in rows(freshness(scope(s), now=NOW))}
    p = world.post
    assert set(got) == set(p.values())
    assert (got[p["p1"]]["stale"], got[p["p1"]]["reason"]) == (False, None)  # warm, fetched 1 h ago
    assert got[p["p1"]]["last_fetched_at"] == (NOW - H).isoformat()
    assert got[p["p2"]]["stale"] is True
    assert got[p["p2"]]["reason"] == "3 failed fetches in a row; last: rate_limited: 429 Too Many Requests"
    assert (got[p["p3"]]["stale"], got[p["p3"]]["reason"]) == (True, "never fetched")
    assert got[p["p4"]]["stale"] is True  # hot (every 30 min), last fetched 2 h ago
    assert got[p["p4"]]["reason"] == "last fetched 2h ago; tier hot is refreshed every 30m"
    assert (got[p["p5"]]["stale"], got[p["p5"]]["gone"]) == (False, False)  # frozen: final numbers
    assert (got[p["p6"]]["stale"], got[p["p6"]]["gone"]) == (False, True)
    assert got[p["p6"]]["reason"].startswith("gone: deleted on the platform")


# --- forecast error ---


def _forecast(
    s: Any, post: int, horizon: int, predicted: float, low: float, high: float, actual: float | None, n: int
) -> None:
    tp = s.get(TrackedPost, post)
    made = NOW - timedelta(hours=10 + n)
    s.add(
        MetricForecast(
            tracked_post_id=post,
            workspace_id=tp.workspace_id,
            platform=tp.platform,
            model="damped",
            made_at=made,
            horizon_h=horizon,
            target_at=made + timedelta(hours=horizon),
            predicted=predicted,
            low=low,
            high=high,
            actual=actual,
        )
    )


def test_forecast_error_median_ape_per_platform_and_horizon(db: Database, world: World) -> None:
    with db.session() as s:
        p1, p2 = world.post["p1"], world.post["p2"]
        _forecast(s, p1, 1, 110, 100, 120, 100, 1)  # 10 %, inside the band
        _forecast(s, p1, 1, 90, 80, 95, 100, 2)  # 10 %, outside
        _forecast(s, p1, 1, 130, 120, 140, 100, 3)  # 30 %, outside
        _forecast(s, p1, 3, 200, 150, 260, 250, 4)  # 20 %, inside
        _forecast(s, p1, 1, 100, 90, 110, None, 5)  # no actual yet: not measured
        _forecast(s, p1, 2, 100, 90, 110, 0, 6)  # actual 0: no percentage error
        _forecast(s, p2, 1, 50, 40, 60, 40, 7)  # 25 %, inside (the band's edge counts)
        _forecast(s, world.b_post, 1, 10_000, 1, 2, 10, 8)  # workspace B
    with db.reading() as s:
        got = rows(forecast_error(scope(s)))
        empty = forecast_error(scope(s, "fresh"))
    table = [(r["platform"], r["model"], r["horizon_h"], r["forecasts"]) for r in got]
    assert table == [("tiktok", "damped", 1, 1), ("youtube", "damped", 1, 3), ("youtube", "damped", 3, 1)]
    by = {(r["platform"], r["horizon_h"]): r for r in got}
    assert by[("youtube", 1)]["median_ape_pct"] == pytest.approx(10.0)
    assert by[("youtube", 1)]["within_band_pct"] == pytest.approx(100 / 3)
    assert by[("youtube", 3)]["median_ape_pct"] == pytest.approx(20.0)
    assert by[("tiktok", 1)]["median_ape_pct"] == pytest.approx(25.0) and by[("tiktok", 1)]["within_band_pct"] == 100
    assert empty.empty and "median_ape_pct" in empty.columns


# --- JSON ---


def test_to_records_is_json_safe_and_keeps_missing_as_none() -> None:
    df = pd.DataFrame(
        {
            "views": pd.array([5, None], dtype="Int64"),
            "rate": pd.array([0.5, None], dtype="Float64"),
            "f": [float("nan"), 1.5],
            "at": pd.to_datetime([NOW, None], utc=True),
            "name": ["x", None],
        }
    )
    got = to_records(df)
    assert got == [
        {"views": 5, "rate": 0.5, "f": None, "at": NOW.isoformat(), "name": "x"},
        {"views": None, "rate": None, "f": 1.5, "at": None, "name": None},
    ]
    assert type(got[0]["views"]) is int
    json.dumps(got, allow_nan=False)
