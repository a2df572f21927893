"""PNG charts of the analytics (matplotlib, Agg canvas: no display, no pyplot global state, safe in threads).

A missing value is never drawn as 0: points without views are left out of a line, and a platform that does not
report a number gets no bar but an "n/a" label.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

import pandas as pd
from matplotlib import rc_context
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure

from cliply.storage.media_store import MediaStore, validate_key

STYLE: dict[str, Any] = {"font.size": 11, "axes.titlesize": 13, "axes.labelsize": 11, "legend.fontsize": 10}
SIZE = (9.0, 5.0)  # inches; 9 x 5 at 100 dpi = 900 x 500 pixels
DPI = 100
VIEWS, FORECAST, BAND, NOTE = "#1f77b4", "#d62728", "#f4a6a6", "#555555"


def _styled(build: Callable[..., Figure]) -> Callable[..., Figure]:
    """Apply STYLE while the figure's artists are created (fonts are fixed at creation)."""

    @functools.wraps(build)
    def wrapper(*args: Any, **kwargs: Any) -> Figure:
        with rc_context(STYLE):  # type: ignore[arg-type]  # keys are valid rcParams
            return build(*args, **kwargs)

    return wrapper


def _figure(size: tuple[float, float] = SIZE) -> Figure:
    fig = Figure(figsize=size, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def _missing(value: Any) -> bool:
    return value is None or bool(pd.isna(value))


def _rows(points: Iterable[Any] | pd.DataFrame) -> list[Any]:
    if isinstance(points, pd.DataFrame):
        return list(points.itertuples(index=False))
    return list(points)


# --- a post's views over time ---


def views_series(points: Iterable[Any] | pd.DataFrame) -> tuple[list[datetime], list[float]]:
    """(times, views) of the points that report views, oldest first."""
    pairs = sorted(
        (pd.Timestamp(p.fetched_at).to_pydatetime(), float(p.views)) for p in _rows(points) if not _missing(p.views)
    )
    return [t for t, _ in pairs], [v for _, v in pairs]


@_styled
def views_figure(points: Iterable[Any] | pd.DataFrame, forecasts: Any = None, title: str = "Views") -> Figure:
    """Views over time; the +1/+2/+3 h forecast as a dashed line with its 80 % band shaded, or the reason there is
    none. `points`: objects (or a post_stats frame) with fetched_at and views; `forecasts`: a list of Forecast
    (target_at, predicted, low, high), a NoForecast (reason), or None."""
    fig = _figure()
    ax = fig.add_subplot()
    times, views = views_series(points)
    ax.plot(times, views, marker="o", markersize=3, color=VIEWS, label="views (fetched)")  # type: ignore[arg-type]
    drawn = _draw_forecast(ax, times, views, forecasts)
    if not times:
        ax.text(0.5, 0.5, "no views reported yet", transform=ax.transAxes, ha="center", color=NOTE)
    if not drawn:
        reason = getattr(forecasts, "reason", None) or "none made yet"
        ax.text(0.01, 0.97, f"no forecast: {reason}", transform=ax.transAxes, va="top", color=NOTE, wrap=True)
    ax.set_title(title)
    ax.set_xlabel("time (UTC)")
    ax.set_ylabel("views")
    locator = AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    return fig


def _draw_forecast(ax: Any, times: list[datetime], views: list[float], forecasts: Any) -> bool:
    if forecasts is None or hasattr(forecasts, "reason"):
        return False
    ahead = sorted((f for f in forecasts if not _missing(f.predicted)), key=lambda f: f.target_at)
    if not ahead:
        return False
    # Start the forecast line at the last fetched point, so it reads as a continuation.
    t = [*times[-1:], *(pd.Timestamp(f.target_at).to_pydatetime() for f in ahead)]
    mid = [*views[-1:], *(float(f.predicted) for f in ahead)]
    low = [*views[-1:], *(float(f.low) for f in ahead)]
    high = [*views[-1:], *(float(f.high) for f in ahead)]
    hours = ", ".join(f"+{f.horizon_h} h" for f in ahead if hasattr(f, "horizon_h"))
    ax.plot(t, mid, linestyle="--", marker="o", markersize=3, color=FORECAST, label=f"forecast ({hours})")
    ax.fill_between(t, low, high, color=BAND, alpha=0.5, label="80 % prediction interval")
    return True


def views_chart(points: Iterable[Any] | pd.DataFrame, forecasts: Any = None, title: str = "Views") -> bytes:
    return png(views_figure(points, forecasts, title))


# --- platform comparison ---


@_styled
def platform_figure(df: pd.DataFrame, title: str = "Platforms") -> Figure:
    """Bars per platform from a platform_comparison frame: views, and engagement rate beside it."""
    fig = _figure()
    views_ax, rate_ax = fig.subplots(1, 2, width_ratios=[3, 2])
    platforms = [str(p) for p in df["platform"]] if len(df) else []
    _bars(views_ax, platforms, list(df["views"]) if len(df) else [], "views", VIEWS, "views (latest, summed)")
    rates = [None if _missing(r) else 100.0 * float(r) for r in df["engagement_rate"]] if len(df) else []
    _bars(rate_ax, platforms, rates, "engagement rate (%)", FORECAST, "engagement rate")
    views_ax.set_title("Views per platform")
    rate_ax.set_title("Engagement rate")
    fig.suptitle(title)
    return fig


def _bars(ax: Any, labels: list[str], values: Sequence[Any], ylabel: str, color: str, legend: str) -> None:
    """Vertical bars; a missing value gets no bar (not a 0-height one) and an "n/a" label."""
    xs = list(range(len(labels)))
    known = [(x, float(v)) for x, v in zip(xs, values, strict=True) if not _missing(v)]
    ax.bar([x for x, _ in known], [v for _, v in known], color=color, label=legend)
    for x, v in zip(xs, values, strict=True):
        if _missing(v):
            ax.text(x, 0, "n/a", ha="center", va="bottom", color=NOTE)
    ax.set_xticks(xs, labels, rotation=30, ha="right")
    ax.set_xlabel("platform")
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="upper right")
    if not labels:
        ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center", color=NOTE)


def platform_chart(df: pd.DataFrame, title: str = "Platforms") -> bytes:
    return png(platform_figure(df, title))


# --- leaderboard ---


def _board_label(row: dict[str, Any]) -> str:
    if "title" in row:
        return str(row.get("title") or row.get("clip_id"))
    handle = row.get("handle")
    platform = row.get("platform")
    if _missing(handle):
        return "no account (API key)"
    return f"{handle} ({platform})" if not _missing(platform) else str(handle)


@_styled
def leaderboard_figure(df: pd.DataFrame, title: str = "Leaderboard: views gained") -> Figure:
    """Horizontal bars of views gained, the leader on top; a row with no views reported gets "n/a"."""
    rows = df.to_dict("records")
    fig = _figure((9.0, max(3.0, 0.45 * len(rows) + 1.5)))
    ax = fig.add_subplot()
    labels = [_board_label(r) for r in rows]
    ys = list(range(len(rows)))[::-1]  # first row at the top
    known = [(y, float(r["views_gained"])) for y, r in zip(ys, rows, strict=True) if not _missing(r["views_gained"])]
    ax.barh([y for y, _ in known], [v for _, v in known], color=VIEWS, label="views gained in the window")
    for y, r in zip(ys, rows, strict=True):
        if _missing(r["views_gained"]):
            ax.text(0, y, " n/a (no views reported)", va="center", color=NOTE)
    ax.set_yticks(ys, labels)
    ax.set_xlabel("views gained")
    ax.set_ylabel("clip" if "title" in df.columns else "account")
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="lower right")
    if not rows:
        ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center", color=NOTE)
    return fig


def leaderboard_chart(df: pd.DataFrame, title: str = "Leaderboard: views gained") -> bytes:
    return png(leaderboard_figure(df, title))


# --- storage ---


def save_chart(media: MediaStore, key: str, png_bytes: bytes) -> str:
    """Store the PNG under `key` in the media store (for the web pages and the bot); returns the key."""
    media.put_bytes(validate_key(key), png_bytes, content_type="image/png")
    return key
