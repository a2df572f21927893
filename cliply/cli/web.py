"""`cliply web login`: a one-time sign-in link for the web pages."""

from __future__ import annotations

import json

import click

from cliply.cli.base import DEFAULT_SERVE_PORT, app, fmt_time, json_option, workspace_option
from cliply.web.sessions import create_login_link


@click.group()
def web() -> None:
    """The web pages served by `cliply serve` under /web/."""


@web.command("login")
@workspace_option
@json_option
def web_login(workspace: str | None, as_json: bool) -> None:
    """Print a one-time sign-in link for the workspace's web pages. It signs in once, within
    CLIPLY_WEB_LOGIN_LINK_MINUTES; treat it like a password until then."""
    cliply = app()
    secret, expires, name = create_login_link(cliply, workspace)
    base = cliply.settings.public_base_url or f"http://127.0.0.1:{DEFAULT_SERVE_PORT}"
    url = f"{base}/web/login/{secret}"
    if as_json:
        click.echo(json.dumps({"url": url, "workspace": name, "expires_at": expires.isoformat()}))
        return
    click.echo(f"one-time sign-in link for workspace {name!r}, valid until {fmt_time(expires)}:", err=True)
    click.echo(url)
