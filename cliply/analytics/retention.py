"""Thinning of old metric snapshots, so the table stays bounded however many posts are tracked.

Snapshots older than `hourly_after` keep only the last one of each hour, older than `daily_after` the last one of
each UTC day; kept rows are marked with their granularity. Both cuts are aligned down to a whole hour / day, so a
bucket is only thinned once every row of it is past the cut and is never thinned twice. Set-based SQL (a window
function ranks the rows of each post and bucket; one DELETE per band), on SQLite and PostgreSQL alike; the
(granularity, fetched_at) index keeps each run to the rows that crossed a cut since the last one.

Per tracked post this leaves at most: the raw rows of the last `hourly_after`, 24 a day up to `daily_after`, then one
a day (and polling stops when a post turns frozen, 90 days after publishing by default).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, func, select, update
from sqlalchemy.orm import Session

from cliply.store.models_analytics import MetricSnapshot

S = MetricSnapshot


def _floor(at: datetime, unit: str) -> datetime:
    at = at.astimezone(UTC)
    if unit == "hour":
        return at.replace(minute=0, second=0, microsecond=0)
    return at.replace(hour=0, minute=0, second=0, microsecond=0)


def _bucket(session: Session, unit: str) -> ColumnElement[Any]:
    """The UTC hour or day a snapshot falls in, as a value equal for every row of that bucket."""
    if session.get_bind().dialect.name == "postgresql":
        return func.date_trunc(unit, func.timezone("UTC", S.fetched_at))
    # SQLite stores UTC as 'YYYY-MM-DD HH:MM:SS.ffffff': the bucket is a prefix.
    return func.substr(S.fetched_at, 1, 13 if unit == "hour" else 10)


def _thin_band(session: Session, unit: str, where: ColumnElement[bool]) -> int:
    """Delete all but the last snapshot of each (post, bucket) among the rows matching `where`."""
    ranked = (
        select(
            S.id,
            func.row_number()
            .over(partition_by=(S.tracked_post_id, _bucket(session, unit)), order_by=(S.fetched_at.desc(), S.id.desc()))
            .label("rank"),
        )
        .where(where)
        .subquery()
    )
    doomed = select(ranked.c.id).where(ranked.c.rank > 1)
    result = session.execute(delete(S).where(S.id.in_(doomed)).execution_options(synchronize_session=False))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def thin(session: Session, now: datetime, *, hourly_after: timedelta, daily_after: timedelta) -> int:
    """Thin old snapshots (see the module docstring); returns the number of rows deleted. Operator level: runs
    across workspaces, but a bucket never holds more than one post's rows."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    daily_cut = _floor(now - daily_after, "day")
    hourly_cut = max(_floor(now - hourly_after, "hour"), daily_cut)
    hourly_band = and_(S.granularity == "raw", S.fetched_at >= daily_cut, S.fetched_at < hourly_cut)
    daily_band = and_(S.granularity != "daily", S.fetched_at < daily_cut)
    deleted = _thin_band(session, "hour", hourly_band)
    session.execute(
        update(S).where(hourly_band).values(granularity="hourly").execution_options(synchronize_session=False)
    )
    deleted += _thin_band(session, "day", daily_band)
    session.execute(
        update(S).where(daily_band).values(granularity="daily").execution_options(synchronize_session=False)
    )
    session.expire_all()
    return deleted
