"""Where media and uploads live: a local folder or an S3-compatible bucket (no Dagster here)."""

from cliply.storage.inbox import Inbox, InboxEntry, LocalInbox, S3Inbox, inbox_from_url
from cliply.storage.media_store import (
    LocalMediaStore,
    MediaStore,
    S3MediaStore,
    make_s3_client,
    media_store_from_url,
    validate_key,
)

__all__ = [
    "Inbox",
    "InboxEntry",
    "LocalInbox",
    "LocalMediaStore",
    "MediaStore",
    "S3Inbox",
    "S3MediaStore",
    "inbox_from_url",
    "make_s3_client",
    "media_store_from_url",
    "validate_key",
]
