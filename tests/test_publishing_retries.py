"""Retries against the sandbox: every limited call reserved (retries too), refused calls give caps back, transient
bursts wait for later rounds, unknown outcomes reconcile on a back-off and end with a person after failed lookups."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from cliply.publishing import ledger
from cliply.publishing.limits import CALL_SKEW_S, LimitRule
from cliply.publishing.publisher import RetryPolicy
from cliply.publishing.views import target_json
from cliply.store.models_publishing import LimitEvent
from tests.test_publisher import INIT, TIKTOK, VIDEO_LIST, World, _claim_and_attempt, _posts, world  # noqa: F401

SESSION = "/upload/youtube/v3/videos"


def _events(w: World, platform: str, name: str) -> int:
    with w.db.session() as s:
        query = select(func.count()).where(LimitEvent.platform == platform, LimitEvent.name == name)
        return int(s.scalar(query) or 0)


def _json(w: World, tid: str) -> dict[str, Any]:
    return target_json(w.target(tid))


def test_retried_init_calls_are_reserved_so_a_5xx_burst_never_causes_a_429(world: World) -> None:
    w = world
    acct = w.connect("tiktok", "tt-a")
    _, tids = w.post(*[("tiktok", acct, TIKTOK)] * 1)
    _, more = w.post(("tiktok", acct, TIKTOK), caption="Second")
    _, last = w.post(("tiktok", acct, TIKTOK), caption="Third")
    w.sandbox.fault("tiktok", "error", "init", times=6, status=503)

    outcomes = {o.target_id: o for o in w.run("tiktok", concurrency=1)}
    assert [r for r in w.sandbox.state.requests if r.status == 429] == []
    # Our 5-per-minute rule stopped the sixth init: two tries of the second target, none of the third.
    assert _events(w, "tiktok", "init_min") == w.calls("tiktok", "POST", INIT) == 5
    assert (outcomes[tids[0]].state, outcomes[tids[0]].error_class) == ("waiting", "transient")
    assert (outcomes[more[0]].state, outcomes[more[0]].error_class) == ("waiting", "quota")
    assert (outcomes[last[0]].state, outcomes[last[0]].error_class) == ("waiting", "quota")
    assert _events(w, "tiktok", "posts_day") == 0  # refused calls gave the daily cap back
    assert _posts(w, "tiktok") == []


def test_a_transient_burst_waits_for_a_later_round_then_publishes_once(world: World) -> None:
    w = world
    acct = w.connect("tiktok", "tt-a")
    _, [tid] = w.post(("tiktok", acct, TIKTOK))
    w.sandbox.fault("tiktok", "error", "init", times=4, status=503)
    policy = RetryPolicy(retry_delays_s=(60.0,), retry_rounds=2)
    now = datetime.now(UTC)

    [out] = w.run("tiktok", now=now, policy=policy)
    assert (out.state, out.error_class) == ("waiting", "transient") and out.until is not None
    assert timedelta(seconds=60) <= out.until - now < timedelta(seconds=90)
    shown = _json(w, tid)
    assert (shown["state"], shown["wait_reason"], shown["retry_rounds"]) == ("waiting", "transient", 1)
    assert shown["retry_at"] and shown["status_message"].startswith("retrying at ")
    assert w.run("tiktok", now=now + timedelta(seconds=1), policy=policy) == []  # not before the delay

    [later] = w.run("tiktok", now=out.until + timedelta(seconds=1), policy=policy)
    assert later.state == "published" and len(_posts(w, "tiktok")) == 1
    assert w.calls("tiktok", "POST", INIT) == 5  # three tries, then a refused and an accepted one
    assert w.calls("tiktok", "POST", VIDEO_LIST) >= 1  # asked "did it post?" before the later round created
    assert _events(w, "tiktok", "posts_day") == 1


def test_transient_rounds_run_out_then_the_target_fails(world: World) -> None:
    w = world
    acct = w.connect("tiktok", "tt-a")
    _, [tid] = w.post(("tiktok", acct, TIKTOK))
    w.sandbox.fault("tiktok", "error", "init", times=-1, status=503)
    policy = RetryPolicy(retry_delays_s=(60.0,), retry_rounds=1)

    [first] = w.run("tiktok", policy=policy)
    assert first.state == "waiting" and first.until is not None
    # Past the retry delay and past the first round's init calls (held CALL_SKEW_S beyond TikTok's minute).
    [last] = w.run("tiktok", now=first.until + timedelta(seconds=CALL_SKEW_S + 1), policy=policy)
    assert (last.state, last.error_class) == ("failed", "transient")
    assert (w.target(tid).state, w.target(tid).retry_rounds) == ("failed", 1)
    assert _posts(w, "tiktok") == []


def test_a_youtube_429_waits_for_retry_after_and_gives_its_daily_reservation_back(world: World) -> None:
    w = world
    acct = w.connect("youtube", "yt-a")
    _, [tid] = w.post(("youtube", acct, {"privacy": "public"}))
    rules = {"youtube": (LimitRule("uploads_day", "account", 1, reset="pt_midnight"),)}
    w.sandbox.fault("youtube", "rate_limit", "session", retry_after_s=20)
    now = datetime.now(UTC)

    [out] = w.run("youtube", now=now, limit_rules=rules)
    assert (out.state, out.error_class) == ("waiting", "rate") and out.until is not None
    assert out.until - now < timedelta(seconds=60)  # the platform's Retry-After, not Pacific midnight
    assert _events(w, "youtube", "uploads_day") == 0

    [later] = w.run("youtube", now=out.until + timedelta(seconds=1), limit_rules=rules)
    assert later.state == "published" and len(_posts(w, "youtube")) == 1
    assert _events(w, "youtube", "uploads_day") == 1 and w.target(tid).state == "published"


def test_failed_lookups_back_off_then_the_target_needs_a_person_until_retried(world: World) -> None:
    w = world
    acct = w.connect("tiktok", "tt-a")
    _, [tid] = w.post(("tiktok", acct, TIKTOK))
    _claim_and_attempt(w, tid)  # a crashed attempt: reconcile before anything else
    w.sandbox.fault("tiktok", "error", "video_list", status=500, times=3)
    policy = RetryPolicy(reconcile_delays_s=(0.0,), reconcile_max_failures=3)
    told: list[tuple[str, dict[str, Any]]] = []
    notify = lambda event, **fields: told.append((event, fields))  # noqa: E731
    now = datetime.now(UTC) + timedelta(seconds=61)  # the dead worker's lease has run out

    # Due again at once (no delay), yet a lingering run leaves it to a later run.
    outcomes = w.run("tiktok", now=now, policy=policy, notify=notify, linger_s=1.0, poll_s=0.1, max_run_s=30)
    assert [o.state for o in outcomes] == ["unknown_outcome"]
    later = now + timedelta(seconds=30)
    assert [o.state for o in w.run("tiktok", now=later, policy=policy, notify=notify)] == ["unknown_outcome"]
    [out] = w.run("tiktok", now=later + timedelta(seconds=30), policy=policy, notify=notify)
    assert out.state == "needs_attention" and "cliply posts retry" in out.message
    assert [event for event, _ in told] == ["publish_needs_attention"] and told[0][1]["target_id"] == tid
    shown = _json(w, tid)
    assert shown["needs_attention"] and shown["reconcile_failures"] == 3 and shown["status_message"]
    assert w.run("tiktok", now=now + timedelta(days=1), policy=policy) == []  # never claimed on its own
    assert w.calls("tiktok", "POST", INIT) == 0

    with w.db.session() as s:
        ledger.retry_target(w.scope(s), tid)
    [again] = w.run("tiktok", policy=policy)
    assert again.state == "published" and len(_posts(w, "tiktok")) == 1
    assert w.target(tid).reconcile_failures == 0


def test_backoff_is_the_default_for_unknown_outcomes(world: World) -> None:
    w = world
    w.configs["tiktok"] = {"timeout_s": 0.5}
    acct = w.connect("tiktok", "tt-a")
    _, [tid] = w.post(("tiktok", acct, TIKTOK))
    w.sandbox.fault("tiktok", "lost_response", "init", delay_s=1.5)
    policy = RetryPolicy(reconcile_delays_s=(120.0,))

    [out] = w.run("tiktok", policy=policy)
    assert out.state == "unknown_outcome" and out.until is not None
    assert w.sandbox.state.wait_idle()
    assert w.run("tiktok", now=datetime.now(UTC) + timedelta(seconds=60), policy=policy) == []
    assert _json(w, tid)["status_message"].startswith("checking whether it posted")
    [again] = w.run("tiktok", now=out.until + timedelta(seconds=1), policy=policy)
    assert again.state == "published" and len(_posts(w, "tiktok")) == 1


def test_posts_show_json_has_the_publish_id_and_platform_status(world: World) -> None:
    w = world
    acct = w.connect("tiktok", "tt-a")
    _, [tid] = w.post(("tiktok", acct, TIKTOK))
    [out] = w.run("tiktok")
    assert out.state == "published"
    shown = _json(w, tid)
    assert shown["publish_id"] and shown["platform_status"]
    assert "handle" not in shown and "session_uri" not in str(shown)
