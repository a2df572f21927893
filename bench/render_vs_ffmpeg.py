"""Project renderer vs one hand-written ffmpeg command for the same 25 s vertical clip, for each caption style.

Run: .venv/bin/python -m bench.render_vs_ffmpeg [style ...]   (from the repo root; needs ../shared/media)
The project time includes reframe analysis (plan_crop) and writing the .ass; both sides use the same .ass (the
style's), packaged fonts folder, crop, scale, loudnorm and x264/AAC settings. Target: ratio project / hand-written
<= 1.2 for every style.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cliply.media.caption_styles import STYLES
from cliply.media.captions import build_ass
from cliply.media.ffmpeg import run_ffmpeg
from cliply.media.fonts import fonts_dir
from cliply.media.presets import PRESETS
from cliply.media.reframe import plan_crop
from cliply.media.render import RenderRequest, render_clip
from cliply.media.types import Word
from tests.fixtures.media import build_talk_video, librivox_segments, require_shared

START, END, RUNS = 5.0, 30.0, 2


def talk_words(repeats: int) -> list[Word]:
    """Evenly spread words over each sentence of the talk (timing realistic enough for caption load)."""
    segs = librivox_segments()
    period = segs[-1].end
    words = []
    for r in range(repeats):
        for s in segs:
            toks = s.text.split()
            step = (s.end - s.start - 0.2) / len(toks)
            words += [
                Word(tok, r * period + s.start + i * step, r * period + s.start + (i + 0.9) * step)
                for i, tok in enumerate(toks)
            ]
    return words


def hand_written_args(src: Path, ass: Path, out: Path) -> list[str]:
    return [
        "-ss",
        f"{START}",
        "-i",
        str(src),
        "-t",
        f"{END - START}",
        "-vf",
        f"crop=404:720:438:0,scale=1080:1920:flags=bicubic,setsar=1,subtitles={ass}:fontsdir={fonts_dir()},"
        "fps=30,format=yuv420p",
        "-af",
        "loudnorm=I=-14:TP=-1.5:LRA=11,aresample=48000",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-crf",
        "23",
        "-profile:v",
        "high",
        "-pix_fmt",
        "yuv420p",
        "-g",
        "60",
        "-keyint_min",
        "60",
        "-sc_threshold",
        "0",
        "-maxrate",
        "25000k",
        "-bufsize",
        "50000k",
        "-c:a",
        "aac",
        "-b:a",
        "128k",
        "-ar",
        "48000",
        "-ac",
        "2",
        "-movflags",
        "+faststart",
        str(out),
    ]


def main() -> None:
    require_shared()
    preset = PRESETS["universal"]
    styles = sys.argv[1:] or list(STYLES)
    clip_s = END - START
    ratios: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="cliply-bench-") as tmp:
        d = Path(tmp)
        src = build_talk_video(d / "talk.mp4", repeats=2)
        words = talk_words(2)
        for name in styles:

            def project(name: str = name) -> None:
                plan = plan_crop(src, START, END)
                req = RenderRequest(src, d / "project.mp4", START, END, words, plan, preset, caption_style=name)
                render_clip(req)

            ass = d / f"hand-{name}.ass"
            ass.write_text(build_ass(words, clip_start=START, clip_end=END, style=STYLES[name]), encoding="utf-8")
            hand_args = hand_written_args(src, ass, d / "hand.mp4")

            def hand(hand_args: list[str] = hand_args) -> None:
                run_ffmpeg(hand_args)

            times: dict[str, list[float]] = {"project": [], "hand-written": []}
            for _ in range(RUNS):
                for side, fn in (("hand-written", hand), ("project", project)):
                    t0 = time.perf_counter()
                    fn()
                    times[side].append(time.perf_counter() - t0)
            med = {k: statistics.median(v) for k, v in times.items()}
            print(f"style {name}")
            for k, v in times.items():
                print(
                    f"  {k:13s} runs {', '.join(f'{x:.2f}' for x in v)} s  median {med[k]:.2f} s  "
                    f"({med[k] / clip_s:.2f}x real time)"
                )
            ratios[name] = med["project"] / med["hand-written"]
            print(f"  ratio project / hand-written = {ratios[name]:.3f} (target <= 1.2)", flush=True)
    print("\n| style | project / hand-written |\n|---|---|")
    for name, r in ratios.items():
        print(f"| {name} | {r:.3f}{'' if r <= 1.2 else '  (over target)'} |")


if __name__ == "__main__":
    main()
