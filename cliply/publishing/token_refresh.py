"""Keep connected accounts usable: refresh access tokens before they expire (storing rotated refresh tokens
atomically), flag accounts that need re-authorisation, and warn owners 7 days before that is due."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cliply.platforms.base import PlatformClient
from cliply.platforms.errors import ErrorClass, PlatformError
from cliply.security.vault import TokenVault, VaultError
from cliply.store.accounts import EXPIRY_WARNING, AccountDisconnected, AccountsRepo, accounts_expiring
from cliply.store.db import Database
from cliply.store.models import Workspace
from cliply.store.models_accounts import Account
from cliply.store.repo import WorkspaceScope

REFRESH_AHEAD = timedelta(hours=1)  # the schedule runs every 15 min; the publisher also refreshes within 5 min


@dataclass
class RefreshReport:
    refreshed: list[int] = field(default_factory=list)
    reauth_required: list[int] = field(default_factory=list)
    errors: dict[int, str] = field(default_factory=dict)  # account id -> error class
    warned: list[int] = field(default_factory=list)


def reauth_due_at(account: Account) -> datetime | None:
    """When the user must authorise again: the refresh token's end, or the access token's when it can't refresh."""
    if account.refresh_token_enc:
        return account.refresh_expires_at
    return account.expires_at


def refresh_accounts(
    db: Database,
    vault: TokenVault,
    clients: Callable[[str], PlatformClient],
    notify: Callable[..., Any],
    *,
    now: datetime,
    limit: int = 200,
) -> RefreshReport:
    """Refresh access tokens expiring within REFRESH_AHEAD (rotated refresh tokens stored atomically); an account
    that can't refresh (AUTH_RECONNECT) becomes reauth_required and is reported; 7 days before re-authorisation is
    due the owner is warned, once per refresh-token lifetime."""
    report = RefreshReport()
    with db.session() as session:
        due = [(a.id, a.workspace_id) for a in accounts_expiring(session, now + EXPIRY_WARNING, limit)]
    for account_id, workspace_id in due:
        # One transaction per account: a failure on one never rolls back another's rotated refresh token.
        with db.session() as session:
            workspace = session.get(Workspace, workspace_id)
            assert workspace is not None
            repo = AccountsRepo(WorkspaceScope(session, workspace), vault)
            account = repo.get(account_id)
            if account is None:
                continue
            who = {
                "account_id": account.id,
                "platform": account.platform,
                "handle": account.handle,
                "workspace": workspace.name,
            }
            expires = account.expires_at
            if account.refresh_token_enc and expires is not None and expires <= now + REFRESH_AHEAD:
                try:
                    fresh = clients(account.platform).refresh(repo.credentials(account))
                    account = repo.store_refreshed(account.id, fresh)
                    report.refreshed.append(account.id)
                except PlatformError as exc:
                    if exc.error_class is ErrorClass.AUTH_RECONNECT:
                        repo.set_status(account.id, "reauth_required", error=exc.message)
                        report.reauth_required.append(account.id)
                        notify(
                            "reauth_required",
                            **who,
                            message=f"Reconnect {account.platform} account "
                            f"{account.handle or account.external_id}: {exc.message}",
                        )
                        continue
                    report.errors[account.id] = exc.error_class.value
                    continue
                except (AccountDisconnected, VaultError) as exc:  # unreadable secrets: one account, not the run
                    report.errors[account.id] = type(exc).__name__
                    continue
            due_at = reauth_due_at(account)
            if due_at is not None and due_at <= now + EXPIRY_WARNING and account.reauth_warned_at is None:
                notify(
                    "reauth_due",
                    **who,
                    reauth_due_at=due_at,
                    message=f"Reconnect {account.platform} account {account.handle or account.external_id} "
                    f"before {due_at:%Y-%m-%d %H:%M} UTC or scheduled posts to it will fail.",
                )
                repo.mark_reauth_warned(account.id, now)
                report.warned.append(account.id)
    return report
