"""Plan a 9:16 crop window that follows the main face, as a few keyframes ffmpeg can interpolate.

Analysis runs on a small, sparse decode (a few fps at ~480 px wide); the render then applies the crop at full
resolution in the same ffmpeg pass as scaling and captions, so no per-frame Python touches the output.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Literal

import numpy as np

from cliply.media import decoding

Method = Literal["face", "center", "none"]

DEADZONE_FRACTION = 0.08  # of crop width: ignore face drift smaller than this (no jitter)
MAX_PAN_FRACTION_PER_S = 0.6  # of crop width per second: a calm camera, never a jump
MIN_FACE_COVERAGE = 0.5  # fewer samples with a face than this → centre crop
SIMPLIFY_TOLERANCE_PX = 4.0


@dataclass(frozen=True)
class CropPlan:
    src_w: int
    src_h: int
    crop_w: int
    crop_h: int
    keyframes: list[tuple[float, float]] = field(default_factory=list)  # (clip-relative t, x of the crop's left)
    method: Method = "center"

    def x_at(self, t: float) -> float:
        """The crop's left edge at clip time t (same piecewise-linear rule as crop_x_expression)."""
        if not self.keyframes:
            return (self.src_w - self.crop_w) / 2
        ts = [k[0] for k in self.keyframes]
        xs = [k[1] for k in self.keyframes]
        return float(np.interp(t, ts, xs))

    def to_dict(self) -> dict[str, object]:
        return {
            "src_w": self.src_w,
            "src_h": self.src_h,
            "crop_w": self.crop_w,
            "crop_h": self.crop_h,
            "keyframes": [list(k) for k in self.keyframes],
            "method": self.method,
        }

    @classmethod
    def from_dict(cls, d: dict) -> CropPlan:
        return cls(
            int(d["src_w"]),
            int(d["src_h"]),
            int(d["crop_w"]),
            int(d["crop_h"]),
            [(float(t), float(x)) for t, x in d["keyframes"]],
            d["method"],
        )


class ReframeError(RuntimeError):
    """The source cannot be decoded for analysis."""


@cache
def _face_cascade():
    import cv2

    if not hasattr(cv2, "CascadeClassifier"):
        raise ReframeError("this OpenCV build has no Haar cascades (OpenCV 5 moved them); install opencv<5")
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")  # type: ignore[attr-defined]
    if cascade.empty():
        raise ReframeError("OpenCV's bundled frontal-face cascade failed to load")
    return cascade


def _crop_size(src_w: int, src_h: int, aspect: float) -> tuple[int, int]:
    crop_w = min(src_w, round(src_h * aspect / 2) * 2)
    return crop_w, src_h


def _sample_faces(
    video: Path, start: float, end: float, sample_fps: float, analysis_width: int
) -> tuple[int, int, list[tuple[float, list[tuple[float, float]]]]]:
    """Decode [start, end] sparsely; per sample: (clip time, [(face centre x, face area) in source px])."""
    import av
    import cv2

    try:
        container = av.open(str(video))
    except (av.error.FFmpegError, OSError) as exc:
        raise ReframeError(f"cannot open {video}: {exc}") from exc
    samples: list[tuple[float, list[tuple[float, float]]]] = []
    with container:
        if not container.streams.video:
            raise ReframeError(f"{video} has no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        src_w, src_h = stream.codec_context.width, stream.codec_context.height
        aw = min(analysis_width, src_w) // 2 * 2
        ah = round(src_h * aw / src_w) // 2 * 2
        scale = src_w / aw
        cascade = _face_cascade()
        min_face = max(20, ah // 10)
        container.seek(int(max(0.0, start) * 1e6), backward=True, any_frame=False)
        next_t = start
        for frame in decoding.frames(container, stream):
            if frame.time is None:
                continue
            if frame.time > end:
                break
            if frame.time + 1e-6 < next_t:
                continue
            next_t = frame.time + 1.0 / sample_fps
            gray = frame.reformat(width=aw, height=ah, format="gray").to_ndarray()
            equalized = cv2.equalizeHist(gray)
            found = cascade.detectMultiScale(equalized, scaleFactor=1.1, minNeighbors=5, minSize=(min_face, min_face))
            boxes = np.asarray(found).reshape(-1, 4)
            faces = [((x + w / 2) * scale, float(w * h) * scale * scale) for x, _, w, h in boxes]
            samples.append((max(0.0, frame.time - start), faces))
    return src_w, src_h, samples


def _pick_track(samples: list[tuple[float, list[tuple[float, float]]]], crop_w: int) -> list[float | None]:
    """Per sample, the face that is large and persistent (present near the same x in many samples)."""
    all_x = np.array([cx for _, faces in samples for cx, _ in faces])
    chosen: list[float | None] = []
    for _, faces in samples:
        if not faces:
            chosen.append(None)
            continue
        scores = [area * np.count_nonzero(np.abs(all_x - cx) < crop_w / 2) for cx, area in faces]
        chosen.append(faces[int(np.argmax(scores))][0])
    return chosen


def _median(values: np.ndarray, window: int = 5) -> np.ndarray:
    half = window // 2
    return np.array([np.median(values[max(0, i - half) : i + half + 1]) for i in range(len(values))])


def _simplify(points: list[tuple[float, float]], tol: float) -> list[tuple[float, float]]:
    """Ramer–Douglas–Peucker on (t, x): drop keyframes the linear interpolation already reproduces within tol px."""
    if len(points) < 3:
        return points
    (t0, x0), (t1, x1) = points[0], points[-1]
    worst, idx = 0.0, 0
    for i in range(1, len(points) - 1):
        t, x = points[i]
        err = abs(x - (x0 + (x1 - x0) * (t - t0) / (t1 - t0))) if t1 > t0 else abs(x - x0)
        if err > worst:
            worst, idx = err, i
    if worst <= tol:
        return [points[0], points[-1]]
    return _simplify(points[: idx + 1], tol)[:-1] + _simplify(points[idx:], tol)


def plan_crop(
    video: Path,
    start: float,
    end: float,
    *,
    aspect: float = 9 / 16,
    sample_fps: float = 2.0,
    analysis_width: int = 480,
) -> CropPlan:
    """Where to put a full-height `aspect` window over [start, end] of `video`, following the main face."""
    import av

    duration = max(0.0, end - start)
    try:
        with av.open(str(video)) as c:
            if not c.streams.video:
                raise ReframeError(f"{video} has no video stream")
            src_w, src_h = c.streams.video[0].codec_context.width, c.streams.video[0].codec_context.height
    except (av.error.FFmpegError, OSError) as exc:
        raise ReframeError(f"cannot open {video}: {exc}") from exc
    crop_w, crop_h = _crop_size(src_w, src_h, aspect)
    if src_w / src_h <= aspect + 1e-3:
        return CropPlan(src_w, src_h, src_w, src_h, [(0.0, 0.0)], "none")
    center_x = (src_w - crop_w) / 2
    center = CropPlan(src_w, src_h, crop_w, crop_h, [(0.0, center_x)], "center")

    _, _, samples = _sample_faces(video, start, end, sample_fps, analysis_width)
    track = _pick_track(samples, crop_w)
    have = [i for i, x in enumerate(track) if x is not None]
    if not samples or len(have) < MIN_FACE_COVERAGE * len(samples):
        return center

    times = np.array([t for t, _ in samples])
    known_t = times[have]
    known_x = np.array([track[i] for i in have], dtype=float)
    centres = _median(np.interp(times, known_t, known_x))  # gaps hold/interpolate the neighbours
    targets = np.clip(centres - crop_w / 2, 0, src_w - crop_w)

    deadzone = DEADZONE_FRACTION * crop_w
    vmax = MAX_PAN_FRACTION_PER_S * crop_w
    cam = float(np.median(targets[:3]))
    path = [(0.0, cam)]
    prev_t = 0.0
    for t, target in zip(times, targets, strict=True):
        dt = max(0.0, float(t) - prev_t)
        diff = float(target) - cam
        if abs(diff) > deadzone:
            # Pan toward the target, stopping at the edge of the deadzone so small later drifts don't restart it.
            goal = diff - np.sign(diff) * deadzone / 2
            cam += float(np.clip(goal, -vmax * dt, vmax * dt))
        path.append((float(t), cam))
        prev_t = float(t)
    if duration > prev_t:
        path.append((duration, cam))
    # Same-time duplicates (t=0 sample) would make a zero-length segment in the expression.
    dedup: list[tuple[float, float]] = []
    for t, x in path:
        if dedup and t - dedup[-1][0] < 1e-3:
            dedup[-1] = (dedup[-1][0], x)
        else:
            dedup.append((t, x))
    keyframes = [(round(t, 3), round(x, 1)) for t, x in _simplify(dedup, SIMPLIFY_TOLERANCE_PX)]
    return CropPlan(src_w, src_h, crop_w, crop_h, keyframes, "face")


def crop_x_expression(plan: CropPlan) -> str:
    """ffmpeg expression of `t` (clip seconds) for crop's x: piecewise linear between keyframes, held at the ends."""
    kfs = plan.keyframes or [(0.0, (plan.src_w - plan.crop_w) / 2)]
    if len({round(x) for _, x in kfs}) == 1:
        return str(round(kfs[0][1]))
    expr = f"{kfs[-1][1]:g}"
    for (t0, x0), (t1, x1) in reversed(list(itertools.pairwise(kfs))):
        slope = (x1 - x0) / (t1 - t0)
        expr = f"if(lt(t,{t1:g}),{x0:g}+{slope:.4f}*(t-{t0:g}),{expr})"
    if kfs[0][0] > 0:
        expr = f"if(lt(t,{kfs[0][0]:g}),{kfs[0][1]:g},{expr})"
    return expr
