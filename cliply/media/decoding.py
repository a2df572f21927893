"""Frame decoding that survives damaged packets, the way the ffmpeg command line does."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

log = logging.getLogger("cliply.media")


def frames(container: Any, stream: Any) -> Iterator[Any]:
    """Decoded frames of `stream`; a packet the decoder refuses is skipped rather than ending the whole decode.

    A few corrupt frames in the middle of a long recording are common (bad uploads, damaged cards); ffmpeg logs
    them and carries on, and every stage that decodes with PyAV must do the same to stay usable on such files.
    """
    import av

    skipped = 0
    for packet in container.demux(stream):
        try:
            decoded = packet.decode()
        except av.error.FFmpegError as exc:
            if isinstance(exc, MemoryError):
                raise
            skipped += 1
            continue
        yield from decoded
    if skipped:
        log.info("skipped %d undecodable %s packet(s)", skipped, stream.type)
