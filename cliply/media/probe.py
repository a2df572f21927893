"""Read container metadata with PyAV (milliseconds, no ffprobe binary needed)."""

from __future__ import annotations

from pathlib import Path

from cliply.media.types import MediaInfo


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
        duration = float(container.duration) / 1e6 if container.duration else 0.0
        if not duration:
            for s in (v, a):
                if s is not None and s.duration and s.time_base:
                    duration = max(duration, float(s.duration * s.time_base))
        fps = None
        if v is not None:
            rate = v.average_rate or v.guessed_rate
            fps = float(rate) if rate else None
        fmt = container.format.name if container.format else ""
        return MediaInfo(
            duration=duration,
            format_name=fmt,
            size_bytes=path.stat().st_size,
            video_codec=v.codec_context.name if v is not None else None,
            width=v.codec_context.width if v is not None else None,
            height=v.codec_context.height if v is not None else None,
            fps=fps,
            pix_fmt=(v.codec_context.pix_fmt if v is not None else None),
            audio_codec=a.codec_context.name if a is not None else None,
            sample_rate=a.codec_context.sample_rate if a is not None else None,
            channels=a.codec_context.channels if a is not None else None,
            bit_rate=int(container.bit_rate) if container.bit_rate else None,
            faststart=_has_faststart(path) if "mp4" in fmt or "mov" in fmt else None,
        )
