"""Small builders shared by the pipeline tests: settings on a temp home, services, generated bad inputs."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

from cliply.media.ffmpeg import run_ffmpeg
from cliply.media.transcribe import make_transcriber
from cliply.pipeline import Services
from cliply.settings import Settings
from cliply.storage.media_store import LocalMediaStore, MediaStore
from cliply.store.db import Database
from cliply.store.repo import WorkspaceScope, get_or_create_workspace
from tests.fixtures.media import FASTER_TINY_EN, REPO

T = TypeVar("T")


def pipeline_settings(home: Path, **overrides: object) -> Settings:
    base = Settings(
        home=home,
        whisper_engine="faster-whisper",
        whisper_model=str(FASTER_TINY_EN),
        clip_min_seconds=5.0,
        clip_max_seconds=15.0,
        max_clips=2,
        render_preset="ultrafast",
    )
    return base.model_copy(update=overrides)


def settings_env(settings: Settings) -> dict[str, str]:
    """The same settings as CLIPLY_* variables, for subprocesses and Dagster resources."""
    return {
        "CLIPLY_HOME": str(settings.home),
        "CLIPLY_DATABASE_URL": settings.resolved_database_url,
        "CLIPLY_MEDIA_URL": settings.resolved_media_url,
        "CLIPLY_INBOX_URL": settings.resolved_inbox_url,
        "CLIPLY_WHISPER_ENGINE": settings.whisper_engine,
        "CLIPLY_WHISPER_MODEL": settings.whisper_model,
        "CLIPLY_CLIP_MIN_SECONDS": str(settings.clip_min_seconds),
        "CLIPLY_CLIP_MAX_SECONDS": str(settings.clip_max_seconds),
        "CLIPLY_MAX_CLIPS": str(settings.max_clips),
        "CLIPLY_RENDER_PRESET": settings.render_preset,
        "CLIPLY_CAPTION_HIGHLIGHT": settings.caption_highlight,
        "CLIPLY_ALLOW_PRIVATE_URLS": "1" if settings.allow_private_urls else "0",
    }


def make_services(settings: Settings) -> Services:
    db = Database(settings.resolved_database_url)
    db.migrate()
    return Services(
        settings=settings,
        db=db,
        store=LocalMediaStore(Path(settings.resolved_media_url)),
        transcriber=lambda: make_transcriber(settings.whisper_engine, settings.whisper_model),
    )


def make_video(path: Path, *, seconds: float, codec: str = "libx264", size: str = "64x64", rate: int = 5) -> Path:
    extra = ["-pix_fmt", "yuv420p"] if codec == "libx264" else []
    run_ffmpeg(
        [
            "-f",
            "lavfi",
            "-i",
            f"color=c=blue:size={size}:rate={rate}",
            "-t",
            str(seconds),
            "-c:v",
            codec,
            *extra,
            str(path),
        ]
    )
    return path


def run_threads(n: int, target: Callable[[int], object]) -> None:
    """Run target(0..n-1) in n threads released together; re-raise the first error a thread hit."""
    errors: list[BaseException] = []
    start = threading.Barrier(n)

    def run(i: int) -> None:
        try:
            start.wait()
            target(i)
        except BaseException as exc:  # a thread's exception would otherwise vanish
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def start_daemon(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """The real `dagster-daemon run -w workspace.yaml` of the project, in its own process group, logging to `log`."""
    daemon = str(Path(sys.executable).with_name("dagster-daemon"))
    with log.open("w") as out:
        return subprocess.Popen(
            [daemon, "run", "-w", "workspace.yaml"],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop_daemon(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the daemon's process group, SIGKILL if it lingers; then SIGKILL whatever of the group is left (a
    code server that outlived the daemon would otherwise keep running after the test)."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=30)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


def wait_for_daemon(
    predicate: Callable[[], T | None],
    timeout_s: float,
    what: str,
    proc: subprocess.Popen[bytes],
    log: Path,
    *,
    poll_s: float = 0.2,
) -> T:
    """Poll `predicate` until it returns something truthy; fail with the daemon log's tail if the daemon exits or
    the time runs out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if proc.poll() is not None:
            pytest.fail(f"dagster-daemon exited ({proc.returncode}) waiting for {what}:\n{log.read_text()[-3000:]}")
        time.sleep(poll_s)
    pytest.fail(f"timed out after {timeout_s:.0f}s waiting for {what}; daemon log:\n{log.read_text()[-3000:]}")


def seed_rendered_clips(
    db: Database, store: MediaStore, clip: Path, count: int, source_id: str = "src1"
) -> tuple[list[str], int]:
    """A ready source in the default workspace with `count` rendered clips (media + thumbnail) of `clip`;
    returns (clip ids by rank, workspace id)."""
    with db.session() as s:
        scope = WorkspaceScope(s, get_or_create_workspace(s, "default"))
        scope.add_source(source_id, "file", str(clip), "talk.mp4", status="ready")
        rows = []
        for rank in range(1, count + 1):
            key, thumb = f"clips/{source_id}/c{rank}.mp4", f"thumbnails/{source_id}/c{rank}.jpg"
            store.put_file(key, clip)
            store.put_bytes(thumb, b"\xff\xd8 jpeg")
            rows.append(
                {
                    "rank": rank,
                    "start_s": 0.0,
                    "end_s": 4.0,
                    "media_key": key,
                    "thumbnail_key": thumb,
                    "duration_s": 4.0,
                    "width": 1080,
                    "height": 1920,
                }
            )
        return [c.id for c in scope.replace_clips(source_id, rows)], scope.workspace_id
