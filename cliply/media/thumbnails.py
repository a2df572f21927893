"""Cover images for clips: the sharpest non-black frame among a few candidates, written by ffmpeg as JPEG."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cliply.media.ffmpeg import FFmpegError, run_ffmpeg
from cliply.media.probe import ProbeError, probe

CANDIDATE_FRACTIONS = (0.15, 0.3, 0.45, 0.6, 0.75, 0.9)
BLACK_MEAN = 20.0  # mean luma below this (0..255) counts as a black/fade frame
ANALYSIS_WIDTH = 180


class ThumbnailError(RuntimeError):
    """No thumbnail could be produced."""


def frame_scores(clip: Path, times: list[float]) -> list[tuple[float, float, float]]:
    """(time, mean luma, variance of the Laplacian) for the first frame at/after each time, on a small decode."""
    import av
    import cv2

    scores: list[tuple[float, float, float]] = []
    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        for t in times:
            container.seek(int(t * 1e6), backward=True, any_frame=False)
            for frame in container.decode(stream):
                if frame.time is None or frame.time + 1e-3 < t:
                    continue
                h = max(2, round(frame.height * ANALYSIS_WIDTH / frame.width))
                gray = frame.reformat(width=ANALYSIS_WIDTH, height=h, format="gray").to_ndarray()
                scores.append((t, float(gray.mean()), float(cv2.Laplacian(gray.astype(np.float64), cv2.CV_64F).var())))
                break
    return scores


def pick_thumbnail_time(clip: Path) -> float:
    """The candidate time with the sharpest non-black frame (earliest on ties, so the choice is deterministic)."""
    duration = probe(clip).duration
    times = [round(duration * f, 3) for f in CANDIDATE_FRACTIONS]
    scores = frame_scores(clip, times)
    if not scores:
        return 0.0
    lit = [s for s in scores if s[1] >= BLACK_MEAN]
    if not lit:  # all dark: the brightest is the least bad
        return max(scores, key=lambda s: (s[1], -s[0]))[0]
    return max(lit, key=lambda s: (s[2], -s[0]))[0]


def make_thumbnail(
    clip: Path, out: Path, *, at: float | None = None, width: int = 1080, height: int = 1920, quality: int = 3
) -> Path:
    """Write a width×height JPEG (cover-fit) from `clip` at `at` seconds, or at the best candidate frame."""
    try:
        info = probe(clip)
    except ProbeError as exc:
        raise ThumbnailError(f"cannot read {clip}: {exc}") from exc
    if not info.has_video:
        raise ThumbnailError(f"{clip} has no video stream")
    t = pick_thumbnail_time(clip) if at is None else min(max(0.0, at), max(0.0, info.duration - 0.05))
    vf = f"scale={width}:{height}:force_original_aspect_ratio=increase:flags=bicubic,crop={width}:{height},setsar=1"
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    try:
        run_ffmpeg(
            [
                "-ss",
                f"{t:.3f}",
                "-i",
                str(clip),
                "-frames:v",
                "1",
                "-vf",
                vf,
                "-q:v",
                str(quality),
                "-update",
                "1",
                str(out),
            ]
        )
    except FFmpegError as exc:
        raise ThumbnailError(f"thumbnail of {clip} at {t:.2f}s failed: {exc}") from exc
    if not Path(out).is_file() or Path(out).stat().st_size == 0:
        raise ThumbnailError(f"ffmpeg wrote no image for {clip} at {t:.2f}s")
    return Path(out)


def make_preview(
    clip: Path, out: Path, *, at: float | None = None, width: int = 270, height: int = 480, quality: int = 5
) -> Path:
    """A small JPEG for UI lists and metadata."""
    return make_thumbnail(clip, out, at=at, width=width, height=height, quality=quality)
