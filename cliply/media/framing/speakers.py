"""Who is speaking: mouth motion weighted by the audio envelope, decided once per sentence so the framing cuts
between speakers at sentence boundaries instead of chasing every syllable."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from cliply.media import decoding
from cliply.media.types import Word

ENVELOPE_RATE = 8000
SENTENCE_GAP_S = 0.6  # a pause this long ends a sentence even without punctuation
SENTENCE_END = (".", "?", "!", "…")


def audio_envelope(
    video: Path, start: float, end: float, times: Sequence[float], *, window_s: float = 0.25
) -> np.ndarray:
    """RMS loudness (0..1 of full scale) around each clip-relative time in `times`; zeros when there is no audio."""
    import av

    out = np.zeros(len(times), dtype=np.float64)
    chunks: list[np.ndarray] = []
    try:
        with av.open(str(video)) as c:
            if not c.streams.audio:
                return out
            stream = c.streams.audio[0]
            resampler = av.AudioResampler(format="s16", layout="mono", rate=ENVELOPE_RATE)
            c.seek(int(max(0.0, start - 0.5) * 1e6), backward=True, any_frame=False)
            first_t: float | None = None
            for frame in decoding.frames(c, stream):
                if frame.time is None:
                    continue
                if frame.time > end + window_s:
                    break
                for r in resampler.resample(frame):
                    if first_t is None:
                        first_t = float(r.time if r.time is not None else frame.time)
                    chunks.append(r.to_ndarray().reshape(-1))
    except (av.error.FFmpegError, OSError):
        return out
    if not chunks or first_t is None:
        return out
    pcm = np.concatenate(chunks).astype(np.float32) / 32768.0
    half = int(window_s * ENVELOPE_RATE)
    for i, t in enumerate(times):
        centre = int((start + t - first_t) * ENVELOPE_RATE)
        seg = pcm[max(0, centre - half) : max(0, centre + half)]
        out[i] = float(np.sqrt(np.mean(np.square(seg)))) if seg.size else 0.0
    return out


def sentence_boundaries(words: Sequence[Word], start: float, end: float) -> list[float]:
    """Clip-relative times between sentences: the middle of the pause after a word that ends a sentence (by its
    punctuation, or a pause of SENTENCE_GAP_S or more)."""
    inside = sorted((w for w in words if w.end > start and w.start < end), key=lambda w: w.start)
    out: list[float] = []
    for a, b in itertools.pairwise(inside):
        if a.word.rstrip().endswith(SENTENCE_END) or b.start - a.end >= SENTENCE_GAP_S:
            t = (a.end + max(a.end, b.start)) / 2 - start
            if 0 < t < end - start:
                out.append(round(t, 3))
    return out


def pause_boundaries(times: np.ndarray, envelope: np.ndarray) -> list[float]:
    """Without words: the middle of each quiet run (below a fifth of the median loud level) between sounds."""
    if envelope.size == 0 or not envelope.any():
        return []
    loud = float(np.median(envelope[envelope > 0])) if (envelope > 0).any() else 0.0
    quiet = envelope < 0.2 * loud
    out: list[float] = []
    i = 0
    while i < len(quiet):
        if quiet[i]:
            j = i
            while j + 1 < len(quiet) and quiet[j + 1]:
                j += 1
            if i > 0 and j + 1 < len(quiet):
                out.append(round(float(times[i] + times[j]) / 2, 3))
            i = j + 1
        else:
            i += 1
    return out


def speaker_per_segment(
    times: np.ndarray, activity: np.ndarray, envelope: np.ndarray, bounds: Sequence[float], t0: float, t1: float
) -> list[tuple[float, float, int]]:
    """Split [t0, t1) at `bounds`; each piece gets the speaker (column of `activity`, samples × speakers) whose mouth
    moved most while there was sound; a piece with no evidence keeps the previous speaker. Adjacent pieces with the
    same speaker are merged."""
    edges = [t0, *[b for b in bounds if t0 < b < t1], t1]
    out: list[tuple[float, float, int]] = []
    prev = int(np.argmax(activity.sum(axis=0))) if activity.size else 0
    weight = envelope / (float(envelope.max()) if envelope.size and envelope.max() > 0 else 1.0)
    for a, b in itertools.pairwise(edges):
        m = (times >= a) & (times < b)
        score = (activity[m] * (0.25 + weight[m, None])).sum(axis=0) if m.any() else np.zeros(activity.shape[1])
        who = int(np.argmax(score)) if score.size and score.max() > 0 and _clear(score) else prev
        if out and out[-1][2] == who:
            out[-1] = (out[-1][0], b, who)
        else:
            out.append((a, b, who))
        prev = who
    return out


def _clear(score: np.ndarray) -> bool:
    """The winner moved its mouth clearly more than the runner-up (else: not enough evidence to switch)."""
    top = np.sort(score)[::-1]
    return top.size < 2 or top[0] >= 1.3 * top[1]
