"""Build the sample "talk": LibriVox sentences joined (optionally repeated) and muxed under looped camera footage."""

from __future__ import annotations

from pathlib import Path

from cliply.media.ffmpeg import run_ffmpeg

SAMPLES_DIR = Path(__file__).resolve().parent.parent / "samples"


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


def build_talk_video(media_dir: Path, dst: Path, *, repeats: int = 1, size: str = "1280x720") -> Path:
    """H.264/AAC MP4 whose speech is the LibriVox reading; segments.json gives its ground-truth sentence times."""
    audio = build_joined_audio(media_dir, dst.with_suffix(".joined.wav"), repeats=repeats)
    w, h = size.split("x")
    run_ffmpeg(
        [
            "-stream_loop", "-1", "-i", str(media_dir / "cockatoo.mp4"),
            "-i", str(audio),
            "-map", "0:v:0", "-map", "1:a:0", "-shortest",
            "-vf", f"scale={w}:{h},fps=25",
            "-c:v", "libx264", "-preset", "ultrafast", "-crf", "28", "-pix_fmt", "yuv420p",
            "-c:a", "aac", "-b:a", "96k", "-ar", "44100", "-ac", "2", "-movflags", "+faststart",
            str(dst),
        ]
    )  # fmt: skip
    audio.unlink(missing_ok=True)
    return dst
