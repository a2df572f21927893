"""Short-time loudness of a media file's audio, streamed so hour-long sources stay small in memory."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np

from cliply.media import decoding

SAMPLE_RATE = 16000
# Digital silence would be -inf dB; clamp so means and medians stay finite.
DB_FLOOR = -100.0
# Frames quieter than this (dBFS) are treated as "no signal" when estimating the typical level.
ACTIVE_FLOOR_DB = -70.0


# eq=False: comparing numpy arrays element-wise has no single truth value.
@dataclass(frozen=True, eq=False)
class AudioEnergy:
    """RMS level in dBFS per hop of `hop_s` seconds (full-scale sine ≈ -3 dB)."""

    hop_s: float
    rms_db: np.ndarray
    _power_cumsum: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.hop_s <= 0:
            raise ValueError("hop_s must be positive")
        db = np.asarray(self.rms_db, dtype=np.float64)
        object.__setattr__(self, "rms_db", db)
        # Prefix sums make mean_db O(1), which matters when thousands of candidate spans are scored.
        object.__setattr__(self, "_power_cumsum", np.concatenate(([0.0], np.cumsum(10.0 ** (db / 10.0)))))

    @property
    def duration(self) -> float:
        return len(self.rms_db) * self.hop_s

    @property
    def median_db(self) -> float:
        """Typical level of the parts that carry signal; leading/trailing digital silence must not drag it down."""
        if len(self.rms_db) == 0:
            return DB_FLOOR
        active = self.rms_db[self.rms_db > ACTIVE_FLOOR_DB]
        return float(np.median(active if len(active) else self.rms_db))

    def _slice(self, start: float, end: float) -> tuple[int, int]:
        i0 = max(0, int(np.floor(start / self.hop_s)))
        i1 = min(len(self.rms_db), int(np.ceil(end / self.hop_s)))
        return i0, max(i0, i1)

    def mean_db(self, start: float, end: float) -> float:
        """Level of the mean power over [start, end) — loud words dominate, as they do for a listener."""
        i0, i1 = self._slice(start, end)
        if i1 == i0:
            return DB_FLOOR
        mean_power = (self._power_cumsum[i1] - self._power_cumsum[i0]) / (i1 - i0)
        return max(DB_FLOOR, float(10.0 * np.log10(max(mean_power, 1e-30))))

    def peak_db(self, start: float, end: float) -> float:
        i0, i1 = self._slice(start, end)
        return float(self.rms_db[i0:i1].max()) if i1 > i0 else DB_FLOOR

    def dynamic_range(self, start: float, end: float) -> float:
        """95th minus 10th percentile level in dB: how much the delivery rises and falls."""
        i0, i1 = self._slice(start, end)
        if i1 - i0 < 2:
            return 0.0
        lo, hi = np.percentile(self.rms_db[i0:i1], [10, 95])
        return float(hi - lo)


def _hop_power(samples: np.ndarray, hop: int) -> np.ndarray:
    return np.square(samples.reshape(-1, hop), dtype=np.float64).mean(axis=1)


def compute_energy(wav_or_media: Path, *, hop_s: float = 0.05) -> AudioEnergy:
    """Decode the first audio stream to mono 16 kHz frame by frame and measure RMS per hop.

    Only the per-hop levels (72k floats for an hour at 50 ms) and one partial hop are kept in memory. Damaged
    packets are skipped, as the ffmpeg decode that feeds the transcript skips them, so both stay on one timeline.
    """
    if hop_s <= 0:
        raise ValueError("hop_s must be positive")
    hop = max(1, round(hop_s * SAMPLE_RATE))
    powers: list[np.ndarray] = []
    carry: np.ndarray = np.zeros(0, dtype=np.float32)
    with av.open(str(wav_or_media)) as container:
        if not container.streams.audio:
            raise ValueError(f"no audio stream in {wav_or_media}")
        stream = container.streams.audio[0]
        # Whole-hop chunks of ~10 s: few numpy calls per minute of audio, still a bounded buffer.
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE, frame_size=hop * 200)

        def consume(frames: list[av.AudioFrame]) -> None:
            nonlocal carry
            for out in frames:
                chunk = np.concatenate((carry, out.to_ndarray().reshape(-1)))
                full = len(chunk) - len(chunk) % hop
                if full:
                    powers.append(_hop_power(chunk[:full], hop))
                carry = chunk[full:]

        for frame in decoding.frames(container, stream):
            consume(resampler.resample(frame))
        consume(resampler.resample(None))
    if len(carry):
        # A final partial hop still counts, so the energy covers the whole file.
        powers.append(np.array([np.square(carry, dtype=np.float64).mean()]))
    power = np.concatenate(powers) if powers else np.zeros(0)
    rms_db = np.maximum(DB_FLOOR, 10.0 * np.log10(np.maximum(power, 1e-30)))
    return AudioEnergy(hop_s=hop / SAMPLE_RATE, rms_db=rms_db)


def find_silences(energy: AudioEnergy, min_len_s: float = 0.3, *, drop_db: float = 20.0) -> list[tuple[float, float]]:
    """Stretches at least `min_len_s` long that sit `drop_db` below the file's median level."""
    db = energy.rms_db
    if len(db) == 0:
        return []
    quiet = db < energy.median_db - drop_db
    # Run-length encode the boolean mask: edges are where it flips.
    edges = np.flatnonzero(np.diff(np.concatenate(([0], quiet.astype(np.int8), [0]))))
    starts, ends = edges[0::2], edges[1::2]
    keep = (ends - starts) * energy.hop_s >= min_len_s - 1e-9
    return [
        (float(s * energy.hop_s), float(min(e * energy.hop_s, energy.duration)))
        for s, e in zip(starts[keep], ends[keep], strict=True)
    ]
