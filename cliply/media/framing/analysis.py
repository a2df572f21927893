"""One sparse, small decode of a clip's span: faces, motion, saliency and mouth motion at a few samples per second,
plus a cheap luma histogram of every frame for shot-boundary detection (exact to the frame)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cliply.media import decoding
from cliply.media.framing.faces import Face, FaceDetector, default_detector

HIST_BINS = 32
CUT_HIST_L1 = 0.5  # L1 distance of normalised luma histograms (0..2) between consecutive frames: a new shot
CUT_MEAN_DIFF = 40.0  # or a mean absolute luma change this large (same histogram, different picture)
MIN_SHOT_S = 0.5
MAP_W = 64  # motion / saliency maps are computed on a 64-px-wide image


class AnalysisError(RuntimeError):
    """The source cannot be decoded for analysis."""


@dataclass
class Sample:
    t: float  # clip-relative seconds
    faces: list[Face]  # source pixels
    motion: np.ndarray  # MAP_W-wide map, |this sample - previous sample| (0 for the first)
    saliency: np.ndarray  # same size, spectral-residual saliency in 0..1
    mouth_motion: list[float] = field(default_factory=list)  # per face: change of its mouth region over one frame


@dataclass
class Analysis:
    src_w: int
    src_h: int
    fps: float
    samples: list[Sample]
    cuts: list[float]  # clip-relative times of the first frame of each new shot
    detector: str


def spectral_residual(gray: np.ndarray) -> np.ndarray:
    """Hou & Zhang's spectral-residual saliency of a small grey image, normalised to 0..1."""
    import cv2

    f = np.fft.fft2(gray.astype(np.float32))
    log_amp = np.log(np.abs(f) + 1e-6)
    residual = log_amp - cv2.blur(log_amp, (3, 3))
    sal = np.abs(np.fft.ifft2(np.exp(residual + 1j * np.angle(f)))) ** 2
    sal = cv2.GaussianBlur(sal.astype(np.float32), (0, 0), 2.5)
    top = float(sal.max())
    return sal / top if top > 0 else sal


def _luma(frame: object, step: int) -> np.ndarray:
    """A strided view of the frame's luma plane (no scaling pass) for histograms and frame differences."""
    fmt = frame.format.name  # type: ignore[attr-defined]
    if fmt.startswith(("yuv", "yuvj", "nv12", "gray")) and "p10" not in fmt and "p12" not in fmt:
        plane = frame.planes[0]  # type: ignore[attr-defined]
        h = frame.height  # type: ignore[attr-defined]
        width = int(frame.width)  # type: ignore[attr-defined]
        arr: np.ndarray = np.frombuffer(plane, np.uint8).reshape(h, plane.line_size)
        return arr[::step, :width:step]
    return frame.reformat(format="gray").to_ndarray()[::step, ::step]  # type: ignore[attr-defined]


def _hist(luma: np.ndarray) -> np.ndarray:
    counts = np.bincount((luma.ravel() >> 3).astype(np.intp), minlength=HIST_BINS).astype(np.float32)
    return counts / max(1.0, float(counts.sum()))


def analyse(
    video: Path,
    start: float,
    end: float,
    *,
    sample_fps: float = 2.0,
    analysis_width: int = 480,
    detector: FaceDetector | None = None,
) -> Analysis:
    """Decode [start, end] of `video` once: a sample every 1/sample_fps s (faces, motion, saliency, mouth motion),
    and every frame's luma histogram for cuts."""
    import av
    import cv2

    det = detector or default_detector()
    try:
        container = av.open(str(video))
    except (av.error.FFmpegError, OSError) as exc:
        raise AnalysisError(f"cannot open {video}: {exc}") from exc
    samples: list[Sample] = []
    cuts: list[float] = []
    with container:
        if not container.streams.video:
            raise AnalysisError(f"{video} has no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        src_w, src_h = stream.codec_context.width, stream.codec_context.height
        fps = float(stream.average_rate or 25)
        aw = min(analysis_width, src_w) // 2 * 2
        ah = round(src_h * aw / src_w) // 2 * 2
        scale = src_w / aw
        mw, mh = MAP_W, max(8, round(MAP_W * src_h / src_w))
        step = max(1, src_w // 120)
        container.seek(int(max(0.0, start) * 1e6), backward=True, any_frame=False)
        next_t = start
        prev_hist: np.ndarray | None = None
        prev_luma: np.ndarray | None = None
        prev_small: np.ndarray | None = None
        pending_mouth: tuple[Sample, np.ndarray] | None = None  # sample whose mouths wait for the next frame
        for frame in decoding.frames(container, stream):
            if frame.time is None:
                continue
            if frame.time > end:
                break
            if frame.time + 0.5 / fps < start:
                continue
            rel = max(0.0, frame.time - start)
            luma = _luma(frame, step)
            hist = _hist(luma)
            if prev_hist is not None and prev_luma is not None and prev_luma.shape == luma.shape:
                l1 = float(np.abs(hist - prev_hist).sum())
                mad = float(np.abs(luma.astype(np.int16) - prev_luma).mean())
                new_shot = l1 >= CUT_HIST_L1 or mad >= CUT_MEAN_DIFF
                if new_shot and rel >= MIN_SHOT_S / 2 and (not cuts or rel - cuts[-1] >= MIN_SHOT_S):
                    cuts.append(round(rel, 3))
                    prev_small = None  # motion across a cut is not motion
            prev_hist, prev_luma = hist, luma.astype(np.int16)
            if pending_mouth is not None:
                sample, mouths_before = pending_mouth
                gray = frame.reformat(width=aw, height=ah, format="gray").to_ndarray()
                sample.mouth_motion = [
                    _mouth_change(mouths_before, gray, f.scaled(1 / scale), k) for k, f in enumerate(sample.faces)
                ]
                pending_mouth = None
            if frame.time + 1e-6 < next_t:
                continue
            next_t = frame.time + 1.0 / sample_fps
            bgr = frame.reformat(width=aw, height=ah, format="bgr24").to_ndarray()
            faces = [f.scaled(scale) for f in det.detect(bgr)]
            gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
            small = cv2.resize(gray, (mw, mh), interpolation=cv2.INTER_AREA).astype(np.float32)
            blurred = cv2.GaussianBlur(small, (0, 0), 1.0)
            motion = np.zeros_like(small) if prev_small is None else _compensated_diff(prev_small, blurred)
            prev_small = blurred
            motion = cv2.GaussianBlur(motion, (0, 0), 1.5) if motion.any() else motion
            sample = Sample(rel, faces, motion, spectral_residual(small), [0.0] * len(faces))
            samples.append(sample)
            if len(faces) >= 2:  # mouth motion only matters to tell speakers apart
                pending_mouth = (sample, gray)
    # A shot's first sample has no earlier picture to differ from: give it the motion of the sample after it.
    starts = {0.0, *cuts}
    for a, b in itertools.pairwise(samples):
        if any(abs(a.t - c) < 1.0 / sample_fps for c in starts) and not a.motion.any() and not _cut_between(a, b, cuts):
            a.motion = b.motion
    return Analysis(src_w, src_h, fps, samples, cuts, det.name)


def _compensated_diff(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """|after - before| once the global shift between them (a camera pan or shake) is taken out, so only things
    that move in the picture remain."""
    import cv2

    (dx, dy), response = cv2.phaseCorrelate(before, after)
    if response < 0.1 or abs(dx) > before.shape[1] / 4 or abs(dy) > before.shape[0] / 4:
        return np.abs(after - before)
    shift = np.array([[1, 0, dx], [0, 1, dy]], dtype=np.float32)
    moved = cv2.warpAffine(before, shift, (before.shape[1], before.shape[0]), borderMode=cv2.BORDER_REPLICATE)
    diff = np.abs(after - moved)
    # Borders the shift uncovered carry no information.
    bx, by = int(np.ceil(abs(dx))), int(np.ceil(abs(dy)))
    if bx:
        diff[:, :bx] = 0
        diff[:, -bx:] = 0
    if by:
        diff[:by] = 0
        diff[-by:] = 0
    return diff


def _cut_between(a: Sample, b: Sample, cuts: list[float]) -> bool:
    return any(a.t < c <= b.t for c in cuts)


def _mouth_box(f: Face, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    h, w = shape[:2]
    x0 = int(np.clip(f.x + f.w * 0.25, 0, w - 1))
    x1 = int(np.clip(f.x + f.w * 0.75, x0 + 1, w))
    y0 = int(np.clip(f.y + f.h * 0.62, 0, h - 1))
    y1 = int(np.clip(f.y + f.h * 0.95, y0 + 1, h))
    return x0, y0, x1, y1


def _mouth_change(before: np.ndarray, after: np.ndarray, face: Face, _k: int) -> float:
    """Mean absolute change of the mouth region (lower middle of the face box) between two consecutive frames,
    relative to the change of the whole face box (head motion and camera moves cancel out)."""
    x0, y0, x1, y1 = _mouth_box(face, before.shape)
    mouth = float(np.abs(after[y0:y1, x0:x1].astype(np.int16) - before[y0:y1, x0:x1]).mean())
    fx0, fy0 = int(max(0, face.x)), int(max(0, face.y))
    fx1, fy1 = int(min(before.shape[1], face.x + face.w)), int(min(before.shape[0], face.y + face.h * 0.55))
    if fx1 <= fx0 or fy1 <= fy0:
        return mouth
    upper = float(np.abs(after[fy0:fy1, fx0:fx1].astype(np.int16) - before[fy0:fy1, fx0:fx1]).mean())
    return max(0.0, mouth - upper)
