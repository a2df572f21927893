"""Readiness: can this process do its job? Each check returns {"ok", "detail"}; details never contain secrets
(database URLs are rendered with the password hidden, errors by type and first line only)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from typing import Any

from cliply.settings import Settings, unknown_variables

Check = Callable[[], dict[str, Any]]


def _ok(detail: str) -> dict[str, Any]:
    return {"ok": True, "detail": detail}


def _fail(exc: BaseException | str) -> dict[str, Any]:
    if isinstance(exc, BaseException):
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        return {"ok": False, "detail": f"{type(exc).__name__}: {first}".rstrip(": ")}
    return {"ok": False, "detail": exc}


def check_config(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    try:
        settings = Settings.from_env(environ)
        keyring = _keyring(settings)  # never creates a key file: a missing one is the token_keys check's business
        unknown = [k for k in unknown_variables(environ) if k.startswith("CLIPLY_PUBLISH_")]
        if unknown:
            return _fail(f"unknown switch variable(s): {', '.join(unknown)}")
        keys = f"token key ring has {len(keyring.keys)} key(s)" if keyring else "no token key file yet"
        return _ok(f"settings loaded; {keys}")
    except Exception as exc:
        return _fail(exc)


def _keyring(settings: Settings) -> Any:
    """The configured key ring, or None when neither CLIPLY_TOKEN_KEYS nor the key file exists."""
    from cliply.security.vault import KEY_FILE_NAME, KeyRing

    if settings.token_keys.get_secret_value().strip():
        return KeyRing.from_settings(settings)
    path = settings.home / KEY_FILE_NAME
    return KeyRing.from_file(path) if path.exists() else None


def _stored_secrets(settings: Settings, limit: int = 5) -> list[tuple[str, str]]:
    """(ciphertext, aad) of a few stored access tokens, newest first."""
    from sqlalchemy import select

    from cliply.security.vault import aad_for
    from cliply.store.db import Database
    from cliply.store.models_accounts import Account

    db = Database(settings.resolved_database_url)
    try:
        with db.reading() as session:
            rows = session.execute(
                select(Account.workspace_id, Account.platform, Account.external_id, Account.access_token_enc)
                .where(Account.access_token_enc != "")
                .order_by(Account.updated_at.desc())
                .limit(limit)
            ).all()
    finally:
        db.dispose()
    return [(enc, aad_for(ws, platform, ext, "access_token")) for ws, platform, ext, enc in rows]


def check_token_keys(settings: Settings) -> dict[str, Any]:
    """Can the configured keys decrypt the stored secrets? A replaced CLIPLY_TOKEN_KEYS or a lost key file would
    otherwise only show when the first post fails."""
    from cliply.security.vault import KeyRing, TokenVault

    try:
        secrets = _stored_secrets(settings)
        keyring: KeyRing | None = _keyring(settings)
    except Exception as exc:
        return _fail(exc)
    if keyring is None:
        return (
            _fail("the token key file is missing but accounts have stored secrets")
            if secrets
            else _ok("no stored secrets yet")
        )
    vault = TokenVault(keyring)
    for enc, aad in secrets:
        try:
            vault.decrypt(enc, aad=aad)
        except Exception:
            return _fail(
                "the configured token keys cannot decrypt the stored secrets (CLIPLY_TOKEN_KEYS or the "
                "key file was replaced)"
            )
    return _ok(f"{len(secrets)} stored secret(s) checked")


def summary(report: dict[str, Any]) -> dict[str, Any]:
    """The report without details (paths, URLs, errors): what an unauthenticated caller may see."""
    return {"ok": report["ok"], "checks": {name: {"ok": c["ok"]} for name, c in report["checks"].items()}}


def check_database(settings: Settings) -> dict[str, Any]:
    from cliply.store.db import Database

    try:
        db = Database(settings.resolved_database_url)
    except Exception as exc:
        return _fail(exc)
    try:
        db.check()
        if not db.is_current():
            return _fail(f"schema at {db.current_revision()}, code expects {db.head_revision()}: run migrations")
        return _ok(f"{db.url.render_as_string(hide_password=True)} at {db.head_revision()}")
    except Exception as exc:
        return _fail(exc)
    finally:
        db.dispose()


def check_media(settings: Settings) -> dict[str, Any]:
    from cliply.storage.media_store import LocalMediaStore, local_root_from_url

    url = settings.resolved_media_url
    try:
        if url.startswith("s3://"):
            from cliply.wiring import build_media_store

            store = build_media_store(settings)
            store.list("__readyz__/")  # lists the bucket: fails when unreachable or denied
            return _ok(url)
        store = LocalMediaStore(local_root_from_url(url))  # creates the folder on first use
        probe = f"_readyz/{os.getpid()}-{time.monotonic_ns()}"
        store.put_bytes(probe, b"ok")  # proves the folder is writable (atomic write + rename)
        store.delete(probe)
        return _ok(str(store.root))
    except Exception as exc:
        return _fail(exc)


def check_dagster(settings: Settings) -> dict[str, Any]:
    from cliply.orchestration import check_instance

    try:
        ok, detail = check_instance(settings)
    except Exception as exc:
        return _fail(exc)
    return _ok(detail) if ok else _fail(detail)


def run_checks(settings: Settings | None = None, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """{"ok": all ok, "checks": {name: {"ok", "detail"}}}. A failing config stops the rest (they depend on it)."""
    checks: dict[str, dict[str, Any]] = {"config": check_config(environ)}
    if settings is None:
        try:
            settings = Settings.from_env(environ)
        except Exception:
            settings = None
    if settings is not None:
        checks["database"] = check_database(settings)
        checks["media_store"] = check_media(settings)
        checks["dagster"] = check_dagster(settings)
        if checks["database"]["ok"]:
            checks["token_keys"] = check_token_keys(settings)
    return {"ok": all(c["ok"] for c in checks.values()), "checks": checks}
