"""What the analytics pages show, read in the signed-in workspace's scope through the analytics use cases
(cliply/analytics/service.py: stats, leaderboard, list_tracked, show_tracked, track_url, export_csv): the platform
overview, the leaderboard (posts ranked by the leaderboard's own SQL measure of views gained, or the service's
accounts and clips boards), the tracked posts, one post with its freshness, derived numbers and forecast, one clip
across its platforms, and the charts of views over time (cliply/analytics/charts.py, drawn in the viewer's time
zone). Another workspace's id is never found (None), so the pages answer it with their 404 page.

Numbers are shaped for reading here: a metric the platform never reports is "not available", one it reports but has
not sent yet is "not reported yet" (never 0), and every number says when it was fetched."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import pandas as pd
from matplotlib import rc_context
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure
from sqlalchemy import case, select

from cliply.analytics import catalog, charts, reports, service
from cliply.analytics.links import NAMES
from cliply.analytics.tiers import TierPolicy
from cliply.store.models import utcnow
from cliply.store.models_accounts import Account
from cliply.store.models_analytics import METRIC_FIELDS, MetricSnapshot, TrackedPost
from cliply.store.models_publishing import PostTarget
from cliply.store.repo import NotFound
from cliply.usecases import ServiceError, WorkspaceRef, workspace_scope
from cliply.web.sessions import zone_of
from cliply.web.templating import local_time

if TYPE_CHECKING:
    from cliply.wiring import Cliply

PLATFORMS = tuple(NAMES)
SINCE_CHOICES = (("24h", "Last 24 hours"), ("7d", "Last 7 days"), ("30d", "Last 30 days"), ("all", "All time"))
BOARD_CHOICES = (("post", "Posts"), ("account", "Accounts"), ("clip", "Clips"))
BOARD_LIMIT = 20
DEFAULT_SINCE = "7d"
METRIC_LABELS = {
    "views": "Views",
    "likes": "Likes",
    "comments": "Comments",
    "shares": "Shares",
    "saves": "Saves",
    "reach": "Reach",
    "impressions": "Impressions",
    "watch_time_s": "Watch time (s)",
}
NOT_SENT = "not reported yet"
URL_LIMIT = 2000
LINE_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")


def platform_name(platform: str | None) -> str:
    return NAMES.get(platform or "", platform or "-")


def number(value: Any) -> str:
    """`4,928`, `1,234.5`; "not available" / "not reported yet" for what the platform never or not yet sent."""
    if value == service.NOT_AVAILABLE:
        return service.NOT_AVAILABLE
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return NOT_SENT
    number = float(value)
    return f"{number:,.0f}" if number.is_integer() else f"{number:,.1f}"


def percent(rate: float | None) -> str:
    return service.NOT_AVAILABLE if rate is None or pd.isna(rate) else f"{100 * rate:.2f} %"


def _moment(value: str | datetime | None) -> datetime | None:
    if value is None or value == "":
        return None
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def fetched_text(value: str | datetime | None, zone: str, now: datetime) -> str:
    """`fetched 12 min ago (2026-12-07 15:00 CET)`; `never fetched`."""
    moment = _moment(value)
    if moment is None:
        return "never fetched"
    return f"fetched {service.ago(moment, now)} ({local_time(moment, zone)})"


# --- filters ---


@dataclass
class Filters:
    """The overview's filters: a window, a platform ("" for all) and the leaderboard's kind; one message per field
    that was refused (the field keeps what was chosen)."""

    since: str = DEFAULT_SINCE
    platform: str = ""
    by: str = "post"
    errors: dict[str, str] = field(default_factory=dict)

    def query(self, **changes: str) -> dict[str, str]:
        return {"since": self.since, "platform": self.platform, "by": self.by, **changes}


def filters(params: Mapping[str, str]) -> Filters:
    f = Filters(
        since=params.get("since", DEFAULT_SINCE).strip() or DEFAULT_SINCE,
        platform=params.get("platform", "").strip(),
        by=params.get("by", "post").strip() or "post",
    )
    if f.since not in dict(SINCE_CHOICES):
        f.errors["since"] = "Choose one of the listed periods."
        f.since = DEFAULT_SINCE
    if f.platform and f.platform not in PLATFORMS:
        f.errors["platform"] = "Choose one of the listed platforms."
        f.platform = ""
    if f.by not in dict(BOARD_CHOICES):
        f.errors["by"] = "Choose posts, accounts or clips."
        f.by = "post"
    return f


# --- the overview ---


@dataclass
class Overview:
    platforms: list[dict[str, Any]]
    board: list[dict[str, Any]]
    tracked: list[dict[str, Any]]
    chart_alt: str


def _tracked_row(row: dict[str, Any], zone: str, now: datetime) -> dict[str, Any]:
    metrics = row["metrics"]
    keyless = row["account_id"] is None and row["platform"] != "youtube"  # only YouTube is read with an API key
    return {
        **row,
        "account": None if keyless else row["account"],
        "platform_name": platform_name(row["platform"]),
        "summary": " · ".join(f"{METRIC_LABELS[m]} {number(metrics[m])}" for m in ("views", "likes", "comments")),
        "fetched": fetched_text(row["fetched_at"], zone, now),
    }


def overview(app: Cliply, ref: WorkspaceRef, f: Filters, zone: str) -> Overview:
    now = utcnow()
    report = service.stats(app, ref, since=f.since)
    platforms = [
        {
            **row,
            "platform_name": platform_name(row["platform"]),
            "cells": [_platform_number(row, m) for m in ("views", "likes", "comments", "shares", "saves")],
            "rate": percent(row["engagement_rate"]),
            "median": _platform_number(row, "views", row["median_views"]),
        }
        for row in report["platforms"]
        if not f.platform or row["platform"] == f.platform
    ]
    if f.by == "post":
        board = best_posts(app, ref, f.since, f.platform)
    else:
        board = service.leaderboard(app, ref, f.by, f.since)["rows"]
    if f.platform and f.by == "account":
        board = [r for r in board if r.get("platform") == f.platform]
    board = [
        {
            **r,
            "platform_name": platform_name(r.get("platform")) if r.get("platform") else "-",
            "views_text": number(r["views"]),
            "gained_text": number(r["views_gained"]),
        }
        for r in board
    ]
    tracked = [_tracked_row(r, zone, now) for r in service.list_tracked(app, ref, platform=f.platform or None)]
    return Overview(platforms, board, tracked, _platforms_alt(platforms, f))


def best_posts(app: Cliply, ref: WorkspaceRef, since: str, platform: str = "") -> list[dict[str, Any]]:
    """The workspace's tracked posts ranked by views gained in the window, by the leaderboard's own measure and
    order (reports.leaderboard: views gained, then views; a post without view counts after all the others)."""
    window = service.parse_since(since)
    now = utcnow()
    start = None if window is None else now - window
    tp = TrackedPost
    gained = reports.views_gained_column(tp.id, tp.published_at, start, now).label("gained")
    views = reports.snapshot_value_at(tp.id, "views", until=now, reported="views").label("views")
    with workspace_scope(app, ref, write=False) as scope:
        per_post = (
            select(tp.id, tp.platform, tp.platform_post_id, tp.account_id, views, gained)
            .where(tp.workspace_id == scope.workspace_id, tp.published_at <= now)
            .subquery("per_post")
        )
        if platform:
            per_post = select(per_post).where(per_post.c.platform == platform).subquery("per_platform")
        c = per_post.c
        stmt = (
            select(c.id, c.platform, c.platform_post_id, Account.handle, c.views, c.gained)
            .outerjoin(Account, (Account.id == c.account_id) & (Account.workspace_id == scope.workspace_id))
            .order_by(case((c.gained.is_(None), 1), else_=0), c.gained.desc(), c.views.desc(), c.id)
            .limit(BOARD_LIMIT)
        )
        rows = scope.session.execute(stmt).all()
    return [
        {
            "rank": rank,
            "tracked_post_id": pid,
            "platform": plat,
            "post_id": post_id,
            "handle": handle,
            "views": service.NOT_AVAILABLE if not catalog.reports(plat, "views") else views,
            "views_gained": service.NOT_AVAILABLE if not catalog.reports(plat, "views") else gained,
        }
        for rank, (pid, plat, post_id, handle, views, gained) in enumerate(rows, start=1)
    ]


def _platform_number(row: dict[str, Any], metric: str, value: Any = None) -> str:
    if not catalog.reports(str(row["platform"]), metric):
        return service.NOT_AVAILABLE
    return number(row[metric] if value is None else value)


def _platforms_alt(platforms: list[dict[str, Any]], f: Filters) -> str:
    period = dict(SINCE_CHOICES)[f.since].lower()
    if not platforms:
        return f"Views over time per platform, {period}: no posts published in this period have numbers yet."
    parts = [
        f"{p['platform_name']} {p['cells'][0]} views over {p['posts']} post{'' if p['posts'] == 1 else 's'}"
        for p in platforms
    ]
    return f"Views over time per platform, posts published {period}; latest totals: " + "; ".join(parts) + "."


# --- one tracked post ---


@dataclass
class MetricRow:
    label: str
    text: str
    available: bool  # False: the platform never reports it
    fetched: str  # "fetched 12 min ago (…)" of the snapshot the value comes from, "" when there is none
    fetched_at: datetime | None
    stale: bool


@dataclass
class PostPage:
    post: dict[str, Any]
    platform_name: str
    metrics: list[MetricRow]
    engagement: str
    velocity: str
    forecast: list[dict[str, Any]]
    forecast_reason: str | None
    history: list[dict[str, Any]]
    headers: list[str]
    fetched: str
    alt: str


def _metric_rows(post: dict[str, Any], zone: str, now: datetime) -> list[MetricRow]:
    snapshots = post["snapshots"]
    latest = snapshots[-1]["fetched_at"] if snapshots else None
    stale_post = bool(post["freshness"]["stale"])
    rows = []
    for m in METRIC_FIELDS:
        if post["metrics"][m] == service.NOT_AVAILABLE:
            rows.append(MetricRow(METRIC_LABELS[m], service.NOT_AVAILABLE, False, "", None, False))
            continue
        found = next((s for s in reversed(snapshots) if s[m] is not None), None)
        if found is None:
            rows.append(MetricRow(METRIC_LABELS[m], NOT_SENT, True, "", None, stale_post))
            continue
        stale = stale_post or found["fetched_at"] != latest  # the platform stopped sending it
        at = _moment(found["fetched_at"])
        rows.append(MetricRow(METRIC_LABELS[m], number(found[m]), True, fetched_text(at, zone, now), at, stale))
    return rows


def _whole(value: float) -> str:
    """A forecast of views, to the whole view."""
    return f"{round(value):,}"


def _forecast_rows(forecast: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "horizon": f"+{p['horizon_h']} h",
            "target_at": p["target_at"],
            "predicted": _whole(p["predicted"]),
            "interval": f"{_whole(p['low'])} – {_whole(p['high'])}",
        }
        for p in forecast.get("points", [])
        if p.get("predicted") is not None
    ]


def post_page(app: Cliply, ref: WorkspaceRef, tracked_id: str, zone: str) -> PostPage | None:
    try:
        post = service.show_tracked(app, ref, tracked_id)
    except NotFound:
        return None
    now = utcnow()
    derived = post["derived"]
    velocity = derived["velocity_views_per_h"]
    forecast = _forecast_rows(post["forecast"])
    reason = None if forecast else (post["forecast"].get("reason") or "no forecast made yet")
    reported = [m for m in METRIC_FIELDS if post["metrics"][m] != service.NOT_AVAILABLE]
    history = [
        {"fetched_at": s["fetched_at"], "cells": [number(s[m]) for m in reported]} for s in reversed(post["snapshots"])
    ]
    page = PostPage(
        post=post,
        platform_name=platform_name(post["platform"]),
        metrics=_metric_rows(post, zone, now),
        engagement=percent(derived["engagement_rate"]),
        velocity=service.NOT_AVAILABLE if velocity is None else f"{velocity:,.1f} views per hour",
        forecast=forecast,
        forecast_reason=reason,
        history=history,
        headers=[METRIC_LABELS[m] for m in reported],
        fetched=fetched_text(post["fetched_at"], zone, now),
        alt="",
    )
    page.alt = _post_alt(page, zone)
    return page


def _post_alt(page: PostPage, zone: str) -> str:
    views = [s for s in page.post["snapshots"] if isinstance(s["views"], int | float)]
    if page.post["metrics"]["views"] == service.NOT_AVAILABLE:
        text = f"Views over time: {page.platform_name} does not report views for this post."
    elif not views:
        text = "Views over time: no views reported yet."
    else:
        first, last = views[0], views[-1]
        text = (
            f"Views over time: {len(views)} fetch{'' if len(views) == 1 else 'es'} from "
            f"{local_time(first['fetched_at'], zone)} to {local_time(last['fetched_at'], zone)}, "
            f"from {number(first['views'])} to {number(last['views'])} views."
        )
    if page.forecast:
        ahead = "; ".join(f"{p['horizon']}: {p['predicted']} (80 % interval {p['interval']})" for p in page.forecast)
        return f"{text} Forecast of views: {ahead}."
    return f"{text} No forecast: {page.forecast_reason}."


def _views_figure(post: dict[str, Any]) -> Figure:
    """The service's chart of one post (views and the forecast band of the page), from what show_tracked read."""
    points = [SimpleNamespace(fetched_at=s["fetched_at"], views=_views(s["views"])) for s in post["snapshots"]]
    ahead = [SimpleNamespace(**p) for p in post["forecast"].get("points", []) if p.get("predicted") is not None]
    forecasts: Any = ahead or SimpleNamespace(reason=post["forecast"].get("reason") or "none made yet")
    return charts.views_figure(points, forecasts, title="Views over time")


def _views(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def post_chart(app: Cliply, ref: WorkspaceRef, tracked_id: str, zone: str) -> bytes | None:
    try:
        post = service.show_tracked(app, ref, tracked_id)
    except NotFound:
        return None
    fig = _views_figure(post)
    _local_axis(fig.axes[0], zone)
    return charts.png(fig)


def _local_axis(ax: Any, zone: str) -> None:
    tz = zone_of(zone)
    locator = AutoDateLocator(tz=tz)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator, tz=tz))
    ax.set_xlabel(f"time ({zone})")


# --- one clip ---


@dataclass
class ClipPage:
    clip_id: str
    posts: list[dict[str, Any]]
    totals: list[dict[str, Any]]
    alt: str


def clip_page(app: Cliply, ref: WorkspaceRef, clip_id: str, zone: str) -> ClipPage | None:
    try:
        report = service.stats(app, ref, clip=clip_id, since="all")
    except NotFound:
        return None
    now = utcnow()
    fresh = _clip_freshness(app, ref, clip_id, now)
    posts = [
        {
            **p,
            "freshness": fresh.get(p["tracked_post_id"], {"stale": False, "gone": False, "reason": None}),
            "platform_name": platform_name(p["platform"]),
            "cells": [number(p[m]) for m in ("views", "likes", "comments", "shares")],
            "rate": percent(p["engagement_rate"]),
            "fetched": fetched_text(p["fetched_at"], zone, now),
        }
        for p in report["posts"]
    ]
    totals = [
        {
            "label": METRIC_LABELS.get(t["metric"], "Views gained"),
            "total": number(t["total"]) if t["posts_reporting"] else service.NOT_AVAILABLE,
            "reporting": f"{t['posts_reporting']} of {t['posts']}",
        }
        for t in report["totals"]
        if t["metric"] != "views_gained"
    ]
    views = [p for p in posts if p["views"] not in (None, service.NOT_AVAILABLE)]
    if not posts:
        alt = "Views over time of this clip's posts: none of them is tracked yet."
    elif not views:
        alt = "Views over time of this clip's posts: no views reported yet."
    else:
        parts = "; ".join(f"{p['platform_name']} ({p['account'] or 'no account'}) {p['cells'][0]} views" for p in views)
        alt = f"Views over time of this clip's posts, latest: {parts}."
    return ClipPage(clip_id, posts, totals, alt)


def _clip_freshness(app: Cliply, ref: WorkspaceRef, clip_id: str, now: datetime) -> dict[int, dict[str, Any]]:
    """Whether each of the clip's tracked posts has stale numbers (and why) or is gone, as the post page says."""
    policy = TierPolicy.from_settings(app.settings)
    with workspace_scope(app, ref, write=False) as scope:
        rows = scope.session.scalars(
            select(TrackedPost).where(TrackedPost.workspace_id == scope.workspace_id, TrackedPost.clip_id == clip_id)
        )
        return {p.id: service.freshness(p, now, policy) for p in rows}


def _series(rows: Sequence[tuple[Any, ...]]) -> dict[Any, tuple[list[datetime], list[float]]]:
    """(key, fetched_at, views) rows, oldest first → per key the times and views."""
    out: dict[Any, tuple[list[datetime], list[float]]] = {}
    for key, at, views in rows:
        times, values = out.setdefault(key, ([], []))
        times.append(at)
        values.append(float(views))
    return out


def clip_chart(app: Cliply, ref: WorkspaceRef, clip_id: str, zone: str) -> bytes | None:
    """Views over time of each of the clip's tracked posts (one line per platform and account)."""
    if clip_page(app, ref, clip_id, zone) is None:
        return None
    with workspace_scope(app, ref, write=False) as scope:
        posts = {
            pid: f"{platform_name(platform)} ({handle or 'no account'})"
            for pid, platform, handle in scope.session.execute(
                select(TrackedPost.id, TrackedPost.platform, Account.handle)
                .outerjoin(
                    Account, (Account.id == TrackedPost.account_id) & (Account.workspace_id == scope.workspace_id)
                )
                .where(TrackedPost.workspace_id == scope.workspace_id, TrackedPost.clip_id == clip_id)
            )
        }
        rows = scope.session.execute(
            select(MetricSnapshot.tracked_post_id, MetricSnapshot.fetched_at, MetricSnapshot.views)
            .where(
                MetricSnapshot.workspace_id == scope.workspace_id,
                MetricSnapshot.tracked_post_id.in_(list(posts)),
                MetricSnapshot.views.is_not(None),
            )
            .order_by(MetricSnapshot.fetched_at)
        ).all()
    lines = [(posts[k], t, v) for k, (t, v) in _series([tuple(r) for r in rows]).items()]
    return lines_chart(lines, "Views over time of this clip's posts", zone)


# --- the platforms' views over time ---


def platforms_chart(app: Cliply, ref: WorkspaceRef, f: Filters, zone: str) -> bytes:
    """Per platform, the summed views of the posts published in the window, each post counted at its latest fetch
    so far (a post that reports no views adds nothing, a platform without views has no line)."""
    window = service.parse_since(f.since)
    now = utcnow()
    with workspace_scope(app, ref, write=False) as scope:
        stmt = (
            select(TrackedPost.platform, TrackedPost.id, MetricSnapshot.fetched_at, MetricSnapshot.views)
            .join(MetricSnapshot, MetricSnapshot.tracked_post_id == TrackedPost.id)
            .where(
                TrackedPost.workspace_id == scope.workspace_id,
                MetricSnapshot.workspace_id == scope.workspace_id,
                MetricSnapshot.views.is_not(None),
            )
            .order_by(MetricSnapshot.fetched_at)
        )
        if window is not None:
            stmt = stmt.where(TrackedPost.published_at >= now - window)
        if f.platform:
            stmt = stmt.where(TrackedPost.platform == f.platform)
        rows = scope.session.execute(stmt).all()
    frame = pd.DataFrame([tuple(r) for r in rows], columns=["platform", "post", "fetched_at", "views"])
    lines = []
    for platform, group in frame.groupby("platform", sort=True):
        wide = group.pivot_table(index="fetched_at", columns="post", values="views", aggfunc="last").sort_index()
        summed = wide.ffill().sum(axis=1, min_count=1).dropna()
        times = [pd.Timestamp(t).to_pydatetime() for t in summed.index]
        lines.append((platform_name(str(platform)), times, [float(v) for v in summed]))
    return lines_chart(lines, "Views over time per platform", zone)


def lines_chart(lines: Sequence[tuple[str, list[datetime], list[float]]], title: str, zone: str) -> bytes:
    """One line of views per label, with the time axis in the viewer's zone (the charts module's size and style)."""
    with rc_context(charts.STYLE):  # type: ignore[arg-type]  # keys are valid rcParams
        fig = Figure(figsize=charts.SIZE, dpi=charts.DPI, layout="constrained")
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        for i, (label, times, views) in enumerate(lines):
            colour = LINE_COLOURS[i % len(LINE_COLOURS)]
            ax.plot(times, views, marker="o", markersize=3, color=colour, label=label)  # type: ignore[arg-type]
        if not lines:
            ax.text(0.5, 0.5, "no views reported yet", transform=ax.transAxes, ha="center", color=charts.NOTE)
        else:
            ax.legend(loc="upper left")
        ax.set_title(title)
        ax.set_ylabel("views")
        ax.grid(alpha=0.3)
        _local_axis(ax, zone)
        return charts.png(fig)


# --- a published target ---


@dataclass(frozen=True)
class TargetMetrics:
    tracked_id: int | None  # None: published (or not yet) but no metrics in yet
    platform: str
    state: str


def target_metrics(app: Cliply, ref: WorkspaceRef, target_id: str) -> TargetMetrics | None:
    """The tracked post of a target of the workspace (None: no such target in this workspace)."""
    with workspace_scope(app, ref, write=False) as scope:
        target = scope.session.scalars(
            select(PostTarget).where(PostTarget.id == target_id, PostTarget.workspace_id == scope.workspace_id)
        ).one_or_none()
        if target is None:
            return None
        tracked = scope.session.scalars(
            select(TrackedPost.id).where(
                TrackedPost.workspace_id == scope.workspace_id, TrackedPost.target_id == target.id
            )
        ).first()
        return TargetMetrics(tracked, target.platform, target.state)


# --- tracking by URL and the CSV ---


def track_url(app: Cliply, ref: WorkspaceRef, url: str) -> int | str:
    """The tracked post's id, or the one-line reason the URL was refused."""
    url = url.strip()
    if not url:
        return "Enter the address of a published post."
    if len(url) > URL_LIMIT:
        return f"That address is longer than {URL_LIMIT} characters."
    try:
        return int(service.track_url(app, ref, url)["id"])
    except ServiceError as exc:
        return str(exc)


def export_csv(app: Cliply, ref: WorkspaceRef, since: str) -> str:
    """Every tracked post published within the window ("all": every one) as formula-safe CSV (the export's)."""
    return service.export_csv(app, ref, since)
