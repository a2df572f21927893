"""Public, expiring URLs of stored clips for pull-based platforms (Instagram, Threads pull `video_url` themselves).

S3 store: a SigV4 presigned GET. Local store: an HMAC-signed URL on the HTTP service,
  {CLIPLY_PUBLIC_BASE_URL}/media/<key>?exp=<unix>&sig=<hex>, which the service checks with `verify` before serving.
Uploads use the same signer: a presigned S3 PUT, or a signed PUT /uploads/<key> on the service.
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

from cliply.settings import Settings
from cliply.storage.media_store import LocalMediaStore, MediaStore, parse_s3_url, validate_key

PULL_PLATFORMS = frozenset({"instagram", "threads"})  # Meta fetches video_url itself
DEFAULT_TTL_S = 24 * 3600  # Meta may fetch a container's media late; 24 h matches its container lifetime
KEY_FILE = "media-url-key"
UPLOAD_TTL_S = 3600  # a signed upload URL is good for one hour


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
    def __init__(
        self, media: MediaStore, *, base_url: str = "", secret: bytes | None = None, ttl_s: int = DEFAULT_TTL_S
    ) -> None:
        self.media = media
        self.base_url = base_url.rstrip("/")
        self.secret = secret or b""
        self.ttl_s = ttl_s

    @classmethod
    def from_settings(cls, media: MediaStore, settings: Settings) -> MediaUrlSigner:
        secret: bytes | None = None
        if isinstance(media, LocalMediaStore):
            raw = settings.media_url_key.get_secret_value()
            # Same home as everything else, so the publisher and the HTTP service share one key file.
            secret = raw.encode() if raw else _load_or_create_key(settings.home)
        return cls(media, base_url=settings.public_base_url, secret=secret)

    @classmethod
    def from_env(
        cls, media: MediaStore, environ: Mapping[str, str] | None = None, home: Path | None = None
    ) -> MediaUrlSigner:
        settings = Settings.from_env(environ)
        return cls.from_settings(media, settings.model_copy(update={"home": home}) if home else settings)

    @property
    def local(self) -> bool:
        return isinstance(self.media, LocalMediaStore)

    def _sig(self, key: str, exp: int, method: str = "GET") -> str:
        # GET signs "key\nexp" (URLs already handed out stay valid); other methods bind the method in, so an
        # upload signature can never be replayed as a download and vice versa.
        message = f"{key}\n{exp}" if method == "GET" else f"{method}\n{key}\n{exp}"
        return hmac.new(self.secret, message.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()

    def url_for(
        self, key: str, *, now: float | None = None, method: str = "GET", base_url: str = "", ttl_s: int | None = None
    ) -> str:
        """A signed URL: GET /media/<key> (a SigV4 GET on S3), or PUT /uploads/<key> on the local service.
        `base_url` stands in for CLIPLY_PUBLIC_BASE_URL (the service passes the origin it was reached on)."""
        validate_key(key)
        ttl = ttl_s or self.ttl_s
        if not self.local:
            if method != "GET":
                raise MediaUrlError("an S3 store signs uploads itself: use upload_url")
            return self.media.presigned_url(key, ttl)
        base = (base_url or self.base_url).rstrip("/")
        if not base:
            raise MediaUrlError("a local media store needs CLIPLY_PUBLIC_BASE_URL for pull-based platforms")
        if not self.secret:
            raise MediaUrlError("no media URL signing key")
        exp = int((time.time() if now is None else now) + ttl)
        route = "media" if method == "GET" else "uploads"
        return f"{base}/{route}/{quote(key)}?exp={exp}&sig={self._sig(key, exp, method)}"

    def upload_url(
        self, key: str, *, content_type: str, base_url: str = "", ttl_s: int = UPLOAD_TTL_S
    ) -> tuple[str, dict[str, str]]:
        """(URL, headers the client must send) for one PUT of `key`: presigned by S3, or signed for the service."""
        if self.local:
            return self.url_for(key, method="PUT", base_url=base_url, ttl_s=ttl_s), {}
        bucket, full_key = parse_s3_url(self.media.uri(key))
        client = self.media.presign_client  # type: ignore[attr-defined]
        url = client.generate_presigned_url(
            "put_object", ExpiresIn=ttl_s, Params={"Bucket": bucket, "Key": full_key, "ContentType": content_type}
        )
        return url, {"Content-Type": content_type}

    def verify(self, key: str, exp: str | int, sig: str, *, now: float | None = None, method: str = "GET") -> bool:
        """For the HTTP service: True only for an unexpired URL this signer made for exactly `key` and `method`."""
        if not self.secret:
            return False
        try:
            validate_key(key)
            exp_i = int(exp) if len(str(exp)) <= 20 else -1
        except (TypeError, ValueError):
            return False
        if exp_i < (time.time() if now is None else now):
            return False
        # Bytes, not str: compare_digest raises TypeError for non-ASCII text, and a signature is attacker input.
        return hmac.compare_digest(self._sig(key, exp_i, method).encode(), str(sig).encode("utf-8", "surrogatepass"))
