"""Token vault: AES-256-GCM encryption of account secrets with a key ring, so keys rotate without downtime.

Keys come from the environment in production:
    CLIPLY_TOKEN_KEYS="k1:<base64url 32 bytes>,k2:<base64url 32 bytes>"   CLIPLY_TOKEN_KEY_ACTIVE="k2"
New secrets are encrypted with the active key; every listed key still decrypts. Rotation: add a new key and make it
active, run `cliply keys rotate` (re-encrypts everything with it), then drop the old key.
Laptop default: when CLIPLY_TOKEN_KEYS is unset, a key file <home>/token-keys.json (mode 0600) is created once.

Ciphertext format: "v1:<kid>:<base64url nonce>:<base64url ciphertext+tag>". The AAD binds a ciphertext to its row
and field (f"{workspace_id}:{platform}:{external_id}:{field}"), so a ciphertext copied onto another account or into
another column fails to decrypt. Error messages never contain key material or plaintext.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import logging
import os
import re
import secrets
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from cliply.settings import Settings

log = logging.getLogger(__name__)

VERSION = "v1"
KEY_BYTES = 32
NONCE_BYTES = 12
KEY_FILE_NAME = "token-keys.json"
ENV_KEYS = "CLIPLY_TOKEN_KEYS"
ENV_ACTIVE = "CLIPLY_TOKEN_KEY_ACTIVE"
_KID = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")  # no ':' or ',' (the separators), short enough to store per token


class VaultError(Exception):
    """A secret cannot be decrypted or a key is unusable. The message never contains secrets."""


def aad_for(workspace_id: int, platform: str, external_id: str, field: str) -> str:
    """The associated data binding a ciphertext to one row's field (see module docstring)."""
    return f"{workspace_id}:{platform}:{external_id}:{field}"


def generate_key() -> str:
    """A new random key, base64url encoded (for CLIPLY_TOKEN_KEYS)."""
    return _b64e(secrets.token_bytes(KEY_BYTES))


def _b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _b64d(text: str) -> bytes:
    text = text.strip()
    # validate=True rejects stray characters instead of silently dropping them.
    return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)


def _decode_key(kid: str, encoded: str) -> bytes:
    try:
        key = _b64d(encoded)
    except (binascii.Error, ValueError):
        raise VaultError(f"token key {kid!r} is not valid base64url") from None
    if len(key) != KEY_BYTES:
        raise VaultError(f"token key {kid!r} must be {KEY_BYTES} bytes, got {len(key)}")
    return key


@dataclass(frozen=True)
class KeyRing:
    """Encryption keys by id; `active` encrypts, all of them decrypt."""

    keys: Mapping[str, bytes]
    active: str

    def __post_init__(self) -> None:
        if not self.keys:
            raise VaultError("the key ring is empty")
        for kid, key in self.keys.items():
            if not _KID.match(kid):
                raise VaultError(f"invalid key id {kid!r}: use 1-32 of A-Z a-z 0-9 _ . -")
            if len(key) != KEY_BYTES:
                raise VaultError(f"token key {kid!r} must be {KEY_BYTES} bytes, got {len(key)}")
        if self.active not in self.keys:
            raise VaultError(f"active key id {self.active!r} is not in the key ring")
        object.__setattr__(self, "keys", dict(self.keys))  # a private copy: callers cannot swap keys later

    def __repr__(self) -> str:  # key bytes stay out of logs and tracebacks
        return f"KeyRing(kids={sorted(self.keys)!r}, active={self.active!r})"

    @classmethod
    def parse(cls, spec: str, active: str | None = None) -> KeyRing:
        """From "kid1:<b64>,kid2:<b64>"; active defaults to the last listed."""
        keys: dict[str, bytes] = {}
        for item in (part.strip() for part in spec.split(",")):
            if not item:
                continue
            kid, sep, encoded = item.partition(":")
            kid = kid.strip()
            if not sep or not kid:
                raise VaultError(f"{ENV_KEYS} entries must look like kid:<base64url key>")
            if kid in keys:
                raise VaultError(f"key id {kid!r} is listed twice in {ENV_KEYS}")
            keys[kid] = _decode_key(kid, encoded)
        if not keys:
            raise VaultError(f"{ENV_KEYS} lists no keys")
        return cls(keys, (active or "").strip() or list(keys)[-1])

    @classmethod
    def from_settings(cls, settings: Settings, home: Path | str | None = None) -> KeyRing:
        """CLIPLY_TOKEN_KEYS / CLIPLY_TOKEN_KEY_ACTIVE, else the embedded key file under `home` (created once)."""
        spec = settings.token_keys.get_secret_value().strip()
        if spec:
            return cls.parse(spec, settings.token_key_active)
        return cls.from_file(Path(home or settings.home) / KEY_FILE_NAME, create=True)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, home: Path | str = Path(".cliply")) -> KeyRing:
        return cls.from_settings(Settings.from_env(environ), home)

    @classmethod
    def from_file(cls, path: Path, *, create: bool = False) -> KeyRing:
        """Read a key file {"active": kid, "keys": {kid: b64}}; with create=True a missing one is made (0600)."""
        if create and not path.exists():
            _create_key_file(path)
        try:
            data = json.loads(path.read_text())
            keys = {str(kid): _decode_key(str(kid), str(enc)) for kid, enc in data["keys"].items()}
            active = str(data.get("active") or list(keys)[-1])
        except VaultError:
            raise
        except (OSError, ValueError, KeyError, TypeError, AttributeError, IndexError):
            raise VaultError(f"cannot read the token key file {path}") from None
        if os.name == "posix" and path.stat().st_mode & 0o077:
            log.warning("token key file %s is readable by other users; run chmod 600 on it", path)
        return cls(keys, active)

    def to_spec(self) -> str:
        """The CLIPLY_TOKEN_KEYS value for this ring (active key last). Contains secrets: never log it."""
        order = [k for k in self.keys if k != self.active] + [self.active]
        return ",".join(f"{kid}:{_b64e(self.keys[kid])}" for kid in order)


def _create_key_file(path: Path) -> None:
    """Write a fresh one-key file atomically with mode 0600; if another process wins the race, keep theirs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    body = json.dumps({"active": "k1", "keys": {"k1": generate_key()}}, indent=2) + "\n"
    fd, tmp = tempfile.mkstemp(prefix=".token-keys.", dir=path.parent)  # mkstemp creates it 0600
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(body)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)
        # link() fails if the target exists: a complete file appears atomically, and never replaces a key in use.
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


class TokenVault:
    """Encrypts and decrypts secrets with a KeyRing (AES-256-GCM, random 96-bit nonce per encryption)."""

    def __init__(self, keyring: KeyRing) -> None:
        self._keyring = keyring
        self._ciphers = {kid: AESGCM(key) for kid, key in keyring.keys.items()}

    @property
    def keyring(self) -> KeyRing:
        return self._keyring

    @property
    def active_kid(self) -> str:
        return self._keyring.active

    def __repr__(self) -> str:
        return f"TokenVault({self._keyring!r})"

    def encrypt(self, plaintext: str, *, aad: str) -> str:
        kid = self._keyring.active
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = self._ciphers[kid].encrypt(nonce, plaintext.encode("utf-8"), aad.encode("utf-8"))
        return f"{VERSION}:{kid}:{_b64e(nonce)}:{_b64e(sealed)}"

    def decrypt(self, token: str, *, aad: str) -> str:
        kid, nonce, sealed = self._parse(token)
        cipher = self._ciphers.get(kid)
        if cipher is None:
            raise VaultError(f"secret was encrypted with key {kid!r}, which is not in the key ring")
        try:
            plain = cipher.decrypt(nonce, sealed, aad.encode("utf-8"))
        except InvalidTag:
            raise VaultError(f"secret failed authentication with key {kid!r} (tampered, or wrong row/field)") from None
        try:
            return plain.decode("utf-8")
        except UnicodeDecodeError:  # cannot happen for our own ciphertexts; do not echo the bytes
            raise VaultError("decrypted secret is not UTF-8") from None

    def key_id(self, token: str) -> str:
        return self._parse(token)[0]

    def needs_rotation(self, token: str) -> bool:
        return self.key_id(token) != self._keyring.active

    def reencrypt(self, token: str, *, aad: str) -> str:
        """The same secret under the active key (unchanged if it already is)."""
        if not self.needs_rotation(token):
            return token
        return self.encrypt(self.decrypt(token, aad=aad), aad=aad)

    @staticmethod
    def _parse(token: str) -> tuple[str, bytes, bytes]:
        parts = token.split(":") if isinstance(token, str) else []
        if len(parts) != 4 or parts[0] != VERSION:
            raise VaultError(f"not a {VERSION} vault ciphertext")
        kid = parts[1]
        if not _KID.match(kid):
            raise VaultError("malformed vault ciphertext")
        try:
            nonce, sealed = _b64d(parts[2]), _b64d(parts[3])
        except (binascii.Error, ValueError):
            raise VaultError("malformed vault ciphertext") from None
        if len(nonce) != NONCE_BYTES or len(sealed) < 16:
            raise VaultError("malformed vault ciphertext")
        return kid, nonce, sealed
