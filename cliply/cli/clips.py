"""`cliply clips`: the rendered clips of a workspace (or of one source), best first per source; `cliply clips cover`
sets a clip's cover from an image file."""

from __future__ import annotations

import json
from typing import Any

import click

from cliply.cli.base import Failure, app, json_option, workspace_option
from cliply.media import catalog, cover_upload

HEADER = f"{'ID':<28} {'RANK':>4} {'SCORE':>5} {'DURATION':>8}  {'PATH':<48} THUMBNAIL"


def _row(c: dict[str, Any]) -> str:
    score = "-" if c["score"] is None else f"{c['score']:.1f}"
    return (
        f"{c['id']:<28} {c['rank']:>4} {score:>5} {c['duration_s']:>7.1f}s  {c['path'] or '-':<48} "
        f"{c['thumbnail'] or '-'}"
    )


@click.group(invoke_without_command=True)
@click.option("--source", "source_id", default=None, help="Only this source's clips.")
@workspace_option
@json_option
@click.pass_context
def clips(ctx: click.Context, source_id: str | None, workspace: str | None, as_json: bool) -> None:
    """List clips: id, rank, score, duration, media path and thumbnail. `cliply clips cover CLIP_ID IMAGE` sets a
    clip's cover."""
    if ctx.invoked_subcommand is not None:
        return
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


def _read_image(path: str, limit: int) -> bytes:
    """At most limit + 1 bytes of the file (enough to refuse it as too big without reading it all)."""
    try:
        with open(path, "rb") as fh:
            return fh.read(limit + 1)
    except FileNotFoundError:
        raise Failure(f"no such file: {path}") from None
    except IsADirectoryError:
        raise Failure(f"not a file: {path}") from None
    except OSError as exc:
        raise Failure(f"cannot read {path}: {exc.strerror or exc}") from None


@clips.command("cover")
@click.argument("clip_id")
@click.argument("image")
@workspace_option
@json_option
def cover(clip_id: str, image: str, workspace: str | None, as_json: bool) -> None:
    """Use IMAGE (JPEG, PNG or WebP) as the clip's cover on every platform, cropped to each platform's size around
    its subject (a face, else the most salient region)."""
    data = _read_image(image, cover_upload.MAX_COVER_BYTES)
    application = app()
    done = cover_upload.upload_cover(application, workspace, clip_id, data)
    if as_json:
        click.echo(json.dumps(done.to_json()))
        return
    s = done.subject
    click.echo(f"cover set for clip {clip_id} ({done.found_by} at {s.cx:.0f},{s.cy:.0f} in the image)")
    for name, entry in done.to_json()["covers"].items():
        click.echo(f"  {name:<15} {entry['width']}x{entry['height']}  {application.media.uri(entry['key'])}")
