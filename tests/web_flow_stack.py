"""The whole stack the creator's browser flow runs against: the HTTP service (the app `cliply serve` runs) on
127.0.0.1, the platform sandbox over real HTTP, and the real dagster-daemon on the project's workspace.yaml, all on
one SQLite app database, one media folder and one token key.

The daemon runs in its own process group (start_new_session) and is always stopped in the fixture's finally; every
wait is bounded and fails with what the daemon, its runs and the posts ledger were doing."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import dagster as dg
import pytest
from playwright.sync_api import Page
from sqlalchemy import select

from cliply.http.app import create_app
from cliply.media.ffmpeg import run_ffmpeg
from cliply.platforms import PLATFORMS
from cliply.security.vault import KeyRing, TokenVault, generate_key
from cliply.settings import Settings
from cliply.store.accounts import AccountsRepo
from cliply.store.db import Database
from cliply.store.models_publishing import PostTarget
from cliply.store.repo import WorkspaceScope, get_or_create_workspace
from tests.browser import WORKSPACE, WebService
from tests.fixtures.media import REPO
from tests.fixtures.sandbox import RunningSandbox
from tests.helpers import pipeline_settings, settings_env, start_daemon, stop_daemon
from tests.test_http import serve

T = TypeVar("T")

TALK_SECONDS = "10.1"  # a 10 s piece of the talk video: one short clip, quick to transcribe and render
BLUESKY_HANDLE = "northwind-flow.test"
BLUESKY_PASSWORD = "flow-app-password"


class Daemon:
    """The real `dagster-daemon run -w workspace.yaml` in its own process group, logging to a file."""

    def __init__(self, env: dict[str, str], log: Path, instance: dg.DagsterInstance, db: Database) -> None:
        self.log, self.instance, self.db = log, instance, db
        self.proc = start_daemon(env, log)

    def report(self) -> str:
        """What the daemon's runs, the posts ledger and the daemon's log say now (for failure messages)."""
        try:
            runs = [
                (r.dagster_run.job_name, r.dagster_run.status.value, r.dagster_run.tags.get("dagster/partition", ""))
                for r in self.instance.get_run_records(limit=30)
            ]
        except Exception as exc:  # the report must not hide the failure it describes
            runs = [("?", "?", repr(exc))]
        with self.db.session() as s:
            ledger = [
                f"  {t.platform:9} {t.id} post={t.post_id} state={t.state} attempts={t.attempts} "
                f"error={t.error_class}:{(t.error_message or '')[:120]}"
                for t in s.scalars(select(PostTarget))
            ]
        tail = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
        return f"runs: {runs}\nledger:\n" + "\n".join(ledger) + f"\ndaemon log tail:\n{tail}"

    def alive_or_fail(self, what: str) -> None:
        if self.proc.poll() is not None:
            pytest.fail(f"dagster-daemon exited ({self.proc.returncode}) while waiting for {what}\n{self.report()}")

    def stop(self) -> None:
        stop_daemon(self.proc)


@dataclass
class FlowStack:
    web: WebService
    sandbox: RunningSandbox
    daemon: Daemon
    video: Path  # the short talk a creator uploads

    def reload_until(self, page: Page, done: Callable[[], T | None], timeout_s: float, what: str) -> T:
        """Reload `page` every second or two until `done()` returns something truthy; fails after `timeout_s` (or
        when the daemon exits) with the daemon's report."""
        deadline = time.monotonic() + timeout_s
        while True:
            value = done()
            if value:
                return value
            self.daemon.alive_or_fail(what)
            if time.monotonic() > deadline:
                pytest.fail(
                    f"timed out after {timeout_s:.0f} s waiting for {what} on {page.url}\n{self.daemon.report()}"
                )
            time.sleep(1.5)
            page.reload()


def _environment(home: Path, sandbox: RunningSandbox) -> dict[str, str]:
    """The CLIPLY_* settings the HTTP service and the daemon share: the pipeline on a temporary home (Whisper tiny,
    one clip), every platform pointed at the sandbox, and one token key."""
    settings = pipeline_settings(home, max_clips=1)
    env = {**settings_env(settings), "CLIPLY_TOKEN_KEYS": f"k1:{generate_key()}"}
    for platform in PLATFORMS:
        env.update(sandbox.env(platform))
    return env


@pytest.fixture(scope="module", name="flow_stack")
def flow_stack_fixture(
    tmp_path_factory: pytest.TempPathFactory, sandbox_server: RunningSandbox, talk_video: Path
) -> Iterator[FlowStack]:
    """One stack per module: sandbox (reset), app database with a workspace and its API key, the HTTP service and the
    running daemon. The daemon starts first, so it loads the code location while the browser signs in."""
    tmp = tmp_path_factory.mktemp("web-flow")
    sandbox_server.state.wait_idle()
    sandbox_server.state.reset()
    video = tmp / "team-talk.mp4"
    run_ffmpeg(["-i", str(talk_video), "-t", TALK_SECONDS, "-c", "copy", "-movflags", "+faststart", str(video)])

    env = _environment(tmp / "home", sandbox_server)
    settings = Settings.from_env(env)
    Path(settings.resolved_inbox_url).mkdir(parents=True, exist_ok=True)
    db = Database(settings.resolved_database_url)
    db.migrate()
    vault = TokenVault(KeyRing.from_settings(settings, settings.home))
    with db.session() as s:
        token = AccountsRepo(WorkspaceScope(s, get_or_create_workspace(s, WORKSPACE)), vault).create_api_token("web")

    dagster_home = tmp / "dagster"
    dagster_home.mkdir()
    shutil.copyfile(REPO / "dagster.yaml", dagster_home / "dagster.yaml")
    # The instance's SQLite storage exists before the daemon opens it (two processes creating it at once can both
    # stamp its schema version).
    instance = dg.DagsterInstance.from_config(str(dagster_home))
    daemon_env = {**os.environ, **env, "DAGSTER_HOME": str(dagster_home)}
    daemon: Daemon | None = None
    try:
        daemon = Daemon(daemon_env, tmp / "daemon.log", instance, db)
        with serve(create_app(settings, db=db, vault=vault)) as base:
            yield FlowStack(WebService(base, WORKSPACE, token, db, settings), sandbox_server, daemon, video)
    finally:
        if daemon is not None:
            daemon.stop()
        instance.dispose()
        db.dispose()
        sandbox_server.state.wait_idle()
