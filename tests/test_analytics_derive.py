"""Derived numbers of a post (cliply.analytics.derive) against hand-computed values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cliply.analytics.derive import Point, acceleration, derived, engagement_rate, totals, velocity
from cliply.store.models_analytics import MetricSnapshot

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)


def at(minutes: float, views: int | None, **metrics: int | None) -> Point:
    return Point(T0 + timedelta(minutes=minutes), views=views, **metrics)


def test_engagement_rate_sums_the_reported_terms() -> None:
    assert engagement_rate(at(0, 1000, likes=50, comments=10, shares=5, saves=15)) == pytest.approx(0.08)


def test_engagement_rate_skips_terms_the_platform_does_not_report() -> None:
    # X reports no saves, LinkedIn no saves either: the rate is over what is known, not a 0 in the sum's place.
    assert engagement_rate(at(0, 400, likes=30, comments=6, shares=None, saves=None)) == pytest.approx(0.09)
    assert engagement_rate(at(0, 400)) == 0.0  # views known, no engagement reported: 0 engaged of 400


@pytest.mark.parametrize("views", [None, 0])
def test_engagement_rate_is_unknown_without_views(views: int | None) -> None:
    assert engagement_rate(at(0, views, likes=5, comments=1)) is None


def test_engagement_rate_reads_a_stored_snapshot() -> None:
    snap = MetricSnapshot(fetched_at=T0, views=200, likes=10, comments=None, shares=2, saves=None)
    assert engagement_rate(snap) == pytest.approx(0.06)


def test_velocity_uses_the_real_time_between_uneven_snapshots() -> None:
    points = [at(0, 0), at(20, 100), at(50, 250), at(95, 700)]
    # latest 95 min, window 1 h → the newest point at or before 35 min is the one at 20 min (100 views).
    assert velocity(points) == pytest.approx((700 - 100) / (75 / 60))
    assert velocity(points, window=timedelta(minutes=30)) == pytest.approx((700 - 250) / (45 / 60))


def test_velocity_over_a_history_shorter_than_the_window_uses_the_oldest_point() -> None:
    assert velocity([at(30, 100), at(0, 0)]) == pytest.approx(200.0)  # order of the input does not matter


def test_velocity_needs_two_points_with_views() -> None:
    assert velocity([]) is None
    assert velocity([at(0, 10)]) is None
    assert velocity([at(0, 10), at(60, None)]) is None  # a fetch without views is no point on the curve


def test_velocity_shows_a_platform_correction_as_a_drop() -> None:
    assert velocity([at(0, 1000), at(60, 950)]) == pytest.approx(-50.0)


def test_acceleration_between_the_last_two_windows() -> None:
    # Even spacing: 100 views/h then 200 views/h, one hour apart → 100 views/h².
    assert acceleration([at(0, 0), at(60, 100), at(120, 300)]) == pytest.approx(100.0)
    # Uneven: last window 1 h → 2.5 h: 300 views in 1.5 h = 200/h; window before 0 → 1 h: 100/h.
    # Their midpoints (1.75 h and 0.5 h) are 1.25 h apart → (200 - 100) / 1.25 = 80 views/h².
    assert acceleration([at(0, 0), at(60, 100), at(150, 400)]) == pytest.approx(80.0)


def test_acceleration_is_negative_when_a_post_slows_down() -> None:
    assert acceleration([at(0, 0), at(60, 600), at(120, 900)]) == pytest.approx(-300.0)


def test_acceleration_needs_two_windows() -> None:
    assert acceleration([at(0, 0), at(60, 100)]) is None


def test_totals_are_the_latest_reported_values_and_none_where_never_reported() -> None:
    points = [at(0, 10, likes=1, reach=8), at(30, 25, likes=None), at(60, 40, likes=3)]
    got = totals(points)
    assert got["views"] == 40 and got["likes"] == 3 and got["reach"] == 8
    assert got["saves"] is None and got["watch_time_s"] is None


def test_derived_collects_everything_with_its_fetch_time() -> None:
    points = [at(0, 0), at(60, 100, likes=10), at(120, 300, likes=21, comments=9)]
    d = derived(points, now=T0 + timedelta(hours=3))
    assert d.as_of == d.fetched_at == T0 + timedelta(hours=2)
    assert d.age_h == pytest.approx(1.0)
    assert d.velocity == pytest.approx(200.0) and d.acceleration == pytest.approx(100.0)
    assert d.engagement_rate == pytest.approx(30 / 300)
    assert d.totals["views"] == 300 and d.totals["shares"] is None


def test_derived_of_no_history_knows_nothing() -> None:
    d = derived([])
    assert d.as_of is None and d.age_h is None and d.velocity is None and d.engagement_rate is None
    assert set(d.totals.values()) == {None}
