"""Token vault: AES-256-GCM round trip, tamper detection, key ring parsing and the embedded key file."""

from __future__ import annotations

import base64
import hashlib
import json
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from cliply.security.vault import KEY_FILE_NAME, KeyRing, TokenVault, VaultError, aad_for, generate_key

AAD = aad_for(7, "youtube", "UC123", "access_token")
SECRET = "ya29.super-secret-access-token-ÄÖÜ-🙂"


def _ring(*kids: str, active: str | None = None) -> KeyRing:
    # Deterministic per kid, so "k1" is the same key in every ring a test builds.
    return KeyRing({kid: hashlib.sha256(kid.encode()).digest() for kid in kids}, active or kids[-1])


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_round_trip_and_format() -> None:
    vault = TokenVault(_ring("k1"))
    token = vault.encrypt(SECRET, aad=AAD)
    version, kid, nonce, sealed = token.split(":")
    assert (version, kid) == ("v1", "k1")
    assert len(_unb64(nonce)) == 12
    assert len(_unb64(sealed)) == len(SECRET.encode()) + 16  # ciphertext + GCM tag
    assert SECRET not in token
    assert vault.decrypt(token, aad=AAD) == SECRET
    assert vault.decrypt(vault.encrypt("", aad=AAD), aad=AAD) == ""
    # A fresh random nonce per call: the same secret never produces the same ciphertext twice.
    assert vault.encrypt(SECRET, aad=AAD) != token


def _flip(text: str) -> str:
    raw = bytearray(_unb64(text))
    raw[0] ^= 0x01
    return _b64(bytes(raw))


@pytest.mark.parametrize("part", ["nonce", "ciphertext"])
def test_tampered_nonce_or_ciphertext_is_rejected(part: str) -> None:
    vault = TokenVault(_ring("k1"))
    version, kid, nonce, sealed = vault.encrypt(SECRET, aad=AAD).split(":")
    if part == "nonce":
        nonce = _flip(nonce)
    else:
        sealed = _flip(sealed)
    with pytest.raises(VaultError) as err:
        vault.decrypt(":".join([version, kid, nonce, sealed]), aad=AAD)
    assert SECRET not in str(err.value)


def test_wrong_aad_is_rejected() -> None:
    """A ciphertext moved to another account, workspace or field does not decrypt."""
    vault = TokenVault(_ring("k1"))
    token = vault.encrypt(SECRET, aad=AAD)
    for other in (
        aad_for(8, "youtube", "UC123", "access_token"),
        aad_for(7, "youtube", "UC999", "access_token"),
        aad_for(7, "youtube", "UC123", "refresh_token"),
        aad_for(7, "tiktok", "UC123", "access_token"),
    ):
        with pytest.raises(VaultError):
            vault.decrypt(token, aad=other)


def test_unknown_key_id_is_rejected() -> None:
    token = TokenVault(_ring("k1")).encrypt(SECRET, aad=AAD)
    with pytest.raises(VaultError, match="k1"):
        TokenVault(_ring("k2")).decrypt(token, aad=AAD)
    # Same kid but a different key: authentication fails rather than returning garbage.
    other_k1 = KeyRing({"k1": b"\x09" * 32}, "k1")
    with pytest.raises(VaultError):
        TokenVault(other_k1).decrypt(token, aad=AAD)


@pytest.mark.parametrize(
    "token",
    [
        "",
        SECRET,
        "v2:k1:AAAA:BBBB",
        "v1:k1:!!!:BBBB",
        "v1:k1:AAAA",
        "v1:bad kid:AA:BB",
        "v1:k1:" + _b64(b"\0" * 12) + ":" + _b64(b"short"),
    ],
)
def test_malformed_tokens_are_rejected_without_echoing_them(token: str) -> None:
    with pytest.raises(VaultError) as err:
        TokenVault(_ring("k1")).decrypt(token, aad=AAD)
    assert SECRET not in str(err.value)


def test_rotation_helpers() -> None:
    old = TokenVault(_ring("k1")).encrypt(SECRET, aad=AAD)
    vault = TokenVault(_ring("k1", "k2"))  # k2 active, k1 still decrypts
    assert vault.key_id(old) == "k1"
    assert vault.needs_rotation(old)
    assert vault.decrypt(old, aad=AAD) == SECRET
    new = vault.reencrypt(old, aad=AAD)
    assert vault.key_id(new) == "k2" and not vault.needs_rotation(new)
    assert vault.reencrypt(new, aad=AAD) == new  # already current: untouched
    assert TokenVault(_ring("k2")).decrypt(new, aad=AAD) == SECRET


def test_keyring_parse_and_errors() -> None:
    k1, k2 = generate_key(), generate_key()
    assert len(_unb64(k1)) == 32 and k1 != k2
    ring = KeyRing.parse(f"k1:{k1}, k2:{k2}")
    assert ring.active == "k2" and set(ring.keys) == {"k1", "k2"}
    assert KeyRing.parse(f"k1:{k1},k2:{k2}", "k1").active == "k1"
    assert KeyRing.parse(ring.to_spec()).keys == ring.keys
    assert k1 not in repr(ring) and k2 not in repr(ring) and "k1" in repr(ring)
    assert k1 not in repr(TokenVault(ring))
    short = _b64(b"x" * 16)
    bad_specs = [f"k1:{short}", "k1:not*base64", f"{k1}", "", f"k1:{k1},k1:{k2}", f"bad:id:{k1}"]
    for spec in bad_specs:
        with pytest.raises(VaultError) as err:
            KeyRing.parse(spec)
        assert k1 not in str(err.value) and short not in str(err.value)
    with pytest.raises(VaultError, match="active"):
        KeyRing.parse(f"k1:{k1}", "k9")


def test_from_env_uses_the_environment(tmp_path: Path) -> None:
    k1, k2 = generate_key(), generate_key()
    ring = KeyRing.from_env({"CLIPLY_TOKEN_KEYS": f"a:{k1},b:{k2}", "CLIPLY_TOKEN_KEY_ACTIVE": "a"}, tmp_path)
    assert ring.active == "a" and ring.keys["b"] == _unb64(k2)
    assert not (tmp_path / KEY_FILE_NAME).exists()  # no key file when the environment provides keys


def test_embedded_key_file_is_created_once_with_mode_0600(tmp_path: Path) -> None:
    home = tmp_path / "home"
    first = KeyRing.from_env({}, home)
    path = home / KEY_FILE_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    content = path.read_text()
    data = json.loads(content)
    assert data["active"] == first.active and set(data["keys"]) == set(first.keys)
    token = TokenVault(first).encrypt(SECRET, aad=AAD)

    second = KeyRing.from_env({}, home)
    assert second.keys == first.keys
    assert path.read_text() == content  # not regenerated: secrets encrypted earlier stay readable
    assert TokenVault(second).decrypt(token, aad=AAD) == SECRET
    assert [p.name for p in home.iterdir()] == [KEY_FILE_NAME]  # no temp files left behind


def test_concurrent_first_start_agrees_on_one_key(tmp_path: Path) -> None:
    with ThreadPoolExecutor(8) as pool:
        rings = list(pool.map(lambda _: KeyRing.from_env({}, tmp_path), range(16)))
    assert all(r.keys == rings[0].keys for r in rings)


def test_corrupt_key_file_is_an_error_without_contents(tmp_path: Path) -> None:
    path = tmp_path / KEY_FILE_NAME
    path.write_text('{"keys": {"k1": "c2VjcmV0"}}')
    with pytest.raises(VaultError) as err:
        KeyRing.from_env({}, tmp_path)
    assert "c2VjcmV0" not in str(err.value)
    path.write_text("not json")
    with pytest.raises(VaultError):
        KeyRing.from_env({}, tmp_path)
