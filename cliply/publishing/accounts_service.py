"""Account use cases: connect (OAuth start → callback, or Bluesky's app password), list, disconnect, and the API
tokens and key rotation that guard them. No database transaction is held during a platform's network call.

Secrets never leave: tokens and app passwords are not returned, logged or put in error messages."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cliply.platforms import PLATFORMS
from cliply.platforms.errors import PlatformError
from cliply.platforms.models import Credentials
from cliply.publishing.views import account_json
from cliply.security.vault import VaultError
from cliply.store.accounts import (
    AccountsRepo,
    oauth_flow,
    oauth_state_owner,
    pending_aad,
    rotate_all_secrets,
    take_confirmation,
)
from cliply.store.models import Workspace, utcnow
from cliply.store.models_accounts import Account
from cliply.store.repo import NotFound, WorkspaceScope
from cliply.usecases import ServiceError, WorkspaceRef, workspace_scope

if TYPE_CHECKING:
    from cliply.wiring import Cliply

log = logging.getLogger(__name__)


def handle_of(platform: str, creds: Any) -> str:
    """The name an account is shown by: what the platform calls it, else its platform id."""
    extra = creds.extra or {}
    for key in ("handle", "username", "channel_title", "name", "page_name", "display_name"):
        value = extra.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return creds.account_id or platform


def _known(platform: str) -> str:
    platform = platform.lower()
    if platform not in PLATFORMS:
        raise ServiceError(f"unknown platform {platform!r}; choose from {', '.join(PLATFORMS)}", status=404)
    return platform


def list_accounts(app: Cliply, ref: WorkspaceRef, platform: str | None = None) -> list[dict[str, Any]]:
    with workspace_scope(app, ref, write=False) as scope:
        now = utcnow()
        return [account_json(a, now) for a in AccountsRepo(scope, app.vault).list(platform or None)]


def disconnect_account(app: Cliply, ref: WorkspaceRef, account_id: int) -> dict[str, Any]:
    """Tokens wiped; past posts keep the account."""
    with workspace_scope(app, ref) as scope:
        return account_json(AccountsRepo(scope, app.vault).disconnect(account_id))


# --- Bluesky: handle + app password ---


def login_bluesky(app: Cliply, ref: WorkspaceRef, handle: str, app_password: str) -> dict[str, Any]:
    handle = handle.strip()
    if not handle or not app_password:
        raise ServiceError("bluesky needs handle and app_password")
    with workspace_scope(app, ref, write=False):
        pass  # the workspace (for the API: the token) is checked before any network call
    client = app.clients("bluesky")
    try:
        creds = client.login(handle, app_password)  # type: ignore[attr-defined]
    except PlatformError as exc:
        raise ServiceError(f"bluesky refused the login ({exc.error_class.value})", exit_code=1) from None
    finally:
        client.close()
    with workspace_scope(app, ref) as scope:
        return account_json(AccountsRepo(scope, app.vault).connect("bluesky", creds, handle_of("bluesky", creds)))


# --- OAuth ---
# A consent link must not connect someone else's account into the workspace that made it (login CSRF). A flow
# started in a browser (/oauth/<platform>/start) is bound to that browser: the callback needs the cookie the start
# set. A flow started by the API or the CLI has no browser to bind to: its callback only shows which account would
# join which workspace, and nothing is stored until the person who consented confirms it (a one-time token).

CONFIRM_TTL_S = 600


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class OAuthStart:
    url: str  # where the user consents
    state: str
    redirect_uri: str
    workspace_id: int
    browser_key: str | None = None  # browser flow: the cookie value the callback must present


@dataclass(frozen=True)
class OAuthOutcome:
    """A callback's result: the account connected (browser flow), or held until confirmed (confirm_token)."""

    workspace: str
    platform: str
    handle: str
    missing: list[str]
    account: dict[str, Any] | None = None
    confirm_token: str | None = None


def begin_oauth(
    app: Cliply, ref: WorkspaceRef, platform: str, redirect_uri: str, *, browser: bool = False
) -> OAuthStart:
    """Start an authorisation for the workspace: store state + PKCE verifier, return the platform's consent URL.
    browser=True binds the flow to the browser that will receive OAuthStart.browser_key as a cookie."""
    with workspace_scope(app, ref, write=False):
        pass  # authenticate before anything else
    platform = _known(platform)
    if platform == "bluesky":
        raise ServiceError(
            "bluesky uses a handle and an app password: POST /api/accounts (or `cliply accounts connect bluesky`)"
        )
    client = app.clients(platform)
    try:
        pending = client.authorization_url(redirect_uri=redirect_uri)
    finally:
        client.close()
    key = secrets.token_urlsafe(32) if browser else None
    with workspace_scope(app, ref) as scope:
        AccountsRepo(scope, app.vault).begin_oauth(
            platform, pending.state, pending.code_verifier, redirect_uri, browser_hash=_digest(key) if key else None
        )
        return OAuthStart(pending.url, pending.state, redirect_uri, scope.workspace_id, key)


def _check_binding(app: Cliply, platform: str, state: str, browser_key: str | None) -> bool:
    """Refuse, before the state is used, a callback that is not the browser's that started a bound flow.
    True when the flow is browser-bound (and this is that browser)."""
    with app.db.reading() as session:
        row, guard = oauth_flow(session, state)
        if row is None:
            raise ServiceError("unknown, used or expired authorisation; start again")
        if row.platform != platform:
            raise ServiceError("this authorisation was started for another platform")
        bound = guard.browser_hash if guard is not None else None
        if bound and not (browser_key and hmac.compare_digest(_digest(browser_key).encode(), bound.encode())):
            raise ServiceError(
                "this authorisation was started in another browser, so nothing was connected; "
                "start the connection again from Cliply in this browser",
                status=403,
            )
        return bool(bound)


def _consume_state(app: Cliply, platform: str, state: str) -> tuple[Workspace, Any]:
    with app.session() as session:
        workspace = oauth_state_owner(session, state)  # system-level: the callback only carries `state`
        if workspace is None:
            raise ServiceError("unknown, used or expired authorisation; start again")
        try:
            pending = AccountsRepo(WorkspaceScope(session, workspace), app.vault).finish_oauth(state)
        except ValueError as exc:  # expired, or held for confirmation
            raise ServiceError(str(exc)) from None
        except VaultError:  # a verifier we cannot decrypt
            raise ServiceError("start the connection again") from None
        if pending.platform != platform:
            raise ServiceError("this authorisation was started for another platform")
        return workspace, pending


def _exchange(app: Cliply, platform: str, code: str, pending: Any) -> tuple[Credentials, list[str]]:
    client = app.clients(platform)
    try:
        creds = client.exchange_code(code=code, redirect_uri=pending.redirect_uri, code_verifier=pending.code_verifier)
        missing = list(client.missing_scopes(creds))
    finally:
        client.close()
    if not creds.account_id:
        raise ServiceError(f"{platform} did not say which account was authorised", status=502, exit_code=1)
    return creds, missing


def _store(
    app: Cliply, session: Session, workspace: Workspace, platform: str, creds: Credentials, missing: list[str]
) -> dict[str, Any]:
    repo = AccountsRepo(WorkspaceScope(session, workspace), app.vault)
    account = repo.connect(platform, creds, handle_of(platform, creds))
    if missing:
        account = repo.set_status(account.id, "error", f"missing permissions: {', '.join(missing)}")
    log.info(
        "account connected",
        extra={"workspace": workspace.name, "platform": platform, "account_id": account.id, "missing_scopes": missing},
    )
    return account_json(account)


def complete_oauth(
    app: Cliply, platform: str, code: str, state: str, *, browser_key: str | None = None
) -> OAuthOutcome:
    """The callback: check the flow's binding, consume `state` (once), exchange the code. A browser-bound flow
    stores the account now; any other holds it (encrypted) for confirm_oauth. `missing`: required scopes the
    user did not grant (the account is then marked as in error)."""
    bound = _check_binding(app, platform, state, browser_key)
    workspace, pending = _consume_state(app, platform, state)
    creds, missing = _exchange(app, platform, code, pending)
    handle = handle_of(platform, creds)
    token = secrets.token_urlsafe(32)
    held = json.dumps({"creds": _creds_json(creds), "missing": missing})
    with app.session() as session:
        scope = WorkspaceScope(session, session.get(Workspace, workspace.id))
        repo = AccountsRepo(scope, app.vault)
        if bound:
            repo.drop_guard(state)
            account = _store(app, session, scope.workspace, platform, creds, missing)
            return OAuthOutcome(workspace.name, platform, handle, missing, account=account)
        repo.hold_oauth(platform, state, held, _digest(token), ttl_s=CONFIRM_TTL_S)
    return OAuthOutcome(workspace.name, platform, handle, missing, confirm_token=token)


def confirm_oauth(app: Cliply, platform: str, token: str, *, accept: bool = True) -> OAuthOutcome:
    """The user's answer to a held authorisation (once): accept stores the account, decline drops it."""
    with app.session() as session:
        row = take_confirmation(session, _digest(token)) if token else None
        if row is None or row.platform != platform:
            raise ServiceError("unknown, used or expired confirmation; start the connection again")
        workspace = session.get(Workspace, row.workspace_id)
        try:
            held = json.loads(
                app.vault.decrypt(row.pending_enc or "", aad=pending_aad(row.workspace_id, platform, row.state))
            )
        except VaultError:
            raise ServiceError("start the connection again") from None
        creds = _creds_of(held["creds"])
        handle = handle_of(platform, creds)
        if not accept:
            return OAuthOutcome(workspace.name, platform, handle, held["missing"])
        account = _store(app, session, workspace, platform, creds, held["missing"])
        return OAuthOutcome(workspace.name, platform, handle, held["missing"], account=account)


def _creds_json(creds: Credentials) -> dict[str, Any]:
    data = asdict(creds)
    for key in ("expires_at", "refresh_expires_at"):
        data[key] = data[key].isoformat() if data[key] else None
    data["scopes"] = list(creds.scopes)
    return data


def _creds_of(data: dict[str, Any]) -> Credentials:
    times = {k: datetime.fromisoformat(data[k]) if data.get(k) else None for k in ("expires_at", "refresh_expires_at")}
    return Credentials(**{**data, **times, "scopes": tuple(data.get("scopes") or ())})


def oauth_result(app: Cliply, start: OAuthStart, platform: str, since: datetime) -> tuple[bool, dict[str, Any] | None]:
    """(state consumed?, the account stored since `since`, if any): for a caller waiting on it. A callback held for
    the user's confirmation still counts as not consumed."""
    with app.db.reading() as session:
        if any(oauth_flow(session, start.state)):  # pending, or held for the user's confirmation
            return False, None
        account = session.scalars(
            select(Account)
            .where(
                Account.workspace_id == start.workspace_id, Account.platform == platform, Account.updated_at >= since
            )
            .order_by(Account.updated_at.desc())
            .limit(1)
        ).first()
        return True, account_json(account) if account is not None else None


# --- API tokens and keys ---


def create_api_token(app: Cliply, ref: WorkspaceRef, name: str) -> str:
    """The plaintext token, returned once (only its hash is stored)."""
    with workspace_scope(app, ref) as scope:
        return AccountsRepo(scope, app.vault).create_api_token(name)


def list_api_tokens(app: Cliply, ref: WorkspaceRef) -> list[dict[str, Any]]:
    with workspace_scope(app, ref) as scope:
        return [
            {"id": t.id, "prefix": t.prefix, "name": t.name, "revoked_at": t.revoked_at, "last_used_at": t.last_used_at}
            for t in AccountsRepo(scope, app.vault).list_api_tokens()
        ]


def revoke_api_token(app: Cliply, ref: WorkspaceRef, token_id: int) -> None:
    with workspace_scope(app, ref) as scope:
        AccountsRepo(scope, app.vault).revoke_api_token(token_id)


def rotate_keys(app: Cliply) -> tuple[int, str]:
    """Re-encrypt every stored secret with the active key: (how many, the key id)."""
    with app.session() as session:
        return rotate_all_secrets(session, app.vault), app.vault.active_kid


__all__ = [
    "NotFound",
    "OAuthOutcome",
    "OAuthStart",
    "begin_oauth",
    "complete_oauth",
    "confirm_oauth",
    "create_api_token",
    "disconnect_account",
    "handle_of",
    "list_accounts",
    "list_api_tokens",
    "login_bluesky",
    "oauth_result",
    "revoke_api_token",
    "rotate_keys",
]
