"""Analytics at scale: N tracked posts across the nine sandbox platforms and M accounts, on SQLite and PostgreSQL.

Run: .venv/bin/python bench/metrics_refresh.py [--posts 10000] [--accounts 50] [--days 30] [--sqlite|--postgres]
     [--quick]

Reports, per database:
1. one full refresh cycle (every tracked post due but the frozen ones; publish ages spread over all tiers; each
   clip on all nine platforms): wall time against the bare fetches at one metrics call per post timed on the same
   sandbox in the same run, the platform calls it needed (calls per post against one call per post), 429
   responses caused (must be 0) and posts deferred by the read limits;
2. leaderboard and per-clip report query times over `--days` days of snapshots (generated in bulk at the tiered
   cadence, then thinned by retention), median of a few runs, against a `count(*)` of the snapshots and one
   indexed lookup timed in the same run (target ≤ 1 s);
3. rows and bytes per tracked post per month after thinning;
then, once: 4. the forecast's median absolute percentage error at +1 h and +3 h against the naive "last velocity"
forecast on the sandbox's growth curves (target: better than naive at both horizons).
Exit status 1 when a 429 was caused or the forecast does not beat naive, 2 when a part could not be measured."""

from __future__ import annotations

import argparse
import importlib
import random
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select, text  # noqa: E402

from bench.publish_load import connect, start_postgres  # noqa: E402
from cliply import wiring  # noqa: E402
from cliply.analytics import catalog  # noqa: E402
from cliply.analytics.tiers import TierPolicy  # noqa: E402
from cliply.platforms import PLATFORMS, make_client  # noqa: E402
from cliply.platforms.base import PlatformConfig  # noqa: E402
from cliply.sandbox import growth  # noqa: E402
from cliply.sandbox.local import CLIENT_SECRET, LocalSandbox  # noqa: E402
from cliply.sandbox.state import SandboxState  # noqa: E402
from cliply.security.vault import generate_key  # noqa: E402
from cliply.settings import Settings  # noqa: E402
from cliply.store.accounts import AccountsRepo  # noqa: E402
from cliply.store.models_analytics import METRIC_FIELDS, MetricSnapshot, TrackedPost  # noqa: E402
from cliply.store.repo import WorkspaceScope, get_or_create_workspace  # noqa: E402

# Share of the tracked posts per tier and the publish ages drawn for it: every tier occurs, most posts are old.
AGE_MIX = (
    ("ultra_hot", 0.05, timedelta(0), timedelta(hours=6)),
    ("hot", 0.10, timedelta(hours=6), timedelta(hours=24)),
    ("warm", 0.20, timedelta(days=1), timedelta(days=7)),
    ("cold", 0.50, timedelta(days=7), timedelta(days=90)),
    ("frozen", 0.15, timedelta(days=90), timedelta(days=120)),
)
# The cadence the refresher keeps by default (settings analytics_*): (age below which, snapshot every); frozen after.
_POLICY = TierPolicy()
CADENCE = tuple((getattr(_POLICY, tier), every) for tier, every in _POLICY.every)
QUERY_TARGET_S = 1.0
HORIZONS = (1, 3)
AGE_BANDS = (("0-1 h", 0, 1), ("1-6 h", 1, 6), ("6-24 h", 6, 24), ("24 h+", 24, float("inf")))


class NotMeasured(Exception):
    """A part of the bench whose code is missing: reported as "not measured: <why>"."""


def need(module: str, *names: str) -> Any:
    """Import a module the bench depends on, or say which part is missing."""
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        raise NotMeasured(f"{module} is not there ({exc})") from exc
    for name in names:
        if not hasattr(mod, name):
            raise NotMeasured(f"{module}.{name} is not there")
    return mod


def median_time(run: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        run()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


# --------------------------------------------------------------------------------------------------- world


@dataclass
class Seeded:
    platform: str
    post_id: str
    account_id: int  # the Cliply account it is read with
    published_at: datetime
    clip_id: str
    tier: str


@dataclass
class World:
    app: wiring.Cliply
    sandbox: LocalSandbox
    workspace_id: int
    accounts: dict[str, list[tuple[int, str]]] = field(default_factory=lambda: defaultdict(list))  # (id, sandbox id)
    posts: list[Seeded] = field(default_factory=list)

    @property
    def state(self) -> SandboxState:
        return self.sandbox.state


def publish_ages(n: int, rng: random.Random) -> Iterator[tuple[str, timedelta]]:
    """Stratified: exactly each tier's share of the n posts, ages uniform within the tier's range."""
    tiers = [name for name, share, _, _ in AGE_MIX for _ in range(round(share * n))]
    tiers = (tiers + ["cold"] * n)[:n]
    rng.shuffle(tiers)
    bounds = {name: (lo, hi) for name, _, lo, hi in AGE_MIX}
    for tier in tiers:
        lo, hi = bounds[tier]
        yield tier, lo + (hi - lo) * rng.random()


def seed_post(state: SandboxState, platform: str, account: str, age: timedelta) -> str:
    """A post that exists on the sandbox without Cliply having published it, created `age` ago; its public id."""
    if not hasattr(state, "seed_post"):
        raise NotMeasured("the sandbox has no seed_post (posts that exist without being published by Cliply)")
    return str(state.seed_post(platform, account, age=age).post_id)


def sandbox_owner(platform: str, user: str, creds: Any) -> str:
    """The sandbox account a seeded post belongs to: the page (Facebook) or DID (Bluesky) the credentials act
    for; elsewhere the user who gave consent."""
    return str(creds.account_id) if platform in ("facebook", "bluesky") else user


def build_world(work: Path, db_url: str, args: argparse.Namespace) -> World:
    sandbox = LocalSandbox().__enter__()
    env = {
        "CLIPLY_HOME": str(work / "home"),
        "CLIPLY_DATABASE_URL": db_url,
        "CLIPLY_TOKEN_KEYS": f"k1:{generate_key()}",
        **sandbox.env(),
    }
    app = wiring.cliply(Settings.from_env(env))
    app.db.migrate()
    with app.session() as s:
        workspace_id = get_or_create_workspace(s, "default").id
    world = World(app, sandbox, workspace_id)
    for i in range(args.accounts):
        platform = PLATFORMS[i % len(PLATFORMS)]
        name = f"acct{i:02d}"
        creds, _ = connect(sandbox, platform, name)
        with app.session() as s:
            scope = WorkspaceScope(s, get_or_create_workspace(s, "default"))
            account = AccountsRepo(scope, app.vault).connect(platform, creds, name)  # type: ignore[arg-type]
            world.accounts[platform].append((account.id, sandbox_owner(platform, name, creds)))
    return world


def seed_and_track(world: World, args: argparse.Namespace) -> None:
    """Seed the posts on the sandbox (each clip on all nine platforms, same publish age) and track them."""
    tracking = need("cliply.analytics.tracking", "TrackedPosts")
    rng = random.Random(args.seed)
    now = world.state.clock.now()
    turn: Counter[str] = Counter()
    ages = list(publish_ages(args.posts // len(PLATFORMS) + 1, rng))
    for n in range(args.posts):
        platform = PLATFORMS[n % len(PLATFORMS)]
        tier, age = ages[n // len(PLATFORMS)]
        accounts = world.accounts[platform]
        account_id, sandbox_account = accounts[turn[platform] % len(accounts)]
        turn[platform] += 1
        post_id = seed_post(world.state, platform, sandbox_account, age)
        clip_id = f"clip-{n // len(PLATFORMS):05d}"
        world.posts.append(Seeded(platform, post_id, account_id, now - age, clip_id, tier))
    chunk = 500
    for start in range(0, len(world.posts), chunk):
        with world.app.session() as s:
            scope = WorkspaceScope(s, get_or_create_workspace(s, "default"))
            posts = tracking.TrackedPosts(scope)
            for p in world.posts[start : start + chunk]:
                posts.track(
                    p.platform,
                    p.post_id,
                    origin="url",
                    published_at=p.published_at,
                    account_id=p.account_id,
                    clip_id=p.clip_id,
                    now=now,
                )


# ------------------------------------------------------------------------------------------------- 1. refresh


def one_call_per_post(world: World, per_platform: int) -> dict[str, float]:
    """The baseline: per platform, seconds per post when each post is fetched with its own metrics call (the
    clients directly, on a sandbox user of their own so the read windows of Cliply's accounts stay untouched)."""
    seconds: dict[str, float] = {}
    for platform in PLATFORMS:
        user = f"baseline-{platform}"
        creds, _ = connect(world.sandbox, platform, user)
        owner = sandbox_owner(platform, user, creds)
        ids = [seed_post(world.state, platform, owner, timedelta(hours=2 + i)) for i in range(per_platform)]
        config = PlatformConfig(
            platform,
            base_url=f"{world.sandbox.base_url}/{platform}",
            client_id=f"cliply-{platform}",
            client_secret=CLIENT_SECRET,
        )
        client = make_client(platform, config)
        try:
            began = time.perf_counter()
            for post_id in ids:
                client.fetch_metrics(creds, [post_id])  # type: ignore[arg-type]
            seconds[platform] = (time.perf_counter() - began) / len(ids)
        finally:
            client.close()
    return seconds


def refresh_cycle(world: World, args: argparse.Namespace) -> dict[str, Any]:
    refresh = need("cliply.analytics.refresh", "Refresher")
    refresher = refresh.Refresher(world.app, now=world.state.clock.now)
    with world.app.session() as s:
        tiers = {tier: n for tier, n in s.execute(select(TrackedPost.tier, func.count()).group_by(TrackedPost.tier))}
    mark = len(world.state.requests)
    reports = []
    began = time.perf_counter()
    for platform in PLATFORMS:
        reports.append(refresher.refresh(platform))
    wall = time.perf_counter() - began
    log = world.state.requests[mark:]
    per_call = one_call_per_post(world, args.baseline_calls)
    # One call per post for the posts this cycle fetched, each at its platform's measured cost per call.
    baseline = sum(per_call[r.platform] * r.fetched for r in reports)
    total = Counter[str]()
    for r in reports:
        for key in ("due", "fetched", "snapshots", "failures", "gone", "deferred", "calls"):
            total[key] += int(getattr(r, key) or 0)
    return {
        "tiers": tiers,
        "wall_s": wall,
        "requests": len(log),
        "requests_429": sum(1 for r in log if r.status == 429),
        "by_platform": Counter(r.platform for r in log),
        "baseline_s": baseline,
        "reports": reports,
        **total,
    }


def print_refresh(res: dict[str, Any], posts: int) -> None:
    tiers = ", ".join(f"{t} {res['tiers'].get(t, 0)}" for t, *_ in AGE_MIX)
    print(f"  tracked {posts} posts by tier: {tiers}")
    print(
        f"  due {res['due']}, fetched {res['fetched']}, snapshots {res['snapshots']}, failures {res['failures']}, "
        f"gone {res['gone']}, deferred by read limits {res['deferred']} "
        f"({', '.join(f'{r.platform} {r.deferred}' for r in res['reports'] if r.deferred) or 'none'})"
    )
    fetched = max(1, res["fetched"] or res["snapshots"])
    ratio = res["requests"] / fetched
    print(
        f"  platform calls {res['requests']} (refresher counted {res['calls']}) for {fetched} posts fetched: "
        f"{ratio:.3f} calls per post vs 1 call per post (ratio {ratio:.3f}×); by platform "
        f"{dict(sorted(res['by_platform'].items()))}"
    )
    baseline = res["baseline_s"]
    print(
        f"  full refresh cycle wall time {res['wall_s']:.1f} s (snapshots, tiers and forecasts stored) vs "
        f"{baseline:.1f} s for the bare fetches at one call per post (timed in this run): "
        f"ratio {res['wall_s'] / max(baseline, 1e-9):.2f}×"
    )
    print(f"  429 responses caused: {res['requests_429']} (must be 0)")


# ------------------------------------------------------------------------------------------------- 2. history


def cadence(published_at: datetime, start: datetime, end: datetime) -> Iterator[datetime]:
    """Fetch instants from max(published_at, start) up to (not including) end, at the tiered refresh cadence."""
    at = published_at
    while at < end:
        age = at - published_at
        step = next((every for until, every in CADENCE if age < until), None)
        if step is None:
            return
        if at >= start:
            yield at
        at += step


def history_inputs(world: World) -> tuple[list[Any], dict[str, dict[str, Any]]]:
    """The tracked posts, and per platform the raw fields its real fetch stored (so rows are as wide as real ones)."""
    with world.app.session() as s:
        posts = list(
            s.execute(
                select(TrackedPost.id, TrackedPost.platform, TrackedPost.platform_post_id, TrackedPost.published_at)
            )
        )
        templates: dict[str, dict[str, Any]] = {}
        for platform in PLATFORMS:
            raw = s.scalars(
                select(MetricSnapshot.raw)
                .join(TrackedPost, TrackedPost.id == MetricSnapshot.tracked_post_id)
                .where(TrackedPost.platform == platform)
                .limit(1)
            ).first()
            templates[platform] = raw or {}
    return posts, templates


def history_rows(
    world: World, posts: list[Any], templates: dict[str, dict[str, Any]], now: datetime, days: float
) -> Iterator[dict[str, Any]]:
    """`days` days of snapshots for every tracked post, at the cadence the refresher keeps (before `now`)."""
    start = now - timedelta(days=days)
    for post_id, platform, platform_post_id, published_at in posts:
        reported = catalog.REPORTED[platform]
        for at in cadence(published_at, start, now - timedelta(minutes=1)):
            # The counters the sandbox would have answered at that instant (its growth curves are pure functions).
            counts: dict[str, Any] = growth.counters(platform, platform_post_id, (at - published_at).total_seconds())
            counts["watch_time_s"] = counts["watch_time_ms"] / 1000
            row = {name: (counts[name] if name in reported else None) for name in METRIC_FIELDS}
            yield {
                "tracked_post_id": post_id,
                "workspace_id": world.workspace_id,
                "fetched_at": at,
                "raw": templates[platform],
                "granularity": "raw",
                **row,
            }


def bulk_insert(world: World, rows: Iterator[dict[str, Any]], chunk: int = 5000) -> int:
    table = MetricSnapshot.__table__
    n = 0
    batch: list[dict[str, Any]] = []
    with world.app.db.engine.begin() as conn:
        for row in rows:
            batch.append(row)
            if len(batch) >= chunk:
                conn.execute(table.insert(), batch)  # type: ignore[attr-defined]
                n += len(batch)
                batch = []
        if batch:
            conn.execute(table.insert(), batch)  # type: ignore[attr-defined]
            n += len(batch)
    return n


def generate_history(world: World, now: datetime, args: argparse.Namespace) -> dict[str, Any]:
    posts, templates = history_inputs(world)
    began = time.perf_counter()
    inserted = bulk_insert(world, history_rows(world, posts, templates, now, args.days))
    return {"inserted": inserted, "insert_s": time.perf_counter() - began}


def thin(world: World, now: datetime) -> dict[str, Any]:
    retention = need("cliply.analytics.retention", "thin")
    settings = world.app.settings
    began = time.perf_counter()
    with world.app.session() as s:
        deleted = retention.thin(
            s,
            now,
            hourly_after=timedelta(days=settings.analytics_hourly_after_d),
            daily_after=timedelta(days=settings.analytics_daily_after_d),
        )
    return {"deleted": deleted, "thin_s": time.perf_counter() - began}


# ------------------------------------------------------------------------------------------------- 2. queries


def time_queries(world: World, now: datetime, args: argparse.Namespace) -> dict[str, Any]:
    reports = need("cliply.analytics.reports", "leaderboard", "clip_report")
    rng = random.Random(args.seed)
    clips = sorted({p.clip_id for p in world.posts})
    since = timedelta(days=min(args.days, 30))
    out: dict[str, Any] = {}
    with world.app.session() as s:
        scope = WorkspaceScope(s, get_or_create_workspace(s, "default"))
        count = text("SELECT count(*) FROM metric_snapshots WHERE workspace_id = :w")
        lookup = text("SELECT * FROM metric_snapshots WHERE tracked_post_id = :p ORDER BY fetched_at DESC LIMIT 1")
        ids = s.scalars(select(TrackedPost.id)).all()
        out["count_s"] = median_time(lambda: s.execute(count, {"w": world.workspace_id}).scalar(), args.repeat)
        out["lookup_s"] = median_time(lambda: s.execute(lookup, {"p": rng.choice(ids)}).all(), args.repeat)
        for by in ("account", "clip"):
            board = reports.leaderboard(scope, by, since, now=now)  # warm: the timed runs see a primed cache
            out[f"leaderboard_{by}_rows"] = len(board)
            out[f"leaderboard_{by}_s"] = median_time(
                partial(reports.leaderboard, scope, by, since, now=now), args.repeat
            )
        picks = iter([rng.choice(clips) for _ in range(args.repeat + 1)])
        out["clip_report_rows"] = len(reports.clip_report(scope, next(picks), since, now=now).posts)
        out["clip_report_s"] = median_time(lambda: reports.clip_report(scope, next(picks), since, now=now), args.repeat)
    return out


def print_queries(q: dict[str, Any], dialect: str) -> None:
    base = q["count_s"]
    print(
        f"  baselines: count(*) of the snapshots {base * 1000:.1f} ms, one indexed lookup {q['lookup_s'] * 1000:.2f} ms"
    )
    for name, label in (
        ("leaderboard_account", "leaderboard by account"),
        ("leaderboard_clip", "leaderboard by clip"),
        ("clip_report", "per-clip report"),
    ):
        s = q[f"{name}_s"]
        verdict = "ok" if s <= QUERY_TARGET_S else "OVER TARGET"
        print(
            f"  {label} ({q[f'{name}_rows']} rows): {s * 1000:.0f} ms on {dialect} = {s / base:.1f}× the count(*) "
            f"(target ≤ {QUERY_TARGET_S:.0f} s: {verdict})"
        )


# ------------------------------------------------------------------------------------------------- 3. sizes


def table_bytes(world: World) -> tuple[int, str]:
    """Bytes of metric_snapshots with its indexes, after the space thinning freed is given back."""
    engine = world.app.db.engine
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM (FULL, ANALYZE) metric_snapshots"))
            size = conn.execute(text("SELECT pg_total_relation_size('metric_snapshots')")).scalar()
        return int(size or 0), "pg_total_relation_size after VACUUM FULL"
    raw = engine.raw_connection()  # VACUUM runs outside a transaction; the engine's connections always BEGIN
    try:
        cur = raw.cursor()
        cur.execute("VACUUM")
        try:
            cur.execute(
                "SELECT sum(pgsize) FROM dbstat WHERE name = 'metric_snapshots' OR name IN "
                "(SELECT name FROM sqlite_master WHERE tbl_name = 'metric_snapshots')"
            )
            (total,) = cur.fetchone() or (0,)
            return int(total or 0), "SQLite dbstat (table and indexes) after VACUUM"
        except Exception:
            return Path(engine.url.database or "").stat().st_size, "SQLite file size after VACUUM (no dbstat)"
    finally:
        raw.close()


def sizes(world: World, now: datetime, days: float) -> dict[str, Any]:
    with world.app.session() as s:
        rows = s.scalar(select(func.count()).select_from(MetricSnapshot)) or 0
        posts = s.scalar(select(func.count()).select_from(TrackedPost)) or 1
        # A post tracked for a whole month: published about `days` days ago, all its snapshots kept.
        lo, hi = now - timedelta(days=days + 1), now - timedelta(days=days - 1)
        month = (
            s.execute(
                select(func.count(MetricSnapshot.id))
                .join(TrackedPost, TrackedPost.id == MetricSnapshot.tracked_post_id)
                .where(TrackedPost.published_at >= lo, TrackedPost.published_at < hi)
                .group_by(MetricSnapshot.tracked_post_id)
            )
            .scalars()
            .all()
        )
    size, how = table_bytes(world)
    return {
        "rows": rows,
        "posts": posts,
        "bytes": size,
        "how": how,
        "month_rows": statistics.median(month) if month else None,
        "month_posts": len(month),
    }


def print_sizes(z: dict[str, Any], days: float) -> None:
    per_row = z["bytes"] / max(1, z["rows"])
    print(
        f"  after thinning: {z['rows']} snapshot rows, {z['rows'] / z['posts']:.1f} rows and "
        f"{z['bytes'] / z['posts'] / 1024:.1f} KiB per tracked post for {days:g} days of the age mix "
        f"({per_row:.0f} B per row; {z['how']})"
    )
    if z["month_rows"] is not None:
        print(
            f"  a post in its first month (published {days:g} ± 1 days ago, {z['month_posts']} posts): "
            f"{z['month_rows']:.0f} rows, {z['month_rows'] * per_row / 1024:.1f} KiB"
        )


# ------------------------------------------------------------------------------------------------- 4. forecast


def forecast_error(args: argparse.Namespace) -> dict[str, Any]:
    """Sample growth curves from a sandbox state whose clock advances, at the refresher's cadence, then back-test
    the model and naive on them."""
    fc = need("cliply.analytics.forecast", "backtest")
    derive = need("cliply.analytics.derive", "Point")
    state = SandboxState()
    if not hasattr(state, "seed_post"):
        raise NotMeasured("the sandbox has no seed_post (posts that exist without being published by Cliply)")
    with_views = [p for p in PLATFORMS if catalog.reports(p, "views")]
    rng = random.Random(args.seed)  # the post id draws the curve: ids from the seed make the sample repeatable
    posts = [
        state.seed_post(
            with_views[i % len(with_views)], f"fc{i % 20:02d}", str(rng.randrange(10**18, 10**19)), age=timedelta(0)
        )
        for i in range(args.forecast_posts)
    ]
    start = state.clock.now()
    grid = list(cadence(start, start, start + timedelta(hours=args.forecast_hours)))
    series: list[list[Any]] = [[] for _ in posts]
    for at in grid:
        state.clock.advance((at - state.clock.now()).total_seconds())
        for history, post in zip(series, posts, strict=True):
            m = state.metrics(post)  # what the platform would answer now: counters only, per the catalog
            values = {k: m[k] for k in METRIC_FIELDS if k in m and catalog.reports(post.platform, k)}
            history.append(derive.Point(at, **values))
    began = time.perf_counter()
    result = fc.backtest(series, HORIZONS)
    took = time.perf_counter() - began
    bands = by_age(fc, derive, series, start)
    return {"rows": result.rows(), "series": result.series, "cuts": result.cuts, "s": took, "bands": bands}


def by_age(fc: Any, derive: Any, series: list[list[Any]], start: datetime) -> dict[str, list[dict[str, Any]]]:
    """The same back-test split by the post's age when the forecast is made (a pooled median mixes very
    different errors: a few percent in the first hours, hundredths of a percent once growth has settled)."""
    if not all(hasattr(fc, name) for name in ("score_cut", "BacktestResult", "HorizonScore")):
        return {}
    results = {label: fc.BacktestResult({h: fc.HorizonScore(h) for h in HORIZONS}) for label, *_ in AGE_BANDS}
    for history in series:
        points = derive.with_views(history)
        for cut in range(1, len(points)):
            age_h = (points[cut].fetched_at - start).total_seconds() / 3600
            label = next(label for label, lo, hi in AGE_BANDS if lo <= age_h < hi)
            fc.score_cut(points, cut, results[label])
    return {label: r.rows() for label, r in results.items()}


def print_forecast(res: dict[str, Any]) -> bool:
    better = True
    print(f"forecast back-test on {res['series']} sandbox growth curves, {res['cuts']} cuts ({res['s']:.1f} s):")
    for row in res["rows"]:
        model, base = row["model_mdape"], row["naive_mdape"]
        if model is None or base is None:
            print(f"  +{row['horizon_h']:g} h: no scored forecasts")
            better = False
            continue
        ok = model < base
        better &= ok
        cover = f", 80 % interval covered {row['coverage_80'] * 100:.0f} %" if row["coverage_80"] is not None else ""
        print(
            f"  +{row['horizon_h']:g} h: MdAPE {model * 100:.2f} % vs naive {base * 100:.2f} % "
            f"(ratio {model / base:.2f}×, {row['n']} forecasts{cover}) {'better' if ok else 'NOT better'} than naive"
        )
    for label, rows in res["bands"].items():
        parts = [
            f"+{r['horizon_h']:g} h {r['model_mdape'] * 100:.2f} % vs {r['naive_mdape'] * 100:.2f} % "
            f"({r['model_mdape'] / r['naive_mdape']:.2f}×)"
            for r in rows
            if r["model_mdape"] is not None and r["naive_mdape"]
        ]
        n = max((r["n"] for r in rows), default=0)
        print(f"    made at post age {label} ({n} forecasts): {'; '.join(parts) or 'none scored'}")
    return better


# ------------------------------------------------------------------------------------------------- main


def run_backend(name: str, db_url: str, args: argparse.Namespace) -> tuple[int, list[str]]:
    """One database end to end; (429s caused, the parts that could not be measured)."""
    print(
        f"== {name}: {args.posts} tracked posts, {args.accounts} accounts, {args.days:g} days of snapshots", flush=True
    )
    world = build_world(Path(tempfile.mkdtemp(prefix="cliply-metrics-bench-")), db_url, args)
    caused, missing = 0, []
    try:
        began = time.perf_counter()
        seed_and_track(world, args)
        print(f"  seeded and tracked in {time.perf_counter() - began:.1f} s", flush=True)
        res = refresh_cycle(world, args)
        caused = res["requests_429"]
        print_refresh(res, len(world.posts))
    except NotMeasured as exc:
        print(f"  refresh cycle not measured: {exc}")
        missing.append("refresh")
        if not world.posts:
            return 0, [*missing, "queries", "sizes"]
    finally:
        world.sandbox.__exit__(None, None, None)
    now = world.state.clock.now()
    h = generate_history(world, now, args)
    print(f"  history: {h['inserted']} snapshots inserted in {h['insert_s']:.1f} s", flush=True)
    try:
        t = thin(world, now)
        print(f"  retention.thin deleted {t['deleted']} rows in {t['thin_s']:.1f} s", flush=True)
    except NotMeasured as exc:
        print(f"  thinning not measured (sizes below are before thinning): {exc}")
        missing.append("thinning")
    try:
        print_queries(time_queries(world, now, args), name)
    except NotMeasured as exc:
        print(f"  report queries not measured: {exc}")
        missing.append("queries")
    print_sizes(sizes(world, now, args.days), args.days)
    return caused, missing


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--posts", type=int, default=10_000)
    ap.add_argument("--accounts", type=int, default=50)
    ap.add_argument("--days", type=float, default=30, help="days of snapshot history for the report queries")
    ap.add_argument("--sqlite", action="store_true", help="only SQLite (default: both databases)")
    ap.add_argument("--postgres", action="store_true", help="only PostgreSQL (default: both databases)")
    ap.add_argument("--quick", action="store_true", help="small sizes: 900 posts, 18 accounts, 100 curves")
    ap.add_argument("--repeat", type=int, default=5, help="runs per timed query (the median is reported)")
    ap.add_argument("--baseline-calls", type=int, default=10, help="one-call-per-post fetches per platform")
    ap.add_argument("--forecast-posts", type=int, default=300)
    ap.add_argument("--forecast-hours", type=float, default=48)
    ap.add_argument("--seed", type=int, default=11)
    args = ap.parse_args(argv)
    if args.quick:
        args.posts, args.accounts, args.forecast_posts = min(args.posts, 900), min(args.accounts, 18), 100
    if args.accounts < len(PLATFORMS):
        ap.error(f"--accounts must be at least {len(PLATFORMS)} (one per platform)")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    backends = [b for b, on in (("SQLite", args.sqlite), ("PostgreSQL", args.postgres)) if on] or [
        "SQLite",
        "PostgreSQL",
    ]
    caused, missing = 0, []
    for name in backends:
        if name == "SQLite":
            url = f"sqlite:///{Path(tempfile.mkdtemp(prefix='cliply-metrics-sqlite-')) / 'cliply.db'}"
        else:
            url, _ = start_postgres()
        n, gaps = run_backend(name, url, args)
        caused += n
        missing += [f"{gap} ({name})" for gap in gaps]
    try:
        better = print_forecast(forecast_error(args))
    except NotMeasured as exc:
        print(f"forecast error not measured: {exc}")
        better = False
        missing.append("forecast")
    print(f"429 responses caused in all: {caused}; forecast better than naive at +1 h and +3 h: {better}")
    if caused or not better:
        return 1
    if missing:
        print(f"not measured: {', '.join(missing)}")
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
