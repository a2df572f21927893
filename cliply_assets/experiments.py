"""Experiment assets: `experiments` (one dynamic partition per experiment) re-evaluates an experiment from its posts'
metric snapshots; `scoring_weights` (one dynamic partition per workspace) fits the workspace's highlight-scoring
weights from its clips' outcomes.

Thin wiring only: the statistics, the stopping rule and the fitting live in cliply.experiments (service, scoring);
these functions build the app from resources and turn the outcome into metadata (tables and the arm chart)."""

import base64
from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg

from cliply import wiring
from cliply.experiments import charts, scoring, service
from cliply_assets.analytics import post_metrics
from cliply_assets.publishing import OWNERS

GROUP = "experiments"
EXPERIMENTS_PARTITIONS = "experiments"
WORKSPACES_PARTITIONS = "workspaces"
# One partition per experiment id (added by experiments_sensor) and per workspace id (scoring_weights_schedule).
experiments_partitions = dg.DynamicPartitionsDefinition(name=EXPERIMENTS_PARTITIONS)
workspaces_partitions = dg.DynamicPartitionsDefinition(name=WORKSPACES_PARTITIONS)
APP_RESOURCES = {"analytics", "database", "media_store", "token_vault"}


def _app(context: dg.AssetExecutionContext) -> wiring.Cliply:
    res = context.resources
    return res.analytics.app(res)


def _fmt(value: Any, pattern: str = "{:.3g}") -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return pattern.format(value)
    return str(value).replace("|", "\\|").replace("\n", " ")


def arm_table(arms: Sequence[Mapping[str, Any]]) -> str:
    """The arms as a Markdown table; a value the data does not support yet reads "n/a", never 0."""
    if not arms:
        return "_no arms_"
    lines = [
        "| arm | variant | posts | measured | mean | 95 % interval | P(best) | expected loss |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for a in arms:
        low, high = a.get("low"), a.get("high")
        interval = "n/a" if low is None or high is None else f"{low:.3g} – {high:.3g}"
        cells = [
            a.get("name"),
            str(a.get("variant", ""))[:60],
            a.get("posts"),
            a.get("measured"),
            _fmt(a.get("mean")),
            interval,
            _fmt(a.get("p_best"), "{:.2f}"),
            _fmt(a.get("expected_loss"), "{:.2%}"),
        ]
        lines.append("| " + " | ".join(_fmt(c) for c in cells) + " |")
    return "\n".join(lines)


def inline_png(png: bytes, alt: str) -> str:
    """Markdown the Dagster UI renders as the image itself (its sanitizer admits data: image sources)."""
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode()})"


def experiment_metadata(shown: Mapping[str, Any]) -> dict[str, Any]:
    """Materialisation metadata of one evaluated experiment (show_experiment's shape)."""
    decision = shown.get("decision") or {}
    arms = list(shown.get("arms") or [])
    return {
        "experiment": shown.get("id", ""),
        "name": shown.get("name") or "",
        "kind": shown.get("kind") or "",
        "metric": shown.get("metric") or "",
        "status": decision.get("status") or shown.get("status") or "",
        "winner": decision.get("winner") or "none",
        "reason": decision.get("reason") or "",
        "rule": dg.MetadataValue.json(dict(shown.get("rule") or {})),
        "arms": dg.MetadataValue.md(arm_table(arms)),
        "posts": sum(int(a.get("posts") or 0) for a in arms),
        "measured": sum(int(a.get("measured") or 0) for a in arms),
        "chart": dg.MetadataValue.md(inline_png(charts.arm_chart(shown), "arms")),
    }


@dg.asset(
    partitions_def=experiments_partitions,
    group_name=GROUP,
    kinds={"python", "matplotlib"},
    owners=OWNERS,
    tags={"cliply/step": "experiments"},
    # Every post_metrics partition may hold an arm's posts: the dep reads "all of them". The trigger is
    # experiments_sensor (new post_metrics materialisations, or hourly), not the dep.
    deps=[dg.AssetDep(post_metrics, partition_mapping=dg.AllPartitionMapping())],
    required_resource_keys=APP_RESOURCES,
    description="One partition per experiment: re-evaluates it from its posts' metric snapshots (Bayesian, per "
    "arm: mean, 95 % interval, P(best), expected loss), stores the decision (running, winner, inconclusive) and "
    "applies an opted-in winner once. Started by experiments_sensor when new post_metrics snapshots land, and "
    "hourly so the max-days rule ends idle experiments. Metadata: arm table, status, winner, reason, rule, chart.",
)
def experiments(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    shown = service.evaluate_experiment(_app(context), context.partition_key)
    meta = experiment_metadata(shown)
    context.log.info(f"experiment {context.partition_key}: {meta['status']} ({meta['reason']})")
    return dg.MaterializeResult(metadata=meta)


def weights_table(weights: Mapping[str, float]) -> str:
    if not weights:
        return "_no weights_"
    rows = [f"| {name} | {value:.3f} |" for name, value in sorted(weights.items())]
    return "\n".join(["| signal | weight |", "|---|---|", *rows])


def scoring_metadata(fitted: Mapping[str, Any]) -> dict[str, Any]:
    """Materialisation metadata of one fit: a new version, or why none was made."""
    skipped = fitted.get("skipped")
    return {
        "version": fitted.get("version") if fitted.get("version") is not None else "none",
        "learned_from": int(fitted.get("learned_from") or 0),
        "weights": dg.MetadataValue.md(weights_table(fitted.get("weights") or {})),
        "skipped": str(skipped) if skipped else "no",
    }


@dg.asset(
    partitions_def=workspaces_partitions,
    group_name=GROUP,
    kinds={"python"},
    owners=OWNERS,
    tags={"cliply/step": "experiments"},
    required_resource_keys=APP_RESOURCES,
    description="One partition per workspace (its id): fits the highlight-scoring weights from the workspace's clips "
    "and their measured outcomes, as a new version when learning is on and enough clips have a metric; otherwise "
    "records why not. Daily (scoring_weights_schedule). Metadata: version, learned_from, weights, skipped reason.",
)
def scoring_weights(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    fitted = scoring.fit_workspace(_app(context), int(context.partition_key))
    meta = scoring_metadata(fitted)
    context.log.info(f"workspace {context.partition_key}: version {meta['version']}, skipped: {meta['skipped']}")
    return dg.MaterializeResult(metadata=meta)


evaluate_experiment_job = dg.define_asset_job(
    "evaluate_experiment",
    selection=dg.AssetSelection.assets(experiments),
    executor_def=dg.in_process_executor,
    description="Re-evaluate one experiment (partition = experiment id). Started by experiments_sensor.",
    tags={"cliply/stage": "experiments", "ecs/cpu": "512", "ecs/memory": "1024"},
)

fit_scoring_weights_job = dg.define_asset_job(
    "fit_scoring_weights",
    selection=dg.AssetSelection.assets(scoring_weights),
    executor_def=dg.in_process_executor,
    description="Fit one workspace's highlight-scoring weights (partition = workspace id). Daily, by "
    "scoring_weights_schedule.",
    tags={"cliply/stage": "experiments", "ecs/cpu": "512", "ecs/memory": "1024"},
)

defs = dg.Definitions(assets=[experiments, scoring_weights], jobs=[evaluate_experiment_job, fit_scoring_weights_job])
