"""Per-platform output envelopes (values from shared/reference/platforms.md) and a pre-flight check of a clip."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from cliply.media.types import MediaInfo

MB = 1000 * 1000
GB = 1000 * MB


@dataclass(frozen=True)
class Preset:
    name: str
    width: int
    height: int
    fps: int
    min_duration_s: float
    max_duration_s: float
    max_bytes: int
    video_codec: str = "h264"
    pix_fmt: str = "yuv420p"
    audio_codec: str = "aac"
    max_video_kbps: int = 25_000
    needs_faststart: bool = True

    @property
    def aspect(self) -> float:
        return self.width / self.height


# Render targets stay at 30 fps CFR / 1080×1920 (§6 "render once"); only the limits differ per platform.
# ⚠-marked values in platforms.md were resolved to the stricter reading.
PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset("youtube_shorts", 1080, 1920, 30, 1.0, 180.0, 256 * GB),
        Preset("tiktok", 1080, 1920, 30, 3.0, 180.0, 4 * GB),
        Preset("instagram_reels", 1080, 1920, 30, 3.0, 900.0, 300 * MB),
        Preset("facebook_reels", 1080, 1920, 30, 3.0, 90.0, 1 * GB),
        Preset("threads", 1080, 1920, 30, 0.0, 300.0, 1 * GB),
        Preset("x", 720, 1280, 30, 0.5, 140.0, 512 * MB),
        Preset("linkedin", 1080, 1920, 30, 3.0, 1800.0, 200 * MB),
        Preset("pinterest", 1080, 1920, 30, 4.0, 900.0, 1 * GB),
        Preset("bluesky", 1080, 1920, 30, 0.0, 60.0, 50 * MB),
        # The envelope every platform accepts ("Video at a glance" says 3–60 s, but Pinterest needs ≥ 4 s).
        Preset("universal", 1080, 1920, 30, 4.0, 60.0, 50 * MB),
    )
}

_DURATION_SLACK_S = 0.05  # container durations include AAC priming; don't flag a 60.02 s clip


def presets_for(names: Iterable[str]) -> list[Preset]:
    """Look presets up by name; unknown names raise KeyError listing the valid ones."""
    out = []
    for name in names:
        if name not in PRESETS:
            raise KeyError(f"unknown preset {name!r}; known: {', '.join(sorted(PRESETS))}")
        out.append(PRESETS[name])
    return out


def check_clip(info: MediaInfo, preset: Preset) -> list[str]:
    """Human-readable reasons `info` would be rejected by `preset`'s platform; empty means it fits."""
    problems: list[str] = []
    if not info.has_video:
        problems.append("no video stream")
    else:
        if info.video_codec != preset.video_codec:
            problems.append(f"video codec is {info.video_codec}, {preset.name} needs {preset.video_codec}")
        if info.pix_fmt != preset.pix_fmt:
            problems.append(f"pixel format is {info.pix_fmt}, {preset.name} needs {preset.pix_fmt}")
        if info.width and info.height:
            if abs(info.width / info.height - preset.aspect) > 0.01:
                problems.append(f"aspect {info.width}x{info.height} is not {preset.width}:{preset.height}")
            if info.width > preset.width or info.height > preset.height:
                problems.append(f"resolution {info.width}x{info.height} exceeds {preset.width}x{preset.height}")
        else:
            problems.append("unknown resolution")
        if info.fps and abs(info.fps - preset.fps) > 0.5:
            problems.append(f"frame rate {info.fps:.2f} is not {preset.fps} fps")
    if info.duration < preset.min_duration_s:
        problems.append(f"duration {info.duration:.2f}s is shorter than {preset.min_duration_s:g}s")
    if info.duration > preset.max_duration_s + _DURATION_SLACK_S:
        problems.append(f"duration {info.duration:.2f}s is longer than {preset.max_duration_s:g}s")
    if info.size_bytes >= preset.max_bytes:
        problems.append(f"file is {info.size_bytes / MB:.1f} MB, limit {preset.max_bytes / MB:.0f} MB")
    if preset.needs_faststart and info.faststart is not True:
        problems.append("moov atom is not at the front (needs -movflags +faststart)")
    if not info.has_audio:
        problems.append("no audio stream")
    elif info.audio_codec != preset.audio_codec:
        problems.append(f"audio codec is {info.audio_codec}, {preset.name} needs {preset.audio_codec}")
    elif info.sample_rate and info.sample_rate > 48000:
        problems.append(f"audio sample rate {info.sample_rate} Hz exceeds 48 kHz")
    return problems
