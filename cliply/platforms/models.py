"""Plain data shared by the platform clients, the sandbox and (later) the publisher."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any


@dataclass
class Credentials:
    """What one connected account holds. Tokens are secrets: never log or persist this unencrypted."""

    access_token: str
    refresh_token: str | None = None
    expires_at: datetime | None = None
    refresh_expires_at: datetime | None = None
    scopes: tuple[str, ...] = ()
    account_id: str = ""  # the platform's user/page/channel id, DID for Bluesky
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. ig_user_id, page_id, handle, person urn

    def __repr__(self) -> str:  # keep tokens out of tracebacks and logs
        return f"Credentials(account_id={self.account_id!r}, scopes={self.scopes!r}, expires_at={self.expires_at!r})"


@dataclass(frozen=True)
class VideoPost:
    """One clip to publish on one platform, with that platform's fields."""

    video: Path
    caption: str = ""  # the body text: description / caption / commentary / post text
    title: str = ""  # YouTube, Pinterest
    hashtags: tuple[str, ...] = ()
    privacy: str = ""  # platform vocabulary, e.g. YouTube public/unlisted/private, TikTok PUBLIC_TO_EVERYONE
    link: str = ""  # Pinterest destination link
    board_id: str = ""  # Pinterest
    cover_time_s: float | None = None  # thumbnail frame (TikTok cover, Pinterest cover, Facebook)
    thumbnail: Path | None = None
    publish_at: datetime | None = None  # YouTube scheduled publish
    video_url: str = ""  # pull-based platforms (Instagram, Threads): a signed URL of `video`
    idempotency_key: str = ""  # Cliply's target id: embedded where harmless so reconciliation can match
    options: dict[str, Any] = field(default_factory=dict)  # anything platform-specific (e.g. TikTok is_aigc)
    # Reconciliation by caption: nothing published before `created_after` (the target's first attempt, known to the
    # publisher) and no id in `exclude_post_ids` (posts other targets of this account already own) can be ours.
    created_after: datetime | None = None
    exclude_post_ids: frozenset[str] = frozenset()

    def full_caption(self) -> str:
        tags = " ".join(f"#{t.lstrip('#')}" for t in self.hashtags if t.strip("#"))
        return f"{self.caption} {tags}".strip() if tags else self.caption


@dataclass(frozen=True)
class PublishResult:
    platform: str
    post_id: str
    url: str = ""
    status: str = "published"  # published | scheduled | processing | inbox (TikTok draft)
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PostMetrics:
    post_id: str
    views: int | None = None
    likes: int | None = None
    comments: int | None = None
    shares: int | None = None
    saves: int | None = None
    reach: int | None = None
    impressions: int | None = None
    watch_time_s: float | None = None  # total watch time, seconds, where the platform reports it
    raw: dict[str, Any] = field(default_factory=dict)
    # The platform says the post no longer exists (deleted or removed): stop polling it. An id missing from a
    # fetch_metrics answer instead means "no numbers this time" (e.g. insights not ready yet), not gone.
    gone: bool = False


@dataclass(frozen=True)
class PostRef:
    """A public post URL parsed into (platform, id). `id_kind` says what the id is (video id, shortcode, …)."""

    platform: str
    post_id: str
    id_kind: str = "post_id"
    needs_resolution: bool = False  # short links (vm.tiktok.com, pin.it, fb.watch) must be followed first
    handle: str = ""


@dataclass(frozen=True)
class Violation:
    """A text/content limit broken before any call: field, the rule, measured vs allowed."""

    field: str
    rule: str
    measured: int
    allowed: int

    def __str__(self) -> str:
        return f"{self.field}: {self.rule} is {self.measured}, the limit is {self.allowed}"


@dataclass(frozen=True)
class TokenSet:
    access_token: str
    refresh_token: str | None
    expires_in: float | None
    scope: tuple[str, ...]
    token_type: str = "Bearer"
    raw: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"TokenSet(scope={self.scope!r}, expires_in={self.expires_in!r})"
