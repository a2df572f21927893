"""A post's goal metric at a fixed post age, read from the append-only metric snapshots, and an account's baseline
(the median of its recent posts at the same age), so posts of different ages and accounts compare like with like.

The value at an age is interpolated linearly between the two snapshots around it; a counter is 0 when the post
went out, so a post whose first snapshot is already past the age is interpolated from there. No snapshot at or
after the age yet means no value: a young post is never read early. A metric the platform does not report stays
None, never 0."""

from __future__ import annotations

import re
import statistics
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from cliply.store.models_analytics import MetricSnapshot, TrackedPost

METRICS = ("views", "engagement_rate", "watch_time")
ENGAGEMENT_TERMS = ("likes", "comments", "shares")
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_METRIC_RE = re.compile(r"^\s*([a-z_]+)\s*@\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")


def parse_metric(text: str) -> tuple[str, float]:
    """ "views@24h" -> ("views", 86400.0); ages in s, m, h or d."""
    match = _METRIC_RE.match(text or "")
    if match is None:
        raise ValueError(f"bad metric {text!r}: expected METRIC@AGE such as views@24h (ages: 30s, 15m, 24h, 2d)")
    name, amount, unit = match.groups()
    if name not in METRICS:
        raise ValueError(f"unknown metric {name!r}; choose from {', '.join(METRICS)}")
    age_s = float(amount) * _UNITS[unit]
    if age_s <= 0:
        raise ValueError(f"bad metric {text!r}: the age must be positive")
    return name, age_s


def metric_text(metric: str, age_s: float) -> str:
    """("views", 86400) -> "views@24h": whole hours in h, else whole minutes in m, else seconds."""
    for unit in ("h", "m"):
        if age_s % _UNITS[unit] == 0:
            return f"{metric}@{age_s / _UNITS[unit]:g}{unit}"
    return f"{metric}@{age_s:g}s"


@dataclass(frozen=True)
class PostOutcome:
    tracked_post_id: int
    target_id: str | None
    account_id: int | None
    platform: str
    clip_id: str | None
    published_at: datetime
    value: float | None  # the metric at the age; None when the post is not that old yet or lacks the metric
    successes: float | None  # engagement_rate: likes+comments+shares at the age
    trials: float | None  # engagement_rate: views at the age


def _field_at(post: TrackedPost, snaps: Sequence[MetricSnapshot], field: str, at: datetime) -> float | None:
    """`field` at instant `at`, interpolated between the reporting snapshots around it (0 at publication)."""
    before: tuple[datetime, float] = (post.published_at, 0.0)
    for snap in snaps:  # oldest first
        value = getattr(snap, field)
        if value is None:
            continue
        if snap.fetched_at >= at:
            t0, v0 = before
            span = (snap.fetched_at - t0).total_seconds()
            if span <= 0:
                return float(value)
            return v0 + (float(value) - v0) * (at - t0).total_seconds() / span
        before = (snap.fetched_at, float(value))
    return None


def _outcome(
    post: TrackedPost, snaps: Sequence[MetricSnapshot], metric: str, age_s: float, now: datetime
) -> PostOutcome:
    at = post.published_at + timedelta(seconds=age_s)
    value = successes = trials = None
    if at <= now:
        if metric == "views":
            value = _field_at(post, snaps, "views", at)
        elif metric == "watch_time":
            value = _field_at(post, snaps, "watch_time_s", at)
        else:
            terms = [_field_at(post, snaps, t, at) for t in ENGAGEMENT_TERMS]
            reported = [t for t in terms if t is not None]
            trials = _field_at(post, snaps, "views", at)
            successes = sum(reported) if reported else None
            if successes is not None and trials:
                value = successes / trials
    return PostOutcome(
        post.id,
        post.target_id,
        post.account_id,
        post.platform,
        post.clip_id,
        post.published_at,
        value,
        successes,
        trials,
    )


def _snapshots(session: Session, workspace_id: int, post_ids: Sequence[int]) -> dict[int, list[MetricSnapshot]]:
    by_post: dict[int, list[MetricSnapshot]] = defaultdict(list)
    for chunk in range(0, len(post_ids), 500):
        rows = session.scalars(
            select(MetricSnapshot)
            .where(
                MetricSnapshot.workspace_id == workspace_id,
                MetricSnapshot.tracked_post_id.in_(post_ids[chunk : chunk + 500]),
            )
            .order_by(MetricSnapshot.fetched_at, MetricSnapshot.id)
        )
        for snap in rows:
            by_post[snap.tracked_post_id].append(snap)
    return by_post


def outcomes_of_posts(
    session: Session, workspace_id: int, posts: Sequence[TrackedPost], *, metric: str, age_s: float, now: datetime
) -> list[PostOutcome]:
    """The outcome of each tracked post (of this workspace), in the order given."""
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose from {', '.join(METRICS)}")
    snaps = _snapshots(session, workspace_id, [p.id for p in posts])
    return [_outcome(p, snaps.get(p.id, []), metric, age_s, now) for p in posts]


def outcomes_for_targets(
    session: Session, workspace_id: int, target_ids: Sequence[str], *, metric: str, age_s: float, now: datetime
) -> dict[str, PostOutcome]:
    """Keyed by publishing target id; a target not published (not tracked) yet is absent."""
    if not target_ids:
        return {}
    posts = session.scalars(
        select(TrackedPost)
        .where(TrackedPost.workspace_id == workspace_id, TrackedPost.target_id.in_(list(target_ids)))
        .order_by(TrackedPost.id)
    ).all()
    outcomes = outcomes_of_posts(session, workspace_id, posts, metric=metric, age_s=age_s, now=now)
    return {o.target_id: o for o in outcomes if o.target_id is not None}


def outcomes_for_clips(
    session: Session, workspace_id: int, clip_ids: Collection[str], *, metric: str, age_s: float, now: datetime
) -> dict[str, list[PostOutcome]]:
    """Every tracked post of each clip, keyed by clip id (clips without posts are absent)."""
    posts = session.scalars(
        select(TrackedPost)
        .where(TrackedPost.workspace_id == workspace_id, TrackedPost.clip_id.in_(list(clip_ids)))
        .order_by(TrackedPost.id)
    ).all()
    by_clip: dict[str, list[PostOutcome]] = defaultdict(list)
    for o in outcomes_of_posts(session, workspace_id, posts, metric=metric, age_s=age_s, now=now):
        if o.clip_id is not None:
            by_clip[o.clip_id].append(o)
    return dict(by_clip)


def account_baselines(
    session: Session,
    workspace_id: int,
    account_ids: Sequence[int],
    *,
    metric: str,
    age_s: float,
    now: datetime,
    exclude_target_ids: Collection[str] = (),
    recent: int = 20,
    min_posts: int = 3,
) -> dict[int, float | None]:
    """Per account: the median value of its `recent` newest posts that are at least `age_s` old and have the
    metric (excluding the given targets, e.g. the experiment's own posts); None with fewer than `min_posts`."""
    cutoff = now - timedelta(seconds=age_s)
    out: dict[int, float | None] = {}
    for account_id in dict.fromkeys(account_ids):
        query = select(TrackedPost).where(
            TrackedPost.workspace_id == workspace_id,
            TrackedPost.account_id == account_id,
            TrackedPost.published_at <= cutoff,
        )
        if exclude_target_ids:
            query = query.where(
                or_(TrackedPost.target_id.is_(None), TrackedPost.target_id.notin_(list(exclude_target_ids)))
            )
        # A few spare posts: some of the newest may lack the metric.
        posts = session.scalars(query.order_by(TrackedPost.published_at.desc()).limit(recent * 2 + 10)).all()
        found = outcomes_of_posts(session, workspace_id, posts, metric=metric, age_s=age_s, now=now)
        values = [o.value for o in found if o.value is not None][:recent]
        out[account_id] = statistics.median(values) if len(values) >= min_posts else None
    return out
