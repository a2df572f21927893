"""Upload inbox: (mtime, key) ordering, resumable cursors, settling of files still being written."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import pytest

from cliply.storage.inbox import InboxEntry, LocalInbox, S3Inbox, decode_cursor, inbox_from_url, select_new
from tests.fixtures.s3 import S3Server, s3_client_for

T0 = 1_700_000_000.0


def _write(root: Path, name: str, mtime: float, data: bytes = b"data") -> Path:
    path = root / name
    path.write_bytes(data)
    os.utime(path, (mtime, mtime))
    return path


def _drain(inbox, limit: int) -> list[list[str]]:
    """Every batch until empty, each as its list of keys (bounded: the test inboxes are small)."""
    batches, cursor = [], None
    for _ in range(50):
        entries, cursor = inbox.list_new(cursor, limit)
        if not entries:
            return batches
        batches.append([e.key for e in entries])
    raise AssertionError("inbox never ran dry")


def test_local_order_cursor_and_limit(tmp_path: Path) -> None:
    inbox = LocalInbox(tmp_path, min_age_s=2.0, clock=lambda: T0 + 100)
    _write(tmp_path, "c.mp4", T0 + 3)
    _write(tmp_path, "a.mp4", T0 + 1)
    _write(tmp_path, "b.mp4", T0 + 2)
    # Equal mtimes: the key breaks the tie, so nothing is skipped or repeated across batches.
    _write(tmp_path, "e2.mp4", T0 + 5)
    _write(tmp_path, "e1.mp4", T0 + 5)
    _write(tmp_path, "e3.mp4", T0 + 5)
    assert _drain(inbox, 2) == [["a.mp4", "b.mp4"], ["c.mp4", "e1.mp4"], ["e2.mp4", "e3.mp4"]]
    assert _drain(inbox, 100) == [["a.mp4", "b.mp4", "c.mp4", "e1.mp4", "e2.mp4", "e3.mp4"]]

    entries, cursor = inbox.list_new(None, 4)
    assert [e.key for e in entries] == ["a.mp4", "b.mp4", "c.mp4", "e1.mp4"]
    assert entries[0] == InboxEntry(key="a.mp4", name="a.mp4", size=4, mtime=T0 + 1)
    assert decode_cursor(cursor) == (T0 + 5, "e1.mp4")
    # A new file with the same mtime as the cursor but a later key is still picked up; an earlier key is not.
    _write(tmp_path, "e0.mp4", T0 + 5)
    _write(tmp_path, "e9.mp4", T0 + 5)
    entries, cursor2 = inbox.list_new(cursor, 10)
    assert [e.key for e in entries] == ["e2.mp4", "e3.mp4", "e9.mp4"]
    assert inbox.list_new(cursor2, 10) == ([], cursor2)  # nothing new: cursor unchanged


def test_local_ignores_partial_hidden_and_folders(tmp_path: Path) -> None:
    now = [T0 + 100]
    inbox = LocalInbox(tmp_path, min_age_s=2.0, clock=lambda: now[0])
    for name in ("movie.mp4.part", "movie.tmp", "x.crdownload", ".hidden.mp4", ".DS_Store"):
        _write(tmp_path, name, T0)
    (tmp_path / "sub").mkdir()
    _write(tmp_path / "sub", "nested.mp4", T0)
    os.symlink(tmp_path / "sub" / "nested.mp4", tmp_path / "link.mp4")
    _write(tmp_path, "fresh.mp4", T0 + 99.5)  # modified 0.5 s ago: still being written
    _write(tmp_path, "done.mp4", T0 + 50)

    entries, cursor = inbox.list_new(None, 10)
    assert [e.key for e in entries] == ["done.mp4"]
    # Once the writer has been quiet for min_age_s the file shows up, after the cursor.
    now[0] = T0 + 102
    entries, _ = inbox.list_new(cursor, 10)
    assert [e.key for e in entries] == ["fresh.mp4"]


def test_local_settling_with_real_clock(tmp_path: Path) -> None:
    inbox = LocalInbox(tmp_path, min_age_s=3600)
    (tmp_path / "new.mp4").write_bytes(b"x")
    assert inbox.list_new(None, 10) == ([], None)
    assert [e.key for e in LocalInbox(tmp_path, min_age_s=0).list_new(None, 10)[0]] == ["new.mp4"]


def test_local_fetch_and_remove(tmp_path: Path) -> None:
    root = tmp_path / "inbox"
    root.mkdir()
    _write(root, "clip.mp4", T0, b"payload")
    inbox = LocalInbox(root, min_age_s=0)
    (entry,), _ = inbox.list_new(None, 10)
    out = inbox.fetch(entry, tmp_path / "work" / "source.mp4")
    assert out.read_bytes() == b"payload"
    inbox.remove(entry)
    inbox.remove(entry)  # idempotent
    assert inbox.list_new(None, 10) == ([], None)
    with pytest.raises(ValueError):
        inbox.fetch(InboxEntry("../outside", "x", 1, T0), tmp_path / "y")


def test_bad_cursor_and_limit(tmp_path: Path) -> None:
    inbox = LocalInbox(tmp_path, min_age_s=0)
    with pytest.raises(ValueError, match="cursor"):
        inbox.list_new("not json", 10)
    with pytest.raises(ValueError, match="limit"):
        select_new([], None, 0)


@pytest.fixture(params=["moto", "seaweedfs"])
def s3_server(request: pytest.FixtureRequest) -> S3Server:
    return request.getfixturevalue(f"{request.param}_s3")


def test_s3_inbox(s3_server: S3Server, tmp_path: Path) -> None:
    client = s3_client_for(s3_server)
    prefix = f"inbox-{uuid.uuid4().hex}"
    # 7 files, then list with limit 3 so the cursor carries across batches and list pages.
    names = [f"v{i}.mp4" for i in range(7)]
    for name in names:
        client.put_object(Bucket=s3_server.bucket, Key=f"{prefix}/{name}", Body=name.encode())
    for junk in ("up.mp4.part", ".hidden", "sub/nested.mp4"):
        client.put_object(Bucket=s3_server.bucket, Key=f"{prefix}/{junk}", Body=b"j")
    client.put_object(Bucket=s3_server.bucket, Key=f"{prefix}-sibling/other.mp4", Body=b"j")

    settled = S3Inbox(s3_server.bucket, prefix, client, min_age_s=2.0, clock=lambda: time.time() + 3600)
    batches = _drain(settled, 3)
    flat = [k for b in batches for k in b]
    assert sorted(flat) == names and len(flat) == len(set(flat))
    assert [len(b) for b in batches] == [3, 3, 1]
    # Upload times (1 s resolution) then keys: the order is non-decreasing in (mtime, key).
    entries, _ = settled.list_new(None, 100)
    assert [(e.mtime, e.key) for e in entries] == sorted((e.mtime, e.key) for e in entries)

    # Just uploaded: nothing is old enough yet with a real clock and a long settle time.
    assert S3Inbox(s3_server.bucket, prefix, client, min_age_s=3600).list_new(None, 10) == ([], None)

    entry = entries[0]
    assert settled.fetch(entry, tmp_path / "f.mp4").read_bytes() == entry.key.encode()
    settled.remove(entry)
    assert entry.key not in [e.key for e in settled.list_new(None, 100)[0]]


def test_s3_inbox_paginates(moto_s3: S3Server) -> None:
    client = s3_client_for(moto_s3)
    prefix = f"many-{uuid.uuid4().hex}"
    for i in range(1005):  # list_objects_v2 returns at most 1000 keys a page
        client.put_object(Bucket=moto_s3.bucket, Key=f"{prefix}/f{i:04d}.mp4", Body=b"")
    inbox = S3Inbox(moto_s3.bucket, prefix, client, min_age_s=0, clock=lambda: time.time() + 60)
    entries, _ = inbox.list_new(None, 2000)
    assert len(entries) == 1005


def test_inbox_from_url(tmp_path: Path, moto_s3: S3Server) -> None:
    local = inbox_from_url(str(tmp_path / "in"), min_age_s=5)
    assert isinstance(local, LocalInbox) and local.min_age_s == 5 and (tmp_path / "in").is_dir()
    assert isinstance(inbox_from_url((tmp_path / "in2").as_uri()), LocalInbox)
    s3 = inbox_from_url(f"s3://{moto_s3.bucket}/uploads", endpoint_url=moto_s3.endpoint_url)
    assert isinstance(s3, S3Inbox) and (s3.bucket, s3.prefix) == (moto_s3.bucket, "uploads")
    with pytest.raises(ValueError, match="unsupported"):
        inbox_from_url("http://example.com/inbox")


def test_local_reject_moves_the_drop_aside(tmp_path: Path) -> None:
    root = tmp_path / "inbox"
    root.mkdir()
    _write(root, "notes.mp4", T0, b"not a video")
    inbox = LocalInbox(root, min_age_s=0)
    (entry,), _ = inbox.list_new(None, 10)
    inbox.reject(entry, "rejected (not_a_video): not a video")
    assert [p.name for p in root.iterdir()] == ["rejected"]
    assert (root / "rejected" / "notes.mp4").read_bytes() == b"not a video"
    assert (root / "rejected" / "notes.mp4.reason.txt").read_text() == "rejected (not_a_video): not a video\n"
    assert inbox.list_new(None, 10) == ([], None)
    inbox.reject(entry, "again")  # already set aside: nothing to do
    assert (root / "rejected" / "notes.mp4.reason.txt").read_text() == "rejected (not_a_video): not a video\n"
