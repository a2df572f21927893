"""End-to-end wall time of `cliply process` (2 cores), with per-stage times, CPU time and peak memory.

Run: .venv/bin/python bench/process_e2e.py [--case short|long] [--minutes M | --hours H]
  --case short (default): a 10-minute 1920x1080 talk. Target: at most 0.30x the source's duration.
  --case long: a 2-hour 1920x1080 talk (business plan). Targets: at most 0.15x the source's duration and at most
    1.5 GiB peak memory for the whole job (`cliply process` plus every process it starts, summed).
Sources are generated here (the LibriVox reading from the shared media folder under looped
camera footage) and cached between runs in $CLIPLY_BENCH_CACHE (default ~/.cache/cliply-bench): the 10-minute
source takes minutes to encode, the 2-hour one about a minute (a one-minute 1080p loop repeated by stream copy).
A same-run baseline (ffmpeg decoding the source, or five minutes of it scaled to its length) shows how busy the
shared machine was: compare ratios, not absolute seconds. CPU seconds (user + system of the job and its children)
are less sensitive to other load than wall time.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.long_source_memory import build_long_talk, print_stages, run_process  # noqa: E402
from cliply.media.ffmpeg import run_ffmpeg  # noqa: E402
from cliply.media.probe import probe  # noqa: E402
from cliply.samples import SAMPLES_DIR, build_talk_video  # noqa: E402

TALK_SECONDS = 24.73  # the LibriVox reading once
TARGETS = {"short": (0.30, None), "long": (0.15, 1.5 * 1024)}  # (max ratio to source duration, max peak MB)
BASELINE_S = 300.0  # the long case's machine baseline decodes this much of the source and scales it


def cache_dir() -> Path:
    base = os.environ.get("CLIPLY_BENCH_CACHE") or str(Path.home() / ".cache" / "cliply-bench")
    path = Path(base)
    path.mkdir(parents=True, exist_ok=True)
    return path


def cached_source(case: str, seconds: float) -> Path:
    """The generated talk for this case and length, built once (written under a temporary name, then renamed)."""
    if case == "short":
        repeats = max(1, round(seconds / TALK_SECONDS))
        dst = cache_dir() / f"talk-1080p-{repeats}x.mp4"
    else:
        dst = cache_dir() / f"long-talk-1080p-{round(seconds)}s.mp4"
    if dst.is_file():
        return dst
    with tempfile.TemporaryDirectory(prefix="cliply-bench-src-", dir=dst.parent) as tmp:
        part = Path(tmp) / dst.name
        if case == "short":
            build_talk_video(SAMPLES_DIR, part, repeats=repeats, size="1920x1080")
        else:
            build_long_talk(part, seconds)
        shutil.move(str(part), dst)
    return dst


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--case", choices=sorted(TARGETS), default="short")
    parser.add_argument("--minutes", type=float, help="source length (default: 10 short, 120 long)")
    parser.add_argument("--hours", type=float, help="source length in hours (overrides --minutes)")
    args = parser.parse_args()
    minutes = args.hours * 60 if args.hours else args.minutes or (10.0 if args.case == "short" else 120.0)
    max_ratio, max_peak_mb = TARGETS[args.case]
    model = os.environ.get("CLIPLY_WHISPER_MODEL") or str(ROOT.parent / "shared" / "models" / "faster-whisper-tiny.en")

    started = time.perf_counter()
    source = cached_source(args.case, minutes * 60)
    duration = probe(source).duration
    print(f"source ready in {time.perf_counter() - started:.0f} s: {source.name}", flush=True)

    with tempfile.TemporaryDirectory(prefix="cliply-bench-") as tmp:
        work = Path(tmp)
        started = time.perf_counter()
        if args.case == "short":
            run_ffmpeg(["-i", str(source), "-f", "null", "-"])
            decode_s = time.perf_counter() - started
        else:
            run_ffmpeg(["-t", str(BASELINE_S), "-i", str(source), "-f", "null", "-"])
            decode_s = (time.perf_counter() - started) * duration / min(BASELINE_S, duration)

        env = {
            **os.environ,
            "CLIPLY_HOME": str(work / "home"),
            "DAGSTER_HOME": str(work / "dagster"),
            "CLIPLY_WHISPER_ENGINE": os.environ.get("CLIPLY_WHISPER_ENGINE", "faster-whisper"),
            "CLIPLY_WHISPER_MODEL": model,
        }
        if args.case == "long":
            env["CLIPLY_DEFAULT_PLAN"] = "business"  # the only plan that accepts a 2-hour source
        cpu_before = children_cpu_s()
        run = run_process(source, env)
        cpu_s = children_cpu_s() - cpu_before
        largest_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        if run.summary is None:
            return 1
        summary, samples, wall = run.summary, run.samples, run.wall_s
        clip_seconds = sum(c["end"] - c["start"] for c in summary["clips"])
        peak = max((mb for _, mb in samples), default=0.0)
        print(
            f"source: {duration:.1f} s ({duration / 60:.1f} min) 1920x1080 talk, {len(summary['clips'])} clips "
            f"({clip_seconds:.0f} s of clips)"
        )
        print_stages(env, summary, samples, duration)
        ratio = wall / duration
        print(f"{'cliply process':<16}{wall:9.1f}{ratio:10.3f}{peak:10.0f}   (target <= {max_ratio}x)")
        print(f"{'  CPU seconds':<16}{cpu_s:9.1f}{cpu_s / duration:10.3f}   (user+system, job and children)")
        print(f"{'ffmpeg decode':<16}{decode_s:9.1f}{decode_s / duration:10.3f}   (same-run machine baseline)")
        print(f"process / decode baseline: {wall / decode_s:.1f}x")
        verdict = [f"time {ratio:.3f}x source: {'ok' if ratio <= max_ratio else 'OVER'}"]
        if max_peak_mb is not None:
            verdict.append(
                f"peak {peak:.0f} MB (target <= {max_peak_mb:.0f}): {'ok' if peak <= max_peak_mb else 'OVER'}"
            )
        print(f"peak memory of the whole job {peak:.0f} MB; largest single process {largest_mb:.0f} MB")
        print("; ".join(verdict))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
