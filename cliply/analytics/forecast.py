"""Forecasts of a post's views a few hours ahead, with an 80 % prediction interval, and their back-test.

Model ("power_velocity", after Szabo & Huberman's log-linear popularity model): a post's views per hour fall off
as a power of its age, v(a) = v_A · (a / A)^(-β), A = the post's age at the last snapshot. β is fitted on the
post's own history: over the snapshots of the last three quarters of its life (age ≥ A/4, at least the last 6),
least squares (weighted by each interval's length) of log(views per hour) of each interval against log(age) at
its midpoint; 0 ≤ β ≤ 8 (no extrapolated rise: it misfires on noise). The window scales with the age, as the
power law does: a young post's fit sees its last hour or two, so a fast exponential decay early on shows as a
large β; an older post's fit spans many hours, so a wobble of a few hours in its rate does not tilt the slope.
The level v_A is the last hour's views per hour (what naive uses), moved from that window's middle to its end
along the fitted curve. The views gained in the H hours after the last snapshot are then

    ΔV(H) = v_A · A · ((1 + H/A)^(1-β) - 1) / (1 - β)        (v_A · A · ln(1 + H/A) when β = 1)

added to the last observed count: a forecast never falls below it and grows with the horizon. The age comes from
`published_at`, or else from the first snapshots (their rate extrapolated back to zero views).

Interval: ΔV is log-normal around that value with a spread σ_H² = σ²·(noise + 1/n + (u − ū)²/Sxx) + drift·H:
σ is the residual spread of the fit (pooled with a prior spread while a post has few intervals), the second and
third terms are the standard error of the fitted log-rate halfway into the horizon, `noise` the part of one
interval's noise that does not average out over H, and the drift term lets the curve's shape change. Over H
hours, H/step intervals average out, but a rate that runs above or below the curve for a while (bursts, a
resurfacing) does not: the residuals' lag-1 autocorrelation ρ scales that share by (1 + ρ)/(1 − ρ), up to 1.
80 % = ±1.2816 σ_H. The low bound is the largest lower bound of any earlier instant (counters are cumulative), so both
bounds grow with the horizon as well.

Too little history (fewer than 3 snapshots with views, less than 30 minutes of them, or no views yet) gives a
`NoForecast` that says why. `naive` is the baseline: the last hour's velocity × hours ahead.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from cliply.analytics.derive import hours, value, velocity, window_start, with_views

MODEL = "power_velocity"
NAIVE = "naive"
Z80 = 1.2815515655446004  # the 90th percentile of N(0, 1): a central 80 % interval is ±Z80·σ
MIN_POINTS = 3
MIN_HISTORY = timedelta(minutes=30)
FIT_SPAN = 4.0  # the fit covers the snapshots at ages ≥ A / FIT_SPAN …
MIN_FIT_POINTS = 6  # … and at least this many (the last ones)
MAX_PERSIST = 0.95  # the residuals' lag-1 autocorrelation is taken up to this
MAX_DECAY = 8.0  # β: even an exponential burst is a finite power locally
LEVEL_WINDOW = timedelta(hours=1)
# Calibrated on back-tests of synthetic and sandbox curves (80 % intervals covering 75-88 %).
PRIOR_SIGMA = 0.3  # spread of one interval's log-rate when a post has too few intervals to say
PRIOR_WEIGHT = 3.0  # how many intervals' worth of evidence that prior counts for
DRIFT = 0.03  # variance of the log-rate added per hour ahead (the curve's shape changes)
GRID_H = 0.25  # step of the instants the bounds are taken over
MAX_AGE_H = 720.0  # an estimated age goes back at most 30 days


@dataclass(frozen=True)
class Forecast:
    horizon_h: float
    target_at: datetime
    predicted: float
    low: float
    high: float
    model: str


@dataclass(frozen=True)
class NoForecast:
    reason: str


@dataclass(frozen=True)
class Fit:
    """log v = log v_A - decay·u with u = log(age / A); the terms the interval needs."""

    last_views: float
    last_at: datetime
    age_h: float  # A: the post's age at the last snapshot
    rate: float  # v_A: views per hour at the last snapshot
    rate_high: float  # the least rate the upper bound starts from (a quiet hour may still hide a view)
    decay: float  # β
    sigma: float
    n: int  # intervals fitted
    mean_u: float  # weighted mean interval midpoint (≤ 0)
    sxx: float  # weighted spread of the midpoints
    step_h: float  # mean interval length: the future views are as noisy as the intervals fitted
    persist: float = 1.0  # (1 + ρ)/(1 - ρ), ρ the residuals' lag-1 autocorrelation: how slowly deviations fade

    def increment(self, ahead_h: float, rate: float | None = None) -> float:
        """Median views gained `ahead_h` hours after the last snapshot."""
        rate = self.rate if rate is None else rate
        grow = math.log1p(ahead_h / self.age_h)
        if abs(1 - self.decay) < 1e-9:
            return rate * self.age_h * grow
        return rate * self.age_h * math.expm1((1 - self.decay) * grow) / (1 - self.decay)

    def spread(self, ahead_h: float) -> float:
        """σ of the log-increment `ahead_h` hours after the last snapshot."""
        u = math.log1p(ahead_h / 2 / self.age_h)  # the increment is mostly the rate around mid-horizon
        slope_var = (u - self.mean_u) ** 2 / self.sxx if self.sxx > 0 else 0.0
        # ahead_h/step_h intervals average out, fewer when a deviation lasts several intervals
        noise = min(1.0, self.step_h * self.persist / ahead_h) if ahead_h > 0 else 1.0
        return math.sqrt(self.sigma**2 * (noise + 1 / self.n + slope_var) + DRIFT * ahead_h)

    def bounds(self, ahead_h: float) -> tuple[float, float, float]:
        """(low, predicted, high) views `ahead_h` hours after the last snapshot. Both bounds are the extreme over
        the instants up to `ahead_h` (the spread's noise term shrinks as more intervals average out), which keeps
        them monotone in the horizon; a later count can only be at least an earlier one."""
        steps = [*(float(a) for a in np.arange(GRID_H, ahead_h, GRID_H)), ahead_h]
        fast = max(self.rate, self.rate_high)
        low = max(self.increment(a) * math.exp(-Z80 * self.spread(a)) for a in steps)
        high = max(self.increment(a, fast) * math.exp(Z80 * self.spread(a)) for a in steps)
        return self.last_views + low, self.last_views + self.increment(ahead_h), self.last_views + high


def usable(points: Iterable[Any], now: datetime) -> list[Any] | NoForecast:
    """The points known at `now`, or why they are too few to forecast from."""
    series = [p for p in with_views(points) if p.fetched_at <= now]
    if len(series) < MIN_POINTS:
        return NoForecast(f"too little history: {len(series)} snapshot(s) with views, {MIN_POINTS} needed")
    span = series[-1].fetched_at - series[0].fetched_at
    if span < MIN_HISTORY:
        return NoForecast(f"too little history: {hours(span) * 60:.0f} min of snapshots, 30 min needed")
    if not value(series[-1], "views"):
        return NoForecast("no views yet")
    return series


def estimated_age(t: np.ndarray, v: np.ndarray) -> float:
    """Hours from the post's start to the last snapshot (t: hours relative to it, ≤ 0): the first interval's rate
    extrapolated back to zero views (the first fetch usually comes soon after publishing)."""
    rate = (v[1] - v[0]) / (t[1] - t[0])
    back = v[0] / rate if rate > 0 else 0.0
    return float(-t[0] + min(max(back, 0.0), MAX_AGE_H))


def fit(series: Sequence[Any], published_at: datetime | None = None) -> Fit:
    """Fit the model to a usable history (oldest first)."""
    last_at = series[-1].fetched_at
    t_all = np.array([hours(p.fetched_at - last_at) for p in series])
    v_all = np.array([value(p, "views") or 0.0 for p in series])
    age = hours(last_at - published_at) if published_at is not None else estimated_age(t_all, v_all)
    age = max(age, -t_all[0]) + 1e-3  # every snapshot is at a positive age
    keep = int(np.sum(t_all >= -age * (1 - 1 / FIT_SPAN)))  # the snapshots at ages ≥ A / FIT_SPAN
    recent = series[-max(keep, MIN_FIT_POINTS) :]
    t, v = t_all[-len(recent) :], v_all[-len(recent) :]
    u = np.log1p(t / age)
    dt, dv = np.diff(t), np.maximum(np.diff(v), 0.0)  # a platform's downward correction is no negative rate
    mid = (u[1:] + u[:-1]) / 2
    y = np.log((dv + 0.5) / dt)  # half a view keeps a quiet interval finite
    w = dt / dt.sum()
    mean_u, mean_y = float(w @ mid), float(w @ y)
    sxx = float(w @ (mid - mean_u) ** 2)
    slope = float(w @ ((mid - mean_u) * (y - mean_y)) / sxx) if sxx > 1e-12 else 0.0
    decay = min(max(-slope, 0.0), MAX_DECAY)
    n = len(y)
    resid = y - (mean_y + decay * mean_u - decay * mid)
    persist = 1.0
    if n >= 4 and float(resid @ resid) > 0:
        rho = min(max(float(resid[1:] @ resid[:-1]) / float(resid @ resid), 0.0), MAX_PERSIST)
        persist = (1 + rho) / (1 - rho)
    sigma = math.sqrt((float((w * n) @ resid**2) + PRIOR_WEIGHT * PRIOR_SIGMA**2) / (max(n - 2, 0) + PRIOR_WEIGHT))
    # The level: the last hour's views per hour (as naive), moved from the window's middle to its end.
    start = window_start(recent, len(recent) - 1, LEVEL_WINDOW)
    assert start is not None  # a usable history has at least 3 points
    span, shift = -float(t[start]), math.exp(decay * float(u[start]) / 2)
    return Fit(
        last_views=float(v[-1]),
        last_at=last_at,
        age_h=age,
        rate=max(float(v[-1] - v[start]), 0.0) / span * shift,
        rate_high=shift / span,
        decay=decay,
        sigma=sigma,
        n=n,
        mean_u=mean_u,
        sxx=sxx * n,
        step_h=float(dt.mean()),
        persist=persist,
    )


def forecast(
    points: Iterable[Any],
    now: datetime,
    horizons: Sequence[float] = (1, 2, 3),
    *,
    published_at: datetime | None = None,
) -> list[Forecast] | NoForecast:
    """Views at now + h for each horizon h (hours), with an 80 % prediction interval, from the points known at
    `now`; `published_at` gives the post's age (else it is estimated from the first snapshots)."""
    series = usable(points, now)
    if isinstance(series, NoForecast):
        return series
    model = fit(series, published_at)
    made: dict[float, Forecast] = {}
    floor, ceiling = -math.inf, -math.inf
    for h in sorted(horizons):  # bounds never shrink with the horizon, however the grid falls
        target = now + timedelta(hours=h)
        low, predicted, high = model.bounds(hours(target - model.last_at))
        floor, ceiling = max(floor, low), max(ceiling, high)
        made[h] = Forecast(h, target, predicted, floor, ceiling, MODEL)
    return [made[h] for h in horizons]


def naive(points: Iterable[Any], now: datetime, horizons: Sequence[float] = (1, 2, 3)) -> list[Forecast] | NoForecast:
    """The baseline: the last hour's velocity × hours ahead (a point forecast: low = high = predicted)."""
    series = [p for p in with_views(points) if p.fetched_at <= now]
    speed = velocity(series)
    if speed is None:
        return NoForecast(f"too little history: {len(series)} snapshot(s) with views, 2 needed")
    last_views, last_at = value(series[-1], "views") or 0.0, series[-1].fetched_at
    out = []
    for h in horizons:
        target = now + timedelta(hours=h)
        predicted = last_views + max(speed, 0.0) * hours(target - last_at)
        out.append(Forecast(h, target, predicted, predicted, predicted, NAIVE))
    return out


def interpolate_views(points: Iterable[Any], at: datetime) -> float | None:
    """Views at `at`, linear between the snapshots around it; None outside the observed span."""
    series = with_views(points)
    if not series or not series[0].fetched_at <= at <= series[-1].fetched_at:
        return None
    for before, after in itertools.pairwise(series):
        if before.fetched_at <= at <= after.fetched_at:
            v0, v1 = value(before, "views") or 0.0, value(after, "views") or 0.0
            share = (at - before.fetched_at) / (after.fetched_at - before.fetched_at)
            return v0 + (v1 - v0) * share
    return value(series[-1], "views")  # a single snapshot exactly at `at`


@dataclass
class HorizonScore:
    """Back-test of one horizon: errors are over the cuts where both the model and naive forecast."""

    horizon_h: float
    model_ape: list[float] = field(default_factory=list)
    naive_ape: list[float] = field(default_factory=list)
    covered: int = 0
    no_forecast: int = 0  # cuts with data that far ahead where the model declined to forecast

    @property
    def n(self) -> int:
        return len(self.model_ape)

    @property
    def model_mdape(self) -> float | None:
        return float(np.median(self.model_ape)) if self.model_ape else None

    @property
    def naive_mdape(self) -> float | None:
        return float(np.median(self.naive_ape)) if self.naive_ape else None

    @property
    def coverage(self) -> float | None:
        return self.covered / self.n if self.n else None


@dataclass
class BacktestResult:
    horizons: dict[float, HorizonScore]
    series: int = 0
    cuts: int = 0

    def rows(self) -> list[dict[str, Any]]:
        """One row per horizon (MdAPE as fractions), for reports and the bench."""
        return [
            {
                "horizon_h": s.horizon_h,
                "n": s.n,
                "model_mdape": s.model_mdape,
                "naive_mdape": s.naive_mdape,
                "coverage_80": s.coverage,
                "no_forecast": s.no_forecast,
            }
            for s in self.horizons.values()
        ]


def backtest(series: Iterable[Sequence[Any]], horizons: Sequence[float] = (1, 3)) -> BacktestResult:
    """Forecast from every prefix of every history (oldest first) and score against the views observed later."""
    result = BacktestResult({h: HorizonScore(h) for h in horizons})
    for history in series:
        points = with_views(history)
        result.series += 1
        for cut in range(1, len(points)):
            result.cuts += 1
            score_cut(points, cut, result)
    return result


def score_cut(points: Sequence[Any], cut: int, result: BacktestResult) -> None:
    prefix, now = points[: cut + 1], points[cut].fetched_at
    model, base = forecast(prefix, now, tuple(result.horizons)), naive(prefix, now, tuple(result.horizons))
    for h, score in result.horizons.items():
        actual = interpolate_views(points, now + timedelta(hours=h))
        if actual is None or actual <= 0 or isinstance(base, NoForecast):
            continue
        if isinstance(model, NoForecast):
            score.no_forecast += 1
            continue
        mine = next(f for f in model if f.horizon_h == h)
        theirs = next(f for f in base if f.horizon_h == h)
        score.model_ape.append(abs(mine.predicted - actual) / actual)
        score.naive_ape.append(abs(theirs.predicted - actual) / actual)
        score.covered += int(mine.low <= actual <= mine.high)
