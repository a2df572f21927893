"""Limit ledger on both backends: every default rule at its limit, window resets (DST-safe), concurrency."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from cliply.publishing.limits import CALL_SKEW_S, DEFAULT_LIMITS, LimitRule, default_limits, reserve
from cliply.store import Database
from cliply.store.models_publishing import LimitEvent
from tests.helpers import run_threads

PT = ZoneInfo("America/Los_Angeles")
T0 = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)

# The expected caps, written out independently of the module: (rule name, limit, rolling window seconds).
ROLLING = {
    "instagram": ("publish_24h", 48, 86400),
    "facebook": ("reels_24h", 28, 86400),
    "threads": ("publish_24h", 240, 86400),
    "x": ("posts_3h", 290, 3 * 3600),
    "bluesky": ("videos_day", 24, 86400),
    "pinterest": ("writes_min", 10, 60),
}


def _reserve(db: Database, platform: str, account: int | None, now: datetime, **kw: object) -> datetime | None:
    with db.session() as s:
        return reserve(s, platform, account, now, **kw)  # type: ignore[arg-type]


def _events(db: Database) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(LimitEvent)) or 0


def test_every_platform_has_a_default_rule() -> None:
    assert set(DEFAULT_LIMITS) == {*ROLLING, "youtube", "tiktok", "linkedin"}


@pytest.mark.parametrize("platform", sorted(ROLLING))
def test_rolling_default_is_enforced_at_its_limit(db: Database, platform: str) -> None:
    name, limit, window = ROLLING[platform]
    [rule] = DEFAULT_LIMITS[platform]
    assert (rule.name, rule.limit, rule.window_s) == (name, limit, window)
    # A call-counting use is held a little longer than the platform's window (it arrives after its reservation).
    assert rule.held_s == window + (CALL_SKEW_S if rule.counts == "calls" else 0)
    window = rule.held_s
    step = timedelta(seconds=window / (limit * 2))  # all `limit` uses land inside one window
    for i in range(limit):
        assert _reserve(db, platform, 1, T0 + i * step) is None
    blocked_at = T0 + limit * step
    assert _reserve(db, platform, 1, blocked_at) == T0 + timedelta(seconds=window)  # the oldest use ages out
    assert _events(db) == limit  # a refusal records nothing
    assert _reserve(db, platform, 1, T0 + timedelta(seconds=window) - timedelta(microseconds=1)) is not None
    assert _reserve(db, platform, 1, T0 + timedelta(seconds=window)) is None
    # full again: the next slot frees when the second-oldest use ages out
    assert _reserve(db, platform, 1, T0 + timedelta(seconds=window)) == T0 + step + timedelta(seconds=window)


def test_tiktok_init_per_minute_and_daily_cap(db: Database) -> None:
    for i in range(5):
        assert _reserve(db, "tiktok", 1, T0 + timedelta(seconds=i)) is None
    assert _reserve(db, "tiktok", 1, T0 + timedelta(seconds=10)) == T0 + timedelta(seconds=60 + CALL_SKEW_S)
    # spread out, the per-minute rule never bites but the 24 h cap of 14 does
    for i in range(5, 14):
        assert _reserve(db, "tiktok", 1, T0 + timedelta(minutes=i)) is None
    assert _reserve(db, "tiktok", 1, T0 + timedelta(hours=5)) == T0 + timedelta(days=1)
    assert _reserve(db, "tiktok", 1, T0 + timedelta(days=1)) is None


def test_youtube_resets_at_pacific_midnight_across_dst_start(db: Database) -> None:
    # 2026-03-08 is the spring-forward day in Los Angeles (a 23 h day).
    day = datetime(2026, 3, 8, 1, 0, tzinfo=PT)
    assert _reserve(db, "youtube", 1, datetime(2026, 3, 7, 23, 59, tzinfo=PT)) is None  # yesterday's bucket
    for h in range(6):
        assert _reserve(db, "youtube", 1, day + timedelta(hours=h)) is None
    next_midnight = datetime(2026, 3, 9, 0, 0, tzinfo=PT)
    assert next_midnight.astimezone(UTC) == datetime(2026, 3, 9, 7, 0, tzinfo=UTC)  # PDT: UTC-7
    assert _reserve(db, "youtube", 1, datetime(2026, 3, 8, 23, 59, tzinfo=PT)) == next_midnight
    assert _reserve(db, "youtube", 1, next_midnight) is None


def test_youtube_resets_at_pacific_midnight_across_dst_end(db: Database) -> None:
    # 2026-11-01 falls back (a 25 h day); the bucket runs 00:00 PDT (07:00 UTC) to 00:00 PST (08:00 UTC next day).
    for h in range(6):
        assert _reserve(db, "youtube", 7, datetime(2026, 11, 1, 7 + h, 0, tzinfo=UTC)) is None
    nxt = _reserve(db, "youtube", 7, datetime(2026, 11, 2, 7, 30, tzinfo=UTC))  # 23:30 PST, same local day
    assert nxt == datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
    assert _reserve(db, "youtube", 7, datetime(2026, 11, 2, 8, 0, tzinfo=UTC)) is None


def test_youtube_daily_uploads_are_configurable(db: Database) -> None:
    rules = default_limits(youtube_daily_uploads=2)
    assert _reserve(db, "youtube", 1, T0, rules=rules) is None
    assert _reserve(db, "youtube", 1, T0, rules=rules) is None
    assert _reserve(db, "youtube", 1, T0, rules=rules) is not None


def test_linkedin_resets_at_utc_midnight(db: Database) -> None:
    start = datetime(2026, 11, 21, 0, 0, tzinfo=UTC)
    assert _reserve(db, "linkedin", 1, start - timedelta(microseconds=1)) is None  # yesterday
    for i in range(145):
        assert _reserve(db, "linkedin", 1, start + timedelta(minutes=i)) is None
    assert _reserve(db, "linkedin", 1, datetime(2026, 11, 21, 23, 59, tzinfo=UTC)) == start + timedelta(days=1)
    assert _reserve(db, "linkedin", 1, start + timedelta(days=1)) is None


def test_accounts_are_independent_and_app_rules_are_shared(db: Database) -> None:
    for _ in range(10):
        assert _reserve(db, "pinterest", 1, T0) is None
    assert _reserve(db, "pinterest", 1, T0) is not None
    assert _reserve(db, "pinterest", 2, T0) is None  # another account has its own window
    assert _reserve(db, "bluesky", 1, T0) is None  # and another platform its own counters
    app = {"x": (LimitRule("app_15m", "app", 2, window_s=900),)}
    assert _reserve(db, "x", 1, T0, rules=app) is None
    assert _reserve(db, "x", 2, T0, rules=app) is None
    assert _reserve(db, "x", 3, T0, rules=app) == T0 + timedelta(seconds=900)


def test_unlimited_platform_is_allowed_without_recording(db: Database) -> None:
    assert _reserve(db, "nowhere", 1, T0) is None
    assert _events(db) == 0


def test_old_events_are_pruned(db: Database) -> None:
    assert _reserve(db, "pinterest", 1, T0) is None
    assert _reserve(db, "pinterest", 1, T0 + timedelta(days=4)) is None
    assert _events(db) == 1


def test_limit_rule_validation() -> None:
    with pytest.raises(ValueError):
        LimitRule("both", "account", 1, window_s=60, reset="utc_midnight")
    with pytest.raises(ValueError):
        LimitRule("neither", "account", 1)
    with pytest.raises(ValueError):
        LimitRule("zero", "account", 0, window_s=60)
    with pytest.raises(ValueError):
        LimitRule("r", "account", 1, window_s=60).limit_key(None)


def test_concurrent_reserve_never_exceeds_the_limit(db: Database) -> None:
    threads, per_thread = (8, 10) if db.dialect == "postgresql" else (4, 20)  # 80 tries for 48 slots
    results: list[datetime | None] = []
    lock = threading.Lock()

    def work(i: int) -> None:
        for j in range(per_thread):
            got = _reserve(db, "instagram", 5, T0 + timedelta(milliseconds=j))
            with lock:
                results.append(got)

    run_threads(threads, work)
    assert sum(r is None for r in results) == 48
    assert _events(db) == 48
