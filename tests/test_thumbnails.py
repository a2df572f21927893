"""Thumbnails: size, not black, and the sharpest-frame choice is the sharp segment, every time."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cliply.media.ffmpeg import run_ffmpeg
from cliply.media.thumbnails import ThumbnailError, make_preview, make_thumbnail, pick_thumbnail_time


@pytest.fixture(scope="module")
def mixed_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 s vertical clip: black 0–1 s, blurred 1–2.2 s, sharp 2.2–3.2 s, black 3.2–4 s."""
    out = tmp_path_factory.mktemp("thumb") / "mixed.mp4"
    size = "size=360x640:rate=25"
    graph = (
        f"color=black:{size}:d=1[a];testsrc2={size}:d=1.2,boxblur=12:2[b];testsrc2={size}:d=1[c];"
        f"color=black:{size}:d=0.8[d];[a][b][c][d]concat=n=4:v=1:a=0,format=yuv420p[v]"
    )
    run_ffmpeg(["-filter_complex", graph, "-map", "[v]", "-c:v", "libx264", "-preset", "ultrafast", str(out)])
    return out


def luma(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("L"), dtype=float)


def test_auto_pick_is_the_sharp_non_black_frame_and_deterministic(mixed_clip: Path, tmp_path: Path) -> None:
    t = pick_thumbnail_time(mixed_clip)
    assert 2.2 <= t < 3.2, t
    a = make_thumbnail(mixed_clip, tmp_path / "a.jpg")
    b = make_thumbnail(mixed_clip, tmp_path / "b.jpg")
    assert pick_thumbnail_time(mixed_clip) == t
    assert a.read_bytes() == b.read_bytes()
    with Image.open(a) as img:
        assert img.format == "JPEG" and img.size == (1080, 1920)
    assert luma(a).mean() > 40


def test_explicit_time_and_preview_size(mixed_clip: Path, tmp_path: Path) -> None:
    dark = make_thumbnail(mixed_clip, tmp_path / "dark.jpg", at=0.5, width=540, height=960)
    assert luma(dark).mean() < 10  # `at` is honoured even when it is a bad frame
    preview = make_preview(mixed_clip, tmp_path / "p.jpg")
    with Image.open(preview) as img:
        assert img.size == (270, 480)
    assert luma(preview).mean() > 40
    assert preview.stat().st_size < make_thumbnail(mixed_clip, tmp_path / "full.jpg").stat().st_size


def test_unreadable_clip_raises(tmp_path: Path) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all")
    with pytest.raises(ThumbnailError):
        make_thumbnail(bad, tmp_path / "x.jpg")
