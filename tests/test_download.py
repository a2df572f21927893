"""URL imports against a real HTTP server on 127.0.0.1 (SSRF guard on, then explicitly relaxed)."""

from __future__ import annotations

import hashlib
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from cliply.media.download import DownloadError, download_url
from cliply.security.ssrf import BlockedURL
from tests.fixtures.media import COCKATOO

VIDEO = COCKATOO.read_bytes() if COCKATOO.exists() else b""


class _Handler(BaseHTTPRequestHandler):
    timeout = 10  # a stuck client cannot hold a handler thread forever
    seen: list[str]  # set per server

    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    def _send(self, status: int, body: bytes, content_type: str, *, length: bool = True, head: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        if length:
            self.send_header("Content-Length", str(len(body)))
        else:
            self.send_header("Connection", "close")
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _route(self, head: bool) -> None:
        self.server.seen.append(f"{self.command} {self.path}")  # type: ignore[attr-defined]
        port = self.server.server_address[1]
        path = self.path.split("?", 1)[0]
        if path == "/cockatoo.mp4":
            self._send(200, VIDEO, "video/mp4", head=head)
        elif path == "/stream.mp4":  # no Content-Length: the size is only known by reading
            self._send(200, VIDEO, "video/mp4", length=False, head=head)
        elif path == "/watch":  # no media extension, but the server says it is video
            self._send(200, VIDEO, "video/mp4", head=head)
        elif path in ("/to-localhost", "/to-localhost.mp4"):
            self.send_response(302)
            self.send_header("Location", f"http://localhost:{port}/cockatoo.mp4")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif path == "/loop.mp4":
            self.send_response(301)
            self.send_header("Location", "/loop.mp4")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif path == "/page":
            html = b'<html><head><title>Cockatoo</title></head><body><video src="/cockatoo.mp4"></video></body></html>'
            self._send(200, html, "text/html; charset=utf-8", head=head)
        elif path == "/empty-page":
            self._send(200, b"<html><body>nothing here</body></html>", "text/html", head=head)
        else:
            self._send(404, b"not found", "text/plain", head=head)

    def do_GET(self) -> None:
        self._route(head=False)

    def do_HEAD(self) -> None:
        self._route(head=True)


@pytest.fixture(scope="module")
def media_server() -> Iterator[tuple[str, list[str]]]:
    if not VIDEO:
        pytest.fail(f"shared test video missing: {COCKATOO}")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.seen = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server.seen  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def lying_resolver(host, port, *args):
    """Claims 127.0.0.1 is a public address (as a hostile DNS could); every other name resolves for real."""
    if host == "127.0.0.1":
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port))]
    return socket.getaddrinfo(host, port, *args)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _leftovers(dest: Path) -> list[str]:
    return sorted(p.name for p in dest.iterdir())


def test_private_target_blocked_by_default(media_server, tmp_path: Path) -> None:
    base, seen = media_server
    before = len(seen)
    with pytest.raises(BlockedURL, match=r"127\.0\.0\.1"):
        download_url(f"{base}/cockatoo.mp4", tmp_path)
    assert len(seen) == before  # refused before any request was sent
    assert _leftovers(tmp_path) == []


def test_direct_download_when_private_allowed(media_server, tmp_path: Path) -> None:
    base, _ = media_server
    calls: list[tuple[int, int | None]] = []
    out = download_url(f"{base}/cockatoo.mp4", tmp_path, allow_private=True, progress=lambda d, t: calls.append((d, t)))
    assert out.parent == tmp_path and out.name == "cockatoo.mp4"
    assert _sha(out.read_bytes()) == _sha(VIDEO)
    assert calls and calls[-1] == (len(VIDEO), len(VIDEO))
    again = download_url(f"{base}/cockatoo.mp4", tmp_path, allow_private=True)
    assert again.name == "cockatoo-1.mp4"  # never overwrites an earlier import
    assert _leftovers(tmp_path) == ["cockatoo-1.mp4", "cockatoo.mp4"]


def test_video_content_type_without_extension(media_server, tmp_path: Path) -> None:
    base, _ = media_server
    out = download_url(f"{base}/watch", tmp_path, allow_private=True)
    assert out.suffix == ".mp4" and _sha(out.read_bytes()) == _sha(VIDEO)


def test_redirect_to_private_address_is_blocked(media_server, tmp_path: Path) -> None:
    base, seen = media_server
    # The first hop passes only because the fake resolver calls it public; the redirect target resolves for
    # real to loopback and must be refused. verify_peer is off since the socket really goes to 127.0.0.1.
    for path in ("/to-localhost.mp4", "/to-localhost"):
        before = len(seen)
        with pytest.raises(BlockedURL, match=r"127\.0\.0\.1|::1"):
            download_url(f"{base}{path}", tmp_path, resolver=lying_resolver, verify_peer=False)
        assert not any("/cockatoo.mp4" in s for s in seen[before:])  # the private hop was never requested
    assert _leftovers(tmp_path) == []
    # With private targets allowed, the same redirect is followed to the file.
    out = download_url(f"{base}/to-localhost.mp4", tmp_path, allow_private=True)
    assert _sha(out.read_bytes()) == _sha(VIDEO)


def test_peer_check_catches_lying_dns(media_server, tmp_path: Path) -> None:
    base, _ = media_server
    # DNS said "public" but the socket connected to loopback (rebinding): refused before the body is read.
    with pytest.raises(BlockedURL, match=r"127\.0\.0\.1"):
        download_url(f"{base}/cockatoo.mp4", tmp_path, resolver=lying_resolver)
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("path", ["/cockatoo.mp4", "/stream.mp4"])
def test_max_bytes_enforced(media_server, tmp_path: Path, path: str) -> None:
    base, _ = media_server
    with pytest.raises(DownloadError, match="limit"):
        download_url(f"{base}{path}", tmp_path, allow_private=True, max_bytes=len(VIDEO) - 1)
    assert _leftovers(tmp_path) == []  # no partial file left behind
    out = download_url(f"{base}{path}", tmp_path, allow_private=True, max_bytes=len(VIDEO))
    assert out.stat().st_size == len(VIDEO)


def test_404_gives_clear_error(media_server, tmp_path: Path) -> None:
    base, _ = media_server
    with pytest.raises(DownloadError, match="404") as info:
        download_url(f"{base}/missing.mp4", tmp_path, allow_private=True)
    assert "404" in info.value.reason
    assert _leftovers(tmp_path) == []


def test_redirect_loop(media_server, tmp_path: Path) -> None:
    base, _ = media_server
    with pytest.raises(DownloadError, match="too many redirects"):
        download_url(f"{base}/loop.mp4", tmp_path, allow_private=True)


def test_non_http_urls_refused(tmp_path: Path) -> None:
    for url in ("file:///etc/passwd", "ftp://example.com/x.mp4"):
        with pytest.raises(BlockedURL):
            download_url(url, tmp_path)


def test_page_goes_through_ytdlp(media_server, tmp_path: Path) -> None:
    base, _ = media_server
    # Not a media URL: yt-dlp's generic extractor finds the <video> in the page.
    out = download_url(f"{base}/page", tmp_path, allow_private=True)
    assert out.parent == tmp_path and out.suffix == ".mp4"
    assert _sha(out.read_bytes()) == _sha(VIDEO)
    assert _leftovers(tmp_path) == [out.name]  # yt-dlp's work folder is gone


def test_page_without_video_gives_download_error(media_server, tmp_path: Path) -> None:
    base, _ = media_server
    with pytest.raises(DownloadError, match="could not download"):
        download_url(f"{base}/empty-page", tmp_path, allow_private=True)
    assert _leftovers(tmp_path) == []
    with pytest.raises(BlockedURL):
        download_url(f"{base}/page", tmp_path)  # yt-dlp path is guarded too


def test_ytdlp_respects_max_bytes(media_server, tmp_path: Path) -> None:
    base, _ = media_server
    with pytest.raises(DownloadError, match="limit"):
        download_url(f"{base}/page", tmp_path, allow_private=True, max_bytes=len(VIDEO) // 2)
    assert _leftovers(tmp_path) == []
