"""Tracked posts on both backends: idempotent tracking (URL-registered and published are one row), workspace
isolation of every query, append-only snapshots where an unreported metric is NULL, due selection, and the
publisher hook (a published target is tracked; a TikTok post still moderating once its public id is known)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cliply.analytics.tracking import TrackedPosts, append_snapshot, due_posts, track_published_target
from cliply.platforms.models import PostMetrics, PublishResult
from cliply.publishing import ledger
from cliply.store import Database, NotFound, WorkspaceScope, get_or_create_workspace
from cliply.store.models_accounts import Account
from cliply.store.models_analytics import MetricSnapshot, TrackedPost

T0 = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def _scope(s: Session, name: str = "a") -> WorkspaceScope:
    return WorkspaceScope(s, get_or_create_workspace(s, name))


def _account(s: Session, name: str, platform: str, ext: str) -> int:
    ws = get_or_create_workspace(s, name)
    acct = Account(
        workspace_id=ws.id,
        platform=platform,
        handle=ext,
        external_id=ext,
        status="connected",
        access_token_enc="enc",
        scopes=[],
        extra={},
    )
    s.add(acct)
    s.flush()
    return acct.id


def test_tracking_the_same_post_twice_is_one_row_and_merges_what_is_known(db: Database) -> None:
    with db.session() as s:
        posts = TrackedPosts(_scope(s))
        first, created = posts.track(
            "youtube", "vid1", origin="url", published_at=T0, url="https://youtu.be/vid1", now=T0
        )
        assert created and first.origin == "url" and first.next_fetch_at == T0 and first.tier == "ultra_hot"
        acct = _account(s, "a", "youtube", "yt")
        again, created = posts.track(
            "youtube",
            "vid1",
            origin="published",
            published_at=T0 - timedelta(hours=1),
            account_id=acct,
            target_id=None,
            clip_id="clip-1",
            now=T0,
        )
        assert not created and again.id == first.id
        assert (again.origin, again.account_id, again.clip_id, again.url) == (
            "published",
            acct,
            "clip-1",
            "https://youtu.be/vid1",
        )
        assert again.published_at == T0 - timedelta(hours=1)  # the earlier (real) publish time wins
        # Registering by URL afterwards does not demote a post Cliply published.
        third, created = posts.track("youtube", "vid1", origin="url", published_at=T0, now=T0)
        assert not created and third.origin == "published"
        assert s.scalar(select(func.count()).select_from(TrackedPost)) == 1


def test_workspaces_never_see_or_remove_each_others_posts(db: Database) -> None:
    with db.session() as s:
        a, b = TrackedPosts(_scope(s, "a")), TrackedPosts(_scope(s, "b"))
        pa, _ = a.track("x", "123", origin="url", published_at=T0, now=T0)
        pb, created = b.track("x", "123", origin="url", published_at=T0, now=T0)  # the same post, another workspace
        assert created and pa.id != pb.id
        append_snapshot(s, pa, PostMetrics("123", views=5, likes=1), T0)
        assert [p.id for p in a.list()] == [pa.id] and [p.id for p in b.list()] == [pb.id]
        with pytest.raises(NotFound):
            b.get(pa.id)
        with pytest.raises(NotFound):
            b.remove(pa.id)
        with pytest.raises(NotFound):
            b.snapshots(pa.id)
        with pytest.raises(NotFound):
            b.latest(pa.id)
        assert b.find("x", "123").id == pb.id  # type: ignore[union-attr]
        assert a.latest(pa.id) is not None and b.latest(pb.id) is None
        # An account of another workspace cannot be used to read a post.
        foreign = _account(s, "b", "x", "xb")
        with pytest.raises(NotFound):
            a.track("x", "999", origin="url", published_at=T0, account_id=foreign, now=T0)
        a.remove(pa.id)
        assert a.list() == [] and [p.id for p in b.list()] == [pb.id]
        assert s.scalar(select(func.count()).select_from(MetricSnapshot)) == 0  # removed with its post


def test_list_filters(db: Database) -> None:
    with db.session() as s:
        posts = TrackedPosts(_scope(s))
        acct = _account(s, "a", "tiktok", "tt")
        p1, _ = posts.track("tiktok", "1", origin="url", published_at=T0, account_id=acct, clip_id="c1", now=T0)
        p2, _ = posts.track("youtube", "2", origin="url", published_at=T0, now=T0)
        p2.status = "gone"
        assert [p.id for p in posts.list(platform="tiktok")] == [p1.id]
        assert [p.id for p in posts.list(status="gone")] == [p2.id]
        assert [p.id for p in posts.list(clip_id="c1")] == [p1.id]
        assert [p.id for p in posts.list(account_id=acct)] == [p1.id]
        with pytest.raises(ValueError):
            posts.list(status="deleted")
        with pytest.raises(ValueError):
            posts.track("myspace", "1", origin="url", published_at=T0)
        with pytest.raises(ValueError):
            posts.track("x", "1", origin="url", published_at=T0.replace(tzinfo=None))


def test_snapshots_append_and_unreported_metrics_stay_null(db: Database) -> None:
    with db.session() as s:
        posts = TrackedPosts(_scope(s))
        post, _ = posts.track("bluesky", "at://did/app.bsky.feed.post/1", origin="url", published_at=T0, now=T0)
        # A client that fills an unreported metric with 0 (Bluesky has no views) must not store a 0.
        append_snapshot(s, post, PostMetrics(post.platform_post_id, views=0, likes=3, comments=0, raw={"k": 1}), T0)
        append_snapshot(s, post, PostMetrics(post.platform_post_id, likes=4, comments=None), T0 + timedelta(hours=1))
        snaps = posts.snapshots(post.id)
        assert [(x.views, x.likes, x.comments) for x in snaps] == [(None, 3, 0), (None, 4, None)]
        assert snaps[0].raw == {"k": 1} and snaps[0].granularity == "raw"
        assert [x.id for x in posts.snapshots(post.id, since=T0 + timedelta(minutes=1))] == [snaps[1].id]
        assert posts.latest(post.id).id == snaps[1].id  # type: ignore[union-attr]


def test_due_posts_by_time_status_tier_and_publish_day(db: Database) -> None:
    with db.session() as s:
        posts = TrackedPosts(_scope(s, "a"))
        other = TrackedPosts(_scope(s, "b"))
        due, _ = posts.track("x", "1", origin="url", published_at=T0, now=T0)
        later, _ = posts.track("x", "2", origin="url", published_at=T0, now=T0)
        later.next_fetch_at = T0 + timedelta(hours=1)
        gone, _ = posts.track("x", "3", origin="url", published_at=T0, now=T0)
        gone.status = "gone"
        frozen, _ = posts.track("x", "4", origin="url", published_at=T0 - timedelta(days=100), now=T0)
        yesterday, _ = other.track("x", "5", origin="url", published_at=T0 - timedelta(days=1), now=T0)
        posts.track("youtube", "6", origin="url", published_at=T0, now=T0)
        s.flush()
        assert frozen.tier == "frozen"
        assert [p.id for p in due_posts(s, "x", T0)] == [due.id, yesterday.id]  # across workspaces (operator)
        assert [p.id for p in due_posts(s, "x", T0, day=date(2026, 11, 21))] == [due.id]
        every = due_posts(s, "x", T0, day=date(2026, 11, 21), every=True)
        assert sorted(p.id for p in every) == sorted([due.id, later.id])


def _published_target(s: Session, platform: str, result: PublishResult) -> str:
    scope = _scope(s)
    scope.add_source("src1", "file", "file:///in.mp4", "in.mp4", status="ready")
    clip = scope.replace_clips("src1", [{"start_s": 0.0, "end_s": 4.0, "media_key": "k.mp4"}])[0]
    acct = _account(s, "a", platform, "acct")
    ledger.create_post(
        scope, clip_id=clip.id, targets=[ledger.TargetSpec(platform, acct)], scheduled_at=T0, timezone="UTC"
    )
    (target,) = ledger.claim_due(s, platform, now=T0, limit=1, worker_id="w")
    ledger.mark_attempt(s, target.id, "w", now=T0)
    ledger.mark_published(s, target.id, result, now=T0)
    return target.id


def test_a_target_published_through_the_ledger_is_tracked(db: Database) -> None:
    with db.session() as s:
        target_id = _published_target(s, "youtube", PublishResult("youtube", "yt123", url="https://youtu.be/yt123"))
        (post,) = TrackedPosts(_scope(s)).list()
        assert (post.platform_post_id, post.origin, post.target_id, post.published_at) == (
            "yt123",
            "published",
            target_id,
            T0,
        )
        assert post.clip_id == "src1-c01" and post.account_id is not None and post.next_fetch_at == T0


def test_a_tiktok_post_still_moderating_is_tracked_once_its_public_id_is_known(db: Database) -> None:
    with db.session() as s:
        moderating = PublishResult("tiktok", "", status="processing", raw={"publish_id": "p1"})
        target_id = _published_target(s, "tiktok", moderating)
        assert TrackedPosts(_scope(s)).list() == []
        assert ledger.record_post_id(
            s, target_id, PublishResult("tiktok", "7300000000000000001"), now=T0 + timedelta(minutes=5)
        )
        (post,) = TrackedPosts(_scope(s)).list()
        assert post.platform_post_id == "7300000000000000001" and post.target_id == target_id
        assert post.published_at == T0  # when it went out, not when the id arrived
        # Hook called again (e.g. a retry of the back-fill) stays one row.
        target = s.get(ledger.PostTarget, target_id)
        assert target is not None
        track_published_target(s, target, T0 + timedelta(minutes=6))
        assert len(TrackedPosts(_scope(s)).list()) == 1
