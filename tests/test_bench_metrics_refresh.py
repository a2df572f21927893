"""bench/metrics_refresh.py at toy sizes, so the benchmark keeps running as the analytics code changes: every part
is measured (nothing "not measured", no traceback), each report line is printed and no 429 is caused. The forecast
verdict at these sizes is not asserted (a few curves decide nothing); the full run is the benchmark."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOY = [
    "--posts",
    "54",
    "--accounts",
    "9",
    "--days",
    "3",
    "--repeat",
    "1",
    "--baseline-calls",
    "1",
    "--forecast-posts",
    "14",
    "--forecast-hours",
    "12",
]
EXPECTED = (
    "tracked 54 posts by tier",
    "calls per post vs 1 call per post",
    "full refresh cycle wall time",
    "429 responses caused: 0 (must be 0)",
    "retention.thin deleted",
    "leaderboard by account",
    "leaderboard by clip",
    "per-clip report",
    "rows and",
    "+1 h: MdAPE",
    "+3 h: MdAPE",
    "429 responses caused in all: 0",
)


def run_bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "bench" / "metrics_refresh.py"), *TOY, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def check(proc: subprocess.CompletedProcess[str], database: str) -> None:
    out = proc.stdout
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert "not measured" not in out, out
    assert proc.returncode in (0, 1), (proc.returncode, out, proc.stderr[-3000:])  # 1: forecast verdict only
    assert f"== {database}:" in out
    for line in EXPECTED:
        assert line in out, (line, out)


@pytest.mark.slow
def test_bench_runs_on_sqlite() -> None:
    check(run_bench("--sqlite"), "SQLite")


@pytest.mark.integration
def test_bench_runs_on_postgres() -> None:
    check(run_bench("--postgres"), "PostgreSQL")
