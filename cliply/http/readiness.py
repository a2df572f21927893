"""Readiness: can this process do its job? Each check returns {"ok", "detail"}; details never contain secrets
(database URLs are rendered with the password hidden, errors by type and first line only)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from cliply.config import Settings

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
        from cliply.platforms import PLATFORMS
        from cliply.security.vault import KeyRing

        keyring = KeyRing.from_env(environ, settings.home)
        unknown = [k for k in (environ if environ is not None else os.environ)
                   if k.startswith("CLIPLY_PUBLISH_") and k.removeprefix("CLIPLY_PUBLISH_").lower() not in PLATFORMS]
        if unknown:
            return _fail(f"unknown switch variable(s): {', '.join(sorted(unknown))}")
        return _ok(f"settings loaded; token key ring has {len(keyring.keys)} key(s)")
    except Exception as exc:
        return _fail(exc)


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
            from cliply_resources import MediaStoreResource

            store = MediaStoreResource(url=url).get()
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
    try:
        import dagster as dg  # lazy: heavy, and the HTTP service does not otherwise need it

        home = os.environ.get("DAGSTER_HOME")
        if home:
            instance = dg.DagsterInstance.get()
        else:
            embedded = (settings.home / "dagster").resolve()
            if not (embedded / "dagster.yaml").is_file():
                return _fail("DAGSTER_HOME is not set and there is no embedded instance under CLIPLY_HOME")
            instance = dg.DagsterInstance.from_config(str(embedded))
        try:
            instance.get_run_records(limit=1)  # touches run storage: proves it is reachable
            where = home or str(settings.home / "dagster")
            return _ok(f"instance at {Path(where)}")
        finally:
            instance.dispose()
    except Exception as exc:
        return _fail(exc)


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
    return {"ok": all(c["ok"] for c in checks.values()), "checks": checks}
