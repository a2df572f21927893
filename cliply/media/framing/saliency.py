"""Where the subject is when there is no face: motion energy (difference to the previous sample) plus spectral-
residual saliency, AutoFlip-style. The crop goes where a crop-wide window holds the most energy."""

from __future__ import annotations

import numpy as np

from cliply.media.framing.analysis import Sample

MOTION_WEIGHT = 0.7
MOTION_FLOOR = 12.0  # grey levels: smaller frame differences are noise/compression, not motion
MIN_CONCENTRATION = 1.25  # the best window must hold this many times its fair share of the energy


def energy_map(sample: Sample) -> np.ndarray:
    motion = np.clip(sample.motion - MOTION_FLOOR / 3, 0, None)
    peak = float(motion.max())
    motion_n = motion / max(peak, MOTION_FLOOR) if peak > 0 else motion
    return MOTION_WEIGHT * motion_n + (1 - MOTION_WEIGHT) * sample.saliency * (0.3 if peak >= MOTION_FLOOR else 1.0)


def salient_box(
    sample: Sample, crop_frac: float, src_w: int, src_h: int
) -> tuple[float, tuple[float, float, float, float]] | None:
    """(subject centre x, subject box x, y, w, h) in source pixels, or None when nothing stands out."""
    e = energy_map(sample)
    mh, mw = e.shape
    col = e.sum(axis=0)
    total = float(col.sum())
    if total <= 0:
        return None
    win = max(1, round(crop_frac * mw))
    sums = np.convolve(col, np.ones(win), mode="valid")
    i = int(np.argmax(sums))
    if sums[i] / total < min(0.999, MIN_CONCENTRATION * win / mw):
        return None
    cols = np.arange(i, i + win)
    inside = col[i : i + win]
    cx = float((cols * inside).sum() / max(inside.sum(), 1e-9)) + 0.5
    hot_cols = cols[inside >= 0.5 * inside.max()]
    rows = e[:, i : i + win].sum(axis=1)
    hot_rows = np.nonzero(rows >= 0.5 * rows.max())[0]
    k = src_w / mw
    kh = src_h / mh
    box = (
        float(hot_cols.min()) * k,
        float(hot_rows.min()) * kh,
        float(hot_cols.max() - hot_cols.min() + 1) * k,
        float(hot_rows.max() - hot_rows.min() + 1) * kh,
    )
    return cx * k, box
