"""Stable error classes for every platform failure, decided from status codes and platform error codes only."""

from __future__ import annotations

import enum
from datetime import UTC, datetime, timedelta
from typing import Any


class ErrorClass(enum.StrEnum):
    AUTH_REFRESHABLE = "auth_refreshable"  # refresh the token once, then retry the step
    AUTH_RECONNECT = "auth_reconnect"  # the user must authorise again
    RATE_LIMITED = "rate_limited"  # wait until retry_at; not an attempt
    QUOTA_EXHAUSTED = "quota_exhausted"  # wait for the next quota window (retry_at)
    CONTENT_REJECTED = "content_rejected"  # permanent for this content: show the reason
    MEDIA_FETCH_FAILED = "media_fetch_failed"  # the platform could not pull our media URL: re-sign/re-host
    DUPLICATE = "duplicate"  # the platform says it already has this post: reconcile
    TRANSIENT = "transient"  # retry with backoff (reads/uploads)
    UNKNOWN_OUTCOME = "unknown_outcome"  # a create may or may not have happened: ask "did it post?"
    CONFIG = "config"  # account/app set-up problem: human action


RETRYABLE = frozenset({ErrorClass.TRANSIENT, ErrorClass.RATE_LIMITED, ErrorClass.AUTH_REFRESHABLE})


class PlatformError(Exception):
    """A classified failure. `message` is for humans and never contains tokens; never branch on it."""

    def __init__(
        self,
        platform: str,
        error_class: ErrorClass,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        retry_at: datetime | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(f"[{platform}] {error_class.value}: {message}")
        self.platform = platform
        self.error_class = error_class
        self.message = message
        self.status = status
        self.code = code
        self.retry_at = retry_at
        self.details = details or {}

    @property
    def retryable(self) -> bool:
        return self.error_class in RETRYABLE

    def retry_after_seconds(self, now: datetime | None = None) -> float | None:
        if self.retry_at is None:
            return None
        return max(0.0, (self.retry_at - (now or datetime.now(UTC))).total_seconds())


def retry_at_from_seconds(seconds: float | None, now: datetime | None = None) -> datetime | None:
    if seconds is None:
        return None
    return (now or datetime.now(UTC)) + timedelta(seconds=float(seconds))


# A platform's documented "the file itself is unacceptable" codes (format, codec, frame rate, size, duration): a
# CONTENT_REJECTED error carrying one of them is answered with one stricter rendition and one retry. Codes are the
# ones the clients' classification puts in PlatformError.code (Graph codes as "code/subcode": either part matches).
FORMAT_REJECTION_CODES: dict[str, frozenset[str]] = {
    # status fail_reason / error code (Content Posting API "Get post status" and error-handling pages)
    "tiktok": frozenset(
        {
            "file_format_check_failed",
            "duration_check_failed",
            "frame_rate_check_failed",
            "picture_size_check_failed",
            "video_size_check_failed",
        }
    ),
    # status.failureReason / rejectionReason of a refused upload
    "youtube": frozenset({"codec", "conversion", "invalidFile", "emptyFile", "tooSmall", "length"}),
    # Graph 352 "video format not supported", IG 2207026 "unsupported video format"
    "instagram": frozenset({"352", "2207026"}),
    "facebook": frozenset({"352", "2207026"}),
    "threads": frozenset({"352", "2207026"}),
    # media processing_info.error (code 1 / name InvalidMedia)
    "x": frozenset({"InvalidMedia", "UnsupportedMedia"}),
}


def is_format_rejection(exc: BaseException) -> bool:
    """True when `exc` is a platform's refusal of the video file's format/size (not of the post's content)."""
    if not isinstance(exc, PlatformError) or exc.error_class is not ErrorClass.CONTENT_REJECTED or not exc.code:
        return False
    codes = FORMAT_REJECTION_CODES.get(exc.platform, frozenset())
    return any(part in codes for part in str(exc.code).split("/"))
