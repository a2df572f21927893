"""The experiment stopping rule as the product runs it, by simulation on the sandbox's growth model: the A/A
false-winner rate, the power for a true 30 % uplift and the days to a decision, at a fixed horizon of several posts
per arm, with early looks, and against naive rules measured on the same simulated posts.

Run: .venv/bin/python bench/experiment_rules.py [--quick]

The world: a few accounts whose reach differs by up to 30× (lognormal), on different platforms; each post's views
and engagements at 24 h come from cliply/sandbox/growth.py (synthetic post ids: lognormal reach, σ 1.6) times its
account's size times a time-of-day factor (±40 %, a sinusoid peaking at 18:00). Slots every 6 h cycle through the
accounts; arms are given to slots by the product's seeded blocked randomisation (cliply/experiments/assignment.py).
Metrics:
- views@24h: log(views / the account's baseline), the baseline being the median of the account's 20 previous posts
  simulated the same way (normal model, log scale). A true uplift multiplies arm B's views (engagements follow).
- engagement_rate: (likes + comments + shares) / views per post (rate model). A true uplift multiplies arm B's
  engagements (capped at its views).
The rule is the one an experiment gets by default (cliply/experiments/service.py): min_posts = posts per arm, so no
decision before every post is measured, and max_days stretched to cover the schedule. It is re-evaluated each time
a post reaches 24 h (and at min_days and max_days) until it decides, as the product does. "Early looks" is the
same with min_posts 5 while slots keep coming until day 14. Posts per arm for 80 % power come from a sweep of one
evaluation each on complete data. The learned-scoring bench (bench/learning_loop.py) follows."""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from multiprocessing import Pool
from multiprocessing.pool import Pool as PoolType
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cliply.experiments.assignment import assign  # noqa: E402
from cliply.experiments.service import _fixed_horizon  # noqa: E402
from cliply.experiments.stats import ArmData, StoppingRule, evaluate  # noqa: E402
from cliply.sandbox import growth  # noqa: E402

ACCOUNTS = 4
PLATFORMS = ("tiktok", "youtube", "instagram", "x")
ACCOUNT_SIGMA = 1.0  # log-sd of account size, clipped so the largest is at most 30× the smallest
MAX_SIZE_RATIO = 30.0
TOD_AMPLITUDE = 0.4
SLOT_H = 6.0
AGE_H = 24.0
HISTORY = 20
UPLIFT = 1.3
SETTINGS = StoppingRule()  # the experiment_* settings' defaults
EARLY = SETTINGS.with_overrides({"min_posts": 5})  # early looks: decide from 5 posts per arm while more arrive
EARLY_SLOTS = int(SETTINGS.max_days * 24 / SLOT_H)  # slots continuing every 6 h until day 14
SWEEP = (5, 10, 20, 50, 100, 200, 500, 1000)
SWEEP_QUICK = (5, 20, 100, 500)
VIEWS, RATE = "views@24h", "engagement_rate"
STRICT = {"p_best": 0.975}  # per arm: with 2 arms "either arm ≥ p_best" by chance is about 2 × (1 − p_best)
# rule name -> (metric it is about, how its values are computed, overrides of the product's rule)
RULES: dict[str, tuple[str, str, dict[str, float]]] = {
    "views@24h vs account baseline": (VIEWS, "relative", {}),
    "views@24h, p_best 0.975": (VIEWS, "relative", STRICT),
    "naive: log views, no baseline": (VIEWS, "raw", {}),
    "engagement_rate, per-post φ": (RATE, "rate", {}),
    "engagement_rate, p_best 0.975": (RATE, "rate", STRICT),
    "naive: engagement, pooled counts": (RATE, "pooled", {}),
}


@dataclass(frozen=True)
class Posts:
    """One simulated experiment's posts in publishing order."""

    published_h: np.ndarray
    arm: np.ndarray
    relative: np.ndarray  # log(views / account baseline)
    raw: np.ndarray  # log(views): the naive metric
    engaged: np.ndarray  # likes + comments + shares at 24 h
    views: np.ndarray


@dataclass(frozen=True)
class Outcome:
    status: str
    winner: str | None
    days: float


def product_rule(posts_per_arm: int) -> StoppingRule:
    """The rule the service gives an experiment of posts_per_arm × 2 slots every 6 h measured at 24 h."""
    last_s = 3600 * (SLOT_H * (2 * posts_per_arm - 1) + AGE_H)
    return _fixed_horizon(SETTINGS, {}, posts_per_arm, last_s, SETTINGS.min_posts)


def _time_of_day(hour: float) -> float:
    return 1 + TOD_AMPLITUDE * math.sin(2 * math.pi * (hour - 12) / 24)


def _post(platform: str, post_id: str, size: float, hour: float, lift: tuple[float, float]) -> tuple[float, float]:
    """Views and engagements at 24 h: the sandbox curve scaled by account size, hour and the arm's true effect
    (lift = (on views, on engagements))."""
    c = growth.counters(platform, post_id, AGE_H * 3600)
    factor = size * _time_of_day(hour)
    views = max(c["views"], 1) * factor * lift[0]
    engaged = (c["likes"] + c["comments"] + c["shares"]) * factor * lift[0] * lift[1]
    return views, min(engaged, views)


def simulate(seed: int, uplift: float, target: str, n_slots: int) -> Posts:
    rng = np.random.default_rng(seed)
    half = math.log(MAX_SIZE_RATIO) / 2
    sizes = np.exp(np.clip(rng.normal(0, ACCOUNT_SIGMA, ACCOUNTS), -half, half))
    start = float(rng.uniform(0, 24))
    platforms = [PLATFORMS[(seed + a) % len(PLATFORMS)] for a in range(ACCOUNTS)]
    baselines = []
    for a in range(ACCOUNTS):  # the account's previous posts, one every ACCOUNTS slots before the start
        past = [
            _post(platforms[a], f"e{seed}-a{a}-h{k}", sizes[a], (start - SLOT_H * ACCOUNTS * (k + 1)) % 24, (1, 1))[0]
            for k in range(HISTORY)
        ]
        baselines.append(statistics.median(past))
    accounts = [i % ACCOUNTS for i in range(n_slots)]
    arms = np.array(assign(2, accounts, seed))
    lift = (uplift, 1.0) if target == VIEWS else (1.0, uplift)
    views, engaged = np.zeros(n_slots), np.zeros(n_slots)
    for i, a in enumerate(accounts):
        arm_lift = lift if arms[i] == 1 else (1.0, 1.0)
        views[i], engaged[i] = _post(platforms[a], f"e{seed}-p{i}", sizes[a], (start + SLOT_H * i) % 24, arm_lift)
    base = np.array([baselines[a] for a in accounts])
    return Posts(SLOT_H * np.arange(n_slots), arms, np.log(views / base), np.log(views), np.round(engaged), views)


def _arms(posts: Posts, k: int, values: str) -> list[ArmData]:
    """ArmData of the first k posts (the measured ones): relative, raw, rate or pooled (rate, summed per arm)."""
    out = []
    for arm, name in enumerate("AB"):
        mask = posts.arm[:k] == arm
        if values in ("relative", "raw"):
            out.append(ArmData(name, values=tuple(getattr(posts, values)[:k][mask])))
        elif values == "rate":
            out.append(ArmData(name, successes=tuple(posts.engaged[:k][mask]), trials=tuple(posts.views[:k][mask])))
        else:  # pooled counts: one "post" per arm, so no dispersion estimate
            s, n = posts.engaged[:k][mask].sum(), posts.views[:k][mask].sum()
            out.append(ArmData(name, successes=(s,) if n else (), trials=(n,) if n else ()))
    return out


def sequential(posts: Posts, rule: StoppingRule, values: str, seed: int) -> Outcome:
    """The rule re-evaluated as each post reaches 24 h, and at min_days and max_days, until it decides."""
    matured = posts.published_h + AGE_H
    times = sorted({*matured[matured <= rule.max_days * 24], rule.min_days * 24, rule.max_days * 24})
    model = "normal" if values in ("relative", "raw") else "rate"
    evaluated = rule if values != "pooled" else rule.with_overrides({"min_posts": 1})
    for t in times:
        k = int(np.searchsorted(matured, t, side="right"))
        days = t / 24
        counts = np.bincount(posts.arm[:k], minlength=2)
        if (counts.min() < rule.min_posts or days < rule.min_days) and days < rule.max_days:
            continue  # the rule is still gated: evaluate() would say "running" without looking at the data
        if counts.min() < rule.min_posts:
            return Outcome("inconclusive", None, days)
        decision = evaluate(_arms(posts, k, values), model=model, rule=evaluated, elapsed_days=days, seed=seed).decision
        if decision.status != "running":
            return Outcome(decision.status, decision.winner, days)
    return Outcome("inconclusive", None, rule.max_days)


def _trial(seed: int, uplift: float, target: str, posts_per_arm: int | None) -> dict[str, Outcome]:
    """Every rule about `target` (both metrics for A/A) on one simulated experiment; posts_per_arm None = early
    looks."""
    rule = EARLY if posts_per_arm is None else product_rule(posts_per_arm)
    posts = simulate(seed, uplift, target, EARLY_SLOTS if posts_per_arm is None else 2 * posts_per_arm)
    return {
        name: sequential(posts, rule.with_overrides(overrides), values, seed)
        for name, (metric, values, overrides) in RULES.items()
        if uplift == 1.0 or metric == target
    }


def _final(seed: int, target: str, posts_per_arm: int) -> str | None:
    """The winner (or None) of one evaluation on the complete data of posts_per_arm posts per arm under a +30 %
    uplift of the target metric."""
    posts = simulate(seed, UPLIFT, target, 2 * posts_per_arm)
    values, model = ("relative", "normal") if target == VIEWS else ("rate", "rate")
    rule = product_rule(posts_per_arm)
    arms = _arms(posts, len(posts.arm), values)
    return evaluate(arms, model=model, rule=rule, elapsed_days=None, seed=seed).decision.winner


def _share(outcomes: Sequence[Outcome], winner: str | None = None) -> float:
    hits = [o for o in outcomes if o.status == "winner" and (winner is None or o.winner == winner)]
    return len(hits) / len(outcomes)


def _ci(p: float, n: int) -> str:
    return f"±{100 * 1.96 * math.sqrt(max(p * (1 - p), 1 / n) / n):.1f}"


def _median_days(outcomes: Sequence[Outcome]) -> str:
    return f"{statistics.median(o.days for o in outcomes):.1f}"


def _scenario(
    pool: PoolType, n: int, uplift: float, target: str, posts_per_arm: int | None, base: int
) -> dict[str, list[Outcome]]:
    rows = pool.map(
        partial(_trial, uplift=uplift, target=target, posts_per_arm=posts_per_arm), range(base, base + n), chunksize=4
    )
    return {name: [r[name] for r in rows] for name in rows[0]}


def _needed(powers: list[tuple[int, float]]) -> int | None:
    """Posts per arm for 80 % power, interpolated in log(posts) between the sweep sizes around it."""
    for (k0, p0), (k1, p1) in zip([(0, 0.0), *powers], powers, strict=False):
        if p1 >= 0.8:
            if k0 == 0 or p1 == p0:
                return k1
            return round(math.exp(math.log(k0) + (0.8 - p0) / (p1 - p0) * (math.log(k1) - math.log(k0))))
    return None


def _sweep(pool: PoolType, target: str, sizes: Sequence[int], n: int) -> int | None:
    print(f"  {target}: power by posts per arm (one evaluation on complete data, {n} runs each):", end="")
    powers = []
    for k in sizes:
        winners = pool.map(partial(_final, target=target, posts_per_arm=k), range(200_000, 200_000 + n))
        powers.append((k, sum(w == "B" for w in winners) / n))
        print(f" {k}: {100 * powers[-1][1]:.0f} %", end="", flush=True)
        if powers[-1][1] >= 0.9:
            break
    needed = _needed(powers)
    print(f" -> 80 % at {needed or f'more than {sizes[-1]}'}")
    return needed


def _complete_day(posts_per_arm: int | None) -> float:
    """The day the last slot's metric is due (the data is complete)."""
    slots = EARLY_SLOTS if posts_per_arm is None else 2 * posts_per_arm
    return (SLOT_H * (slots - 1) + AGE_H) / 24


def _print_rows(label: str, k: int | None, aa: dict, ab: dict, n_aa: int, n_ab: int, misses: list[str]) -> None:
    rule = EARLY if k is None else product_rule(k)
    print(f"{label}: data complete on day {_complete_day(k):.1f}, rule {rule.json()}")
    for name, outcomes in aa.items():
        metric = RULES[name][0]
        fpr = _share(outcomes)
        power, wrong = _share(ab[metric][name], "B"), _share(ab[metric][name], "A")
        print(
            f"  {name:<34} {100 * fpr:>6.1f} % {_ci(fpr, n_aa):>5} {100 * power:>6.1f} % "
            f"{_ci(power, n_ab):>5} {100 * wrong:>6.1f} % {_median_days(ab[metric][name]):>9} / "
            f"{_median_days(aa[name]):<6}"
        )
        if fpr > 0.05 and not name.startswith("naive") and k is not None:
            misses.append(f"{label}, {name}: {100 * fpr:.1f} %")


def run(quick: bool) -> list[str]:
    n_aa, n_ab, n_sweep = (150, 80, 40) if quick else (1000, 500, 200)
    print(
        f"experiment rules: {ACCOUNTS} accounts (size ratio up to {MAX_SIZE_RATIO:g}×), time of day "
        f"±{TOD_AMPLITUDE:.0%}, a slot every {SLOT_H:g} h, metrics at {AGE_H:g} h, sandbox σ {growth.SIGMA}; "
        f"{n_aa} A/A and {n_ab} A/B (+{UPLIFT - 1:.0%}) simulated experiments per row"
    )
    print(f"settings {SETTINGS.json()}")
    misses: list[str] = []
    with Pool(2) as pool:
        needed = {t: _sweep(pool, t, SWEEP_QUICK if quick else SWEEP, n_sweep) for t in (VIEWS, RATE)}
        horizons = sorted({5, 20, 50, *(k for k in needed.values() if k)})
        print(
            f"  {'rule':<34} {'A/A false wins':>14} {'power (B wins)':>14} {'wrong':>8} "
            f"{'median days to a decision, A/B / A/A':>22}"
        )
        for k in [*horizons, None]:
            if k is None:
                label = f"early looks: min_posts 5, slots continuing to day {SETTINGS.max_days:g}"
            else:
                label = f"fixed horizon, {k} posts per arm"
                label += "".join(f" (80 % power for {t})" for t, n in needed.items() if n == k)
            aa = _scenario(pool, n_aa, 1.0, VIEWS, k, 0)
            ab = {t: _scenario(pool, n_ab, UPLIFT, t, k, 100_000) for t in (VIEWS, RATE)}
            _print_rows(label, k, aa, ab, n_aa, n_ab, misses)
    print(f"fixed-horizon rows above 5 % A/A false winners: {'; '.join(misses) or 'none'}")
    return misses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer simulated experiments (about a minute)")
    args = parser.parse_args()
    started = time.perf_counter()
    run(args.quick)
    print(f"experiment rules: {time.perf_counter() - started:.0f} s")
    from bench.learning_loop import run as learning_run

    learning_run(quick=args.quick)


if __name__ == "__main__":
    main()
