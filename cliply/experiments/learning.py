"""Fitting the highlight scorer's feature weights to how a workspace's clips performed. Pure and deterministic.

Each published clip gives its highlight feature values (0..1) and an outcome: the mean over its posts of
log((views at the age + 1) / (the account's baseline + 1)), so big and small accounts count alike. A ridge fit of
the outcome on the standardised features gives per-feature effects; on the features' own 0..1 scale they become
candidate weights with a standard error each. Two pulls toward the default weights keep noise out:
- per feature, a precision blend: a weight moves away from its default only as far as its standard error allows
  (with no real signal the overall effect is ~0, every error is huge and the defaults stay);
- overall, w = (n·w_fit + k·w_default) / (n + k) with k = CLIPLY_SCORING_SHRINKAGE clips.
Weights stay non-negative and sum to the same total as the defaults, so scores keep their 0–100 scale."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cliply.media.highlights import WEIGHTS

FEATURES = tuple(WEIGHTS)
RIDGE = 1.0  # on standardised features: steadies collinear features without biasing their ratios much
PRIOR_SD = 0.1  # how far (in weight units) a feature's weight plausibly differs from its default


@dataclass(frozen=True)
class Fit:
    weights: dict[str, float]  # the learned weights (after both shrinkages)
    n: int  # clips fitted on
    details: dict[str, Any] = field(default_factory=dict)  # diagnostics: r, r_default, effects, shrink, …


def clip_outcome(views: Sequence[float], baselines: Sequence[float]) -> float | None:
    """Mean of log((views + 1) / (baseline + 1)) over a clip's posts; None without any post."""
    pairs = [math.log((v + 1.0) / (b + 1.0)) for v, b in zip(views, baselines, strict=True)]
    return sum(pairs) / len(pairs) if pairs else None


def score(features: Mapping[str, float], weights: Mapping[str, float]) -> float:
    """The scorer's weighted mean (as find_highlights computes it) over the features present."""
    keys = [k for k in weights if k in features]
    total = sum(weights[k] for k in keys)
    return sum(weights[k] * features[k] for k in keys) / total if total > 0 else 0.0


def _matrix(rows: Sequence[Mapping[str, float]]) -> tuple[np.ndarray, list[str]]:
    """Feature matrix with a missing value (e.g. energy without audio) filled with its column mean; only the
    features that vary are informative."""
    x = np.array([[float(r[k]) if r.get(k) is not None else np.nan for k in FEATURES] for r in rows], dtype=float)
    informative = []
    for j, k in enumerate(FEATURES):
        column = x[:, j]
        if np.all(np.isnan(column)):
            continue
        column[np.isnan(column)] = np.nanmean(column)
        if np.std(column) > 1e-9:
            informative.append(k)
    return x, informative


def _ridge(z: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ridge coefficients and their standard errors (sandwich form) on standardised features."""
    n, p = z.shape
    gram = z.T @ z
    inv = np.linalg.inv(gram + RIDGE * np.eye(p))
    beta = inv @ z.T @ y
    resid = y - z @ beta
    sigma2 = float(resid @ resid) / max(n - p - 1, 1)
    cov = sigma2 * inv @ gram @ inv
    return beta, np.sqrt(np.maximum(np.diag(cov), 0.0))


def _blend(b: np.ndarray, se: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """Candidate weights b/γ (γ: the overall effect per unit of weight), each pulled toward its default by its
    standard error; no positive overall effect means no evidence, so the defaults."""
    gamma = float(b.sum() / prior.sum())
    if gamma <= 0:
        return prior.copy()
    w_hat, se_w = b / gamma, se / gamma
    keep = PRIOR_SD**2 / (PRIOR_SD**2 + se_w**2)
    w = np.maximum(prior + keep * (w_hat - prior), 0.0)
    return w * prior.sum() / w.sum() if w.sum() > 0 else prior.copy()


def _corr(a: Sequence[float], b: Sequence[float]) -> float | None:
    if len(a) < 3 or np.std(a) < 1e-12 or np.std(b) < 1e-12:
        return None
    return round(float(np.corrcoef(a, b)[0, 1]), 4)


def fit_weights(
    features: Sequence[Mapping[str, float]],
    outcomes: Sequence[float],
    *,
    shrinkage: float,
    defaults: Mapping[str, float] = WEIGHTS,
) -> Fit:
    """Weights fitted to (features, outcome) pairs, shrunk toward `defaults` (see the module doc)."""
    if len(features) != len(outcomes):
        raise ValueError(f"{len(features)} feature rows but {len(outcomes)} outcomes")
    n = len(outcomes)
    default = np.array([float(defaults[k]) for k in FEATURES])
    fitted = default.copy()
    x, informative = _matrix(features) if n else (np.zeros((0, len(FEATURES))), [])
    cols = [FEATURES.index(k) for k in informative]
    effects: dict[str, float] = {}
    y = np.asarray(outcomes, dtype=float)
    if cols and n > len(cols) + 1:
        xs = x[:, cols]
        sd = xs.std(axis=0)
        beta, se_beta = _ridge((xs - xs.mean(axis=0)) / sd, y - y.mean())
        fitted[cols] = _blend(beta / sd, se_beta / sd, default[cols])
        effects = {k: round(float(v), 4) for k, v in zip(informative, beta, strict=True)}
    share = n / (n + shrinkage) if n + shrinkage > 0 else 0.0
    learned = share * fitted + (1 - share) * default
    weights = {k: round(float(v), 6) for k, v in zip(FEATURES, learned, strict=True)}
    filled = [{k: float(x[i, j]) for j, k in enumerate(FEATURES) if not np.isnan(x[i, j])} for i in range(n)]
    details = {
        "n": n,
        "shrinkage": shrinkage,
        "fit_share": round(share, 4),
        "informative": informative,
        "effects": effects,  # outcome change per standard deviation of each feature
        "r": _corr([score(f, weights) for f in filled], list(y)),
        "r_default": _corr([score(f, defaults) for f in filled], list(y)),
        "max_change": round(float(np.max(np.abs(learned - default))), 4),
    }
    return Fit(weights, n, details)
