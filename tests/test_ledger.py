"""Posts ledger on both backends: scoping, the per-target state machine, atomic claiming, crash recovery."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from cliply.platforms.errors import ErrorClass
from cliply.platforms.models import PublishResult
from cliply.publishing.ledger import (
    InvalidTransition,
    LeaseLost,
    TargetSpec,
    advance,
    aggregate_status,
    cancel_post,
    claim_due,
    create_post,
    due_counts,
    heartbeat,
    list_targets,
    mark_attempt,
    mark_failed,
    mark_published,
    mark_unknown,
    mark_waiting,
    record_handle,
    refresh_aggregate,
    release,
    retry_target,
    start_attempt,
)
from cliply.store import Database, NotFound, WorkspaceScope, get_or_create_workspace
from cliply.store.models_accounts import Account
from cliply.store.models_publishing import Post, PostTarget
from tests.helpers import run_threads

T0 = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
ALL_STATES = (
    "scheduled",
    "claimed",
    "uploading",
    "processing",
    "publishing",
    "published",
    "failed",
    "waiting",
    "unknown_outcome",
    "cancelled",
)


@dataclass
class World:
    a: int  # workspace ids
    b: int
    clip_a: str
    clip_b: str
    acct: dict[str, int]  # workspace a: platform -> account id
    acct_b: int  # workspace b's youtube account


def _account(s, ws: int, platform: str, ext: str) -> int:  # type: ignore[no-untyped-def]
    acct = Account(
        workspace_id=ws,
        platform=platform,
        handle=ext,
        external_id=ext,
        status="connected",
        access_token_enc="enc",
        scopes=[],
        extra={},
    )
    s.add(acct)
    s.flush()
    return acct.id


@pytest.fixture
def world(db: Database) -> World:
    with db.session() as s:
        ids = {}
        clips = {}
        for name in ("a", "b"):
            scope = WorkspaceScope(s, get_or_create_workspace(s, name))
            scope.add_source(f"src_{name}", "file", f"/in/{name}.mp4", f"{name}.mp4")
            clips[name] = scope.replace_clips(f"src_{name}", [{"start_s": 0.0, "end_s": 10.0}])[0].id
            ids[name] = scope.workspace_id
        acct = {p: _account(s, ids["a"], p, f"a-{p}") for p in ("youtube", "tiktok", "x")}
        acct_b = _account(s, ids["b"], "youtube", "b-youtube")
    return World(ids["a"], ids["b"], clips["a"], clips["b"], acct, acct_b)


def _scope(s, name: str = "a") -> WorkspaceScope:  # type: ignore[no-untyped-def]
    return WorkspaceScope(s, get_or_create_workspace(s, name))


def _post(
    db: Database, w: World, platforms: tuple[str, ...] = ("youtube",), at: datetime = T0
) -> tuple[str, list[str]]:
    with db.session() as s:
        post = create_post(
            _scope(s),
            clip_id=w.clip_a,
            scheduled_at=at,
            timezone="Europe/Berlin",
            caption="hi",
            targets=[TargetSpec(p, w.acct[p]) for p in platforms],
        )
        return post.id, [t.id for t in list_targets(_scope(s), post.id)]


def _target(db: Database, target_id: str) -> PostTarget:
    with db.session() as s:
        return s.get(PostTarget, target_id)  # type: ignore[return-value]


def _count(db: Database, model: type) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


# --- create_post ---


def test_create_post_makes_one_scheduled_target_per_account(db: Database, world: World) -> None:
    with db.session() as s:
        post = create_post(
            _scope(s),
            clip_id=world.clip_a,
            scheduled_at=T0,
            timezone="America/New_York",
            caption="base",
            targets=[
                TargetSpec("youtube", world.acct["youtube"], title="T", options={"privacy": "public"}),
                TargetSpec("x", world.acct["x"], caption="short"),
            ],
        )
        assert post.id.startswith("post_") and post.status == "scheduled"
        targets = {t.platform: t for t in list_targets(_scope(s), post.id)}
    assert targets["youtube"].caption == "base" and targets["youtube"].title == "T"
    assert targets["youtube"].options == {"privacy": "public"}
    assert targets["x"].caption == "short"
    for t in targets.values():
        assert t.id.startswith("tgt_") and t.state == "scheduled" and t.due_at == T0 and t.attempts == 0
        assert t.workspace_id == world.a


@pytest.mark.parametrize("case", ["foreign_clip", "foreign_account", "one_foreign_of_two", "missing_clip"])
def test_create_post_rejects_another_workspaces_clip_or_account(db: Database, world: World, case: str) -> None:
    clip = {"foreign_clip": world.clip_b, "missing_clip": "nope"}.get(case, world.clip_a)
    targets = {
        "foreign_account": [TargetSpec("youtube", world.acct_b)],
        "one_foreign_of_two": [TargetSpec("x", world.acct["x"]), TargetSpec("youtube", world.acct_b)],
    }.get(case, [TargetSpec("youtube", world.acct["youtube"])])
    with pytest.raises(NotFound), db.session() as s:
        create_post(_scope(s), clip_id=clip, targets=targets, scheduled_at=T0, timezone="UTC")
    assert _count(db, Post) == 0 and _count(db, PostTarget) == 0


def test_create_post_validates_inputs(db: Database, world: World) -> None:
    yt = [TargetSpec("youtube", world.acct["youtube"])]
    bad: list[tuple[Callable[[WorkspaceScope], object], str]] = [
        (
            lambda sc: create_post(
                sc,
                clip_id=world.clip_a,
                targets=[TargetSpec("tiktok", world.acct["youtube"])],
                scheduled_at=T0,
                timezone="UTC",
            ),
            "not tiktok",
        ),
        (
            lambda sc: create_post(sc, clip_id=world.clip_a, targets=yt, scheduled_at=T0, timezone="Mars/Base"),
            "timezone",
        ),
        (
            lambda sc: create_post(
                sc, clip_id=world.clip_a, targets=yt, scheduled_at=T0.replace(tzinfo=None), timezone="UTC"
            ),
            "timezone-aware",
        ),
        (lambda sc: create_post(sc, clip_id=world.clip_a, targets=yt * 2, scheduled_at=T0, timezone="UTC"), "twice"),
        (lambda sc: create_post(sc, clip_id=world.clip_a, targets=[], scheduled_at=T0, timezone="UTC"), "at least"),
    ]
    for call, message in bad:
        with pytest.raises(ValueError, match=message), db.session() as s:
            call(_scope(s))
    assert _count(db, Post) == 0 and _count(db, PostTarget) == 0


# --- state machine ---

# Written out independently of the module's table: which source states each operation accepts.
ALLOWED = {
    "attempt": {"claimed"},
    "processing": {"uploading", "processing"},
    "publishing": {"uploading", "processing", "publishing"},
    "published": {"claimed", "uploading", "processing", "publishing", "unknown_outcome"},
    "waiting": {"claimed", "uploading", "processing", "publishing"},
    "failed": {"claimed", "uploading", "processing", "publishing", "unknown_outcome"},
    "unknown_outcome": {"claimed", "uploading", "processing", "publishing"},
    "release": {"claimed"},
    "retry": {"failed"},
    "record_handle": {"claimed", "uploading", "processing", "publishing", "unknown_outcome"},
}
RESULT_STATE = {"attempt": "uploading", "release": "scheduled", "retry": "scheduled"}


def _force_state(db: Database, target_id: str, state: str) -> None:
    with db.session() as s:
        t = s.get(PostTarget, target_id)
        assert t is not None
        t.state = state
        leased = state in ("claimed", "uploading", "processing", "publishing")
        t.claimed_by = "w1" if leased else None
        t.claimed_until = T0 + timedelta(seconds=300) if leased else None
        t.attempt_started_at = T0 if state in ("uploading", "processing", "publishing", "unknown_outcome") else None


def _apply(s, op: str, target_id: str) -> None:  # type: ignore[no-untyped-def]
    now = T0 + timedelta(seconds=1)
    match op:
        case "attempt":
            mark_attempt(s, target_id, "w1", now=now)
        case "processing" | "publishing":
            advance(s, target_id, op, now=now)
        case "published":
            mark_published(s, target_id, PublishResult("youtube", "vid1", "https://y/vid1"), now=now)
        case "waiting":
            mark_waiting(s, target_id, reason="rate", until=T0 + timedelta(hours=1), message="429", now=now)
        case "failed":
            mark_failed(s, target_id, error_class=ErrorClass.CONTENT_REJECTED, message="no", now=now)
        case "unknown_outcome":
            mark_unknown(s, target_id, "timeout", now=now)
        case "release":
            release(s, target_id, now=now)
        case "retry":
            retry_target(_scope(s), target_id, now=now)
        case "record_handle":
            record_handle(s, target_id, publish_id="p1")


@pytest.mark.parametrize("op", sorted(ALLOWED))
def test_every_transition_is_validated(db: Database, world: World, op: str) -> None:
    _, (target_id,) = _post(db, world)
    for state in ALL_STATES:
        _force_state(db, target_id, state)
        if state in ALLOWED[op]:
            with db.session() as s:
                _apply(s, op, target_id)
            expected = state if op == "record_handle" else RESULT_STATE.get(op, op)
            assert _target(db, target_id).state == expected, (op, state)
        else:
            with pytest.raises(InvalidTransition), db.session() as s:
                _apply(s, op, target_id)
            assert _target(db, target_id).state == state, (op, state)  # rolled back, untouched


def test_happy_path_records_attempt_handles_and_result(db: Database, world: World) -> None:
    post_id, (tid,) = _post(db, world)
    with db.session() as s:
        (t,) = claim_due(s, "youtube", now=T0, limit=10, worker_id="w1")
        assert not t.recovering
    assert start_attempt(db, tid, "w1", now=T0) == 1
    with db.session() as s:
        record_handle(s, tid, session_uri="https://upload/1")
        record_handle(s, tid, video_id="v1")
        advance(s, tid, "processing")
        assert refresh_aggregate(s, post_id) == "processing"
        mark_published(s, tid, PublishResult("youtube", "v1", "https://youtu.be/v1"), now=T0 + timedelta(minutes=2))
        assert refresh_aggregate(s, post_id) == "posted"
    t = _target(db, tid)
    assert (t.state, t.platform_post_id, t.url, t.attempts) == ("published", "v1", "https://youtu.be/v1", 1)
    assert t.handle == {"session_uri": "https://upload/1", "video_id": "v1", "platform_status": "published"}
    assert t.claimed_by is None and t.published_at == T0 + timedelta(minutes=2)


def test_mark_attempt_requires_the_live_lease(db: Database, world: World) -> None:
    _, (tid,) = _post(db, world)
    with db.session() as s:
        claim_due(s, "youtube", now=T0, limit=1, worker_id="w1", lease_s=60)
    with pytest.raises(LeaseLost), db.session() as s:
        mark_attempt(s, tid, "w2", now=T0)
    with pytest.raises(LeaseLost), db.session() as s:
        mark_attempt(s, tid, "w1", now=T0 + timedelta(seconds=60))
    assert _target(db, tid).attempts == 0


def test_mark_attempt_is_committed_when_the_unit_of_work_ends(db: Database, world: World) -> None:
    _, (tid,) = _post(db, world)
    with db.session() as s:
        claim_due(s, "youtube", now=T0, limit=1, worker_id="w1")
    with db.session() as s:
        assert mark_attempt(s, tid, "w1", now=T0) == 1
    other = Database(db.url)  # a separate engine: nothing shared with the writer but the database
    try:
        with other.session() as s:
            t = s.get(PostTarget, tid)
            assert t is not None and (t.state, t.attempts, t.attempt_started_at) == ("uploading", 1, T0)
    finally:
        other.dispose()


# --- claiming ---


def test_claim_due_returns_only_due_rows_of_the_platform_and_leases_them(db: Database, world: World) -> None:
    _, (x_due, yt_due) = _post(db, world, ("youtube", "x"))  # list_targets orders by platform
    _, (yt_later,) = _post(db, world, ("youtube",), at=T0 + timedelta(hours=1))
    _, (yt_earlier,) = _post(db, world, ("youtube",), at=T0 - timedelta(hours=1))
    with db.session() as s:
        got = claim_due(s, "youtube", now=T0, limit=10, worker_id="w1", lease_s=120)
    assert [t.id for t in got] == [yt_earlier, yt_due]  # oldest due first
    for t in got:
        assert (t.state, t.claimed_by, t.claimed_until) == ("claimed", "w1", T0 + timedelta(seconds=120))
    assert _target(db, yt_later).state == "scheduled" and _target(db, x_due).state == "scheduled"
    with db.session() as s:  # still leased: never handed out twice
        assert claim_due(s, "youtube", now=T0 + timedelta(seconds=119), limit=10, worker_id="w2") == []
        assert [t.id for t in claim_due(s, "x", now=T0, limit=10, worker_id="w2")] == [x_due]


def test_claim_due_respects_limit(db: Database, world: World) -> None:
    for i in range(5):
        _post(db, world, at=T0 - timedelta(minutes=i))
    with db.session() as s:
        assert len(claim_due(s, "youtube", now=T0, limit=3, worker_id="w1")) == 3
        assert len(claim_due(s, "youtube", now=T0, limit=3, worker_id="w2")) == 2
        assert claim_due(s, "youtube", now=T0, limit=0, worker_id="w3") == []


def test_concurrent_claimers_take_every_target_exactly_once(db: Database, world: World) -> None:
    n_targets = 200
    threads = 8 if db.dialect == "postgresql" else 4
    with db.session() as s:
        scope = _scope(s)
        expected = set()
        for i in range(n_targets):
            post = create_post(
                scope,
                clip_id=world.clip_a,
                scheduled_at=T0 - timedelta(seconds=i),
                timezone="UTC",
                targets=[TargetSpec("youtube", world.acct["youtube"])],
            )
            expected |= {t.id for t in list_targets(scope, post.id)}
    claimed: dict[int, list[str]] = {i: [] for i in range(threads)}

    def work(i: int) -> None:
        while True:
            with db.session() as s:
                batch = [t.id for t in claim_due(s, "youtube", now=T0, limit=7, worker_id=f"w{i}")]
            if not batch:
                return
            claimed[i].extend(batch)

    run_threads(threads, work)
    everything = [tid for ids in claimed.values() for tid in ids]
    assert len(everything) == len(set(everything)) == n_targets  # no duplicates
    assert set(everything) == expected  # none lost
    with db.session() as s:
        owners = dict(s.execute(select(PostTarget.id, PostTarget.claimed_by)).tuples().all())
    for i, ids in claimed.items():
        assert all(owners[tid] == f"w{i}" for tid in ids)


def test_expired_lease_returns_crashed_rows_flagged_for_reconciliation(db: Database, world: World) -> None:
    _, (crashed,) = _post(db, world)
    _, (idle,) = _post(db, world)
    with db.session() as s:
        claim_due(s, "youtube", now=T0, limit=10, worker_id="w1", lease_s=300)
        mark_attempt(s, crashed, "w1", now=T0)
        record_handle(s, crashed, session_uri="https://upload/9")
    with db.session() as s:  # lease still live
        assert claim_due(s, "youtube", now=T0 + timedelta(seconds=299), limit=10, worker_id="w2") == []
    with db.session() as s:
        got = {t.id: t for t in claim_due(s, "youtube", now=T0 + timedelta(seconds=301), limit=10, worker_id="w2")}
    assert set(got) == {crashed, idle}
    assert got[crashed].recovering and got[crashed].handle["session_uri"] == "https://upload/9"
    assert not got[idle].recovering  # claimed but never attempted: nothing to reconcile
    assert got[crashed].state == "claimed" and got[crashed].claimed_by == "w2"
    with db.session() as s:  # reconciliation found nothing: a fresh attempt clears the marker
        assert mark_attempt(s, crashed, "w2", now=T0 + timedelta(seconds=302)) == 2
    assert not _target(db, crashed).recovering


def test_unknown_outcome_is_reclaimed_next_tick_as_recovering(db: Database, world: World) -> None:
    _, (tid,) = _post(db, world)
    with db.session() as s:
        claim_due(s, "youtube", now=T0, limit=1, worker_id="w1")
        mark_attempt(s, tid, "w1", now=T0)
        mark_unknown(s, tid, "socket timeout", now=T0)
    with db.session() as s:
        (t,) = claim_due(s, "youtube", now=T0 + timedelta(seconds=1), limit=1, worker_id="w2")
        assert t.recovering and t.error_class == "unknown_outcome"
        release(s, t.id)  # a recovering claim given back stays "needs reconciliation"
    assert _target(db, tid).state == "unknown_outcome"


def test_waiting_targets_become_due_again_at_until(db: Database, world: World) -> None:
    _, (tid,) = _post(db, world)
    until = T0 + timedelta(hours=3)
    with db.session() as s:
        claim_due(s, "youtube", now=T0, limit=1, worker_id="w1")
        mark_waiting(s, tid, reason="quota", until=until, message="daily cap")
    t = _target(db, tid)
    assert (t.state, t.wait_reason, t.due_at, t.claimed_by) == ("waiting", "quota", until, None)
    with db.session() as s:
        assert claim_due(s, "youtube", now=until - timedelta(microseconds=1), limit=1, worker_id="w2") == []
        assert due_counts(s, until - timedelta(seconds=1)) == {}
        assert [t.id for t in claim_due(s, "youtube", now=until, limit=1, worker_id="w2")] == [tid]
    with pytest.raises(ValueError), db.session() as s:
        mark_waiting(s, tid, reason="bored", until=until)


# --- tenant operations ---


def test_cancel_only_affects_targets_not_started(db: Database, world: World) -> None:
    post_id, ids = _post(db, world, ("youtube", "tiktok", "x"))
    by_platform = {_target(db, i).platform: i for i in ids}
    with db.session() as s:
        claim_due(s, "tiktok", now=T0, limit=1, worker_id="w1")
        claim_due(s, "x", now=T0, limit=1, worker_id="w1")
        mark_attempt(s, by_platform["x"], "w1", now=T0)
    with pytest.raises(NotFound), db.session() as s:
        cancel_post(_scope(s, "b"), post_id)
    with db.session() as s:
        assert cancel_post(_scope(s), post_id).status == "processing"
    states = {p: _target(db, i).state for p, i in by_platform.items()}
    assert states == {"youtube": "cancelled", "tiktok": "cancelled", "x": "uploading"}
    with pytest.raises(InvalidTransition), db.session() as s:  # the claimer of tiktok must not go on
        mark_attempt(s, by_platform["tiktok"], "w1", now=T0)
    with db.session() as s:
        mark_failed(s, by_platform["x"], error_class="content_rejected", message="nope")
        assert refresh_aggregate(s, post_id) == "failed"


def test_retry_target_makes_a_failed_target_due_now(db: Database, world: World) -> None:
    post_id, (tid,) = _post(db, world)
    with db.session() as s:
        claim_due(s, "youtube", now=T0, limit=1, worker_id="w1")
        mark_attempt(s, tid, "w1", now=T0)
        mark_failed(s, tid, error_class=ErrorClass.TRANSIENT, message="500s")
        assert refresh_aggregate(s, post_id) == "failed"
    later = T0 + timedelta(days=1)
    with pytest.raises(NotFound), db.session() as s:
        retry_target(_scope(s, "b"), tid)
    with db.session() as s:
        t = retry_target(_scope(s), tid, now=later)
        assert (t.state, t.due_at, t.error_class, t.error_message) == ("scheduled", later, None, None)
        assert s.get(Post, post_id).status == "scheduled"  # type: ignore[union-attr]
    with pytest.raises(InvalidTransition), db.session() as s:
        retry_target(_scope(s), tid)
    with db.session() as s:
        (again,) = claim_due(s, "youtube", now=later, limit=1, worker_id="w2")
        # The failed attempt may have reached the platform: the retry reconciles before any new create.
        assert again.recovering and again.attempts == 1


@pytest.mark.parametrize(
    ("states", "status"),
    [
        (["published"], "posted"),
        (["published", "published"], "posted"),
        (["published", "failed"], "partial"),
        (["published", "cancelled"], "partial"),
        (["published", "failed", "cancelled"], "partial"),
        (["failed"], "failed"),
        (["failed", "cancelled"], "failed"),
        (["cancelled", "cancelled"], "cancelled"),
        (["scheduled"], "scheduled"),
        (["scheduled", "waiting"], "scheduled"),
        (["waiting", "cancelled"], "scheduled"),
        (["claimed", "scheduled"], "processing"),
        (["uploading"], "processing"),
        (["processing", "published"], "processing"),
        (["publishing"], "processing"),
        (["unknown_outcome", "published"], "processing"),
        (["published", "scheduled"], "processing"),
        (["failed", "waiting"], "processing"),
    ],
)
def test_aggregate_status(states: list[str], status: str) -> None:
    assert aggregate_status(states) == status


def test_refresh_aggregate_persists_the_post_status(db: Database, world: World) -> None:
    post_id, ids = _post(db, world, ("youtube", "x"))
    with db.session() as s:
        for t in claim_due(s, "youtube", now=T0, limit=1, worker_id="w") + claim_due(
            s, "x", now=T0, limit=1, worker_id="w"
        ):
            mark_attempt(s, t.id, "w", now=T0)
        mark_published(s, ids[0], PublishResult("p", "1"))
        mark_failed(s, ids[1], error_class="config", message="app not approved")
        assert refresh_aggregate(s, post_id) == "partial"
    with db.session() as s:
        assert s.get(Post, post_id).status == "partial"  # type: ignore[union-attr]


def test_due_counts_per_platform(db: Database, world: World) -> None:
    _post(db, world, ("youtube", "tiktok", "x"))
    _post(db, world, ("youtube",))
    _post(db, world, ("x",), at=T0 + timedelta(hours=1))  # not yet due
    with db.session() as s:
        assert due_counts(s, T0) == {"youtube": 2, "tiktok": 1, "x": 1}
        claim_due(s, "youtube", now=T0, limit=1, worker_id="w1", lease_s=60)
    with db.session() as s:
        assert due_counts(s, T0) == {"youtube": 1, "tiktok": 1, "x": 1}
        # the expired lease is due again (crash recovery), and the later x post is now due
        assert due_counts(s, T0 + timedelta(hours=1)) == {"youtube": 2, "tiktok": 1, "x": 2}


def test_cancel_matrix_only_unstarted_states_change(db: Database, world: World) -> None:
    post_id, (tid,) = _post(db, world)
    for state in ALL_STATES:
        _force_state(db, tid, state)
        with db.session() as s:
            cancel_post(_scope(s), post_id)
        expected = "cancelled" if state in ("scheduled", "waiting", "claimed") else state
        assert _target(db, tid).state == expected, state


def test_rerendering_a_clip_with_posts_keeps_the_post(db: Database, world: World) -> None:
    post_id, _ = _post(db, world)
    with db.session() as s:  # replace_clips deletes and re-inserts the same ids in one transaction
        _scope(s).replace_clips("src_a", [{"start_s": 1.0, "end_s": 9.0}])
    with db.session() as s:
        assert s.get(Post, post_id).clip_id == world.clip_a  # type: ignore[union-attr]


def test_heartbeat_extends_only_a_live_lease_of_its_owner(db: Database, world: World) -> None:
    _, (tid,) = _post(db, world)
    with db.session() as s:
        claim_due(s, "youtube", now=T0, limit=1, worker_id="w1", lease_s=60)
        mark_attempt(s, tid, "w1", now=T0, lease_s=60)
        heartbeat(s, tid, "w1", now=T0 + timedelta(seconds=50), lease_s=60)
    assert _target(db, tid).claimed_until == T0 + timedelta(seconds=110)
    with db.session() as s:  # not expired at the old deadline any more
        assert claim_due(s, "youtube", now=T0 + timedelta(seconds=61), limit=1, worker_id="w2") == []
    with pytest.raises(LeaseLost), db.session() as s:
        heartbeat(s, tid, "w2", now=T0 + timedelta(seconds=60))
    with pytest.raises(LeaseLost), db.session() as s:
        heartbeat(s, tid, "w1", now=T0 + timedelta(seconds=110))
    with pytest.raises(ValueError), db.session() as s:
        advance(s, tid, "published")
