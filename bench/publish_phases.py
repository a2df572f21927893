"""Where a publish run's time goes: the real publisher (composition root → Publisher.publish_due; one run per
platform, each in its own process, all nine side by side as the daemon launches them) over N targets already due,
against the local sandbox, with every target's time split by phase and every SQL statement and transaction counted
by the phase that issued it.

Run: .venv/bin/python bench/publish_phases.py [--targets 600] [--postgres] [--concurrency 4] [--serial]
Phases (time a worker thread spends, exclusive of the phases nested in it):
  claim      the claim query and lease (the run's loop thread; shared by the targets it claims at once)
  lease      renewing the lease when a worker starts the target (and heartbeats during long uploads)
  account    loading and decrypting the account's credentials (and refreshing them)
  client     getting the run's platform client (built once per run; the run's other workers wait for it)
  limits     limit reservations: limits.take before each platform call, limits.release when one is refused
  attempt    committing the attempt marker before the create call
  platform   inside the platform client: HTTP requests (split: "http"), polling for processing ("poll wait") and
             the client's own work
  settle     the ledger transition that ends the target (published / waiting / failed / unknown) and its commit
  other      the rest of the worker's time (media path, signed URL, retry wrapper)
The sandbox's own share is the time the sandbox's ASGI app spent on those requests (measured around the app, in this
process), as a share of the client-side HTTP time. The baseline measured in the same run is the run's wall time and
its summed worker time: every figure is a share of those, so a busy machine shifts absolute times, not the split."""

from __future__ import annotations

import argparse
import contextlib
import math
import multiprocessing
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import wraps
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from sqlalchemy import event

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.publish_load import ROOT, connect, percentile, start_postgres
from cliply.media.ffmpeg import run_ffmpeg
from cliply.platforms import PLATFORMS
from cliply.platforms import base as platform_base
from cliply.platforms import youtube as platform_youtube
from cliply.publishing import ledger
from cliply.sandbox.local import LocalSandbox, free_port
from cliply.security.vault import generate_key
from cliply.settings import Settings
from cliply.store.accounts import AccountsRepo
from cliply.store.repo import WorkspaceScope, get_or_create_workspace
from cliply.wiring import cliply

PHASES = (
    "claim",
    "lease",
    "account",
    "client",
    "limits",
    "attempt",
    "http",
    "poll wait",
    "platform",
    "settle",
    "other",
)
# Sessions opened directly by these phases are named by what they do (the publisher opens them inline).
SESSION_PHASE = {"run": "lease", "target": "attempt", "platform": "lease", "http": "lease"}
# Per-account headroom: TikTok allows 5 init calls a minute, Pinterest 10 writes a minute, YouTube 6 uploads a day.
TARGETS_PER_ACCOUNT = 4


class Meter:
    """Exclusive time, SQL statements and transactions per phase, attributed through a per-thread phase stack."""

    def __init__(self) -> None:
        self._tls = threading.local()
        self._lock = threading.Lock()
        self.seconds: defaultdict[str, float] = defaultdict(float)
        self.statements: Counter[str] = Counter()
        self.transactions: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()

    def _stack(self) -> list[list[Any]]:
        stack = getattr(self._tls, "stack", None)
        if stack is None:
            stack = self._tls.stack = []
        return stack

    def current(self) -> str:
        stack = self._stack()
        return str(stack[-1][0]) if stack else "outside"

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        stack = self._stack()
        now = time.perf_counter()
        if stack:  # pause the enclosing phase
            self._add(stack[-1][0], now - stack[-1][1])
        stack.append([name, now])
        with self._lock:
            self.calls[name] += 1
        try:
            yield
        finally:
            now = time.perf_counter()
            done, began = stack.pop()
            self._add(done, now - began)
            if stack:
                stack[-1][1] = now

    def _add(self, name: str, seconds: float) -> None:
        with self._lock:
            self.seconds[name] += seconds

    def count(self, kind: Counter[str]) -> None:
        with self._lock:
            kind[self.current()] += 1

    def wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(fn)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            with self.phase(name):
                return fn(*args, **kwargs)

        return wrapped


class TimedApp:
    """ASGI wrapper around the sandbox: how long the sandbox itself spent on each request."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.seconds = 0.0
        self.requests = 0
        self.lock = threading.Lock()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        began = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            if scope["type"] == "http" and not scope["path"].startswith("/_sandbox"):
                with self.lock:
                    self.seconds += time.perf_counter() - began
                    self.requests += 1


def instrument(meter: Meter, publisher: Any, db: Any, clients: Callable[[str], Any]) -> dict[str, Any]:
    """Wrap the publisher's steps, its database and its platform clients (instance attributes only: nothing in the
    package changes). Returns per-target timings filled in as the run goes."""
    per_target: dict[str, Any] = {"claimed_at": {}, "run_s": [], "queued_s": []}
    claimed_at: dict[str, float] = per_target["claimed_at"]

    claim = publisher._claim

    def timed_claim(*args: Any, **kwargs: Any) -> Any:
        with meter.phase("claim"):
            jobs = claim(*args, **kwargs)
        now = time.monotonic()
        for job in jobs:
            claimed_at[job.target_id] = now
        with meter._lock:
            meter.calls["claimed"] += len(jobs)
        return jobs

    publisher._claim = timed_claim

    run = publisher._run

    def timed_run(job: Any, *args: Any, **kwargs: Any) -> Any:
        began = time.monotonic()
        per_target["queued_s"].append(began - claimed_at.get(job.target_id, began))
        with meter.phase("run"):
            outcome = run(job, *args, **kwargs)
        per_target["run_s"].append(time.monotonic() - began)
        return outcome

    publisher._run = timed_run
    for name, phase in {
        "_publish_target": "target",
        "_load_account": "account",
        "_refresh": "account",
        "_reauth": "account",
        "_client": "client",
        "_take": "limits",
        "_give_back": "limits",
        "_published": "settle",
        "_waiting": "settle",
        "_failed": "settle",
        "_unknown": "settle",
        "_needs_attention": "settle",
        "_save_handles": "settle",
    }.items():
        setattr(publisher, name, meter.wrap(phase, getattr(publisher, name)))

    session = db.session

    @contextlib.contextmanager
    def timed_session() -> Iterator[Any]:
        name = SESSION_PHASE.get(meter.current())
        with meter.phase(name) if name else contextlib.nullcontext(), session() as s:
            yield s

    db.session = timed_session
    event.listen(db.engine, "before_cursor_execute", lambda *a: meter.count(meter.statements))
    event.listen(db.engine, "begin", lambda *a: meter.count(meter.transactions))

    def timed_client(platform: str) -> Any:
        client = clients(platform)
        for name in ("publish", "find_existing"):
            setattr(client, name, meter.wrap("platform", getattr(client, name)))
        client.http.send = meter.wrap("http", client.http.send)
        return client

    publisher.clients = timed_client
    # The clients poll for processing with time.sleep from these modules: count that wait on its own.
    sleep = meter.wrap("poll wait", time.sleep)
    for module in (platform_base, platform_youtube):
        shim = SimpleNamespace(**{k: getattr(time, k) for k in dir(time) if not k.startswith("_")})
        shim.sleep = sleep
        module.__dict__["time"] = shim
    return per_target


def one_run(app: Any, platform: str, jobs: dict[str, Any], results: Any) -> None:
    """One platform's publish run in its own process (as the daemon launches them), instrumented; reports back."""
    app.db.engine.dispose(close=False)  # the parent's pooled connections stay the parent's
    meter = Meter()
    publisher = app.publisher()
    per_target = instrument(meter, publisher, app.db, app.clients)
    outcomes = publisher.publish_due(platform, worker_id=f"bench:{platform}:{os.getpid()}", **jobs)
    app.db.dispose()
    results.put(
        {
            "seconds": dict(meter.seconds),
            "statements": dict(meter.statements),
            "transactions": dict(meter.transactions),
            "calls": dict(meter.calls),
            "run_s": per_target["run_s"],
            "queued_s": per_target["queued_s"],
            "outcomes": [o.state for o in outcomes],
        }
    )


def make_clip(path: Path) -> None:
    run_ffmpeg(
        [
            *("-f", "lavfi", "-i", "testsrc2=size=1080x1920:rate=30:duration=4"),
            *("-f", "lavfi", "-i", "sine=duration=4"),
            *("-c:v", "libx264", "-preset", "ultrafast", "-b:v", "600k", "-pix_fmt", "yuv420p"),
            *("-c:a", "aac", "-shortest", "-movflags", "+faststart", str(path)),
        ]
    )


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--targets", type=int, default=600, help="due targets, spread evenly over the nine platforms")
    ap.add_argument("--postgres", action="store_true", help="the app database on a throwaway PostgreSQL cluster")
    ap.add_argument("--concurrency", type=int, default=0, help="targets at once per run (default: the setting)")
    ap.add_argument(
        "--serial",
        action="store_true",
        help="one platform's run at a time (with --concurrency 1 the phase sums add up to the wall time)",
    )
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="cliply-publish-phases-"))
    home = work / "home"
    sandbox = LocalSandbox()
    timed = TimedApp(sandbox._server.config.app)
    sandbox._server.config.app = timed  # uvicorn loads the app when the server starts
    sandbox.__enter__()
    serve_port = free_port()
    env = {
        **os.environ,
        "CLIPLY_HOME": str(home),
        "CLIPLY_TOKEN_KEYS": f"k1:{generate_key()}",
        "CLIPLY_PUBLIC_BASE_URL": f"http://127.0.0.1:{serve_port}",
        "CLIPLY_MEDIA_URL_KEY": "bench-media-url-key",
        **sandbox.env(),
    }
    if args.postgres:
        app_url, _ = start_postgres()
        env["CLIPLY_DATABASE_URL"] = app_url
    settings = Settings.from_env(env)
    app = cliply(settings)
    db, vault = app.db, app.vault
    clip = work / "clip.mp4"
    make_clip(clip)
    app.media.put_file("clips/src1/bench.mp4", clip)
    # Instagram and Threads pull the video from a signed URL: the HTTP service serves it, as in production.
    service = subprocess.Popen(
        [str(Path(sys.executable).with_name("cliply")), "serve", "--port", str(serve_port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not _listening(serve_port):
            if time.monotonic() > deadline or service.poll() is not None:
                raise SystemExit("`cliply serve` did not start")
            time.sleep(0.2)
        return measure(args, app, db, vault, sandbox, timed, clip)
    finally:
        os.killpg(service.pid, signal.SIGTERM)
        service.wait(timeout=30)
        sandbox.__exit__(None, None, None)
        shutil.rmtree(work, ignore_errors=True)


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def measure(args: Any, app: Any, db: Any, vault: Any, sandbox: LocalSandbox, timed: TimedApp, clip: Path) -> int:
    per_platform = {
        p: args.targets // len(PLATFORMS) + (i < args.targets % len(PLATFORMS)) for i, p in enumerate(PLATFORMS)
    }
    with db.session() as s:
        scope = WorkspaceScope(s, get_or_create_workspace(s, "default"))
        scope.add_source("src1", "file", str(clip), "bench.mp4", status="ready")
        clip_id = scope.replace_clips(
            "src1",
            [{"start_s": 0.0, "end_s": 4.0, "media_key": "clips/src1/bench.mp4", "duration_s": 4.0}],
        )[0].id
    accounts: dict[str, list[tuple[int, dict[str, str]]]] = defaultdict(list)
    for platform, n in per_platform.items():
        for i in range(max(1, math.ceil(n / TARGETS_PER_ACCOUNT))):
            name = f"{platform[:2]}{i:03d}"
            creds, opts = connect(sandbox, platform, name)
            with db.session() as s:
                repo = AccountsRepo(WorkspaceScope(s, get_or_create_workspace(s, "default")), vault)
                accounts[platform].append((repo.connect(platform, creds, name).id, opts))  # type: ignore[arg-type]
    due = datetime.now(UTC) - timedelta(seconds=1)
    with db.session() as s:
        scope = WorkspaceScope(s, get_or_create_workspace(s, "default"))
        for platform, n in per_platform.items():
            for k in range(n):
                account_id, opts = accounts[platform][k % len(accounts[platform])]
                ledger.create_post(
                    scope,
                    clip_id=clip_id,
                    caption=f"Phase bench clip {platform} {k} #cliply",
                    timezone="UTC",
                    scheduled_at=due,
                    targets=[ledger.TargetSpec(platform, account_id, options=opts)],
                )
    n_accounts = sum(len(v) for v in accounts.values())
    settings = app.settings
    concurrency = args.concurrency or settings.publish_concurrency
    print(
        f"{args.targets} targets due across {len(PLATFORMS)} platforms, {n_accounts} accounts; "
        f"{'PostgreSQL' if args.postgres else 'SQLite'}; concurrency {concurrency} per run; "
        f"{'one run at a time' if args.serial else 'nine runs side by side'}",
        flush=True,
    )

    jobs = dict(
        max_items=settings.publish_max_items,
        concurrency=concurrency,
        lease_s=settings.publish_lease_s,
        linger_s=0.0,
        max_run_s=settings.publish_max_run_s,
        poll_s=settings.publish_poll_s,
    )
    timed.seconds, timed.requests = 0.0, 0  # from here on: only the runs' requests
    db.dispose()  # the runs are forked: none may inherit an open connection
    ctx = multiprocessing.get_context("fork")
    results: Any = ctx.Queue()
    load_before = os.getloadavg()
    self_before, children_before = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    began = time.perf_counter()
    procs = [
        ctx.Process(target=one_run, args=(app, platform, jobs, results), name=f"run-{platform}")
        for platform in PLATFORMS
    ]
    reports = []
    if args.serial:
        for proc in procs:
            proc.start()
            reports.append(results.get())
            proc.join()
    else:
        for proc in procs:
            proc.start()
        reports = [results.get() for _ in procs]
        for proc in procs:
            proc.join()
    wall = time.perf_counter() - began
    load_after = os.getloadavg()
    self_after, children_after = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    sandbox_cpu = (self_after.ru_utime - self_before.ru_utime) + (self_after.ru_stime - self_before.ru_stime)
    runs_cpu = (children_after.ru_utime - children_before.ru_utime) + (
        children_after.ru_stime - children_before.ru_stime
    )

    meter = Meter()
    per_target: dict[str, list[float]] = {"run_s": [], "queued_s": []}
    outcomes: list[str] = []
    for report in reports:
        for field in ("seconds", "statements", "transactions", "calls"):
            for k, v in report[field].items():
                getattr(meter, field)[k] += v
        for field in per_target:
            per_target[field].extend(report[field])
        outcomes.extend(report["outcomes"])
    states = Counter(outcomes)
    n = max(1, len(outcomes))
    posts = sandbox.state.posts_for()
    worker = sum(per_target["run_s"])
    claim_s = meter.seconds["claim"]
    # "target" and "run" are the exclusive remainders of a worker's time once every named phase is taken out.
    seconds = dict(meter.seconds)
    seconds["other"] = seconds.pop("target", 0.0) + seconds.pop("run", 0.0)
    statements = dict(meter.statements)
    statements["other"] = statements.pop("target", 0) + statements.pop("run", 0)
    transactions = dict(meter.transactions)
    transactions["other"] = transactions.pop("target", 0) + transactions.pop("run", 0)
    total = worker + claim_s
    platform_all = seconds.get("platform", 0.0) + seconds.get("http", 0.0) + seconds.get("poll wait", 0.0)
    print(
        f"outcomes {dict(states)}; sandbox posts {len(posts)} (duplicates {max(0, len(posts) - states['published'])}); "
        f"wall {wall:.1f} s, {len(outcomes) / wall:.1f} targets/s; worker time {worker:.1f} s + claim {claim_s:.1f} s; "
        f"CPU: runs {runs_cpu:.1f} s, sandbox and service {sandbox_cpu:.1f} s ({(runs_cpu + sandbox_cpu) / wall:.2f} "
        f"of {os.cpu_count()} cores); "
        f"load average {load_before[0]:.1f} → {load_after[0]:.1f}"
    )
    print()
    print(
        "| phase | thread-seconds | share of worker time | ms per target | SQL statements per target "
        "| transactions per target |"
    )
    print("|---|---|---|---|---|---|")
    for phase in PHASES:
        s = seconds.get(phase, 0.0)
        print(
            f"| {phase} | {s:.1f} | {100 * s / total:.1f} % | {1000 * s / n:.1f} | "
            f"{statements.get(phase, 0) / n:.1f} | {transactions.get(phase, 0) / n:.2f} |"
        )
    sql_all = sum(statements.values())
    tx_all = sum(transactions.values())
    print(f"| **all** | {total:.1f} | 100 % | {1000 * total / n:.1f} | {sql_all / n:.1f} | {tx_all / n:.2f} |")
    db_phases = ("claim", "lease", "account", "limits", "attempt", "settle")
    db_s = sum(seconds.get(p, 0.0) for p in db_phases)
    print()
    print(
        f"database phases (claim, lease, account, limits, attempt, settle): {100 * db_s / total:.1f} % of worker time, "
        f"{1000 * db_s / n:.1f} ms per target; platform calls (client work + HTTP + poll wait): "
        f"{100 * platform_all / total:.1f} %, {1000 * platform_all / n:.1f} ms per target"
    )
    print(
        f"sandbox requests {timed.requests} ({timed.requests / n:.1f} per target); the sandbox's own handling "
        f"{timed.seconds:.1f} s = {100 * timed.seconds / max(1e-9, seconds.get('http', 0.0)):.0f} % of the client-side "
        f"HTTP time, {100 * timed.seconds / total:.1f} % of worker time"
    )
    print(
        f"claim queries {meter.calls['claim']} for {meter.calls['claimed']} targets "
        f"({statements.get('claim', 0) / max(1, meter.calls['claim']):.1f} statements each); "
        f"per target run time p50 {1000 * percentile(per_target['run_s'], 0.5):.0f} ms, "
        f"p99 {1000 * percentile(per_target['run_s'], 0.99):.0f} ms; waited for a worker after its claim: "
        f"p99 {1000 * percentile(per_target['queued_s'], 0.99):.1f} ms"
    )
    lost = args.targets - states["published"]
    return 0 if lost == 0 and len(posts) == states["published"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
