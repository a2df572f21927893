"""Guarded egress for one URL import: a local forward proxy that checks and pins the address of every connection.

yt-dlp and httpx follow redirects, embedded media URLs, manifests and fragments on their own, so checking the
first URL is not enough. Both are pointed at this proxy instead; for every plain-HTTP request and every HTTPS
CONNECT it resolves the host once, checks each address with `check_ip`, and connects to the checked address
itself, so neither a hostile hop nor a second DNS answer (rebinding) can reach a private network.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import selectors
import socket
import socketserver
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

from cliply.security.ssrf import BlockedURL, Resolver, check_ip

log = logging.getLogger(__name__)

Dial = Callable[[str, int, float], socket.socket]  # (checked IP, port, timeout) -> connected socket

CHUNK = 64 * 1024
MAX_HEAD_BYTES = 64 * 1024
# A CONNECT tunnel is opaque bytes, so its port is all that keeps it to HTTPS; any port would let a hostile page
# use the tunnel to talk to arbitrary public services (SMTP, databases). Plain HTTP is parsed and re-sent by the
# proxy itself, so the URL's explicit port is fine there.
CONNECT_PORTS = frozenset({443})
# Per-connection headers (RFC 9110 §7.6.1) plus Expect (we never relay 100-continue) and the proxy's own ones.
_HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-connection", "proxy-authorization", "proxy-authenticate",
    "te", "trailer", "upgrade", "expect", "host",
}  # fmt: skip


def dial_checked(ip: str, port: int, timeout: float) -> socket.socket:
    """Connect to an already checked IP literal: no name resolution happens here."""
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect((ip, port))
    except BaseException:
        sock.close()
        raise
    return sock


class GuardedEgress:
    """Context manager running the guarded proxy on 127.0.0.1 for one import; `url` is its proxy URL.

    `dial` exists so tests can let a loopback server play a public host; production dials the checked address.
    """

    def __init__(
        self,
        *,
        allow_private: bool = False,
        resolver: Resolver = socket.getaddrinfo,
        dial: Dial = dial_checked,
        timeout_s: float = 30.0,
        max_connections: int = 16,
    ) -> None:
        self.allow_private = allow_private
        self.resolver = resolver
        self.dial = dial
        self.timeout_s = timeout_s
        self.refused: list[tuple[str, str]] = []  # (host, reason) for every request the guard turned away
        self._lock = threading.Lock()
        self._server = _ProxyServer(self, max_connections)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> GuardedEgress:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name="cliply-egress", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.close_all(join_timeout=self.timeout_s)
        if self._thread is not None:
            self._thread.join(timeout=self.timeout_s)

    def raise_if_refused(self) -> None:
        """Raise BlockedURL naming the first refusal, so a failed download reports why it was blocked."""
        with self._lock:
            first = self.refused[0] if self.refused else None
        if first:
            raise BlockedURL(f"blocked: {first[1]}")

    def refuse(self, host: str, reason: str) -> None:
        with self._lock:
            self.refused.append((host, reason))

    def connect(self, host: str, port: int) -> socket.socket:
        """Resolve `host` once, check every address, and connect to the first checked one that answers.

        Raises BlockedURL (recorded in `refused`) for a forbidden target, OSError when nothing connects.
        """
        try:
            addresses = self._checked_addresses(host, port)
        except BlockedURL as exc:
            self.refuse(host, str(exc))
            raise
        error: OSError = OSError(f"no address to connect to for {host}")
        for ip in addresses:
            try:
                return self.dial(ip, port, self.timeout_s)
            except OSError as exc:
                error = exc
        raise error

    def _checked_addresses(self, host: str, port: int) -> list[str]:
        if _is_ip_literal(host):
            # An IP literal involves no DNS, so it is judged as written, whatever the resolver would say.
            return [check_ip(host, allow_private=self.allow_private)]
        try:
            infos = self.resolver(host, port, 0, socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            raise OSError(f"cannot resolve host {host!r}: {exc}") from exc
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))  # resolver order, no repeats
        if not addresses:
            raise OSError(f"host {host!r} resolved to no addresses")
        # Every answer must pass: which one a retry would pick is not ours to predict.
        return [check_ip(a, allow_private=self.allow_private) for a in addresses]


class _ProxyServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    block_on_close = False  # close_all joins with a bound instead

    def __init__(self, egress: GuardedEgress, max_connections: int) -> None:
        self.egress = egress
        self._slots = threading.BoundedSemaphore(max_connections)
        self._sockets: set[socket.socket] = set()
        self._workers: set[threading.Thread] = set()
        self._track = threading.Lock()
        super().__init__(("127.0.0.1", 0), _ProxyHandler)

    def track(self, sock: socket.socket) -> socket.socket:
        with self._track:
            self._sockets.add(sock)
        return sock

    def untrack(self, sock: socket.socket) -> None:
        with self._track:
            self._sockets.discard(sock)
        sock.close()

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            # Over the cap: answer at once rather than queue work nobody bounded.
            with contextlib.suppress(OSError):
                request.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            self.shutdown_request(request)
            return
        self.track(request)
        worker = threading.Thread(target=self._serve_one, args=(request, client_address), daemon=True)
        with self._track:
            self._workers.add(worker)
        worker.start()

    def _serve_one(self, request: socket.socket, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            with self._track:
                self._sockets.discard(request)
                self._workers.discard(threading.current_thread())
            self.shutdown_request(request)
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("egress connection from %s failed", client_address, exc_info=True)

    def close_all(self, join_timeout: float) -> None:
        """Close the listener and every open socket (which unblocks the workers), then wait for them."""
        self.server_close()
        with self._track:
            sockets, workers = list(self._sockets), list(self._workers)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        for worker in workers:
            worker.join(timeout=join_timeout)


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    rbufsize = 0  # unbuffered: bytes a client sends right after CONNECT must reach the tunnel, not a buffer
    server: _ProxyServer

    def setup(self) -> None:
        self.timeout = self.server.egress.timeout_s  # type: ignore[misc]  # per-connection socket timeout
        super().setup()

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("egress: " + format, *args)

    def do_CONNECT(self) -> None:
        self.close_connection = True
        host, port = _split_authority(self.path)
        egress = self.server.egress
        if not host or port is None:
            self._reply(400, "CONNECT needs host:port")
            return
        if port not in CONNECT_PORTS and not egress.allow_private:
            reason = f"CONNECT to port {port} is not allowed (HTTPS on port 443 only)"
            egress.refuse(host, reason)
            self._reply(403, reason)
            return
        upstream = self._open(host, port)
        if upstream is None:
            return
        try:
            self.connection.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            _tunnel(self.connection, upstream, egress.timeout_s)
        finally:
            self.server.untrack(upstream)

    def _forward(self) -> None:
        """Re-send one absolute-URI request to the checked address; the response is streamed back, then we close."""
        self.close_connection = True
        try:
            parts = urlsplit(self.path)
            port = parts.port or 80
        except ValueError:
            self._reply(400, "malformed request URL")
            return
        if parts.scheme.lower() != "http" or not parts.hostname:
            self._reply(400, "only absolute http:// URLs can be proxied (use CONNECT for https)")
            return
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self._reply(411, "chunked request bodies are not supported; send Content-Length")
            return
        raw_length = self.headers.get("Content-Length", "").strip() or "0"
        if not raw_length.isdigit():
            self._reply(400, "bad Content-Length")
            return
        upstream = self._open(parts.hostname, port)
        if upstream is None:
            return
        try:
            upstream.sendall(self._request_head(parts))
            _copy_exact(self.rfile, upstream, int(raw_length))
            _relay_response(upstream, self.connection, head_request=self.command == "HEAD")
        finally:
            self.server.untrack(upstream)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _forward

    def _open(self, host: str, port: int) -> socket.socket | None:
        try:
            return self.server.track(self.server.egress.connect(host, port))
        except BlockedURL as exc:
            self._reply(403, str(exc))
        except OSError as exc:
            self._reply(502, f"cannot connect to {host}:{port}: {exc}")
        return None

    def _request_head(self, parts: Any) -> bytes:
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        named_in_connection = {v.strip().lower() for v in self.headers.get("Connection", "").split(",")}
        lines = [f"{self.command} {target} HTTP/1.1", f"Host: {parts.netloc.rsplit('@', 1)[-1]}"]
        for name, value in self.headers.items():
            if name.lower() not in _HOP_BY_HOP and name.lower() not in named_in_connection:
                lines.append(f"{name}: {_one_line(value)}")
        lines.append("Connection: close")  # one request per upstream connection: the body ends at EOF
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")

    def _reply(self, status: int, reason: str) -> None:
        body = (reason + "\n").encode("utf-8", "replace")
        with contextlib.suppress(OSError):
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _one_line(value: str) -> str:
    return value.replace("\r", " ").replace("\n", " ")


def _split_authority(authority: str) -> tuple[str, int | None]:
    try:
        parts = urlsplit("//" + authority)
        return parts.hostname or "", parts.port
    except ValueError:
        return "", None


def _copy_exact(src: Any, dst: socket.socket, length: int) -> None:
    while length > 0:
        data = src.read(min(CHUNK, length))
        if not data:
            raise ConnectionError("client closed before sending the whole request body")
        dst.sendall(data)
        length -= len(data)


def _status(head: bytes) -> bytes:
    fields = head.split(b"\r\n", 1)[0].split(b" ", 2)
    return fields[1] if len(fields) > 1 else b""


def _read_head(sock: socket.socket, buf: bytes) -> tuple[bytes, bytes]:
    """Read up to the blank line ending a response head; returns (head, body bytes already received)."""
    while b"\r\n\r\n" not in buf:
        if len(buf) > MAX_HEAD_BYTES:
            raise ConnectionError("response head too large")
        data = sock.recv(CHUNK)
        if not data:
            raise ConnectionError("upstream closed before a complete response head")
        buf += data
    head, _, rest = buf.partition(b"\r\n\r\n")
    return head, rest


def _read_final_head(sock: socket.socket) -> tuple[bytes, bytes]:
    """Skip interim 1xx answers (e.g. 103 Early Hints): the client only needs the final response."""
    rest = b""
    for _ in range(5):
        head, rest = _read_head(sock, rest)
        if not _status(head).startswith(b"1"):
            return head, rest
    raise ConnectionError("too many interim responses")


def _relay_response(upstream: socket.socket, client: socket.socket, *, head_request: bool) -> None:
    head, rest = _read_final_head(upstream)
    lines = head.split(b"\r\n")
    kept, length, chunked = [lines[0]], None, False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        key = name.strip().lower()
        if key in (b"connection", b"keep-alive", b"proxy-connection"):
            continue
        if key == b"content-length" and value.strip().isdigit():
            length = int(value.strip())
        chunked = chunked or (key == b"transfer-encoding" and b"chunked" in value.lower())
        kept.append(line)
    kept.append(b"Connection: close")
    client.sendall(b"\r\n".join(kept) + b"\r\n\r\n")
    if head_request or _status(head) in (b"204", b"304"):
        return
    _copy_body(rest, upstream, client, None if chunked else length)  # unframed bodies run until upstream closes


def _copy_body(first: bytes, src: socket.socket, dst: socket.socket, limit: int | None) -> None:
    remaining = limit
    data = first
    while True:
        if remaining is not None:
            data = data[:remaining]
            remaining -= len(data)
        if data:
            dst.sendall(data)
        if remaining == 0:
            return
        data = src.recv(CHUNK)
        if not data:
            return


def _tunnel(a: socket.socket, b: socket.socket, idle_timeout: float) -> None:
    """Pump bytes both ways until either side closes or nothing moves for `idle_timeout` seconds."""
    peer = {a: b, b: a}
    with selectors.DefaultSelector() as sel:
        sel.register(a, selectors.EVENT_READ)
        sel.register(b, selectors.EVENT_READ)
        while True:
            ready = sel.select(idle_timeout)
            if not ready:
                return
            for key, _ in ready:
                data = key.fileobj.recv(CHUNK)  # type: ignore[union-attr]
                if not data:
                    return
                peer[key.fileobj].sendall(data)  # type: ignore[index]


# --- yt-dlp wiring -------------------------------------------------------------------------------------------------


def ytdlp_options(egress: GuardedEgress) -> dict[str, Any]:
    """YoutubeDL options that keep every yt-dlp connection on the egress.

    All request handlers yt-dlp may install honour `proxy`: urllib and requests (http, https, ftp) send through
    it, curl_cffi too when installed, and websockets accepts only SOCKS proxies, so with this one it refuses
    rather than connecting directly. Downloads stay on the native downloaders: ffmpeg, aria2c or curl would open
    their own connections.
    """
    return {"proxy": egress.url, "hls_prefer_native": True, "external_downloader": {"default": "native"}}


def native_downloads_only() -> Any:
    """A yt-dlp `before_dl` postprocessor refusing any format yt-dlp would hand to ffmpeg or another program.

    Live HLS, RTMP/RTSP and the like are downloaded by external programs whatever the options say.
    """
    from yt_dlp.downloader import get_suitable_downloader
    from yt_dlp.downloader.dash import DashSegmentsFD
    from yt_dlp.downloader.hls import HlsFD
    from yt_dlp.downloader.http import HttpFD
    from yt_dlp.postprocessor.common import PostProcessor
    from yt_dlp.utils import DownloadError

    native = (HttpFD, HlsFD, DashSegmentsFD)

    class NativeDownloadsOnly(PostProcessor):
        def run(self, info: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
            for fmt in info.get("requested_formats") or [info]:
                downloader = get_suitable_downloader(dict(fmt), self._downloader.params)
                if info.get("is_live") or downloader not in native:
                    # DownloadError, not PostProcessingError: yt-dlp defers the latter until after the download.
                    raise DownloadError(
                        f"format {fmt.get('format_id')} ({fmt.get('protocol')}) cannot be downloaded through the "
                        "SSRF guard (live streams and non-HTTP protocols are not supported)"
                    )
            return [], info

    return NativeDownloadsOnly()
