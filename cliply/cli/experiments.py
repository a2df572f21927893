"""`cliply experiments`: A/B tests of a clip's caption, title, hashtags, caption style, thumbnail or hook across
accounts and time slots, and the same decision run on a CSV of results from elsewhere.

The arm table shows, per arm, the posts made and measured, the metric's mean with its 95 % credible interval, the
probability to be best and the expected loss; "-" where an arm has no measured post yet."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from cliply.cli.base import Failure, app, fmt_time, json_option, workspace_option
from cliply.cli.clips import _read_image
from cliply.cli.posts import target_options
from cliply.experiments import analyse as analysis
from cliply.experiments import service
from cliply.experiments.stats import StoppingRule
from cliply.media.cover_upload import MAX_COVER_BYTES
from cliply.publishing.service import parse_targets
from cliply.store.models_experiments import EXPERIMENT_STATUSES, VARIANT_KINDS

SEED_MAX = 2**31 - 1  # the seed column is a 32-bit integer


@click.group("experiments")
def experiments() -> None:
    """A/B tests of a clip's variants, decided by a stopping rule fixed before the data."""


RULE_OPTIONS = [
    ("p_best", float, "A winner needs P(best) at least this (default CLIPLY_EXPERIMENT_P_BEST, 0.95)."),
    ("max_loss", float, "... and an expected loss under this fraction (CLIPLY_EXPERIMENT_MAX_LOSS, 0.01)."),
    ("min_posts", int, "Measured posts per arm before any decision (CLIPLY_EXPERIMENT_MIN_POSTS)."),
    ("min_days", float, "Days before any decision (CLIPLY_EXPERIMENT_MIN_DAYS)."),
    ("max_days", float, "Undecided after this many days: inconclusive (CLIPLY_EXPERIMENT_MAX_DAYS)."),
]


def _rule_options(fn: Any) -> Any:
    for name, kind, text in reversed(RULE_OPTIONS):
        fn = click.option(f"--{name.replace('_', '-')}", name, type=kind, default=None, help=text)(fn)
    return fn


def _overrides(values: dict[str, Any]) -> dict[str, float]:
    return {name: values[name] for name, _, _ in RULE_OPTIONS if values.get(name) is not None}


def _console() -> Console:
    console = Console(highlight=False, soft_wrap=False)
    return console if console.is_terminal else Console(highlight=False, soft_wrap=False, width=200)


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f} %"


def arm_table(arms: list[dict[str, Any]], title: str = "") -> Table:
    """One row per arm; the variant and measured columns only when the rows have them (an experiment, not a CSV)."""
    extra = [c for c in ("variant", "measured") if arms and c in arms[0]]
    table = Table(title=title or None, title_justify="left")
    table.add_column("arm")
    if "variant" in extra:
        table.add_column("variant", overflow="fold", max_width=50)
    table.add_column("posts", justify="right")
    if "measured" in extra:
        table.add_column("measured", justify="right")
    for name in ("mean", "95 % interval", "P(best)", "expected loss"):
        table.add_column(name, justify="right")
    for a in arms:
        interval = "-" if a.get("low") is None else f"{_num(a['low'])} – {_num(a['high'])}"
        table.add_row(
            str(a["name"]),
            *([_variant(a.get("variant"))] if "variant" in extra else []),
            str(a.get("posts", 0)),
            *([str(a.get("measured", 0))] if "measured" in extra else []),
            _num(a.get("mean")),
            interval,
            _pct(a.get("p_best")),
            _pct(a.get("expected_loss")),
        )
    return table


def _variant(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    return "-" if value is None else str(value)


def _decision_line(status: str, winner: str | None, reason: str | None) -> str:
    head = f"status {status}" + (f", winner {winner}" if winner else "")
    return f"{head}; {reason}" if reason else head


def print_experiment(e: dict[str, Any]) -> None:
    console = _console()
    name = f" {e['name']!r}" if e.get("name") else ""
    console.print(f"experiment {e['id']}{name}  clip {e['clip_id']}  {e['kind']}  metric {e['metric']}")
    console.print(f"  started {fmt_time(e.get('started_at'))}; ended {fmt_time(e.get('ended_at'))}", soft_wrap=True)
    console.print(f"  {_decision_line(e['status'], e.get('winner'), e.get('reason'))}", soft_wrap=True)
    if e.get("applied_at"):
        console.print(f"  applied {fmt_time(e['applied_at'])}")
    console.print(arm_table(e.get("arms") or []))


def _print_json(data: Any) -> None:
    click.echo(json.dumps(data, default=str))


def _images(variants: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[bytes, ...]]:
    """`image:PATH` variants read from disk: the bytes go to the service as images[i], the variant says image:<i>
    (a path is never a storage key)."""
    out: list[str] = []
    images: list[bytes] = []
    for variant in variants:
        kind, sep, path = variant.partition(":")
        if sep and kind.strip() == "image":
            data = _read_image(path, MAX_COVER_BYTES)
            if len(data) > MAX_COVER_BYTES:
                raise Failure(f"{path}: larger than {MAX_COVER_BYTES // 1024**2} MiB")
            variant = f"image:{len(images)}"
            images.append(data)
        out.append(variant)
    return tuple(out), tuple(images)


@experiments.command("create")
@click.argument("clip")
@click.option("--kind", type=click.Choice(VARIANT_KINDS), required=True, help="What the arms differ in.")
@click.option(
    "--variant",
    "variants",
    multiple=True,
    required=True,
    help="One per arm (2-4): the text, a style name, frame:12.5 / frame:40% / image:FILE, or the hook's seconds.",
)
@click.option("--targets", required=True, help="platform:account_id,… e.g. youtube:1,tiktok:@me")
@click.option("--metric", default="views@24h", show_default=True, help="views, engagement_rate or watch_time @age.")
@click.option("--posts-per-arm", type=click.IntRange(1, 1000), default=None, help="Default: the minimum posts.")
@click.option("--every", default="6h", show_default=True, help="Spacing between posting slots (s/m/h/d).")
@click.option("--at", "at", default=None, help='Local time of the first slot "YYYY-MM-DD HH:MM" (default: now).')
@click.option("--tz", default=None, help="IANA time zone of --at, e.g. Europe/Paris.")
@click.option("--auto-apply", is_flag=True, help="Use the winner for the clip's remaining posts and as the default.")
@click.option("--seed", type=click.IntRange(0, SEED_MAX), default=None, help="Seed of the randomised assignment.")
@click.option("--name", default="", help="A label.")
@click.option(
    "--option",
    "options",
    multiple=True,
    help="platform.key=value for every target on that platform, e.g. tiktok.privacy=SELF_ONLY (repeatable).",
)
@_rule_options
@workspace_option
@json_option
def create(
    clip: str,
    kind: str,
    variants: tuple[str, ...],
    targets: str,
    metric: str,
    posts_per_arm: int | None,
    every: str,
    at: str | None,
    tz: str | None,
    auto_apply: bool,
    seed: int | None,
    name: str,
    options: tuple[str, ...],
    workspace: str | None,
    as_json: bool,
    **rule: Any,
) -> None:
    """Start an experiment on CLIP: its variant posts are scheduled now, randomly assigned to accounts and slots."""
    try:
        parsed = tuple(parse_targets(targets))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--targets") from None
    values, images = _images(variants) if kind == "thumbnail" else (variants, ())
    spec = service.ExperimentSpec(
        clip_id=clip,
        kind=kind,
        variants=values,
        targets=parsed,
        metric=metric,
        posts_per_arm=posts_per_arm,
        at=at,
        tz=tz,
        every=every,
        rule=_overrides(rule) or None,
        auto_apply=auto_apply,
        seed=seed,
        name=name,
        images=images,
        options=target_options(options) or None,
    )
    created = service.create_experiment(app(), workspace, spec)
    _print_json(created) if as_json else print_experiment(created)


@experiments.command("list")
@click.option("--status", type=click.Choice(EXPERIMENT_STATUSES), default=None)
@workspace_option
@json_option
def list_(status: str | None, workspace: str | None, as_json: bool) -> None:
    """Experiments, newest first, with their status."""
    rows = service.list_experiments(app(), workspace, status)
    if as_json:
        _print_json({"experiments": rows})
        return
    if not rows:
        click.echo("no experiments yet; start one with `cliply experiments create CLIP --kind … --variant …`")
        return
    table = Table(title=None)
    for col in ("id", "name", "clip", "kind", "metric", "status", "winner", "started"):
        table.add_column(col)
    for e in rows:
        table.add_row(
            e["id"],
            e.get("name") or "-",
            e["clip_id"],
            e["kind"],
            e["metric"],
            e["status"],
            e.get("winner") or "-",
            fmt_time(e.get("started_at")),
        )
    _console().print(table)


@experiments.command("show")
@click.argument("experiment_id")
@click.option("--chart", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Write a PNG.")
@workspace_option
@json_option
def show(experiment_id: str, chart: Path | None, workspace: str | None, as_json: bool) -> None:
    """One experiment: per arm the posts, the metric with its interval, P(best) and expected loss; the decision."""
    container = app()
    shown = service.show_experiment(container, workspace, experiment_id)
    if chart is not None:
        chart.write_bytes(service.experiment_chart(container, workspace, experiment_id))
    _print_json(shown) if as_json else print_experiment(shown)
    if chart is not None and not as_json:
        click.echo(f"chart written to {chart}")


@experiments.command("stop")
@click.argument("experiment_id")
@workspace_option
@json_option
def stop(experiment_id: str, workspace: str | None, as_json: bool) -> None:
    """Stop an experiment; its posts that have not been published are cancelled."""
    stopped = service.stop_experiment(app(), workspace, experiment_id)
    _print_json(stopped) if as_json else print_experiment(stopped)


@experiments.command("apply")
@click.argument("experiment_id")
@click.option("--arm", default=None, help="The arm to apply (default: the declared winner).")
@workspace_option
@json_option
def apply(experiment_id: str, arm: str | None, workspace: str | None, as_json: bool) -> None:
    """Use an arm's variant for the clip's remaining scheduled posts and as the workspace default."""
    applied = service.apply_experiment(app(), workspace, experiment_id, arm)
    if as_json:
        _print_json(applied)
        return
    print_experiment(applied)
    done = applied.get("applied") or {}
    count = len(done.get("targets") or [])
    click.echo(f"applied arm {done.get('arm')} to {count} scheduled target{'' if count == 1 else 's'}")
    for refusal in done.get("refused") or []:
        click.echo(f"  target {refusal} not changed: its platform refuses this variant")


@experiments.command("analyse")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--metric", required=True, help="The column with each post's metric.")
@click.option("--arm", required=True, help="The column naming each post's arm.")
@click.option("--baseline", default=None, help="A column with each post's baseline (the metric is compared to it).")
@_rule_options
@json_option
def analyse(file: Path, metric: str, arm: str, baseline: str | None, as_json: bool, **rule: Any) -> None:
    """Run the stopping rule on results from elsewhere: one CSV row per post."""
    if not file.is_file():
        raise Failure(f"no such file: {file}")
    stopping = StoppingRule.from_settings(app().settings).with_overrides(_overrides(rule))
    report = analysis.analyse_csv(file, metric=metric, arm=arm, baseline=baseline, rule=stopping)
    if as_json:
        _print_json(report)
        return
    console = _console()
    base = f", relative to {report['baseline_column']}" if report.get("baseline_column") else ""
    console.print(f"{file}: {report['metric']} by {report['arm_column']}{base} ({report['model']} model)")
    d = report["decision"]
    console.print(_decision_line(d["status"], d.get("winner"), d.get("reason")), soft_wrap=True)
    console.print(arm_table(report["arms"]))
