"""How a sandbox post's counters grow: a pure function of (platform, post id, age), so every platform handler,
test and benchmark sees the same numbers for the same post at the same sandbox time.

The shape follows what real short-video posts do:
- a follower burst in the first hour, then algorithmic reach that saturates (V · (1 − e^(−t/τ)), τ 2–16 h), then a
  slow tail that keeps creeping up (logarithmic);
- heavy-tailed reach between posts: V is lognormal (σ 1.6) around a per-platform median, seeded from the post id;
- a few late risers (4 %): a second bump days later (a resurfacing, a share from a big account);
- small noise: time itself is warped a little (views arrive in bursts), never enough to make a counter go back;
- a rare platform correction (2 %): invalid views removed once, a small drop, flagged as `corrected`.
Likes, comments, shares, saves, reach, impressions and watch time follow the views with per-post ratios."""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass
from functools import lru_cache

# Median final reach per platform (views of a typical post); the lognormal spread gives the tail.
MEDIAN_VIEWS = {
    "youtube": 4000,
    "tiktok": 8000,
    "instagram": 3000,
    "facebook": 2000,
    "threads": 800,
    "x": 1500,
    "linkedin": 600,
    "pinterest": 400,
    "bluesky": 300,
}
SIGMA = 1.6  # lognormal spread of V: the top 10 % of posts hold roughly 60 % of all views
LATE_RISER_SHARE = 0.04
CORRECTION_SHARE = 0.02
COUNTER_KEYS = (
    "views",
    "likes",
    "comments",
    "shares",
    "quotes",
    "saves",
    "reach",
    "impressions",
    "clicks",
    "outbound_clicks",
    "video_starts",
    "views_10s",
    "completions",
    "watch_time_ms",
    "corrected",
)


@dataclass(frozen=True)
class Curve:
    """One post's drawn parameters (hours for times)."""

    reach: float  # V: the algorithmic audience the post saturates to
    burst: float  # followers reached in the first hour or so
    burst_tau: float
    tau: float
    tail: float  # views per log-unit of the slow tail
    riser_at: float | None  # a late riser's second bump starts here
    riser_size: float
    riser_tau: float
    correction_at: float | None  # a platform correction removes `correction_frac` of the views once, here
    correction_frac: float
    phases: tuple[float, float]
    ratios: dict[str, float]
    avg_watch_s: float

    def raw_views(self, h: float) -> float:
        """Cumulative views after h hours, before noise and corrections (increasing in h)."""
        if h <= 0:
            return 0.0
        v = self.burst * (1 - math.exp(-h / self.burst_tau))
        v += self.reach * (1 - math.exp(-h / self.tau))
        v += self.tail * math.log1p(h / 48)
        if self.riser_at is not None and h > self.riser_at:
            v += self.riser_size * (1 - math.exp(-(h - self.riser_at) / self.riser_tau))
        return v

    def warp(self, h: float, phase: float) -> float:
        """Noisy time: h stretched a little, with a slope kept within [0.5, 1.5] so counters never go back.
        One wobble on a log-time scale (bursty early, calm later) and one on a 2-hour scale."""
        if h <= 0:
            return 0.0
        slow = 0.03 * math.sin(2 * math.pi * math.log1p(h) / 0.6 + phase)
        fast = 0.05 * (math.sin(2 * math.pi * h / 2.0 + 2 * phase) - math.sin(2 * phase))
        return h * (1 + slow) + fast

    def counters(self, h: float) -> dict[str, int]:
        base = self.raw_views(self.warp(h, self.phases[0]))
        engaged = self.raw_views(self.warp(h, self.phases[1]))  # likes etc. arrive on their own rhythm
        views = base
        corrected = 0
        if self.correction_at is not None and h >= self.correction_at:
            views -= self.correction_frac * self.raw_views(self.warp(self.correction_at, self.phases[0]))
            corrected = 1
        out = {k: int(engaged * r) for k, r in self.ratios.items() if k not in ("reach", "impressions")}
        out.update(
            views=int(views),
            reach=int(base * self.ratios["reach"]),
            impressions=int(base * self.ratios["impressions"]),
            video_starts=int(base * 1.25),
            views_10s=int(base * 0.4),
            completions=int(base * 0.15),
            watch_time_ms=int(base * self.avg_watch_s * 1000),
            corrected=corrected,
        )
        return out


def _seed(platform: str, post_id: str) -> int:
    return int(hashlib.sha256(f"{platform}:{post_id}".encode()).hexdigest()[:16], 16)


def _rate(rng: random.Random, median: float, spread: float = 0.5) -> float:
    return median * math.exp(rng.gauss(0, spread))


@lru_cache(maxsize=65536)
def curve(platform: str, post_id: str, sigma: float = SIGMA, lift: float = 1.0) -> Curve:
    """The post's parameters, drawn deterministically from its id. `sigma` overrides the lognormal spread of the
    reach and `lift` multiplies it (a sandbox knob for experiments: a variant that truly reaches more)."""
    rng = random.Random(_seed(platform, post_id))
    z = min(4.5, max(-3.0, rng.gauss(0, 1)))
    reach = MEDIAN_VIEWS.get(platform, 1000) * math.exp(sigma * z)
    if lift != 1.0:  # only when set: the default numbers stay bit-identical
        reach *= lift
    riser = rng.random() < LATE_RISER_SHARE
    correction = rng.random() < CORRECTION_SHARE
    return Curve(
        reach=reach,
        burst=reach * rng.uniform(0.03, 0.08) + 20,
        burst_tau=rng.uniform(0.3, 0.8),
        tau=math.exp(rng.uniform(math.log(2), math.log(16))),
        tail=reach * rng.uniform(0.02, 0.1),
        riser_at=rng.uniform(36, 240) if riser else None,
        riser_size=reach * rng.uniform(0.5, 4.0),
        riser_tau=rng.uniform(6, 36),
        correction_at=rng.uniform(6, 96) if correction else None,
        correction_frac=rng.uniform(0.01, 0.05),
        phases=(rng.uniform(0, 2 * math.pi), rng.uniform(0, 2 * math.pi)),
        ratios={
            "likes": _rate(rng, 0.05),
            "comments": _rate(rng, 0.004),
            "shares": _rate(rng, 0.006),
            "quotes": _rate(rng, 0.0015),
            "saves": _rate(rng, 0.005),
            "clicks": _rate(rng, 0.01),
            "outbound_clicks": _rate(rng, 0.003),
            "reach": rng.uniform(0.6, 0.9),  # unique accounts: fewer than views
            "impressions": rng.uniform(1.2, 2.0),  # times shown: more than views
        },
        avg_watch_s=rng.uniform(3.0, 14.0),
    )


def counters(
    platform: str, post_id: str, age_s: float, *, lift: float = 1.0, sigma: float | None = None
) -> dict[str, int]:
    """Every counter of the post at this age (seconds since it was created); all zero before it exists. `lift` and
    `sigma` as in curve (defaults: the usual numbers)."""
    if age_s <= 0:
        return dict.fromkeys(COUNTER_KEYS, 0)
    return curve(platform, post_id, SIGMA if sigma is None else sigma, lift).counters(age_s / 3600)


def delay_s(platform: str, post_id: str, purpose: str, low_s: float, high_s: float) -> float:
    """A per-post, deterministic delay (e.g. how long insights stay empty): uniform in [low_s, high_s]."""
    rng = random.Random(_seed(platform, f"{post_id}|{purpose}"))
    return rng.uniform(low_s, high_s)
