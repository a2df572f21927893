"""`cliply workspaces`: create and list workspaces (tenants). Other commands refuse a workspace that was not created
here, so a mistyped --workspace never makes a new one; only the default workspace is created on first use."""

from __future__ import annotations

import json

import click

from cliply import usecases
from cliply.cli.base import app, json_option


@click.group()
def workspaces() -> None:
    """Create and list workspaces."""


@workspaces.command("create")
@click.argument("name")
@click.option("--plan", default=None, help="Plan of the workspace (default: CLIPLY_DEFAULT_PLAN).")
def workspaces_create(name: str, plan: str | None) -> None:
    """Create a workspace."""
    ws = usecases.create_workspace(app(), name, plan)
    click.echo(f"created workspace {ws['name']} (id {ws['id']}, plan {ws['plan']})")


@workspaces.command("list")
@json_option
def workspaces_list(as_json: bool) -> None:
    """Every workspace, by name."""
    rows = usecases.list_workspaces(app())
    if as_json:
        click.echo(json.dumps({"workspaces": rows}))
        return
    for w in rows:
        click.echo(f"{w['id']:>4}  {w['name']:<32} {w['plan']}")
