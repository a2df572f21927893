"""Analytics read limits, and the rule that publishing comes first.

Every metrics request takes a reservation in the same limit ledger as publishing (limit_events), under rule names of
its own (`read_*`), counted as calls (a refused request was still counted by the platform, so nothing is given back).
Each cap sits slightly under the platform's, so analytics never causes a 429:

| platform  | rule             | scope   | cap (ours / platform's)                          | shared with publishing |
|-----------|------------------|---------|--------------------------------------------------|------------------------|
| youtube   | read_units_day   | app     | 9,500 × share / 10,000 units per PT day (project) | yes (one unit pool)    |
| tiktok    | read_query_min   | account | 540 / 600 video/query requests per minute         | no                     |
| instagram | read_calls_hour  | account | 190 × share / ~200 calls per user-hour (BUC)      | yes                    |
| facebook  | read_calls_hour  | account | 190 × share / ~200 calls per user-hour (BUC)      | yes                    |
| threads   | read_calls_hour  | account | 190 × share / ~200 calls per user-hour            | yes                    |
| x         | read_tweets_15m  | account | 14 / 15 GET /2/tweets per user per 15 min          | no                     |
| linkedin  | read_calls_day   | account | 450 × share / ~500 member calls per UTC day       | yes                    |
| pinterest | read_analytics_m | account | 90 / 100 org_analytics calls per minute           | no                     |
| bluesky   | read_getposts_5m | app     | 2,700 / 3,000 AppView requests per 5 min (per IP) | no                     |

Publishing first, in two ways:
1. Where a window is shared with publishing, analytics may only fill `analytics_read_share` of it (setting, default
   0.5); the rest is always left for publishing, whose own calls are never counted against analytics.
2. An account with a post target due within PUBLISH_GUARD (or being published right now) is not read at all: its
   batches wait until the guard has passed, so a due post never finds its window taken by metrics.
A full reservation defers the batch to when the window frees (next_fetch_at); that is not a failure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cliply.publishing import limits
from cliply.publishing.limits import LimitRule
from cliply.store.models_publishing import PostTarget

if TYPE_CHECKING:
    from cliply.settings import Settings

PUBLISH_GUARD = timedelta(minutes=10)
# A target due longer ago than this and still not claimed is stuck (platform switched off…): it does not hold
# metrics back forever.
STALE_DUE = timedelta(hours=1)
# Target states that still need the platform: due or in flight (their calls share the account's windows).
_PENDING = ("scheduled", "waiting", "claimed", "uploading", "processing", "publishing", "unknown_outcome")
HOUR_S, DAY_S = 3600.0, 86_400.0


def _share(cap: int, share: float) -> int:
    return max(1, int(cap * share))


def read_rules(read_share: float = 0.5) -> dict[str, tuple[LimitRule, ...]]:
    """The read rules per platform; `read_share` is analytics' part of windows shared with publishing."""
    meta = (LimitRule("read_calls_hour", "account", _share(190, read_share), window_s=HOUR_S, counts="calls"),)
    return {
        "youtube": (
            LimitRule("read_units_day", "app", _share(9_500, read_share), reset="pt_midnight", counts="calls"),
        ),
        "tiktok": (LimitRule("read_query_min", "account", 540, window_s=60.0, counts="calls"),),
        "instagram": meta,
        "facebook": meta,
        "threads": meta,
        "x": (LimitRule("read_tweets_15m", "account", 14, window_s=900.0, counts="calls"),),
        "linkedin": (
            LimitRule("read_calls_day", "account", _share(450, read_share), reset="utc_midnight", counts="calls"),
        ),
        "pinterest": (LimitRule("read_analytics_m", "account", 90, window_s=60.0, counts="calls"),),
        "bluesky": (LimitRule("read_getposts_5m", "app", 2_700, window_s=300.0, counts="calls"),),
    }


def rules_from_settings(settings: Settings) -> dict[str, tuple[LimitRule, ...]]:
    return read_rules(settings.analytics_read_share)


def applicable(
    rules: Mapping[str, Sequence[LimitRule]], platform: str, account_id: int | None
) -> dict[str, tuple[LimitRule, ...]]:
    """The rules that apply to one reader: without an account (API key, public AppView) only app-wide ones."""
    own = tuple(rules.get(platform, ()))
    if account_id is None:
        own = tuple(r for r in own if r.scope == "app")
    return {platform: own}


def reserve_calls(
    session: Session,
    platform: str,
    account_id: int | None,
    now: datetime,
    calls: int,
    *,
    rules: Mapping[str, Sequence[LimitRule]],
) -> datetime | None:
    """Reserve `calls` platform requests at once, all or nothing. None = reserved (recorded in this transaction);
    else when the window will have room, nothing recorded."""
    scoped = applicable(rules, platform, account_id)
    if not scoped[platform]:
        return None
    nested = session.begin_nested()
    for _ in range(calls):
        until = limits.take(session, platform, account_id, now, rules=scoped).until
        if until is not None:
            nested.rollback()
            return until
    nested.commit()
    return None


def publishing_due(session: Session, account_ids: Sequence[int], now: datetime) -> dict[int, datetime]:
    """Accounts with a target due before now + PUBLISH_GUARD, or in flight: account → when analytics may read it.
    (Publishing first: a due post must find its account's windows untouched by metrics reads.)"""
    if not account_ids:
        return {}
    rows = session.execute(
        select(PostTarget.account_id, func.max(PostTarget.due_at))
        .where(
            PostTarget.account_id.in_(list(account_ids)),
            PostTarget.state.in_(_PENDING),
            PostTarget.due_at <= now + PUBLISH_GUARD,
            PostTarget.due_at > now - STALE_DUE,
        )
        .group_by(PostTarget.account_id)
    )
    return {int(acc): max(now, due) + PUBLISH_GUARD for acc, due in rows}
