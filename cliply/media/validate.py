"""Decide whether a file is a processable source video, with a reason a person understands.

Reasons are shown to users as they are: plain words, no errno numbers, no file paths (a path would usually be a
temporary copy that means nothing to them)."""

from __future__ import annotations

from pathlib import Path

from cliply.errors import InputRejected
from cliply.media import decoding
from cliply.media.probe import UNKNOWN_CODEC, ProbeError, probe
from cliply.media.types import MediaInfo

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


def _decodes_a_frame(path: Path) -> bool:
    """Container headers can look fine while the stream is garbage; decoding one picture tells them apart.

    This, not a list of codec names, decides what is supported: whatever the bundled decoders read is accepted
    (clips are transcoded anyway), so old phone and Windows recordings work."""
    import av

    try:
        with av.open(str(path)) as container:
            for _ in decoding.frames(container, container.streams.video[0]):
                return True
    except (av.error.FFmpegError, IndexError, OSError, ValueError):
        return False
    return False


def _still_image(format_name: str) -> str | None:
    """The picture type when the demuxer reads image files (image2, png_pipe, jpeg_pipe…), else None."""
    if format_name == "image2":
        return "picture"
    return format_name.removesuffix("_pipe").upper() if format_name.endswith("_pipe") else None


def _probed(path: Path) -> MediaInfo:
    try:
        return probe(path)
    except ProbeError as exc:
        if _looks_like_media_container(path):
            raise InputRejected(
                "corrupt", "the video file is damaged or truncated: it starts like a video but cannot be read"
            ) from exc
        raise InputRejected(
            "not_a_video", "not a video: the file's contents are not a media format Cliply can read"
        ) from exc


def _check_picture(path: Path, info: MediaInfo) -> None:
    if not info.has_video:
        kind = "it has sound but no picture" if info.has_audio else "it has no video stream"
        raise InputRejected("not_a_video", f"not a video: {kind}")
    picture = _still_image(info.format_name)
    if picture:
        raise InputRejected("not_a_video", f"not a video: the file is a still image ({picture})")
    if info.video_codec == UNKNOWN_CODEC:
        raise InputRejected(
            "unsupported_codec",
            "the video is in a format Cliply's ffmpeg cannot decode; convert it to an H.264 MP4 first",
        )
    if not info.width or not info.height:
        raise InputRejected("corrupt", "the video stream has no picture size")
    if not _decodes_a_frame(path):
        raise InputRejected(
            "corrupt",
            f"the video file is damaged: its {info.video_codec} pictures could not be "
            "decoded (corrupt or truncated file)",
        )


def _check_duration(info: MediaInfo, max_duration_s: float | None) -> None:
    if info.duration < MIN_DURATION_S:
        need = f"at least {MIN_DURATION_S:.0f} s needed"
        raise InputRejected("too_short", f"the video lasts {info.duration:.2f} s; {need}")
    if max_duration_s is not None and info.duration > max_duration_s:
        raise InputRejected(
            "too_long",
            f"the video lasts {info.duration / 60:.1f} min; this workspace's plan allows {max_duration_s / 60:.0f} min",
        )


def inspect_source(path: Path, *, max_duration_s: float | None = None) -> MediaInfo:
    """Probe and validate a source file; raise InputRejected with a stable code when it cannot be used."""
    path = Path(path)
    if not path.is_file():
        raise InputRejected("missing", "the file does not exist")
    if path.stat().st_size == 0:
        raise InputRejected("empty", "the file is empty (0 bytes)")
    info = _probed(path)
    _check_picture(path, info)
    _check_duration(info, max_duration_s)
    return info
