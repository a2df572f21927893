"""Project renderer vs one hand-written ffmpeg command for the same 25 s vertical clip, for each caption style and
for the fit and split layouts.

Run: .venv/bin/python -m bench.render_vs_ffmpeg [case ...]   (from the repo root; needs ../shared/media)
Cases: every caption style (fill layout: crop, scale, captions) plus `fit` and `split` (highlight captions).
The project time includes the framing analysis (plan_framing) and writing the .ass; both sides use the same .ass,
packaged fonts folder, loudnorm and x264/AAC settings, and the same filter graph (the hand-written side typed by
hand with fixed crop positions). Target: ratio project / hand-written <= 1.2 for every case.
Both wall time and CPU time (this process plus its ffmpeg children) are reported: on a machine other jobs share, the
CPU-time ratio is the steadier measure of the work each side does.
"""

from __future__ import annotations

import resource
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
from cliply.media.reframe import plan_framing
from cliply.media.render import RenderRequest, render_clip
from cliply.media.types import Word
from cliply.samples import portrait_path
from tests.fixtures.media import build_talk_video, librivox_segments, require_shared

START, END, RUNS = 5.0, 30.0, 2
LAYOUTS = ("fit", "split")
# The project's encoder settings (render._encoder_args for the universal preset), typed by hand.
ENCODE = [
    "-c:v", "libx264", "-preset", "veryfast", "-x264-params", "subme=1", "-crf", "23", "-profile:v", "high",
    "-pix_fmt", "yuv420p",
    "-g", "60", "-keyint_min", "60", "-sc_threshold", "0", "-maxrate", "25000k", "-bufsize", "50000k",
    "-c:a", "aac", "-b:a", "128k", "-ar", "48000", "-ac", "2", "-movflags", "+faststart",
]  # fmt: skip
TAIL = "setsar=1,subtitles={ass}:fontsdir={fonts},fps=30,format=yuv420p"
# The hand-typed graphs: fill (the talk's centre crop), fit (whole frame over a blurred copy, blurred at 1/8
# size) and split (each speaker's crop, positions read off the two-speaker source).
GRAPHS = {
    "fill": "[0:v]crop=404:720:438:0,scale=1080:1920:flags=bicubic," + TAIL + "[v]",
    "fit": "[0:v]split=2[b0][f0];[b0]scale=134:240:force_original_aspect_ratio=increase:flags=fast_bilinear,"
    "crop=134:240,boxblur=6:2,scale=1080:1920:flags=bilinear[bg];[f0]scale=1080:-2:flags=bicubic[fg];"
    "[bg][fg]overlay=x=0:y=(H-h)/2," + TAIL + "[v]",
    "split": "[0:v]split=2[p0][p1];[p0]crop=716:636:0:44,scale=1080:960:flags=bicubic[s0];"
    "[p1]crop=688:612:592:55,scale=1080:960:flags=bicubic[s1];[s0][s1]vstack=inputs=2," + TAIL + "[v]",
}


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


def build_two_speakers(talk: Path, dst: Path) -> Path:
    """Two people side by side (the portrait and its mirror image) over a blurred backdrop, with the talk's audio."""
    graph = (
        "[0:v]split=3[a][b][c];[a]scale=1280:720:force_original_aspect_ratio=increase,crop=1280:720,boxblur=20:2[bg];"
        "[b]scale=-2:560[l];[c]hflip,scale=-2:560[r];[bg][l]overlay=80:100[t];[t][r]overlay=W-80-w:100,"
        "format=yuv420p[v]"
    )
    run_ffmpeg(
        [
            "-loop", "1", "-framerate", "25", "-i", str(portrait_path()), "-i", str(talk),
            "-filter_complex", graph, "-map", "[v]", "-map", "1:a:0", "-shortest",
            "-c:v", "libx264", "-preset", "ultrafast", "-crf", "26", "-c:a", "copy", str(dst),
        ]
    )  # fmt: skip
    return dst


def hand_written_args(src: Path, ass: Path, out: Path, layout: str) -> list[str]:
    graph = GRAPHS[layout].format(ass=ass, fonts=fonts_dir())
    return [
        "-ss", f"{START}", "-i", str(src), "-t", f"{END - START}",
        "-filter_complex", graph + ";[0:a:0]loudnorm=I=-14:TP=-1.5:LRA=11,aresample=48000[a]",
        "-map", "[v]", "-map", "[a]", *ENCODE, str(out),
    ]  # fmt: skip


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (the ffmpeg runs)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> None:
    require_shared()
    preset = PRESETS["universal"]
    cases = sys.argv[1:] or [*STYLES, *LAYOUTS]
    clip_s = END - START
    ratios: dict[str, float] = {}
    cpu_ratios: dict[str, float] = {}
    analysis: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="cliply-bench-") as tmp:
        d = Path(tmp)
        talk = build_talk_video(d / "talk.mp4", repeats=2)
        speakers = build_two_speakers(talk, d / "speakers.mp4") if "split" in cases else talk
        words = talk_words(2)
        for case in cases:
            layout = case if case in LAYOUTS else "fill"
            style = "highlight" if case in LAYOUTS else case
            src = speakers if layout == "split" else talk

            def project(src: Path = src, layout: str = layout, style: str = style, case: str = case) -> None:
                plan = plan_framing(src, START, END, words=words, layout=layout)
                assert plan.layout == layout, (plan.layout, plan.layout_reason)
                analysis[case] = plan.analysis_s
                req = RenderRequest(
                    src,
                    d / "project.mp4",
                    START,
                    END,
                    words,
                    plan.crop,
                    preset,
                    caption_style=style,
                    layout=plan.layout,
                    panels=plan.panels,
                )
                render_clip(req)

            ass = d / f"hand-{case}.ass"
            ass.write_text(build_ass(words, clip_start=START, clip_end=END, style=STYLES[style]), encoding="utf-8")
            hand_args = hand_written_args(src, ass, d / "hand.mp4", layout)

            def hand(hand_args: list[str] = hand_args) -> None:
                run_ffmpeg(hand_args)

            times: dict[str, list[float]] = {"project": [], "hand-written": []}
            cpu: dict[str, list[float]] = {"project": [], "hand-written": []}
            for _ in range(RUNS):
                for side, fn in (("hand-written", hand), ("project", project)):
                    t0, c0 = time.perf_counter(), cpu_seconds()
                    fn()
                    times[side].append(time.perf_counter() - t0)
                    cpu[side].append(cpu_seconds() - c0)
            med = {k: statistics.median(v) for k, v in times.items()}
            print(f"case {case} (layout {layout}, captions {style})")
            for k, v in times.items():
                print(
                    f"  {k:13s} runs {', '.join(f'{x:.2f}' for x in v)} s  median {med[k]:.2f} s  "
                    f"({med[k] / clip_s:.2f}x real time)"
                )
            ratios[case] = med["project"] / med["hand-written"]
            cpu_med = {k: statistics.median(v) for k, v in cpu.items()}
            cpu_ratios[case] = cpu_med["project"] / cpu_med["hand-written"]
            print(f"  cpu time      project {cpu_med['project']:.1f} s  hand-written {cpu_med['hand-written']:.1f} s")
            print(f"  framing analysis {analysis[case]:.2f} s")
            print(
                f"  ratio project / hand-written = {ratios[case]:.3f} wall, {cpu_ratios[case]:.3f} cpu (target <= 1.2)",
                flush=True,
            )
    print("\n| case | project / hand-written (wall) | (cpu) | framing analysis (s) |\n|---|---|---|---|")
    for name, r in ratios.items():
        flag = "" if max(r, cpu_ratios[name]) <= 1.2 else "  (over target)"
        print(f"| {name} | {r:.3f} | {cpu_ratios[name]:.3f}{flag} | {analysis[name]:.2f} |")


if __name__ == "__main__":
    main()
