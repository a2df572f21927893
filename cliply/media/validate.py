"""Decide whether a file is a processable source video, with a reason a person understands."""

from __future__ import annotations

from pathlib import Path

from cliply.errors import InputRejected
from cliply.media.probe import ProbeError, probe
from cliply.media.types import MediaInfo

# Codecs the bundled ffmpeg decodes reliably; anything else is refused up front rather than failing mid-render.
SUPPORTED_VIDEO_CODECS = frozenset(
    {"h264", "hevc", "vp8", "vp9", "av1", "mpeg4", "mpeg2video", "mjpeg", "prores", "dnxhd", "theora", "libdav1d"}
)
MIN_DURATION_S = 1.0


def _looks_like_media_container(path: Path) -> bool:
    """Magic bytes of common containers: a file that has them but will not open is corrupt, not a non-video."""
    with path.open("rb") as fh:
        head = fh.read(16)
    return (
        head[4:8] in {b"ftyp", b"moov", b"mdat", b"free", b"wide"}
        or head.startswith((b"\x1a\x45\xdf\xa3", b"RIFF", b"OggS", b"FLV", b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3"))
        or head[:1] == b"\x47"  # MPEG-TS sync byte
    )


def _decodes_first_frame(path: Path) -> bool:
    """Container headers can look fine while the stream is garbage; decoding one frame tells them apart."""
    import av

    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            for _ in container.decode(stream):
                return True
    except (av.error.FFmpegError, IndexError, OSError, ValueError):
        return False
    return False


def inspect_source(path: Path, *, max_duration_s: float | None = None) -> MediaInfo:
    """Probe and validate a source file; raise InputRejected with a stable code when it cannot be used."""
    path = Path(path)
    if not path.is_file():
        raise InputRejected("missing", "the file does not exist")
    if path.stat().st_size == 0:
        raise InputRejected("empty", "the file is empty (0 bytes)")
    try:
        info = probe(path)
    except ProbeError as exc:
        if _looks_like_media_container(path):
            raise InputRejected("corrupt", f"the video file is damaged or truncated ({exc})") from exc
        raise InputRejected("not_a_video", f"the file is not a video ({exc})") from exc
    if not info.has_video:
        kind = "an audio-only file" if info.has_audio else "not a video"
        raise InputRejected("not_a_video", f"the file is {kind}; a video stream is required")
    if info.video_codec not in SUPPORTED_VIDEO_CODECS:
        raise InputRejected(
            "unsupported_codec",
            f"video codec '{info.video_codec}' is not supported; use one of {', '.join(sorted(SUPPORTED_VIDEO_CODECS))}",  # noqa: E501
        )
    if not info.width or not info.height:
        raise InputRejected("corrupt", "the video stream has no picture size")
    if not _decodes_first_frame(path):
        raise InputRejected("corrupt", "the video stream could not be decoded (corrupt or truncated file)")
    if info.duration < MIN_DURATION_S:
        need = f"at least {MIN_DURATION_S:.0f} s needed"
        raise InputRejected("too_short", f"the video lasts {info.duration:.2f} s; {need}")
    if max_duration_s is not None and info.duration > max_duration_s:
        raise InputRejected(
            "too_long",
            f"the video lasts {info.duration / 60:.1f} min; this workspace's plan allows {max_duration_s / 60:.0f} min",
        )
    return info
