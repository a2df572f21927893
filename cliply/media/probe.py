"""Read container metadata with PyAV (milliseconds, no ffprobe binary needed)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from cliply.media.types import MediaInfo

# Codec name of a stream the bundled decoders cannot read (its container still parses).
UNKNOWN_CODEC = "unknown"
# How long a probe may demux a file that has no duration in its header.
SCAN_BUDGET_S = 20.0


class ProbeError(ValueError):
    """The file cannot be opened as media at all."""


def _has_faststart(path: Path) -> bool | None:
    """True when the MP4 `moov` atom precedes `mdat` (needed for progressive playback and many APIs)."""
    try:
        with path.open("rb") as fh:
            offset = 0
            size = path.stat().st_size
            while offset < size:
                fh.seek(offset)
                header = fh.read(16)
                if len(header) < 8:
                    return None
                box_size = int.from_bytes(header[:4], "big")
                box_type = header[4:8]
                if box_type == b"moov":
                    return True
                if box_type == b"mdat":
                    return False
                if box_size == 1:
                    box_size = int.from_bytes(header[8:16], "big")
                if box_size < 8:
                    return None
                offset += box_size
    except OSError:
        return None
    return None


def _codec(stream: Any) -> str | None:
    """The decoder's name; a stream this build has no decoder for still counts, as UNKNOWN_CODEC."""
    if stream is None:
        return None
    ctx = stream.codec_context
    return ctx.name if ctx is not None else UNKNOWN_CODEC


def _ctx(stream: Any, attr: str) -> Any:
    ctx = stream.codec_context if stream is not None else None
    return getattr(ctx, attr) if ctx is not None else None


def _header_duration(container: Any, streams: tuple[Any, ...]) -> float:
    if container.duration:
        return float(container.duration) / 1e6
    lengths = [float(s.duration * s.time_base) for s in streams if s is not None and s.duration and s.time_base]
    return max(lengths, default=0.0)


def scan_duration(path: Path, *, budget_s: float = SCAN_BUDGET_S) -> float:
    """The last packet's end time, read by demuxing (no decoding).

    Live recordings (browser MediaRecorder WebM, streamed MKV) carry no duration in their header. Demuxing is
    I/O-bound and fast; the time budget keeps a huge file from stalling a probe, and then what was seen so far is a
    lower bound of the true duration."""
    import av

    deadline = time.monotonic() + budget_s
    end = 0.0
    with av.open(str(path)) as container:
        for n, packet in enumerate(container.demux()):
            if packet.pts is not None and packet.time_base:
                end = max(end, float((packet.pts + (packet.duration or 0)) * packet.time_base))
            if n % 1000 == 999 and time.monotonic() > deadline:
                break
    return end


def probe(path: Path) -> MediaInfo:
    import av

    path = Path(path)
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise ProbeError(f"not a readable media file: {exc}") from exc
    with container:
        v = next(iter(container.streams.video), None)
        a = next(iter(container.streams.audio), None)
        duration = _header_duration(container, (v, a))
        rate = (v.average_rate or v.guessed_rate) if v is not None else None
        fmt = container.format.name if container.format else ""
        bit_rate = int(container.bit_rate) if container.bit_rate else None
    if not duration:
        duration = scan_duration(path)
    return MediaInfo(
        duration=duration,
        format_name=fmt,
        size_bytes=path.stat().st_size,
        video_codec=_codec(v),
        width=_ctx(v, "width"),
        height=_ctx(v, "height"),
        fps=float(rate) if rate else None,
        pix_fmt=_ctx(v, "pix_fmt"),
        audio_codec=_codec(a),
        sample_rate=_ctx(a, "sample_rate"),
        channels=_ctx(a, "channels"),
        bit_rate=bit_rate,
        faststart=_has_faststart(path) if "mp4" in fmt or "mov" in fmt else None,
    )
