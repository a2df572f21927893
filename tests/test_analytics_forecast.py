"""Forecasts of views (cliply.analytics.forecast): hand-computed cases, refusals, interval properties, and
back-tests showing the model beats the naive "last velocity" forecast on realistic curves."""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cliply.analytics.derive import Point
from cliply.analytics.forecast import (
    Forecast,
    NoForecast,
    backtest,
    fit,
    forecast,
    interpolate_views,
    naive,
)
from cliply.sandbox import growth
from cliply.sandbox.state import SandboxState

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)


def at(hours: float, views: float | None) -> Point:
    return Point(T0 + timedelta(hours=hours), views=None if views is None else round(views))


def forecasts(result: list[Forecast] | NoForecast) -> list[Forecast]:
    assert not isinstance(result, NoForecast), result
    return result


# --- refusals ---


@pytest.mark.parametrize(
    ("points", "reason"),
    [
        ([], "0 snapshot"),
        ([at(0, 10), at(1, 50)], "2 snapshot"),
        ([at(0, 10), at(0.1, 20), at(0.3, 30)], "18 min"),
        ([at(0, 0), at(0.5, 0), at(1, 0)], "no views yet"),
        ([at(0, 10), at(0.5, None), at(1, 30)], "2 snapshot"),  # a fetch without views does not count
    ],
)
def test_too_little_history_is_said_not_guessed(points: list[Point], reason: str) -> None:
    got = forecast(points, T0 + timedelta(hours=1))
    assert isinstance(got, NoForecast) and reason in got.reason


def test_snapshots_after_now_are_not_used() -> None:
    points = [at(0, 10), at(0.5, 20), at(1, 30), at(2, 50)]
    assert isinstance(forecast(points, T0 + timedelta(hours=0.75)), NoForecast)


def test_naive_needs_two_points() -> None:
    assert isinstance(naive([at(0, 10)], T0), NoForecast)


# --- hand-computed ---


def test_naive_is_last_velocity_times_hours_ahead() -> None:
    points = [at(0, 0), at(0.5, 50), at(1, 100)]
    got = forecasts(naive(points, T0 + timedelta(hours=1), (1, 3)))
    assert [f.predicted for f in got] == pytest.approx([200, 400])
    assert all(f.low == f.predicted == f.high and f.model == "naive" for f in got)
    # Asked half an hour after the last fetch: the gap counts too.
    later = forecasts(naive(points, T0 + timedelta(hours=1.5), (1,)))
    assert later[0].predicted == pytest.approx(100 + 100 * 1.5)
    assert later[0].target_at == T0 + timedelta(hours=2.5)


def test_a_power_law_curve_is_extrapolated_along_its_own_law() -> None:
    # views = 1000·√age: views per hour fall as age^-½. Fetched every 15 min for 4 h after publishing.
    points = [at(h, 1000 * math.sqrt(h)) for h in np.arange(0.25, 4.01, 0.25)]
    now = points[-1].fetched_at
    got = forecasts(forecast(points, now, (1, 2, 3), published_at=T0))
    for f in got:
        truth = 1000 * math.sqrt(4 + f.horizon_h)
        assert f.predicted == pytest.approx(truth, rel=0.005)
        assert f.low <= truth <= f.high
    # The naive forecast overshoots a slowing post: 3 h ahead it is off by more than 1 %.
    base = forecasts(naive(points, now, (3,)))[0]
    assert base.predicted > 1000 * math.sqrt(7) * 1.01


def test_without_publish_time_the_age_is_estimated_from_the_first_snapshots() -> None:
    points = [at(h, 1000 * math.sqrt(h)) for h in np.arange(0.25, 4.01, 0.25)]
    got = forecasts(forecast(points, points[-1].fetched_at, (3,)))
    assert got[0].predicted == pytest.approx(1000 * math.sqrt(7), rel=0.02)


def test_a_post_that_stopped_gaining_views_is_forecast_flat() -> None:
    points = [at(0, 0), at(0.5, 400), at(1, 500), at(1.5, 500), at(2, 500)]
    got = forecasts(forecast(points, T0 + timedelta(hours=2), (1, 3)))
    assert all(f.predicted == pytest.approx(500) and f.low == pytest.approx(500) for f in got)
    assert all(f.high > 500 for f in got)  # a quiet hour does not rule out a view


def test_intervals_are_ordered_and_widen_with_the_horizon() -> None:
    points = [at(h, 5000 * (1 - math.exp(-h / 3))) for h in np.arange(0.25, 3.01, 0.25)]
    got = forecasts(forecast(points, points[-1].fetched_at, (1, 2, 3)))
    last = points[-1].views
    assert last is not None
    for f in got:
        assert last <= f.low <= f.predicted <= f.high
        assert f.model == "power_velocity"
    widths = [math.log((f.high - last) / (f.low - last)) for f in got]
    assert widths == sorted(widths)


def test_the_fit_spans_the_last_three_quarters_of_the_posts_life() -> None:
    # views = 1000·√age, every 15 min for 12 h: the decay is fitted over ages 3-12 h (36 intervals), not 2.75 h.
    points = [at(h, 1000 * math.sqrt(h)) for h in np.arange(0.25, 12.01, 0.25)]
    model = fit(points, published_at=T0)
    assert model.n == 36
    assert model.decay == pytest.approx(0.5, abs=0.01)


def test_a_wobble_in_the_rate_does_not_tilt_the_decay() -> None:
    # A √age curve whose rate runs ±25 % above and below it over a 4-hour cycle: the fit over many hours still
    # finds β ≈ ½, and 3 h ahead the forecast stays within the wobble's reach of the smooth curve.
    def views(h: float) -> float:
        return 1000 * math.sqrt(h) * (1 + 0.25 * 4 / (2 * math.pi) * math.sin(2 * math.pi * h / 4) / (2 * h))

    points = [at(h, views(h)) for h in np.arange(0.25, 16.01, 0.25)]
    model = fit(points, published_at=T0)
    assert model.decay == pytest.approx(0.5, abs=0.1)
    got = forecasts(forecast(points, points[-1].fetched_at, (3,), published_at=T0))[0]
    gained = views(19) - views(16)
    assert abs(got.predicted - points[-1].views - gained) < 0.3 * gained  # type: ignore[operator]


def test_lasting_deviations_widen_the_interval() -> None:
    # Same curve and the same size of deviations from it; only how long they last differs.
    def history(flip_every: int) -> list[Point]:
        out, views = [], 0.0
        for i, h in enumerate(np.arange(0.25, 8.01, 0.25)):
            rate = 1000 / math.sqrt(h) * (1.3 if (i // flip_every) % 2 else 1 / 1.3)
            views += rate * 0.25
            out.append(at(h, views))
        return out

    def width(points: list[Point]) -> float:
        f = forecasts(forecast(points, points[-1].fetched_at, (1,), published_at=T0))[0]
        return math.log(f.high / f.low)

    choppy, lasting = history(1), history(8)
    assert fit(choppy, published_at=T0).persist == pytest.approx(1.0)  # alternating: averages out
    assert fit(lasting, published_at=T0).persist > 5
    assert width(lasting) > width(choppy)


# --- interpolation and back-test bookkeeping ---


def test_interpolate_views_between_snapshots() -> None:
    points = [at(0, 100), at(1, 200), at(3, 600)]
    assert interpolate_views(points, T0 + timedelta(hours=2)) == pytest.approx(400)
    assert interpolate_views(points, T0 + timedelta(hours=1)) == pytest.approx(200)
    assert interpolate_views(points, T0 + timedelta(hours=3)) == pytest.approx(600)
    assert interpolate_views(points, T0 + timedelta(hours=3, seconds=1)) is None
    assert interpolate_views(points, T0 - timedelta(seconds=1)) is None
    assert interpolate_views([], T0) is None


def test_backtest_skips_cuts_without_data_that_far_ahead() -> None:
    series = [at(h, 100 * h) for h in np.arange(0.0, 4.01, 0.5)]  # 0 … 4 h, every 30 min
    result = backtest([series], (1, 3))
    assert result.series == 1 and result.cuts == 8
    one, three = result.horizons[1], result.horizons[3]
    # Cuts at 0.5 h (2 points: the model declines) … 3 h have a value 1 h later; only 0.5 h and 1 h do for 3 h.
    assert one.no_forecast == 1 and one.n == 5
    assert three.no_forecast == 1 and three.n == 1
    # A straight line: both forecast it exactly.
    assert one.model_mdape == pytest.approx(0, abs=1e-9) and one.naive_mdape == pytest.approx(0, abs=1e-9)
    assert result.rows()[0]["horizon_h"] == 1 and result.rows()[0]["coverage_80"] == 1.0


# --- properties ---


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[Point], datetime]:
    gaps = draw(st.lists(st.floats(min_value=1, max_value=180), min_size=2, max_size=30))
    gains = draw(st.lists(st.integers(min_value=0, max_value=10**6), min_size=len(gaps), max_size=len(gaps)))
    start = draw(st.integers(min_value=0, max_value=10**6))
    points, t, views = [Point(T0, views=start)], 0.0, start
    for gap, gain in zip(gaps, gains, strict=True):
        t, views = t + gap, views + gain
        points.append(Point(T0 + timedelta(minutes=t), views=views))
    wait = draw(st.floats(min_value=0, max_value=120))
    return points, points[-1].fetched_at + timedelta(minutes=wait)


@settings(max_examples=300, deadline=None)
@given(histories(), st.lists(st.floats(min_value=0.1, max_value=48), min_size=1, max_size=6))
def test_forecasts_are_monotone_in_the_horizon_and_never_below_the_last_views(
    history: tuple[list[Point], datetime], horizons: list[float]
) -> None:
    points, now = history
    last = points[-1].views
    assert last is not None
    for made in (forecast(points, now, sorted(horizons)), naive(points, now, sorted(horizons))):
        if isinstance(made, NoForecast):
            continue
        for f in made:
            assert last <= f.low <= f.predicted <= f.high
            assert all(math.isfinite(x) for x in (f.low, f.predicted, f.high))
        for a, b in itertools.pairwise(made):
            assert a.predicted <= b.predicted and a.low <= b.low and a.high <= b.high


# --- back-tests on realistic curves ---


def fetch_hours(rng: np.random.Generator, span_h: float = 48.0) -> np.ndarray:
    """Tiered polling as the refresher does it: 15 min for 6 h, 30 min to 24 h, then hourly; some jitter."""
    t, out = float(rng.uniform(0.02, 0.2)), []
    while t <= span_h:
        out.append(t)
        t += (0.25 if t < 6 else 0.5 if t < 24 else 1.0) + float(rng.uniform(-0.03, 0.05))
    return np.array(out)


def synthetic_history(rng: np.random.Generator) -> list[Point]:
    """Fast early growth that decays, V·(1 - e^(-t/τ)) + a slow tail, lognormal V, τ of a few hours, Poisson and
    multiplicative noise on each interval's views, and one post in ten a late riser with a second wave."""
    hours = fetch_hours(rng)
    reach, tau = rng.lognormal(8.0, 1.5), rng.uniform(1.0, 6.0)
    curve = reach * (1 - np.exp(-hours / tau)) + reach * rng.uniform(0.001, 0.01) * hours
    if rng.random() < 0.1:
        start, size, tau2 = rng.uniform(4, 30), reach * rng.uniform(0.5, 3), rng.uniform(1, 6)
        curve += size * (1 - np.exp(-np.clip(hours - start, 0, None) / tau2))
    expected = np.diff(np.concatenate([[0.0], curve]))
    views = np.cumsum(rng.poisson(expected * rng.lognormal(0, 0.15, len(expected))))
    return [Point(T0 + timedelta(hours=float(h)), views=int(v)) for h, v in zip(hours, views, strict=True)]


def assert_beats_naive(result_rows: list[dict[str, Any]]) -> None:
    """Clearly better than naive at every horizon (≤ 0.9× its MdAPE), and an 80 % interval that covers 75-88 %."""
    for row in result_rows:
        assert row["n"] > 1000
        assert row["model_mdape"] <= 0.9 * row["naive_mdape"], row
        assert 0.75 <= row["coverage_80"] <= 0.88, row


def test_model_beats_naive_on_synthetic_curves() -> None:
    rng = np.random.default_rng(11)
    result = backtest([synthetic_history(rng) for _ in range(300)], (1, 3))
    assert_beats_naive(result.rows())


def sandbox_histories(posts: int = 200, span_h: int = 48, step_min: int = 5) -> list[list[Point]]:
    """Posts seeded on the sandbox, read from `state.metrics` on the tiered schedule while its clock advances."""
    state = SandboxState()
    platforms = sorted(growth.MEDIAN_VIEWS)
    for platform in platforms:
        state.add_account(platform, f"acct-{platform}")
    seeded = [
        state.seed_post(platforms[i % len(platforms)], f"acct-{platforms[i % len(platforms)]}", f"fc{i:04d}")
        for i in range(posts)
    ]
    rng = np.random.default_rng(7)
    due = [float(rng.uniform(0, 10)) for _ in seeded]  # minutes after publishing of each post's next fetch
    out: list[list[Point]] = [[] for _ in seeded]
    for minute in range(0, span_h * 60 + 1, step_min):
        for i, post in enumerate(seeded):
            if minute >= due[i]:
                out[i].append(Point(state.clock.now(), views=state.metrics(post)["views"]))
                every = 15 if minute < 360 else 30 if minute < 1440 else 60
                due[i] = minute + every + int(rng.integers(0, 2)) * step_min
        state.clock.advance(step_min * 60)
    return out


def test_model_beats_naive_on_sandbox_curves() -> None:
    result = backtest(sandbox_histories(), (1, 3))
    assert_beats_naive(result.rows())
