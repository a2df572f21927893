"""The upload inbox a sensor polls: a local folder or an S3 prefix, read in (mtime, key) order with a cursor."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from botocore.exceptions import ClientError

from cliply.storage.media_store import (
    _scheme,
    atomic_write,
    local_root_from_url,
    make_s3_client,
    parse_s3_url,
    validate_key,
)

PARTIAL_SUFFIXES = (".part", ".tmp", ".crdownload", ".partial", ".download")
# Refused drops go here (a subfolder / sub-prefix, which listing skips), each with `<name>.reason.txt` beside it.
REJECTED = "rejected"


@dataclass(frozen=True)
class InboxEntry:
    key: str  # relative to the inbox root
    name: str  # the file name as uploaded (not yet sanitised)
    size: int
    mtime: float  # seconds since the epoch


@runtime_checkable
class Inbox(Protocol):
    def list_new(self, cursor: str | None, limit: int) -> tuple[list[InboxEntry], str | None]: ...
    def fetch(self, entry: InboxEntry, dest: Path) -> Path: ...
    def remove(self, entry: InboxEntry) -> None: ...
    def reject(self, entry: InboxEntry, reason: str) -> None: ...


def reason_text(reason: str) -> bytes:
    return f"{reason.strip()}\n".encode()


def encode_cursor(entry: InboxEntry) -> str:
    return json.dumps({"mtime": entry.mtime, "key": entry.key}, separators=(",", ":"))


def decode_cursor(cursor: str | None) -> tuple[float, str] | None:
    if not cursor:
        return None
    try:
        data = json.loads(cursor)
        return float(data["mtime"]), str(data["key"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"bad inbox cursor: {cursor!r}") from exc


def is_ignored_name(name: str) -> bool:
    """Dotfiles and the usual in-progress download/upload names are never picked up."""
    lower = name.lower()
    return not name or name.startswith(".") or lower.endswith(PARTIAL_SUFFIXES) or lower.startswith("~$")


def select_new(entries: Iterable[InboxEntry], cursor: str | None, limit: int) -> tuple[list[InboxEntry], str | None]:
    """Entries strictly after the cursor in (mtime, key) order, oldest first, at most `limit`."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    after = decode_cursor(cursor)
    ordered = sorted(entries, key=lambda e: (e.mtime, e.key))
    if after is not None:
        ordered = [e for e in ordered if (e.mtime, e.key) > after]
    picked = ordered[:limit]
    return picked, (encode_cursor(picked[-1]) if picked else cursor)


class LocalInbox:
    """Top-level files of a folder; files touched in the last min_age_s are treated as still being written."""

    def __init__(self, root: Path | str, min_age_s: float = 2.0, *, clock: Callable[[], float] = time.time) -> None:
        self.root = Path(root).expanduser().resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.min_age_s = min_age_s
        self.clock = clock

    def _scan(self) -> list[InboxEntry]:
        settled_before = self.clock() - self.min_age_s
        out = []
        with os.scandir(self.root) as it:
            for de in it:
                if is_ignored_name(de.name) or not de.is_file(follow_symlinks=False):
                    continue
                st = de.stat(follow_symlinks=False)
                if st.st_mtime > settled_before:
                    continue
                out.append(InboxEntry(key=de.name, name=de.name, size=st.st_size, mtime=st.st_mtime))
        return out

    def list_new(self, cursor: str | None, limit: int) -> tuple[list[InboxEntry], str | None]:
        return select_new(self._scan(), cursor, limit)

    def _path(self, entry: InboxEntry) -> Path:
        # Any POSIX file name is a valid drop (backslashes, newlines…): only separators and dot-names are refused,
        # and the result must sit directly in the inbox folder.
        key = entry.key
        if not key or "/" in key or "\x00" in key or key in {".", ".."}:
            raise ValueError(f"local inbox entries are top-level files: {key!r}")
        path = self.root / key
        if path.parent.resolve() != self.root.resolve():
            raise ValueError(f"inbox entry escapes the inbox: {key!r}")
        return path

    def fetch(self, entry: InboxEntry, dest: Path) -> Path:
        with self._path(entry).open("rb") as fin:
            return atomic_write(Path(dest), lambda fh: shutil.copyfileobj(fin, fh, 1024 * 1024))

    def remove(self, entry: InboxEntry) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(entry).unlink()

    def reject(self, entry: InboxEntry, reason: str) -> None:
        """Move a refused drop to rejected/ with the reason beside it; a drop already gone is left alone."""
        src = self._path(entry)
        folder = self.root / REJECTED
        folder.mkdir(exist_ok=True)
        try:
            os.replace(src, folder / entry.key)
        except FileNotFoundError:
            return
        atomic_write(folder / f"{entry.key}.reason.txt", lambda fh: fh.write(reason_text(reason)))


class S3Inbox:
    """Objects directly under an S3 prefix (no 'subfolders'), paginated with list_objects_v2."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        client: Any = None,
        min_age_s: float = 2.0,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if client is None:
            raise ValueError("S3Inbox needs a boto3 S3 client")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        if self.prefix:
            validate_key(self.prefix)
        self.client = client
        self.min_age_s = min_age_s
        self.clock = clock

    def _full(self, key: str) -> str:
        validate_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _scan(self) -> list[InboxEntry]:
        list_prefix = f"{self.prefix}/" if self.prefix else ""
        settled_before = self.clock() - self.min_age_s
        out = []
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=list_prefix)
        for page in pages:
            for obj in page.get("Contents", []):
                key = obj["Key"][len(list_prefix) :]
                if "/" in key or is_ignored_name(key):
                    continue
                mtime = obj["LastModified"].timestamp()
                if mtime > settled_before:
                    continue
                out.append(InboxEntry(key=key, name=key, size=int(obj["Size"]), mtime=mtime))
        return out

    def list_new(self, cursor: str | None, limit: int) -> tuple[list[InboxEntry], str | None]:
        return select_new(self._scan(), cursor, limit)

    def fetch(self, entry: InboxEntry, dest: Path) -> Path:
        key = self._full(entry.key)
        return atomic_write(Path(dest), lambda fh: self.client.download_fileobj(self.bucket, key, fh))

    def remove(self, entry: InboxEntry) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._full(entry.key))

    def reject(self, entry: InboxEntry, reason: str) -> None:
        """Copy a refused drop under rejected/ with the reason beside it, then delete it from the inbox."""
        src, dst = self._full(entry.key), self._full(f"{REJECTED}/{entry.key}")
        try:
            self.client.copy({"Bucket": self.bucket, "Key": src}, self.bucket, dst)  # multipart for big files
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey"}:
                return
            raise
        self.client.put_object(
            Bucket=self.bucket,
            Key=f"{dst}.reason.txt",
            Body=reason_text(reason),
            ContentType="text/plain; charset=utf-8",
        )
        self.remove(entry)


def inbox_from_url(
    url: str,
    *,
    min_age_s: float = 2.0,
    endpoint_url: str | None = None,
    region: str = "us-east-1",
    client: Any = None,
) -> Inbox:
    """A folder or file:// URL gives a LocalInbox; s3://bucket/prefix gives an S3Inbox."""
    if not url:
        raise ValueError("inbox URL is empty")
    scheme = _scheme(url)
    if scheme in ("", "file"):
        return LocalInbox(local_root_from_url(url), min_age_s)
    if scheme == "s3":
        bucket, prefix = parse_s3_url(url)
        return S3Inbox(bucket, prefix, client or make_s3_client(endpoint_url, region), min_age_s)
    raise ValueError(f"unsupported inbox URL scheme {scheme!r} in {url!r}; use a folder, file:// or s3://")
