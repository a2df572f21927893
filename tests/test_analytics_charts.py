"""Charts: valid PNGs of sensible size, missing values neither crash nor get drawn as 0, the forecast band or the
reason there is none, and storing a chart in the media store."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.patches import Rectangle
from PIL import Image

from cliply.analytics.charts import (
    leaderboard_chart,
    leaderboard_figure,
    platform_chart,
    platform_figure,
    save_chart,
    views_chart,
    views_figure,
)
from cliply.analytics.derive import Point
from cliply.storage.media_store import LocalMediaStore

T0 = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)


@dataclass
class Fc:  # the shape of forecast.Forecast
    horizon_h: int
    target_at: datetime
    predicted: float
    low: float
    high: float
    model: str = "damped"


@dataclass
class NoFc:  # the shape of forecast.NoForecast
    reason: str


def image(png: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(png))
    img.verify()
    return Image.open(io.BytesIO(png))


def points() -> list[Point]:
    return [
        Point(T0, views=100, likes=5),
        Point(T0 + H, views=None, likes=7),  # this fetch reported no views
        Point(T0 + 2 * H, views=400, likes=9),
        Point(T0 + 3 * H, views=650),
    ]


def forecasts() -> list[Fc]:
    return [Fc(h, T0 + (3 + h) * H, 650 + 200 * h, 600 + 150 * h, 700 + 260 * h) for h in (1, 2, 3)]


def test_views_chart_is_a_png_with_the_forecast_band() -> None:
    png = views_chart(points(), forecasts(), "Post 7 on youtube")
    img = image(png)
    assert img.format == "PNG" and img.size == (900, 500)
    fig = views_figure(points(), forecasts(), "Post 7")
    ax = fig.axes[0]
    assert [line.get_label() for line in ax.get_lines()] == ["views (fetched)", "forecast (+1 h, +2 h, +3 h)"]
    assert any(isinstance(c, PolyCollection) for c in ax.collections)  # the shaded 80 % band
    legend_box = ax.get_legend()
    assert legend_box is not None
    legend = [t.get_text() for t in legend_box.get_texts()]
    assert "80 % prediction interval" in legend
    assert ax.get_xlabel() and ax.get_ylabel() == "views"


def test_a_missing_view_count_is_left_out_not_drawn_as_zero() -> None:
    ax = views_figure(points(), None).axes[0]
    ys = [float(y) for y in ax.get_lines()[0].get_ydata()]  # type: ignore[arg-type,union-attr]
    assert ys == [100.0, 400.0, 650.0] and 0 not in ys


def test_no_forecast_is_annotated_with_its_reason() -> None:
    for given, reason in [(NoFc("fewer than 3 points"), "fewer than 3 points"), (None, "none made yet")]:
        fig = views_figure(points(), given)
        texts = [t.get_text() for t in fig.axes[0].texts]
        assert f"no forecast: {reason}" in texts
        assert not fig.axes[0].collections  # no band
    assert image(views_chart(points(), NoFc("too little history"))).size == (900, 500)


def test_views_chart_accepts_a_post_stats_frame_and_all_missing_values() -> None:
    df = pd.DataFrame(
        {"fetched_at": pd.to_datetime([T0, T0 + H], utc=True), "views": pd.array([None, None], dtype="Int64")}
    )
    assert image(views_chart(df, NoFc("no views"))).format == "PNG"
    assert image(views_chart([], None)).format == "PNG"


def comparison() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "platform": ["bluesky", "tiktok", "youtube"],
            "posts": [1, 2, 3],
            "views": pd.array([None, 1200, 7150], dtype="Int64"),
            "engagement_rate": pd.array([None, 0.0925, 0.0123], dtype="Float64"),
        }
    )


def test_platform_chart_draws_no_bar_for_a_platform_without_views() -> None:
    img = image(platform_chart(comparison()))
    assert img.format == "PNG" and img.size == (900, 500)
    views_ax, rate_ax = platform_figure(comparison()).axes
    heights = [p.get_height() for p in views_ax.patches if isinstance(p, Rectangle)]
    assert heights == [1200.0, 7150.0]  # bluesky gets "n/a", not a zero bar
    assert [t.get_text() for t in views_ax.texts] == ["n/a"]
    assert [round(p.get_height(), 2) for p in rate_ax.patches if isinstance(p, Rectangle)] == [9.25, 1.23]
    assert views_ax.get_legend() is not None and views_ax.get_xlabel() == "platform"


def test_leaderboard_chart_horizontal_bars_leader_on_top() -> None:
    df = pd.DataFrame(
        {
            "rank": [1, 2, 3],
            "account_id": [2, 1, 3],
            "platform": ["tiktok", "youtube", "bluesky"],
            "handle": ["alice_tt", None, "@alice.bsky.social"],
            "posts": [2, 1, 1],
            "views": pd.array([1200, 50, None], dtype="Int64"),
            "views_gained": pd.array([1200, 50, None], dtype="Int64"),
        }
    )
    img = image(leaderboard_chart(df))
    assert img.format == "PNG" and img.size[0] == 900 and img.size[1] >= 300
    ax = leaderboard_figure(df).axes[0]
    bars = sorted((p for p in ax.patches if isinstance(p, Rectangle)), key=lambda p: -p.get_y())
    assert [b.get_width() for b in bars] == [1200.0, 50.0]  # the row without views has no bar
    top_down = sorted(zip(ax.get_yticks(), (t.get_text() for t in ax.get_yticklabels()), strict=True), reverse=True)
    assert [label for _, label in top_down] == [
        "alice_tt (tiktok)",
        "no account (API key)",
        "@alice.bsky.social (bluesky)",
    ]
    assert image(leaderboard_chart(df.iloc[0:0])).format == "PNG"


def test_clip_leaderboard_uses_titles() -> None:
    df = pd.DataFrame(
        {"rank": [1], "clip_id": ["c1"], "title": ["Big reveal"], "posts": [3], "views": [10], "views_gained": [7]}
    )
    ax = leaderboard_figure(df).axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["Big reveal"] and ax.get_ylabel() == "clip"


def test_save_chart_stores_the_png(tmp_path: Path) -> None:
    media = LocalMediaStore(tmp_path / "media")
    png = views_chart(points(), forecasts())
    key = save_chart(media, "charts/ws1/post-7-views.png", png)
    assert key == "charts/ws1/post-7-views.png" and media.get_bytes(key) == png
    with pytest.raises(ValueError):
        save_chart(media, "../escape.png", png)
