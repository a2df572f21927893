"""Build the sample "talk": LibriVox sentences joined (optionally repeated) and muxed under camera footage or a slow
pan over a public-domain portrait (the demo's: its clips show the framing following a real face)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Literal

from cliply.media.ffmpeg import run_ffmpeg

SAMPLES_DIR = Path(__file__).resolve().parent.parent / "samples"
# Rear Admiral Grace M. Hopper, official U.S. Navy portrait (James S. Davis, 1984): a work of the U.S. federal
# government, public domain; shipped in matplotlib's wheel as mpl-data/sample_data/grace_hopper.jpg (512×600).
PORTRAIT_FILE = "grace_hopper.jpg"
PORTRAIT_SIZE = (512, 600)
# The face in that photo, measured by hand (x, y, w, h in its pixels): ground truth for framing tests.
PORTRAIT_FACE = (170, 150, 195, 190)
PAN_PERIOD_S = 40.0  # one slow sweep across the frame and back


def portrait_path() -> Path:
    """The packaged public-domain portrait (located without importing matplotlib)."""
    spec = importlib.util.find_spec("matplotlib")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("matplotlib is not installed; it ships the sample portrait")
    path = Path(next(iter(spec.submodule_search_locations))) / "mpl-data" / "sample_data" / PORTRAIT_FILE
    if not path.is_file():
        raise FileNotFoundError(f"the sample portrait is missing from matplotlib's data: {path}")
    return path


def librivox_files(media_dir: Path) -> list[Path]:
    ids = (media_dir / "librivox" / "fileids").read_text().split()
    return [media_dir / "librivox" / f"{i}.wav" for i in ids]


def build_joined_audio(media_dir: Path, dst: Path, *, repeats: int = 1) -> Path:
    files = librivox_files(media_dir) * repeats
    args: list[str] = []
    for f in files:
        args += ["-i", str(f)]
    inputs = "".join(f"[{i}:a]" for i in range(len(files)))
    graph = f"{inputs}concat=n={len(files)}:v=0:a=1[a]"
    run_ffmpeg([*args, "-filter_complex", graph, "-map", "[a]", "-ar", "16000", "-ac", "1", str(dst)])
    return dst


def portrait_pan_graph(w: int, h: int, *, period_s: float = PAN_PERIOD_S) -> str:
    """Filter graph from the still portrait (input 0, looped): the portrait at 90 % of the frame height sweeping
    slowly left → right → left over a blurred, darkened copy of itself."""
    ph = round(h * 0.9) // 2 * 2
    pw = round(ph * PORTRAIT_SIZE[0] / PORTRAIT_SIZE[1]) // 2 * 2
    travel = w - pw - 2 * (w // 20)
    x = f"{w // 20}+{travel}*(0.5-0.5*cos(2*PI*t/{period_s:g}))"
    return (
        f"[0:v]split=2[a][b];"
        f"[a]scale={w}:{h}:force_original_aspect_ratio=increase,crop={w}:{h},boxblur=20:2,eq=brightness=-0.15[bg];"
        f"[b]scale={pw}:{ph}[fg];"
        f"[bg][fg]overlay=x='{x}':y={(h - ph) // 2}:eval=frame,format=yuv420p[v]"
    )


def portrait_face_box(w: int, h: int, t: float, *, period_s: float = PAN_PERIOD_S) -> tuple[float, float, float, float]:
    """Where the portrait's face is at time t in a video made with portrait_pan_graph (x, y, w, h in its pixels)."""
    import math

    ph = round(h * 0.9) // 2 * 2
    pw = round(ph * PORTRAIT_SIZE[0] / PORTRAIT_SIZE[1]) // 2 * 2
    travel = w - pw - 2 * (w // 20)
    ox = w // 20 + travel * (0.5 - 0.5 * math.cos(2 * math.pi * t / period_s))
    oy = (h - ph) // 2
    k = ph / PORTRAIT_SIZE[1]
    fx, fy, fw, fh = PORTRAIT_FACE
    return ox + fx * k, oy + fy * k, fw * k, fh * k


def build_talk_video(
    media_dir: Path,
    dst: Path,
    *,
    repeats: int = 1,
    size: str = "1280x720",
    footage: Literal["cockatoo", "portrait"] = "cockatoo",
) -> Path:
    """H.264/AAC MP4 whose speech is the LibriVox reading (segments.json gives its ground-truth sentence times),
    under looped camera footage (`cockatoo`, no face) or a slow pan over the public-domain portrait (`portrait`,
    what the demo uses: its clips show the framing following a real face)."""
    audio = build_joined_audio(media_dir, dst.with_suffix(".joined.wav"), repeats=repeats)
    w, h = (int(v) for v in size.split("x"))
    if footage == "portrait":
        video_in = ["-loop", "1", "-framerate", "25", "-i", str(portrait_path())]
        graph = ["-filter_complex", portrait_pan_graph(w, h), "-map", "[v]"]
    else:
        video_in = ["-stream_loop", "-1", "-i", str(media_dir / "cockatoo.mp4")]
        graph = ["-map", "0:v:0", "-vf", f"scale={w}:{h},fps=25"]
    run_ffmpeg(
        [
            *video_in,
            "-i", str(audio),
            *graph, "-map", "1:a:0", "-shortest",
            "-c:v", "libx264", "-preset", "ultrafast", "-crf", "28", "-pix_fmt", "yuv420p",
            "-c:a", "aac", "-b:a", "96k", "-ar", "44100", "-ac", "2", "-movflags", "+faststart",
            str(dst),
        ]
    )  # fmt: skip
    audio.unlink(missing_ok=True)
    return dst
