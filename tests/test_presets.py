"""Platform envelopes and the pre-flight check."""

from __future__ import annotations

from dataclasses import replace

import pytest

from cliply.media.presets import PRESETS, check_clip, presets_for
from cliply.media.types import MediaInfo

PLATFORMS = [
    "youtube_shorts",
    "tiktok",
    "instagram_reels",
    "facebook_reels",
    "threads",
    "x",
    "linkedin",
    "pinterest",
    "bluesky",
]

GOOD = MediaInfo(
    duration=30.0,
    format_name="mov,mp4,m4a,3gp,3g2,mj2",
    size_bytes=12_000_000,
    video_codec="h264",
    width=1080,
    height=1920,
    fps=30.0,
    pix_fmt="yuv420p",
    audio_codec="aac",
    sample_rate=48000,
    channels=2,
    faststart=True,
)


def test_every_platform_has_a_preset_and_universal_is_the_strictest() -> None:
    universal = PRESETS["universal"]
    assert (universal.width, universal.height) == (1080, 1920)
    assert (universal.min_duration_s, universal.max_duration_s) == (4, 60)
    assert universal.max_bytes == 50_000_000
    for p in presets_for(PLATFORMS):
        assert universal.min_duration_s >= p.min_duration_s, p.name
        assert universal.max_duration_s <= p.max_duration_s, p.name
        assert universal.max_bytes <= p.max_bytes, p.name
        assert p.width / p.height == pytest.approx(9 / 16), p.name
        assert check_clip(GOOD, p) == [] or p.name == "x", p.name


def test_x_needs_720p() -> None:
    problems = check_clip(GOOD, PRESETS["x"])
    assert any("exceeds 720x1280" in m for m in problems)
    assert check_clip(replace(GOOD, width=720, height=1280), PRESETS["x"]) == []


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"video_codec": "hevc"}, "video codec"),
        ({"pix_fmt": "yuv444p"}, "pixel format"),
        ({"width": 1920, "height": 1080}, "aspect"),
        ({"duration": 2.0}, "shorter"),
        ({"duration": 61.0}, "longer"),
        ({"size_bytes": 60_000_000}, "MB"),
        ({"faststart": False}, "moov"),
        ({"audio_codec": None}, "no audio"),
        ({"audio_codec": "mp3"}, "audio codec"),
        ({"fps": 25.0}, "frame rate"),
    ],
)
def test_check_clip_names_each_problem(change: dict, needle: str) -> None:
    problems = check_clip(replace(GOOD, **change), PRESETS["universal"])
    assert problems, change
    assert any(needle in m for m in problems), problems
    assert check_clip(GOOD, PRESETS["universal"]) == []


def test_presets_for_rejects_unknown_names() -> None:
    assert [p.name for p in presets_for(["tiktok", "x"])] == ["tiktok", "x"]
    with pytest.raises(KeyError, match="myspace"):
        presets_for(["myspace"])
