"""Accounts, OAuth state and API tokens on both backends: encryption at rest, isolation, rotation, status."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import event, inspect, text

from cliply.platforms.models import Credentials
from cliply.security.vault import KeyRing, TokenVault, VaultError
from cliply.store import Database, NotFound, WorkspaceScope, get_or_create_workspace
from cliply.store.accounts import (
    AccountDisconnected,
    AccountsRepo,
    account_status,
    accounts_expiring,
    oauth_state_owner,
    resolve_api_token,
    rotate_all_secrets,
)
from cliply.store.models import Base
from cliply.store.models_accounts import Account

ACCOUNT_TABLES = {"accounts", "oauth_states", "api_tokens"}
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def _ring(*kids: str) -> KeyRing:
    return KeyRing({kid: hashlib.sha256(kid.encode()).digest() for kid in kids}, kids[-1])


VAULT = TokenVault(_ring("k1"))


def _creds(n: int = 1, *, access: str | None = None, refresh: str | None = "default", **kw: Any) -> Credentials:
    return Credentials(
        access_token=access or f"ACCESS-secret-{n}",
        refresh_token=f"REFRESH-secret-{n}" if refresh == "default" else refresh,
        expires_at=kw.pop("expires_at", NOW + timedelta(hours=1)),
        refresh_expires_at=kw.pop("refresh_expires_at", NOW + timedelta(days=60)),
        scopes=kw.pop("scopes", ("video.upload",)),
        account_id=kw.pop("account_id", f"ext-{n}"),
        extra=kw.pop("extra", {"page_id": f"page-{n}"}),
    )


def _repo(s: Any, name: str, vault: TokenVault = VAULT) -> AccountsRepo:
    return AccountsRepo(WorkspaceScope(s, get_or_create_workspace(s, name)), vault)


def _raw_rows(db: Database, table: str) -> list[str]:
    """Every row of `table` as text, read with plain SQL (what a database dump would show)."""
    with db.engine.connect() as conn:
        return [" ".join(str(v) for v in row) for row in conn.execute(text(f"SELECT * FROM {table}"))]


def test_accounts_migration_matches_models_and_downgrades(db: Database) -> None:
    db.downgrade("0002")  # later migrations (other features) are not this test's business
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    mine = [d for d in diff if _touches_account_tables(d)]
    assert mine == [], f"accounts models and migration 0002 disagree: {mine}"
    db.downgrade("0001")
    assert not (set(inspect(db.engine).get_table_names()) & ACCOUNT_TABLES)
    db.migrate()
    assert set(inspect(db.engine).get_table_names()) >= ACCOUNT_TABLES


def _touches_account_tables(diff_item: Any) -> bool:
    """Whether one compare_metadata entry (a tuple, or a list of tuples for column changes) is about our tables."""
    if isinstance(diff_item, list):
        return any(_touches_account_tables(d) for d in diff_item)
    for part in diff_item[1:]:
        if isinstance(part, str) and part in ACCOUNT_TABLES:
            return True
        table = getattr(part, "table", part)  # Column/Index/Constraint -> its Table; a Table is itself
        if getattr(table, "name", None) in ACCOUNT_TABLES:
            return True
    return False


def test_connect_upserts_and_keeps_several_accounts_per_platform(db: Database) -> None:
    with db.session() as s:
        repo = _repo(s, "acme")
        first = repo.connect("youtube", _creds(1), "@one")
        second = repo.connect("youtube", _creds(2), "@two")
        other = repo.connect("tiktok", _creds(1), "@one-tt")  # same external id on another platform: separate
        again = repo.connect("youtube", _creds(1, access="ACCESS-new-1", refresh="REFRESH-new-1"), "@one-renamed")
        assert again.id == first.id
        assert len({first.id, second.id, other.id}) == 3
        assert [a.handle for a in repo.list("youtube")] == ["@one-renamed", "@two"]
        assert len(repo.list()) == 3
        assert repo.list("x") == []

    with db.session() as s:
        repo = _repo(s, "acme")
        account = repo.get(first.id)
        assert account is not None and account.status == "connected" and account.external_id == "ext-1"
        creds = repo.credentials(account)
        assert (creds.access_token, creds.refresh_token) == ("ACCESS-new-1", "REFRESH-new-1")
        assert creds.account_id == "ext-1" and creds.scopes == ("video.upload",)
        assert creds.expires_at == NOW + timedelta(hours=1)
        assert creds.refresh_expires_at == NOW + timedelta(days=60)
        assert creds.extra == {"page_id": "page-1"}
        with pytest.raises(ValueError, match="platform"):
            repo.connect("myspace", _creds(3), "@x")
        with pytest.raises(ValueError, match="account_id"):
            repo.connect("youtube", _creds(3, account_id=""), "@x")


def test_secrets_are_never_stored_in_plain_text(db: Database) -> None:
    with db.session() as s:
        repo = _repo(s, "acme")
        extra = {"page_id": "p1", "access_token": "ACCESS-in-extra", "appPassword": "PW-in-extra"}
        repo.connect("bluesky", _creds(1, extra=extra), "@me.bsky")
        repo.begin_oauth("x", "state-" + "s" * 20, "VERIFIER-secret-xyz", "https://app/callback")
        api_token = repo.create_api_token("ci")
    accounts = _raw_rows(db, "accounts")
    states = _raw_rows(db, "oauth_states")
    tokens = _raw_rows(db, "api_tokens")
    assert len(accounts) == len(states) == len(tokens) == 1
    dump = " ".join(accounts + states + tokens)
    for secret in (
        "ACCESS-secret-1",
        "REFRESH-secret-1",
        "ACCESS-in-extra",
        "PW-in-extra",
        "VERIFIER-secret-xyz",
        api_token,
    ):
        assert secret not in dump
    assert "v1:k1:" in accounts[0] and "v1:k1:" in states[0]
    assert hashlib.sha256(api_token.encode()).hexdigest() in tokens[0]
    with db.session() as s:
        account = _repo(s, "acme").list()[0]
        assert account.extra == {"page_id": "p1"}  # secret-looking keys never reach the plain JSON column


def test_store_refreshed_replaces_a_rotated_refresh_token_in_one_update(db: Database) -> None:
    with db.session() as s:
        account_id = _repo(s, "acme").connect("bluesky", _creds(1), "@me").id

    statements: list[str] = []

    def _record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", _record)
    try:
        with db.session() as s:
            repo = _repo(s, "acme")
            statements.clear()
            refreshed = _creds(
                1,
                access="ACCESS-2",
                refresh="REFRESH-2",
                expires_at=NOW + timedelta(hours=3),
                refresh_expires_at=NOW + timedelta(days=90),
            )
            repo.store_refreshed(account_id, refreshed)
            writes = [st for st in statements if st.lstrip().upper().startswith("UPDATE")]
    finally:
        event.remove(db.engine, "before_cursor_execute", _record)
    # Access and refresh token change together in a single statement: no reader can see a half-rotated pair.
    assert len(writes) == 1 and "refresh_token_enc" in writes[0] and "access_token_enc" in writes[0]

    with db.session() as s:
        repo = _repo(s, "acme")
        account = repo.get(account_id)
        assert account is not None
        creds = repo.credentials(account)
        assert (creds.access_token, creds.refresh_token) == ("ACCESS-2", "REFRESH-2")
        assert creds.expires_at == NOW + timedelta(hours=3)
        assert creds.refresh_expires_at == NOW + timedelta(days=90)
        # A refresh that does not rotate the refresh token keeps the stored one.
        repo.store_refreshed(account_id, _creds(1, access="ACCESS-3", refresh=None))
        creds = repo.credentials(repo._account(account_id))
        assert (creds.access_token, creds.refresh_token) == ("ACCESS-3", "REFRESH-2")
        with pytest.raises(ValueError, match="different platform account"):
            repo.store_refreshed(account_id, _creds(2))
    assert not any("REFRESH-secret-1" in row or "REFRESH-2" in row for row in _raw_rows(db, "accounts"))


def test_set_status_and_disconnect_wipes_tokens(db: Database) -> None:
    with db.session() as s:
        repo = _repo(s, "acme")
        account = repo.connect("linkedin", _creds(1), "Jane")
        repo.set_status(account.id, "error", "scope missing")
        assert repo._account(account.id).last_error == "scope missing"
        with pytest.raises(ValueError):
            repo.set_status(account.id, "happy")
        gone = repo.disconnect(account.id)
        assert gone.status == "disconnected"
        assert gone.access_token_enc == "" and gone.refresh_token_enc is None
        with pytest.raises(AccountDisconnected):
            repo.credentials(gone)
        # A refresh finishing after the disconnect must not bring the tokens back.
        with pytest.raises(AccountDisconnected):
            repo.store_refreshed(account.id, _creds(1, access="ACCESS-late"))
    row = _raw_rows(db, "accounts")[0]
    assert "v1:" not in row and "ACCESS-late" not in row
    with db.session() as s:
        repo = _repo(s, "acme")
        back = repo.connect("linkedin", _creds(1, access="ACCESS-again"), "Jane")  # reconnecting revives it
        assert back.id == account.id and back.status == "connected"
        assert repo.credentials(back).access_token == "ACCESS-again"


def test_workspace_b_cannot_touch_workspace_a_accounts(db: Database) -> None:
    with db.session() as s:
        a = _repo(s, "a")
        account_id = a.connect("youtube", _creds(1), "@a").id
        a.begin_oauth("youtube", "state-of-a-" + "x" * 16, "VERIFIER-a", "https://app/cb")
        a.create_api_token("a-token")
        token_id = a.list_api_tokens()[0].id
    with db.session() as s:
        b = _repo(s, "b")
        assert b.get(account_id) is None
        assert b.list() == [] and b.list("youtube") == []
        with pytest.raises(NotFound):
            b.store_refreshed(account_id, _creds(1, access="ACCESS-evil"))
        with pytest.raises(NotFound):
            b.disconnect(account_id)
        with pytest.raises(NotFound):
            b.set_status(account_id, "error", "evil")
        with pytest.raises(NotFound):
            b.revoke_api_token(token_id)
        assert b.list_api_tokens() == []
        with pytest.raises(ValueError):
            b.finish_oauth("state-of-a-" + "x" * 16)
        a_account = _repo(s, "a").get(account_id)
        assert a_account is not None
        with pytest.raises(NotFound):
            b.credentials(a_account)  # holding A's row object is not enough either
        # B connecting the same platform account gets its own row, not A's.
        assert b.connect("youtube", _creds(1, access="ACCESS-b"), "@b").id != account_id
    with db.session() as s:
        a = _repo(s, "a")
        account = a.get(account_id)
        assert account is not None and account.status == "connected" and account.handle == "@a"
        assert a.credentials(account).access_token == "ACCESS-secret-1"
        assert a.finish_oauth("state-of-a-" + "x" * 16).code_verifier == "VERIFIER-a"
        assert a.list_api_tokens()[0].revoked_at is None


def test_ciphertext_copied_to_another_account_does_not_decrypt(db: Database) -> None:
    with db.session() as s:
        repo = _repo(s, "acme")
        one = repo.connect("x", _creds(1), "@one")
        two = repo.connect("x", _creds(2), "@two")
        two.access_token_enc = one.access_token_enc
        s.flush()
        with pytest.raises(VaultError) as err:
            repo.credentials(two)
        assert "ACCESS-secret-1" not in str(err.value)


def test_oauth_state_is_one_time_and_expires(db: Database) -> None:
    state = "st-" + "a" * 30
    with db.session() as s:
        repo = _repo(s, "acme")
        repo.begin_oauth("tiktok", state, "VERIFIER-1", "https://app/cb/tiktok")
        repo.begin_oauth("facebook", "st-no-pkce-" + "b" * 20, None, "https://app/cb/facebook")
        repo.begin_oauth("x", "st-expired-" + "c" * 20, "VERIFIER-2", "https://app/cb/x", ttl_s=0)
        with pytest.raises(ValueError):
            repo.begin_oauth("x", "short", "v", "https://app/cb")
    with db.session() as s:
        owner = oauth_state_owner(s, state)
        assert owner is not None and owner.name == "acme"
        assert oauth_state_owner(s, "st-unknown") is None
        repo = _repo(s, "acme")
        done = repo.finish_oauth(state)
        assert (done.platform, done.redirect_uri, done.code_verifier) == (
            "tiktok",
            "https://app/cb/tiktok",
            "VERIFIER-1",
        )
        assert "VERIFIER-1" not in repr(done)
        assert done.expires_at.tzinfo is not None
        with pytest.raises(ValueError, match="already used"):
            repo.finish_oauth(state)
        assert repo.finish_oauth("st-no-pkce-" + "b" * 20).code_verifier is None
        with pytest.raises(ValueError, match="expired"):
            repo.finish_oauth("st-expired-" + "c" * 20)
        with pytest.raises(ValueError):
            repo.finish_oauth("st-expired-" + "c" * 20)  # consumed even though it had expired
        with pytest.raises(ValueError):
            repo.finish_oauth("never-issued")
    assert _raw_rows(db, "oauth_states") == []


def test_api_tokens_are_hashed_resolved_and_revocable(db: Database) -> None:
    with db.session() as s:
        a = _repo(s, "a")
        token = a.create_api_token("deploy")
        other = _repo(s, "b").create_api_token("b-token")
        assert token != other and token.startswith("clp_") and len(token) > 40
        row = a.list_api_tokens()[0]
        assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert row.prefix == token[:8] and row.last_used_at is None
        assert token not in repr(row) and row.token_hash not in repr(row)
        with pytest.raises(ValueError):
            a.create_api_token("  ")
    with db.session() as s:
        ws = resolve_api_token(s, token)
        assert ws is not None and ws.name == "a"
        ws_b = resolve_api_token(s, other)
        assert ws_b is not None and ws_b.name == "b"
        for bad in ("", "clp_wrong", token + "x", token[:-1], row.token_hash):
            assert resolve_api_token(s, bad) is None
    with db.session() as s:
        a = _repo(s, "a")
        assert a.list_api_tokens()[0].last_used_at is not None
        a.revoke_api_token(row.id)
    with db.session() as s:
        assert resolve_api_token(s, token) is None
        assert resolve_api_token(s, other) is not None  # revoking one token leaves the others alone
    assert not any(token in r for r in _raw_rows(db, "api_tokens"))


def test_rotate_all_secrets_with_no_downtime(db: Database) -> None:
    old, both, new = TokenVault(_ring("k1")), TokenVault(_ring("k1", "k2")), TokenVault(_ring("k2"))
    with db.session() as s:
        a, b = _repo(s, "a", old), _repo(s, "b", old)
        a.connect("youtube", _creds(1), "@a1")
        a.connect("threads", _creds(2, refresh=None), "@a2")
        b.connect("youtube", _creds(1), "@b1")
        b.connect("pinterest", _creds(3), "@b3")
        b.disconnect(b.connect("x", _creds(4), "@gone").id)
        a.begin_oauth("x", "rot-state-" + "z" * 20, "VERIFIER-rot", "https://app/cb")
        a.begin_oauth("facebook", "rot-nopkce-" + "z" * 20, None, "https://app/cb")

    with db.session() as s:
        # Step 1: k2 deployed as active alongside k1. Old ciphertexts still decrypt; new writes use k2.
        a = _repo(s, "a", both)
        assert [a.credentials(acc).access_token for acc in a.list()] == ["ACCESS-secret-2", "ACCESS-secret-1"]
        a.store_refreshed(a.list("threads")[0].id, _creds(2, access="ACCESS-2b", refresh=None))

    with db.session() as s:
        # Step 2: `cliply keys rotate`. 6 account secrets (a1: 2, b1: 2, b3: 2) + 1 verifier still on k1;
        # threads' access token was already rewritten under k2 and the disconnected account holds nothing.
        assert rotate_all_secrets(s, both) == 7
    with db.session() as s:
        assert rotate_all_secrets(s, both) == 0
    dump = " ".join(_raw_rows(db, "accounts") + _raw_rows(db, "oauth_states"))
    assert "v1:k1:" not in dump and dump.count("v1:k2:") == 8

    with db.session() as s:
        # Step 3: k1 removed. Everything still decrypts with k2 alone, and nothing decrypts with k1 alone.
        for name in ("a", "b"):
            repo = _repo(s, name, new)
            for account in repo.list():
                if account.status == "disconnected":
                    continue
                creds = repo.credentials(account)
                assert creds.access_token.startswith("ACCESS-")
                with pytest.raises(VaultError):
                    _repo(s, name, old).credentials(account)
        by_handle = {acc.handle: acc for acc in _repo(s, "a", new).list()}
        assert _repo(s, "a", new).credentials(by_handle["@a1"]).refresh_token == "REFRESH-secret-1"
        assert _repo(s, "a", new).credentials(by_handle["@a2"]).access_token == "ACCESS-2b"
        assert _repo(s, "a", new).finish_oauth("rot-state-" + "z" * 20).code_verifier == "VERIFIER-rot"


def test_rotation_refuses_secrets_it_cannot_read(db: Database) -> None:
    with db.session() as s:
        _repo(s, "a", TokenVault(_ring("k1"))).connect("youtube", _creds(1), "@a1")
    with db.session() as s, pytest.raises(VaultError) as err:
        rotate_all_secrets(s, TokenVault(_ring("k2")))
    assert "ACCESS-secret-1" not in str(err.value)


def test_accounts_expiring_is_system_level_and_skips_dead_accounts(db: Database) -> None:
    with db.session() as s:
        a, b = _repo(s, "a"), _repo(s, "b")
        soon = a.connect("youtube", _creds(1, expires_at=NOW + timedelta(minutes=3)), "@soon")
        b_soon = b.connect("youtube", _creds(2, expires_at=NOW + timedelta(minutes=1)), "@b-soon")
        a.connect("tiktok", _creds(3, expires_at=NOW + timedelta(days=3)), "@later")
        refresh_ends = a.connect("x", _creds(4, expires_at=None, refresh_expires_at=NOW + timedelta(days=2)), "@r")
        gone = a.connect("linkedin", _creds(5, expires_at=NOW), "@gone")
        a.disconnect(gone.id)
        reauth = a.connect("pinterest", _creds(6, expires_at=NOW), "@reauth")
        a.set_status(reauth.id, "reauth_required")
    with db.session() as s:
        found = accounts_expiring(s, NOW + timedelta(minutes=5), limit=10)
        assert [acc.id for acc in found] == [b_soon.id, soon.id]
        week = accounts_expiring(s, NOW + timedelta(days=7), limit=10)
        assert {acc.handle for acc in week} == {"@soon", "@b-soon", "@later", "@r"}
        assert refresh_ends.id in {acc.id for acc in week}
        assert len(accounts_expiring(s, NOW + timedelta(days=7), limit=2)) == 2


def _account(
    status: str = "connected",
    refresh: bool = True,
    expires: timedelta | None = timedelta(hours=1),
    refresh_expires: timedelta | None = timedelta(days=60),
) -> Account:
    return Account(
        id=1,
        workspace_id=1,
        platform="youtube",
        handle="@h",
        external_id="e",
        status=status,
        access_token_enc="v1:k1:AAAA:BBBB",
        refresh_token_enc="v1:k1:CCCC:DDDD" if refresh else None,
        expires_at=None if expires is None else NOW + expires,
        refresh_expires_at=None if refresh_expires is None else NOW + refresh_expires,
    )


@pytest.mark.parametrize(
    ("account", "expected"),
    [
        (_account(), "connected"),  # short access token, long refresh: the refresh schedule keeps it alive
        (_account(expires=-timedelta(hours=1)), "connected"),  # access lapsed but refreshable
        (_account(refresh_expires=timedelta(days=6)), "expiring"),
        (_account(refresh_expires=timedelta(days=7)), "expiring"),
        (_account(refresh_expires=timedelta(days=8)), "connected"),
        (_account(expires=-timedelta(hours=1), refresh_expires=-timedelta(seconds=1)), "expired"),
        (_account(refresh_expires=None), "connected"),  # refresh token without an expiry
        (_account(refresh=False, expires=timedelta(days=3)), "expiring"),  # nothing to refresh with
        (_account(refresh=False, expires=timedelta(days=30)), "connected"),
        (_account(refresh=False, expires=-timedelta(minutes=1)), "expired"),
        (_account(refresh=False, expires=None), "connected"),  # e.g. a never-expiring Page token
        (_account(expires=None, refresh_expires=-timedelta(days=1)), "connected"),  # access token never expires
        (_account(expires=timedelta(days=10), refresh_expires=timedelta(days=2)), "connected"),
        (_account("error"), "error"),
        (_account("reauth_required"), "reauth_required"),
        (_account("disconnected", refresh=False, expires=None), "disconnected"),
    ],
)
def test_account_status_derivation(account: Account, expected: str) -> None:
    assert account_status(account, NOW) == expected


def test_reprs_never_show_tokens(db: Database) -> None:
    creds = _creds(1)
    assert "ACCESS-secret-1" not in repr(creds) and "REFRESH-secret-1" not in repr(creds)
    with db.session() as s:
        repo = _repo(s, "acme")
        account = repo.connect("youtube", creds, "@me")
        shown = repr(account) + str(account) + repr(repo.credentials(account)) + repr(repo.list())
        for secret in ("ACCESS-secret-1", "REFRESH-secret-1", account.access_token_enc, str(account.refresh_token_enc)):
            assert secret not in shown
        assert "@me" in repr(account) and "youtube" in repr(account)
