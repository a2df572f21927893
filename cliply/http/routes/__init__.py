"""Every route of the service, by area."""

from __future__ import annotations

from starlette.routing import Route

from cliply.http.routes import accounts, media, oauth, posts, probes, workspace

ROUTES: list[Route] = [*probes.ROUTES, *oauth.ROUTES, *accounts.ROUTES, *posts.ROUTES, *media.ROUTES, *workspace.ROUTES]
