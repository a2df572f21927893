"""MediaStore against a local folder, a real SeaweedFS (auth enforced) and moto."""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

import botocore.exceptions
import httpx
import pytest

from cliply.storage.media_store import (
    LocalMediaStore,
    S3MediaStore,
    make_s3_client,
    media_store_from_url,
    validate_key,
)
from tests.fixtures.media import COCKATOO
from tests.fixtures.s3 import S3Server, s3_client_for


@pytest.fixture(params=["local", "seaweedfs", "moto"])
def store(request: pytest.FixtureRequest, tmp_path: Path):
    if request.param == "local":
        yield LocalMediaStore(tmp_path / "media")
        return
    server: S3Server = request.getfixturevalue(f"{request.param}_s3")
    # A per-test prefix keeps tests on the shared session server independent.
    prefix = f"t/{uuid.uuid4().hex}"
    s = S3MediaStore(server.bucket, prefix, client=s3_client_for(server))
    s.delete_prefix("")
    yield s
    s.delete_prefix("")


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_round_trip(store, tmp_path: Path) -> None:
    video = COCKATOO.read_bytes()
    uri = store.put_file("sources/a/cockatoo.mp4", COCKATOO, content_type="video/mp4")
    assert uri == store.uri("sources/a/cockatoo.mp4")
    assert uri.startswith("file:///" if isinstance(store, LocalMediaStore) else "s3://")
    store.put_bytes("sources/a/meta.json", b'{"ok": true}', content_type="application/json")
    store.put_bytes("sources/b/x.txt", b"x")

    assert store.exists("sources/a/cockatoo.mp4")
    assert not store.exists("sources/a/missing.mp4")
    assert store.size("sources/a/cockatoo.mp4") == len(video)
    assert store.get_bytes("sources/a/meta.json") == b'{"ok": true}'
    out = store.get_file("sources/a/cockatoo.mp4", tmp_path / "out" / "c.mp4")
    assert _sha(out.read_bytes()) == _sha(video)
    assert [p.name for p in out.parent.iterdir()] == ["c.mp4"]  # no temp file left behind

    assert store.list("sources/") == ["sources/a/cockatoo.mp4", "sources/a/meta.json", "sources/b/x.txt"]
    assert store.list("sources/a/") == ["sources/a/cockatoo.mp4", "sources/a/meta.json"]
    assert store.list("sources/a/me") == ["sources/a/meta.json"]
    assert store.list("nothing/") == []

    store.put_bytes("sources/b/x.txt", b"replaced")  # overwrite in place
    assert store.get_bytes("sources/b/x.txt") == b"replaced"

    store.delete("sources/b/x.txt")
    store.delete("sources/b/x.txt")  # deleting twice is fine
    assert not store.exists("sources/b/x.txt")
    assert store.delete_prefix("sources/a/") == 2
    assert store.list("") == []

    with pytest.raises(FileNotFoundError):
        store.get_bytes("sources/a/meta.json")
    with pytest.raises(FileNotFoundError):
        store.size("sources/a/meta.json")
    with pytest.raises(FileNotFoundError):
        store.get_file("sources/a/meta.json", tmp_path / "nope")


def test_presigned_url_serves_same_bytes(store) -> None:
    store.put_file("clips/c.mp4", COCKATOO, content_type="video/mp4")
    url = store.presigned_url("clips/c.mp4", expires_s=86400)
    if isinstance(store, LocalMediaStore):
        assert url.startswith("file:///")
        assert Path(url.removeprefix("file://")).read_bytes() == COCKATOO.read_bytes()
        assert store.local_path("clips/c.mp4") == Path(url.removeprefix("file://"))
        return
    assert "X-Amz-Signature=" in url and "X-Amz-Expires=86400" in url  # SigV4, not legacy SigV2
    assert store.local_path("clips/c.mp4") is None
    resp = httpx.get(url, timeout=30)
    assert resp.status_code == 200
    assert _sha(resp.content) == _sha(COCKATOO.read_bytes())
    with pytest.raises(ValueError):
        store.presigned_url("clips/c.mp4", expires_s=8 * 24 * 3600)


BAD_KEYS = ["", "/abs/key", "../escape", "a/../../b", "a/./b", "a//b", "a/", "a\\b", "..\\x", "nul\x00byte", "a/\x07b"]


@pytest.mark.parametrize("key", BAD_KEYS)
def test_validate_key_rejects(key: str) -> None:
    with pytest.raises(ValueError):
        validate_key(key)


def test_validate_key_accepts_normal_keys() -> None:
    for key in ["a", "w1/sources/3/video file.mp4", "clips/1/clip-01.mp4", "ünïcode/ok.txt", "a..b/c"]:
        assert validate_key(key) == key


@pytest.mark.parametrize("key", ["../escape", "/etc/passwd", "a/../../b", "a\\..\\b"])
def test_store_rejects_traversal(store, key: str, tmp_path: Path) -> None:
    for call in (
        lambda: store.put_bytes(key, b"x"),
        lambda: store.get_bytes(key),
        lambda: store.exists(key),
        lambda: store.delete(key),
        lambda: store.get_file(key, tmp_path / "x"),
        lambda: store.uri(key),
    ):
        with pytest.raises(ValueError):
            call()
    with pytest.raises(ValueError):
        store.list("../")


def test_local_store_refuses_symlink_escape(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    store = LocalMediaStore(tmp_path / "media")
    os.symlink(outside, tmp_path / "media" / "link")
    with pytest.raises(ValueError, match="escapes"):
        store.get_bytes("link/secret.txt")
    with pytest.raises(ValueError, match="escapes"):
        store.put_bytes("link/new.txt", b"x")
    assert not (outside / "new.txt").exists()


def test_local_put_is_atomic_on_failure(tmp_path: Path) -> None:
    store = LocalMediaStore(tmp_path / "media")
    store.put_bytes("a/v.bin", b"old")
    with pytest.raises(FileNotFoundError):
        store.put_file("a/v.bin", tmp_path / "does-not-exist.mp4")
    assert store.get_bytes("a/v.bin") == b"old"
    assert sorted(p.name for p in (tmp_path / "media" / "a").iterdir()) == ["v.bin"]


def test_s3_multipart_upload(seaweedfs_s3: S3Server, tmp_path: Path) -> None:
    # 70 MB crosses the 64 MB multipart threshold: two parts on a real server.
    big = tmp_path / "big.bin"
    block = os.urandom(1024 * 1024)
    with open(big, "wb") as fh:
        for _ in range(70):
            fh.write(block)
    store = S3MediaStore(seaweedfs_s3.bucket, "multipart", client=s3_client_for(seaweedfs_s3))
    try:
        store.put_file("big.bin", big)
        head = store.client.head_object(Bucket=store.bucket, Key="multipart/big.bin")
        assert head["ETag"].strip('"').endswith("-2")
        assert store.size("big.bin") == big.stat().st_size
        out = store.get_file("big.bin", tmp_path / "back.bin")
        assert _sha(out.read_bytes()) == _sha(big.read_bytes())
    finally:
        store.delete_prefix("")


def test_seaweedfs_rejects_wrong_secret(seaweedfs_s3: S3Server) -> None:
    bad = S3MediaStore(seaweedfs_s3.bucket, "auth", client=s3_client_for(seaweedfs_s3, secret_key="wrong-secret"))
    with pytest.raises(botocore.exceptions.ClientError) as info:
        bad.put_bytes("x.txt", b"x")
    assert info.value.response["Error"]["Code"] in {"SignatureDoesNotMatch", "AccessDenied", "InvalidAccessKeyId"}
    unknown = make_s3_client(seaweedfs_s3.endpoint_url, access_key="nobody", secret_key="nothing")
    with pytest.raises(botocore.exceptions.ClientError):
        unknown.list_objects_v2(Bucket=seaweedfs_s3.bucket)
    assert httpx.get(f"{seaweedfs_s3.endpoint_url}/{seaweedfs_s3.bucket}/", timeout=10).status_code in {401, 403}


def test_seaweedfs_rejects_tampered_presigned_url(seaweedfs_s3: S3Server) -> None:
    store = S3MediaStore(seaweedfs_s3.bucket, "presign", client=s3_client_for(seaweedfs_s3))
    try:
        store.put_bytes("a.txt", b"hello")
        store.put_bytes("b.txt", b"other")
        url = store.presigned_url("a.txt")
        assert httpx.get(url, timeout=10).content == b"hello"
        sig = url.split("X-Amz-Signature=", 1)[1][:64]
        flipped = sig[:-1] + ("0" if sig[-1] != "0" else "1")
        assert httpx.get(url.replace(sig, flipped), timeout=10).status_code == 403
        # The signature covers the key: it cannot be reused for another object.
        assert httpx.get(url.replace("/presign/a.txt", "/presign/b.txt"), timeout=10).status_code == 403
    finally:
        store.delete_prefix("")


def test_media_store_from_url(tmp_path: Path, moto_s3: S3Server) -> None:
    local = media_store_from_url(str(tmp_path / "m"))
    assert isinstance(local, LocalMediaStore) and local.root == (tmp_path / "m").resolve()
    via_uri = media_store_from_url((tmp_path / "n").as_uri())
    assert isinstance(via_uri, LocalMediaStore) and via_uri.root == (tmp_path / "n").resolve()
    s3 = media_store_from_url(f"s3://{moto_s3.bucket}/some/prefix", endpoint_url=moto_s3.endpoint_url)
    assert isinstance(s3, S3MediaStore) and (s3.bucket, s3.prefix) == (moto_s3.bucket, "some/prefix")
    s3.put_bytes("k.txt", b"v")
    assert s3.uri("k.txt") == f"s3://{moto_s3.bucket}/some/prefix/k.txt"
    assert s3.get_bytes("k.txt") == b"v"
    s3.delete_prefix("")
    for bad in ("ftp://host/x", "gs://bucket/x", "s3://", ""):
        with pytest.raises(ValueError):
            media_store_from_url(bad)
