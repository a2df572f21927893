"""Connected platform accounts, pending OAuth flows and API tokens (migration 0002_accounts), and pending uploads
(0004_http_hardening).

Secrets are stored only as vault ciphertexts (*_enc columns, see cliply.security.vault) or, for API tokens, as a
sha256 hash. __repr__ of every model leaves them out.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cliply.store.models import Base, _in, utcnow

ACCOUNT_STATUSES = ("connected", "expiring", "expired", "error", "reauth_required", "disconnected")


class Account(Base):
    __tablename__ = "accounts"
    __table_args__ = (
        UniqueConstraint("workspace_id", "platform", "external_id"),
        CheckConstraint(_in("status", ACCOUNT_STATUSES), name="status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    platform: Mapped[str] = mapped_column(String(32))
    handle: Mapped[str] = mapped_column(String(255), default="")
    external_id: Mapped[str] = mapped_column(String(255))  # the platform's user/page/channel id, or a DID
    status: Mapped[str] = mapped_column(String(24), default="connected")
    access_token_enc: Mapped[str] = mapped_column(Text, default="")  # "" once disconnected
    refresh_token_enc: Mapped[str | None] = mapped_column(Text)
    expires_at: Mapped[datetime | None] = mapped_column()
    refresh_expires_at: Mapped[datetime | None] = mapped_column()
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # non-secret ids only (page id, DID, …)
    last_error: Mapped[str | None] = mapped_column(Text)
    reauth_warned_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    def __repr__(self) -> str:
        return (
            f"Account(id={self.id!r}, workspace_id={self.workspace_id!r}, platform={self.platform!r}, "
            f"handle={self.handle!r}, status={self.status!r})"
        )


class OAuthState(Base):
    """One pending authorisation: the CSRF `state` and the encrypted PKCE verifier, used once then deleted."""

    __tablename__ = "oauth_states"

    state: Mapped[str] = mapped_column(String(255), primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    platform: Mapped[str] = mapped_column(String(32))
    code_verifier_enc: Mapped[str | None] = mapped_column(Text)  # None for platforms without PKCE
    redirect_uri: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)

    @property
    def code_verifier(self) -> str | None:
        """The decrypted PKCE verifier; only set on the object AccountsRepo.finish_oauth returns."""
        return self.__dict__.get("_code_verifier")

    def __repr__(self) -> str:
        return (
            f"OAuthState(workspace_id={self.workspace_id!r}, platform={self.platform!r}, "
            f"expires_at={self.expires_at!r})"
        )


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 hex of the token
    prefix: Mapped[str] = mapped_column(String(8))  # first 8 characters, to recognise a token in a list
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()

    def __repr__(self) -> str:
        return (
            f"ApiToken(id={self.id!r}, workspace_id={self.workspace_id!r}, name={self.name!r}, "
            f"prefix={self.prefix!r}, revoked={self.revoked_at is not None})"
        )


class OAuthGuard(Base):
    """What ties an OAuth flow to the person who started it (migration 0004). Browser flow: the sha256 of the cookie
    /oauth/<platform>/start set, which the callback must present. API/CLI flow: after the callback, the exchanged
    credentials (encrypted) wait for an explicit confirm with the one-time token whose sha256 is confirm_hash."""

    __tablename__ = "oauth_guards"

    state: Mapped[str] = mapped_column(String(255), primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    platform: Mapped[str] = mapped_column(String(32))
    browser_hash: Mapped[str | None] = mapped_column(String(64))
    confirm_hash: Mapped[str | None] = mapped_column(String(64), unique=True, index=True)
    pending_enc: Mapped[str | None] = mapped_column(Text)
    expires_at: Mapped[datetime] = mapped_column(index=True)

    def __repr__(self) -> str:
        return (
            f"OAuthGuard(workspace_id={self.workspace_id!r}, platform={self.platform!r}, "
            f"held={self.confirm_hash is not None})"
        )


class Upload(Base):
    """A signed upload URL handed out and not used yet: the PUT consumes it, so each URL uploads once."""

    __tablename__ = "uploads"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
