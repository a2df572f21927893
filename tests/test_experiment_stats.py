"""The experiment statistics against closed forms (Beta-Binomial P(B > A), the normal-normal posterior, the expected
loss of two normals), the overdispersion correction, and every edge of the stopping rule."""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from cliply.experiments.stats import (
    ABSOLUTE_PRIOR_SDS,
    RHO_CONFIDENCE,
    VAR_FLOOR,
    ArmData,
    ArmResult,
    StoppingRule,
    chi2_quantile,
    decide,
    evaluate,
    overdispersion,
    pooled_variance,
)

RULE = StoppingRule(p_best=0.95)  # the edges below are written at 0.95 (the default is stricter)


def _phi(x: float) -> float:
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


def _prob_b_beats_a(a_a: int, b_a: int, a_b: int, b_b: int) -> float:
    """Evan Miller's exact sum for P(p_B > p_A), p_A ~ Beta(a_a, b_a), p_B ~ Beta(a_b, b_b), integer a_b."""

    def lbeta(x: float, y: float) -> float:
        return math.lgamma(x) + math.lgamma(y) - math.lgamma(x + y)

    return sum(
        math.exp(lbeta(a_a + i, b_a + b_b) - math.log(b_b + i) - lbeta(1 + i, b_b) - lbeta(a_a, b_a))
        for i in range(a_b)
    )


def _interval(arm: ArmResult) -> tuple[float, float, float]:
    assert arm.low is not None and arm.mean is not None and arm.high is not None
    return arm.low, arm.mean, arm.high


def _arms(result, name):
    return next(a for a in result.arms if a.name == name)


# --- rate model ---


def test_rate_model_matches_the_exact_beta_binomial_probability():
    # Two posts per arm at the same rate within the arm: no overdispersion (φ = 1), so the posterior is the plain
    # Beta(1 + s, 1 + n − s) of the pooled counts.
    a = ArmData("A", successes=(12, 24), trials=(200, 400))  # 36 / 600
    b = ArmData("B", successes=(27, 27), trials=(450, 450))  # 54 / 900 ... same 6 %
    c = ArmData("B", successes=(30, 30), trials=(400, 400))  # 60 / 800 = 7.5 %
    for arm_b, (sb, nb) in ((b, (54, 900)), (c, (60, 800))):
        result = evaluate([a, arm_b], model="rate", rule=RULE, elapsed_days=None, draws=200_000, seed=3)
        exact = _prob_b_beats_a(1 + 36, 1 + 600 - 36, 1 + sb, 1 + nb - sb)
        assert _arms(result, "B").p_best == pytest.approx(exact, abs=0.005)
        assert _arms(result, "A").p_best == pytest.approx(1 - exact, abs=0.005)
        assert _arms(result, "B").mean == pytest.approx((1 + sb) / (2 + nb))
    assert 0.85 < exact < 0.95  # the 7.5 % arm: a case where the numbers are neither 0.5 nor 1


def test_rate_interval_and_relative_loss():
    a = ArmData("A", successes=(50,), trials=(1000,))
    b = ArmData("B", successes=(80,), trials=(1000,))
    result = evaluate([a, b], model="rate", rule=RULE, elapsed_days=None, draws=100_000)
    arm_a, arm_b = _arms(result, "A"), _arms(result, "B")
    # Beta(1 + 50, 1 + 950)'s 2.5 % and 97.5 % quantiles, from its density integrated on a fine grid
    grid = np.linspace(0, 0.15, 300_001)
    log_pdf = 50 * np.log(np.maximum(grid, 1e-300)) + 950 * np.log1p(-grid)
    cdf = np.cumsum(np.exp(log_pdf - log_pdf.max()))
    cdf /= cdf[-1]
    low, high = np.interp([0.025, 0.975], cdf, grid)
    assert arm_a.low == pytest.approx(low, rel=0.01)
    assert arm_a.high == pytest.approx(high, rel=0.01)
    # A loses about 3 points of an ~8 % rate: relative loss ~ 0.03 / 0.08, not the absolute 0.03.
    assert arm_a.expected_loss == pytest.approx((arm_b.mean - arm_a.mean) / arm_b.mean, rel=0.05)
    assert arm_b.expected_loss < 0.001


def test_overdispersed_posts_do_not_make_a_false_winner():
    # Each post has its own rate (2 % to 20 %): pooling the counts would make B a sure winner on noise.
    a = ArmData("A", successes=(20, 300, 90, 40, 150), trials=(1000, 1500, 1000, 2000, 1500))
    b = ArmData("B", successes=(200, 60, 150, 250, 40), trials=(1000, 1500, 1000, 2000, 1500))
    pooled = [ArmData(x.name, successes=(sum(x.successes),), trials=(sum(x.trials),)) for x in (a, b)]
    naive = evaluate(pooled, model="rate", rule=StoppingRule(min_posts=1), elapsed_days=None)
    assert naive.decision.status == "winner"  # what pooled counts claim
    result = evaluate([a, b], model="rate", rule=RULE, elapsed_days=None)
    assert result.decision.status == "inconclusive"
    assert max(x.p_best or 0.0 for x in result.arms) < 0.9
    s, n = np.array(a.successes, float), np.array(a.trials, float)
    assert 1 + 999 * overdispersion([(s, n)]) > 10
    assert overdispersion([(np.array([5.0]), np.array([100.0]))] * 2) == 0.0  # one post per arm: φ = 1
    assert overdispersion([(np.array([5.0, 10.0]), np.array([100.0, 200.0]))]) == 0.0  # one rate: φ floored at 1


def test_equal_trials_give_the_quasi_binomial_dispersion():
    s, n = np.array([20.0, 35.0, 12.0, 50.0]), np.array([400.0] * 4)
    p = s.sum() / n.sum()
    pearson = (((s - n * p) ** 2) / (n * p * (1 - p))).sum() / (len(s) - 1)
    assert pearson > 2
    assert 1 + (400 - 1) * overdispersion([(s, n)]) == pytest.approx(pearson)
    assert overdispersion([(s, n), (np.array([30.0]), np.array([400.0]))]) == overdispersion([(s, n)])
    # The posterior uses the upper RHO_CONFIDENCE bound of the spread, which scales this φ by df / χ²_{1 − c}(df).
    upper = pearson * 3 / chi2_quantile(1 - RHO_CONFIDENCE, 3)
    assert 1 + (400 - 1) * overdispersion([(s, n)], confidence=RHO_CONFIDENCE) == pytest.approx(upper)
    assert upper > 2 * pearson  # 4 posts say little about their own spread
    result = evaluate(
        [ArmData("A", successes=tuple(s), trials=tuple(n)), ArmData("B", successes=(30.0,), trials=(400.0,))],
        model="rate",
        rule=RULE,
        elapsed_days=None,
    )
    alpha, beta = 1 + s.sum() / upper, 1 + (n - s).sum() / upper
    assert result.arms[0].mean == pytest.approx(alpha / (alpha + beta))


@pytest.mark.parametrize(
    ("q", "df", "table"),
    [(0.2, 2, 0.4463), (0.2, 3, 1.0052), (0.2, 8, 4.5936), (0.2, 20, 14.578), (0.1, 5, 1.6103), (0.8, 8, 11.030)],
)
def test_chi2_quantile_matches_the_table(q, df, table):
    assert chi2_quantile(q, df) == pytest.approx(table, rel=0.02)


def test_chi2_quantile_at_one_degree_is_on_the_conservative_side():
    assert 0.03 < chi2_quantile(0.2, 1) <= 0.0642  # the table's 0.0642: a smaller quantile, a wider bound


def test_a_post_with_many_trials_does_not_outweigh_the_rest():
    # Four small posts at ~10 % and one huge post at 2 %: pooled, the arm is ~2 %; per post the big one counts
    # like a couple of small ones, so the arm is not pinned to 2 %.
    s, n = (10.0, 12.0, 9.0, 11.0, 2000.0), (100.0, 100.0, 100.0, 100.0, 100_000.0)
    result = evaluate(
        [ArmData("A", successes=s, trials=n), ArmData("B", successes=(10.0,), trials=(100.0,))],
        model="rate",
        rule=RULE,
        elapsed_days=None,
    )
    low, mean, high = _interval(result.arms[0])
    pooled = sum(s) / sum(n)
    assert pooled < 0.021
    assert 0.05 < mean < 0.1
    assert pooled < low < mean < high


def test_rate_input_is_checked():
    with pytest.raises(ValueError, match="successes"):
        evaluate(
            [ArmData("A", successes=(5, 6), trials=(10,)), ArmData("B", successes=(1,), trials=(2,))],
            model="rate",
            rule=RULE,
            elapsed_days=None,
        )
    with pytest.raises(ValueError, match="trials > 0"):
        evaluate(
            [ArmData("A", successes=(11,), trials=(10,)), ArmData("B", successes=(1,), trials=(2,))],
            model="rate",
            rule=RULE,
            elapsed_days=None,
        )


# --- normal model ---


def test_normal_posterior_matches_the_textbook_formula():
    xa = (0.1, -0.4, 0.3, 0.8)
    xb = (0.9, 0.5, 1.4)
    result = evaluate([ArmData("A", values=xa), ArmData("B", values=xb)], model="normal", rule=RULE, elapsed_days=None)
    ssd = sum((x - np.mean(xa)) ** 2 for x in xa) + sum((x - np.mean(xb)) ** 2 for x in xb)
    sigma2 = ssd / (len(xa) - 1 + len(xb) - 1)
    for name, xs in (("A", xa), ("B", xb)):
        # prior N(0, 1), known variance σ²: posterior variance 1 / (1 + n/σ²), mean (Σx/σ²) · that variance
        var = 1 / (1 + len(xs) / sigma2)
        mean = var * sum(xs) / sigma2
        arm = _arms(result, name)
        assert arm.posts == len(xs)
        assert arm.mean == pytest.approx(mean)
        assert arm.low == pytest.approx(mean - 1.959964 * math.sqrt(var))
        assert arm.high == pytest.approx(mean + 1.959964 * math.sqrt(var))


def test_normal_p_best_and_expected_loss_match_closed_forms():
    xa = (0.0, 0.2, -0.1, 0.1, 0.3, -0.2)
    xb = (0.3, 0.5, 0.2, 0.6, 0.1, 0.4)
    result = evaluate(
        [ArmData("A", values=xa), ArmData("B", values=xb)], model="normal", rule=RULE, elapsed_days=None, draws=200_000
    )
    a, b = _arms(result, "A"), _arms(result, "B")
    sd = lambda arm: (arm.high - arm.low) / (2 * 1.959964)  # noqa: E731
    mu, s = b.mean - a.mean, math.hypot(sd(a), sd(b))
    assert b.p_best == pytest.approx(_phi(mu / s), abs=0.004)
    # E[max(θ_A, θ_B) − θ_A] = E[max(Δ, 0)] for Δ ~ N(μ, s²) = μΦ(μ/s) + s·φ(μ/s)
    density = math.exp(-((mu / s) ** 2) / 2) / math.sqrt(2 * math.pi)
    assert a.expected_loss == pytest.approx(mu * _phi(mu / s) + s * density, rel=0.02)
    assert b.expected_loss == pytest.approx(a.expected_loss - mu, abs=0.002)


def test_absolute_scale_prior_is_centred_on_the_grand_mean_and_wide():
    xa = (1000.0, 1400.0, 800.0, 1200.0)
    xb = (2100.0, 2500.0, 1800.0)
    result = evaluate(
        [ArmData("A", values=xa), ArmData("B", values=xb)],
        model="normal",
        rule=RULE,
        elapsed_days=None,
        scale="absolute",
        draws=200_000,
    )
    sigma2 = pooled_variance([np.array(xa), np.array(xb)])
    m, tau2 = np.mean(xa + xb), ABSOLUTE_PRIOR_SDS**2 * sigma2
    for name, xs in (("A", xa), ("B", xb)):
        var = 1 / (1 / tau2 + len(xs) / sigma2)
        mean = var * (m / tau2 + sum(xs) / sigma2)
        arm = _arms(result, name)
        assert arm.mean == pytest.approx(mean)
        assert arm.low == pytest.approx(mean - 1.959964 * math.sqrt(var))
        assert abs(mean - np.mean(xs)) < 0.01 * np.mean(xs)  # effectively flat: the data decides
    a, b = _arms(result, "A"), _arms(result, "B")
    # the loss is relative to the best arm's mean: A loses about (2133 − 1100) / 2133, not ~1000 views
    assert a.expected_loss == pytest.approx((b.mean - a.mean) / b.mean, rel=0.02)
    assert b.expected_loss < 0.001
    assert (result.decision.status, result.decision.winner) == ("inconclusive", None)  # B has 3 of 5 posts
    log = evaluate([ArmData("A", values=xa), ArmData("B", values=xb)], model="normal", rule=RULE, elapsed_days=None)
    assert _arms(log, "B").mean < 10  # the log-scale prior N(0, 1) pulls raw views to nonsense
    with pytest.raises(ValueError, match="unknown scale"):
        evaluate([ArmData("A", values=xa), ArmData("B", values=xb)], model="normal", rule=RULE, elapsed_days=None,
                 scale="linear")  # fmt: skip


def test_absolute_scale_floor_follows_the_values():
    same = evaluate(
        [ArmData("A", values=(500.0,) * 5), ArmData("B", values=(500.0,) * 5)],
        model="normal",
        rule=RULE,
        elapsed_days=None,
        scale="absolute",
    )
    low, mean, high = _interval(same.arms[0])
    sd = 0.1 * 500 / math.sqrt(5)  # σ floored at 10 % of the grand mean, as on the log scale
    assert mean == pytest.approx(500.0)
    assert high - low == pytest.approx(2 * 1.959964 * sd, rel=0.01)
    assert same.decision.status == "inconclusive"


def test_variance_is_pooled_and_floored():
    assert pooled_variance([np.array([1.0]), np.array([1.0])]) == VAR_FLOOR  # one identical post each
    assert pooled_variance([np.array([0.0]), np.array([2.0])]) == pytest.approx(2.0)  # no 2-post arm: all values
    assert pooled_variance([np.array([0.0, 2.0]), np.array([5.0])]) == pytest.approx(2.0)
    result = evaluate(
        [ArmData("A", values=(0.5,)), ArmData("B", values=(0.5,))], model="normal", rule=RULE, elapsed_days=None
    )
    assert all(0 < low < mean < high for low, mean, high in map(_interval, result.arms))


def test_same_seed_same_report_and_identical_arms_never_win():
    arms = [ArmData("A", values=(0.1, 0.2, 0.3, 0.1, 0.2)), ArmData("B", values=(0.1, 0.2, 0.3, 0.1, 0.2))]
    one = evaluate(arms, model="normal", rule=RULE, elapsed_days=5, seed=7)
    assert one == evaluate(arms, model="normal", rule=RULE, elapsed_days=5, seed=7)
    assert one.arms[0].p_best == pytest.approx(0.5, abs=0.02)
    assert one.decision.status == "running"
    assert evaluate(arms, model="normal", rule=RULE, elapsed_days=None).decision.status == "inconclusive"


def test_arm_without_data_is_reported_empty_and_waits():
    result = evaluate(
        [ArmData("A", values=(0.1, 0.2)), ArmData("B"), ArmData("C", values=(0.3,))],
        model="normal",
        rule=RULE,
        elapsed_days=1,
    )
    assert result.json()["arms"][1] == {
        "name": "B",
        "posts": 0,
        "mean": None,
        "low": None,
        "high": None,
        "p_best": None,
        "expected_loss": None,
    }
    assert sum(a.p_best for a in result.arms if a.p_best is not None) == pytest.approx(1.0)
    assert result.json()["decision"] == {
        "status": "running",
        "winner": None,
        "reason": "waiting: arm A has 2 of 5 posts",
    }


def test_evaluate_rejects_bad_calls():
    with pytest.raises(ValueError, match="model"):
        evaluate([ArmData("A"), ArmData("B")], model="poisson", rule=RULE, elapsed_days=None)
    with pytest.raises(ValueError, match="at least 2 arms"):
        evaluate([ArmData("A")], model="normal", rule=RULE, elapsed_days=None)
    with pytest.raises(ValueError, match="unique"):
        evaluate([ArmData("A"), ArmData("A")], model="normal", rule=RULE, elapsed_days=None)


# --- the stopping rule ---


def _arm(name: str, posts: int = 5, p_best: float = 0.5, loss: float = 0.05) -> ArmResult:
    return ArmResult(name, posts, 0.0, -1.0, 1.0, p_best, loss)


def _winning(posts_a: int = 5, posts_b: int = 5, p: float = 0.95, loss: float = 0.009) -> list[ArmResult]:
    return [_arm("A", posts_a, 1 - p, 0.3), _arm("B", posts_b, p, loss)]


def test_winner_exactly_at_the_thresholds():
    decision = decide(_winning(), RULE, elapsed_days=3.0)
    assert (decision.status, decision.winner) == ("winner", "B")
    assert decision.reason == "B: P(best) 0.95 >= 0.95 and expected loss 0.9 % < 1 %"


@pytest.mark.parametrize(
    ("arms", "days", "status", "reason"),
    [
        (_winning(posts_b=4), 5.0, "running", "waiting: arm B has 4 of 5 posts"),
        (_winning(posts_a=4), 20.0, "inconclusive", "20 of 14 days: arm A has 4 of 5 posts"),
        (_winning(), 2.9, "running", "waiting: 2.9 of 3 days elapsed"),
        (_winning(p=0.9499), 5.0, "running", "no winner yet: best arm B has P(best) 0.95 < 0.95"),
        (_winning(loss=0.01), 5.0, "running", "no winner yet: best arm B has expected loss 1 % >= 1 %"),
        (
            _winning(p=0.9, loss=0.02),
            13.9,
            "running",
            "no winner yet: best arm B has P(best) 0.90 < 0.95 and expected loss 2 % >= 1 %",
        ),
        (
            _winning(p=0.9, loss=0.02),
            14.0,
            "inconclusive",
            "14 of 14 days: best arm B has P(best) 0.90 < 0.95 and expected loss 2 % >= 1 %",
        ),
        (_winning(), 14.0, "winner", "B: P(best) 0.95 >= 0.95 and expected loss 0.9 % < 1 %"),  # the data met the rule
        (_winning(posts_b=4), None, "inconclusive", "data complete: arm B has 4 of 5 posts"),
        (_winning(), None, "winner", "B: P(best) 0.95 >= 0.95 and expected loss 0.9 % < 1 %"),  # no day gating
        (_winning(loss=0.2), None, "inconclusive", "data complete: best arm B has expected loss 20 % >= 1 %"),
        (
            [_arm("A", p_best=0.5, loss=0.1), _arm("B", p_best=0.5, loss=0.1)],
            5.0,
            "running",
            "no winner yet: best arm A has P(best) 0.50 < 0.95 and expected loss 10 % >= 1 %",
        ),
    ],
)
def test_stopping_rule_edges(arms, days, status, reason):
    decision = decide(arms, RULE, elapsed_days=days)
    assert (decision.status, decision.reason) == (status, reason)
    assert decision.winner == ("B" if status == "winner" else None)


def test_rule_from_settings_overrides_and_json():
    settings = SimpleNamespace(
        experiment_p_best=0.9, experiment_max_loss=0.02, experiment_min_posts=3, experiment_min_days=1.0,
        experiment_max_days=7.0,
    )  # fmt: skip
    rule = StoppingRule.from_settings(settings)
    assert rule.json() == {"p_best": 0.9, "max_loss": 0.02, "min_posts": 3, "min_days": 1.0, "max_days": 7.0}
    typed: dict[str, Any] = {"p_best": 0.99, "min_posts": "8"}  # as typed on a command line
    tuned = rule.with_overrides(typed)
    assert (tuned.p_best, tuned.min_posts, tuned.max_days) == (0.99, 8, 7.0)
    assert rule.with_overrides(None) is rule
    cases: tuple[tuple[dict[str, Any], str], ...] = (
        ({"pbest": 0.9}, "unknown setting 'pbest'"),
        ({"p_best": 1.0}, "p_best must be above 0.5 and below 1"),
        ({"p_best": "high"}, "p_best must be a number"),
        ({"min_posts": 2.5}, "whole number"),
        ({"max_loss": 0}, "max_loss must be above 0"),
        ({"max_days": 0.5}, "max_days must be at least min_days"),
        ({"min_days": float("nan")}, "finite"),
        ({"min_posts": True}, "must be a number"),
    )
    for bad, message in cases:
        with pytest.raises(ValueError, match=message) as error:
            rule.with_overrides(bad)
        assert "\n" not in str(error.value)
