"""Public, expiring URLs of stored clips for pull-based platforms (Instagram, Threads pull `video_url` themselves).

S3 store: a SigV4 presigned GET. Local store: an HMAC-signed URL on the HTTP service,
  {CLIPLY_PUBLIC_BASE_URL}/media/<key>?exp=<unix>&sig=<hex>, which the service checks with `verify` before serving.
The HMAC key comes from CLIPLY_MEDIA_URL_KEY, else an embedded key file <home>/media-url-key (0600, created once)."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import quote

from cliply.config import Settings
from cliply.storage.media_store import LocalMediaStore, MediaStore, validate_key

PULL_PLATFORMS = frozenset({"instagram", "threads"})  # Meta fetches video_url itself
DEFAULT_TTL_S = 24 * 3600  # Meta may fetch a container's media late; 24 h matches its container lifetime
KEY_FILE = "media-url-key"


class MediaUrlError(ValueError):
    """The media cannot be given a public URL (no CLIPLY_PUBLIC_BASE_URL for a local store)."""


def _load_or_create_key(home: Path) -> bytes:
    path = home / KEY_FILE
    try:
        return bytes.fromhex(path.read_text().strip())
    except FileNotFoundError:
        pass
    home.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process won the race: use its key
        return bytes.fromhex(path.read_text().strip())
    with os.fdopen(fd, "w") as fh:
        fh.write(key.hex())
    return key


class MediaUrlSigner:
    def __init__(self, media: MediaStore, *, base_url: str = "", secret: bytes | None = None,
                 ttl_s: int = DEFAULT_TTL_S) -> None:
        self.media = media
        self.base_url = base_url.rstrip("/")
        self.secret = secret or b""
        self.ttl_s = ttl_s

    @classmethod
    def from_env(cls, media: MediaStore, environ: Mapping[str, str] | None = None,
                 home: Path | None = None) -> MediaUrlSigner:
        env = os.environ if environ is None else environ
        base = env.get("CLIPLY_PUBLIC_BASE_URL", "")
        secret: bytes | None = None
        if isinstance(media, LocalMediaStore):
            raw = env.get("CLIPLY_MEDIA_URL_KEY", "")
            # Same home as Settings, so the publisher and the HTTP service share one key file.
            secret = raw.encode() if raw else _load_or_create_key(home or Settings.from_env(env).home)
        return cls(media, base_url=base, secret=secret)

    @property
    def local(self) -> bool:
        return isinstance(self.media, LocalMediaStore)

    def _sig(self, key: str, exp: int) -> str:
        return hmac.new(self.secret, f"{key}\n{exp}".encode(), hashlib.sha256).hexdigest()

    def url_for(self, key: str, *, now: float | None = None) -> str:
        validate_key(key)
        if not self.local:
            return self.media.presigned_url(key, self.ttl_s)
        if not self.base_url:
            raise MediaUrlError("a local media store needs CLIPLY_PUBLIC_BASE_URL for pull-based platforms")
        if not self.secret:
            raise MediaUrlError("no media URL signing key")
        exp = int((time.time() if now is None else now) + self.ttl_s)
        return f"{self.base_url}/media/{quote(key)}?exp={exp}&sig={self._sig(key, exp)}"

    def verify(self, key: str, exp: str | int, sig: str, *, now: float | None = None) -> bool:
        """For the HTTP service: True only for an unexpired URL this signer made for exactly `key`."""
        if not self.secret:
            return False
        try:
            validate_key(key)
            exp_i = int(exp)
        except (TypeError, ValueError):
            return False
        if exp_i < (time.time() if now is None else now):
            return False
        return hmac.compare_digest(self._sig(key, exp_i), str(sig))
