"""Connected accounts, OAuth flow state and API tokens of one workspace; secrets only ever stored encrypted.

AccountsRepo works inside a WorkspaceScope: every query filters on its workspace_id, so another workspace's account
id behaves exactly like a missing one. The module-level functions cross workspaces on purpose and are named as
system-level operations (token lookup for the HTTP API, the refresh schedule, key rotation).
"""

from __future__ import annotations

import builtins
import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, delete, select, update
from sqlalchemy.orm import Session

from cliply.platforms import PLATFORMS
from cliply.platforms.models import Credentials
from cliply.security.vault import TokenVault, VaultError, aad_for
from cliply.store.models import Workspace, utcnow
from cliply.store.models_accounts import ACCOUNT_STATUSES, Account, ApiToken, OAuthGuard, OAuthState
from cliply.store.repo import NotFound, WorkspaceScope, _dialect_insert

EXPIRY_WARNING = timedelta(days=7)
API_TOKEN_PREFIX = "clp_"
TOKEN_USE_GRANULARITY = timedelta(minutes=1)  # last_used_at is written at most this often per token
# Keys in Credentials.extra that could hold a secret; they are dropped rather than stored in the plain JSON column.
_SECRET_MARKERS = ("token", "secret", "password", "verifier", "jwt", "cookie", "session")


class AccountDisconnected(ValueError):
    """The account has no usable tokens (disconnected); the user must connect it again."""


def _aad(account: Account, field: str) -> str:
    return aad_for(account.workspace_id, account.platform, account.external_id, field)


def _state_aad(workspace_id: int, platform: str, state: str) -> str:
    return aad_for(workspace_id, platform, state, "code_verifier")


def _safe_extra(extra: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in extra.items() if not any(m in k.lower() for m in _SECRET_MARKERS)}


def hash_api_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def account_status(account: Account, now: datetime) -> str:
    """Status to show: stored error/reauth_required/disconnected win; otherwise derived from the expiry times.

    The account stays usable until the later of the access token's expiry and, when there is a refresh token, the
    refresh token's expiry (None = never). A short-lived access token with a long-lived refresh token is therefore
    "connected" (the refresh schedule renews it); "expiring" = usability ends within 7 days (the re-auth warning),
    "expired" = it has ended.
    """
    if account.status in ("error", "reauth_required", "disconnected"):
        return account.status
    end = account.expires_at
    if account.refresh_token_enc and end is not None:
        refresh_end = account.refresh_expires_at
        end = None if refresh_end is None else max(end, refresh_end)
    if end is None:
        return "connected"
    if end <= now:
        return "expired"
    if end - now <= EXPIRY_WARNING:
        return "expiring"
    return "connected"


class AccountsRepo:
    """Accounts, OAuth states and API tokens of the scope's workspace."""

    def __init__(self, scope: WorkspaceScope, vault: TokenVault) -> None:
        self.scope = scope
        self.session: Session = scope.session
        self.workspace_id = scope.workspace_id
        self.vault = vault

    # --- accounts ---

    def connect(self, platform: str, creds: Credentials, handle: str) -> Account:
        """Store a newly authorised account; connecting the same platform account again updates it in place."""
        if platform not in PLATFORMS:
            raise ValueError(f"unknown platform {platform!r}; choose from {', '.join(PLATFORMS)}")
        if not creds.account_id:
            raise ValueError("credentials carry no account_id (the platform's user/page/channel id)")
        if not creds.access_token:
            raise ValueError("credentials carry no access token")
        external_id = creds.account_id
        aad = aad_for(self.workspace_id, platform, external_id, "access_token")
        raad = aad_for(self.workspace_id, platform, external_id, "refresh_token")
        now = utcnow()
        values: dict[str, Any] = {
            "handle": handle,
            "status": "connected",
            "access_token_enc": self.vault.encrypt(creds.access_token, aad=aad),
            "refresh_token_enc": self.vault.encrypt(creds.refresh_token, aad=raad) if creds.refresh_token else None,
            "expires_at": creds.expires_at,
            "refresh_expires_at": creds.refresh_expires_at,
            "scopes": list(creds.scopes),
            "extra": _safe_extra(creds.extra),
            "last_error": None,
            "reauth_warned_at": None,
            "updated_at": now,
        }
        table = cast(Table, Account.__table__)
        # One INSERT … ON CONFLICT DO UPDATE: two concurrent callbacks for the same account cannot both insert.
        stmt = _dialect_insert(self.session)(table).values(
            workspace_id=self.workspace_id, platform=platform, external_id=external_id, created_at=now, **values
        )
        stmt = stmt.on_conflict_do_update(index_elements=["workspace_id", "platform", "external_id"], set_=values)
        self.session.execute(stmt)
        return self.session.scalars(
            select(Account)
            .where(
                Account.workspace_id == self.workspace_id,
                Account.platform == platform,
                Account.external_id == external_id,
            )
            .execution_options(populate_existing=True)
        ).one()

    def list(self, platform: str | None = None) -> builtins.list[Account]:
        stmt = select(Account).where(Account.workspace_id == self.workspace_id)
        if platform is not None:
            stmt = stmt.where(Account.platform == platform)
        return builtins.list(self.session.scalars(stmt.order_by(Account.platform, Account.id)))

    def get(self, account_id: int) -> Account | None:
        return self.session.scalars(
            select(Account).where(Account.id == account_id, Account.workspace_id == self.workspace_id)
        ).one_or_none()

    def _account(self, account_id: int) -> Account:
        account = self.get(account_id)
        if account is None:
            raise NotFound(f"no account {account_id!r} in this workspace")
        return account

    def credentials(self, account: Account) -> Credentials:
        """Decrypted credentials for the platform client. Never log or persist the result."""
        if account.workspace_id != self.workspace_id:
            raise NotFound(f"no account {account.id!r} in this workspace")
        if account.status == "disconnected" or not account.access_token_enc:
            raise AccountDisconnected(f"account {account.id} is disconnected; connect it again")
        refresh = account.refresh_token_enc
        return Credentials(
            access_token=self.vault.decrypt(account.access_token_enc, aad=_aad(account, "access_token")),
            refresh_token=self.vault.decrypt(refresh, aad=_aad(account, "refresh_token")) if refresh else None,
            expires_at=account.expires_at,
            refresh_expires_at=account.refresh_expires_at,
            scopes=tuple(account.scopes or ()),
            account_id=account.external_id,
            extra=dict(account.extra or {}),
        )

    def store_refreshed(self, account_id: int, creds: Credentials) -> Account:
        """Save refreshed tokens in ONE UPDATE, so a rotated refresh token never coexists with the old access token
        and concurrent readers see either the old pair or the new one. A refresh that returns no new refresh token
        keeps the stored one. A disconnected account is not revived (AccountDisconnected)."""
        account = self._account(account_id)
        if creds.account_id and creds.account_id != account.external_id:
            raise ValueError("refreshed credentials belong to a different platform account")
        if not creds.access_token:
            raise ValueError("refreshed credentials carry no access token")
        values: dict[str, Any] = {
            "access_token_enc": self.vault.encrypt(creds.access_token, aad=_aad(account, "access_token")),
            "expires_at": creds.expires_at,
            "status": "connected",
            "last_error": None,
            "updated_at": utcnow(),
        }
        if creds.refresh_token:
            values["refresh_token_enc"] = self.vault.encrypt(creds.refresh_token, aad=_aad(account, "refresh_token"))
            values["refresh_expires_at"] = creds.refresh_expires_at
            values["reauth_warned_at"] = None  # a new refresh lifetime: warn again when it runs low
        elif creds.refresh_expires_at is not None:
            values["refresh_expires_at"] = creds.refresh_expires_at
        if creds.scopes:
            values["scopes"] = list(creds.scopes)
        if creds.extra:
            values["extra"] = {**(account.extra or {}), **_safe_extra(creds.extra)}
        result = self.session.execute(
            update(Account)
            .where(
                Account.id == account_id, Account.workspace_id == self.workspace_id, Account.status != "disconnected"
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 0:  # type: ignore[attr-defined]
            raise AccountDisconnected(f"account {account_id} was disconnected; the refreshed tokens were discarded")
        return self._reload(account_id)

    def set_status(self, account_id: int, status: str, error: str | None = None) -> Account:
        if status not in ACCOUNT_STATUSES:
            raise ValueError(f"unknown account status {status!r}")
        account = self._account(account_id)
        account.status = status
        account.last_error = error
        self.session.flush()
        return account

    def mark_reauth_warned(self, account_id: int, at: datetime) -> Account:
        """Remember that the "reconnect within 7 days" warning was sent, so it goes out once per lifetime."""
        account = self._account(account_id)
        account.reauth_warned_at = at
        self.session.flush()
        return account

    def disconnect(self, account_id: int) -> Account:
        """Status disconnected and both tokens wiped (the row stays so past posts keep their account)."""
        self._account(account_id)
        self.session.execute(
            update(Account)
            .where(Account.id == account_id, Account.workspace_id == self.workspace_id)
            .values(
                status="disconnected", access_token_enc="", refresh_token_enc=None, last_error=None, updated_at=utcnow()
            )
            .execution_options(synchronize_session=False)
        )
        return self._reload(account_id)

    def _reload(self, account_id: int) -> Account:
        return self.session.scalars(
            select(Account)
            .where(Account.id == account_id, Account.workspace_id == self.workspace_id)
            .execution_options(populate_existing=True)
        ).one()

    # --- OAuth flow state ---

    def begin_oauth(
        self,
        platform: str,
        state: str,
        code_verifier: str | None,
        redirect_uri: str,
        ttl_s: int = 600,
        browser_hash: str | None = None,
    ) -> OAuthState:
        """Remember a started authorisation until its callback (or ttl_s). Expired states are swept here."""
        if platform not in PLATFORMS:
            raise ValueError(f"unknown platform {platform!r}; choose from {', '.join(PLATFORMS)}")
        if len(state) < 16:
            raise ValueError("OAuth state must be at least 16 characters of randomness")
        now = utcnow()
        self.session.execute(
            delete(OAuthState).where(OAuthState.workspace_id == self.workspace_id, OAuthState.expires_at <= now)
        )
        self.session.execute(
            delete(OAuthGuard).where(OAuthGuard.workspace_id == self.workspace_id, OAuthGuard.expires_at <= now)
        )
        verifier_enc = (
            self.vault.encrypt(code_verifier, aad=_state_aad(self.workspace_id, platform, state))
            if code_verifier
            else None
        )
        row = OAuthState(
            state=state,
            workspace_id=self.workspace_id,
            platform=platform,
            code_verifier_enc=verifier_enc,
            redirect_uri=redirect_uri,
            created_at=now,
            expires_at=now + timedelta(seconds=ttl_s),
        )
        self.session.add(row)
        if browser_hash:
            self.session.add(
                OAuthGuard(
                    state=state,
                    workspace_id=self.workspace_id,
                    platform=platform,
                    browser_hash=browser_hash,
                    expires_at=row.expires_at,
                )
            )
        self.session.flush()
        return row

    def finish_oauth(self, state: str) -> OAuthState:
        """Consume a state exactly once (DELETE … RETURNING: of two concurrent callbacks only one gets it).
        The returned object carries the decrypted `code_verifier`. Unknown, used or expired → ValueError."""
        cols = OAuthState.__table__.c
        row = self.session.execute(
            delete(OAuthState)
            .where(OAuthState.state == state, OAuthState.workspace_id == self.workspace_id)
            .returning(
                cols.state,
                cols.workspace_id,
                cols.platform,
                cols.code_verifier_enc,
                cols.redirect_uri,
                cols.created_at,
                cols.expires_at,
            )
            .execution_options(synchronize_session=False)
        ).one_or_none()
        if row is None:
            raise ValueError("unknown or already used OAuth state")
        data = row._asdict()
        if data["expires_at"] <= utcnow():  # already deleted above: an expired state is consumed too
            raise ValueError("OAuth state expired; start the connection again")
        result = OAuthState(**data)
        if data["code_verifier_enc"]:
            result.__dict__["_code_verifier"] = self.vault.decrypt(
                data["code_verifier_enc"], aad=_state_aad(self.workspace_id, data["platform"], data["state"])
            )
        return result

    def hold_oauth(self, platform: str, state: str, pending: str, confirm_hash: str, ttl_s: int = 600) -> None:
        """Keep an exchanged authorisation (`pending`: plaintext JSON, stored encrypted) until the user confirms it
        with the token whose sha256 is `confirm_hash`. The state stays taken meanwhile, so it cannot be reused."""
        self.session.execute(
            delete(OAuthGuard).where(OAuthGuard.state == state, OAuthGuard.workspace_id == self.workspace_id)
        )
        self.session.add(
            OAuthGuard(
                state=state,
                workspace_id=self.workspace_id,
                platform=platform,
                expires_at=utcnow() + timedelta(seconds=ttl_s),
                confirm_hash=confirm_hash,
                pending_enc=self.vault.encrypt(pending, aad=pending_aad(self.workspace_id, platform, state)),
            )
        )
        self.session.flush()

    def drop_guard(self, state: str) -> None:
        self.session.execute(
            delete(OAuthGuard).where(OAuthGuard.state == state, OAuthGuard.workspace_id == self.workspace_id)
        )

    # --- API tokens ---

    def create_api_token(self, name: str) -> str:
        """A new API token. The plaintext is returned once; only its sha256 is stored."""
        if not name.strip():
            raise ValueError("an API token needs a name")
        if len(name.strip()) > 100:
            raise ValueError("an API token's name has at most 100 characters")
        token = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
        self.session.add(
            ApiToken(
                workspace_id=self.workspace_id, name=name.strip(), token_hash=hash_api_token(token), prefix=token[:8]
            )
        )
        self.session.flush()
        return token

    def list_api_tokens(self) -> builtins.list[ApiToken]:
        return builtins.list(
            self.session.scalars(
                select(ApiToken).where(ApiToken.workspace_id == self.workspace_id).order_by(ApiToken.id)
            )
        )

    def revoke_api_token(self, token_id: int) -> ApiToken:
        row = self.session.scalars(
            select(ApiToken).where(ApiToken.id == token_id, ApiToken.workspace_id == self.workspace_id)
        ).one_or_none()
        if row is None:
            raise NotFound(f"no API token {token_id!r} in this workspace")
        if row.revoked_at is None:
            row.revoked_at = utcnow()
            self.session.flush()
        return row


# --- system-level operations: these cross workspaces on purpose and must not be exposed to tenants ---


def api_token_row(session: Session, token: str) -> ApiToken | None:
    """System-level: the live API token row for a plaintext token; None for unknown or revoked tokens."""
    if not token or not token.startswith(API_TOKEN_PREFIX) or len(token) > 200:
        return None
    return session.scalars(
        select(ApiToken).where(ApiToken.token_hash == hash_api_token(token), ApiToken.revoked_at.is_(None))
    ).one_or_none()


def resolve_api_token(session: Session, token: str, *, touch: bool = True) -> Workspace | None:
    """System-level: the workspace an API token belongs to; None for unknown or revoked tokens. `touch` records the
    use (at most once a minute); the HTTP service passes False and records it in its own short transaction."""
    row = api_token_row(session, token)
    if row is None:
        return None
    now = utcnow()
    if touch and api_token_is_stale(row, now):
        touch_api_token(session, row.id, now)
    return session.get(Workspace, row.workspace_id)


def api_token_is_stale(row: ApiToken, now: datetime, every: timedelta = TOKEN_USE_GRANULARITY) -> bool:
    return row.last_used_at is None or row.last_used_at <= now - every


def touch_api_token(session: Session, token_id: int, now: datetime, every: timedelta = TOKEN_USE_GRANULARITY) -> None:
    """System-level: record a token's use, at most once per `every` (a conditional UPDATE, its own short
    transaction), so busy tokens do not turn every API request into a write."""
    session.execute(
        update(ApiToken)
        .where(ApiToken.id == token_id, (ApiToken.last_used_at.is_(None)) | (ApiToken.last_used_at <= now - every))
        .values(last_used_at=now)
        .execution_options(synchronize_session=False)
    )


def pending_aad(workspace_id: int, platform: str, state: str) -> str:
    return aad_for(workspace_id, platform, state, "pending_connection")


def oauth_flow(session: Session, state: str) -> tuple[OAuthState | None, OAuthGuard | None]:
    """System-level: a flow's pending state and guard by `state`, to see how its callback must be checked."""
    return session.get(OAuthState, state), session.get(OAuthGuard, state)


def take_confirmation(session: Session, confirm_hash: str) -> OAuthGuard | None:
    """System-level: consume (once) the held authorisation a confirm token belongs to; None when unknown, used or
    expired. The returned guard's `pending_enc` is still encrypted."""
    cols = OAuthGuard.__table__.c
    row = session.execute(
        delete(OAuthGuard)
        .where(OAuthGuard.confirm_hash == confirm_hash)
        .returning(cols.state, cols.workspace_id, cols.platform, cols.expires_at, cols.pending_enc)
        .execution_options(synchronize_session=False)
    ).one_or_none()
    if row is None or row.expires_at <= utcnow() or not row.pending_enc:
        return None
    return OAuthGuard(**row._asdict())


def oauth_state_owner(session: Session, state: str) -> Workspace | None:
    """System-level: the workspace that started an OAuth flow, for a callback that arrives with only `state`."""
    return session.scalars(
        select(Workspace).join(OAuthState, OAuthState.workspace_id == Workspace.id).where(OAuthState.state == state)
    ).one_or_none()


def accounts_expiring(session: Session, before: datetime, limit: int = 100) -> list[Account]:
    """System-level: live accounts whose access or refresh token expires before `before` (refresh schedule and
    the 7-day re-auth warning), soonest first."""
    stmt = (
        select(Account)
        .where(
            Account.status.not_in(("disconnected", "reauth_required")),
            (Account.expires_at <= before) | (Account.refresh_expires_at <= before),
        )
        .order_by(Account.expires_at.is_(None), Account.expires_at, Account.id)  # NULLs last on both backends
        .limit(limit)
    )
    return list(session.scalars(stmt))


def rotate_all_secrets(session: Session, vault: TokenVault, batch: int = 500) -> int:
    """System-level (`cliply keys rotate`): re-encrypt every stored secret not under the vault's active key.
    Returns how many secrets were re-encrypted. Each write is a compare-and-swap on the old ciphertext, so a token
    refreshed concurrently is never overwritten with its stale predecessor; rerun until it returns 0."""
    session.flush()  # pending ORM changes go out first; expire_all() below would otherwise drop them
    done = 0
    for field in ("access_token", "refresh_token"):
        column = getattr(Account, f"{field}_enc")
        last_id = 0
        while True:
            rows = session.execute(
                select(Account.id, Account.workspace_id, Account.platform, Account.external_id, column)
                .where(Account.id > last_id, column.is_not(None), column != "")
                .order_by(Account.id)
                .limit(batch)
            ).all()
            if not rows:
                break
            last_id = rows[-1][0]
            for account_id, workspace_id, platform, external_id, enc in rows:
                new = _rotated(vault, enc, aad_for(workspace_id, platform, external_id, field), f"account {account_id}")
                if new is not None:
                    result = session.execute(
                        update(Account)
                        .where(Account.id == account_id, column == enc)
                        .values({column: new})
                        .execution_options(synchronize_session=False)
                    )
                    done += result.rowcount  # type: ignore[attr-defined]
    states = session.execute(
        select(OAuthState.state, OAuthState.workspace_id, OAuthState.platform, OAuthState.code_verifier_enc).where(
            OAuthState.code_verifier_enc.is_not(None)
        )
    ).all()
    for state, workspace_id, platform, enc in states:
        assert enc is not None  # selected with code_verifier_enc IS NOT NULL
        new = _rotated(vault, enc, _state_aad(workspace_id, platform, state), "an OAuth state")
        if new is not None:
            result = session.execute(
                update(OAuthState)
                .where(OAuthState.state == state, OAuthState.code_verifier_enc == enc)
                .values(code_verifier_enc=new)
                .execution_options(synchronize_session=False)
            )
            done += result.rowcount  # type: ignore[attr-defined]
    session.expire_all()  # ORM objects loaded earlier must not write their stale ciphertexts back
    return done


def _rotated(vault: TokenVault, enc: str, aad: str, what: str) -> str | None:
    if not vault.needs_rotation(enc):
        return None
    try:
        return vault.reencrypt(enc, aad=aad)
    except VaultError as exc:
        raise VaultError(f"cannot re-encrypt the secret of {what}: {exc}") from None
