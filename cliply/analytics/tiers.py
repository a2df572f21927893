"""Refresh tiers: how often a tracked post's metrics are fetched, by its age and how fast it is growing.

ultra_hot: the first `ultra_hot_h` hours, or any younger-than-cold post whose velocity (views per hour) is in the top
decile of its workspace's active posts; hot: the first `hot_h` hours; warm: the first `warm_d` days; cold: the first
`cold_d` days; frozen after that (never polled again). Each tier has its own interval (settings
`analytics_<tier>_every_s`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cliply.settings import Settings

POLLED_TIERS = ("ultra_hot", "hot", "warm", "cold")
# Fewer active posts than this in a workspace: no meaningful top decile, so velocity never promotes.
MIN_POSTS_FOR_DECILE = 10


@dataclass(frozen=True)
class TierPolicy:
    ultra_hot: timedelta = timedelta(hours=6)
    hot: timedelta = timedelta(hours=24)
    warm: timedelta = timedelta(days=7)
    cold: timedelta = timedelta(days=90)
    every: tuple[tuple[str, timedelta], ...] = (
        ("ultra_hot", timedelta(minutes=15)),
        ("hot", timedelta(minutes=30)),
        ("warm", timedelta(hours=6)),
        ("cold", timedelta(hours=24)),
    )

    @classmethod
    def from_settings(cls, settings: Settings) -> TierPolicy:
        s = settings
        return cls(
            ultra_hot=timedelta(hours=s.analytics_ultra_hot_h),
            hot=timedelta(hours=s.analytics_hot_h),
            warm=timedelta(days=s.analytics_warm_d),
            cold=timedelta(days=s.analytics_cold_d),
            every=(
                ("ultra_hot", timedelta(seconds=s.analytics_ultra_hot_every_s)),
                ("hot", timedelta(seconds=s.analytics_hot_every_s)),
                ("warm", timedelta(seconds=s.analytics_warm_every_s)),
                ("cold", timedelta(seconds=s.analytics_cold_every_s)),
            ),
        )


def tier_for(age: timedelta, *, top_decile: bool, policy: TierPolicy) -> str:
    """The tier of a post `age` old. A fast grower stays ultra_hot while it is younger than the cold limit."""
    if age >= policy.cold:
        return "frozen"
    if age < policy.ultra_hot or top_decile:
        return "ultra_hot"
    if age < policy.hot:
        return "hot"
    if age < policy.warm:
        return "warm"
    return "cold"


def interval(tier: str, policy: TierPolicy) -> timedelta | None:
    """How long until the next fetch of a post in `tier`; None for frozen (never polled)."""
    if tier == "frozen":
        return None
    for name, every in policy.every:
        if name == tier:
            return every
    raise ValueError(f"unknown tier {tier!r}")


def top_decile_threshold(velocities: list[float]) -> float | None:
    """The smallest velocity in the top 10 % of `velocities` (None: too few posts, or nobody is growing)."""
    ranked = sorted((v for v in velocities if v > 0), reverse=True)
    if len(velocities) < MIN_POSTS_FOR_DECILE or not ranked:
        return None
    k = max(1, len(velocities) // 10)
    return ranked[min(k, len(ranked)) - 1]
