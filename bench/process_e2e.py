"""End-to-end wall time of `cliply process` on a 10-minute source (2 cores), with peak memory and per-stage times.

Run: .venv/bin/python bench/process_e2e.py [--minutes 10]
Target: wall time under the source's own duration (ratio < 1.0). A same-run baseline (ffmpeg decoding the whole
source once) shows how busy the shared machine was: compare ratios, not absolute seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cliply.media.ffmpeg import run_ffmpeg  # noqa: E402
from cliply.media.probe import probe  # noqa: E402
from cliply.samples import SAMPLES_DIR, build_talk_video  # noqa: E402

TALK_SECONDS = 24.73  # the LibriVox reading once


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=10.0)
    args = parser.parse_args()
    model = os.environ.get("CLIPLY_WHISPER_MODEL") or str(ROOT.parent / "shared" / "models" / "faster-whisper-tiny.en")
    with tempfile.TemporaryDirectory(prefix="cliply-bench-") as tmp:
        work = Path(tmp)
        repeats = max(1, round(args.minutes * 60 / TALK_SECONDS))
        source = build_talk_video(SAMPLES_DIR, work / "talk.mp4", repeats=repeats, size="1920x1080")
        duration = probe(source).duration

        started = time.perf_counter()
        run_ffmpeg(["-i", str(source), "-f", "null", "-"])
        decode_s = time.perf_counter() - started

        env = {
            **os.environ,
            "CLIPLY_HOME": str(work / "home"),
            "DAGSTER_HOME": str(work / "dagster"),
            "CLIPLY_WHISPER_ENGINE": os.environ.get("CLIPLY_WHISPER_ENGINE", "faster-whisper"),
            "CLIPLY_WHISPER_MODEL": model,
        }
        started = time.perf_counter()
        proc = subprocess.run(
            [str(Path(sys.executable).with_name("cliply")), "process", str(source), "--json"],
            env=env,
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - started
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        if proc.returncode != 0:
            print(proc.stderr[-3000:])
            return proc.returncode
        summary = json.loads(proc.stdout.strip().splitlines()[-1])

        os.environ["DAGSTER_HOME"] = env["DAGSTER_HOME"]
        import dagster as dg

        with dg.DagsterInstance.get() as instance:
            stats = instance.get_run_step_stats(summary["dagster_run_id"])
        clip_seconds = sum(c["end"] - c["start"] for c in summary["clips"])
        print(f"source: {duration:.1f} s 1920x1080 talk, {len(summary['clips'])} clips ({clip_seconds:.0f} s of clips)")
        print(f"{'stage':<14}{'seconds':>9}{'x source':>10}")
        for s in stats:
            secs = (s.end_time or 0) - (s.start_time or 0)
            print(f"{s.step_key:<14}{secs:9.1f}{secs / duration:10.3f}")
        print(f"{'cliply process':<14}{wall:9.1f}{wall / duration:10.3f}   (target < 1.0)")
        print(f"{'ffmpeg decode':<14}{decode_s:9.1f}{decode_s / duration:10.3f}   (same-run machine baseline)")
        print(f"process / decode baseline: {wall / decode_s:.1f}x")
        print(f"peak RSS (largest process): {peak_mb:.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
