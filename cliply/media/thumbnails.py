"""Thumbnails and covers for clips.

`source_thumbnails` picks the frame from the un-captioned source inside the clip's span (sharp, not black, not
next to a cut, a face with open eyes where there is one), cuts it to the clip's framing and to every platform's
cover size. `make_thumbnail` is the older path: the sharpest frame of a rendered clip, written by ffmpeg.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from cliply.media import decoding
from cliply.media.covers import Subject, cut, draw_title, make_covers
from cliply.media.ffmpeg import FFmpegError, run_ffmpeg
from cliply.media.probe import ProbeError, probe
from cliply.media.reframe import CropPlan

CANDIDATE_FRACTIONS = (0.15, 0.3, 0.45, 0.6, 0.75, 0.9)
BLACK_MEAN = 20.0  # mean luma below this (0..255) counts as a black/fade frame
ANALYSIS_WIDTH = 180


log = logging.getLogger("cliply.media")


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


# ---------------------------------------------------------------- frame choice on the un-captioned source

NEIGHBOUR_S = 0.2  # a candidate is compared with the frames this far before and after it
WINDOW_S = 0.8  # decoded after each keyframe: candidates at +0.2 … +0.6 s, each with both neighbours
MAX_WINDOWS = 5  # keyframe windows per clip (spread over the span)
FALLBACK_CANDIDATES = 8  # no keyframe inside the span: one decode from the keyframe before, this many candidates
FALLBACK_SPAN_S = 4.0  # … spread over the first seconds of the span only (every decoded frame costs)
SCORE_WIDTH = 360  # analysis frames are downscaled to this width before any scoring
FACE_WIDTH = 288  # faces are looked for at this width (a face under ~15 % of the height does not count)
TRANSITION_DISTANCE = 0.35  # Bhattacharyya distance of 32-bin luma histograms to a neighbour: a cut or flash
FACE_CHECKS = 2  # the sharpest eligible candidates get face and eye detection …
FACE_CHECKS_MAX = 5  # … and more of them while faces are found but none with both eyes open
FACE_BONUS = 0.5  # added to the candidate's sharpness relative to the sharpest (0..1)
EYES_BONUS = 0.75  # times the fraction of two eyes found open in the main face


@dataclass
class Candidate:
    t: float  # source seconds
    luma: float
    sharpness: float
    change: float = 0.0  # largest histogram distance to the ±NEIGHBOUR_S frames
    face: tuple[float, float, float, float] | None = None  # main face (x, y, w, h) in source pixels
    eyes: int = 0
    score: float = 0.0

    @property
    def black(self) -> bool:
        return self.luma < BLACK_MEAN

    @property
    def transition(self) -> bool:
        return self.change > TRANSITION_DISTANCE


@dataclass
class PickedFrame:
    t: float  # source seconds
    clip_t: float  # seconds into the clip (what TikTok's cover timestamp / Instagram's thumb_offset take)
    rgb: np.ndarray  # the full-resolution source frame
    subject: Subject
    framing: str  # "plan" (the clip's stored crop), "face" or "center"
    candidates: list[Candidate] = field(default_factory=list)


def luma_plane(frame: Any) -> np.ndarray:
    """The full-resolution gray image of a decoded frame: its Y plane as is for 8-bit YUV, else converted."""
    if frame.format.name in ("yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "nv12"):
        plane = frame.planes[0]
        return np.frombuffer(plane, np.uint8).reshape(frame.height, plane.line_size)[:, : frame.width]
    return np.asarray(frame.to_ndarray(format="gray"))


def sharpness(gray: np.ndarray) -> float:
    """Variance of the Laplacian of a grayscale image (higher is sharper)."""
    import cv2

    return float(cv2.Laplacian(gray.astype(np.float32), cv2.CV_32F).var())


def _hist(gray: np.ndarray) -> np.ndarray:
    import cv2

    h = cv2.calcHist([gray], [0], None, [32], [0, 256])
    return cv2.normalize(h, h).astype(np.float32)


def _hist_distance(a: np.ndarray, b: np.ndarray) -> float:
    import cv2

    return float(cv2.compareHist(a, b, cv2.HISTCMP_BHATTACHARYYA))


@cache
def _cascades() -> tuple[Any, Any]:
    import cv2

    root = cv2.data.haarcascades  # type: ignore[attr-defined]
    face = cv2.CascadeClassifier(root + "haarcascade_frontalface_default.xml")
    eye = cv2.CascadeClassifier(root + "haarcascade_eye.xml")
    if face.empty() or eye.empty():
        raise ThumbnailError("OpenCV's bundled face/eye cascades failed to load")
    return face, eye


def detect_face(gray_small: np.ndarray, scale: float) -> tuple[float, float, float, float] | None:
    """The largest frontal face in a downscaled gray frame, as (x, y, w, h) in source pixels."""
    import cv2

    face, _ = _cascades()
    if gray_small.shape[1] > FACE_WIDTH:
        h = max(2, round(gray_small.shape[0] * FACE_WIDTH / gray_small.shape[1]))
        scale *= gray_small.shape[1] / FACE_WIDTH
        gray_small = cv2.resize(gray_small, (FACE_WIDTH, h), interpolation=cv2.INTER_AREA)
    min_side = 24
    found = face.detectMultiScale(
        cv2.equalizeHist(gray_small), scaleFactor=1.2, minNeighbors=5, minSize=(min_side, min_side)
    )
    boxes = np.asarray(found).reshape(-1, 4)
    if not len(boxes):
        return None
    x, y, w, h = max(boxes, key=lambda b: int(b[2]) * int(b[3]))
    return float(x * scale), float(y * scale), float(w * scale), float(h * scale)


def count_open_eyes(gray_full: np.ndarray, face: tuple[float, float, float, float]) -> int:
    """Eyes the Haar eye cascade finds in the upper half of the face (it finds open eyes, rarely closed ones)."""
    import cv2

    _, eye = _cascades()
    x, y, w, h = (round(v) for v in face)
    roi = gray_full[max(0, y) : max(0, y) + h // 2 + h // 10, max(0, x) : max(0, x) + w]
    if roi.size == 0:
        return 0
    if roi.shape[1] != 160:  # a fixed face width keeps eye sizes inside the cascade's range
        roi = cv2.resize(roi, (160, max(1, round(roi.shape[0] * 160 / roi.shape[1]))), interpolation=cv2.INTER_AREA)
    min_eye = 16
    found = eye.detectMultiScale(cv2.equalizeHist(roi), scaleFactor=1.1, minNeighbors=4, minSize=(min_eye, min_eye))
    return min(2, len(np.asarray(found).reshape(-1, 4)))


def score_candidates(
    candidates: list[Candidate], faces: Callable[[Candidate], tuple[tuple[float, float, float, float] | None, int]]
) -> Candidate:
    """Pick one candidate: drop black and mid-transition frames (unless nothing is left), run `faces` (main face,
    open eyes) on the sharpest few (more while the faces found have closed eyes), then score relative sharpness
    + a face bonus + an open-eyes bonus."""
    if not candidates:
        raise ThumbnailError("no candidate frames")
    eligible = [c for c in candidates if not c.black and not c.transition]
    if not eligible:
        eligible = [c for c in candidates if not c.black] or [max(candidates, key=lambda c: c.luma)]
    if len([c for c in eligible if not c.transition]) == 0:  # all near a cut: the calmest ones
        calm = min(c.change for c in eligible)
        eligible = [c for c in eligible if c.change <= calm + 1e-6]
    top = max(c.sharpness for c in eligible) or 1.0
    checked: list[Candidate] = []
    for c in sorted(eligible, key=lambda c: (-c.sharpness, c.t)):
        if len(checked) >= FACE_CHECKS_MAX:
            break
        if len(checked) >= FACE_CHECKS and (
            not any(x.face for x in checked) or any(x.face and x.eyes >= 2 for x in checked)
        ):
            break  # no face in the sharpest few, or already a face with both eyes open
        c.face, c.eyes = faces(c)
        checked.append(c)
    for c in eligible:
        c.score = c.sharpness / top + (FACE_BONUS if c.face else 0.0) + EYES_BONUS * min(c.eyes, 2) / 2
    return max(eligible, key=lambda c: (c.score, -c.t))


def _keyframes(container: Any, stream: Any, start: float, end: float) -> list[float]:
    """Keyframe times in [start, end]: a forward seek lands on the next keyframe, so a few seeks spread over the
    span find them without reading every packet in between."""
    keys: set[float] = set()
    for target in np.linspace(start, end, 2 * MAX_WINDOWS).tolist():
        try:
            container.seek(round(target * 1e6), backward=False, any_frame=False)
        except av_errors() as exc:
            log.debug("forward seek to %.2fs failed: %s", target, exc)
            continue
        for i, packet in enumerate(container.demux(stream)):
            if packet.pts is not None and packet.is_keyframe:
                t = float(packet.pts * stream.time_base)
                if start - 1e-3 <= t <= end:
                    keys.add(round(t, 4))
                break
            if i > 300:  # not a seekable index: give up on this target
                break
    return sorted(keys)


def av_errors() -> tuple[type[BaseException], ...]:
    import av

    return (av.error.FFmpegError, OSError)


Triple = tuple[float, float, float]  # (previous neighbour, candidate, next neighbour) times


def _windows(keys: list[float], start: float, end: float) -> list[tuple[float, list[Triple]]]:
    """(seek time, candidate triples) per decode window."""
    step = NEIGHBOUR_S
    usable = [k for k in keys if k + 2 * step <= end]
    if usable:
        if len(usable) > MAX_WINDOWS:
            idx = np.linspace(0, len(usable) - 1, MAX_WINDOWS).round().astype(int)
            usable = [usable[i] for i in sorted(set(idx.tolist()))]
        out = []
        for k in usable:
            n = int(min(WINDOW_S, end - k) / step + 1e-6)
            grid = [round(k + i * step, 4) for i in range(n + 1)]
            out.append((k, [(grid[i - 1], grid[i], grid[i + 1]) for i in range(1, n)]))
        return out
    if end - start <= 2 * step:
        mid = round((start + end) / 2, 4)
        return [(start, [(mid, mid, mid)])]
    centres = np.linspace(start + step, min(end, start + FALLBACK_SPAN_S) - step, FALLBACK_CANDIDATES)
    return [(start, [(round(c - step, 4), round(c, 4), round(c + step, 4)) for c in centres.tolist()])]


def _crop_region(src_w: int, src_h: int, aspect: float, x_left: float | None) -> tuple[int, int]:
    """(x, width) of the clip's crop in source pixels: the plan's position, else the centre crop."""
    w = min(src_w, round(src_h * aspect / 2) * 2)
    x = (src_w - w) / 2 if x_left is None else min(max(x_left, 0.0), src_w - w)
    return round(x), w


def pick_source_frame(
    source: Path, start: float, end: float, *, crop: CropPlan | None = None, aspect: float = 9 / 16
) -> PickedFrame:
    """Choose the clip's cover frame from the un-captioned source within [start, end].

    Only a few frames are decoded: after seeking to each of up to MAX_WINDOWS keyframes inside the span, the
    frames at +0, +0.2, … +1.0 s (candidates are the inner ones, compared with both neighbours); a span with no
    keyframe is decoded once from the preceding keyframe. Scoring runs on SCORE_WIDTH-wide gray frames, inside
    the clip's crop (the stored plan's, else the centre crop); the frame is then cut around the main face or
    the plan's crop centre.
    """
    import av

    try:
        container = av.open(str(source))
    except (av.error.FFmpegError, OSError) as exc:
        raise ThumbnailError(f"cannot open {source}: {exc}") from exc
    with container:
        if not container.streams.video:
            raise ThumbnailError(f"{source} has no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        src_w, src_h = stream.codec_context.width, stream.codec_context.height
        sw = min(SCORE_WIDTH, src_w) // 2 * 2
        sh = max(2, round(src_h * sw / src_w) // 2 * 2)
        scale = src_w / sw
        end = max(end, start + 1e-3)
        windows = _windows(_keyframes(container, stream, start, end), start, end)
        grays: dict[float, np.ndarray] = {}
        frames: dict[float, Any] = {}
        candidates: list[Candidate] = []
        for seek_t, triples in windows:
            wanted = {t for triple in triples for t in triple}
            pending = sorted(wanted - grays.keys())
            keep = {mid for _, mid, _ in triples}
            container.seek(round(seek_t * 1e6) + 1000, backward=True, any_frame=False)
            i = 0
            for frame in decoding.frames(container, stream) if pending else ():
                if frame.time is None:
                    continue
                while i < len(pending) and frame.time + 1e-3 >= pending[i]:
                    grays[pending[i]] = frame.reformat(width=sw, height=sh, format="gray").to_ndarray()
                    if pending[i] in keep:
                        frames[pending[i]] = frame
                    i += 1
                if i >= len(pending):
                    break
            for prev_t, t, next_t in triples:
                if t not in grays or t not in frames:
                    continue
                x_left = crop.x_at(t - start) if crop is not None and crop.method != "none" else None
                x0, cw = _crop_region(src_w, src_h, aspect, x_left)
                cols = slice(int(x0 / scale), int((x0 + cw) / scale)) if cw / scale >= 8 else slice(None)
                region = np.ascontiguousarray(grays[t][:, cols])
                c = Candidate(t, float(region.mean()), sharpness(region))
                h = _hist(region)
                for n in (prev_t, next_t):
                    if n != t and n in grays:
                        c.change = max(c.change, _hist_distance(h, _hist(np.ascontiguousarray(grays[n][:, cols]))))
                candidates.append(c)
        if not candidates:
            raise ThumbnailError(f"no frame decoded in {start:.2f}-{end:.2f}s of {source}")

        def faces(c: Candidate) -> tuple[tuple[float, float, float, float] | None, int]:
            face = detect_face(grays[c.t], scale)
            if face is None:
                return None, 0
            return face, count_open_eyes(luma_plane(frames[c.t]), face)

        best = score_candidates(candidates, faces)
        rgb = frames[best.t].to_ndarray(format="rgb24")
    if crop is not None and crop.method not in ("none",):
        subject = Subject(crop.x_at(best.t - start) + crop.crop_w / 2, src_h / 2)
        if best.face is not None:
            subject = Subject(subject.cx, best.face[1] + best.face[3] / 2)
        framing = "plan"
    elif best.face is not None:
        fx, fy, fw, fh = best.face
        subject, framing = Subject(fx + fw / 2, fy + fh / 2), "face"
    else:
        subject, framing = Subject(src_w / 2, src_h / 2), "center"
    return PickedFrame(best.t, max(0.0, best.t - start), rgb, subject, framing, candidates)


def source_thumbnails(
    source: Path,
    start: float,
    end: float,
    *,
    crop: CropPlan | None = None,
    size: tuple[int, int] = (1080, 1920),
    preview_size: tuple[int, int] = (270, 480),
    title: str = "",
    covers: bool = True,
) -> tuple[PickedFrame, dict[str, Image.Image]]:
    """The picked frame and its images: "thumbnail" (the clip's size), "preview", and one per COVER_SPECS entry."""
    import cv2

    picked = pick_source_frame(source, start, end, crop=crop, aspect=size[0] / size[1])
    images: dict[str, Image.Image] = {}
    if covers:
        images.update({f"cover_{k}": v for k, v in make_covers(picked.rgb, picked.subject, title=title).items()})
    same = [v for v in images.values() if v.size == size]
    if same:  # a cover of the clip's own size is the thumbnail
        images["thumbnail"] = same[0]
    else:
        thumb = cut(picked.rgb, *size, picked.subject)
        images["thumbnail"] = draw_title(thumb, title) if title else thumb
    images["preview"] = Image.fromarray(
        cv2.resize(np.asarray(images["thumbnail"]), preview_size, interpolation=cv2.INTER_AREA)
    )
    return picked, images
