"""`cliply readyz` with publishing on requires a live Dagster daemon (its heartbeats in the instance): "daemon not
running" before a real `dagster-daemon run` starts, ready once it beats, and no such check with publishing off."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from click.testing import CliRunner, Result

from cliply.cli import main
from cliply.orchestration import check_daemon
from cliply.settings import Settings
from cliply.store.db import Database
from tests.fixtures.media import REPO
from tests.helpers import wait_for_daemon


def readyz() -> tuple[Result, dict[str, Any]]:
    r = CliRunner().invoke(main, ["readyz"], catch_exceptions=False)
    return r, json.loads(r.stdout)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    dagster_home = tmp_path / "dagster"
    dagster_home.mkdir()
    shutil.copyfile(REPO / "dagster.yaml", dagster_home / "dagster.yaml")
    values = {
        "CLIPLY_HOME": str(tmp_path / "home"),
        "CLIPLY_DATABASE_URL": f"sqlite:///{tmp_path / 'app.db'}",
        "CLIPLY_MEDIA_URL": str(tmp_path / "media"),
        "DAGSTER_HOME": str(dagster_home),
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    for key in ("CLIPLY_TOKEN_KEYS", "CLIPLY_PUBLISHING_ENABLED"):
        monkeypatch.delenv(key, raising=False)
    Database(values["CLIPLY_DATABASE_URL"]).migrate()
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        instance.get_run_records(limit=1)  # its SQLite storage exists before the daemon and readyz both open it
    return values


@pytest.fixture
def daemon(env: dict[str, str], tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    log = tmp_path / "daemon.log"
    exe = str(Path(sys.executable).with_name("dagster-daemon"))
    with log.open("w") as out:
        proc = subprocess.Popen(
            [exe, "run", "-w", "workspace.yaml"],
            cwd=REPO,
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield proc, log
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """The daemon's whole process group (it starts code servers); it may have exited already."""
    for sig, wait_s in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


def test_readyz_reports_a_missing_daemon_when_publishing_is_on(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    r, report = readyz()
    assert r.exit_code == 1
    assert report["checks"]["daemon"]["ok"] is False
    assert report["checks"]["daemon"]["detail"].startswith("daemon not running")
    assert all(c["ok"] for name, c in report["checks"].items() if name != "daemon"), report
    monkeypatch.setenv("CLIPLY_PUBLISHING_ENABLED", "0")
    r, report = readyz()
    assert r.exit_code == 0 and "daemon" not in report["checks"], report


def test_readyz_is_ready_once_a_real_daemon_beats(
    env: dict[str, str], daemon: tuple[subprocess.Popen[bytes], Path]
) -> None:
    proc, log = daemon
    settings = Settings.from_env()
    wait_for_daemon(lambda: check_daemon(settings)[0], 90, "the daemon's first heartbeats", proc, log, poll_s=1.0)
    r, report = readyz()
    assert r.exit_code == 0, report
    assert report["checks"]["daemon"] == {"ok": True, "detail": report["checks"]["daemon"]["detail"]}
    assert report["checks"]["daemon"]["detail"].startswith("daemon running")
    # A heartbeat older than the tolerance is a stopped daemon.
    stale, detail = check_daemon(settings, now=time.time() + 3600)
    assert stale is False and detail.startswith("daemon not running")
