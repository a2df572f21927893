"""Publishing under load: N posts due within a window across the nine sandbox platforms and M accounts, published by
the real Dagster daemon (due-posts sensor → one `posts` run per platform) on this machine.

Run: .venv/bin/python bench/publish_load.py [--posts 1000] [--window-s 600] [--accounts 50]
Reports lateness (publish start − scheduled time) p50/p99 (target p99 ≤ 60 s), throughput, duplicates (must be 0),
posts lost (must be 0) and 429 responses our calls caused (must be 0), and where the lateness comes from: due → attempt
start (waiting for a run, the hand-over between runs, claiming) vs attempt start → published (the platform work), and
for the slowest 1 % their platform and whether they fell in the first seconds after a publish run started. The
baseline measured in the same run is the schedule itself: throughput is compared with the rate at which posts fall
due."""

from __future__ import annotations

import argparse
import atexit
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cliply.media.ffmpeg import run_ffmpeg  # noqa: E402
from cliply.platforms import PLATFORMS, make_client  # noqa: E402
from cliply.platforms.base import PlatformConfig  # noqa: E402
from cliply.publishing import ledger  # noqa: E402
from cliply.sandbox.local import CLIENT_SECRET, LocalSandbox, free_port  # noqa: E402
from cliply.security.vault import KeyRing, TokenVault, generate_key  # noqa: E402
from cliply.storage.media_store import LocalMediaStore  # noqa: E402
from cliply.store.accounts import AccountsRepo  # noqa: E402
from cliply.store.db import Database  # noqa: E402
from cliply.store.models_publishing import PostTarget  # noqa: E402
from cliply.store.repo import WorkspaceScope, get_or_create_workspace  # noqa: E402

REDIRECT = "http://127.0.0.1:9/callback"
PLATFORM_TAG = "cliply/platform"  # the publish run's platform (see cliply_assets.publishing)


def connect(sandbox: LocalSandbox, platform: str, account: str) -> tuple[object, dict[str, str]]:
    """Authorise like a user would (OAuth consent in the sandbox, or a Bluesky session); creds and options."""
    client = make_client(
        platform,
        PlatformConfig(
            platform,
            base_url=f"{sandbox.base_url}/{platform}",
            client_id=f"cliply-{platform}",
            client_secret=CLIENT_SECRET,
        ),
    )
    try:
        if platform == "bluesky":
            creds = client.login(*sandbox.create_bluesky_account(account))  # type: ignore[attr-defined]
        else:
            pending = client.authorization_url(redirect_uri=REDIRECT)
            code = parse_qs(urlparse(sandbox.consent(pending.url, account)).query)["code"][0]
            creds = client.exchange_code(code=code, redirect_uri=REDIRECT, code_verifier=pending.code_verifier)
        if platform == "pinterest":  # pins go to one of the user's own boards
            return creds, {"board_id": client.list_boards(creds)[0]["id"]}  # type: ignore[attr-defined]
        if platform == "tiktok":
            return creds, {"privacy": "SELF_ONLY"}
        return creds, {}
    finally:
        client.close()


def start_postgres() -> tuple[str, dict[str, str]]:
    """A throwaway cluster (the test suite's) with an app database and a Dagster database."""
    from tests.fixtures.postgres import PgCluster, create_database, find_pg_bindir

    bindir = find_pg_bindir()
    if bindir is None:
        raise SystemExit(
            "--postgres needs the PostgreSQL server binaries (initdb, pg_ctl): run scripts/ensure_postgres.sh"
        )
    # Its own temporary folder: the server runs as the postgres user, who cannot enter the (0700) work folder.
    cluster = PgCluster(bindir=bindir, root=Path(tempfile.mkdtemp(prefix="cliply-pg-")))
    cluster.init()
    cluster.start()
    atexit.register(lambda: (cluster.stop(), shutil.rmtree(cluster.root, ignore_errors=True)))
    app_url = create_database(cluster.admin_url(), "cliply_bench")
    create_database(cluster.admin_url(), "dagster_bench")
    env = {
        "DAGSTER_PG_HOST": "127.0.0.1",
        "DAGSTER_PG_PORT": str(cluster.port),
        "DAGSTER_PG_USER": "postgres",
        "DAGSTER_PG_PASSWORD": "",
        "DAGSTER_PG_DB": "dagster_bench",
    }
    return app_url, env


def wait_for_runs_to_end(dagster_home: Path, timeout_s: float) -> None:
    import dagster as dg

    live = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]
    deadline = time.monotonic() + timeout_s
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        while time.monotonic() < deadline:
            if not instance.get_run_records(filters=dg.RunsFilter(job_name="publish_posts", statuses=live), limit=1):
                return
            time.sleep(2)


def run_summary(dagster_home: Path) -> str:
    import dagster as dg

    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        runs = instance.get_run_records(filters=dg.RunsFilter(job_name="publish_posts"))
        by_status = Counter(r.dagster_run.status.value for r in runs)
    return f"{len(runs)} ({dict(by_status)})"


def run_starts(dagster_home: Path) -> dict[str, list[datetime]]:
    """When each publish run started, by platform, oldest first (from the Dagster run records)."""
    import dagster as dg

    starts: defaultdict[str, list[datetime]] = defaultdict(list)
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        for record in instance.get_run_records(filters=dg.RunsFilter(job_name="publish_posts")):
            platform = record.dagster_run.tags.get(PLATFORM_TAG, "")
            if record.start_time is not None and platform:
                starts[platform].append(datetime.fromtimestamp(record.start_time, UTC))
    return {platform: sorted(times) for platform, times in starts.items()}


def _utc(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def lateness_breakdown(
    published: list[tuple[str, datetime, datetime | None, datetime | None]],
    starts: dict[str, list[datetime]],
    handover_s: float,
) -> list[str]:
    """Split each published target's time into due → attempt start (waiting for a run, the hand-over between runs,
    claiming, limits) and attempt start → published (the platform calls); then the slowest 1 %: which platform, and
    how long after the start of the run that published it (the latest run of its platform started by then)."""
    rows = [
        (platform, _utc(due), _utc(begun), _utc(done)) for platform, due, begun, done in published if begun and done
    ]
    if not rows:
        return []
    wait = [max(0.0, (begun - due).total_seconds()) for _, due, begun, _ in rows]
    work = [max(0.0, (done - begun).total_seconds()) for _, _, begun, done in rows]
    lines = [
        f"lateness breakdown: due → attempt start (run start/hand-over, claim, limits) p50 "
        f"{statistics.median(wait):.1f} s, p99 {percentile(wait, 0.99):.1f} s; attempt start → published (platform "
        f"work) p50 {statistics.median(work):.1f} s, p99 {percentile(work, 0.99):.1f} s"
    ]
    slowest = sorted(zip(wait, rows, strict=True), key=lambda pair: pair[0], reverse=True)[: max(1, len(rows) // 100)]
    kinds: Counter[str] = Counter()
    since_start: list[float] = []
    for _, (platform, _, begun, _) in slowest:
        runs = [s for s in starts.get(platform, []) if s <= begun]
        if not runs:
            kinds["no run start on record"] += 1
            continue
        since = (begun - runs[-1]).total_seconds()
        since_start.append(since)
        if since > handover_s:
            kinds[f"mid-run (> {handover_s:g} s after its run started)"] += 1
        elif len(runs) == 1:
            kinds[f"within {handover_s:g} s of the platform's first run starting"] += 1
        else:
            kinds[f"within {handover_s:g} s of a later run starting (hand-over)"] += 1
    platforms = Counter(platform for _, (platform, *_rest) in slowest)
    lines.append(
        f"slowest 1 % ({len(slowest)} targets, lateness {slowest[-1][0]:.1f}–{slowest[0][0]:.1f} s): by platform "
        f"{dict(platforms.most_common())}; {dict(kinds)}"
        + (
            f"; attempt started {statistics.median(since_start):.1f} s (median) after its run started"
            if since_start
            else ""
        )
    )
    first_due: dict[str, datetime] = {}
    for platform, due, _, _ in rows:
        first_due[platform] = min(due, first_due.get(platform, due))
    ahead = ", ".join(
        f"{p} {(starts[p][0] - first_due[p]).total_seconds():+.1f} s" for p in sorted(first_due) if starts.get(p)
    )
    runs_n = sum(len(v) for v in starts.values())
    lines.append(f"publish runs started: {runs_n} ({', '.join(f'{p} {len(v)}' for p, v in sorted(starts.items()))})")
    lines.append(f"first run started relative to the platform's first due post (negative: ahead): {ahead}")
    return lines


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--posts", type=int, default=1000)
    ap.add_argument("--window-s", type=float, default=600)
    ap.add_argument("--accounts", type=int, default=50)
    ap.add_argument("--drain-s", type=float, default=300, help="extra time allowed after the last post falls due")
    ap.add_argument(
        "--handover-s",
        type=float,
        default=15.0,
        help="a late target whose attempt began this soon after its run started counts as a run start/hand-over",
    )
    ap.add_argument(
        "--postgres",
        action="store_true",
        help="app database and Dagster storage on a throwaway PostgreSQL cluster (needs its binaries)",
    )
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="cliply-publish-bench-"))
    sandbox = LocalSandbox().__enter__()
    state = sandbox.state
    home, dagster_home = work / "home", work / "dagster"
    dagster_home.mkdir(parents=True)
    dagster_config = yaml.safe_load((ROOT / "dagster.yaml").read_text())
    serve_port = free_port()
    env = {
        **os.environ,
        "CLIPLY_HOME": str(home),
        "DAGSTER_HOME": str(dagster_home),
        "CLIPLY_TOKEN_KEYS": f"k1:{generate_key()}",
        "CLIPLY_PUBLIC_BASE_URL": f"http://127.0.0.1:{serve_port}",
        "CLIPLY_MEDIA_URL_KEY": "bench-media-url-key",
        **sandbox.env(),
    }
    app_url = f"sqlite:///{home / 'cliply.db'}"
    if args.postgres:
        app_url, pg_env = start_postgres()
        # The production storage block as is; the rest of the embedded config (queue, per-platform limit) stays.
        dagster_config["storage"] = yaml.safe_load((ROOT / "deploy" / "dagster.production.yaml").read_text())["storage"]
        env |= {**pg_env, "CLIPLY_DATABASE_URL": app_url}
    (dagster_home / "dagster.yaml").write_text(yaml.safe_dump(dagster_config))
    os.environ.update(env)

    clip = work / "clip.mp4"
    run_ffmpeg(
        [
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=1080x1920:rate=30:duration=4",
            "-f",
            "lavfi",
            "-i",
            "sine=duration=4",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-b:v",
            "600k",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-shortest",
            "-movflags",
            "+faststart",
            str(clip),
        ]
    )
    db = Database(app_url)
    db.migrate()
    media = LocalMediaStore(home / "media")
    media.put_file("clips/src1/bench.mp4", clip)
    vault = TokenVault(KeyRing.from_env(env, home))
    with db.session() as s:
        scope = WorkspaceScope(s, get_or_create_workspace(s, "default"))
        scope.add_source("src1", "file", str(clip), "bench.mp4", status="ready")
        clip_id = scope.replace_clips(
            "src1",
            [
                {
                    "start_s": 0.0,
                    "end_s": 4.0,
                    "media_key": "clips/src1/bench.mp4",
                    "duration_s": 4.0,
                    "width": 1080,
                    "height": 1920,
                }
            ],
        )[0].id
    accounts: list[tuple[str, int, dict[str, str]]] = []
    for i in range(args.accounts):
        platform = PLATFORMS[i % len(PLATFORMS)]
        creds, opts = connect(sandbox, platform, f"acct{i:02d}")
        with db.session() as s:
            repo = AccountsRepo(WorkspaceScope(s, get_or_create_workspace(s, "default")), vault)
            accounts.append((platform, repo.connect(platform, creds, f"acct{i:02d}").id, opts))  # type: ignore[arg-type]

    start = datetime.now(UTC) + timedelta(seconds=30)
    with db.session() as s:
        scope = WorkspaceScope(s, get_or_create_workspace(s, "default"))
        for n in range(args.posts):
            platform, account_id, opts = accounts[n % len(accounts)]
            due = start + timedelta(seconds=args.window_s * n / args.posts)
            ledger.create_post(
                scope,
                clip_id=clip_id,
                caption=f"Load test clip {n} #cliply",
                timezone="UTC",
                scheduled_at=due,
                targets=[ledger.TargetSpec(platform, account_id, options=opts)],
            )
    print(
        f"seeded {args.accounts} accounts and {args.posts} posts due {start:%H:%M:%S}–"
        f"{start + timedelta(seconds=args.window_s):%H:%M:%S} UTC",
        flush=True,
    )

    exe = Path(sys.executable)
    log = (work / "daemon.log").open("w")
    daemon = subprocess.Popen(
        [str(exe.with_name("dagster-daemon")), "run", "-w", "workspace.yaml"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    service = subprocess.Popen(
        [str(exe.with_name("cliply")), "serve", "--port", str(serve_port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    began = time.monotonic()
    deadline = began + 30 + args.window_s + args.drain_s
    try:
        while time.monotonic() < deadline:
            now = datetime.now(UTC)
            with db.session() as s:
                # Settled: published, failed, or deferred by a quota to a later window (not lost, not late).
                pending = sum(
                    1
                    for t in s.query(PostTarget)
                    if t.state not in ("published", "failed") and not (t.state == "waiting" and t.due_at > now)
                )
            if pending == 0 and now > start + timedelta(seconds=args.window_s):
                break
            time.sleep(5)
        # Publish runs linger for newly due posts; let them finish on their own rather than kill them.
        wait_for_runs_to_end(dagster_home, timeout_s=float(env.get("CLIPLY_PUBLISH_LINGER_S") or 60) + 120)
    finally:
        for proc in (daemon, service):
            os.killpg(proc.pid, signal.SIGTERM)
        for proc in (daemon, service):
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        sandbox.__exit__(None, None, None)

    with db.session() as s:
        rows = [
            (t.state, t.due_at, t.published_at, t.attempt_started_at, t.error_class, t.id, t.platform)
            for t in s.query(PostTarget)
        ]
    published = [r for r in rows if r[0] == "published"]
    lateness = [max(0.0, ((r[3] or r[2]) - r[1]).total_seconds()) for r in published if (r[3] or r[2])]
    per_target = Counter(
        p.payload.get("idempotency_key") or p.payload.get("cliply_target") or p.post_id for p in state.posts_for()
    )
    duplicates = max(0, len(state.posts_for()) - len(published))
    caused_429 = sum(1 for r in state.requests if r.status == 429)
    final = datetime.now(UTC)
    deferred = [r for r in rows if r[0] == "waiting" and r[1] > final]
    lost = args.posts - len(published) - sum(1 for r in rows if r[0] == "failed") - len(deferred)
    # The baseline: how fast the posts we could publish fell due (quota-deferred ones excluded) vs how fast they went.
    due_span = max((r[1] for r in published), default=start) - min((r[1] for r in published), default=start)
    span = max((r[2] for r in published), default=start) - min((r[1] for r in published), default=start)
    earliest = min((r[1] for r in deferred), default=final)
    print(
        f"published {len(published)}/{args.posts}, failed {sum(1 for r in rows if r[0] == 'failed')}, "
        f"deferred by platform quotas {len(deferred)} (next window from {earliest:%Y-%m-%d %H:%M} UTC), "
        f"states {dict(Counter(r[0] for r in rows))}"
    )
    if lateness:
        print(
            f"lateness p50 {statistics.median(lateness):.1f} s, p99 {percentile(lateness, 0.99):.1f} s, "
            f"max {max(lateness):.1f} s (target p99 <= 60 s)"
        )
        breakdown = [(r[6], r[1], r[3], r[2]) for r in published]
        for line in lateness_breakdown(breakdown, run_starts(dagster_home), args.handover_s):
            print(line)
    due_rate = len(published) / max(1.0, due_span.total_seconds())
    rate = len(published) / max(1.0, span.total_seconds())
    print(
        f"throughput {rate:.2f} posts/s vs the rate they fell due {due_rate:.2f} posts/s "
        f"(ratio {rate / due_rate:.2f}; {'PostgreSQL' if args.postgres else 'SQLite'})"
    )
    print(
        f"sandbox posts {len(state.posts_for())} for {len(published)} published targets: duplicates {duplicates}; "
        f"posts lost {lost}; 429 responses caused {caused_429}; distinct keys {len(per_target)}"
    )
    print(f"publish runs launched {run_summary(dagster_home)} for {len(published)} published targets")
    print(f"work folder (daemon log): {work}")
    return 0 if duplicates == 0 and lost == 0 and caused_429 == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
