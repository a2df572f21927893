"""`cliply keys`: token-encryption key rotation and API tokens for the HTTP API."""

from __future__ import annotations

import click

from cliply.cli.base import app, failing_with, fmt_time, workspace_option
from cliply.publishing import accounts_service as service


@click.group()
def keys() -> None:
    """Token-encryption keys and API tokens."""


@keys.command("rotate")
def keys_rotate() -> None:
    """Re-encrypt every stored secret with the active key (CLIPLY_TOKEN_KEY_ACTIVE)."""
    n, kid = service.rotate_keys(app())
    click.echo(f"re-encrypted {n} secret(s) with key {kid!r}")


@keys.command("create-token")
@click.argument("name")
@workspace_option
def keys_create_token(name: str, workspace: str | None) -> None:
    """Create an API token for the HTTP API. It is shown once, on stdout only."""
    token = service.create_api_token(app(), workspace, name)
    click.echo("store this API token now; it cannot be shown again:", err=True)
    click.echo(token)


@keys.command("list-tokens")
@workspace_option
def keys_list_tokens(workspace: str | None) -> None:
    """API tokens (prefix only)."""
    for t in service.list_api_tokens(app(), workspace):
        state = f"revoked {fmt_time(t['revoked_at'])}" if t["revoked_at"] else "active"
        click.echo(f"{t['id']:>4}  {t['prefix']}…  {t['name']:<24} {state}  last used {fmt_time(t['last_used_at'])}")


@keys.command("revoke-token")
@click.argument("token_id", type=int)
@workspace_option
@failing_with(1)
def keys_revoke_token(token_id: int, workspace: str | None) -> None:
    """Revoke an API token."""
    service.revoke_api_token(app(), workspace, token_id)
    click.echo(f"revoked API token {token_id}")
