"""`cliply clips`: the rendered clips of a workspace (or of one source), best first per source."""

from __future__ import annotations

import json
from typing import Any

import click

from cliply.cli.base import app, json_option, workspace_option
from cliply.media import catalog

HEADER = f"{'ID':<28} {'RANK':>4} {'SCORE':>5} {'DURATION':>8}  {'PATH':<48} THUMBNAIL"


def _row(c: dict[str, Any]) -> str:
    score = "-" if c["score"] is None else f"{c['score']:.1f}"
    return (
        f"{c['id']:<28} {c['rank']:>4} {score:>5} {c['duration_s']:>7.1f}s  {c['path'] or '-':<48} "
        f"{c['thumbnail'] or '-'}"
    )


@click.command()
@click.option("--source", "source_id", default=None, help="Only this source's clips.")
@workspace_option
@json_option
def clips(source_id: str | None, workspace: str | None, as_json: bool) -> None:
    """List clips: id, rank, score, duration, media path and thumbnail."""
    rows = catalog.list_clips(app(), workspace, source_id)
    if as_json:
        click.echo(json.dumps({"clips": rows}))
        return
    if not rows:
        click.echo("no clips yet; process a video with `cliply process <file or URL>`")
        return
    click.echo(HEADER)
    for c in rows:
        click.echo(_row(c))
