"""A post's goal metric at a fixed age from hand-built snapshot rows (SQLite and PostgreSQL), against hand-computed
values: interpolation between the snapshots around the age, nothing before the age is reached, unreported metrics
stay None (never 0), engagement as successes / trials, account baselines (median of recent posts, excluding given
targets, None below the minimum) and workspace isolation."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cliply.experiments.outcomes import (
    METRICS,
    account_baselines,
    metric_text,
    outcomes_for_clips,
    outcomes_for_targets,
    parse_metric,
)
from cliply.store import Database, WorkspaceScope, get_or_create_workspace
from cliply.store.models_accounts import Account
from cliply.store.models_analytics import MetricSnapshot, TrackedPost
from cliply.store.models_publishing import Post, PostTarget

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)
_ids = itertools.count(1)


def add_account(s: Any, ws: int, platform: str = "tiktok", handle: str | None = None) -> int:
    handle = handle or f"acct{next(_ids)}"
    acct = Account(
        workspace_id=ws,
        platform=platform,
        handle=handle,
        external_id=f"ext-{handle}",
        status="connected",
        access_token_enc="enc",
        scopes=[],
        extra={},
    )
    s.add(acct)
    s.flush()
    return acct.id


def add_clip(s: Any, ws_name: str, source: str, n: int = 1) -> list[str]:
    scope = WorkspaceScope(s, get_or_create_workspace(s, ws_name))
    scope.add_source(source, "file", f"/in/{source}.mp4", f"{source}.mp4", status="ready")
    spans = [{"start_s": 10.0 * i, "end_s": 10.0 * i + 9.0, "text": f"clip {i}"} for i in range(n)]
    return [c.id for c in scope.replace_clips(source, spans)]


def add_published(
    s: Any, ws: int, clip_id: str, account_id: int, published: datetime, platform: str = "tiktok"
) -> tuple[str, int]:
    """A published post target of `clip_id` and its tracked post: (target id, tracked post id)."""
    k = next(_ids)
    s.add(Post(id=f"post{k}", workspace_id=ws, clip_id=clip_id, scheduled_at=published, status="posted"))
    s.flush()
    s.add(
        PostTarget(
            id=f"tgt{k}",
            post_id=f"post{k}",
            workspace_id=ws,
            platform=platform,
            account_id=account_id,
            due_at=published,
            state="published",
            published_at=published,
        )
    )
    s.flush()
    tracked = TrackedPost(
        workspace_id=ws,
        platform=platform,
        platform_post_id=f"pp{k}",
        account_id=account_id,
        target_id=f"tgt{k}",
        clip_id=clip_id,
        origin="published",
        published_at=published,
    )
    s.add(tracked)
    s.flush()
    return f"tgt{k}", tracked.id


def snap(s: Any, tracked_id: int, at: datetime, **metrics: Any) -> None:
    ws = s.get(TrackedPost, tracked_id).workspace_id
    s.add(MetricSnapshot(tracked_post_id=tracked_id, workspace_id=ws, fetched_at=at, raw={}, **metrics))
    s.flush()


def test_parse_and_format_metric() -> None:
    assert parse_metric("views@24h") == ("views", 86400.0)
    assert parse_metric("engagement_rate@30s") == ("engagement_rate", 30.0)
    assert parse_metric("watch_time@15m") == ("watch_time", 900.0)
    assert parse_metric("views@2d") == ("views", 172800.0)
    assert metric_text("views", 86400) == "views@24h"
    assert metric_text("watch_time", 900) == "watch_time@15m"
    assert metric_text("views", 45) == "views@45s"
    for m in METRICS:
        assert parse_metric(metric_text(m, 5400)) == (m, 5400.0)


@pytest.mark.parametrize("text", ["views", "views@", "views@24", "views@0h", "likes@24h", "views@-3h", "", "v@1x"])
def test_bad_metric_is_a_one_line_value_error(text: str) -> None:
    with pytest.raises(ValueError) as err:
        parse_metric(text)
    assert "\n" not in str(err.value) and str(err.value)


def test_value_at_the_age_is_interpolated_between_the_snapshots_around_it(db: Database) -> None:
    with db.session() as s:
        ws = get_or_create_workspace(s, "a").id
        (clip,) = add_clip(s, "a", "src")
        acct = add_account(s, ws)
        target, tp = add_published(s, ws, clip, acct, T0)
        snap(s, tp, T0 + 6 * H, views=60, likes=6, comments=None, shares=0, watch_time_s=None)
        snap(s, tp, T0 + 12 * H, views=100, likes=10, comments=None, shares=2, watch_time_s=None)
        snap(s, tp, T0 + 36 * H, views=300, likes=30, comments=None, shares=6, watch_time_s=None)
        now = T0 + 40 * H

        def at(metric: str, hours: float) -> Any:
            return outcomes_for_targets(s, ws, [target], metric=metric, age_s=hours * 3600, now=now)[target]

        assert at("views", 24).value == pytest.approx(200.0)  # halfway between 100 @12h and 300 @36h
        assert at("views", 12).value == pytest.approx(100.0)  # exactly on a snapshot
        assert at("views", 3).value == pytest.approx(30.0)  # from 0 at publication to 60 @6h
        assert at("views", 38).value is None  # old enough, but no snapshot at or after 38 h yet
        assert at("views", 48).value is None  # not that old yet
        assert at("watch_time", 24).value is None  # never reported: None, not 0
        rate = at("engagement_rate", 24)  # likes 20 + shares 4 (comments unreported) over 200 views
        assert (rate.successes, rate.trials) == (pytest.approx(24.0), pytest.approx(200.0))
        assert rate.value == pytest.approx(0.12)
        assert at("views", 24).successes is None and at("views", 24).trials is None
        o = at("views", 24)
        assert (o.tracked_post_id, o.account_id, o.platform, o.clip_id) == (tp, acct, "tiktok", clip)
        by_clip = outcomes_for_clips(s, ws, [clip], metric="views", age_s=24 * 3600, now=now)
        assert [p.value for p in by_clip[clip]] == [pytest.approx(200.0)]


def test_engagement_without_any_reported_term_is_unknown(db: Database) -> None:
    with db.session() as s:
        ws = get_or_create_workspace(s, "a").id
        (clip,) = add_clip(s, "a", "src")
        target, tp = add_published(s, ws, clip, add_account(s, ws), T0)
        snap(s, tp, T0 + 30 * H, views=500)
        o = outcomes_for_targets(s, ws, [target], metric="engagement_rate", age_s=24 * 3600, now=T0 + 31 * H)
        assert o[target].value is None and o[target].successes is None
        assert o[target].trials == pytest.approx(400.0)


def _account_history(s: Any, ws: int, clip: str, acct: int, views_at_24h: list[int]) -> list[str]:
    """Posts published a day apart (newest first in the list), each with a snapshot exactly at 24 h."""
    targets = []
    for i, views in enumerate(views_at_24h):
        published = T0 - (i + 2) * 24 * H
        target, tp = add_published(s, ws, clip, acct, published)
        snap(s, tp, published + 24 * H, views=views)
        targets.append(target)
    return targets


def test_account_baselines_median_recent_posts_with_exclusions_and_minimum(db: Database) -> None:
    with db.session() as s:
        ws = get_or_create_workspace(s, "a").id
        (clip,) = add_clip(s, "a", "src")
        big, small, new = add_account(s, ws), add_account(s, ws), add_account(s, ws)
        big_targets = _account_history(s, ws, clip, big, [1000, 5000, 3000, 2000, 100_000])
        _account_history(s, ws, clip, small, [10, 30, 20])
        _account_history(s, ws, clip, new, [7, 9])
        young, tp = add_published(s, ws, clip, big, T0)  # too young to count at 24 h
        snap(s, tp, T0 + H, views=1)
        now = T0 + 2 * H
        kw: dict[str, Any] = {"metric": "views", "age_s": 24 * 3600.0, "now": now}
        base = account_baselines(s, ws, [big, small, new], **kw)
        assert base == {big: 3000.0, small: 20.0, new: None}  # the new account has only 2 posts
        assert account_baselines(s, ws, [big], recent=3, **kw) == {big: 3000.0}  # 1000, 5000, 3000
        assert account_baselines(s, ws, [big], recent=2, min_posts=2, **kw) == {big: 3000.0}  # mean of the middle two
        excluded = account_baselines(s, ws, [big], exclude_target_ids=big_targets[:2], **kw)
        assert excluded == {big: 3000.0}  # 3000, 2000, 100000
        assert account_baselines(s, ws, [big], exclude_target_ids=big_targets[:3], **kw) == {big: None}
        assert young not in big_targets


def test_workspaces_never_see_each_others_posts(db: Database) -> None:
    with db.session() as s:
        a, b = get_or_create_workspace(s, "a").id, get_or_create_workspace(s, "b").id
        (clip_a,) = add_clip(s, "a", "src_a")
        acct_a = add_account(s, a)
        targets = _account_history(s, a, clip_a, acct_a, [100, 200, 300])
        kw: dict[str, Any] = {"metric": "views", "age_s": 24 * 3600.0, "now": T0}
        assert outcomes_for_targets(s, b, targets, **kw) == {}
        assert len(outcomes_for_targets(s, a, targets, **kw)) == 3
        assert outcomes_for_clips(s, b, [clip_a], **kw) == {}
        assert account_baselines(s, b, [acct_a], **kw) == {acct_a: None}
        assert account_baselines(s, a, [acct_a], **kw) == {acct_a: 200.0}
