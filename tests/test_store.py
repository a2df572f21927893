"""App database on both backends (SQLite file and a throwaway PostgreSQL): migrations, isolation, usage, plans."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from cliply.plans import PLANS, PlanLimitExceeded, current_period, get_plan
from cliply.store import (
    Database,
    NotFound,
    SourceExists,
    WorkspaceScope,
    get_or_create_workspace,
    normalize_url,
    source_owner,
    sources_with_status,
)
from cliply.store.models import Base
from tests.helpers import run_threads

APP_TABLES = {"workspaces", "sources", "transcripts", "clips", "usage_records"}
PERIOD = "2025-11"

MIGRATIONS = Path(__file__).resolve().parents[1] / "cliply" / "store" / "migrations" / "versions"


def _tables(database: Database) -> set[str]:
    return set(inspect(database.engine).get_table_names())


def test_migrations_apply_from_empty_and_are_idempotent(db_url: str) -> None:
    database = Database(db_url)
    try:
        assert database.check() is True
        assert database.current_revision() is None
        assert not (_tables(database) & APP_TABLES)
        database.migrate()
        assert _tables(database) >= APP_TABLES
        assert database.is_current()
        database.migrate()  # second run is a no-op, not an error
        assert database.current_revision() == database.head_revision()
        assert database.head_revision() == sorted(p.stem.split("_")[0] for p in MIGRATIONS.glob("0*.py"))[-1]
    finally:
        database.dispose()


def test_models_match_migrations(db: Database) -> None:
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == [], f"models and migrations disagree; add a migration: {diff}"


def test_downgrade_base_then_upgrade_head_round_trip(db: Database) -> None:
    with db.session() as s:
        WorkspaceScope(s, get_or_create_workspace(s, "acme")).add_source("src_1", "file", "/in/a.mp4", "a.mp4")
    db.downgrade("base")
    assert db.current_revision() is None
    assert not (_tables(db) & APP_TABLES)
    db.migrate()
    assert db.is_current()
    with db.session() as s:
        assert sources_with_status(s, "registered") == []
        ws = get_or_create_workspace(s, "acme")
        WorkspaceScope(s, ws).add_source("src_1", "file", "/in/a.mp4", "a.mp4")


def _seed_workspace_a(db: Database) -> None:
    with db.session() as s:
        a = WorkspaceScope(s, get_or_create_workspace(s, "a"))
        a.add_source("src_a", "inbox", "inbox/talk.mp4", "talk.mp4")
        a.save_transcript("src_a", language="en", engine="faster-whisper", word_count=10)
        a.replace_clips("src_a", [{"start_s": 0.0, "end_s": 20.0, "text": "hello"}])


def test_workspace_b_cannot_see_or_change_workspace_a_data(db: Database) -> None:
    _seed_workspace_a(db)
    with db.session() as s:
        b = WorkspaceScope(s, get_or_create_workspace(s, "b", plan="pro"))
        assert b.get_source("src_a") is None
        assert b.list_sources() == []
        assert b.get_transcript("src_a") is None
        assert b.list_clips() == []
        assert b.list_clips("src_a") == []
        with pytest.raises(NotFound):
            b.update_source("src_a", status="ready", media_key="stolen")
        with pytest.raises(NotFound):
            b.reject_source("src_a", "evil", "B tries to reject A's source")
        with pytest.raises(NotFound):
            b.save_transcript("src_a", language="xx")
        with pytest.raises(NotFound):
            b.replace_clips("src_a", [])
        with pytest.raises(SourceExists):
            b.add_source("src_a", "file", "/b.mp4", "b.mp4")
        b.record_usage(PERIOD, clips=5)

    with db.session() as s:
        owner = source_owner(s, "src_a")
        assert owner is not None and owner.name == "a"
        a = WorkspaceScope(s, owner)
        src = a.get_source("src_a")
        assert src is not None and src.status == "registered" and src.media_key is None
        transcript = a.get_transcript("src_a")
        assert transcript is not None and transcript.language == "en"
        assert [c.text for c in a.list_clips("src_a")] == ["hello"]
        assert a.usage(PERIOD).clips == 0
        assert source_owner(s, "src_missing") is None


def test_reject_source_records_code_and_reason(db: Database) -> None:
    with db.session() as s:
        ws = WorkspaceScope(s, get_or_create_workspace(s, "acme"))
        ws.add_source("src_bad", "file", "/in/notes.txt", "notes.txt")
        ws.add_source("src_ok", "url", "https://example.com/v", "v")
    with db.session() as s:
        ws = WorkspaceScope(s, get_or_create_workspace(s, "acme"))
        ws.reject_source("src_bad", "not_video", "no video stream found in notes.txt")
    with db.session() as s:
        ws = WorkspaceScope(s, get_or_create_workspace(s, "acme"))
        src = ws.get_source("src_bad")
        assert src is not None
        assert (src.status, src.reject_code, src.reject_reason) == (
            "rejected",
            "not_video",
            "no video stream found in notes.txt",
        )
        assert [x.id for x in ws.list_sources(status="rejected")] == ["src_bad"]
        assert [x.id for x in sources_with_status(s, "registered", limit=10)] == ["src_ok"]
        assert src.created_at.tzinfo is not None and src.created_at.utcoffset().total_seconds() == 0
        assert src.updated_at >= src.created_at
        with pytest.raises(ValueError, match="status"):
            ws.update_source("src_ok", status="bogus")
        with pytest.raises(ValueError, match="workspace_id"):
            ws.update_source("src_ok", workspace_id=999)


def test_replace_clips_is_idempotent(db: Database) -> None:
    clips = [
        {"start_s": 10.0, "end_s": 40.0, "score": 0.9, "reasons": ["hook", "question"]},
        {"start_s": 60.0, "end_s": 90.0, "score": 0.7, "reasons": []},
    ]
    with db.session() as s:
        ws = WorkspaceScope(s, get_or_create_workspace(s, "acme"))
        ws.add_source("src_1", "file", "/a.mp4", "a.mp4")
        ws.add_source("src_2", "file", "/b.mp4", "b.mp4")
        ws.replace_clips("src_2", [{"start_s": 0.0, "end_s": 15.0}])
        ws.replace_clips("src_1", clips)
    with db.session() as s:
        ws = WorkspaceScope(s, get_or_create_workspace(s, "acme"))
        ws.replace_clips("src_1", clips)
    with db.session() as s:
        ws = WorkspaceScope(s, get_or_create_workspace(s, "acme"))
        got = ws.list_clips("src_1")
        assert [(c.id, c.rank, c.reasons) for c in got] == [
            ("src_1-c01", 1, ["hook", "question"]),
            ("src_1-c02", 2, []),
        ]
        ws.replace_clips("src_1", clips[1:])
        assert [c.start_s for c in ws.list_clips("src_1")] == [60.0]
        assert [c.id for c in ws.list_clips("src_2")] == ["src_2-c01"]
        assert len(ws.list_clips()) == 2


def test_usage_increments_per_period(db: Database) -> None:
    with db.session() as s:
        ws = WorkspaceScope(s, get_or_create_workspace(s, "acme"))
        empty = ws.usage(PERIOD)
        assert (empty.source_minutes, empty.clips, empty.projects) == (0, 0, 0)
        ws.record_usage(PERIOD, source_minutes=12.5, projects=1)
        rec = ws.record_usage(PERIOD, source_minutes=2.25, clips=5)
        assert (rec.source_minutes, rec.clips, rec.projects) == (14.75, 5, 1)
        ws.record_usage("2025-12", clips=1)
        with pytest.raises(ValueError, match="YYYY-MM"):
            ws.record_usage("2025-13", clips=1)
    with db.session() as s:
        ws = WorkspaceScope(s, get_or_create_workspace(s, "acme"))
        assert (ws.usage(PERIOD).clips, ws.usage("2025-12").clips) == (5, 1)


def test_concurrent_usage_increments_land_exactly(db: Database) -> None:
    threads, per_thread = 8, 15
    with db.session() as s:
        get_or_create_workspace(s, "acme")

    def work(_: int) -> None:
        for _ in range(per_thread):
            with db.session() as s:
                WorkspaceScope(s, get_or_create_workspace(s, "acme")).record_usage(
                    PERIOD, source_minutes=0.5, clips=1, projects=2
                )

    run_threads(threads, work)
    with db.session() as s:
        rec = WorkspaceScope(s, get_or_create_workspace(s, "acme")).usage(PERIOD)
        n = threads * per_thread
        assert (rec.source_minutes, rec.clips, rec.projects) == (0.5 * n, n, 2 * n)


def test_check_plan_raises_at_the_limit(db: Database) -> None:
    free = get_plan("free")
    with db.session() as s:
        ws = WorkspaceScope(s, get_or_create_workspace(s, "acme"))
        ws.record_usage(PERIOD, projects=free.projects_per_month - 1, source_minutes=50)
        ws.check_plan(PERIOD, projects=1)  # reaching the limit exactly is allowed
        ws.record_usage(PERIOD, projects=1)
        with pytest.raises(PlanLimitExceeded) as info:
            ws.check_plan(PERIOD, projects=1)
        err = info.value
        assert (err.limit, err.used, err.requested, err.allowed) == ("projects", 10, 1, 10)
        assert str(err) == "monthly projects limit of the 'free' plan reached: 10 used + 1 requested > 10 allowed"
        with pytest.raises(PlanLimitExceeded, match="source minutes"):
            ws.check_plan(PERIOD, source_minutes=10.5)
        ws.check_plan(PERIOD, source_minutes=10, clips=free.clips_per_month)
        assert ws.usage(PERIOD).projects == 10  # checking never records


def test_consume_is_atomic_under_concurrency(db: Database) -> None:
    attempts = 14
    with db.session() as s:
        get_or_create_workspace(s, "acme")
    refused: list[PlanLimitExceeded] = []

    def work(_: int) -> None:
        try:
            with db.session() as s:
                WorkspaceScope(s, get_or_create_workspace(s, "acme")).consume(PERIOD, projects=1)
        except PlanLimitExceeded as exc:
            refused.append(exc)

    run_threads(attempts, work)
    limit = get_plan("free").projects_per_month
    assert len(refused) == attempts - limit
    with db.session() as s:
        assert WorkspaceScope(s, get_or_create_workspace(s, "acme")).usage(PERIOD).projects == limit


def test_workspaces_and_plans(db: Database) -> None:
    with db.session() as s:
        first = get_or_create_workspace(s, "acme", plan="business")
        again = get_or_create_workspace(s, "acme")
        assert first.id == again.id and again.plan == "business"
        assert WorkspaceScope(s, again).plan is PLANS["business"]
        with pytest.raises(ValueError, match="unknown plan 'gold'"):
            get_or_create_workspace(s, "other", plan="gold")


def test_plans_are_ordered_and_periods_are_utc() -> None:
    free, pro, business = PLANS["free"], PLANS["pro"], PLANS["business"]
    assert free.source_minutes_per_month < pro.source_minutes_per_month < business.source_minutes_per_month
    assert free.max_upload_bytes < pro.max_upload_bytes <= business.max_upload_bytes
    assert current_period(datetime(2025, 1, 31, 23, 30, tzinfo=UTC)) == "2025-01"


def test_url_normalisation() -> None:
    assert normalize_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
    assert normalize_url("postgres://u@h/db").drivername == "postgresql+psycopg"
    assert normalize_url("postgresql+psycopg2://u@h/db").drivername == "postgresql+psycopg2"
    assert normalize_url("sqlite:///x.db").drivername == "sqlite"


def test_sqlite_creates_folder_and_enables_wal_and_foreign_keys(tmp_path) -> None:  # type: ignore[no-untyped-def]
    database = Database(f"sqlite:///{tmp_path / 'nested' / 'dir' / 'cliply.db'}")
    try:
        database.migrate()
        assert (tmp_path / "nested" / "dir" / "cliply.db").exists()
        with database.engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
            assert conn.execute(text("PRAGMA busy_timeout")).scalar() > 0
    finally:
        database.dispose()
