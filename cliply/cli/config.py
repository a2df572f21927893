"""`cliply config`: every setting, its value, default and origin; secrets masked, URL passwords hidden."""

from __future__ import annotations

import json
from dataclasses import asdict

import click

from cliply.cli.base import json_option
from cliply.settings import Settings, describe, unknown_variables


@click.command()
@json_option
def config(as_json: bool) -> None:
    """Show every CLIPLY_* setting: value, default and where it came from (environment or default)."""
    rows = describe(Settings.from_env())
    unknown = unknown_variables()
    for name in unknown:
        click.echo(f"warning: {name} is not a Cliply setting (a typo?); it is ignored", err=True)
    if as_json:
        click.echo(json.dumps({"settings": [asdict(r) for r in rows], "unknown": unknown}))
        return
    width = max(len(r.variable) for r in rows)
    click.echo(f"{'VARIABLE':<{width}}  {'VALUE':<28} {'SOURCE':<11} {'DEFAULT':<20} HELP")
    for r in rows:
        click.echo(f"{r.variable:<{width}}  {r.value or '-':<28} {r.source:<11} {r.default or '-':<20} {r.help}")
