"""`cliply accounts`: connect (OAuth through `cliply serve`'s callback, or Bluesky's app password), list,
disconnect. Secrets are never echoed."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

import click

from cliply.cli.base import DEFAULT_SERVE_PORT, app, die, failing_with, json_option, workspace_option
from cliply.publishing import service
from cliply.publishing.accounts_service import OAuthStart
from cliply.store.models import utcnow
from cliply.wiring import Cliply


@click.group()
def accounts() -> None:
    """Connect, list and disconnect platform accounts."""


def _connect_bluesky(cliply: Cliply, workspace: str | None) -> None:
    handle = click.prompt("Bluesky handle").strip()
    password = click.prompt("App password (not your account password)", hide_input=True)
    account = service.login_bluesky(cliply, workspace, handle, password)
    click.echo(f"connected bluesky account {account['handle']} (id {account['id']})")


def _wait_for_callback(cliply: Cliply, start: OAuthStart, platform: str, timeout: int) -> None:
    since = utcnow() - timedelta(seconds=5)  # an account updated since the URL was printed is this connection
    deadline, consumed_at = time.monotonic() + timeout, None
    click.echo(f"waiting up to {timeout}s for the callback (`cliply serve` must be running) …", err=True)
    while time.monotonic() < deadline:
        consumed, account = service.oauth_result(cliply, start, platform, since)  # never sleeps in a transaction
        if account is not None:
            click.echo(f"connected {platform} account {account['handle']} (id {account['id']}, {account['status']})")
            return
        if consumed:  # the service may still be exchanging the code: allow it a moment
            consumed_at = consumed_at or time.monotonic()
            if time.monotonic() - consumed_at > 30:
                die("the authorisation was used but no account was stored; the service's page says why")
        time.sleep(1.0)
    die(f"no callback within {timeout}s; is `cliply serve` reachable at {start.redirect_uri}?")


@accounts.command("connect")
@click.argument("platform")
@workspace_option
@click.option("--timeout", default=300, show_default=True, type=int, help="Seconds to wait for the callback.")
@click.option("--no-wait", is_flag=True, help="Print the authorisation URL and return.")
def accounts_connect(platform: str, workspace: str | None, timeout: int, no_wait: bool) -> None:
    """OAuth: print the authorisation URL, then wait for `cliply serve` to receive the callback.
    Bluesky: asks for the handle and an app password (hidden)."""
    cliply, platform = app(), platform.lower()
    if platform == "bluesky":
        _connect_bluesky(cliply, workspace)
        return
    base = cliply.settings.public_base_url or f"http://127.0.0.1:{DEFAULT_SERVE_PORT}"
    start = service.begin_oauth(cliply, workspace, platform, f"{base}/oauth/{platform}/callback")
    click.echo(f"Open this URL in a browser to connect {platform} (the callback goes to {start.redirect_uri}):")
    click.echo(start.url)
    if not no_wait:
        _wait_for_callback(cliply, start, platform, timeout)


@accounts.command("list")
@workspace_option
@json_option
def accounts_list(workspace: str | None, as_json: bool) -> None:
    """Accounts with status (connected/expiring/expired/error/reauth_required/disconnected) and expiry."""
    rows = service.list_accounts(app(), workspace)
    if as_json:
        click.echo(json.dumps({"accounts": rows}))
        return
    if not rows:
        click.echo("no accounts; connect one with `cliply accounts connect <platform>`")
    for a in rows:
        err = f"  ({a['last_error']})" if a["last_error"] else ""
        click.echo(f"{a['id']:>4}  {a['platform']:<10} {a['handle']:<28} {a['status']:<16} {_expiry(a)}{err}")


def _expiry(account: dict[str, Any]) -> str:
    """A disconnected account's tokens are wiped: whatever expiry is still stored means nothing."""
    if account["status"] == "disconnected":
        return "-"
    ends = [t for t in (account["expires_at"], account["refresh_expires_at"]) if t]
    return "expires " + (max(ends)[:16].replace("T", " ") + " UTC" if ends else "never")


@accounts.command("disconnect")
@click.argument("account_id", type=int)
@workspace_option
@failing_with(1)
def accounts_disconnect(account_id: int, workspace: str | None) -> None:
    """Disconnect an account (tokens wiped; past posts keep it)."""
    account = service.disconnect_account(app(), workspace, account_id)
    click.echo(f"disconnected {account['platform']} account {account['handle']} (id {account['id']})")
