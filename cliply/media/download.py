"""URL imports: direct media links streamed with httpx, everything else via yt-dlp, both through a guarded egress.

The egress (cliply.security.egress) checks and pins the address of every connection either makes, including
redirects and embedded media; `check_url` on each httpx hop only gives earlier, friendlier errors.
"""

from __future__ import annotations

import contextlib
import mimetypes
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

import httpx

from cliply.security.egress import Dial, GuardedEgress, dial_checked, native_downloads_only, ytdlp_options
from cliply.security.filenames import safe_filename
from cliply.security.ssrf import Resolver, check_url

MEDIA_EXTENSIONS = {
    ".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".flv", ".wmv", ".3gp",
    ".mp3", ".m4a", ".aac", ".wav", ".flac", ".ogg", ".opus",
}  # fmt: skip
DEFAULT_MAX_BYTES = 4 * 1024**3
MAX_REDIRECTS = 5
CHUNK = 1024 * 1024
# Best mp4 up to 1080p when the site has one, else the best stream up to 1080p, else whatever exists.
YTDLP_FORMAT = (
    "bv*[height<=1080][ext=mp4]+ba[ext=m4a]/b[height<=1080][ext=mp4]/bv*[height<=1080]+ba/b[height<=1080]/bv*+ba/b"
)

Progress = Callable[[int, int | None], None]  # (bytes so far, total if known)


class DownloadError(RuntimeError):
    """A URL import failed; `reason` is a message fit to show the user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _is_media_path(url: str) -> bool:
    return Path(unquote(urlsplit(url).path)).suffix.lower() in MEDIA_EXTENSIONS


def _is_media_type(content_type: str | None) -> bool:
    main = (content_type or "").split(";", 1)[0].strip().lower()
    return main.startswith(("video/", "audio/"))


def _unique_path(dest_dir: Path, name: str) -> Path:
    path = dest_dir / name
    stem, suffix = path.stem, path.suffix
    n = 1
    while path.exists():
        path = dest_dir / f"{stem}-{n}{suffix}"
        n += 1
    return path


def _filename_for(url: str, response: httpx.Response) -> str:
    raw = ""
    disposition = response.headers.get("content-disposition", "")
    match = re.search(r"filename\*?=(?:UTF-8'')?\"?([^\";]+)", disposition, re.IGNORECASE)
    if match:
        raw = unquote(match.group(1))
    if not raw:
        raw = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
    name = safe_filename(raw, default="download")
    if Path(name).suffix.lower() not in MEDIA_EXTENSIONS:
        guessed = mimetypes.guess_extension(response.headers.get("content-type", "").split(";", 1)[0].strip())
        name = safe_filename(Path(name).stem + (guessed or ".mp4"), default="download")
    return name


class _Guard:
    """SSRF policy for one download: an early check of each URL, enforced by the egress every request goes through."""

    def __init__(self, allow_private: bool, resolver: Resolver, egress: GuardedEgress) -> None:
        self.allow_private = allow_private
        self.resolver = resolver
        self.egress = egress

    def check(self, url: str) -> None:
        check_url(url, allow_private=self.allow_private, resolver=self.resolver)

    def send(self, client: httpx.Client, method: str, url: str) -> httpx.Response:
        """Send through the egress; its refusal (a 403 or a failed CONNECT) becomes BlockedURL with the reason."""
        try:
            response = client.send(client.build_request(method, url), stream=True, follow_redirects=False)
        except httpx.ProxyError:
            self.egress.raise_if_refused()
            raise
        if self.egress.refused:
            response.close()
            self.egress.raise_if_refused()
        return response


def _open_following_redirects(client: httpx.Client, method: str, url: str, guard: _Guard) -> tuple[httpx.Response, str]:
    """Send `method`, following redirects by hand so every hop passes the SSRF check. Caller closes the response."""
    for _ in range(MAX_REDIRECTS + 1):
        guard.check(url)
        response = guard.send(client, method, url)
        if not response.is_redirect:
            return response, url
        location = response.headers.get("location", "")
        response.close()
        if not location:
            raise DownloadError(f"redirect from {url} has no Location header")
        url = urljoin(url, location)
    raise DownloadError(f"too many redirects (more than {MAX_REDIRECTS})")


def _stream_direct(
    client: httpx.Client, url: str, dest_dir: Path, guard: _Guard, max_bytes: int, progress: Progress | None
) -> Path:
    response, final_url = _open_following_redirects(client, "GET", url, guard)
    with contextlib.closing(response):
        if response.status_code >= 400:
            raise DownloadError(f"the server answered {response.status_code} {response.reason_phrase} for {final_url}")
        if response.headers.get("content-type", "").lower().startswith("text/html"):
            raise DownloadError(f"{final_url} returned a web page, not a media file")
        total = (
            int(response.headers["content-length"]) if response.headers.get("content-length", "").isdigit() else None
        )
        if total is not None and total > max_bytes:
            raise DownloadError(f"the file is {total} bytes, over the {max_bytes}-byte import limit")
        name = _filename_for(final_url, response)
        fd, tmp = tempfile.mkstemp(prefix=".download-", suffix=".part", dir=dest_dir)
        try:
            done = 0
            with os.fdopen(fd, "wb") as fh:
                for chunk in response.iter_bytes(CHUNK):
                    done += len(chunk)
                    if done > max_bytes:
                        raise DownloadError(f"the download exceeded the {max_bytes}-byte import limit")
                    fh.write(chunk)
                    if progress:
                        progress(done, total)
            if done == 0:
                raise DownloadError(f"{final_url} returned an empty file")
            dest = _unique_path(dest_dir, name)
            os.replace(tmp, dest)
            return dest
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)


def _looks_direct(client: httpx.Client, url: str, guard: _Guard) -> bool:
    if _is_media_path(url):
        return True
    try:
        response, _ = _open_following_redirects(client, "HEAD", url, guard)
    except httpx.HTTPError:
        return False  # many sites reject HEAD; let yt-dlp try
    with contextlib.closing(response):
        return response.status_code < 400 and _is_media_type(response.headers.get("content-type"))


def _ytdlp(
    url: str, dest_dir: Path, max_bytes: int, progress: Progress | None, timeout_s: float, egress: GuardedEgress
) -> Path:
    import yt_dlp
    from yt_dlp.utils import DownloadError as YtDlpDownloadError

    from cliply.media.ffmpeg import ffmpeg_exe

    def hook(d: dict[str, Any]) -> None:
        done = int(d.get("downloaded_bytes") or 0)
        total = d.get("total_bytes") or d.get("total_bytes_estimate")
        if done > max_bytes:  # max_filesize only helps when the size is announced up front
            raise YtDlpDownloadError(f"the download exceeded the {max_bytes}-byte import limit")
        if progress and d.get("status") == "downloading":
            progress(done, int(total) if total else None)

    # A private work folder: part files, fragments and leftovers vanish with it whatever happens.
    work = Path(tempfile.mkdtemp(prefix=".ytdlp-", dir=dest_dir))
    opts: dict[str, Any] = {
        "outtmpl": {"default": str(work / "%(title).80B [%(id)s].%(ext)s")},
        "noplaylist": True,
        "format": YTDLP_FORMAT,
        "merge_output_format": "mp4",
        "max_filesize": max_bytes,
        "ffmpeg_location": ffmpeg_exe(),
        "progress_hooks": [hook],
        "quiet": True,
        "no_warnings": True,
        "noprogress": True,
        "socket_timeout": timeout_s,
        "retries": 3,
        "overwrites": True,
        "color": {"stderr": "no_color", "stdout": "no_color"},
        **ytdlp_options(egress),  # every request, redirect, embedded video and fragment goes through the egress
    }
    try:
        with yt_dlp.YoutubeDL(opts) as ydl:
            ydl.add_post_processor(native_downloads_only(), when="before_dl")
            info = ydl.extract_info(url, download=True)
        if info is None:
            raise DownloadError(f"nothing could be downloaded from {url}")
        produced = [p for p in work.iterdir() if p.is_file() and p.suffix.lower() in MEDIA_EXTENSIONS]
        if not produced:
            raise DownloadError(f"{url} has no downloadable video within the {max_bytes}-byte limit")
        best = max(produced, key=lambda p: p.stat().st_size)
        dest = _unique_path(dest_dir, safe_filename(best.name, default="download"))
        os.replace(best, dest)
        return dest
    except YtDlpDownloadError as exc:
        egress.raise_if_refused()  # a hop the egress refused: say so, not "HTTP Error 403"
        message = re.sub(r"^ERROR:\s*", "", str(exc)).strip()
        raise DownloadError(f"could not download {url}: {message}") from exc
    finally:
        shutil.rmtree(work, ignore_errors=True)


def download_url(
    url: str,
    dest_dir: Path,
    *,
    allow_private: bool = False,
    max_bytes: int = DEFAULT_MAX_BYTES,
    progress: Progress | None = None,
    resolver: Resolver = socket.getaddrinfo,
    verify_peer: bool = True,
    timeout_s: float = 30.0,
    dial: Dial = dial_checked,
) -> Path:
    """Download `url` into `dest_dir` and return the file. Raises BlockedURL (SSRF) or DownloadError.

    `resolver` answers for every host, both for the early URL checks and in the egress, which connects to the
    address it checked (so DNS rebinding cannot move a connection). `verify_peer` is kept for callers and no
    longer does anything: that pinning replaced the after-the-fact peer check. `dial` is a test hook letting a
    loopback server play a public host.
    """
    del verify_peer
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    with GuardedEgress(allow_private=allow_private, resolver=resolver, dial=dial, timeout_s=timeout_s) as egress:
        guard = _Guard(allow_private, resolver, egress)
        guard.check(url)
        # trust_env=False: only the egress may be the proxy.
        client = httpx.Client(
            proxy=egress.url, timeout=timeout_s, trust_env=False, headers={"User-Agent": "cliply/0.1"}
        )
        with client:
            try:
                if _looks_direct(client, url, guard):
                    return _stream_direct(client, url, dest_dir, guard, max_bytes, progress)
            except httpx.HTTPError as exc:
                egress.raise_if_refused()
                raise DownloadError(f"could not download {url}: {exc.__class__.__name__}: {exc}") from exc
        return _ytdlp(url, dest_dir, max_bytes, progress, timeout_s, egress)
