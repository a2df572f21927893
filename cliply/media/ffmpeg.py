"""One place that finds and runs ffmpeg (imageio-ffmpeg's static binary unless CLIPLY_FFMPEG is set)."""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path

from cliply.settings import Settings, prepend_to_path

ProgressCallback = Callable[[float], None]
_TIME_RE = re.compile(r"out_time_us=(\d+)")


class FFmpegError(RuntimeError):
    """ffmpeg exited non-zero; carries the tail of its log for a human."""

    def __init__(self, args: Sequence[str], returncode: int, log_tail: str) -> None:
        super().__init__(f"ffmpeg failed ({returncode}): {log_tail.strip()[-800:]}")
        self.args_list = list(args)
        self.returncode = returncode
        self.log_tail = log_tail


@cache
def ffmpeg_exe() -> str:
    configured = Settings.from_env().ffmpeg
    if configured:
        return configured
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def ensure_ffmpeg_on_path() -> str:
    """Expose the ffmpeg binary as `ffmpeg` on PATH (openai-whisper shells out to that name)."""
    exe = ffmpeg_exe()
    bin_dir = Path(tempfile.gettempdir()) / f"cliply-ffmpeg-bin-{os.getuid()}"
    link = bin_dir / "ffmpeg"
    if not link.exists():
        bin_dir.mkdir(parents=True, exist_ok=True)
        tmp = bin_dir / f".ffmpeg-{os.getpid()}"
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(exe)
        tmp.replace(link)
    prepend_to_path(bin_dir)
    return str(link)


def run_ffmpeg(
    args: Sequence[str],
    *,
    duration: float | None = None,
    progress: ProgressCallback | None = None,
    timeout: float | None = None,
) -> None:
    """Run ffmpeg with `args` (without the binary); report progress 0..1 when a duration is known."""
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-y", "-loglevel", "error"]
    if progress is not None and duration:
        cmd += ["-progress", "pipe:1", "-nostats"]
    cmd += list(args)
    if progress is None or not duration:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise FFmpegError(cmd, done.returncode, done.stderr)
        return
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        for line in proc.stdout:
            m = _TIME_RE.match(line.strip())
            if m:
                progress(min(1.0, int(m.group(1)) / 1e6 / duration))
        err = proc.stderr.read()
        rc = proc.wait(timeout=timeout)
    if rc != 0:
        raise FFmpegError(cmd, rc, err)
    progress(1.0)


def extract_audio(src: Path, dst: Path, *, sample_rate: int = 16000) -> Path:
    """Decode the first audio stream to mono PCM WAV (what both ASR engines and the energy analysis read)."""
    run_ffmpeg(
        ["-i", str(src), "-vn", "-map", "0:a:0", "-ac", "1", "-ar", str(sample_rate), "-c:a", "pcm_s16le", str(dst)]
    )
    return dst
