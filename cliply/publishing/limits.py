"""Per-account / per-app publishing limits, counted in the database so every worker and process shares them.

Every platform call that counts against a limit takes a reservation first: one LimitEvent per rule; a rule is full
when its window already holds `limit` events. Defaults sit slightly UNDER the platforms' (and the sandbox's) caps so
Cliply itself never causes a 429. A rule counts either *calls* (a request-rate limit: the platform counts a refused
request too, so its reservation is kept) or *posts* (a cap on what gets created: a call the platform refused without
creating anything gives its reservation back through release()).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select, text
from sqlalchemy.orm import Session

from cliply.store.models_publishing import LimitEvent

PACIFIC = ZoneInfo("America/Los_Angeles")
RESET_ZONES = {"pt_midnight": PACIFIC, "utc_midnight": ZoneInfo("UTC")}
# Events older than every window are useless; pruned opportunistically on reserve.
PRUNE_AFTER = timedelta(days=3)
# A request reaches the platform a little after its reservation (TikTok asks creator_info before init; the network
# and a loaded worker add more), and the platform's rolling window starts at arrival: call-counting windows are held
# this much longer so a late arrival never lands in a window the ledger already thought had room.
CALL_SKEW_S = 5.0


@dataclass(frozen=True)
class LimitRule:
    """`limit` uses per rolling `window_s` seconds, or per calendar day ending at `reset` (local midnight)."""

    name: str
    scope: Literal["account", "app"]
    limit: int
    window_s: float | None = None
    reset: Literal["pt_midnight", "utc_midnight"] | None = None
    counts: Literal["posts", "calls"] = "posts"

    def __post_init__(self) -> None:
        if (self.window_s is None) == (self.reset is None):
            raise ValueError(f"limit {self.name!r}: give exactly one of window_s or reset")
        if self.reset is not None and self.reset not in RESET_ZONES:
            raise ValueError(f"limit {self.name!r}: unknown reset {self.reset!r}")
        if self.scope not in ("account", "app"):
            raise ValueError(f"limit {self.name!r}: unknown scope {self.scope!r}")
        if self.counts not in ("posts", "calls"):
            raise ValueError(f"limit {self.name!r}: counts must be posts or calls, not {self.counts!r}")
        if self.limit < 1:
            raise ValueError(f"limit {self.name!r}: limit must be >= 1")

    def limit_key(self, account_id: int | None) -> str:
        if self.scope == "app":
            return "app"
        if account_id is None:
            raise ValueError(f"limit {self.name!r} is per account; an account id is required")
        return f"account:{account_id}"

    @property
    def held_s(self) -> float | None:
        """How long one event counts: the rolling window, plus the arrival skew for call-counting rules."""
        if self.window_s is None:
            return None
        return self.window_s + (CALL_SKEW_S if self.counts == "calls" else 0.0)

    def window_start(self, now: datetime) -> datetime:
        """Events at or after this instant count (for rolling windows: strictly after)."""
        if self.held_s is not None:
            return now - timedelta(seconds=self.held_s)
        zone = RESET_ZONES[self.reset]  # type: ignore[index]
        # Wall-clock midnight via zoneinfo: correct on 23 h and 25 h DST days.
        return datetime.combine(now.astimezone(zone).date(), time(0), tzinfo=zone).astimezone(UTC)

    def next_reset(self, now: datetime) -> datetime:
        zone = RESET_ZONES[self.reset]  # type: ignore[index]
        tomorrow = now.astimezone(zone).date() + timedelta(days=1)
        return datetime.combine(tomorrow, time(0), tzinfo=zone).astimezone(UTC)

    def free_at(self, events: Sequence[datetime], now: datetime) -> datetime | None:
        """None if one more use fits; else when it will. `events`: this rule's counted events, oldest first."""
        if len(events) < self.limit:
            return None
        if self.held_s is None:
            return self.next_reset(now)
        # The window drops to limit-1 uses once the (n-limit+1) oldest events have aged out.
        return events[len(events) - self.limit] + timedelta(seconds=self.held_s)


DAY_S = 86_400.0


def default_limits(*, youtube_daily_uploads: int = 6) -> dict[str, tuple[LimitRule, ...]]:
    return {
        "youtube": (LimitRule("uploads_day", "account", youtube_daily_uploads, reset="pt_midnight"),),
        "instagram": (LimitRule("publish_24h", "account", 48, window_s=DAY_S),),  # API: 50 / rolling 24 h
        "facebook": (LimitRule("reels_24h", "account", 28, window_s=DAY_S),),  # 30 reels / 24 h per Page
        "threads": (LimitRule("publish_24h", "account", 240, window_s=DAY_S),),  # 250 / 24 h
        "x": (LimitRule("posts_3h", "account", 290, window_s=3 * 3600.0),),  # 300 / 3 h per user
        "tiktok": (
            LimitRule("init_min", "account", 5, window_s=60.0, counts="calls"),  # 6 init requests / min
            LimitRule("posts_day", "account", 14, window_s=DAY_S),  # 15 direct posts / 24 h
        ),
        "bluesky": (LimitRule("videos_day", "account", 24, window_s=DAY_S),),  # 25 videos / 24 h
        "linkedin": (LimitRule("posts_day", "account", 145, reset="utc_midnight"),),  # 150 / UTC day
        "pinterest": (LimitRule("writes_min", "account", 10, window_s=60.0, counts="calls"),),  # 100 writes / min
    }


DEFAULT_LIMITS: Mapping[str, tuple[LimitRule, ...]] = default_limits()


def _lock_key(platform: str, limit_key: str) -> int:
    digest = hashlib.blake2b(f"cliply-limit:{platform}:{limit_key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _lock(session: Session, platform: str, limit_keys: Sequence[str]) -> None:
    """Serialise reservations on the same counters. SQLite: the store's BEGIN IMMEDIATE already holds the write
    lock. PostgreSQL: transaction-scoped advisory locks, taken in sorted order so two reservers cannot deadlock."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for key in sorted(set(limit_keys)):
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _lock_key(platform, key)})


def usage(session: Session, platform: str, rule: LimitRule, account_id: int | None, now: datetime) -> list[datetime]:
    """The events counting against `rule` at `now`, oldest first."""
    start = rule.window_start(now)
    at_col = LimitEvent.at
    stmt = select(at_col).where(
        LimitEvent.platform == platform,
        LimitEvent.limit_key == rule.limit_key(account_id),
        LimitEvent.name == rule.name,
        at_col > start if rule.window_s is not None else at_col >= start,
    )
    return list(session.scalars(stmt.order_by(at_col)))


@dataclass(frozen=True)
class Reservation:
    """The outcome of take(): `until` when a rule is full (nothing recorded), else the events that may be given
    back (those of rules counting posts) if the platform refuses the call."""

    until: datetime | None = None
    refundable: tuple[int, ...] = ()


def take(
    session: Session,
    platform: str,
    account_id: int | None,
    now: datetime,
    *,
    rules: Mapping[str, Sequence[LimitRule]] | None = None,
) -> Reservation:
    """Take one use of every rule of `platform` for one platform call (see reserve()). Must run inside the caller's
    transaction."""
    platform_rules = (DEFAULT_LIMITS if rules is None else rules).get(platform, ())
    if not platform_rules:
        return Reservation()
    keys = [rule.limit_key(account_id) for rule in platform_rules]
    _lock(session, platform, keys)
    keep = max([PRUNE_AFTER, *(timedelta(seconds=2 * r.window_s) for r in platform_rules if r.window_s)])
    session.execute(
        delete(LimitEvent).where(
            LimitEvent.platform == platform, LimitEvent.limit_key.in_(set(keys)), LimitEvent.at < now - keep
        )
    )
    blocked = [
        free
        for rule in platform_rules
        if (free := rule.free_at(usage(session, platform, rule, account_id, now), now)) is not None
    ]
    if blocked:
        return Reservation(until=max(blocked))
    events = [
        (rule, LimitEvent(platform=platform, limit_key=key, name=rule.name, at=now))
        for rule, key in zip(platform_rules, keys, strict=True)
    ]
    session.add_all(event for _, event in events)
    session.flush()
    return Reservation(refundable=tuple(event.id for rule, event in events if rule.counts == "posts"))


def reserve(
    session: Session,
    platform: str,
    account_id: int | None,
    now: datetime,
    *,
    rules: Mapping[str, Sequence[LimitRule]] | None = None,
) -> datetime | None:
    """Take one use of every rule of `platform`. None = allowed and recorded; otherwise nothing is recorded and the
    earliest time at which all rules have room again is returned. Must run inside the caller's transaction."""
    return take(session, platform, account_id, now, rules=rules).until


def release(session: Session, reservation: Reservation) -> int:
    """Give back the post-counting uses of a call the platform refused without creating anything (a 429, a 5xx
    before accepting, an auth or config error). Call-counting uses stay: the platform counted the request."""
    if not reservation.refundable:
        return 0
    result = session.execute(delete(LimitEvent).where(LimitEvent.id.in_(reservation.refundable)))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
