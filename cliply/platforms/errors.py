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
