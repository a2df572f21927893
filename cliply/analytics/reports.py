"""Reports over tracked posts, one workspace at a time, as pandas DataFrames.

SQL does the heavy lifting: the latest snapshot of a post and its value at a window's start are found with
correlated `ORDER BY fetched_at LIMIT 1` subqueries, each one index seek on (tracked_post_id, fetched_at), so a
report costs a few seeks per tracked post whatever the length of the history; grouping and ranking happen in SQL
too. pandas only shapes the small result. A metric a platform does not report stays missing (None / <NA>), never 0.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import pandas as pd
from sqlalchemy import ColumnElement, Select, case, func, literal, select
from sqlalchemy.orm import aliased
from sqlalchemy.sql.selectable import Subquery

from cliply.analytics.tiers import TierPolicy, interval
from cliply.store.models import Clip, utcnow
from cliply.store.models_accounts import Account
from cliply.store.models_analytics import METRIC_FIELDS, MetricForecast, MetricSnapshot, TrackedPost
from cliply.store.repo import NotFound, WorkspaceScope

METRICS = METRIC_FIELDS
COUNTERS = tuple(m for m in METRICS if m != "watch_time_s")
ENGAGEMENT_TERMS = ("likes", "comments", "shares", "saves")
COMPARED = ("views", "likes", "comments", "shares", "saves")
Since = timedelta | str | None

_SINCE = re.compile(r"\s*(\d+)\s*(m|min|h|d|w)\s*", re.IGNORECASE)
_UNITS = {"m": "minutes", "min": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_TP, _MS = TrackedPost, MetricSnapshot


def parse_since(text: str) -> timedelta:
    """'24h', '7d', '30d', '2w', '90m' -> timedelta."""
    match = _SINCE.fullmatch(text or "")
    if match is None or int(match[1]) == 0:
        raise ValueError(
            f"bad time window {text!r}: give a positive number and a unit, m (minutes), h (hours), d (days) "
            "or w (weeks), e.g. 24h, 7d or 30d"
        )
    return timedelta(**{_UNITS[match[2].lower()]: int(match[1])})


def _window(since: Since) -> timedelta | None:
    return parse_since(since) if isinstance(since, str) else since


def _start(since: Since, now: datetime) -> datetime | None:
    window = _window(since)
    return None if window is None else now - window


# --- JSON ---


def _json_value(value: Any) -> Any:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, pd.Timestamp | datetime):
        return value.isoformat()
    if isinstance(value, pd.Timedelta | timedelta):
        return value.total_seconds()
    if hasattr(value, "item"):  # numpy scalars
        return _json_value(value.item())
    return value


def to_records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON-safe rows: missing values (NaN, <NA>, NaT, None) become None, times ISO strings, numbers Python's."""
    columns = [str(c) for c in df.columns]
    return [
        {col: _json_value(v) for col, v in zip(columns, row, strict=True)}
        for row in df.itertuples(index=False, name=None)
    ]


to_json = to_records  # the name the module map uses


# --- shaping ---


def _typed(df: pd.DataFrame) -> pd.DataFrame:
    """Counters as nullable integers (missing stays <NA>, integers stay integers), times as UTC timestamps."""
    for col in df.columns:
        if col in COUNTERS or col.endswith(("_gained", "_posts")) or col in ("posts", "posts_reporting"):
            df[col] = pd.to_numeric(df[col]).astype("Int64")
        elif col == "watch_time_s" or col in ("engagement_rate", "median_views"):
            df[col] = pd.to_numeric(df[col]).astype("Float64")
        elif col.endswith("_at"):
            df[col] = pd.to_datetime(df[col], utc=True)
    return df


def _frame(rows: Any, columns: list[str]) -> pd.DataFrame:
    return _typed(pd.DataFrame([tuple(r) for r in rows], columns=columns))


def engagement(df: pd.DataFrame) -> pd.Series:
    """(likes + comments + shares + saves) / views per row, the rule of derive.engagement_rate: an unreported
    term is left out, and the rate is missing when views is missing or 0."""
    terms = df[[t for t in ENGAGEMENT_TERMS if t in df.columns]].astype("Float64")
    views = df["views"].astype("Float64")
    views = views.where(views > 0)
    return (terms.sum(axis=1, skipna=True) / views).astype("Float64")


# --- SQL building blocks ---


def snapshot_value_at(
    post_id: Any,
    column: str,
    *,
    until: datetime | None = None,
    after: datetime | None = None,
    first: bool = False,
    reported: str | None = None,
) -> Any:
    """Correlated subquery: `column` of post `post_id`'s newest (or, first=True, oldest) snapshot in the range,
    optionally only among snapshots where `reported` is not NULL. One index seek on (tracked_post_id, fetched_at)."""
    ms = aliased(MetricSnapshot)  # its own alias: the outer query may join metric_snapshots too
    stmt = select(getattr(ms, column)).where(ms.tracked_post_id == post_id)
    if until is not None:
        stmt = stmt.where(ms.fetched_at <= until)
    if after is not None:
        stmt = stmt.where(ms.fetched_at >= after)
    if reported is not None:
        stmt = stmt.where(getattr(ms, reported).is_not(None))
    order = ms.fetched_at.asc() if first else ms.fetched_at.desc()
    return stmt.correlate_except(ms).order_by(order).limit(1).scalar_subquery()


def _posts(scope: WorkspaceScope) -> Select[Any]:
    return select(_TP).where(_TP.workspace_id == scope.workspace_id)


POST_COLUMNS = [
    "tracked_post_id",
    "platform",
    "platform_post_id",
    "account_id",
    "account",
    "clip_id",
    "url",
    "origin",
    "status",
    "tier",
    "published_at",
    "fetched_at",
    *METRICS,
]
_STATE_COLUMNS = ["tracked_at", "last_fetched_at", "consecutive_failures", "last_error_class", "last_error", "gone_at"]


def _latest_rows(
    scope: WorkspaceScope, *, where: list[ColumnElement[bool]], now: datetime, extra: list[Any] | None = None
) -> Any:
    """One row per tracked post of the workspace matching `where`, with its newest snapshot (at or before now)."""
    picked = (
        select(_TP.id.label("post_id"), snapshot_value_at(_TP.id, "id", until=now).label("snapshot_id"))
        .where(_TP.workspace_id == scope.workspace_id, *where)
        .subquery("picked")
    )
    stmt = (
        select(
            _TP.id,
            _TP.platform,
            _TP.platform_post_id,
            _TP.account_id,
            Account.handle,
            _TP.clip_id,
            _TP.url,
            _TP.origin,
            _TP.status,
            _TP.tier,
            _TP.published_at,
            _MS.fetched_at,
            *(getattr(_MS, m) for m in METRICS),
            *(extra or []),
        )
        .select_from(picked)
        .join(_TP, _TP.id == picked.c.post_id)
        .outerjoin(_MS, _MS.id == picked.c.snapshot_id)
        .outerjoin(Account, (Account.id == _TP.account_id) & (Account.workspace_id == scope.workspace_id))
        .order_by(_TP.id)
    )
    return scope.session.execute(stmt)


def latest_frame(
    scope: WorkspaceScope,
    *,
    since: Since = None,
    clip_id: str | None = None,
    now: datetime | None = None,
    policy: TierPolicy | None = None,
) -> pd.DataFrame:
    """Every tracked post (published within `since`, of `clip_id` if given) with its latest snapshot, engagement
    rate and freshness (stale, gone, reason)."""
    now = now or utcnow()
    where: list[ColumnElement[bool]] = []
    start = _start(since, now)
    if start is not None:
        where.append(_TP.published_at >= start)
    if clip_id is not None:
        where.append(_TP.clip_id == clip_id)
    extra = [getattr(_TP, c) for c in _STATE_COLUMNS]
    df = _frame(_latest_rows(scope, where=where, now=now, extra=extra), POST_COLUMNS + _STATE_COLUMNS)
    df["engagement_rate"] = engagement(df)
    fresh = _freshness_columns(df, now, policy or TierPolicy())
    return pd.concat([df.drop(columns=_STATE_COLUMNS), fresh], axis=1)


# --- post_stats ---

STATS_COLUMNS = ["fetched_at", "granularity", *METRICS]


def post_stats(
    scope: WorkspaceScope, tracked_post_id: int, since: Since = None, *, now: datetime | None = None
) -> pd.DataFrame:
    """The snapshots of one tracked post, oldest first, with their engagement rate. NotFound outside the workspace."""
    post = scope.session.scalars(_posts(scope).where(_TP.id == tracked_post_id)).one_or_none()
    if post is None:
        raise NotFound(f"no tracked post {tracked_post_id} in workspace {scope.workspace.name!r}")
    stmt = select(_MS.fetched_at, _MS.granularity, *(getattr(_MS, m) for m in METRICS)).where(
        _MS.tracked_post_id == post.id, _MS.workspace_id == scope.workspace_id
    )
    start = _start(since, now or utcnow())
    if start is not None:
        stmt = stmt.where(_MS.fetched_at >= start)
    df = _frame(scope.session.execute(stmt.order_by(_MS.fetched_at)), STATS_COLUMNS)
    df["engagement_rate"] = engagement(df)
    return df


# --- clip_report ---


@dataclass(frozen=True)
class ClipReport:
    """`posts`: one row per tracked post of the clip (every platform and account) with its latest totals and
    `views_gained` within the window; `totals`: per metric, the sum over the posts that report it and how many do."""

    clip_id: str
    posts: pd.DataFrame
    totals: pd.DataFrame

    def to_dict(self) -> dict[str, Any]:
        return {"clip_id": self.clip_id, "posts": to_records(self.posts), "totals": to_records(self.totals)}


def clip_report(scope: WorkspaceScope, clip_id: str, since: Since = None, *, now: datetime | None = None) -> ClipReport:
    """The clip across all its platforms and accounts (empty frames when nothing of the clip is tracked)."""
    now = now or utcnow()
    gained = views_gained_column(_TP.id, _TP.published_at, _start(since, now), now).label("views_gained")
    rows = _latest_rows(scope, where=[_TP.clip_id == clip_id], now=now, extra=[gained])
    posts = _frame(rows, [*POST_COLUMNS, "views_gained"])
    posts["engagement_rate"] = engagement(posts)
    return ClipReport(clip_id, posts, metric_totals(posts))


def metric_totals(posts: pd.DataFrame) -> pd.DataFrame:
    """Per metric (and views_gained when the frame has it): the sum over the posts that report it (missing when none
    does), how many posts report it, and how many posts there are."""
    rows = []
    for metric in [m for m in (*METRICS, "views_gained") if m in posts.columns]:
        values = posts[metric]
        reporting = int(values.notna().sum())
        total = values.sum(skipna=True) if reporting else None
        rows.append((metric, total, reporting, len(posts)))
    df = pd.DataFrame(rows, columns=["metric", "total", "posts_reporting", "posts"])
    df["total"] = pd.to_numeric(df["total"]).astype("Float64")
    return _typed(df)


# --- window gains (leaderboard, clip report) ---


def views_gained_column(post_id: Any, published_at: Any, start: datetime | None, now: datetime) -> Any:
    """Views gained by a post within [start, now] = latest views − views at the window start. A post published in
    the window starts from 0; one first seen inside the window (tracked later) counts from its first fetch there.
    Only snapshots that report views count; NULL when the platform reports no views."""
    latest = snapshot_value_at(post_id, "views", until=now, reported="views")
    if start is None:
        return latest
    at_start = snapshot_value_at(post_id, "views", until=start, reported="views")
    first_seen = snapshot_value_at(post_id, "views", after=start, until=now, first=True, reported="views")
    # COALESCE stops at the first non-NULL argument on both backends, so the later seeks run only when needed.
    baseline = func.coalesce(at_start, case((published_at >= start, literal(0)), else_=first_seen))
    return latest - baseline


Board = Literal["account", "clip"]
LEADERBOARD_COLUMNS = {
    "account": ["rank", "account_id", "platform", "handle", "posts", "views", "views_gained"],
    "clip": ["rank", "clip_id", "title", "posts", "views", "views_gained"],
}
TITLE_CHARS = 60


def leaderboard(
    scope: WorkspaceScope,
    by: Board = "account",
    since: Since = timedelta(days=7),
    limit: int = 20,
    *,
    now: datetime | None = None,
) -> pd.DataFrame:
    """Accounts (creators) or clips ranked by views gained within the window. Posts without a clip (tracked by
    URL) are left out of the clip board; posts read with an API key (no account) form one account row."""
    if by not in LEADERBOARD_COLUMNS:
        raise ValueError(f"leaderboard by {by!r}: choose 'account' or 'clip'")
    now = now or utcnow()
    window = _window(since)
    start = None if window is None else now - window
    per_post = select(
        _TP.account_id.label("account_id"),
        _TP.clip_id.label("clip_id"),
        snapshot_value_at(_TP.id, "views", until=now, reported="views").label("views"),
        views_gained_column(_TP.id, _TP.published_at, start, now).label("gained"),
    ).where(_TP.workspace_id == scope.workspace_id, _TP.published_at <= now)
    if by == "clip":
        per_post = per_post.where(_TP.clip_id.is_not(None))
    stmt = _ranked(scope, per_post.subquery("per_post"), by, limit)
    df = pd.DataFrame([tuple(r) for r in scope.session.execute(stmt)], columns=LEADERBOARD_COLUMNS[by][1:])
    if by == "clip":
        df["title"] = [_title(t, c) for t, c in zip(df["title"], df["clip_id"], strict=True)]
    df.insert(0, "rank", range(1, len(df) + 1))
    return _typed(df)


def _ranked(scope: WorkspaceScope, per_post: Subquery, by: Board, limit: int) -> Select[Any]:
    key = per_post.c.account_id if by == "account" else per_post.c.clip_id
    gained = func.sum(per_post.c.gained)
    grouped = (
        select(
            key.label("key"),
            func.count().label("posts"),
            func.sum(per_post.c.views).label("views"),
            gained.label("gained"),
        )
        .group_by(key)
        .subquery("grouped")
    )
    g = grouped.c
    order = (case((g.gained.is_(None), 1), else_=0), g.gained.desc(), g.views.desc(), g.key)
    if by == "account":
        label_join = (Account.id == g.key) & (Account.workspace_id == scope.workspace_id)
        return (
            select(g.key, Account.platform, Account.handle, g.posts, g.views, g.gained)
            .select_from(grouped)
            .outerjoin(Account, label_join)
            .order_by(*order)
            .limit(limit)
        )
    clip_join = (Clip.id == g.key) & (Clip.workspace_id == scope.workspace_id)
    return (
        select(g.key, Clip.text, g.posts, g.views, g.gained)
        .select_from(grouped)
        .outerjoin(Clip, clip_join)
        .order_by(*order)
        .limit(limit)
    )


def _title(text: str | None, clip_id: str) -> str:
    words = " ".join((text or "").split())
    if not words:
        return clip_id
    return words if len(words) <= TITLE_CHARS else words[: TITLE_CHARS - 1].rstrip() + "…"


# --- platform comparison ---

PLATFORM_COLUMNS = ["platform", "posts", *COMPARED, "engagement_rate", "median_views"]


def platform_comparison(scope: WorkspaceScope, since: Since = None, *, now: datetime | None = None) -> pd.DataFrame:
    """Per platform, over the posts published within the window (all when since is None): posts, the sum of each
    counter's latest value where reported (missing when no post reports it), engagement rate of those sums and
    the median views per post that reports views."""
    posts = latest_frame(scope, since=since, now=now)
    rows = []
    for platform, group in posts.groupby("platform", sort=True):
        sums = {m: (group[m].sum() if group[m].notna().any() else None) for m in COMPARED}
        rows.append((platform, len(group), *sums.values(), _pooled_rate(group), _median(group["views"])))
    return _typed(pd.DataFrame(rows, columns=PLATFORM_COLUMNS))


def _pooled_rate(posts: pd.DataFrame) -> float | None:
    """Engagement rate of the platform's summed counters, over the posts that report views (> 0)."""
    counted = posts[posts["views"].notna() & (posts["views"] > 0)]
    views = counted["views"].sum()
    return float(counted[list(ENGAGEMENT_TERMS)].sum(skipna=True).sum() / views) if views else None


def _median(values: pd.Series) -> float | None:
    reported = values.dropna()
    return float(reported.median()) if len(reported) else None


# --- freshness ---

FRESHNESS_COLUMNS = [
    "tracked_post_id",
    "platform",
    "url",
    "status",
    "tier",
    "last_fetched_at",
    "last_error_class",
    "last_error",
    "consecutive_failures",
    "stale",
    "gone",
    "reason",
]


def freshness(scope: WorkspaceScope, *, now: datetime | None = None, policy: TierPolicy | None = None) -> pd.DataFrame:
    """Per tracked post: when its numbers were last fetched, whether they are stale and why, whether it is gone.
    Stale = the last fetches failed, it was never fetched, or its last fetch is older than twice its tier's
    interval. A gone post is not stale: its numbers are final."""
    now = now or utcnow()
    cols = [c for c in FRESHNESS_COLUMNS if c not in ("stale", "gone", "reason")]
    stmt = select(
        _TP.id,
        _TP.platform,
        _TP.url,
        _TP.status,
        _TP.tier,
        _TP.last_fetched_at,
        _TP.last_error_class,
        _TP.last_error,
        _TP.consecutive_failures,
        _TP.tracked_at,
        _TP.gone_at,
    ).where(_TP.workspace_id == scope.workspace_id)
    df = _frame(scope.session.execute(stmt.order_by(_TP.id)), [*cols, "tracked_at", "gone_at"])
    df = pd.concat([df, _freshness_columns(df, now, policy or TierPolicy())], axis=1)
    return df[FRESHNESS_COLUMNS]


def _freshness_columns(df: pd.DataFrame, now: datetime, policy: TierPolicy) -> pd.DataFrame:
    needed = ["status", "tier", "last_fetched_at", "consecutive_failures", "last_error_class", "last_error", "gone_at"]
    verdicts = [_verdict(row, now, policy) for row in df[needed].to_dict("records")]
    return pd.DataFrame(verdicts, columns=["stale", "gone", "reason"], index=df.index)


def _verdict(post: dict[str, Any], now: datetime, policy: TierPolicy) -> tuple[bool, bool, str | None]:
    if post["status"] == "gone":
        when = _when(post.get("gone_at"))
        return False, True, "gone: deleted on the platform" + (f" (noticed {when})" if when else "")
    failures = post.get("consecutive_failures") or 0
    if failures:
        cls, msg = post.get("last_error_class") or "error", post.get("last_error") or "no message"
        return True, False, f"{failures} failed fetch{'es' if failures > 1 else ''} in a row; last: {cls}: {msg}"
    last = post.get("last_fetched_at")
    if last is None or pd.isna(last):
        return True, False, "never fetched"
    every = None if post["tier"] == "frozen" else interval(post["tier"], policy)
    age = now - last.to_pydatetime() if isinstance(last, pd.Timestamp) else now - last
    if every is not None and age > 2 * every:
        return True, False, f"last fetched {_human(age)} ago; tier {post['tier']} is refreshed every {_human(every)}"
    return False, False, None


def _when(value: Any) -> str | None:
    if value is None or pd.isna(value):
        return None
    return pd.Timestamp(value).isoformat()


def _human(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    parts = [f"{days}d" if days else "", f"{hours}h" if hours else "", f"{mins}m" if mins and not days else ""]
    return " ".join(p for p in parts if p) or "0m"


# --- forecast error ---

FORECAST_ERROR_COLUMNS = ["platform", "model", "horizon_h", "forecasts", "median_ape_pct", "within_band_pct"]


def forecast_error(scope: WorkspaceScope, since: Since = None, *, now: datetime | None = None) -> pd.DataFrame:
    """Median absolute percentage error per platform, model and horizon over the stored forecasts whose actual value
    is known (target time within the window when `since` is given), with counts and the share of actuals that fell
    inside the forecast's 80 % band. Forecasts of an actual 0 have no percentage error and are left out."""
    stmt = select(
        MetricForecast.platform,
        MetricForecast.model,
        MetricForecast.horizon_h,
        MetricForecast.predicted,
        MetricForecast.low,
        MetricForecast.high,
        MetricForecast.actual,
    ).where(
        MetricForecast.workspace_id == scope.workspace_id,
        MetricForecast.actual.is_not(None),
        MetricForecast.actual > 0,
    )
    start = _start(since, now or utcnow())
    if start is not None:
        stmt = stmt.where(MetricForecast.target_at >= start)
    raw = pd.DataFrame(
        [tuple(r) for r in scope.session.execute(stmt)],
        columns=["platform", "model", "horizon_h", "predicted", "low", "high", "actual"],
    )
    if raw.empty:
        return pd.DataFrame(columns=FORECAST_ERROR_COLUMNS)
    raw["ape"] = (raw["predicted"] - raw["actual"]).abs() / raw["actual"] * 100.0
    raw["inside"] = (raw["actual"] >= raw["low"]) & (raw["actual"] <= raw["high"])
    out = (
        raw.groupby(["platform", "model", "horizon_h"], sort=True)
        .agg(forecasts=("ape", "size"), median_ape_pct=("ape", "median"), within_band_pct=("inside", "mean"))
        .reset_index()
    )
    out["within_band_pct"] = out["within_band_pct"] * 100.0
    return out[FORECAST_ERROR_COLUMNS]
