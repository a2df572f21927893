"""The guarded egress checks every hop (redirects, embedded media, CONNECT tunnels), not just the first URL.

A loopback server plays the public host `public.test`: the test resolver answers a public address for it and the
egress's dial hook maps that address to the server's port. A second loopback server plays an internal service and
logs every request it gets, so "never fetched" is checked where it matters.
"""

from __future__ import annotations

import hashlib
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from cliply.media.download import DownloadError, download_url
from cliply.security.egress import GuardedEgress, dial_checked
from cliply.security.ssrf import BlockedURL
from tests.fixtures.http_media import VIDEO

PUBLIC_IP = "93.184.216.34"
pytestmark = pytest.mark.timeout(120)


class _Handler(BaseHTTPRequestHandler):
    timeout = 10

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, status: int, body: bytes = b"", content_type: str = "text/plain", **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self) -> None:
        self.server.seen.append(f"{self.command} {self.path}")  # type: ignore[attr-defined]
        self.server.route(self)  # type: ignore[attr-defined]

    do_HEAD = do_GET


def _page(video_src: str) -> bytes:
    return f'<html><head><title>Clip</title></head><body><video src="{video_src}"></video></body></html>'.encode()


def _public_routes(internal: str):
    def route(h: _Handler) -> None:
        path = h.path.split("?", 1)[0]
        if path == "/clip.mp4":  # a media link that redirects inside the network
            h._send(302, Location=f"{internal}/secret.mp4")
        elif path == "/redirect-page":  # looks like a page to HEAD, redirects inside the network on GET
            if h.command == "HEAD":
                h._send(200, content_type="text/html")
            else:
                h._send(302, Location=f"{internal}/secret")
        elif path == "/embed-internal":
            h._send(200, _page(f"{internal}/secret.mp4"), "text/html")
        elif path == "/embed-metadata":
            h._send(200, _page("http://169.254.169.254/latest/meta-data"), "text/html")
        elif path == "/embed-public":
            h._send(200, _page("http://public.test/video.mp4"), "text/html")
        elif path == "/embed-rtmp":
            h._send(200, _page("rtmp://public.test/live/stream"), "text/html")
        elif path == "/video.mp4":
            h._send(200, VIDEO, "video/mp4")
        elif path == "/hello":
            h._send(200, b"hello from the public host")
        else:
            h._send(404, b"not found")

    return route


def _internal_route(h: _Handler) -> None:
    h._send(200, b"internal secret", "video/mp4" if h.path.endswith(".mp4") else "text/plain")


@dataclass
class Net:
    public_port: int
    internal_port: int
    internal_seen: list[str]
    dials: list[tuple[str, int]] = field(default_factory=list)
    resolves: list[str] = field(default_factory=list)

    @property
    def internal(self) -> str:
        return f"http://127.0.0.1:{self.internal_port}"

    def resolver(self, host, port, *args):
        """public.test is a public address; everything else resolves for real (127.0.0.1 stays loopback)."""
        self.resolves.append(host)
        if host == "public.test":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (PUBLIC_IP, port))]
        return socket.getaddrinfo(host, port, *args)

    def dial(self, ip: str, port: int, timeout: float) -> socket.socket:
        """Test-only: the public address of public.test (ports 80 and 443) is the loopback public server."""
        self.dials.append((ip, port))
        if ip == PUBLIC_IP:
            return dial_checked("127.0.0.1", self.public_port, timeout)
        return dial_checked(ip, port, timeout)


def _serve(route) -> tuple[ThreadingHTTPServer, threading.Thread]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.seen = []  # type: ignore[attr-defined]
    server.route = route  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    return server, thread


@pytest.fixture
def net() -> Iterator[Net]:
    internal, t1 = _serve(_internal_route)
    internal_port = internal.server_address[1]
    public, t2 = _serve(_public_routes(f"http://127.0.0.1:{internal_port}"))
    try:
        yield Net(public.server_address[1], internal_port, internal.seen)  # type: ignore[attr-defined]
    finally:
        for server, thread in ((public, t2), (internal, t1)):
            server.shutdown()
            server.server_close()
            thread.join(timeout=10)


def _download(net: Net, url: str, dest: Path, **kwargs) -> Path:
    return download_url(url, dest, resolver=net.resolver, dial=net.dial, timeout_s=10, **kwargs)


def _egress(net: Net, **kwargs) -> GuardedEgress:
    return GuardedEgress(resolver=net.resolver, dial=net.dial, timeout_s=10, **kwargs)


def _connect(egress: GuardedEgress, authority: str) -> tuple[bytes, socket.socket]:
    """Send CONNECT to the egress; returns the response head and the open socket (caller closes)."""
    port = int(egress.url.rsplit(":", 1)[1])
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head and len(head) < 65536:
        data = sock.recv(4096)
        if not data:
            break
        head += data
    return head, sock


# (a) redirects into the network


def test_egress_refuses_a_redirect_into_the_network(net: Net) -> None:
    with _egress(net) as egress, httpx.Client(proxy=egress.url, trust_env=False, follow_redirects=True) as client:
        response = client.get("http://public.test/clip.mp4")
    assert response.status_code == 403 and "127.0.0.1" in response.text
    assert egress.refused and egress.refused[0][0] == "127.0.0.1"
    assert net.internal_seen == []


def test_direct_download_redirect_into_the_network_is_blocked(net: Net, tmp_path: Path) -> None:
    with pytest.raises(BlockedURL, match=r"127\.0\.0\.1"):
        _download(net, "http://public.test/clip.mp4", tmp_path)
    assert net.internal_seen == []
    assert list(tmp_path.iterdir()) == []


def test_ytdlp_redirect_into_the_network_is_blocked(net: Net, tmp_path: Path) -> None:
    with pytest.raises(BlockedURL, match=r"^blocked: 127\.0\.0\.1"):
        _download(net, "http://public.test/redirect-page", tmp_path)
    assert net.internal_seen == []
    assert list(tmp_path.iterdir()) == []


# (b), (c) embedded media pointing inside the network


def test_ytdlp_embedded_internal_video_is_blocked(net: Net, tmp_path: Path) -> None:
    with pytest.raises(BlockedURL, match=r"^blocked: 127\.0\.0\.1"):
        _download(net, "http://public.test/embed-internal", tmp_path)
    assert net.internal_seen == []
    assert list(tmp_path.iterdir()) == []


def test_ytdlp_embedded_metadata_address_is_blocked_without_connecting(net: Net, tmp_path: Path) -> None:
    with pytest.raises(BlockedURL, match=r"169\.254\.169\.254"):
        _download(net, "http://public.test/embed-metadata", tmp_path)
    assert net.dials and all(ip == PUBLIC_IP for ip, _ in net.dials)  # no connection attempt to 169.254.x


def test_ytdlp_never_hands_a_download_to_an_external_program(net: Net, tmp_path: Path) -> None:
    # rtmpdump/ffmpeg would open their own sockets, out of the egress's sight: refused before they start.
    with pytest.raises(DownloadError, match="cannot be downloaded through the SSRF guard"):
        _download(net, "http://public.test/embed-rtmp", tmp_path)
    assert list(tmp_path.iterdir()) == []


# (d) the guard still lets public media through


def test_ytdlp_embedded_public_video_downloads(net: Net, tmp_path: Path) -> None:
    out = _download(net, "http://public.test/embed-public", tmp_path)
    assert hashlib.sha256(out.read_bytes()).digest() == hashlib.sha256(VIDEO).digest()
    assert [p.name for p in tmp_path.iterdir()] == [out.name]
    assert set(net.dials) == {(PUBLIC_IP, 80)} and net.internal_seen == []


def test_direct_public_video_downloads(net: Net, tmp_path: Path) -> None:
    out = _download(net, "http://public.test/video.mp4", tmp_path)
    assert out.name == "video.mp4" and out.read_bytes() == VIDEO


# (e) CONNECT tunnels


@pytest.mark.parametrize("target", ["127.0.0.1:443", "10.0.0.1:443", "169.254.169.254:443", "[::1]:443"])
def test_connect_to_a_private_address_is_refused(net: Net, target: str) -> None:
    with _egress(net) as egress:
        head, sock = _connect(egress, target)
        sock.close()
    assert head.startswith(b"HTTP/1.1 403")
    assert egress.refused and "blocked" in egress.refused[0][1] and net.dials == []


def test_connect_only_to_port_443(net: Net) -> None:
    with _egress(net) as egress:
        head, sock = _connect(egress, "public.test:8443")
        sock.close()
    assert head.startswith(b"HTTP/1.1 403") and egress.refused == [("public.test", egress.refused[0][1])]
    assert "443" in egress.refused[0][1] and net.dials == []


def test_connect_to_a_public_host_tunnels(net: Net) -> None:
    with _egress(net) as egress:
        head, sock = _connect(egress, "public.test:443")
        with sock:
            assert head.startswith(b"HTTP/1.1 200")
            # The stand-in speaks plain HTTP; the tunnel just carries bytes.
            sock.sendall(b"GET /hello HTTP/1.1\r\nHost: public.test\r\nConnection: close\r\n\r\n")
            reply = b""
            while chunk := sock.recv(4096):
                reply += chunk
    assert reply.startswith(b"HTTP/1.0 200") and reply.endswith(b"hello from the public host")
    assert net.dials == [(PUBLIC_IP, 443)] and egress.refused == []


# (f) DNS rebinding


def _rebinding(public_answers: int):
    """Public for the first `public_answers` lookups, loopback for every later one."""
    calls: list[str] = []

    def resolve(host, port, *args):
        calls.append(host)
        ip = PUBLIC_IP if len(calls) <= public_answers else "127.0.0.1"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port))]

    return resolve, calls


def test_rebinding_cannot_move_a_pinned_connection(net: Net) -> None:
    resolve, calls = _rebinding(public_answers=1)
    egress = GuardedEgress(resolver=resolve, dial=net.dial, timeout_s=10)
    with egress, httpx.Client(proxy=egress.url, trust_env=False) as client:
        response = client.get("http://rebind.test/hello")
    assert response.status_code == 200 and response.text == "hello from the public host"
    assert calls == ["rebind.test"]  # one lookup; the connection went to the address that was checked
    assert net.dials == [(PUBLIC_IP, 80)] and net.internal_seen == []


def test_rebinding_after_the_url_check_is_caught_by_the_egress(net: Net, tmp_path: Path) -> None:
    resolve, calls = _rebinding(public_answers=2)
    # Both early URL checks (start, first hop) see the public answer; the egress's own lookup gets loopback.
    with pytest.raises(BlockedURL, match=r"^blocked: 127\.0\.0\.1"):
        download_url("http://rebind.test/video.mp4", tmp_path, resolver=resolve, dial=net.dial, timeout_s=10)
    assert len(calls) == 3 and net.dials == []


# (g) explicitly allowed private targets


def test_allow_private_lets_loopback_through(net: Net, tmp_path: Path) -> None:
    with _egress(net, allow_private=True) as egress:
        with httpx.Client(proxy=egress.url, trust_env=False) as client:
            response = client.get(f"{net.internal}/secret")
        head, sock = _connect(egress, f"127.0.0.1:{net.internal_port}")  # any port once private is allowed
        sock.close()
    assert response.status_code == 200 and response.text == "internal secret"
    assert head.startswith(b"HTTP/1.1 200") and egress.refused == []
    out = _download(net, f"{net.internal}/secret.mp4", tmp_path, allow_private=True)
    assert out.read_bytes() == b"internal secret"


# Lifecycle and bounds


def test_egress_closes_on_exit(net: Net) -> None:
    with _egress(net) as egress:
        port = int(egress.url.rsplit(":", 1)[1])
        _, sock = _connect(egress, "public.test:443")  # an open tunnel must not keep it alive
    with sock:
        sock.settimeout(5)
        assert sock.recv(1) == b""  # the open tunnel was closed too
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_connection_cap(net: Net) -> None:
    with _egress(net, max_connections=1) as egress:
        _, held = _connect(egress, "public.test:443")
        with held:
            head, extra = _connect(egress, "public.test:443")
            extra.close()
    assert head.startswith(b"HTTP/1.1 503")


def test_non_http_schemes_are_not_proxied(net: Net) -> None:
    with _egress(net) as egress:
        port = int(egress.url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"GET ftp://public.test/x HTTP/1.1\r\nHost: public.test\r\n\r\n")
            reply = sock.recv(4096)
    assert reply.startswith(b"HTTP/1.1 400") and net.dials == []
