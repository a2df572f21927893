"""Plan a clip's vertical framing: where a 9:16 window (or two stacked windows) sits over time, as keyframes an ffmpeg
crop expression interpolates (pans) or switches (cuts).

Analysis runs on one small, sparse decode (a few fps at ~480 px wide, see framing/analysis.py); the render then
applies the crop at full resolution in the same ffmpeg pass as scaling and captions, so no per-frame Python touches
the output. What the window follows, per shot:

- faces (BlazeFace when its packaged model is installed, else OpenCV's Haar cascade);
- with two or more faces, the active speaker (mouth motion while there is sound), switched with a cut at sentence
  boundaries, never panned across;
- with no face, the most salient moving region (motion energy plus spectral-residual saliency);
- nothing salient: the centre.

Every scene change (shot boundary) is a cut, not a pan. Within a shot the camera follows with a deadzone and a pan
speed limit. Layouts: fill (the crop), fit (the whole frame over a blurred copy of itself) and split (two speakers
stacked, each panel following its face).
"""

from __future__ import annotations

import bisect
import itertools
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from cliply.media.framing.analysis import Analysis, AnalysisError, Sample, analyse
from cliply.media.framing.faces import Face, FaceDetector
from cliply.media.framing.saliency import salient_box
from cliply.media.framing.speakers import audio_envelope, pause_boundaries, sentence_boundaries, speaker_per_segment
from cliply.media.types import Word

Method = Literal["face", "speaker", "saliency", "center", "none"]
Layout = Literal["fill", "fit", "split"]
LAYOUT_CHOICES = ("auto", "fill", "fit", "split")

DEADZONE_FRACTION = 0.08  # of crop width: ignore subject drift smaller than this (no jitter)
MAX_PAN_FRACTION_PER_S = 0.6  # of crop width per second: a calm camera, never a jump (cuts aside)
MIN_FACE_COVERAGE = 0.5  # a face track must be present in this share of a shot's samples
MIN_SALIENT_COVERAGE = 0.5  # fewer samples with a salient region than this → centre crop for that shot
SPLIT_MIN_PRESENCE = 0.6  # split: both faces on screen in this share of the clip's samples …
SPLIT_MIN_SPEAKING = 0.2  # … and each the active speaker for at least this share of the clip
SIMPLIFY_TOLERANCE_PX = 4.0


@dataclass(frozen=True)
class CropPlan:
    src_w: int
    src_h: int
    crop_w: int
    crop_h: int
    # (clip-relative t, x of the crop's left). Two keyframes at the same t are a cut: the left value holds before
    # t, the right one from t on.
    keyframes: list[tuple[float, float]] = field(default_factory=list)
    method: Method = "center"
    y: int | None = None  # the crop's top; None: vertically centred

    @property
    def top(self) -> int:
        return self.y if self.y is not None else (self.src_h - self.crop_h) // 2

    def x_at(self, t: float) -> float:
        """The crop's left edge at clip time t (same rule as crop_x_expression)."""
        if not self.keyframes:
            return (self.src_w - self.crop_w) / 2
        ts = [k[0] for k in self.keyframes]
        i = bisect.bisect_right(ts, t) - 1
        if i < 0:
            return self.keyframes[0][1]
        if i >= len(ts) - 1:
            return self.keyframes[-1][1]
        (t0, x0), (t1, x1) = self.keyframes[i], self.keyframes[i + 1]
        return x0 + (x1 - x0) * (t - t0) / (t1 - t0) if t1 > t0 else x1

    @property
    def cuts(self) -> list[float]:
        return [a[0] for a, b in itertools.pairwise(self.keyframes) if b[0] - a[0] < 1e-6 and a[1] != b[1]]

    def to_dict(self) -> dict[str, object]:
        d: dict[str, object] = {
            "src_w": self.src_w,
            "src_h": self.src_h,
            "crop_w": self.crop_w,
            "crop_h": self.crop_h,
            "keyframes": [list(k) for k in self.keyframes],
            "method": self.method,
        }
        if self.y is not None:
            d["y"] = self.y
        return d

    @classmethod
    def from_dict(cls, d: dict) -> CropPlan:
        return cls(
            int(d["src_w"]),
            int(d["src_h"]),
            int(d["crop_w"]),
            int(d["crop_h"]),
            [(float(t), float(x)) for t, x in d["keyframes"]],
            d["method"],
            int(d["y"]) if d.get("y") is not None else None,
        )


@dataclass(frozen=True)
class ReframePlan:
    """Everything decided about a clip's framing; stored beside the clip as `<clip>.reframe.json`."""

    layout: Layout
    crop: CropPlan  # the single-window framing (fill; thumbnails and covers use it for every layout)
    panels: tuple[CropPlan, ...] = ()  # split: top and bottom windows
    detector: str = ""
    layout_reason: str = ""
    subjects: list[dict[str, object]] = field(default_factory=list)  # per second: t, kind, box [x, y, w, h] | None
    cuts: list[dict[str, object]] = field(default_factory=list)  # t, reason ("scene" | "speaker")
    speakers: int = 0
    analysis_s: float = 0.0

    @property
    def method(self) -> Method:
        return self.crop.method

    def to_dict(self) -> dict[str, object]:
        return {
            "version": 2,
            "layout": self.layout,
            "layout_reason": self.layout_reason,
            "method": self.method,
            "detector": self.detector,
            "speakers": self.speakers,
            "analysis_s": round(self.analysis_s, 3),
            "crop": self.crop.to_dict(),
            "panels": [p.to_dict() for p in self.panels],
            "cuts": self.cuts,
            "subjects": self.subjects,
        }

    @classmethod
    def from_dict(cls, d: dict) -> ReframePlan:
        if "crop" not in d:  # a plan stored before layouts: the crop alone
            return cls("fill", CropPlan.from_dict(d))
        return cls(
            d.get("layout", "fill"),
            CropPlan.from_dict(d["crop"]),
            tuple(CropPlan.from_dict(p) for p in d.get("panels", [])),
            d.get("detector", ""),
            d.get("layout_reason", ""),
            list(d.get("subjects", [])),
            list(d.get("cuts", [])),
            int(d.get("speakers", 0)),
            float(d.get("analysis_s", 0.0)),
        )

    def summary(self) -> dict[str, object]:
        """The few facts a person checks first (shown in the clip's metadata)."""
        framed = [s for s in self.subjects if s.get("box") is not None]
        return {
            "layout": self.layout,
            "method": self.method,
            "detector": self.detector,
            "scene_cuts": sum(1 for c in self.cuts if c["reason"] == "scene"),
            "speaker_switches": sum(1 for c in self.cuts if c["reason"] == "speaker"),
            "speakers": self.speakers,
            "subject_seconds": f"{len(framed)}/{len(self.subjects)}",
            "why": self.layout_reason,
        }


class ReframeError(RuntimeError):
    """The source cannot be decoded for analysis."""


def _crop_size(src_w: int, src_h: int, aspect: float) -> tuple[int, int]:
    crop_w = min(src_w, round(src_h * aspect / 2) * 2)
    return crop_w, src_h


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


def _camera(
    times: np.ndarray, centres: np.ndarray, t0: float, t1: float, crop_w: int, src_w: int
) -> list[tuple[float, float]]:
    """A calm camera over [t0, t1] that follows `centres` (subject centre x per sample time): it starts on the
    subject (a cut lands there), then pans only past a deadzone and never faster than the pan limit."""
    inside = (times >= t0 - 1e-6) & (times < t1)
    if inside.any():
        times, centres = times[inside], centres[inside]
    else:  # a piece shorter than the sample step: hold the nearest sample
        k = int(np.argmin(np.abs(times - t0)))
        times, centres = np.array([t0]), centres[k : k + 1]
    targets = np.clip(_median(centres) - crop_w / 2, 0, src_w - crop_w)
    deadzone = DEADZONE_FRACTION * crop_w
    vmax = MAX_PAN_FRACTION_PER_S * crop_w * 0.99  # margin for the rounding of keyframe times and positions
    cam = float(np.median(targets[:3]))
    path = [(t0, cam)]
    prev_t = t0
    for t, target in zip(times, targets, strict=True):
        if t <= t0:
            continue
        dt = float(t) - prev_t
        diff = float(target) - cam
        if abs(diff) > deadzone:
            # Pan toward the target, stopping at the edge of the deadzone so small later drifts don't restart it.
            goal = diff - np.sign(diff) * deadzone / 2
            cam += float(np.clip(goal, -vmax * dt, vmax * dt))
        path.append((float(t), cam))
        prev_t = float(t)
    if t1 > prev_t + 1e-3:
        path.append((t1, cam))
    dedup: list[tuple[float, float]] = []
    for t, x in path:
        if dedup and t - dedup[-1][0] < 1e-3:
            dedup[-1] = (dedup[-1][0], x)
        else:
            dedup.append((t, x))
    return [(round(t, 3), round(x, 1)) for t, x in _simplify(dedup, SIMPLIFY_TOLERANCE_PX)]


def _join(segments: list[list[tuple[float, float]]]) -> list[tuple[float, float]]:
    """Concatenate per-segment paths; where one ends and the next starts at another x, that is a cut (step)."""
    out: list[tuple[float, float]] = []
    for seg in segments:
        for t, x in seg:
            if out and abs(out[-1][0] - t) < 1e-3 and abs(out[-1][1] - x) < 0.5:
                continue
            out.append((t, x))
    return out


# ---------------------------------------------------------------- face tracks


@dataclass
class _Track:
    faces: list[Face | None]  # per sample of the span it was built on

    @property
    def presence(self) -> int:
        return sum(f is not None for f in self.faces)

    @property
    def mean_x(self) -> float:
        return float(np.mean([f.cx for f in self.faces if f is not None]))

    @property
    def size(self) -> float:
        return float(np.median([f.h for f in self.faces if f is not None]))

    def centres(self, times: np.ndarray) -> np.ndarray:
        have = [i for i, f in enumerate(self.faces) if f is not None]
        xs = np.array([self.faces[i].cx for i in have])  # type: ignore[union-attr]
        return np.interp(times, times[have], xs)

    def face_near(self, i: int) -> Face | None:
        """The face at sample i, else the nearest sample's (gaps hold their neighbours)."""
        for d in range(len(self.faces)):
            for j in (i - d, i + d):
                if 0 <= j < len(self.faces) and self.faces[j] is not None:
                    return self.faces[j]
        return None


def _tracks(samples: Sequence[Sample], min_presence: float, src_w: int) -> list[_Track]:
    """Faces grouped by horizontal position (people in a shot keep their places; a moving face drifts smoothly),
    keeping groups present in at least `min_presence` of the samples, left to right."""
    dets = sorted(((f.cx, i, f) for i, s in enumerate(samples) for f in s.faces), key=lambda d: d[0])
    if not dets:
        return []
    gap = max(float(np.median([f.w for _, _, f in dets])) * 0.8, src_w * 0.04)
    groups: list[list[tuple[float, int, Face]]] = [[dets[0]]]
    for d in dets[1:]:
        if d[0] - groups[-1][-1][0] > gap:
            groups.append([])
        groups[-1].append(d)
    tracks = []
    for g in groups:
        per: list[Face | None] = [None] * len(samples)
        for _, i, f in g:
            if per[i] is None or f.w * f.h > per[i].w * per[i].h:  # type: ignore[union-attr]
                per[i] = f
        t = _Track(per)
        if t.presence >= max(1, min_presence * len(samples)):
            tracks.append(t)
    return sorted(tracks, key=lambda t: t.mean_x)


def _box(f: Face | None) -> list[float] | None:
    return None if f is None else [round(f.x, 1), round(f.y, 1), round(f.w, 1), round(f.h, 1)]


# ---------------------------------------------------------------- planning


@dataclass
class _Segment:
    t0: float
    t1: float
    kind: str  # face | speaker | saliency | center
    path: list[tuple[float, float]]
    boxes: dict[int, list[float] | None]  # sample index → subject box
    who: int = -1  # speaker segments: the track index within its shot


def _shot_segments(
    a: Analysis,
    idx: list[int],
    t0: float,
    t1: float,
    crop_w: int,
    need_audio: dict[str, object],
    bounds: list[float],
) -> list[_Segment]:
    samples = [a.samples[i] for i in idx]
    times = np.array([s.t for s in samples])
    center_x = (a.src_w - crop_w) / 2
    if not samples:
        return [_Segment(t0, t1, "center", [(t0, center_x), (t1, center_x)], {})]
    tracks = _tracks(samples, MIN_FACE_COVERAGE, a.src_w)
    if len(tracks) >= 2:
        env = need_audio["envelope"]
        assert isinstance(env, np.ndarray)
        activity = np.array(
            [
                [
                    s.mouth_motion[s.faces.index(tr.faces[k])] if tr.faces[k] is not None else 0.0  # type: ignore[arg-type]
                    for tr in tracks
                ]
                for k, s in enumerate(samples)
            ]
        )
        turns = speaker_per_segment(times, activity, env[idx], bounds, t0, t1)
        out = []
        for a0, a1, who in turns:
            tr = tracks[who]
            path = _camera(times, tr.centres(times), a0, a1, crop_w, a.src_w)
            boxes = {idx[k]: _box(tr.face_near(k)) for k in range(len(samples)) if a0 <= times[k] < a1}
            out.append(_Segment(a0, a1, "speaker", path, boxes, who))
        return out
    if len(tracks) == 1:
        tr = tracks[0]
        path = _camera(times, tr.centres(times), t0, t1, crop_w, a.src_w)
        return [_Segment(t0, t1, "face", path, {idx[k]: _box(tr.face_near(k)) for k in range(len(samples))})]
    found = [salient_box(s, crop_w / a.src_w, a.src_w, a.src_h) for s in samples]
    have = [k for k, f in enumerate(found) if f is not None]
    if len(have) < MIN_SALIENT_COVERAGE * len(samples):
        return [_Segment(t0, t1, "center", [(t0, center_x), (t1, center_x)], {})]
    xs = np.interp(times, times[have], [found[k][0] for k in have])  # type: ignore[index]
    path = _camera(times, xs, t0, t1, crop_w, a.src_w)
    boxes = {idx[k]: [round(v, 1) for v in f[1]] if f else None for k, f in enumerate(found)}
    return [_Segment(t0, t1, "saliency", path, boxes)]


def _panel(a: Analysis, tr: _Track, shots: list[tuple[float, float]], aspect: float) -> CropPlan:
    """A split-screen window (aspect `aspect`, wider than 9:16) that follows one face, cutting at scene changes."""
    h = int(min(a.src_h, max(0.45 * a.src_h, 3.2 * tr.size)))
    w = round(h * aspect / 2) * 2
    if w > a.src_w:
        w = a.src_w // 2 * 2
        h = round(w / aspect / 2) * 2
    h = h // 2 * 2
    cy = float(np.median([f.cy for f in tr.faces if f is not None]))
    y = int(np.clip(cy - 0.42 * h, 0, a.src_h - h))
    times = np.array([s.t for s in a.samples])
    centres = tr.centres(times)
    segs = []
    for s0, s1 in shots:
        m = (times >= s0) & (times < s1)
        if m.any():
            segs.append(_camera(times[m], centres[m], s0, s1, w, a.src_w))
    return CropPlan(a.src_w, a.src_h, w, h, _join(segs), "face", y)


def plan_framing(
    video: Path,
    start: float,
    end: float,
    *,
    words: Sequence[Word] = (),
    layout: str = "auto",
    aspect: float = 9 / 16,
    sample_fps: float = 2.0,
    analysis_width: int = 480,
    detector: FaceDetector | None = None,
) -> ReframePlan:
    """The framing of [start, end] of `video` for a full-height `aspect` window; `words` (the clip's transcript words,
    source times) give the sentence boundaries where speaker switches may cut; `layout` is auto|fill|fit|split."""
    import av

    if layout not in LAYOUT_CHOICES:
        raise ValueError(f"unknown layout {layout!r}; choose one of {', '.join(LAYOUT_CHOICES)}")
    began = time.perf_counter()
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
        none = CropPlan(src_w, src_h, src_w, src_h, [(0.0, 0.0)], "none")
        return ReframePlan("fill", none, layout_reason="the source is already vertical")
    try:
        a = analyse(video, start, end, sample_fps=sample_fps, analysis_width=analysis_width, detector=detector)
    except AnalysisError as exc:
        raise ReframeError(str(exc)) from exc

    edges = [0.0, *[c for c in a.cuts if 0 < c < duration], duration]
    shots = [(s0, s1) for s0, s1 in itertools.pairwise(edges) if s1 > s0]
    times = np.array([s.t for s in a.samples])
    audio: dict[str, object] = {}
    bounds: list[float] = []
    if any(len(s.faces) >= 2 for s in a.samples):
        audio["envelope"] = audio_envelope(video, start, end, times.tolist())
        bounds = sentence_boundaries(words, start, end) if words else []
        if not bounds:
            bounds = pause_boundaries(times, audio["envelope"])  # type: ignore[arg-type]
    else:
        audio["envelope"] = np.zeros(len(times))

    segments: list[_Segment] = []
    for s0, s1 in shots:
        idx = [i for i, s in enumerate(a.samples) if s0 <= s.t < s1]
        segments += _shot_segments(a, idx, s0, s1, crop_w, audio, bounds)

    cuts: list[dict[str, object]] = [{"t": round(c, 3), "reason": "scene"} for c in edges[1:-1]]
    speaking: dict[int, float] = {}
    for prev, seg in itertools.pairwise(segments):
        if seg.kind == "speaker" and prev.kind == "speaker" and not any(abs(seg.t0 - e) < 1e-3 for e in edges):
            cuts.append({"t": round(seg.t0, 3), "reason": "speaker", "to": seg.who})
    for seg in segments:
        if seg.kind == "speaker":
            speaking[seg.who] = speaking.get(seg.who, 0.0) + seg.t1 - seg.t0
    cuts.sort(key=lambda c: float(c["t"]))  # type: ignore[arg-type]

    kinds = {s.kind for s in segments}
    method: Method = next((k for k in ("speaker", "face", "saliency") if k in kinds), "center")
    keyframes = _join([s.path for s in segments]) if method != "center" else [(0.0, (src_w - crop_w) / 2)]
    crop = CropPlan(src_w, src_h, crop_w, crop_h, keyframes, method)

    boxes: dict[int, tuple[str, list[float] | None]] = {}
    for seg in segments:
        for k, b in seg.boxes.items():
            boxes[k] = (seg.kind, b)
    subjects: list[dict[str, object]] = []
    for sec in range(math.ceil(duration)):
        if times.size == 0:
            subjects.append({"t": sec, "kind": "center", "box": None})
            continue
        k = int(np.argmin(np.abs(times - sec)))
        kind, b = boxes.get(k, ("center", None))
        subjects.append({"t": sec, "kind": kind, "box": b})

    # Split: two faces on screen most of the clip, each speaking a fair share of it.
    panels: tuple[CropPlan, ...] = ()
    both = _tracks(a.samples, SPLIT_MIN_PRESENCE, src_w)
    n_speakers = len(speaking) if speaking else len(both) if len(both) >= 2 else 0
    split_ok = len(both) >= 2 and (
        layout == "split" or (len(speaking) >= 2 and min(speaking.values()) >= SPLIT_MIN_SPEAKING * duration)
    )
    if layout == "fit":
        chosen, why = "fit", "fit requested"
    elif layout == "fill":
        chosen, why = "fill", "fill requested"
    elif split_ok:
        pair = sorted(sorted(both, key=lambda t: -t.presence)[:2], key=lambda t: t.mean_x)
        panels = tuple(_panel(a, t, shots, 2 * aspect) for t in pair)
        chosen, why = "split", "two speakers share the clip" if layout == "auto" else "split requested"
    elif layout == "split":
        chosen, why = "fill", "split requested but fewer than two faces are on screen"
    elif method == "center":
        chosen, why = "fit", "no face or moving subject: the whole frame"
    else:
        chosen, why = (
            "fill",
            {
                "speaker": "several faces, one speaking at a time",
                "face": "one face",
                "saliency": "a moving subject",
            }[method],
        )
    return ReframePlan(
        chosen,  # type: ignore[arg-type]
        crop,
        panels,
        a.detector,
        why,
        subjects,
        cuts,
        n_speakers,
        round(time.perf_counter() - began, 3),
    )


def plan_crop(
    video: Path,
    start: float,
    end: float,
    *,
    aspect: float = 9 / 16,
    sample_fps: float = 2.0,
    analysis_width: int = 480,
    words: Sequence[Word] = (),
) -> CropPlan:
    """The single-window (fill) framing of [start, end] of `video`."""
    return plan_framing(
        video,
        start,
        end,
        words=words,
        layout="fill",
        aspect=aspect,
        sample_fps=sample_fps,
        analysis_width=analysis_width,
    ).crop


def crop_x_expression(plan: CropPlan) -> str:
    """ffmpeg expression of `t` (clip seconds) for crop's x: piecewise linear between keyframes, held at the ends;
    two keyframes at the same time switch at once (a cut)."""
    kfs = plan.keyframes or [(0.0, (plan.src_w - plan.crop_w) / 2)]
    if len({round(x) for _, x in kfs}) == 1:
        return str(round(kfs[0][1]))
    expr = f"{kfs[-1][1]:g}"
    for (t0, x0), (t1, x1) in reversed(list(itertools.pairwise(kfs))):
        if t1 - t0 < 1e-6:
            continue  # a cut: the next segment (from t1 on) starts at the new x
        slope = (x1 - x0) / (t1 - t0)
        body = f"{x0:g}" if abs(slope) < 1e-9 else f"{x0:g}+{slope:.4f}*(t-{t0:g})"
        expr = f"if(lt(t,{t1:g}),{body},{expr})"
    if kfs[0][0] > 0:
        expr = f"if(lt(t,{kfs[0][0]:g}),{kfs[0][1]:g},{expr})"
    return expr
