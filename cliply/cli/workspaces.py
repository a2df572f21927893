"""`cliply workspaces`: create and list workspaces (tenants). Other commands refuse a workspace that was not created
here, so a mistyped --workspace never makes a new one; only the default workspace is created on first use."""

from __future__ import annotations

import json

import click

from cliply import usecases, workspace_settings
from cliply.cli.base import app, json_option, workspace_option
from cliply.media.caption_styles import STYLES


@click.group()
def workspaces() -> None:
    """Create and list workspaces; set a workspace's caption style."""


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


@workspaces.command("caption-style")
@click.argument("style", required=False, type=click.Choice(list(STYLES)))
@click.option("--clear", is_flag=True, help="Go back to CLIPLY_CAPTION_STYLE.")
@workspace_option
@json_option
def workspaces_caption_style(style: str | None, clear: bool, workspace: str | None, as_json: bool) -> None:
    """Show or set the caption style the workspace's clips are rendered with (a post may still pick its own)."""
    if style and clear:
        raise click.UsageError("give a style or --clear, not both")
    if style or clear:
        ws = workspace_settings.set_caption_style(app(), workspace, None if clear else style)
    else:
        ws = workspace_settings.workspace_settings(app(), workspace)
    if as_json:
        click.echo(json.dumps(ws))
        return
    own = ws["caption_style"] or f"not set (CLIPLY_CAPTION_STYLE: {ws['effective_caption_style']})"
    click.echo(f"workspace {ws['name']}: caption style {own}")
