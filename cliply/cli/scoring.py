"""`cliply scoring show|on|off|reset|fit`: the workspace's learned clip scoring (which highlight weights score its
new sources), its switches and a fit on demand (the scoring_weights asset fits on a schedule)."""

from __future__ import annotations

import json
from typing import Any

import click

from cliply.cli.base import app, json_option, workspace_option
from cliply.experiments import scoring


def _weights_line(weights: dict[str, float]) -> str:
    return "  ".join(f"{k} {v:.3f}" for k, v in weights.items())


def _print_status(status: dict[str, Any]) -> None:
    active = status["active"]
    which = "default weights" if active["version"] is None else f"version {active['version']}"
    learned = f" (learned from {active['learned_from']} clips)" if active["version"] is not None else ""
    click.echo(
        f"workspace {status['workspace']}: learning {'on' if status['learning'] else 'off'}; "
        f"new sources are scored with {which}{learned}"
    )
    click.echo(f"  weights: {_weights_line(active['weights'])}")
    click.echo(
        f"  learns from {status['metric']} relative to each account's baseline, "
        f"once {status['min_clips']} published clips have it"
    )
    for v in status["versions"]:
        r = v["details"].get("r")
        fit = "" if r is None else f", in-sample r {r:+.2f} (defaults {v['details'].get('r_default') or 0:+.2f})"
        state = "active" if v["active"] else "inactive"
        click.echo(f"  v{v['version']} {state}: {v['learned_from']} clips, {v['metric']}{fit}, {v['created_at']}")


def _print(data: dict[str, Any], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(data, default=str))
    else:
        _print_status(data)


@click.group("scoring")
def scoring_group() -> None:
    """Learned clip scoring: show it, turn it on or off, reset it to the defaults, fit it now."""


@scoring_group.command("show")
@workspace_option
@json_option
def show(workspace: str | None, as_json: bool) -> None:
    """The weights that score new sources, whether learning is on, and the versions."""
    _print(scoring.scoring_status(app(), workspace), as_json)


@scoring_group.command("on")
@workspace_option
@json_option
def on(workspace: str | None, as_json: bool) -> None:
    """Score new sources with the latest learned version (and keep learning)."""
    _print(scoring.set_learning(app(), workspace, True), as_json)


@scoring_group.command("off")
@workspace_option
@json_option
def off(workspace: str | None, as_json: bool) -> None:
    """Score new sources with the default weights; learned versions are kept."""
    _print(scoring.set_learning(app(), workspace, False), as_json)


@scoring_group.command("reset")
@workspace_option
@json_option
def reset(workspace: str | None, as_json: bool) -> None:
    """Back to the default weights now (every version deactivated; the next fit learns afresh)."""
    _print(scoring.reset_scoring(app(), workspace), as_json)


@scoring_group.command("fit")
@workspace_option
@json_option
def fit(workspace: str | None, as_json: bool) -> None:
    """Fit a new version now from the workspace's published clips (skipped when too few have the metric)."""
    result = scoring.fit_now(app(), workspace)
    if as_json:
        click.echo(json.dumps(result, default=str))
    elif "skipped" in result:
        click.echo(f"workspace {result['workspace']}: not fitted: {result['skipped']}")
    else:
        d = result["details"]
        click.echo(
            f"workspace {result['workspace']}: version {result['version']} learned from {result['learned_from']} "
            f"clips ({result['metric']}); in-sample r {d.get('r')} vs defaults {d.get('r_default')}"
        )
        click.echo(f"  weights: {_weights_line(result['weights'])}")
