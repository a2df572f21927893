"""Thinning of old snapshots on SQLite and PostgreSQL: the last snapshot of each hour / UTC day is kept and marked,
recent raw rows are untouched, a second run changes nothing, and each post is thinned on its own."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, select

from cliply.analytics.retention import thin
from cliply.analytics.tracking import TrackedPosts
from cliply.store import Database, WorkspaceScope, get_or_create_workspace
from cliply.store.models_analytics import MetricSnapshot

NOW = datetime(2026, 11, 21, 12, 7, tzinfo=UTC)
STEP = timedelta(minutes=15)
DAYS = 40


def _seed(db: Database) -> list[int]:
    """Two posts in two workspaces, a snapshot every 15 min for 40 days (views = minutes since the start)."""
    start = NOW - timedelta(days=DAYS)
    ids = []
    with db.session() as s:
        for name in ("a", "b"):
            scope = WorkspaceScope(s, get_or_create_workspace(s, name))
            post, _ = TrackedPosts(scope).track("youtube", f"vid-{name}", origin="url", published_at=start, now=start)
            n = int((NOW - start) / STEP)
            rows = [
                {
                    "tracked_post_id": post.id,
                    "workspace_id": scope.workspace_id,
                    "fetched_at": start + i * STEP,
                    "views": i * 15,
                    "raw": {},
                    "granularity": "raw",
                }
                for i in range(n + 1)
            ]
            s.execute(insert(MetricSnapshot), rows)
            ids.append(post.id)
    return ids


def _rows(db: Database, post_id: int) -> list[MetricSnapshot]:
    with db.session() as s:
        rows = list(
            s.scalars(
                select(MetricSnapshot)
                .where(MetricSnapshot.tracked_post_id == post_id)
                .order_by(MetricSnapshot.fetched_at)
            )
        )
        s.expunge_all()
        return rows


def test_old_snapshots_thin_to_hourly_then_daily(db: Database) -> None:
    ids = _seed(db)
    before = len(_rows(db, ids[0]))
    with db.session() as s:
        deleted = thin(s, NOW, hourly_after=timedelta(days=7), daily_after=timedelta(days=30))
    daily_cut = datetime(2026, 10, 22, tzinfo=UTC)  # NOW - 30 d, down to the UTC day
    hourly_cut = datetime(2026, 11, 14, 12, tzinfo=UTC)  # NOW - 7 d, down to the hour
    for post_id in ids:
        rows = _rows(db, post_id)
        daily = [r for r in rows if r.fetched_at < daily_cut]
        hourly = [r for r in rows if daily_cut <= r.fetched_at < hourly_cut]
        raw = [r for r in rows if r.fetched_at >= hourly_cut]
        assert {r.granularity for r in daily} == {"daily"} and {r.granularity for r in hourly} == {"hourly"}
        assert {r.granularity for r in raw} == {"raw"} and len(raw) == int((NOW - hourly_cut) / STEP) + 1
        # One per UTC day / hour, and it is the day's / hour's last snapshot.
        assert max(Counter(r.fetched_at.date() for r in daily).values()) == 1
        assert all(r.fetched_at.hour == 23 and r.fetched_at.minute == 52 for r in daily[1:])
        assert max(Counter(r.fetched_at.replace(minute=0) for r in hourly).values()) == 1
        assert all(r.fetched_at.minute == 52 for r in hourly)
        assert len(hourly) == int((hourly_cut - daily_cut) / timedelta(hours=1))
    assert deleted == 2 * before - sum(len(_rows(db, i)) for i in ids)

    with db.session() as s:  # nothing left to do at the same instant
        assert thin(s, NOW, hourly_after=timedelta(days=7), daily_after=timedelta(days=30)) == 0

    # A day later only the rows that crossed a cut are thinned: 24 hours of raw rows and one day of hourly rows.
    kept = len(_rows(db, ids[0]))
    with db.session() as s:
        deleted = thin(s, NOW + timedelta(days=1), hourly_after=timedelta(days=7), daily_after=timedelta(days=30))
    assert deleted == 2 * (24 * 3 + 23)
    assert len(_rows(db, ids[0])) == kept - (24 * 3 + 23)
