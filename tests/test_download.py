"""URL imports against a real HTTP server on 127.0.0.1 (SSRF guard on, then explicitly relaxed)."""

from __future__ import annotations

import hashlib
import socket
from pathlib import Path

import pytest

from cliply.media.download import DownloadError, download_url
from cliply.security.ssrf import BlockedURL
from tests.fixtures.http_media import VIDEO


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
