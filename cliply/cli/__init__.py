"""`cliply`: a thin adapter over the use cases. Each command builds the application container, calls a use case
and prints; failures follow one policy (cliply/cli/base.py)."""

from __future__ import annotations

import click

from cliply.cli import (
    accounts,
    analytics,
    clips,
    config,
    experiments,
    keys,
    media,
    posts,
    scoring,
    serving,
    sources,
    web,
    workspaces,
)
from cliply.cli.base import CliplyGroup, configure_logging


@click.group(cls=CliplyGroup)
# From the installed distribution's metadata, read when asked (not a constant that can drift from pyproject).
@click.version_option(package_name="cliply", prog_name="cliply", message="%(prog)s %(version)s")
@click.option("-v", "--verbose", is_flag=True, help="Show debug logs.")
@click.option("--debug", is_flag=True, help="Show the traceback of a failure.")
def main(verbose: bool, debug: bool) -> None:
    """Cliply turns long videos into ranked, captioned vertical clips."""
    configure_logging(verbose)


for command in (
    *media.COMMANDS,
    sources.sources,
    clips.clips,
    config.config,
    serving.sandbox,
    accounts.accounts,
    posts.posts,
    *analytics.COMMANDS,
    keys.keys,
    serving.serve,
    serving.readyz,
):
    main.add_command(command)
main.add_command(workspaces.workspaces)
main.add_command(scoring.scoring_group)
main.add_command(experiments.experiments)
main.add_command(web.web)

__all__ = ["main"]
