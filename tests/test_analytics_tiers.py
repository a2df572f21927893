"""Tier rules (pure): age boundaries, the top-decile promotion, intervals from settings, and the catalog."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cliply.analytics import catalog
from cliply.analytics.tiers import TierPolicy, interval, tier_for, top_decile_threshold
from cliply.settings import Settings
from cliply.store.models_analytics import METRIC_FIELDS

P = TierPolicy()
H, D = timedelta(hours=1), timedelta(days=1)


@pytest.mark.parametrize(
    ("age", "tier"),
    [
        (timedelta(0), "ultra_hot"),
        (6 * H - timedelta(seconds=1), "ultra_hot"),
        (6 * H, "hot"),
        (24 * H - timedelta(seconds=1), "hot"),
        (24 * H, "warm"),
        (7 * D, "cold"),
        (90 * D - timedelta(seconds=1), "cold"),
        (90 * D, "frozen"),
        (400 * D, "frozen"),
    ],
)
def test_tier_by_age(age: timedelta, tier: str) -> None:
    assert tier_for(age, top_decile=False, policy=P) == tier


def test_top_decile_promotes_to_ultra_hot_until_the_post_is_frozen() -> None:
    assert tier_for(3 * D, top_decile=True, policy=P) == "ultra_hot"
    assert tier_for(91 * D, top_decile=True, policy=P) == "frozen"


def test_intervals_and_policy_come_from_settings() -> None:
    settings = Settings(
        analytics_ultra_hot_h=2,
        analytics_hot_h=12,
        analytics_warm_d=3,
        analytics_cold_d=30,
        analytics_ultra_hot_every_s=60,
        analytics_hot_every_s=120,
        analytics_warm_every_s=600,
        analytics_cold_every_s=3600,
    )
    policy = TierPolicy.from_settings(settings)
    assert tier_for(3 * H, top_decile=False, policy=policy) == "hot"
    assert tier_for(31 * D, top_decile=False, policy=policy) == "frozen"
    assert [interval(t, policy) for t in ("ultra_hot", "hot", "warm", "cold", "frozen")] == [
        timedelta(minutes=1),
        timedelta(minutes=2),
        timedelta(minutes=10),
        timedelta(hours=1),
        None,
    ]
    assert [interval(t, P) for t in ("ultra_hot", "hot", "warm", "cold")] == [
        timedelta(minutes=15),
        timedelta(minutes=30),
        timedelta(hours=6),
        timedelta(hours=24),
    ]
    with pytest.raises(ValueError):
        interval("lukewarm", P)


def test_top_decile_threshold() -> None:
    assert top_decile_threshold([5.0] * 9) is None  # too few posts for a decile
    assert top_decile_threshold([0.0] * 20) is None  # nobody is growing
    velocities = [float(v) for v in range(1, 21)]  # 20 posts: the top two
    assert top_decile_threshold(velocities) == 19.0
    assert top_decile_threshold([100.0] + [0.0] * 11) == 100.0


def test_catalog_says_what_each_platform_reports() -> None:
    assert (
        set(catalog.REPORTED)
        == set(catalog.BATCH)
        == {
            "youtube",
            "tiktok",
            "instagram",
            "facebook",
            "threads",
            "x",
            "linkedin",
            "pinterest",
            "bluesky",
        }
    )
    assert all(set(m) <= set(METRIC_FIELDS) for m in catalog.REPORTED.values())
    assert not catalog.reports("bluesky", "views") and catalog.reports("bluesky", "likes")
    assert not catalog.reports("tiktok", "saves") and catalog.reports("instagram", "saves")
    assert not catalog.reports("linkedin", "views") and catalog.reports("x", "impressions")
    with pytest.raises(ValueError):
        catalog.reports("x", "hearts")
    assert (catalog.BATCH["youtube"], catalog.BATCH["tiktok"], catalog.BATCH["x"], catalog.BATCH["bluesky"]) == (
        50,
        20,
        100,
        25,
    )
    assert catalog.calls_for("youtube", 51) == 2 and catalog.calls_for("instagram", 3) == 3
    assert catalog.calls_for("linkedin", 2) == 10  # five analytics queries per post
