"""Seeded, blocked randomisation of arms to slots: every block of len(arms) consecutive slots of one account gets
each arm once in a shuffled order, so arms are balanced over accounts and over time, and the whole assignment is
reproducible from the recorded seed."""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np


def assign(n_arms: int, accounts: Sequence[Hashable], seed: int) -> list[int]:
    """The arm index of each slot; `accounts[i]` is slot i's account. Arm counts differ by at most one (exactly
    equal when len(accounts) is a multiple of n_arms); within an account an arm never repeats inside a block."""
    if n_arms < 1:
        raise ValueError("an experiment needs at least one arm")
    rng = np.random.Generator(np.random.PCG64(seed))
    out = [-1] * len(accounts)
    leftovers: list[int] = []
    for slots in _slots_by_account(accounts):
        full = len(slots) - len(slots) % n_arms
        for start in range(0, full, n_arms):
            for slot, arm in zip(slots[start : start + n_arms], rng.permutation(n_arms), strict=True):
                out[slot] = int(arm)
        leftovers += slots[full:]
    # The accounts' partial last blocks (each shorter than n_arms) share one cycled permutation: arms stay
    # distinct inside each partial block and the totals stay balanced.
    order = rng.permutation(n_arms)
    for j, slot in enumerate(leftovers):
        out[slot] = int(order[j % n_arms])
    return out


def _slots_by_account(accounts: Sequence[Hashable]) -> list[list[int]]:
    groups: dict[Hashable, list[int]] = {}
    for slot, account in enumerate(accounts):
        groups.setdefault(account, []).append(slot)
    return list(groups.values())
