"""Analytics assets: `post_metrics` (day the post was published × platform) fetches due posts' metrics; the derived
tables and the reports follow when new snapshots land; checks guard freshness, counters and workspace isolation.

Thin wiring only: fetching, tiers, forecasts and retention live in cliply.analytics (Refresher, tracking, reports);
these functions build the collaborators from resources and turn outcomes into metadata (never tokens)."""

import base64
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import fields
from datetime import UTC, date, datetime, timedelta
from typing import Any

import dagster as dg
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cliply import wiring
from cliply.analytics import charts, derive, export, reports
from cliply.analytics import forecast as forecasting
from cliply.analytics.refresh import Refresher, RefreshReport
from cliply.analytics.retention import thin
from cliply.analytics.tiers import TierPolicy, interval
from cliply.analytics.tracking import TrackedPosts
from cliply.platforms import PLATFORMS
from cliply.store.models import Clip, Workspace
from cliply.store.models_accounts import Account
from cliply.store.models_analytics import MetricForecast, MetricSnapshot, TrackedPost
from cliply.store.models_publishing import PostTarget
from cliply.store.repo import WorkspaceScope
from cliply_assets.publishing import DAY_FORMAT, OWNERS, POSTS_START_DATE, client_factory, posts, posts_partitions

GROUP = "analytics"
# One refresh run per platform at a time: the due-metrics sensor checks this tag, dagster.yaml may cap it too.
METRICS_PLATFORM_TAG = "cliply/metrics_platform"
# A run with this tag (or a Dagster back-fill, or config every=true) re-fetches every active post of its partition.
EVERY_TAG = "cliply/every"
BACKFILL_TAG = "dagster/backfill"
FIRST_DAY = date.fromisoformat(POSTS_START_DATE)

# The same day × platform grid as the posts asset (end_offset=1: a post published today has its partition today).
metrics_partitions = posts_partitions

# Counters platforms report as cumulative. A drop larger than this is flagged (platform corrections exist, small).
CUMULATIVE = ("views", "likes", "comments", "shares", "saves", "impressions")
DROP_ABS = 3
DROP_REL = 0.02
DROP_WINDOW = timedelta(hours=48)  # counters are checked over recent snapshots: bounded cost per evaluation
RECENT = timedelta(hours=3)  # history the derived numbers need (velocity and acceleration over 1 h windows)
LEADERBOARD_WINDOWS = ("24h", "7d", "30d")
PREVIEW_ROWS = 10
CHART_WORKSPACES = 3  # workspaces whose charts are embedded in the metadata (all are saved in the media store)
TOP_POST_HISTORY = timedelta(days=7)
LISTED = 50  # offending rows listed in a check's metadata


def _utcnow() -> datetime:
    return datetime.now(UTC)


def partition_key(day: date, platform: str) -> dg.MultiPartitionKey:
    """The post_metrics partition of posts published on `day` (days before the first partition map to it)."""
    return dg.MultiPartitionKey({"day": max(day, FIRST_DAY).strftime(DAY_FORMAT), "platform": platform})


def _partition(context: dg.AssetExecutionContext) -> tuple[date, str]:
    key = context.partition_key
    if isinstance(key, dg.MultiPartitionKey):
        dims = key.keys_by_dimension
    else:  # "day|platform" as tags carry it
        day_text, platform_text = key.split("|")
        dims = {"day": day_text, "platform": platform_text}
    return date.fromisoformat(dims["day"]), dims["platform"]


def _days(session: Session, platform: str, day: date, now: datetime, every: bool) -> list[date]:
    """The publish days one partition covers: its own, plus, for the first partition, any earlier day with posts
    to fetch (posts tracked by URL may be older than the first partition)."""
    if day != FIRST_DAY:
        return [day]
    start = datetime.combine(FIRST_DAY, datetime.min.time(), tzinfo=UTC)
    stmt = select(TrackedPost.published_at).where(
        TrackedPost.platform == platform, TrackedPost.status == "active", TrackedPost.published_at < start
    )
    if not every:
        stmt = stmt.where(TrackedPost.tier != "frozen", TrackedPost.next_fetch_at <= now)
    earlier = {published.astimezone(UTC).date() for published in session.scalars(stmt)}
    return [*sorted(earlier), day]


class MetricsConfig(dg.Config):
    """every: re-fetch every active post of the partition (a back-fill), not only the due ones."""

    every: bool = False


def report_metadata(platform: str, done: Sequence[RefreshReport]) -> dict[str, int]:
    """The refresh counts (due, fetched, snapshots, failures, gone, deferred, calls) summed over the run's days."""
    total = RefreshReport(platform)
    for report in done:
        total.add(report)
    return {f.name: getattr(total, f.name) for f in fields(total) if f.name != "platform"}


@dg.asset(
    partitions_def=metrics_partitions,
    group_name=GROUP,
    kinds={"python"},
    owners=OWNERS,
    tags={"cliply/step": "metrics"},
    deps=[posts],
    required_resource_keys={"analytics", "database", "token_vault", *PLATFORMS},
    description="One run per (publish day, platform): fetches the metrics of that day's tracked posts that are due "
    "(tier decides), batched per account through the limit ledger, and appends a snapshot per post. A back-fill "
    "(Dagster back-fill, run tag cliply/every=true or config every: true) re-fetches all of them. Metadata: due, "
    "fetched, snapshots, failures, gone, deferred, calls.",
)
def post_metrics(context: dg.AssetExecutionContext, config: MetricsConfig) -> dg.MaterializeResult:
    day, platform = _partition(context)
    tags = context.run.tags
    every = config.every or tags.get(EVERY_TAG) == "true" or BACKFILL_TAG in tags
    res = context.resources
    with client_factory(res) as clients:
        app = res.analytics.app(res, clients)
        if not app.settings.analytics_enabled:
            context.log.info("analytics are switched off (CLIPLY_ANALYTICS_ENABLED): nothing fetched")
            return dg.MaterializeResult(metadata={"platform": platform, "enabled": False, "every": every})
        now = _utcnow()
        with app.db.session() as session:
            days = _days(session, platform, day, now, every)
        refresher = Refresher(app)
        done = [refresher.refresh(platform, day=d, every=every) for d in days]
    meta = report_metadata(platform, done)
    context.log.info(f"{platform} {day}: " + ", ".join(f"{k} {v}" for k, v in meta.items()))
    return dg.MaterializeResult(
        metadata={
            "platform": platform,
            "enabled": True,
            "every": every,
            "days": [d.isoformat() for d in days],
            **meta,
        }
    )


refresh_metrics_job = dg.define_asset_job(
    "refresh_metrics",
    selection=dg.AssetSelection.assets(post_metrics).without_checks(),
    executor_def=dg.in_process_executor,
    description="Fetch the due metrics of one platform's posts published on one day (partition day|platform): one "
    "run per platform at a time, started by due_metrics_sensor.",
    tags={"cliply/stage": "analytics", "ecs/cpu": "512", "ecs/memory": "1024"},
)


# ---- per-workspace helpers ----------


@contextmanager
def _scopes(app: wiring.Cliply) -> Iterator[list[WorkspaceScope]]:
    """One read-only scope per workspace that tracks posts, in id order: every report is computed inside one."""
    with app.db.reading() as session:
        ids = select(TrackedPost.workspace_id).distinct()
        workspaces = session.scalars(select(Workspace).where(Workspace.id.in_(ids)).order_by(Workspace.id))
        yield [WorkspaceScope(session, w) for w in workspaces]


def _md_table(df: pd.DataFrame, rows: int = PREVIEW_ROWS) -> str:
    """A Markdown table of the first rows (no extra dependency); missing values read "n/a", never 0."""
    if df.empty:
        return "_no rows_"
    head = df.head(rows)
    lines = ["| " + " | ".join(str(c) for c in head.columns) + " |", "|" + "---|" * len(head.columns)]
    for record in head.itertuples(index=False):
        lines.append("| " + " | ".join(_cell(v) for v in record) + " |")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None or (not isinstance(value, str | list | dict) and pd.isna(value)):
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, pd.Timestamp | datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return str(value).replace("|", "\\|")


def _key(workspace_id: int, name: str) -> str:
    return f"analytics/workspaces/{workspace_id}/{name}"


# ---- metrics_derived ----------

DERIVED_COLUMNS = [
    "tracked_post_id",
    "platform",
    "tier",
    "status",
    "fetched_at",
    "views",
    "likes",
    "comments",
    "shares",
    "saves",
    "engagement_rate",
    "velocity_vph",
    "acceleration_vph2",
    "forecast_1h",
    "forecast_2h",
    "forecast_3h",
    "forecast_3h_low",
    "forecast_3h_high",
    "forecast_note",
    "stale",
]


def _recent_points(scope: WorkspaceScope, since: datetime) -> dict[int, list[derive.Point]]:
    stmt = (
        select(MetricSnapshot)
        .where(MetricSnapshot.workspace_id == scope.workspace_id, MetricSnapshot.fetched_at >= since)
        .order_by(MetricSnapshot.tracked_post_id, MetricSnapshot.fetched_at, MetricSnapshot.id)
    )
    out: dict[int, list[derive.Point]] = {}
    for s in scope.session.scalars(stmt):
        out.setdefault(s.tracked_post_id, []).append(
            derive.Point(s.fetched_at, *(getattr(s, m) for m in derive.METRICS))
        )
    return out


def _latest_forecasts(scope: WorkspaceScope, post: int | None = None) -> dict[int, dict[float, MetricForecast]]:
    """Per tracked post (all, or `post`): its newest stored forecast of the main model, by horizon."""
    newest_q = select(MetricForecast.tracked_post_id, func.max(MetricForecast.made_at).label("made_at")).where(
        MetricForecast.workspace_id == scope.workspace_id, MetricForecast.model == forecasting.MODEL
    )
    if post is not None:
        newest_q = newest_q.where(MetricForecast.tracked_post_id == post)
    newest = newest_q.group_by(MetricForecast.tracked_post_id).subquery()
    stmt = select(MetricForecast).join(
        newest,
        (MetricForecast.tracked_post_id == newest.c.tracked_post_id) & (MetricForecast.made_at == newest.c.made_at),
    )
    out: dict[int, dict[float, MetricForecast]] = {}
    for f in scope.session.scalars(stmt.where(MetricForecast.model == forecasting.MODEL)):
        out.setdefault(f.tracked_post_id, {})[float(f.horizon_h)] = f
    return out


def derived_frame(scope: WorkspaceScope, now: datetime, policy: TierPolicy) -> pd.DataFrame:
    """One row per tracked post of the workspace: latest totals, engagement, velocity, acceleration, forecasts."""
    latest = reports.latest_frame(scope, now=now, policy=policy)
    points = _recent_points(scope, now - RECENT)
    stored = _latest_forecasts(scope)
    rows = []
    for post in latest.to_dict("records"):
        pid = int(post["tracked_post_id"])
        history = points.get(pid, [])
        numbers = derive.derived(history, now) if history else None
        by_h = stored.get(pid, {})
        note = None
        if not by_h:
            usable = forecasting.usable(history, now)
            note = usable.reason if isinstance(usable, forecasting.NoForecast) else "not forecast yet"
        h3 = by_h.get(3.0)
        rows.append(
            {
                **{c: post.get(c) for c in DERIVED_COLUMNS[:10]},
                "engagement_rate": post.get("engagement_rate"),
                "velocity_vph": numbers.velocity if numbers else None,
                "acceleration_vph2": numbers.acceleration if numbers else None,
                **{f"forecast_{h}h": (by_h[float(h)].predicted if float(h) in by_h else None) for h in (1, 2, 3)},
                "forecast_3h_low": h3.low if h3 else None,
                "forecast_3h_high": h3.high if h3 else None,
                "forecast_note": note,
                "stale": post.get("stale"),
            }
        )
    return pd.DataFrame(rows, columns=DERIVED_COLUMNS)


@dg.asset(
    group_name=GROUP,
    kinds={"python", "pandas"},
    owners=OWNERS,
    tags={"cliply/step": "metrics"},
    deps=[post_metrics],
    required_resource_keys={"analytics", "database", "media_store"},
    description="Derived numbers per tracked post, one table per workspace (CSV in the media store): latest totals, "
    "engagement rate, velocity (views/h over the last hour), acceleration, the stored +1/+2/+3 h forecasts with "
    "the 80 % band, or why there is none. Materialised when new snapshots land (analytics_reports_sensor).",
)
def metrics_derived(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    res = context.resources
    app = res.analytics.app(res)
    now = _utcnow()
    policy = TierPolicy.from_settings(app.settings)
    counts: dict[str, int] = {}
    previews: list[str] = []
    newest: datetime | None = None
    stale = 0
    with _scopes(app) as scopes:
        for scope in scopes:
            df = derived_frame(scope, now, policy)
            app.media.put_bytes(_key(scope.workspace_id, "derived.csv"), export.csv_text(df).encode(), "text/csv")
            counts[scope.workspace.name] = len(df)
            stale += int(df["stale"].fillna(False).astype(bool).sum())
            fetched = pd.to_datetime(df["fetched_at"], utc=True).dropna()
            if len(fetched):
                newest = max(newest or fetched.max().to_pydatetime(), fetched.max().to_pydatetime())
            ranked = df.sort_values("views", ascending=False, na_position="last")
            previews.append(f"### {scope.workspace.name}\n\n{_md_table(ranked)}")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": sum(counts.values()),
            "workspaces": len(counts),
            "rows_by_workspace": dg.MetadataValue.json(counts),
            "preview": dg.MetadataValue.md("\n\n".join(previews) or "_no tracked posts_"),
            "newest_fetch": newest.isoformat() if newest else "never",
            "newest_fetch_age_min": round((now - newest).total_seconds() / 60, 1) if newest else -1.0,
            "stale_posts": stale,
        }
    )


# ---- analytics_reports ----------


def _image(png: bytes, alt: str) -> str:
    """Markdown that the Dagster UI renders as the image itself: its Markdown sanitizer admits data: image sources
    (dagster-io/dagster#13443), so the chart needs no file server."""
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode()})"


def workspace_reports(scope: WorkspaceScope, now: datetime) -> dict[str, pd.DataFrame]:
    """Every report frame of one workspace, by name."""
    frames = {"platforms": reports.platform_comparison(scope, now=now)}
    for window in LEADERBOARD_WINDOWS:
        for by in ("account", "clip"):
            frames[f"leaderboard_{by}_{window}"] = reports.leaderboard(scope, by, window, now=now)
    frames["forecast_error"] = reports.forecast_error(scope, now=now)
    return frames


def foreign_rows(scope: WorkspaceScope, frames: dict[str, pd.DataFrame]) -> list[dict[str, Any]]:
    """Report rows naming an account, clip or post count that is not the workspace's own (should be none)."""
    session, ws = scope.session, scope.workspace_id
    accounts = set(session.scalars(select(Account.id).where(Account.workspace_id == ws)))
    clips = set(session.scalars(select(Clip.id).where(Clip.workspace_id == ws)))
    tracked = session.scalar(select(func.count()).select_from(TrackedPost).where(TrackedPost.workspace_id == ws))
    bad: list[dict[str, Any]] = []
    for name, df in frames.items():
        if "account_id" in df:
            bad += [{"report": name, "account_id": int(a)} for a in df["account_id"].dropna() if int(a) not in accounts]
        if "clip_id" in df:
            bad += [{"report": name, "clip_id": str(c)} for c in df["clip_id"].dropna() if str(c) not in clips]
    posts_reported = int(frames["platforms"]["posts"].sum()) if len(frames["platforms"]) else 0
    if posts_reported != (tracked or 0):
        bad.append({"report": "platforms", "posts": posts_reported, "tracked_posts": tracked})
    return bad


@dg.asset(
    group_name=GROUP,
    kinds={"python", "pandas", "matplotlib"},
    owners=OWNERS,
    tags={"cliply/step": "metrics"},
    deps=[metrics_derived],
    required_resource_keys={"analytics", "database", "media_store"},
    check_specs=[
        dg.AssetCheckSpec(
            "reports_per_workspace",
            asset="analytics_reports",
            description="Every report row belongs to the workspace it was made for (accounts, clips, post counts).",
        )
    ],
    description="Reports per workspace, never mixed: platform comparison, leaderboards of accounts and clips over "
    "24 h / 7 d / 30 d, forecast error per platform. CSVs and PNG charts go to the media store under "
    "analytics/workspaces/<id>/; the charts are also shown here as metadata.",
)
def analytics_reports(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    res = context.resources
    app = res.analytics.app(res)
    now = _utcnow()
    metadata: dict[str, Any] = {}
    saved: dict[str, list[str]] = {}
    foreign: list[dict[str, Any]] = []
    with _scopes(app) as scopes:
        for n, scope in enumerate(scopes):
            frames = workspace_reports(scope, now)
            foreign += [{"workspace": scope.workspace_id, **row} for row in foreign_rows(scope, frames)]
            keys = [_save_csv(app, scope.workspace_id, name, df) for name, df in frames.items()]
            pngs = {
                "platforms.png": charts.platform_chart(frames["platforms"], f"{scope.workspace.name}: platforms"),
                "leaderboard_account_7d.png": charts.leaderboard_chart(
                    frames["leaderboard_account_7d"], f"{scope.workspace.name}: accounts, views gained in 7 d"
                ),
                "top_post_views.png": top_post_chart(scope, now),
            }
            keys += [charts.save_chart(app.media, _key(scope.workspace_id, k), png) for k, png in pngs.items()]
            saved[scope.workspace.name] = keys
            if n < CHART_WORKSPACES:
                metadata[f"report_{scope.workspace_id}"] = dg.MetadataValue.md(
                    _workspace_md(scope.workspace.name, frames, pngs)
                )
    return dg.MaterializeResult(
        metadata={
            "workspaces": len(saved),
            "saved": dg.MetadataValue.json(saved),
            "made_at": now.isoformat(),
            **metadata,
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="reports_per_workspace",
                passed=not foreign,
                metadata={"foreign_rows": dg.MetadataValue.json(foreign[:LISTED]), "count": len(foreign)},
            )
        ],
    )


def top_post_chart(scope: WorkspaceScope, now: datetime) -> bytes:
    """Views over the last week of the workspace's most viewed post, with its latest forecast and 80 % band."""
    latest = reports.latest_frame(scope, now=now).dropna(subset=["views"])
    if latest.empty:
        return charts.views_chart([], forecasting.NoForecast("no post reports views yet"), "Top post: views")
    top = latest.sort_values("views", ascending=False).iloc[0]
    pid = int(top["tracked_post_id"])
    points = TrackedPosts(scope).snapshots(pid, since=now - TOP_POST_HISTORY)
    stored = list(_latest_forecasts(scope, pid).get(pid, {}).values())
    shown: Any = stored
    if not stored:
        usable = forecasting.usable(points, now)
        shown = usable if isinstance(usable, forecasting.NoForecast) else forecasting.NoForecast("not forecast yet")
    return charts.views_chart(points, shown, f"Top post: {top['platform']} {top['platform_post_id']}"[:80])


def _save_csv(app: wiring.Cliply, workspace_id: int, name: str, df: pd.DataFrame) -> str:
    key = _key(workspace_id, f"{name}.csv")
    app.media.put_bytes(key, export.csv_text(df).encode(), "text/csv")
    return key


def _workspace_md(name: str, frames: dict[str, pd.DataFrame], pngs: dict[str, bytes]) -> str:
    parts = [f"## {name}", "### Platforms", _image(pngs["platforms.png"], "platforms"), _md_table(frames["platforms"])]
    parts += ["### Accounts, views gained in 7 d", _image(pngs["leaderboard_account_7d.png"], "leaderboard")]
    parts += ["### Clips, views gained in 7 d", _md_table(frames["leaderboard_clip_7d"])]
    parts += ["### Top post: views and forecast", _image(pngs["top_post_views.png"], "top post views")]
    parts += ["### Forecast error", _md_table(frames["forecast_error"])]
    return "\n\n".join(parts)


# ---- checks on post_metrics (run with the reports, after new snapshots) ----------


def stale_hot_posts(session: Session, now: datetime, policy: TierPolicy) -> list[dict[str, Any]]:
    """Active ultra_hot/hot posts whose latest snapshot (tracking time if none) is older than twice their interval."""
    latest = (
        select(func.max(MetricSnapshot.fetched_at))
        .where(MetricSnapshot.tracked_post_id == TrackedPost.id)
        .correlate(TrackedPost)
        .scalar_subquery()
    )
    tp = TrackedPost
    stmt = select(tp.id, tp.workspace_id, tp.platform, tp.tier, tp.tracked_at, latest)
    stmt = stmt.where(tp.status == "active", tp.tier.in_(("ultra_hot", "hot")))
    out = []
    for pid, ws, platform, tier, tracked_at, last in session.execute(stmt):
        every = interval(tier, policy)
        since = last or tracked_at
        if every is not None and since is not None and now - since > 2 * every:
            out.append(
                {
                    "tracked_post_id": pid,
                    "workspace_id": ws,
                    "platform": platform,
                    "tier": tier,
                    "latest_snapshot": last.isoformat() if last else None,
                    "age_min": round((now - since).total_seconds() / 60, 1),
                    "limit_min": round(2 * every.total_seconds() / 60, 1),
                }
            )
    return out


def counter_drops(session: Session, now: datetime) -> list[dict[str, Any]]:
    """Recent consecutive snapshots of a post where a cumulative counter fell by more than the tolerance."""
    ms = MetricSnapshot
    order = (ms.fetched_at, ms.id)
    cols = [
        func.lag(getattr(ms, m)).over(partition_by=ms.tracked_post_id, order_by=order).label(f"prev_{m}")
        for m in CUMULATIVE
    ]
    recent = (
        select(ms.tracked_post_id, ms.workspace_id, ms.fetched_at, *(getattr(ms, m) for m in CUMULATIVE), *cols)
        .where(ms.fetched_at >= now - DROP_WINDOW)
        .subquery()
    )
    out = []
    for row in session.execute(select(recent)).mappings():
        for m in CUMULATIVE:
            before, after = row[f"prev_{m}"], row[m]
            if before is not None and after is not None and before - after > max(DROP_ABS, DROP_REL * before):
                out.append(
                    {
                        "tracked_post_id": row["tracked_post_id"],
                        "workspace_id": row["workspace_id"],
                        "metric": m,
                        "before": before,
                        "after": after,
                        "at": row["fetched_at"].isoformat() if row["fetched_at"] else None,
                    }
                )
    return out


def workspace_mismatches(session: Session) -> list[dict[str, Any]]:
    """Rows tying a tracked post to another workspace: its snapshots, forecasts, account or post target."""
    tp = TrackedPost
    checks = [
        (
            "snapshot",
            select(tp.id, MetricSnapshot.workspace_id)
            .join(MetricSnapshot, MetricSnapshot.tracked_post_id == tp.id)
            .where(MetricSnapshot.workspace_id != tp.workspace_id),
        ),
        (
            "forecast",
            select(tp.id, MetricForecast.workspace_id)
            .join(MetricForecast, MetricForecast.tracked_post_id == tp.id)
            .where(MetricForecast.workspace_id != tp.workspace_id),
        ),
        (
            "account",
            select(tp.id, Account.workspace_id)
            .join(Account, Account.id == tp.account_id)
            .where(Account.workspace_id != tp.workspace_id),
        ),
        (
            "target",
            select(tp.id, PostTarget.workspace_id)
            .join(PostTarget, PostTarget.id == tp.target_id)
            .where(PostTarget.workspace_id != tp.workspace_id),
        ),
    ]
    out = []
    for what, stmt in checks:
        for pid, other in session.execute(stmt.distinct().limit(LISTED)):
            out.append({"tracked_post_id": pid, "row": what, "other_workspace_id": other})
    return out


def _check_result(rows: list[dict[str, Any]], what: str, **extra: Any) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        passed=not rows,
        metadata={"count": len(rows), what: dg.MetadataValue.json(rows[:LISTED]), **extra},
    )


@dg.asset_check(
    asset=post_metrics,
    required_resource_keys={"analytics", "database"},
    description="No active ultra_hot/hot post's latest snapshot is older than twice its tier's refresh interval.",
)
def hot_posts_fresh(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    res = context.resources
    app = res.analytics.app(res)
    with app.db.reading() as session:
        rows = stale_hot_posts(session, _utcnow(), TierPolicy.from_settings(app.settings))
    return _check_result(rows, "stale_posts")


@dg.asset_check(
    asset=post_metrics,
    required_resource_keys={"analytics", "database"},
    description=f"Cumulative counters ({', '.join(CUMULATIVE)}) never drop between consecutive snapshots by more "
    f"than max({DROP_ABS}, {DROP_REL:.0%}); larger drops (platform corrections) are flagged with their posts.",
)
def counters_never_drop(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    res = context.resources
    app = res.analytics.app(res)
    with app.db.reading() as session:
        rows = counter_drops(session, _utcnow())
    result = _check_result(rows, "drops", window_h=DROP_WINDOW.total_seconds() / 3600)
    return dg.AssetCheckResult(passed=result.passed, metadata=result.metadata, severity=dg.AssetCheckSeverity.WARN)


@dg.asset_check(
    asset=post_metrics,
    required_resource_keys={"analytics", "database"},
    description="Every tracked post belongs to exactly one workspace: its snapshots, forecasts, account and post "
    "target all carry the same workspace.",
)
def one_workspace_per_post(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    res = context.resources
    app = res.analytics.app(res)
    with app.db.reading() as session:
        rows = workspace_mismatches(session)
    return _check_result(rows, "mismatches")


METRICS_CHECKS = [hot_posts_fresh, counters_never_drop, one_workspace_per_post]

analytics_reports_job = dg.define_asset_job(
    "build_reports",
    selection=dg.AssetSelection.assets(metrics_derived, analytics_reports) | dg.AssetSelection.checks(*METRICS_CHECKS),
    executor_def=dg.in_process_executor,
    description="Derived tables and per-workspace reports after new snapshots landed, plus the post_metrics checks "
    "(freshness, counters, workspace isolation). Started by analytics_reports_sensor.",
    tags={"cliply/stage": "analytics", "ecs/cpu": "512", "ecs/memory": "1024"},
)


# ---- snapshot retention ----------


@dg.op(required_resource_keys={"analytics", "database"})
def thin_snapshots(context: dg.OpExecutionContext) -> int:
    """Thin old snapshots: hourly after CLIPLY_ANALYTICS_HOURLY_AFTER_D, daily after _DAILY_AFTER_D."""
    res = context.resources
    app = res.analytics.app(res)
    hourly, daily = app.settings.analytics_hourly_after_d, app.settings.analytics_daily_after_d
    with app.db.session() as session:
        deleted = thin(session, _utcnow(), hourly_after=timedelta(days=hourly), daily_after=timedelta(days=daily))
    context.log.info(f"thinned snapshots: {deleted} deleted (hourly after {hourly:g} d, daily after {daily:g} d)")
    context.add_output_metadata({"deleted": deleted, "hourly_after_d": hourly, "daily_after_d": daily})
    return deleted


@dg.job(
    executor_def=dg.in_process_executor,
    tags={"cliply/stage": "maintenance"},
    description="Thin metric snapshots: hourly after 7 days, daily after 30 days (configurable), so the table stays "
    "bounded however many posts are tracked.",
)
def analytics_retention_job() -> None:
    thin_snapshots()


defs = dg.Definitions(
    assets=[post_metrics, metrics_derived, analytics_reports],
    asset_checks=METRICS_CHECKS,
    jobs=[refresh_metrics_job, analytics_reports_job, analytics_retention_job],
)
