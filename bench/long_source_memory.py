"""Peak memory and wall time of `cliply process` on a long 1080p talk (default 2 hours), stage by stage.

Run: .venv/bin/python bench/long_source_memory.py [--minutes 120]
(bench/process_e2e.py --case long runs the same 2-hour job on a source cached between runs.)
Targets: peak memory of the whole job (the `cliply process` process and every process it starts, summed) at most
1.5 GiB, and wall time at most 0.15x the source's duration. The source is generated here: the LibriVox reading
looped under a one-minute 1080p clip (looped camera footage) repeated by stream copy, so generating two hours
takes about a minute. A same-run baseline (ffmpeg decoding five minutes of the source, scaled to its length) shows
how busy the shared machine was: compare ratios, not absolute seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cliply.media.ffmpeg import run_ffmpeg  # noqa: E402
from cliply.media.probe import probe  # noqa: E402
from cliply.samples import build_joined_audio  # noqa: E402

MEDIA = ROOT.parent / "shared" / "media"
MAX_PEAK_MB = 1.5 * 1024
MAX_RATIO = 0.15
BASELINE_S = 300.0


def build_long_talk(dst: Path, seconds: float) -> Path:
    once = build_joined_audio(MEDIA, dst.with_name("once.wav"))
    loop = dst.with_name("loop.mp4")
    run_ffmpeg(
        [
            "-stream_loop", "-1", "-i", str(MEDIA / "cockatoo.mp4"), "-t", "60", "-an",
            "-vf", "scale=1920:1080,fps=25", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "28",
            "-g", "50", "-pix_fmt", "yuv420p", str(loop),
        ]
    )  # fmt: skip
    run_ffmpeg(
        [
            "-stream_loop", "-1", "-i", str(loop), "-stream_loop", "-1", "-i", str(once), "-t", f"{seconds:.3f}",
            "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy",
            "-c:a", "aac", "-b:a", "96k", "-ar", "44100", "-ac", "2", "-movflags", "+faststart", str(dst),
        ]
    )  # fmt: skip
    once.unlink()
    loop.unlink()
    return dst


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def tree_rss_mb(root: int) -> float:
    """Resident memory of a process and all its descendants, in MB."""
    tree = _children()
    total_kb, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo += tree.get(pid, [])
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
        except OSError:
            continue
    return total_kb / 1024


def sample_memory(proc: subprocess.Popen[str], samples: list[tuple[float, float]], every_s: float = 0.2) -> None:
    while proc.poll() is None:
        samples.append((time.time(), tree_rss_mb(proc.pid)))
        time.sleep(every_s)


@dataclass
class ProcessRun:
    summary: dict[str, Any] | None  # `cliply process --json`'s last line; None when it failed (stderr printed)
    samples: list[tuple[float, float]]  # (time, MB of the whole process tree)
    wall_s: float


def run_process(source: Path, env: dict[str, str]) -> ProcessRun:
    """`cliply process SOURCE --json` in a child process, its memory sampled while it runs."""
    samples: list[tuple[float, float]] = []
    started = time.perf_counter()
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("cliply")), "process", str(source), "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    sampler = threading.Thread(target=sample_memory, args=(proc, samples), daemon=True)
    sampler.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - started
    sampler.join()
    if proc.returncode != 0:
        print(err[-3000:])
        return ProcessRun(None, samples, wall)
    return ProcessRun(json.loads(out.strip().splitlines()[-1]), samples, wall)


def print_stages(
    env: dict[str, str], summary: dict[str, Any], samples: list[tuple[float, float]], duration: float
) -> None:
    """One line per Dagster step of the run: seconds, ratio to the source's duration, peak MB while it ran."""
    os.environ["DAGSTER_HOME"] = env["DAGSTER_HOME"]
    import dagster as dg

    with dg.DagsterInstance.get() as instance:
        stats = instance.get_run_step_stats(summary["dagster_run_id"])
    print(f"{'stage':<16}{'seconds':>9}{'x source':>10}{'peak MB':>10}")
    for s in stats:
        start, end = s.start_time or 0, s.end_time or 0
        stage_peak = max((mb for t, mb in samples if start <= t <= end), default=0.0)
        secs = end - start
        print(f"{s.step_key:<16}{secs:9.1f}{secs / duration:10.3f}{stage_peak:10.0f}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=120.0)
    args = parser.parse_args()
    model = os.environ.get("CLIPLY_WHISPER_MODEL") or str(ROOT.parent / "shared" / "models" / "faster-whisper-tiny.en")
    with tempfile.TemporaryDirectory(prefix="cliply-bench-long-") as tmp:
        work = Path(tmp)
        started = time.perf_counter()
        source = build_long_talk(work / "talk.mp4", args.minutes * 60)
        duration = probe(source).duration
        print(f"generated a {duration / 60:.1f}-minute 1920x1080 talk in {time.perf_counter() - started:.0f} s")

        started = time.perf_counter()
        run_ffmpeg(["-t", str(BASELINE_S), "-i", str(source), "-f", "null", "-"])
        decode_s = (time.perf_counter() - started) * duration / min(BASELINE_S, duration)

        env = {
            **os.environ,
            "CLIPLY_HOME": str(work / "home"),
            "DAGSTER_HOME": str(work / "dagster"),
            "CLIPLY_DEFAULT_PLAN": "business",
            "CLIPLY_WHISPER_ENGINE": os.environ.get("CLIPLY_WHISPER_ENGINE", "faster-whisper"),
            "CLIPLY_WHISPER_MODEL": model,
        }
        run = run_process(source, env)
        if run.summary is None:
            return 1
        summary, samples, wall = run.summary, run.samples, run.wall_s
        peak = max((mb for _, mb in samples), default=0.0)
        print(f"source: {duration:.0f} s ({duration / 60:.1f} min) 1920x1080 talk, {len(summary['clips'])} clips")
        print_stages(env, summary, samples, duration)
        ratio = wall / duration
        print(f"{'cliply process':<16}{wall:9.1f}{ratio:10.3f}{peak:10.0f}")
        print(f"{'ffmpeg decode':<16}{decode_s:9.1f}{decode_s / duration:10.3f}   (same-run machine baseline)")
        print(f"process / decode baseline: {wall / decode_s:.2f}x")
        print(
            f"peak memory {peak:.0f} MB (target <= {MAX_PEAK_MB:.0f}): {'ok' if peak <= MAX_PEAK_MB else 'OVER'}; "
            f"time {ratio:.3f}x source (target <= {MAX_RATIO}): {'ok' if ratio <= MAX_RATIO else 'OVER'}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
