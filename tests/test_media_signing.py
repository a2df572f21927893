"""One signing scheme for media URLs: downloads (GET) and uploads (PUT) are signed by MediaUrlSigner, with the method
bound into the signature so neither can stand in for the other; GET signatures keep their original form."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from cliply.publishing.media_urls import UPLOAD_TTL_S, MediaUrlError, MediaUrlSigner
from cliply.storage.media_store import LocalMediaStore

SECRET = b"k" * 32
NOW = 1_000_000


def _signer(tmp_path: Path, base: str = "https://cliply.example") -> MediaUrlSigner:
    return MediaUrlSigner(LocalMediaStore(tmp_path / "m"), base_url=base, secret=SECRET)


def _query(url: str) -> tuple[str, dict[str, str]]:
    parsed = urlparse(url)
    return parsed.path, {k: v[0] for k, v in parse_qs(parsed.query).items()}


def test_put_and_get_signatures_are_not_interchangeable(tmp_path: Path) -> None:
    signer = _signer(tmp_path)
    key = "uploads/ws1/abc.mp4"
    put_path, put = _query(signer.url_for(key, method="PUT", now=NOW))
    get_path, get = _query(signer.url_for(key, now=NOW))
    assert put_path == f"/uploads/{key}" and get_path == f"/media/{key}"
    assert signer.verify(key, put["exp"], put["sig"], now=NOW, method="PUT")
    assert signer.verify(key, get["exp"], get["sig"], now=NOW)
    assert not signer.verify(key, put["exp"], put["sig"], now=NOW)  # an upload URL cannot download
    assert not signer.verify(key, get["exp"], get["sig"], now=NOW, method="PUT")  # a download URL cannot upload
    assert not signer.verify("uploads/ws1/other.mp4", put["exp"], put["sig"], now=NOW, method="PUT")
    assert not signer.verify(key, put["exp"], put["sig"], now=int(put["exp"]) + 1, method="PUT")  # expired


def test_get_signatures_keep_their_form(tmp_path: Path) -> None:
    """URLs already handed to Instagram/Threads must stay valid: a GET signs exactly "key\\nexp"."""
    _, q = _query(_signer(tmp_path).url_for("clips/a.mp4", now=NOW))
    expected = hmac.new(SECRET, f"clips/a.mp4\n{q['exp']}".encode(), hashlib.sha256).hexdigest()
    assert q["sig"] == expected


def test_upload_url_uses_the_requests_origin_without_a_public_base_url(tmp_path: Path) -> None:
    signer = _signer(tmp_path, base="")
    url, headers = signer.upload_url(
        "uploads/ws1/a.mp4", content_type="video/mp4", base_url="http://127.0.0.1:9/", ttl_s=UPLOAD_TTL_S
    )
    assert url.startswith("http://127.0.0.1:9/uploads/uploads/ws1/a.mp4?exp=") and headers == {}
    with pytest.raises(MediaUrlError):
        signer.url_for("clips/a.mp4")  # a download URL for a platform still needs the public base URL
    unsigned = MediaUrlSigner(LocalMediaStore(tmp_path / "m"), base_url="https://c.example")
    assert not unsigned.verify("uploads/ws1/a.mp4", NOW + 10, "00", now=NOW, method="PUT")
