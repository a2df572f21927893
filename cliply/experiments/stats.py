"""The statistics of an experiment: a posterior per arm, probability to be best, expected loss and the stopping rule.

The unit is a post. Two models:
- "normal": one value per post. The data variance σ² is the pooled within-arm sample variance, floored so one or two
  posts cannot claim certainty, and each arm's mean θ_k gets the conjugate update of a normal prior N(m, τ²):
  θ_k | x ~ N((m/τ² + Σx/σ²) / (1/τ² + n/σ²), 1 / (1/τ² + n/σ²)). The prior depends on the scale of the values:
  - scale "log" (the default): e.g. log(views at 24 h / the account's baseline). Prior N(0, 1), a log ratio within
    ±2 (1/7× to 7×) before any data; σ² ≥ VAR_FLOOR. On the log scale a loss is already relative.
  - scale "absolute": values in the metric's own units (raw views). N(0, 1) would mean nothing there, so the prior
    is centred on the grand mean of all posts with a standard deviation of ABSOLUTE_PRIOR_SDS pooled data sds
    (effectively flat); σ² ≥ VAR_FLOOR × grand mean² (the same ±10 % per post), and the loss is divided by the
    best arm's mean magnitude to make it relative.
- "rate": successes / trials per post, e.g. engagements / views. Beta(1 + s, 1 + n − s) per arm, but each post has
  its own rate (overdispersion), so pooled counts overstate the evidence and declare false winners: each post's s
  and n − s are divided by its dispersion factor φ = 1 + (n − 1)ρ, ρ estimated from the spread of the post rates
  within arms; with equal trials per post the point estimate is the quasi-binomial φ = Pearson χ² / df (at least
  1; 1 for one post). From a handful of posts that spread is often underestimated, and plugging it in as if it
  were known makes false winners (a z-test where a t-test is due), so the posterior uses the spread's upper
  RHO_CONFIDENCE confidence bound (the χ² bound of a sample variance): with 2 arms of 5 posts that inflates φ
  about 1.7×, of 50 posts about 1.14×, so small experiments pay for what they do not know and large ones hardly.
  The loss is made relative by dividing by the best arm's posterior mean.
P(best) and the expected loss E[max_j θ_j − θ_k] come from `draws` Monte Carlo draws with a seeded generator, so the
same data always gives the same report."""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace
from statistics import NormalDist
from typing import Any

import numpy as np

MODELS = ("normal", "rate")
SCALES = ("log", "absolute")
PRIOR_MEAN = 0.0
PRIOR_VAR = 1.0
VAR_FLOOR = 0.01  # σ ≥ 0.1 on the log scale (±10 % per post): never less noise than that
ABSOLUTE_PRIOR_SDS = 10.0  # scale "absolute": prior sd in pooled data sds, wide enough to be effectively flat
RHO_CONFIDENCE = 0.8  # one-sided confidence of the upper bound on the post-rate spread (rate model)
Z95 = 1.959963984540054


@dataclass(frozen=True)
class StoppingRule:
    p_best: float = 0.975  # a winner needs P(best) >= p_best ...
    max_loss: float = 0.01  # ... and expected loss (relative) < max_loss
    min_posts: int = 5  # per arm, posts with a measured metric, before any decision
    min_days: float = 3.0  # elapsed days before any decision
    max_days: float = 14.0  # undecided at max_days -> "inconclusive"

    def __post_init__(self) -> None:
        checks = (
            (0.5 < self.p_best < 1, "p_best must be above 0.5 and below 1"),
            (0 < self.max_loss < math.inf, "max_loss must be above 0"),
            (self.min_posts >= 1, "min_posts must be at least 1"),
            (0 <= self.min_days < math.inf, "min_days must be 0 or more"),
            (self.min_days <= self.max_days < math.inf, "max_days must be at least min_days"),
        )
        for ok, message in checks:
            if not ok:
                raise ValueError(f"stopping rule: {message}")

    @classmethod
    def from_settings(cls, settings: Any) -> StoppingRule:
        return cls(
            p_best=float(settings.experiment_p_best),
            max_loss=float(settings.experiment_max_loss),
            min_posts=int(settings.experiment_min_posts),
            min_days=float(settings.experiment_min_days),
            max_days=float(settings.experiment_max_days),
        )

    def with_overrides(self, overrides: Mapping[str, float] | None) -> StoppingRule:
        if not overrides:
            return self
        known = [f.name for f in fields(self)]
        changes: dict[str, Any] = {}
        for key, value in overrides.items():
            if key not in known:
                raise ValueError(f"stopping rule: unknown setting {key!r} (known: {', '.join(known)})")
            changes[key] = _number(key, value)
        return replace(self, **changes)

    def json(self) -> dict[str, float]:
        return asdict(self)


def _number(key: str, value: Any) -> float | int:
    """A finite number (min_posts a whole one) from an override value; strings as typed on a command line."""
    try:
        if isinstance(value, bool):
            raise ValueError
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"stopping rule: {key} must be a number, not {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"stopping rule: {key} must be finite, not {value!r}")
    if key == "min_posts":
        if number != int(number):
            raise ValueError(f"stopping rule: min_posts must be a whole number, not {value!r}")
        return int(number)
    return number


@dataclass(frozen=True)
class ArmData:
    name: str
    values: tuple[float, ...] = ()  # model "normal": one value per post
    successes: tuple[float, ...] = ()  # model "rate": per post, e.g. likes+comments+shares
    trials: tuple[float, ...] = ()  # model "rate": per post, e.g. views


@dataclass(frozen=True)
class ArmResult:
    name: str
    posts: int
    mean: float | None
    low: float | None  # 95 % credible interval
    high: float | None
    p_best: float | None
    expected_loss: float | None  # None when no data


@dataclass(frozen=True)
class Decision:
    status: str  # "running" | "winner" | "inconclusive"
    winner: str | None
    reason: str


@dataclass(frozen=True)
class Evaluation:
    model: str
    arms: tuple[ArmResult, ...]
    decision: Decision

    def json(self) -> dict[str, Any]:
        return {"model": self.model, "arms": [asdict(a) for a in self.arms], "decision": asdict(self.decision)}


@dataclass(frozen=True)
class _Posterior:
    """What one arm's posterior contributes: its summary numbers and the parameters to draw from."""

    posts: int
    mean: float
    low: float
    high: float
    params: tuple[float, float]  # (mean, variance) for "normal", (alpha, beta) for "rate"


def evaluate(
    arms: Sequence[ArmData],
    *,
    model: str,
    rule: StoppingRule,
    elapsed_days: float | None,
    draws: int = 10_000,
    seed: int = 0,
    scale: str = "log",
) -> Evaluation:
    """Posterior per arm, P(best) and expected loss by Monte Carlo, and the stopping rule's decision. `scale` is the
    normal model's: "log" for log ratios, "absolute" for values in the metric's own units (see the module doc)."""
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r} (known: {', '.join(MODELS)})")
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r} (known: {', '.join(SCALES)})")
    if len(arms) < 2:
        raise ValueError("an experiment needs at least 2 arms")
    if len({a.name for a in arms}) != len(arms):
        raise ValueError("arm names must be unique")
    if draws < 100:
        raise ValueError("draws must be at least 100")
    posts = [_clean(a, model) for a in arms]
    posteriors = _normal_posteriors(posts, scale) if model == "normal" else _rate_posteriors(posts)
    relative = model == "rate" or scale == "absolute"  # on the log scale a difference is already relative
    posteriors, p_best, loss = _monte_carlo(posteriors, model, draws, seed, relative)
    results = tuple(
        ArmResult(a.name, 0, None, None, None, None, None)
        if post is None
        else ArmResult(a.name, post.posts, post.mean, post.low, post.high, p_best.get(i), loss.get(i))
        for i, (a, post) in enumerate(zip(arms, posteriors, strict=True))
    )
    return Evaluation(model, results, decide(results, rule, elapsed_days))


def _clean(arm: ArmData, model: str) -> Any:
    """The arm's posts as numpy arrays, checked: values for "normal", (successes, trials) for "rate"."""
    if model == "normal":
        values = np.asarray(arm.values, dtype=float)
        if not np.all(np.isfinite(values)):
            raise ValueError(f"arm {arm.name}: values must be finite numbers")
        return values
    s = np.asarray(arm.successes, dtype=float)
    n = np.asarray(arm.trials, dtype=float)
    if s.shape != n.shape:
        raise ValueError(f"arm {arm.name}: {len(s)} successes for {len(n)} trials")
    if not (np.all(np.isfinite(n)) and np.all(np.isfinite(s))) or np.any(n <= 0) or np.any(s < 0) or np.any(s > n):
        raise ValueError(f"arm {arm.name}: each post needs trials > 0 and 0 <= successes <= trials")
    return s, n


def normal_prior(arms: Sequence[np.ndarray], scale: str) -> tuple[float, float, float]:
    """(prior mean, prior variance, data variance σ²) of the normal model on a scale."""
    if scale == "log":
        return PRIOR_MEAN, PRIOR_VAR, pooled_variance(arms)
    every = np.concatenate([x for x in arms if len(x)]) if any(len(x) for x in arms) else np.zeros(1)
    grand = float(every.mean())
    # The floor is the log scale's ±10 % per post around the grand mean (tiny when that is 0: no scale to go by).
    var = pooled_variance(arms, floor=max(VAR_FLOOR * grand * grand, 1e-12))
    return grand, ABSOLUTE_PRIOR_SDS**2 * var, var


def _normal_posteriors(arms: list[np.ndarray], scale: str) -> list[_Posterior | None]:
    prior_mean, prior_var, var = normal_prior(arms, scale)
    out: list[_Posterior | None] = []
    for x in arms:
        if len(x) == 0:
            out.append(None)
            continue
        precision = 1 / prior_var + len(x) / var
        mean = (prior_mean / prior_var + float(x.sum()) / var) / precision
        sd = math.sqrt(1 / precision)
        out.append(_Posterior(len(x), mean, mean - Z95 * sd, mean + Z95 * sd, (mean, sd * sd)))
    return out


def pooled_variance(arms: Sequence[np.ndarray], floor: float = VAR_FLOOR) -> float:
    """Σ within-arm squared deviations / Σ (n_k − 1), floored; with no arm of 2+ posts, the spread of all values
    (between arms, so on the safe side), and the floor when even that is missing."""
    df = sum(len(x) - 1 for x in arms if len(x) > 1)
    if df > 0:
        var = sum(float(((x - x.mean()) ** 2).sum()) for x in arms if len(x) > 1) / df
    else:
        every = np.concatenate([x for x in arms if len(x)]) if any(len(x) for x in arms) else np.zeros(0)
        var = float(every.var(ddof=1)) if len(every) > 1 else 0.0
    return max(var, floor)


def overdispersion(arms: Sequence[tuple[np.ndarray, np.ndarray]], confidence: float | None = None) -> float:
    """ρ ≥ 0, how much the posts' own rates vary, as an intra-class correlation: a post of n trials is worth
    n / (1 + (n − 1)ρ) independent ones. Moment estimate from the unweighted spread of the post rates around their
    arm's mean, pooled over the arms like the normal model's variance (a count-weighted χ² would let the biggest
    posts hide the spread, and 5 posts alone estimate it poorly). For one arm of equal trials 1 + (n − 1)ρ is
    exactly the quasi-binomial φ = Pearson χ² / df (at least 1). 0 without an arm of 2+ posts. With a
    `confidence`, the spread is replaced by its upper confidence bound spread · df / χ²_{1 − confidence}(df)."""
    rates = [s / n for s, n in arms if len(n) > 1]
    df = sum(len(r) - 1 for r in rates)
    if df == 0:
        return 0.0
    spread = sum(float(((r - r.mean()) ** 2).sum()) for r in rates) / df
    if confidence is not None:
        spread *= df / chi2_quantile(1 - confidence, df)
    mean = float(np.concatenate(rates).mean())
    binomial = mean * (1 - mean)
    inverse = float(np.concatenate([1 / n for _, n in arms if len(n) > 1]).mean())
    if binomial <= 0 or inverse >= 1:
        return 0.0
    return max(0.0, (spread - binomial * inverse) / (binomial * (1 - inverse)))


def chi2_quantile(q: float, df: int) -> float:
    """The χ² distribution's q quantile by Wilson-Hilferty (within 2 % from 2 degrees of freedom; at 1 a lower
    quantile comes out smaller than the true one, which only makes the bound above more conservative)."""
    z = NormalDist().inv_cdf(q)
    base = 1 - 2 / (9 * df) + z * math.sqrt(2 / (9 * df))
    return df * max(base, 0.05) ** 3


def _rate_posteriors(arms: list[tuple[np.ndarray, np.ndarray]]) -> list[_Posterior | None]:
    rho = overdispersion(arms, confidence=RHO_CONFIDENCE)
    out: list[_Posterior | None] = []
    for s, n in arms:
        if len(n) == 0:
            out.append(None)
            continue
        phi = 1 + (n - 1) * rho  # each post's dispersion factor
        alpha = 1 + float((s / phi).sum())
        beta = 1 + float(((n - s) / phi).sum())
        # The interval is filled in from the Monte Carlo draws (numpy has no Beta quantile function).
        out.append(_Posterior(len(n), alpha / (alpha + beta), math.nan, math.nan, (alpha, beta)))
    return out


def _monte_carlo(
    posteriors: list[_Posterior | None], model: str, draws: int, seed: int, relative: bool
) -> tuple[list[_Posterior | None], dict[int, float], dict[int, float]]:
    """P(best) and expected loss per arm index over the arms with data (none when fewer than 2 have data), the loss
    divided by the best arm's mean magnitude when `relative`; for "rate" also each arm's 95 % interval from the
    draws' quantiles."""
    index = [i for i, p in enumerate(posteriors) if p is not None]
    if not index:
        return posteriors, {}, {}
    rng = np.random.Generator(np.random.PCG64(abs(int(seed))))  # a recorded seed may be any int
    columns = []
    for i in index:
        a, b = posteriors[i].params  # type: ignore[union-attr]
        columns.append(rng.normal(a, math.sqrt(b), draws) if model == "normal" else rng.beta(a, b, draws))
    if model == "rate":
        posteriors = list(posteriors)
        for j, i in enumerate(index):
            low, high = np.quantile(columns[j], [0.025, 0.975])
            posteriors[i] = replace(posteriors[i], low=float(low), high=float(high))  # type: ignore[type-var]
    if len(index) < 2:
        return posteriors, {}, {}
    # Column-wise (a reduce over the short arm axis of a draws × arms array is several times slower).
    top = functools.reduce(np.maximum, columns)
    best = [float(np.count_nonzero(c == top)) / draws for c in columns]  # continuous draws: ties have probability 0
    top_mean = float(top.mean())
    loss = [top_mean - float(c.mean()) for c in columns]
    if relative:
        best_mean = abs(max(p.mean for p in posteriors if p is not None))
        loss = [x / max(best_mean, 1e-12) for x in loss]  # a best mean of 0 has no scale: no loss is small
    return (
        posteriors,
        {i: float(best[j]) for j, i in enumerate(index)},
        {i: float(loss[j]) for j, i in enumerate(index)},
    )


def decide(arms: Sequence[ArmResult], rule: StoppingRule, elapsed_days: float | None) -> Decision:
    """The stopping rule: minimum posts and days first, then P(best) and expected loss, then the maximum duration.
    elapsed_days None = complete data: no day gating, and no winner means inconclusive."""
    final = elapsed_days is None or elapsed_days >= rule.max_days
    end = "data complete" if elapsed_days is None else f"{_days(elapsed_days)} of {_days(rule.max_days)} days"
    short = next((a for a in arms if a.posts < rule.min_posts), None)
    if short is not None:
        posts = f"arm {short.name} has {short.posts} of {rule.min_posts} posts"
        return (
            Decision("inconclusive", None, f"{end}: {posts}")
            if final
            else Decision("running", None, f"waiting: {posts}")
        )
    if elapsed_days is not None and elapsed_days < rule.min_days:
        days = f"{_days(elapsed_days)} of {_days(rule.min_days)} days elapsed"
        return Decision("running", None, f"waiting: {days}")
    scored = [a for a in arms if a.p_best is not None and a.expected_loss is not None]
    if not scored:  # every arm has data once min_posts >= 1 is met; kept for safety
        return Decision("inconclusive" if final else "running", None, "no arm has data")
    best = max(scored, key=lambda a: (a.p_best, -(a.expected_loss or 0.0)))
    p, loss = best.p_best or 0.0, best.expected_loss or 0.0
    if p >= rule.p_best and loss < rule.max_loss:
        reason = (
            f"{best.name}: P(best) {p:.2f} >= {rule.p_best:.2f} and expected loss {_pct(loss)} < {_pct(rule.max_loss)}"
        )
        return Decision("winner", best.name, reason)
    unmet = []
    if p < rule.p_best:
        unmet.append(f"P(best) {p:.2f} < {rule.p_best:.2f}")
    if loss >= rule.max_loss:
        unmet.append(f"expected loss {_pct(loss)} >= {_pct(rule.max_loss)}")
    detail = f"best arm {best.name} has {' and '.join(unmet)}"
    return (
        Decision("inconclusive", None, f"{end}: {detail}")
        if final
        else Decision("running", None, f"no winner yet: {detail}")
    )


def _pct(x: float) -> str:
    return f"{x * 100:.2g} %"


def _days(x: float) -> str:
    return f"{x:g}" if x == int(x) else f"{x:.1f}"
