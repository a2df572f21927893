"""Analytics use cases, shared by the CLI and the REST API: track a post by its URL, list and remove tracked posts,
per-post / per-clip / per-account stats, leaderboards, the CSV export and the charts.

Each takes the application container and a workspace reference (like cliply/publishing/service.py) and only ever
reads that workspace's rows: another workspace's tracked post is NotFound. The numbers come from reports.py (SQL +
pandas); this layer adds the derived numbers, the latest forecast and how fresh each number is. A metric the
platform does not report is "not available", one it reports but has not sent yet is None: never 0."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from cliply.analytics import catalog, charts, derive, export, forecast, links, reports
from cliply.analytics.refresh import Refresher
from cliply.analytics.tiers import TierPolicy, interval
from cliply.analytics.tracking import TrackedPosts
from cliply.platforms.models import PostRef
from cliply.store.models import Clip, utcnow
from cliply.store.models_accounts import Account
from cliply.store.models_analytics import METRIC_FIELDS, MetricForecast, MetricSnapshot, TrackedPost
from cliply.store.repo import NotFound, WorkspaceScope
from cliply.usecases import ServiceError, WorkspaceRef, workspace_scope

if TYPE_CHECKING:
    from cliply.wiring import Cliply

NOT_AVAILABLE = "not available"
DEFAULT_SINCE = "7d"
CHARTS = ("post", "platforms", "leaderboard")
BOARDS = ("account", "clip")
MAX_ID = 2**63 - 1
LIST_LIMIT = 1000

__all__ = [
    "NOT_AVAILABLE",
    "chart",
    "export_csv",
    "leaderboard",
    "list_tracked",
    "parse_since",
    "remove_tracked",
    "show_tracked",
    "stats",
    "track_url",
]


def parse_since(text: str | None, default: str | None = DEFAULT_SINCE) -> timedelta | None:
    """ "24h", "7d", "2w", "90m" → timedelta; None/"" → the default (None: all time). Bad input: ServiceError."""
    text = (text or "").strip() or default
    if text is None or text.lower() == "all":
        return None
    try:
        return reports.parse_since(text)
    except (ValueError, OverflowError) as exc:
        raise ServiceError(str(exc), status=400) from None


def _id(value: int | str, what: str = "tracked post") -> int:
    text = str(value).strip()
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) <= MAX_ID:
        raise NotFound(f"no {what} {text!r} in this workspace")
    return int(text)


# --- tracking by URL ---


def track_url(app: Cliply, ref: WorkspaceRef, url: str) -> dict[str, Any]:
    """Track a post published anywhere by its public URL: parse it (short links followed through the egress guard),
    find a connected account of the workspace that can read it, register it and fetch its first metrics at once.
    The same post again is the same tracked post (`created` False, "already tracked")."""
    parsed = links.parse(url)
    with workspace_scope(app, ref, write=False) as scope:  # authenticates before any outbound request
        known = _known(scope, parsed, url)
    if known is not None:
        return {**show_tracked(app, ref, known), "created": False, "message": "already tracked"}
    post = links.resolve(app, parsed, url)
    with workspace_scope(app, ref, write=False) as scope:
        known = _known(scope, post, url)
    if known is not None:
        return {**show_tracked(app, ref, known), "created": False, "message": "already tracked"}
    reader = links.find_reader(app, ref, post)
    with workspace_scope(app, ref) as scope:
        tracked, created = TrackedPosts(scope).track(
            post.platform,
            reader.post_id,
            origin="url",
            published_at=reader.published_at or utcnow(),
            account_id=reader.account_id,
            url=url.strip(),
            policy=TierPolicy.from_settings(app.settings),
        )
        tracked_id = tracked.id
    if created:
        Refresher(app).fetch_now([tracked_id])
    message = "tracking started" if created else "already tracked"
    return {**show_tracked(app, ref, tracked_id, snapshots=False), "created": created, "message": message}


def _known(scope: WorkspaceScope, post: PostRef, url: str) -> int | None:
    """The tracked post this URL already names (by post id, or by the URL itself for short links/shortcodes)."""
    if not post.needs_resolution and post.id_kind != "shortcode":
        found = TrackedPosts(scope).find(post.platform, post.post_id)
        if found is not None:
            return found.id
    return scope.session.scalars(
        select(TrackedPost.id).where(
            TrackedPost.workspace_id == scope.workspace_id,
            TrackedPost.platform == post.platform,
            TrackedPost.url == url.strip(),
        )
    ).first()


# --- listing, showing, removing ---


def list_tracked(
    app: Cliply, ref: WorkspaceRef, status: str | None = None, platform: str | None = None
) -> list[dict[str, Any]]:
    """The workspace's tracked posts (oldest first) with their latest numbers and freshness."""
    with workspace_scope(app, ref, write=False) as scope:
        posts = TrackedPosts(scope).list(status=status or None, platform=platform or None)[:LIST_LIMIT]
        ctx = _Context(app, scope)
        return [ctx.tracked_json(p, _latest(scope, p.id)) for p in posts]


def show_tracked(app: Cliply, ref: WorkspaceRef, tracked_id: int | str, *, snapshots: bool = True) -> dict[str, Any]:
    """One tracked post: latest numbers, freshness, derived numbers, forecast and (snapshots=True) its history."""
    pid = _id(tracked_id)
    with workspace_scope(app, ref, write=False) as scope:
        repo = TrackedPosts(scope)
        post = repo.get(pid)
        history = repo.snapshots(pid)
        ctx = _Context(app, scope)
        out = ctx.tracked_json(post, history[-1] if history else None)
        out["derived"] = _derived(history, ctx.now)
        out["forecast"] = _forecast(repo.forecasts(pid), history, ctx.now, post.published_at)
        if snapshots:
            out["snapshots"] = [_snapshot_json(post.platform, s) for s in history]
        return out


def remove_tracked(app: Cliply, ref: WorkspaceRef, tracked_id: int | str) -> dict[str, Any]:
    """Stop tracking a post (its snapshots and forecasts go with it)."""
    pid = _id(tracked_id)
    with workspace_scope(app, ref) as scope:
        repo = TrackedPosts(scope)
        post = repo.get(pid)
        gone = {"id": post.id, "platform": post.platform, "post_id": post.platform_post_id, "removed": True}
        repo.remove(pid)
        return gone


class _Context:
    """What shaping rows needs once per call: the time, the tier policy and the workspace's account handles."""

    def __init__(self, app: Cliply, scope: WorkspaceScope) -> None:
        self.now = utcnow()
        self.policy = TierPolicy.from_settings(app.settings)
        rows = scope.session.execute(
            select(Account.id, Account.handle).where(Account.workspace_id == scope.workspace_id)
        )
        self.handles: dict[int, str] = {i: h for i, h in rows}

    def tracked_json(self, post: TrackedPost, latest: MetricSnapshot | None) -> dict[str, Any]:
        account = self.handles.get(post.account_id) if post.account_id is not None else "YouTube API key"
        return {
            "id": post.id,
            "platform": post.platform,
            "post_id": post.platform_post_id,
            "url": post.url,
            "origin": post.origin,
            "account_id": post.account_id,
            "account": account,
            "clip_id": post.clip_id,
            "status": post.status,
            "tier": post.tier,
            "published_at": _iso(post.published_at),
            "tracked_at": _iso(post.tracked_at),
            "next_fetch_at": _iso(post.next_fetch_at) if post.status == "active" and post.tier != "frozen" else None,
            "fetched_at": _iso(latest.fetched_at) if latest is not None else None,
            "metrics": metrics_json(post.platform, latest),
            "freshness": freshness(post, self.now, self.policy),
        }


def _latest(scope: WorkspaceScope, tracked_id: int) -> MetricSnapshot | None:
    return TrackedPosts(scope).latest(tracked_id)


def metrics_json(platform: str, snapshot: Any) -> dict[str, Any]:
    """Every metric: its value, None when reported but not (yet) sent, "not available" when the platform never
    reports it."""
    return {
        m: (getattr(snapshot, m, None) if snapshot is not None else None)
        if catalog.reports(platform, m)
        else NOT_AVAILABLE
        for m in METRIC_FIELDS
    }


def _snapshot_json(platform: str, snap: MetricSnapshot) -> dict[str, Any]:
    return {"fetched_at": _iso(snap.fetched_at), "granularity": snap.granularity, **metrics_json(platform, snap)}


# --- freshness ---


def ago(when: datetime | None, now: datetime) -> str | None:
    """ "just now", "12 min ago", "3 h ago", "2 d ago"; a future time is "in 12 min"."""
    if when is None:
        return None
    seconds = (now - when).total_seconds()
    if abs(seconds) < 60:
        return "just now"
    span = abs(seconds)
    if span < 3600:
        text = f"{int(span // 60)} min"
    elif span < 86400:
        text = f"{int(span // 3600)} h"
    else:
        text = f"{int(span // 86400)} d"
    return f"{text} ago" if seconds > 0 else f"in {text}"


def freshness(post: TrackedPost, now: datetime, policy: TierPolicy) -> dict[str, Any]:
    """When the numbers were fetched and whether they are stale (and why) or final (gone)."""
    fetched = ago(post.last_fetched_at, now)
    out: dict[str, Any] = {"fetched": f"fetched {fetched}" if fetched else "never fetched", "stale": False}
    out["reason"] = None
    if post.status == "gone":
        out["gone"] = True
        out["reason"] = f"gone: deleted on the platform {ago(post.gone_at, now) or ''}".strip()
        return out
    out["gone"] = False
    if post.consecutive_failures:
        n = post.consecutive_failures
        out["stale"] = True
        out["reason"] = (
            f"{post.last_error_class or 'error'}: {post.last_error or 'no message'}, "
            f"{n} failure{'s' if n > 1 else ''} in a row"
        )
    elif post.last_fetched_at is None:
        out["stale"] = post.tier != "frozen"
        out["reason"] = "not fetched yet" if out["stale"] else None
    elif post.tier != "frozen":
        every = interval(post.tier, policy)
        if every is not None and now - post.last_fetched_at > 2 * every:
            out["stale"] = True
            out["reason"] = f"last fetched {fetched}; {post.tier} posts are refreshed every {_span(every)}"
    return out


def _span(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes} min" if minutes < 120 else f"{minutes // 60} h"


# --- derived numbers and forecasts ---


def _derived(history: list[MetricSnapshot], now: datetime) -> dict[str, Any]:
    d = derive.derived(history, now)
    return {
        "totals": d.totals,
        "engagement_rate": d.engagement_rate,
        "velocity_views_per_h": d.velocity,
        "acceleration_views_per_h2": d.acceleration,
        "as_of": _iso(d.as_of),
    }


def _forecast(
    stored: list[MetricForecast], history: list[MetricSnapshot], now: datetime, published_at: datetime
) -> dict[str, Any]:
    """The newest stored forecast (made by the refresher); else one made now from the history; else why not."""
    if stored:
        made = max(f.made_at for f in stored)
        rows = [f for f in stored if f.made_at == made]
        return {"made_at": _iso(made), "model": rows[0].model, "points": [_point(f) for f in rows]}
    made_now = forecast.forecast(history, now, published_at=published_at)
    if isinstance(made_now, forecast.NoForecast):
        return {"made_at": None, "model": None, "points": [], "reason": made_now.reason}
    model = made_now[0].model if made_now else None
    return {"made_at": _iso(now), "model": model, "points": [_point(f) for f in made_now]}


def _point(f: Any) -> dict[str, Any]:
    return {
        "horizon_h": f.horizon_h,
        "target_at": _iso(f.target_at),
        "predicted": f.predicted,
        "low": f.low,
        "high": f.high,
    }


# --- reports ---


def stats(
    app: Cliply,
    ref: WorkspaceRef,
    *,
    post: int | str | None = None,
    clip: str | None = None,
    account: int | str | None = None,
    since: str | None = DEFAULT_SINCE,
) -> dict[str, Any]:
    """One tracked post (its history within `since`), one clip across platforms and accounts, one account's posts,
    or (none given) the platform comparison of the posts published within `since`."""
    if sum(x is not None for x in (post, clip, account)) > 1:
        raise ServiceError("give at most one of post, clip and account")
    window = parse_since(since)
    if post is not None:
        return _post_stats(app, ref, _id(post), window)
    with workspace_scope(app, ref, write=False) as scope:
        if clip is not None:
            return _clip_stats(scope, clip, window)
        if account is not None:
            return _account_stats(scope, _id(account, "account"), window)
        posts = reports.latest_frame(scope, since=window, policy=TierPolicy.from_settings(app.settings))
        return {
            "kind": "platforms",
            "since": _since_text(window),
            "platforms": reports.to_records(reports.platform_comparison(scope, window)),
            "posts": _post_records(posts),
        }


def _post_stats(app: Cliply, ref: WorkspaceRef, pid: int, window: timedelta | None) -> dict[str, Any]:
    out = show_tracked(app, ref, pid, snapshots=False)
    with workspace_scope(app, ref, write=False) as scope:
        history = reports.to_records(reports.post_stats(scope, pid, window))
    out["snapshots"] = [_available(out["platform"], row) for row in history]
    return {"kind": "post", "since": _since_text(window), **out}


def _clip_stats(scope: WorkspaceScope, clip_id: str, window: timedelta | None) -> dict[str, Any]:
    found = scope.session.scalars(
        select(Clip.id).where(Clip.id == clip_id, Clip.workspace_id == scope.workspace_id)
    ).first()
    tracked = scope.session.scalars(
        select(TrackedPost.id).where(TrackedPost.workspace_id == scope.workspace_id, TrackedPost.clip_id == clip_id)
    ).first()
    if found is None and tracked is None:
        raise NotFound(f"no clip {clip_id!r} in this workspace")
    report = reports.clip_report(scope, clip_id, window)
    return {
        "kind": "clip",
        "since": _since_text(window),
        "clip_id": clip_id,
        "posts": _post_records(report.posts),
        "totals": reports.to_records(report.totals),
    }


def _account_stats(scope: WorkspaceScope, account_id: int, window: timedelta | None) -> dict[str, Any]:
    account = scope.session.scalars(
        select(Account).where(Account.id == account_id, Account.workspace_id == scope.workspace_id)
    ).one_or_none()
    if account is None:
        raise NotFound(f"no account {account_id} in this workspace")
    posts = reports.latest_frame(scope, since=window)
    posts = posts[posts["account_id"] == account_id].reset_index(drop=True)
    return {
        "kind": "account",
        "since": _since_text(window),
        "account": {"id": account.id, "platform": account.platform, "handle": account.handle},
        "posts": _post_records(posts),
        "totals": reports.to_records(reports.metric_totals(posts)),
    }


def _post_records(frame: Any) -> list[dict[str, Any]]:
    return [_available(str(row["platform"]), row) for row in reports.to_records(frame)]


def _available(platform: str, row: dict[str, Any]) -> dict[str, Any]:
    """Mark the metrics the platform never reports as "not available" (a None left is "not sent yet")."""
    return {k: NOT_AVAILABLE if k in METRIC_FIELDS and not catalog.reports(platform, k) else v for k, v in row.items()}


def leaderboard(
    app: Cliply, ref: WorkspaceRef, by: str = "account", since: str | None = DEFAULT_SINCE
) -> dict[str, Any]:
    """Accounts (creators) or clips ranked by views gained within `since`."""
    if by not in BOARDS:
        raise ServiceError(f"leaderboard by {by!r}: choose account or clip")
    window = parse_since(since)
    with workspace_scope(app, ref, write=False) as scope:
        rows = reports.to_records(reports.leaderboard(scope, by, window))  # type: ignore[arg-type]
    return {"by": by, "since": _since_text(window), "rows": rows}


def export_csv(app: Cliply, ref: WorkspaceRef, since: str | None = None) -> str:
    """Every tracked post published within `since` (all when None) with its latest numbers, as CSV text whose
    cells cannot be read as spreadsheet formulas."""
    window = parse_since(since, default=None)
    with workspace_scope(app, ref, write=False) as scope:
        frame = export.export_frame(scope, window, policy=TierPolicy.from_settings(app.settings))
    return export.csv_text(frame)


def chart(
    app: Cliply,
    ref: WorkspaceRef,
    kind: str,
    *,
    post: int | str | None = None,
    by: str = "account",
    since: str | None = DEFAULT_SINCE,
) -> bytes:
    """A PNG: one post's views over time with its forecast band, the platform comparison, or the leaderboard."""
    if kind not in CHARTS:
        raise ServiceError(f"unknown chart {kind!r}; choose from {', '.join(CHARTS)}")
    if kind == "post":
        if post is None:
            raise ServiceError("the post chart needs a tracked post id")
        pid = _id(post)
        with workspace_scope(app, ref, write=False) as scope:
            repo = TrackedPosts(scope)
            history, stored = repo.snapshots(pid), repo.forecasts(pid)
            latest = max((f.made_at for f in stored), default=None)
            return charts.views_chart(history, [f for f in stored if f.made_at == latest])
    if by not in BOARDS:
        raise ServiceError(f"leaderboard by {by!r}: choose account or clip")
    window = parse_since(since)
    with workspace_scope(app, ref, write=False) as scope:
        if kind == "platforms":
            return charts.platform_chart(reports.platform_comparison(scope, window))
        return charts.leaderboard_chart(reports.leaderboard(scope, by, window))  # type: ignore[arg-type]


def _since_text(window: timedelta | None) -> str | None:
    if window is None:
        return None
    seconds = int(window.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
