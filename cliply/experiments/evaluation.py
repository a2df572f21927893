"""Reading an experiment's outcomes and calling the statistics. Like is compared with like: every post's metric is
read at the same age, rates are modelled as rates, and other metrics as the log ratio to the account's own
baseline (its recent posts outside the experiment, or else the median of its measured experiment posts)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from cliply.experiments import outcomes, stats
from cliply.store.models_experiments import Experiment, ExperimentArm, ExperimentPost
from cliply.store.models_publishing import PostTarget

RATE_METRICS = ("engagement_rate",)


def model_for(metric: str) -> str:
    return "rate" if metric in RATE_METRICS else "normal"


def rule_of(experiment: Experiment) -> stats.StoppingRule:
    """The rule fixed at creation (validated again: it is stored JSON)."""
    return stats.StoppingRule().with_overrides(experiment.rule or None)


def targets_by_post(session: Session, workspace_id: int, post_ids: Sequence[str]) -> dict[str, PostTarget]:
    """Each experiment post has exactly one target."""
    if not post_ids:
        return {}
    rows = session.scalars(
        select(PostTarget).where(PostTarget.workspace_id == workspace_id, PostTarget.post_id.in_(list(post_ids)))
    )
    return {t.post_id: t for t in rows}


def evaluate(
    session: Session,
    experiment: Experiment,
    arms: Sequence[ExperimentArm],
    posts: Sequence[ExperimentPost],
    *,
    now: datetime,
) -> stats.Evaluation:
    ws, metric, age = experiment.workspace_id, experiment.metric, experiment.metric_age_s
    targets = targets_by_post(session, ws, [p.post_id for p in posts if p.post_id])
    target_of = {p.id: targets[p.post_id].id for p in posts if p.post_id in targets}
    found = outcomes.outcomes_for_targets(session, ws, list(target_of.values()), metric=metric, age_s=age, now=now)
    measured = {p.id: found[target_of[p.id]] for p in posts if target_of.get(p.id) in found}
    model = model_for(metric)
    if model == "rate":
        data = _rates(arms, posts, measured)
    else:
        baselines = outcomes.account_baselines(
            session,
            ws,
            sorted({p.account_id for p in posts}),
            metric=metric,
            age_s=age,
            now=now,
            exclude_target_ids={t.id for t in targets.values()},
        )
        data = _log_ratios(arms, posts, measured, baselines)
    elapsed = max(0.0, (now - experiment.started_at).total_seconds()) / 86400
    rule = rule_of(experiment)
    result = stats.evaluate(data, model=model, rule=rule, elapsed_days=elapsed, seed=experiment.seed)
    if result.decision.status == "running" and elapsed >= rule.min_days and _complete(arms, posts, data):
        # Every planned post is measured: no more data can come, so decide now (winner or inconclusive).
        result = stats.evaluate(data, model=model, rule=rule, elapsed_days=None, seed=experiment.seed)
    return result


def _complete(arms: Sequence[ExperimentArm], posts: Sequence[ExperimentPost], data: Sequence[stats.ArmData]) -> bool:
    planned = {arm.name: sum(1 for p in posts if p.arm_id == arm.id) for arm in arms}
    return all(len(d.values) + len(d.trials) >= planned[d.name] > 0 for d in data)


def _rates(
    arms: Sequence[ExperimentArm], posts: Sequence[ExperimentPost], measured: dict[int, outcomes.PostOutcome]
) -> list[stats.ArmData]:
    out = []
    for arm in arms:
        pairs = [
            (o.successes, o.trials)
            for p in posts
            if p.arm_id == arm.id
            and (o := measured.get(p.id)) is not None
            and o.successes is not None
            and o.trials is not None
        ]
        out.append(
            stats.ArmData(
                arm.name, successes=tuple(float(s) for s, _ in pairs), trials=tuple(float(t) for _, t in pairs)
            )
        )
    return out


def _log_ratios(
    arms: Sequence[ExperimentArm],
    posts: Sequence[ExperimentPost],
    measured: dict[int, outcomes.PostOutcome],
    baselines: dict[int, float | None],
) -> list[stats.ArmData]:
    values = {p.id: float(o.value) for p in posts if (o := measured.get(p.id)) is not None and o.value is not None}
    measured_posts = [p for p in posts if p.id in values]
    fallback = _balanced_median(measured_posts, values)
    base: dict[int, float] = {}
    for account in {p.account_id for p in measured_posts}:
        mine = [p for p in measured_posts if p.account_id == account]
        own = baselines.get(account)
        base[account] = own if own is not None else _balanced_median(mine, values) if _arms(mine) > 1 else fallback
    return [
        stats.ArmData(
            arm.name,
            values=tuple(
                math.log((values[p.id] + 1) / (max(base[p.account_id], 0.0) + 1))
                for p in posts
                if p.arm_id == arm.id and p.id in values
            ),
        )
        for arm in arms
    ]


def _arms(posts: Sequence[ExperimentPost]) -> int:
    return len({p.arm_id for p in posts})


def _balanced_median(posts: Sequence[ExperimentPost], values: dict[int, float]) -> float:
    """An account without a baseline of its own is compared with its experiment posts, every arm weighing the same
    (the geometric mean of the arms' medians): a plain median of an uneven mix (A, A, B) would sit on one arm and
    hide part of the difference. An account that got one arm only is compared with all the experiment's posts."""
    by_arm: dict[int, list[float]] = {}
    for p in posts:
        by_arm.setdefault(p.arm_id, []).append(values[p.id])
    logs = [math.log(statistics.median(v) + 1) for v in by_arm.values()]
    return math.exp(sum(logs) / len(logs)) - 1 if logs else 0.0
