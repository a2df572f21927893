"""Experiment use cases (CLI, REST and Dagster adapters call these): create an experiment on a clip (its variant
posts made through the publishing ledger, slots assigned by seeded blocked randomisation), read, stop, evaluate and
apply it. Every query is scoped to the caller's workspace; `evaluate_experiment` and `experiment_ids` are system
calls (the orchestrator's)."""

from __future__ import annotations

import math
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from cliply.experiments import apply as applying
from cliply.experiments import evaluation, outcomes
from cliply.experiments.assignment import assign
from cliply.experiments.stats import StoppingRule
from cliply.experiments.variants import ARM_NAMES, KINDS, ClipFacts, TargetText, parse_variants, target_text
from cliply.publishing import ledger
from cliply.publishing.captions import (
    Suggestion,
    TargetDraft,
    check_drafts,
    parse_every,
    pull_url,
    schedule_time,
    suggest,
)
from cliply.publishing.service import clip_in_workspace, resolve_account
from cliply.store.models import Clip, Workspace, utcnow
from cliply.store.models_experiments import Experiment, ExperimentArm, ExperimentPost
from cliply.store.repo import NotFound, WorkspaceScope
from cliply.usecases import ServiceError, WorkspaceRef, workspace_scope

if TYPE_CHECKING:
    from cliply.wiring import Cliply

MAX_POSTS_PER_ARM = 100
MAX_SEED = 2**31  # the seed column is a 32-bit integer on PostgreSQL


@dataclass(frozen=True)
class ExperimentSpec:
    clip_id: str
    kind: str  # caption | title | hashtags | caption_style | thumbnail | hook
    variants: tuple[str, ...]  # 2-4 values (see variants.parse_variant)
    targets: tuple[tuple[str, int | str], ...]  # publishing.service.parse_targets output
    metric: str = "views@24h"
    posts_per_arm: int | None = None  # default settings.experiment_min_posts
    at: str | None = None  # first slot, local time; default now
    tz: str | None = None
    every: str = "6h"  # spacing between slots
    rule: Mapping[str, float] | None = None  # StoppingRule overrides
    auto_apply: bool = False
    seed: int | None = None  # None: a random seed, recorded
    name: str = ""
    images: tuple[bytes, ...] = ()  # uploaded thumbnail images referenced as "image:<i>"
    options: Mapping[str, Mapping[str, Any]] | None = None  # per-platform target options (e.g. TikTok privacy)


@dataclass
class _Plan:
    """Everything validated before anything is written."""

    id: str
    clip: Clip
    metric: str
    age_s: float
    rule: StoppingRule
    seed: int
    variants: list[dict[str, Any]]
    texts: list[TargetText]
    slots: list[tuple[datetime, str, int, int]]  # (slot_at, platform, account id, arm index)
    zone: str
    options: dict[str, dict[str, Any]]  # per platform


# --- creating ---


def create_experiment(app: Cliply, ref: WorkspaceRef, spec: ExperimentSpec) -> dict[str, Any]:
    """Validate everything, render what the arms need (covers, hook clips), then write the experiment, its arms
    and one post per slot in one transaction: a refusal anywhere leaves no post behind."""
    with workspace_scope(app, ref, write=False) as scope:
        plan = _plan(app, scope, spec)
        video = app.media.local_path(plan.clip.media_key) if plan.clip.media_key else None
        drafts = [_draft(plan, i) for i in range(len(plan.slots))]
        url = pull_url(app.signer, plan.clip, drafts)
        workspace_id = scope.workspace_id
    check_drafts(drafts, app.clients, video, url)
    arm_media = [_arm_media(app, workspace_id, plan, i, spec.images) for i in range(len(plan.variants))]
    with workspace_scope(app, ref) as scope:
        _write(scope, plan, arm_media, spec)
        return _show(scope, _experiment(scope, plan.id))


def _plan(app: Cliply, scope: WorkspaceScope, spec: ExperimentSpec) -> _Plan:
    if spec.kind not in KINDS:
        raise ValueError(f"unknown experiment kind {spec.kind!r} (choose from {', '.join(KINDS)})")
    metric, age_s = outcomes.parse_metric(spec.metric)
    rule = StoppingRule.from_settings(app.settings).with_overrides(spec.rule)
    per_arm = app.settings.experiment_min_posts if spec.posts_per_arm is None else spec.posts_per_arm
    if not 1 <= per_arm <= MAX_POSTS_PER_ARM:
        raise ValueError(f"posts per arm must be 1 to {MAX_POSTS_PER_ARM}; got {per_arm}")
    first, zone = schedule_time(spec.at, spec.tz)
    step = parse_every(spec.every)
    if step <= 0:
        raise ValueError("the interval between slots must be positive")
    last_s = step * (per_arm * len(spec.variants) - 1) + age_s  # the last slot's metric is due, from the first slot
    rule = _fixed_horizon(rule, spec.rule or {}, per_arm, last_s, app.settings.experiment_min_posts)
    clip = clip_in_workspace(scope, spec.clip_id)
    suggestion = suggest(clip.text)
    variants = _variants(spec, clip, suggestion)
    accounts = _accounts(scope, spec.targets)
    options = {str(k): dict(v) for k, v in (spec.options or {}).items()}
    unknown = set(options) - {p for p, _ in accounts}
    if unknown:
        raise ValueError(f"options for {', '.join(sorted(unknown))}, which no target is on")
    n = len(variants)
    seed = secrets.randbelow(MAX_SEED) if spec.seed is None else int(spec.seed)
    if not 0 <= seed < MAX_SEED:
        raise ValueError(f"the seed must be a whole number from 0 to {MAX_SEED - 1}")
    slot_accounts = [accounts[i % len(accounts)] for i in range(per_arm * n)]
    arms = assign(n, slot_accounts, seed)
    slots = [(first + timedelta(seconds=step * i), p, a, arms[i]) for i, (p, a) in enumerate(slot_accounts)]
    texts = [target_text(spec.kind, v, suggestion) for v in variants]
    exp_id = f"exp_{secrets.token_hex(8)}"
    return _Plan(exp_id, clip, metric, age_s, rule, seed, variants, texts, slots, zone, options)


def _fixed_horizon(
    rule: StoppingRule, overrides: Mapping[str, float], per_arm: int, last_s: float, floor: int
) -> StoppingRule:
    """Decide on the complete data unless the user asks for early looks: min_posts defaults to the posts per arm
    (deciding as each post is measured while more keep coming is peeking and multiplies false winners), and
    max_days to at least a day after the last slot's metric is due, so that horizon can be reached."""
    changes: dict[str, float] = {}
    if "min_posts" not in overrides:
        changes["min_posts"] = max(per_arm, floor)
    if "max_days" not in overrides:
        changes["max_days"] = max(rule.max_days, math.ceil(last_s / 86400) + 1)
    rule = rule.with_overrides(changes)
    if per_arm < rule.min_posts:  # such an experiment could never decide
        raise ValueError(
            f"{per_arm} posts per arm is fewer than the {rule.min_posts} a decision needs "
            "(CLIPLY_EXPERIMENT_MIN_POSTS, or min_posts in the rule)"
        )
    return rule


def _variants(spec: ExperimentSpec, clip: Clip, suggestion: Suggestion) -> list[dict[str, Any]]:
    """The parsed variants, each with its normalised text (what lists, the audit log and defaults show)."""
    duration = clip.duration_s or max(0.0, clip.end_s - clip.start_s)
    variants = parse_variants(spec.kind, spec.variants, ClipFacts(duration, suggestion, len(spec.images)))
    if spec.kind in ("thumbnail", "hook") and not clip.media_key:
        raise ValueError(f"a {spec.kind} experiment needs a rendered clip; clip {clip.id} has no video yet")
    for v, text in zip(variants, spec.variants, strict=True):
        v["text"] = str(v.get(spec.kind, text.strip()))
    return variants


def _accounts(scope: WorkspaceScope, targets: tuple[tuple[str, int | str], ...]) -> list[tuple[str, int]]:
    if not targets:
        raise ValueError("an experiment needs at least one target account")
    out: list[tuple[str, int]] = []
    for platform, ref in targets:
        key = (platform, resolve_account(scope, platform, ref).id)
        if key in out:
            raise ValueError(f"{platform} account {key[1]} is targeted twice")
        out.append(key)
    return out


def _draft(plan: _Plan, slot: int) -> TargetDraft:
    _, platform, account_id, arm = plan.slots[slot]
    text = plan.texts[arm]
    return TargetDraft(
        platform, account_id, text.caption, text.title, {**plan.options.get(platform, {}), **text.options}
    )


def _arm_media(app: Cliply, workspace_id: int, plan: _Plan, arm: int, images: tuple[bytes, ...]) -> tuple[str, dict]:
    """(the arm's clip id, extra target options): thumbnails get their covers, hooks their own re-cut clip."""
    variant, name = plan.variants[arm], ARM_NAMES[arm]
    if "thumbnail" in variant:
        from cliply.experiments import variant_media

        options = variant_media.thumbnail_options(
            app, workspace_id, plan.clip.id, variant["thumbnail"], images, experiment_id=plan.id, arm=name
        )
        variant["options"] = dict(options)
        return plan.clip.id, dict(options)
    if "hook_at_s" in variant:
        from cliply.experiments import variant_media

        clip_id = variant_media.hook_clip(
            app, workspace_id, plan.clip.id, float(variant["hook_at_s"]), experiment_id=plan.id, arm=name
        )
        return clip_id, {}
    return plan.clip.id, {}


def _write(scope: WorkspaceScope, plan: _Plan, arm_media: list[tuple[str, dict]], spec: ExperimentSpec) -> None:
    session, ws = scope.session, scope.workspace_id
    experiment = Experiment(
        id=plan.id,
        workspace_id=ws,
        clip_id=plan.clip.id,
        name=spec.name.strip()[:200],
        kind=spec.kind,
        metric=plan.metric,
        metric_age_s=plan.age_s,
        rule=plan.rule.json(),
        seed=plan.seed,
        auto_apply=bool(spec.auto_apply),
        status="running",
        started_at=plan.slots[0][0],
    )
    session.add(experiment)
    arms = [
        ExperimentArm(experiment_id=plan.id, workspace_id=ws, name=ARM_NAMES[i], variant=v, clip_id=arm_media[i][0])
        for i, v in enumerate(plan.variants)
    ]
    session.add_all(arms)
    session.flush()
    for slot, (when, platform, account_id, arm) in enumerate(plan.slots):
        draft = _draft(plan, slot)
        target = ledger.TargetSpec(
            platform=platform,
            account_id=account_id,
            caption=draft.caption or "",
            title=draft.title or "",
            options={**draft.options, **arm_media[arm][1]},
        )
        resolve_account(scope, platform, account_id)  # still connected
        post = ledger.create_post(
            scope,
            clip_id=arm_media[arm][0],
            targets=[target],
            scheduled_at=when,
            timezone=plan.zone,
            caption=target.caption or "",
        )
        session.add(
            ExperimentPost(
                experiment_id=plan.id,
                workspace_id=ws,
                arm_id=arms[arm].id,
                slot=slot,
                slot_at=when,
                platform=platform,
                account_id=account_id,
                post_id=post.id,
            )
        )
    session.flush()


# --- reading ---


def _experiment(scope: WorkspaceScope, experiment_id: str, *, lock: bool = False) -> Experiment:
    stmt = select(Experiment).where(Experiment.id == experiment_id, Experiment.workspace_id == scope.workspace_id)
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    experiment = scope.session.scalars(stmt).one_or_none()
    if experiment is None:
        raise NotFound(f"no experiment {experiment_id!r} in this workspace")
    return experiment


def _rows(scope: WorkspaceScope, experiment: Experiment) -> tuple[list[ExperimentArm], list[ExperimentPost]]:
    session, ws = scope.session, scope.workspace_id
    arms = session.scalars(
        select(ExperimentArm)
        .where(ExperimentArm.experiment_id == experiment.id, ExperimentArm.workspace_id == ws)
        .order_by(ExperimentArm.name)
    )
    posts = session.scalars(
        select(ExperimentPost)
        .where(ExperimentPost.experiment_id == experiment.id, ExperimentPost.workspace_id == ws)
        .order_by(ExperimentPost.slot)
    )
    return list(arms), list(posts)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _show(scope: WorkspaceScope, experiment: Experiment, *, assignment: bool = True) -> dict[str, Any]:
    arms, posts = _rows(scope, experiment)
    results = {a["name"]: a for a in (experiment.evaluation or {}).get("arms", [])}
    arm_name = {a.id: a.name for a in arms}
    out: dict[str, Any] = {
        "id": experiment.id,
        "name": experiment.name,
        "clip_id": experiment.clip_id,
        "kind": experiment.kind,
        "metric": outcomes.metric_text(experiment.metric, experiment.metric_age_s),
        "status": experiment.status,
        "winner": experiment.winner,
        "reason": experiment.reason,
        "auto_apply": experiment.auto_apply,
        "seed": experiment.seed,
        "rule": dict(experiment.rule or {}),
        "started_at": _iso(experiment.started_at),
        "ended_at": _iso(experiment.ended_at),
        "evaluated_at": _iso(experiment.evaluated_at),
        "applied_at": _iso(experiment.applied_at),
        "arms": [_arm_json(a, posts, results.get(a.name, {})) for a in arms],
        "decision": {"status": experiment.status, "winner": experiment.winner, "reason": experiment.reason},
    }
    if assignment:
        targets = evaluation.targets_by_post(scope.session, scope.workspace_id, [p.post_id for p in posts if p.post_id])
        out["assignment"] = [
            {
                "slot": p.slot,
                "slot_at": _iso(p.slot_at),
                "arm": arm_name[p.arm_id],
                "platform": p.platform,
                "account_id": p.account_id,
                "post_id": p.post_id,
                "state": t.state if (t := targets.get(p.post_id or "")) is not None else None,
            }
            for p in posts
        ]
    return out


def _arm_json(arm: ExperimentArm, posts: list[ExperimentPost], result: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": arm.name,
        "variant": arm.variant.get("text"),
        "clip_id": arm.clip_id,
        "posts": sum(1 for p in posts if p.arm_id == arm.id),
        "measured": int(result.get("posts") or 0),
        **{k: result.get(k) for k in ("mean", "low", "high", "p_best", "expected_loss")},
    }


def show_experiment(app: Cliply, ref: WorkspaceRef, experiment_id: str) -> dict[str, Any]:
    with workspace_scope(app, ref, write=False) as scope:
        return _show(scope, _experiment(scope, experiment_id))


def list_experiments(app: Cliply, ref: WorkspaceRef, status: str | None = None) -> list[dict[str, Any]]:
    """The workspace's experiments, newest first, as show_experiment without the assignment."""
    with workspace_scope(app, ref, write=False) as scope:
        stmt = select(Experiment).where(Experiment.workspace_id == scope.workspace_id)
        if status:
            stmt = stmt.where(Experiment.status == status)
        rows = scope.session.scalars(stmt.order_by(Experiment.created_at.desc(), Experiment.id))
        return [_show(scope, e, assignment=False) for e in rows]


def experiment_chart(app: Cliply, ref: WorkspaceRef, experiment_id: str) -> bytes:
    from cliply.experiments import charts

    return charts.arm_chart(show_experiment(app, ref, experiment_id))


# --- changing ---


def stop_experiment(app: Cliply, ref: WorkspaceRef, experiment_id: str) -> dict[str, Any]:
    """Stop it for good: its posts that have not started are cancelled (through the ledger), the rest stay."""
    with workspace_scope(app, ref) as scope:
        experiment = _experiment(scope, experiment_id, lock=True)
        if experiment.status == "stopped":
            raise ServiceError(f"experiment {experiment_id} is already stopped", status=409)
        _, posts = _rows(scope, experiment)
        for p in posts:
            if p.post_id:
                ledger.cancel_post(scope, p.post_id)
        if experiment.ended_at is None:
            experiment.ended_at = utcnow()
        experiment.status = "stopped"
        scope.session.flush()
        return _show(scope, experiment)


def apply_experiment(
    app: Cliply, ref: WorkspaceRef, experiment_id: str, arm: str | None = None, *, actor: str = "user"
) -> dict[str, Any]:
    """Write the winning (or named) arm's variant onto the clip's targets that have not started and make it the
    workspace default. The platform rules run between a read and the write transaction."""
    with workspace_scope(app, ref, write=False) as scope:
        experiment = _experiment(scope, experiment_id)
        chosen = applying.pick_arm(experiment, _rows(scope, experiment)[0], arm)
        targets = applying.open_targets(scope, experiment)
        changes, refused = applying.checked(app, targets, applying.changes_for(experiment, chosen, targets))
    with workspace_scope(app, ref) as scope:
        experiment = _experiment(scope, experiment_id, lock=True)
        chosen = applying.pick_arm(experiment, _rows(scope, experiment)[0], chosen.name)
        changed = applying.write(scope, experiment, chosen, changes, actor=actor)
        out = {**_show(scope, experiment), "applied": {"arm": chosen.name, "targets": changed, "refused": refused}}
        workspace = scope.workspace.name
    app.notifier.notify(
        "experiment_applied",
        workspace=workspace,
        experiment=experiment_id,
        arm=chosen.name,
        variant=chosen.variant.get("text"),
        targets=len(changed),
    )
    return out


# --- evaluating (system calls) ---


def experiment_ids(app: Cliply, *, running_only: bool = False) -> list[str]:
    with app.db.reading() as session:
        stmt = select(Experiment.id)
        if running_only:
            stmt = stmt.where(Experiment.status == "running")
        return list(session.scalars(stmt.order_by(Experiment.id)))


def _by_id(app: Cliply, experiment_id: str) -> WorkspaceRef:
    """A reference to the experiment's own workspace (system calls act for it)."""
    with app.db.reading() as session:
        experiment = session.get(Experiment, experiment_id)
        if experiment is None:
            raise NotFound(f"no experiment {experiment_id!r}")
        workspace_id = experiment.workspace_id

    def resolve(session: Any) -> Workspace:
        workspace = session.get(Workspace, workspace_id)
        if workspace is None:
            raise NotFound(f"no experiment {experiment_id!r}")
        return workspace

    return resolve


def evaluate_experiment(app: Cliply, experiment_id: str, *, now: datetime | None = None) -> dict[str, Any]:
    """Re-evaluate a running experiment and store the result; on a decision record it, notify once and, when
    opted in, apply a winner once. A decided or stopped experiment is not re-decided."""
    now = now or utcnow()
    ref = _by_id(app, experiment_id)
    with workspace_scope(app, ref) as scope:
        experiment = _experiment(scope, experiment_id, lock=True)
        decided = experiment.status == "running" and _record(scope, experiment, now)
        shown, workspace = _show(scope, experiment), scope.workspace.name
    if decided:
        app.notifier.notify(
            "experiment_decided",
            workspace=workspace,
            experiment=experiment_id,
            status=shown["status"],
            winner=shown["winner"],
            reason=shown["reason"],
        )
    # Also retried on a later call when an earlier auto-apply did not finish.
    return apply_experiment(app, ref, experiment_id, actor="system") if _apply_due(shown) else shown


def _record(scope: WorkspaceScope, experiment: Experiment, now: datetime) -> bool:
    """Store a fresh evaluation; True when it decided the experiment."""
    arms, posts = _rows(scope, experiment)
    result = evaluation.evaluate(scope.session, experiment, arms, posts, now=now)
    experiment.evaluation, experiment.evaluated_at = result.json(), now
    decision = result.decision
    if decision.status != "running":
        experiment.status, experiment.winner = decision.status, decision.winner
        experiment.reason, experiment.ended_at = decision.reason, now
    else:
        experiment.reason = decision.reason
    scope.session.flush()
    return decision.status != "running"


def _apply_due(shown: Mapping[str, Any]) -> bool:
    return shown["status"] == "winner" and bool(shown["auto_apply"]) and shown["applied_at"] is None
