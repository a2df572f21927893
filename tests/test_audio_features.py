"""Energy analysis on generated audio whose loud, quiet and silent stretches are known exactly."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from cliply.media.audio_features import DB_FLOOR, AudioEnergy, compute_energy, find_silences
from cliply.media.ffmpeg import run_ffmpeg

SR = 16000
# (seconds, sine amplitude); amplitude 0 = digital silence
LAYOUT = [(1.0, 0.5), (1.0, 0.0), (1.5, 0.1), (0.6, 0.0), (1.0, 0.5)]


def _write_wav(path: Path, layout: list[tuple[float, float]], sr: int = SR) -> Path:
    parts = []
    for seconds, amp in layout:
        t = np.arange(int(seconds * sr)) / sr
        parts.append(amp * np.sin(2 * np.pi * 440.0 * t))
    pcm = (np.concatenate(parts) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes(pcm.tobytes())
    return path


def _edges(layout: list[tuple[float, float]]) -> list[tuple[float, float, float]]:
    out, t = [], 0.0
    for seconds, amp in layout:
        out.append((t, t + seconds, amp))
        t += seconds
    return out


@pytest.fixture(scope="module")
def tone_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _write_wav(tmp_path_factory.mktemp("tone") / "tone.wav", LAYOUT)


def test_levels_follow_the_signal(tone_wav: Path) -> None:
    e = compute_energy(tone_wav, hop_s=0.05)
    total = sum(s for s, _ in LAYOUT)
    assert e.duration == pytest.approx(total, abs=e.hop_s)
    loud, gap, quiet, _, loud2 = _edges(LAYOUT)
    # A sine of amplitude A has RMS A/√2: check the absolute calibration, not just the ordering.
    assert e.mean_db(loud[0] + 0.1, loud[1] - 0.1) == pytest.approx(20 * np.log10(0.5 / np.sqrt(2)), abs=0.5)
    assert e.mean_db(quiet[0] + 0.1, quiet[1] - 0.1) == pytest.approx(20 * np.log10(0.1 / np.sqrt(2)), abs=0.5)
    assert e.mean_db(loud[0], loud[1]) > e.mean_db(quiet[0], quiet[1]) + 10
    assert e.mean_db(gap[0] + 0.1, gap[1] - 0.1) < -60
    assert e.peak_db(0, total) == pytest.approx(e.mean_db(loud2[0] + 0.1, loud2[1] - 0.1), abs=0.5)
    # A steady tone has almost no dynamic range; tone plus silence has a lot.
    assert e.dynamic_range(loud[0] + 0.1, loud[1] - 0.1) < 1.0
    assert e.dynamic_range(loud[0], gap[1]) > 40


def test_silences_are_found_where_they_are(tone_wav: Path) -> None:
    e = compute_energy(tone_wav, hop_s=0.05)
    silences = find_silences(e, min_len_s=0.3)
    _, gap, _, gap2, _ = _edges(LAYOUT)
    assert len(silences) == 2
    for (s, t), (gs, ge, _) in zip(silences, (gap, gap2), strict=True):
        assert s == pytest.approx(gs, abs=2 * e.hop_s)
        assert t == pytest.approx(ge, abs=2 * e.hop_s)
    # The 0.6 s gap disappears once it is shorter than the minimum.
    assert len(find_silences(e, min_len_s=0.8)) == 1


def test_compressed_stereo_media_decodes_like_the_wav(tone_wav: Path, tmp_path: Path) -> None:
    m4a = tmp_path / "tone.m4a"
    run_ffmpeg(["-i", str(tone_wav), "-ac", "2", "-ar", "44100", "-c:a", "aac", "-b:a", "128k", str(m4a)])
    wav_e, m4a_e = compute_energy(tone_wav), compute_energy(m4a)
    loud, _, quiet, _, _ = _edges(LAYOUT)
    # AAC adds priming samples, so compare levels inside the stretches rather than frame by frame.
    for start, end, _ in (loud, quiet):
        assert m4a_e.mean_db(start + 0.2, end - 0.2) == pytest.approx(wav_e.mean_db(start + 0.2, end - 0.2), abs=1.0)
    assert len(find_silences(m4a_e)) == 2


def test_media_without_audio_is_rejected(tmp_path: Path) -> None:
    silent_video = tmp_path / "video_only.mp4"
    run_ffmpeg(["-f", "lavfi", "-i", "testsrc=size=64x64:rate=5:duration=1", "-c:v", "libx264", str(silent_video)])
    with pytest.raises(ValueError, match="no audio"):
        compute_energy(silent_video)


def test_energy_windows_outside_the_file_are_floor_not_errors() -> None:
    e = AudioEnergy(hop_s=0.1, rms_db=np.array([-20.0, -20.0, -40.0]))
    assert e.mean_db(5.0, 6.0) == DB_FLOOR
    assert e.peak_db(0.0, 0.3) == -20.0
    assert e.median_db == -20.0
    with pytest.raises(ValueError):
        AudioEnergy(hop_s=0.0, rms_db=np.zeros(3))
