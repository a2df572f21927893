"""Analytics reads within the limit ledger: a shared window is only filled up to analytics' share (the sandbox never
answers 429 and publishing keeps the rest), a full window defers instead of failing, an account with a post due to
publish is not read, and multi-call reservations are all or nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from cliply.analytics import read_limits
from cliply.analytics.read_limits import PUBLISH_GUARD, read_rules, reserve_calls
from cliply.publishing import ledger, limits
from cliply.store import Database, WorkspaceScope, get_or_create_workspace
from cliply.store.models_publishing import LimitEvent
from tests.fixtures.sandbox import RunningSandbox
from tests.test_analytics_refresh import World, make_world


@pytest.fixture
def world(sandbox: RunningSandbox, tmp_path: Path) -> Iterator[World]:
    yield from make_world(f"sqlite:///{tmp_path / 'cliply.db'}", sandbox, tmp_path, analytics_read_share=0.1)


def test_rules_leave_publishing_its_share_of_shared_windows() -> None:
    half, tenth = read_rules(0.5), read_rules(0.1)
    assert half["instagram"][0].limit == 95 and tenth["instagram"][0].limit == 19  # of ~200 calls/user-hour
    assert half["youtube"][0].limit == 4750 and half["youtube"][0].scope == "app"  # of 10,000 units/PT day
    assert half["x"][0].limit == tenth["x"][0].limit == 14  # not shared with publishing: the whole (under) cap
    names = {r.name for rules in half.values() for r in rules}
    publishing = {r.name for rules in limits.DEFAULT_LIMITS.values() for r in rules}
    assert all(n.startswith("read_") for n in names) and not names & publishing
    assert all(r.counts == "calls" for rules in half.values() for r in rules)


def test_a_full_read_window_defers_the_rest_without_a_429(world: World) -> None:
    acct = world.connect("instagram", "ig-1")
    ids = [world.seed("instagram", "ig-1", acct, age=timedelta(days=3)) for _ in range(25)]
    report = world.refresher().refresh("instagram")
    assert (report.calls, report.deferred, report.failures) == (19, 6, 0)  # 10 % of 190 calls per hour
    assert 429 not in world.status_codes("instagram")
    deferred = [world.post(i) for i in ids if world.post(i).last_attempt_at is None]
    assert len(deferred) == 6
    frees = world.now() + timedelta(hours=1, seconds=limits.CALL_SKEW_S)  # the window frees (calls held a bit longer)
    assert all(p.next_fetch_at == frees for p in deferred)
    assert all(p.consecutive_failures == 0 and p.last_error_class is None for p in deferred)
    with world.db.session() as s:
        names = list(s.scalars(select(LimitEvent.name).where(LimitEvent.platform == "instagram")))
        assert names == ["read_calls_hour"] * 19
        # Publishing's own rule is untouched by the reads.
        assert limits.reserve(s, "instagram", acct, world.now()) is None

    world.advance(
        timedelta(hours=1, seconds=limits.CALL_SKEW_S + 1)
    )  # the deferred six are read; the others (warm) wait 6 h
    again = world.refresher().refresh("instagram")
    assert (again.due, again.calls, again.deferred) == (6, 6, 0) and 429 not in world.status_codes("instagram")


def _due_target(db: Database, account_id: int, platform: str, due_in: timedelta, now: datetime) -> None:
    with db.session() as s:
        scope = WorkspaceScope(s, get_or_create_workspace(s, "acme"))
        scope.add_source("src1", "file", "file:///in.mp4", "in.mp4", status="ready")
        clip = scope.replace_clips("src1", [{"start_s": 0.0, "end_s": 4.0, "media_key": "k.mp4"}])[0]
        ledger.create_post(
            scope,
            clip_id=clip.id,
            targets=[ledger.TargetSpec(platform, account_id)],
            scheduled_at=now + due_in,
            timezone="UTC",
        )


def test_an_account_with_a_post_about_to_publish_is_not_read(world: World) -> None:
    busy, idle = world.connect("x", "x-busy"), world.connect("x", "x-idle")
    held = world.seed("x", "x-busy", busy)
    read = world.seed("x", "x-idle", idle)
    _due_target(world.db, busy, "x", timedelta(minutes=5), world.now())

    report = world.refresher().refresh("x")

    assert (report.due, report.snapshots, report.deferred, report.calls) == (2, 1, 1, 1)
    assert world.post(read).last_fetched_at == world.now()
    post = world.post(held)
    assert post.last_attempt_at is None and post.consecutive_failures == 0
    assert post.next_fetch_at == world.now() + timedelta(minutes=5) + PUBLISH_GUARD
    with world.db.session() as s:
        assert read_limits.publishing_due(s, [busy, idle], world.now() + timedelta(hours=2)) == {}


def test_a_multi_call_reservation_is_all_or_nothing(db: Database) -> None:
    now = datetime(2026, 11, 21, 12, tzinfo=UTC)
    rules = {"linkedin": (limits.LimitRule("read_calls_day", "account", 7, reset="utc_midnight", counts="calls"),)}
    with db.session() as s:
        assert reserve_calls(s, "linkedin", 1, now, 5, rules=rules) is None
        until = reserve_calls(s, "linkedin", 1, now, 5, rules=rules)  # 2 left: nothing is taken
        assert until == datetime(2026, 11, 22, tzinfo=UTC)
        assert reserve_calls(s, "linkedin", 1, now, 2, rules=rules) is None
        assert len(list(s.scalars(select(LimitEvent.id)))) == 7
        # Without an account (API key / public reads) only app-wide rules apply.
        assert reserve_calls(s, "linkedin", None, now, 5, rules=rules) is None
