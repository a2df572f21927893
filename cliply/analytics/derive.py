"""Derived numbers over a post's metric snapshots: totals, engagement rate, velocity and acceleration.

Pure functions over "points": any objects with an aware `fetched_at` and the metric attributes (a stored
`MetricSnapshot`, or the `Point` below). A metric that is None was not reported by the platform: it is skipped
or makes the result None, never counted as 0.

    engagement rate = (likes + comments + shares + saves) / views
        a term the platform does not report is left out; None when views is unknown or 0.
    velocity (views/hour) = (views(latest) - views(start)) / hours(latest - start)
        start = the newest point at or before latest - window (default 1 h); with a shorter history, the
        oldest point. The real time between the two points is used, so uneven fetch spacing is exact.
    acceleration (views/hour²) = (velocity of the last window - velocity of the window before it)
        / hours between the midpoints of the two windows; the window before ends at the last window's start.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

METRICS = ("views", "likes", "comments", "shares", "saves", "reach", "impressions", "watch_time_s")
ENGAGEMENT_TERMS = ("likes", "comments", "shares", "saves")
WINDOW = timedelta(hours=1)
HOUR_S = 3600.0


@dataclass(frozen=True)
class Point:
    """One fetch of a post's counters (None = not reported by the platform)."""

    fetched_at: datetime
    views: int | None = None
    likes: int | None = None
    comments: int | None = None
    shares: int | None = None
    saves: int | None = None
    reach: int | None = None
    impressions: int | None = None
    watch_time_s: float | None = None


@dataclass(frozen=True)
class Derived:
    """The current derived numbers of one post; `as_of` says when its newest numbers were fetched."""

    totals: dict[str, float | None]
    engagement_rate: float | None
    velocity: float | None  # views per hour over the last window
    acceleration: float | None  # views per hour, per hour
    as_of: datetime | None  # the latest fetch time
    age_h: float | None  # hours between `as_of` and the `now` asked about (None when no now was given)

    @property
    def fetched_at(self) -> datetime | None:
        return self.as_of


def hours(delta: timedelta) -> float:
    return delta.total_seconds() / HOUR_S


def value(point: Any, metric: str) -> float | None:
    got = getattr(point, metric, None)
    return None if got is None else float(got)


def engagement_rate(snapshot: Any) -> float | None:
    """(likes + comments + shares + saves) / views; unreported terms skipped, None when views is None or 0."""
    views = value(snapshot, "views")
    if not views:
        return None
    terms = [value(snapshot, term) for term in ENGAGEMENT_TERMS]
    return sum(t for t in terms if t is not None) / views


def with_views(points: Iterable[Any]) -> list[Any]:
    """The points that report views, oldest first; of several at the same instant, the last one given wins."""
    by_time: dict[datetime, Any] = {}
    for point in points:
        if value(point, "views") is not None:
            by_time[point.fetched_at] = point
    return [by_time[t] for t in sorted(by_time)]


def window_start(series: Sequence[Any], end: int, window: timedelta) -> int | None:
    """Index of the newest point at or before series[end] - window (the oldest point when history is shorter)."""
    if end < 1:
        return None
    cutoff = series[end].fetched_at - window
    for i in range(end - 1, -1, -1):
        if series[i].fetched_at <= cutoff:
            return i
    return 0


def rate(series: Sequence[Any], start: int, end: int) -> float:
    """Views per hour between two points of a time-ordered series (distinct times, views reported)."""
    gained = value(series[end], "views") or 0.0
    gained -= value(series[start], "views") or 0.0
    return gained / hours(series[end].fetched_at - series[start].fetched_at)


def velocity(points: Iterable[Any], *, window: timedelta = WINDOW) -> float | None:
    """Views per hour over the last `window`; None with fewer than 2 points that report views."""
    series = with_views(points)
    start = window_start(series, len(series) - 1, window)
    return None if start is None else rate(series, start, len(series) - 1)


def acceleration(points: Iterable[Any], *, window: timedelta = WINDOW) -> float | None:
    """Change of velocity per hour between the last two windows; None without two windows (3 points)."""
    series = with_views(points)
    end = len(series) - 1
    mid = window_start(series, end, window)
    first = None if mid is None else window_start(series, mid, window)
    if mid is None or first is None:
        return None
    last_v, prev_v = rate(series, mid, end), rate(series, first, mid)
    t = [series[i].fetched_at for i in (first, mid, end)]
    # Each velocity is an average over its window, so it belongs to the window's midpoint.
    return (last_v - prev_v) / (hours(t[2] - t[0]) / 2)


def totals(points: Iterable[Any]) -> dict[str, float | None]:
    """The latest reported value of each metric (None where the platform never reported it)."""
    out: dict[str, float | None] = dict.fromkeys(METRICS)
    for point in sorted(points, key=lambda p: p.fetched_at):
        for metric in METRICS:
            got = value(point, metric)
            if got is not None:
                out[metric] = got
    return out


def derived(points: Iterable[Any], now: datetime | None = None, *, window: timedelta = WINDOW) -> Derived:
    """All derived numbers of one post's history; `age_h` is how old the numbers are at `now`."""
    history = list(points)
    as_of = max((p.fetched_at for p in history), default=None)
    sums = totals(history)
    return Derived(
        totals=sums,
        engagement_rate=engagement_rate(SimpleNamespace(**sums)),
        velocity=velocity(history, window=window),
        acceleration=acceleration(history, window=window),
        as_of=as_of,
        age_h=hours(now - as_of) if now is not None and as_of is not None else None,
    )
