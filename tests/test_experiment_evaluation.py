"""Like with like: an account without posts outside the experiment is compared with its own experiment posts, every
arm weighing the same, so an uneven mix of arms on an account (A, A, B) does not hide part of the difference."""

from __future__ import annotations

import math

from cliply.experiments.evaluation import _log_ratios
from cliply.experiments.outcomes import PostOutcome
from cliply.store.models import utcnow
from cliply.store.models_experiments import ExperimentArm, ExperimentPost

LIFT = 8.0


def _data(mixes: dict[int, str], sizes: dict[int, float], baselines: dict[int, float | None]) -> dict[str, float]:
    arms = [ExperimentArm(id=1, name="A"), ExperimentArm(id=2, name="B")]
    arm_id = {"A": 1, "B": 2}
    posts, measured = [], {}
    for account, mix in mixes.items():
        for arm in mix:
            post = ExperimentPost(id=len(posts) + 1, arm_id=arm_id[arm], account_id=account)
            views = sizes[account] * (LIFT if arm == "B" else 1.0)
            measured[post.id] = PostOutcome(post.id, None, account, "youtube", None, utcnow(), views, None, None)
            posts.append(post)
    data = _log_ratios(arms, posts, measured, baselines)
    return {d.name: sum(d.values) / len(d.values) for d in data}


def test_an_uneven_mix_on_accounts_without_a_baseline_keeps_the_whole_lift() -> None:
    means = _data({1: "AAB", 2: "BBA"}, {1: 100.0, 2: 1000.0}, {1: None, 2: None})
    assert math.isclose(means["B"] - means["A"], math.log(LIFT), rel_tol=0.01), means


def test_an_own_baseline_is_used_when_the_account_has_one() -> None:
    means = _data({1: "AB"}, {1: 100.0}, {1: 100.0})
    assert math.isclose(means["A"], 0.0, abs_tol=1e-9) and math.isclose(means["B"], math.log(801 / 101))


def test_an_account_with_one_arm_is_compared_with_all_the_posts() -> None:
    means = _data({1: "AB", 2: "B"}, {1: 100.0, 2: 100.0}, {1: None, 2: None})
    # account 2 (B only) is measured against the experiment's balanced level, not against itself (which gives 0)
    assert means["B"] > 0.9 * math.log(LIFT) / 2 and means["A"] < 0
