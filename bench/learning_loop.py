"""Learned clip scoring, by simulation: does fitting the highlight weights to how clips performed rank new clips
better than the default weights, and does it leave the defaults alone when performance has nothing to do with the
features?

Run: .venv/bin/python bench/learning_loop.py [--quick]

The world: accounts whose sizes differ tenfold and more; each clip has random highlight feature values in [0, 1]
and is posted to 3 accounts; a post's views are lognormal around its account's median with the sandbox growth
model's spread (SIGMA), shifted by a planted preference for some features (energy and hook matter much more than
the default weights say). The outcome the fit sees is the scorer's: the mean over a clip's posts of
log((views + 1) / (account baseline + 1)), the baseline being the median of the account's 20 previous posts.
After fitting on N published clips, fresh clips are scored with the default and the learned weights and compared
with their later performance by Spearman rank correlation. With no real signal (views independent of the
features) the learned weights must stay near the defaults."""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cliply.experiments.learning import FEATURES, clip_outcome, fit_weights, score  # noqa: E402
from cliply.media.highlights import WEIGHTS  # noqa: E402
from cliply.sandbox.growth import SIGMA  # noqa: E402
from cliply.settings import Settings  # noqa: E402

# The planted preference: what really drives views (sums to 1 like the defaults).
TRUE_WEIGHTS = {
    "hook": 0.35,
    "completeness": 0.05,
    "fluency": 0.05,
    "energy": 0.40,
    "density": 0.05,
    "duration_fit": 0.05,
    "richness": 0.05,
}
EFFECT = 5.0  # log-views per unit of true quality: the best clips get ~e^2.5 ≈ 12× the views of the worst
ACCOUNTS = 12
POSTS_PER_CLIP = 3
HISTORY = 20  # posts behind an account's baseline
FRESH_CLIPS = 2000


def _world(rng: np.random.Generator) -> np.ndarray:
    """Log median views per account: tenfold-and-more differences between accounts."""
    return np.log(300.0) + rng.normal(0.0, 1.2, ACCOUNTS)


def _clips(rng: np.random.Generator, n: int) -> list[dict[str, float]]:
    return [{k: float(v) for k, v in zip(FEATURES, rng.random(len(FEATURES)), strict=True)} for _ in range(n)]


def _performance(
    rng: np.random.Generator, clips: list[dict[str, float]], accounts: np.ndarray, effect: float
) -> list[float]:
    """Per clip, the scorer's outcome: mean log ratio of its posts' views to their accounts' baselines."""
    history = np.exp(accounts[:, None] + rng.normal(0.0, SIGMA, (ACCOUNTS, HISTORY)))
    baselines = np.median(history, axis=1)
    out = []
    for clip in clips:
        quality = score(clip, TRUE_WEIGHTS) - 0.5
        who = rng.choice(ACCOUNTS, POSTS_PER_CLIP, replace=False)
        views = np.exp(accounts[who] + effect * quality + rng.normal(0.0, SIGMA, POSTS_PER_CLIP))
        out.append(clip_outcome(list(views), list(baselines[who])) or 0.0)
    return out


def _spearman(a: list[float], b: list[float]) -> float:
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def _trial(seed: int, n_train: int, effect: float, shrinkage: float) -> tuple[float, float, float, float]:
    """(Spearman default, learned, planted, max |learned − default|) for one simulated workspace."""
    rng = np.random.default_rng(seed)
    accounts = _world(rng)
    train = _clips(rng, n_train)
    fit = fit_weights(train, _performance(rng, train, accounts, effect), shrinkage=shrinkage)
    fresh = _clips(rng, FRESH_CLIPS)
    later = _performance(rng, fresh, accounts, effect)
    rho_default = _spearman([score(c, WEIGHTS) for c in fresh], later)
    rho_learned = _spearman([score(c, fit.weights) for c in fresh], later)
    rho_planted = _spearman([score(c, TRUE_WEIGHTS) for c in fresh], later)
    return rho_default, rho_learned, rho_planted, max(abs(fit.weights[k] - WEIGHTS[k]) for k in FEATURES)


def run(quick: bool = False) -> None:
    """Print the comparison for 20, 50 and 200 training clips, with and without a planted preference."""
    shrinkage = Settings().scoring_shrinkage
    reps = 5 if quick else 20
    print(f"learned scoring: {reps} simulated workspaces per row, {FRESH_CLIPS} fresh clips each, SIGMA {SIGMA}")
    print(f"planted preference {TRUE_WEIGHTS}; shrinkage k = {shrinkage:g} clips")
    print("Spearman rank correlation between the scores of fresh clips and their later performance:")
    print(f"{'train clips':>11}  {'default':>8}  {'learned':>8}  {'planted (ceiling)':>17}  {'learned better':>14}")
    worse = 0
    for n in (20, 50, 200):
        rows = [_trial(1000 * n + r, n, EFFECT, shrinkage) for r in range(reps)]
        d, lr = statistics.mean(r[0] for r in rows), statistics.mean(r[1] for r in rows)
        better = sum(r[1] > r[0] for r in rows)
        worse += lr <= d
        ceiling = statistics.mean(r[2] for r in rows)
        print(f"{n:>11}  {d:>8.3f}  {lr:>8.3f}  {ceiling:>17.3f}  {better:>9}/{reps:<4}")
    print("no real signal (views independent of the features): learned weights vs the defaults")
    print(f"{'train clips':>11}  {'mean max |Δw|':>14}  {'worst max |Δw|':>15}  {'Spearman learned':>16}")
    for n in (20, 50, 200):
        rows = [_trial(7000 * n + r, n, 0.0, shrinkage) for r in range(reps)]
        deltas = [r[3] for r in rows]
        print(
            f"{n:>11}  {statistics.mean(deltas):>14.3f}  {max(deltas):>15.3f}  "
            f"{statistics.mean(r[1] for r in rows):>16.3f}"
        )
    if worse:
        print(f"learned weights did not rank better on average in {worse} of 3 rows")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer simulated workspaces per row")
    run(quick=parser.parse_args().quick)


if __name__ == "__main__":
    main()
