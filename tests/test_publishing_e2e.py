"""End to end on both backends: the REAL dagster-daemon publishes one processed source's two clips to accounts on all
nine platforms of the sandbox (over HTTP), through a 5xx burst, a 429, a lost create response, an expired token and a
run worker SIGKILLed mid-publish, and every target ends published exactly once on the platform's own record.

Backends: "sqlite" (app DB SQLite + Dagster's embedded SQLite instance) and "postgresql" (app DB on a fresh PostgreSQL
database + Dagster storage on another fresh one, through deploy/dagster.production.yaml's postgres storage block)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import httpx
import pytest
import yaml
from sqlalchemy import select

from cliply.platforms import PLATFORMS
from cliply.publishing.ledger import TargetSpec, create_post
from cliply.publishing.media_urls import MediaUrlSigner
from cliply.security.vault import KeyRing, TokenVault, generate_key
from cliply.storage.media_store import LocalMediaStore
from cliply.store.accounts import AccountsRepo
from cliply.store.db import Database
from cliply.store.models_publishing import Post, PostTarget
from cliply_assets.publishing import PLATFORM_TAG, publish_posts_job
from tests.fixtures.media import REPO
from tests.fixtures.postgres import create_database
from tests.fixtures.sandbox import RunningSandbox
from tests.helpers import pipeline_settings, seed_rendered_clips, settings_env
from tests.test_publisher import MediaServer
from tests.test_publishing_dagster import World

PRODUCTION_YAML = REPO / "deploy" / "dagster.production.yaml"
MEDIA_URL_KEY = "e2e-media-url-key"
TIKTOK = {"privacy": "PUBLIC_TO_EVERYONE"}
WAIT_ALL_S = 240
TWO_ACCOUNTS = ("x", "tiktok")

# One fault per platform; (platform, kind, operation, extra Fault fields). Accounts on every platform, two on x/tiktok.
FAULTS = [
    ("youtube", "error", "upload", {"times": 2, "status": 503}),  # 5xx burst on the upload
    ("linkedin", "rate_limit", "post", {"retry_after_s": 5.0}),  # a 429 with a short reset
    ("pinterest", "lost_response", "create_pin", {"delay_s": 6.0}),  # the pin is created, its answer never arrives
    ("tiktok", "expired_token", "init", {}),  # the access token dies mid-publish: refresh once, go on
    ("x", "lost_response", "create_tweet", {"delay_s": 12.0}),  # held while the run's worker is SIGKILLed
]


@dataclass
class Backend:
    name: str
    app_url: str
    dagster_config: dict[str, Any]
    env: dict[str, str]


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    config = yaml.safe_load((REPO / "dagster.yaml").read_text())
    if request.param == "sqlite":
        return Backend("sqlite", f"sqlite:///{tmp_path / 'cliply.db'}", config, {})
    cluster = request.getfixturevalue("postgres_cluster")
    suffix = uuid.uuid4().hex[:10]
    app_url = create_database(cluster.admin_url(), f"app_e2e_{suffix}")
    dagster_db = f"dagster_e2e_{suffix}"
    create_database(cluster.admin_url(), dagster_db)
    # The production storage block as is (psycopg2 scheme, secrets from the environment); the rest of the embedded
    # config (run queue, per-platform concurrency) stays so both backends run the same daemon shape.
    config["storage"] = yaml.safe_load(PRODUCTION_YAML.read_text())["storage"]
    env = {
        "DAGSTER_PG_HOST": "127.0.0.1",
        "DAGSTER_PG_PORT": str(cluster.port),
        "DAGSTER_PG_USER": "postgres",
        "DAGSTER_PG_PASSWORD": "",
        "DAGSTER_PG_DB": dagster_db,
    }
    return Backend("postgresql", app_url, config, env)


@dataclass
class E2E:
    world: World
    backend: Backend
    media_server: MediaServer
    dagster_home: Path
    options: dict[int, dict[str, Any]]  # account id → the target options it needs (TikTok privacy, Pinterest board)

    def connect(self, platform: str, account: str) -> int:
        """Real OAuth against the sandbox (Bluesky: an app-password session); the account is stored encrypted."""
        client = self.world.client(platform)
        try:
            if platform == "bluesky":
                resp = httpx.post(
                    f"{self.world.sandbox.url('bluesky')}/xrpc/com.atproto.server.createAccount",
                    json={"handle": f"{account}.test", "password": "app-pass-e2e"},
                    timeout=10,
                )
                assert resp.status_code == 200, resp.text
                creds = client.login(f"{account}.test", "app-pass-e2e")  # type: ignore[attr-defined]
            else:
                creds = self.world.sandbox.connect(client, account_id=account)
            board = client.list_boards(creds)[0]["id"] if platform == "pinterest" else None  # type: ignore[attr-defined]
        finally:
            client.close()
        with self.world.db.session() as s:
            row = AccountsRepo(self.world.scope(s), self.world.vault).connect(platform, creds, account)
            self.options[row.id] = {"board_id": board} if board else dict(TIKTOK) if platform == "tiktok" else {}
            return row.id

    def schedule(self, clip_id: str, targets: list[tuple[str, int]], caption: str, title: str) -> list[str]:
        with self.world.db.session() as s:
            post = create_post(
                self.world.scope(s),
                clip_id=clip_id,
                caption=caption,
                timezone="UTC",
                scheduled_at=datetime.now(UTC) - timedelta(minutes=1),
                targets=[TargetSpec(p, a, title=title, options=self.options[a]) for p, a in targets],
            )
            return [t.id for t in s.scalars(select(PostTarget).where(PostTarget.post_id == post.id))]

    def post_statuses(self) -> dict[str, str]:
        with self.world.db.session() as s:
            return {p.id: p.status for p in s.scalars(select(Post))}


@pytest.fixture
def e2e(
    backend: Backend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sandbox: RunningSandbox, small_clip: Path
) -> Iterator[E2E]:
    settings = pipeline_settings(tmp_path / "home", database_url=backend.app_url)
    for key, value in {**settings_env(settings), **backend.env}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("CLIPLY_TOKEN_KEYS", f"k1:{generate_key()}")
    monkeypatch.setenv("CLIPLY_MEDIA_URL_KEY", MEDIA_URL_KEY)
    for platform in PLATFORMS:
        for key, value in sandbox.env(platform, poll_timeout_s=20.0).items():
            monkeypatch.setenv(key, value)
    monkeypatch.setenv("CLIPLY_X_TIMEOUT_S", "20")  # the held create outlives the kill, as in the existing e2e test
    # Publisher ↔ daemon timings: a killed run's lease runs out after 15 s and its STARTED run is stale after 20 s.
    monkeypatch.setenv("CLIPLY_PUBLISH_LEASE_S", "15")
    monkeypatch.setenv("CLIPLY_PUBLISH_RUN_STALE_S", "20")
    monkeypatch.setenv("CLIPLY_PUBLISH_LINGER_S", "3")  # runs linger briefly, then hand over to the next tick

    db = Database(settings.resolved_database_url)
    db.migrate()
    store = LocalMediaStore(Path(settings.resolved_media_url))
    # Instagram and Threads pull the clip: a signed-URL media route (the HTTP service's /media in miniature).
    server = MediaServer(store)
    server.signer = MediaUrlSigner(store, base_url=server.base, secret=MEDIA_URL_KEY.encode())
    monkeypatch.setenv("CLIPLY_PUBLIC_BASE_URL", server.base)
    clip_ids, workspace_id = seed_rendered_clips(db, store, small_clip, 2)
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text(yaml.safe_dump(backend.dagster_config))
    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home))
    vault = TokenVault(KeyRing.from_env())
    instance = dg.DagsterInstance.from_config(str(dagster_home))
    try:
        world = World(db, store, vault, sandbox, instance, workspace_id, clip_ids)
        yield E2E(world, backend, server, dagster_home, options={})
    finally:
        instance.dispose()
        server.close()
        db.dispose()


class Daemon:
    def __init__(self, e2e: E2E, log: Path) -> None:
        self.e2e, self.log = e2e, log
        daemon = str(Path(sys.executable).with_name("dagster-daemon"))
        with log.open("w") as out:
            self.proc = subprocess.Popen(
                [daemon, "run", "-w", "workspace.yaml"],
                cwd=REPO,
                env=dict(os.environ),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def ledger(self) -> str:
        rows = self.e2e.world.targets()
        return "\n".join(
            f"  {t.platform:9} {t.id} post={t.post_id} state={t.state} attempts={t.attempts} "
            f"published_at={t.published_at and t.published_at.strftime('%H:%M:%S.%f')} "
            f"claimed_by={t.claimed_by} "
            f"error={t.error_class}:{(t.error_message or '')[:120]}"
            for t in rows.values()
        )

    def report(self) -> str:
        try:
            runs = [
                (
                    r.dagster_run.tags.get(PLATFORM_TAG),
                    r.dagster_run.run_id[:8],
                    r.dagster_run.status.value,
                    time.strftime("%H:%M:%S", time.gmtime(r.start_time or 0)),
                    time.strftime("%H:%M:%S", time.gmtime(r.end_time or 0)),
                )
                for r in self.e2e.world.instance.get_run_records(filters=dg.RunsFilter(job_name=publish_posts_job.name))
            ]
        except Exception as exc:  # the report must not hide the failure it describes
            runs = [("?", "?", repr(exc))]
        return (
            f"[{self.e2e.backend.name}] posts: {self.e2e.post_statuses()}\npublish runs: {runs}\n"
            f"ledger:\n{self.ledger()}\nsandbox posts: "
            f"{[(p.platform, p.post_id) for p in self.e2e.world.sandbox.state.posts_for()]}\n"
            f"daemon log tail:\n{self.log.read_text(errors='replace')[-4000:]}"
        )

    def wait(self, predicate: Callable[[], Any], timeout_s: float, what: str) -> Any:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            if self.proc.poll() is not None:
                pytest.fail(f"dagster-daemon exited ({self.proc.returncode}) waiting for {what}\n{self.report()}")
            time.sleep(0.25)
        pytest.fail(f"timed out after {timeout_s:.0f}s waiting for {what}\n{self.report()}")

    def stop(self) -> None:
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)


def test_daemon_publishes_every_target_on_all_nine_platforms_exactly_once_through_faults(
    e2e: E2E, tmp_path: Path
) -> None:
    world, state = e2e.world, e2e.world.sandbox.state
    accounts = {p: [e2e.connect(p, f"{p}-e2e-{i}") for i in range(2 if p in TWO_ACCOUNTS else 1)] for p in PLATFORMS}
    first, second = world.clip_ids
    targets = e2e.schedule(
        first,
        [(p, a) for p, ids in accounts.items() for a in ids],
        caption="The best moment of the talk #cliply",
        title="Best moment",
    )
    targets += e2e.schedule(
        second,
        [("x", accounts["x"][0]), ("tiktok", accounts["tiktok"][0])],
        caption="And a second moment from the same talk",
        title="Second moment",
    )
    assert len(targets) == 13 and {t.platform for t in world.targets().values()} == set(PLATFORMS)
    requests_before = len(state.requests)
    for platform, kind, operation, extra in FAULTS:
        world.sandbox.fault(platform, kind, operation, **extra)

    daemon = Daemon(e2e, tmp_path / "daemon.log")
    try:
        # The held x create: its run's worker is SIGKILLed while it waits for the answer (the tweet did post).
        def held_x_target() -> PostTarget | None:
            if not state.posts_for("x"):
                return None
            return next(
                (
                    t
                    for t in world.targets().values()
                    if t.platform == "x"
                    and t.attempt_started_at
                    and t.state not in ("published", "failed")
                    and t.claimed_by
                ),
                None,
            )

        held = daemon.wait(held_x_target, WAIT_ALL_S, "an x create whose response is held")
        killed_run = held.claimed_by.split(":")[1]
        os.kill(int(held.claimed_by.rsplit(":", 1)[1]), signal.SIGKILL)

        def all_final() -> dict[str, PostTarget] | None:
            rows = world.targets()
            return rows if all(rows[t].state in ("published", "failed") for t in targets) else None

        rows = daemon.wait(all_final, WAIT_ALL_S, "every target published or failed")
        assert {t: rows[t].state for t in targets} == dict.fromkeys(targets, "published"), daemon.report()

        # Exactly one post on the platform per target, and nothing else posted.
        assert state.wait_idle()
        for t in targets:
            matching = [p for p in state.posts_for(rows[t].platform) if p.post_id == rows[t].platform_post_id]
            assert len(matching) == 1, (rows[t].platform, t, daemon.report())
        assert len(state.posts_for()) == len(targets), daemon.report()
        assert len({(rows[t].platform, rows[t].platform_post_id) for t in targets}) == len(targets)
        for platform, ids in accounts.items():
            assert len(state.posts_for(platform)) == len(ids) + (platform in TWO_ACCOUNTS), platform

        # Every injected fault was actually hit, and the only 429 the platforms answered was the injected one.
        assert all(f.times == 0 for f in state.faults), [(f.platform, f.operation, f.times) for f in state.faults]
        too_many = [(r.platform, r.method, r.path) for r in state.requests[requests_before:] if r.status == 429]
        assert len(too_many) == 1 and too_many[0][0] == "linkedin", too_many

        # Dagster's records: a run per platform, the killed one among them and not successful.
        instance = world.instance

        def every_platform_succeeded() -> set[str] | None:
            records = instance.get_run_records(
                filters=dg.RunsFilter(job_name=publish_posts_job.name, statuses=[dg.DagsterRunStatus.SUCCESS])
            )
            done = {r.dagster_run.tags[PLATFORM_TAG] for r in records}
            return done if done == set(PLATFORMS) else None

        daemon.wait(every_platform_succeeded, 120, "a successful publish run per platform")
        killed = instance.get_run_by_id(killed_run)
        assert killed is not None and killed.tags[PLATFORM_TAG] == "x"
        assert killed.status != dg.DagsterRunStatus.SUCCESS
        if e2e.backend.name == "postgresql":
            assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        # Still one post per target after the recovery runs finished.
        assert len(state.posts_for()) == len(targets)
        # Every post's aggregate is "posted". A run refreshes its posts' aggregates after its last target, so a
        # recovery run that reconciles a post's last target settles it.
        daemon.wait(lambda: set(e2e.post_statuses().values()) == {"posted"}, 60, 'every post\'s status "posted"')
    finally:
        daemon.stop()
