"""`cliply sources [list|remove|prune]`: a workspace's sources, and cleaning them up with their media."""

from __future__ import annotations

import json
from typing import Any

import click

from cliply.cli.base import app, failing_with, json_option, workspace_option
from cliply.media import catalog

HEADER = f"{'ID':<24} {'STATUS':<10} {'ORIGIN':<6} {'DURATION':>8} {'CLIPS':>5}  NAME"


def _row(s: dict[str, Any]) -> str:
    duration = "-" if s["duration_s"] is None else f"{s['duration_s']:.1f}s"
    reason = f"  {s['reject_code']}: {s['reject_reason']}" if s["status"] in {"rejected", "failed"} else ""
    name = f"{s['original_name']}{reason}"
    return f"{s['id']:<24} {s['status']:<10} {s['origin']:<6} {duration:>8} {s['clips']:>5}  {name}"


def _list(workspace: str | None, as_json: bool) -> None:
    rows = catalog.list_sources(app(), workspace)
    if as_json:
        click.echo(json.dumps({"sources": rows}))
        return
    if not rows:
        click.echo("no sources yet; add one with `cliply ingest` or `cliply process`")
        return
    click.echo(HEADER)
    for s in rows:
        click.echo(_row(s))


@click.group(invoke_without_command=True)
@workspace_option
@json_option
@click.pass_context
def sources(ctx: click.Context, workspace: str | None, as_json: bool) -> None:
    """List a workspace's sources (status, duration, clip count); `remove` and `prune` clean them up."""
    if ctx.invoked_subcommand is None:
        _list(workspace, as_json)


@sources.command("list")
@workspace_option
@json_option
def sources_list(workspace: str | None, as_json: bool) -> None:
    """List a workspace's sources (status, duration, clip count)."""
    _list(workspace, as_json)


@sources.command("remove")
@click.argument("source_id")
@workspace_option
@failing_with(1)
def sources_remove(source_id: str, workspace: str | None) -> None:
    """Delete a source with its transcript, clips, their finished posts and all its stored media. Refused while a
    scheduled post uses one of its clips."""
    r = catalog.remove_source(app(), workspace, source_id)
    click.echo(
        f"removed source {r.source_id}: {r.clips} clip(s), {r.posts} finished post(s), {r.media_files} media file(s)"
    )


@sources.command("prune")
@workspace_option
def sources_prune(workspace: str | None) -> None:
    """Remove every rejected source with its stored media."""
    removed = catalog.prune_rejected(app(), workspace)
    for r in removed:
        click.echo(f"removed rejected source {r.source_id} ({r.media_files} media file(s))")
    click.echo(f"{len(removed)} rejected source(s) removed")
