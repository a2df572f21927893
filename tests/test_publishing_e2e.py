"""End to end on both backends: the REAL dagster-daemon publishes one processed source's two clips to accounts on all
nine platforms of the sandbox (over HTTP), through a 5xx burst, a 429, a lost create response, an expired token and a
run worker SIGKILLed mid-publish, and every target ends published exactly once on the platform's own record. A 503
burst on TikTok's init outlasts the in-run retries (the target waits for a later round, then publishes), and a YouTube
channel that rejects duplicates gets the same clip twice: one target publishes, the other fails with YouTube's reason.

Backends: "sqlite" (app DB SQLite + Dagster's embedded SQLite instance) and "postgresql" (app DB on a fresh PostgreSQL
database + Dagster storage on another fresh one, through deploy/dagster.production.yaml's postgres storage block)."""

from __future__ import annotations

import os
import signal
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
from tests.helpers import pipeline_settings, seed_rendered_clips, settings_env, start_daemon, stop_daemon
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
    # A 503 burst on TikTok's init, after the expired token above. The run publishes its 3 TikTok targets at once and
    # a target gives up in-run after MAX_TRIES (3) tries, so the targets can absorb at most 3 × 2 = 6 503s without one
    # of them waiting for a later round: 7 makes at least one wait (and stays under the 4 rounds × 3 tries a target
    # may spend before it fails).
    ("tiktok", "error", "init", {"times": 7, "status": 503}),
]
# The later rounds after a transient burst come after a few seconds here, not minutes (CLIPLY_PUBLISH_RETRY_*).
RETRY_DELAYS_S = "2,2,2"
DUP_ACCOUNT = "youtube-e2e-dup"  # a channel with reject_duplicates: the same bytes again end rejectionReason=duplicate


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
    monkeypatch.setenv("CLIPLY_PUBLISH_RETRY_DELAYS_S", RETRY_DELAYS_S)
    monkeypatch.setenv("CLIPLY_PUBLISH_RETRY_ROUNDS", "3")

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
        self.proc = start_daemon(dict(os.environ), log)

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
        stop_daemon(self.proc)


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
    # The same clip twice (same caption and title) to a YouTube channel that rejects duplicate uploads.
    state.add_account("youtube", DUP_ACCOUNT, reject_duplicates=True)
    dup_account = e2e.connect("youtube", DUP_ACCOUNT)
    dup_targets = [
        t
        for _ in range(2)
        for t in e2e.schedule(first, [("youtube", dup_account)], caption="The same clip again", title="Same clip")
    ]
    assert len(dup_targets) == 2
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

        transient: set[str] = set()  # targets seen waiting for a later round after the TikTok 503 burst

        def all_final() -> dict[str, PostTarget] | None:
            rows = world.targets()
            transient.update(t for t, r in rows.items() if r.state == "waiting" and r.wait_reason == "transient")
            return rows if all(rows[t].state in ("published", "failed") for t in targets + dup_targets) else None

        rows = daemon.wait(all_final, WAIT_ALL_S, "every target published or failed")
        assert {t: rows[t].state for t in targets} == dict.fromkeys(targets, "published"), daemon.report()

        # The duplicate upload: one target published, the other failed with YouTube's own reason, never published.
        published_dup = [t for t in dup_targets if rows[t].state == "published"]
        rejected = [rows[t] for t in dup_targets if rows[t].state == "failed"]
        assert len(published_dup) == 1 and len(rejected) == 1, daemon.report()
        [refused] = rejected
        assert refused.error_class in ("duplicate", "content_rejected"), daemon.report()
        assert "duplicate" in (refused.error_message or ""), daemon.report()
        assert not refused.platform_post_id and refused.published_at is None, daemon.report()

        # The TikTok burst outlasted the in-run retries: some target waited for a later round, and every such
        # target published after it. All 7 503s were answered (the burst is over), each on a TikTok init.
        transient |= {t for t in targets if rows[t].platform == "tiktok" and (rows[t].retry_rounds or 0) > 0}
        assert transient, daemon.report()
        for t in transient:
            assert rows[t].platform == "tiktok" and rows[t].state == "published", (t, daemon.report())
            assert (rows[t].retry_rounds or 0) >= 1 and rows[t].published_at is not None, (t, daemon.report())
        assert state.wait_idle()
        burst = [r for r in state.requests[requests_before:] if r.platform == "tiktok" and r.status == 503]
        assert len(burst) == 7 and all("/video/init" in r.path for r in burst), [(r.method, r.path) for r in burst]

        # Exactly one post on the platform per target, and nothing else posted.
        for t in targets:
            matching = [p for p in state.posts_for(rows[t].platform) if p.post_id == rows[t].platform_post_id]
            assert len(matching) == 1, (rows[t].platform, t, daemon.report())
        others = [p for p in state.posts_for() if p.account_id != DUP_ACCOUNT]
        assert len(others) == len(targets), daemon.report()
        assert len({(rows[t].platform, rows[t].platform_post_id) for t in targets}) == len(targets)
        for platform, ids in accounts.items():
            mine = [p for p in state.posts_for(platform) if p.account_id != DUP_ACCOUNT]
            assert len(mine) == len(ids) + (platform in TWO_ACCOUNTS), platform
        # The duplicate channel holds both uploads (YouTube keeps the rejected one); only the other is published.
        videos = state.objects.get("youtube:videos", {})
        dup_videos = [p.post_id for p in state.posts_for("youtube") if p.account_id == DUP_ACCOUNT]
        assert len(dup_videos) == 2, daemon.report()
        assert sorted(bool(videos[v]["rejection"]) for v in dup_videos) == [False, True], daemon.report()
        assert rows[published_dup[0]].platform_post_id in dup_videos
        assert not videos[rows[published_dup[0]].platform_post_id]["rejection"]

        # 0 duplicates and 0 lost posts: the posts the platforms accepted (a rejected upload is not a publication)
        # are exactly the published targets' posts, one each.
        published = [
            (rows[t].platform, rows[t].platform_post_id) for t in targets + dup_targets if rows[t].state == "published"
        ]
        accepted = [
            (p.platform, p.post_id)
            for p in state.posts_for()
            if not (p.platform == "youtube" and videos.get(p.post_id, {}).get("rejection"))
        ]
        assert len(published) == len(set(published)) == len(targets) + 1, daemon.report()
        assert sorted(accepted) == sorted(published), daemon.report()

        # Every injected fault was actually hit, and the only 429 the platforms answered was the injected one: the
        # reserved calls (retries and later rounds included) caused none.
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
        assert len([p for p in state.posts_for() if p.account_id != DUP_ACCOUNT]) == len(targets)
        assert len(state.posts_for()) == len(targets) + len(dup_targets)
        # Every post's aggregate is "posted" (the one whose upload YouTube rejected aside). A run refreshes its posts'
        # aggregates after its last target, so a recovery run that reconciles a post's last target settles it.
        refused_post = refused.post_id

        def every_post_posted() -> bool:
            return {s for p, s in e2e.post_statuses().items() if p != refused_post} == {"posted"}

        daemon.wait(every_post_posted, 60, 'every post\'s status "posted"')
        assert e2e.post_statuses()[refused_post] != "posted"
    finally:
        daemon.stop()
