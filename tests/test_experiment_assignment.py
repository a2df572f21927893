"""Seeded blocked randomisation: reproducible from the seed, different across seeds, balanced per account."""

from __future__ import annotations

from collections import Counter

import pytest

from cliply.experiments.assignment import assign

ACCOUNTS = [("youtube", 1), ("tiktok", 2), ("instagram", 3)]


def slots(n: int) -> list[tuple[str, int]]:
    return [ACCOUNTS[i % len(ACCOUNTS)] for i in range(n)]


def test_same_seed_same_assignment_and_different_seed_differs() -> None:
    accounts = slots(24)
    first = assign(4, accounts, seed=7)
    assert first == assign(4, accounts, seed=7)
    others = {tuple(assign(4, accounts, seed=s)) for s in range(8, 18)}
    assert tuple(first) not in others and len(others) > 1


@pytest.mark.parametrize(("arms", "per_arm"), [(2, 5), (3, 4), (4, 6), (2, 3), (3, 1)])
def test_arms_balanced_overall_and_per_account(arms: int, per_arm: int) -> None:
    accounts = slots(arms * per_arm)
    got = assign(arms, accounts, seed=123)
    assert Counter(got) == dict.fromkeys(range(arms), per_arm)
    for account in ACCOUNTS:
        mine = [arm for arm, a in zip(got, accounts, strict=True) if a == account]
        counts = Counter(mine)
        assert max(counts.values()) - min(counts.get(a, 0) for a in range(arms)) <= 1
        # every full block of one account's consecutive slots holds each arm exactly once
        for start in range(0, len(mine) - len(mine) % arms, arms):
            assert sorted(mine[start : start + arms]) == list(range(arms))


def test_order_within_blocks_is_shuffled() -> None:
    got = assign(2, [("youtube", 1)] * 40, seed=1)
    blocks = {tuple(got[i : i + 2]) for i in range(0, 40, 2)}
    assert blocks == {(0, 1), (1, 0)}
