"""The HTTP service: probes, OAuth connect (start → platform → callback), the REST API (Bearer API token → one
workspace; every use case runs in that workspace's scope), signed local uploads and media downloads.

Handlers (routes/) translate HTTP to the use cases of cliply/publishing/service.py and cliply/media/service.py;
errors.py translates their errors back. Secrets never leave: tokens and app passwords are not returned or logged."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from starlette.applications import Starlette

from cliply.http.errors import EXCEPTION_HANDLERS, ApiError
from cliply.http.middleware import AccessLog
from cliply.http.routes import ROUTES
from cliply.http.routes import analytics as analytics_routes
from cliply.http.routes import experiments as experiments_routes
from cliply.http.routes import scoring as scoring_routes
from cliply.settings import Settings
from cliply.web.app import mounts as web_mounts
from cliply.wiring import Cliply, cliply

log = logging.getLogger(__name__)


def create_app(
    settings: Settings | None = None, *, environ: Mapping[str, str] | None = None, **overrides: Any
) -> Starlette:
    """overrides: any part of the container (db, media, vault, clients: platform → PlatformClient, signer, …);
    environ: read settings from this mapping instead of the process environment. For tests and embedding."""
    container = cliply(settings or Settings.from_env(environ), **overrides)
    return build(container)


def build(container: Cliply) -> Starlette:
    """The Starlette app around an existing container. Its parts are built now, before requests race to build them
    in worker threads; an unreachable database does not stop the start-up (/readyz says so)."""
    _ = container.media, container.vault, container.signer
    try:
        _ = container.db
    except Exception as exc:
        log.warning("database not migrated at start-up: %s", type(exc).__name__)
    app = Starlette(
        routes=[
            *ROUTES,
            *analytics_routes.ROUTES,
            *scoring_routes.ROUTES,
            *experiments_routes.ROUTES,
            *web_mounts(container),
        ],
        exception_handlers=EXCEPTION_HANDLERS,
    )
    app.state.cliply = container
    app.add_middleware(AccessLog)
    return app


__all__ = ["ApiError", "build", "create_app"]
