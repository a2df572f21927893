"""`make demo`'s terminal transcript: scripts/demo.py run as a process on the test settings of
tests/test_demo_publish.py (a short talk instead of the sample). Every stage is shown with its elapsed time, no
Dagster log line reaches the terminal, and every post link printed is the local sandbox's own record of the post."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cliply.platforms import PLATFORMS
from tests.fixtures.media import REPO
from tests.helpers import pipeline_settings, settings_env

pytestmark = pytest.mark.integration  # Whisper, renders, Dagster runs and the sandbox, end to end

STAGES = (
    "sources",
    "transcripts",
    "highlights",
    "clips",
    "thumbnails",
    "processing",
    "accounts",
    "schedule",
    "publish",
    "disconnect",
)
# Dagster's console format ("2026-01-01 10:00:00 +0000 - dagster - DEBUG - …") and its loggers' names.
DAGSTER_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d.*? - dagster|\bdagster(\.[\w.]+)? - |^\S* ?dagster\.\w+:")
POSTED = re.compile(r"^\s+(\w+)\s+posted\s+(\S+)$", re.MULTILINE)


def test_demo_shows_stages_with_times_and_only_sandbox_links(tmp_path: Path, talk_video: Path) -> None:
    settings = pipeline_settings(tmp_path / "home")
    dagster_home = tmp_path / "dagster"
    dagster_home.mkdir()
    shutil.copyfile(REPO / "dagster.yaml", dagster_home / "dagster.yaml")
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("CLIPLY_TOKEN_KEYS", "CLIPLY_MEDIA_URL_KEY", "CLIPLY_PUBLIC_BASE_URL")
    }
    env |= {**settings_env(settings), "DAGSTER_HOME": str(dagster_home)}
    proc = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "demo.py"), "--video", str(talk_video)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]

    for stage in STAGES:
        assert re.search(rf"✓ {stage}\s+\d+\.\d s$", proc.stdout, re.MULTILINE), (stage, proc.stdout)
    assert "DEBUG" not in out
    assert not [line for line in out.splitlines() if DAGSTER_LINE.search(line)], out
    posted = dict(POSTED.findall(proc.stdout))
    assert sorted(posted) == sorted(PLATFORMS) and len(POSTED.findall(proc.stdout)) == 9, proc.stdout
    for platform, url in posted.items():
        assert re.fullmatch(rf"http://127\.0\.0\.1:\d+/_sandbox/posts/{platform}/\S+", url), url
    links = re.findall(r"https?://[^\s)]+", out)
    assert links and all(link.startswith("http://127.0.0.1:") for link in links), links
