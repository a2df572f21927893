"""Data access. Tenant data is reached only through WorkspaceScope, whose every query filters on workspace_id
(REQUIREMENTS G.4). The few module-level functions that cross workspaces are named as system-level lookups."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, and_, delete, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from cliply.plans import Plan, PlanLimitExceeded, get_plan, validate_period
from cliply.store.models import (
    SOURCE_ORIGINS,
    SOURCE_STATUSES,
    Clip,
    Source,
    Transcript,
    UsageRecord,
    Workspace,
    utcnow,
)
from cliply.store.models_accounts import Upload

USAGE_COUNTERS = ("source_minutes", "clips", "projects")
_SOURCE_FIXED = {"id", "workspace_id", "created_at", "updated_at"}
_TRANSCRIPT_FIXED = {"source_id", "workspace_id", "created_at"}
_CLIP_FIXED = {"source_id", "workspace_id", "created_at"}


class NotFound(LookupError):
    """The object does not exist in this workspace (it may exist in another one; we do not say)."""


class SourceExists(ValueError):
    """A source id is already taken."""


def _dialect_insert(session: Session) -> Callable[[Table], postgresql.Insert | sqlite.Insert]:
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert
    if name == "sqlite":
        return sqlite.insert
    raise NotImplementedError(f"upserts are implemented for postgresql and sqlite, not {name}")


def _columns(model: type, fixed: set[str]) -> set[str]:
    return {c.key for c in model.__table__.columns} - fixed  # type: ignore[attr-defined]


def _check_fields(model: type, fixed: set[str], fields: dict[str, Any]) -> None:
    unknown = set(fields) - _columns(model, fixed)
    if unknown:
        raise ValueError(f"cannot set {', '.join(sorted(unknown))} on {model.__name__}")


class WorkspaceExists(ValueError):
    """A workspace of that name exists already."""


WORKSPACE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")


def find_workspace(session: Session, name: str) -> Workspace | None:
    return session.scalars(select(Workspace).where(Workspace.name == name)).one_or_none()


def list_workspaces(session: Session) -> list[Workspace]:
    return list(session.scalars(select(Workspace).order_by(Workspace.name)))


def create_workspace(session: Session, name: str, plan: str = "free") -> Workspace:
    """A new workspace; WorkspaceExists when the name is taken, ValueError for a bad name or plan."""
    if not WORKSPACE_NAME.fullmatch(name):
        raise ValueError(
            f"bad workspace name {name!r}: 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    get_plan(plan)
    table = cast(Table, Workspace.__table__)
    stmt = _dialect_insert(session)(table).values(name=name, plan=plan, created_at=utcnow())
    if session.execute(stmt.on_conflict_do_nothing(index_elements=["name"])).rowcount == 0:  # type: ignore[attr-defined]
        raise WorkspaceExists(f"workspace {name!r} exists already")
    workspace = find_workspace(session, name)
    assert workspace is not None
    return workspace


def get_or_create_workspace(session: Session, name: str, plan: str = "free") -> Workspace:
    """The workspace called `name`, created with `plan` if new. Safe when several processes race."""
    get_plan(plan)
    table = cast(Table, Workspace.__table__)
    stmt = _dialect_insert(session)(table).values(name=name, plan=plan, created_at=utcnow())
    session.execute(stmt.on_conflict_do_nothing(index_elements=["name"]))
    return session.scalars(select(Workspace).where(Workspace.name == name)).one()


# --- system-level lookups: these cross workspaces on purpose and must not be exposed to tenants ---


def take_upload(session: Session, key: str) -> Workspace | None:
    """System-level: consume a recorded, unexpired upload key (once: DELETE … RETURNING); its workspace or None."""
    row = session.execute(
        delete(Upload)
        .where(Upload.key == key)
        .returning(Upload.workspace_id, Upload.expires_at)
        .execution_options(synchronize_session=False)
    ).one_or_none()
    if row is None or row.expires_at <= utcnow():
        return None
    return session.get(Workspace, row.workspace_id)


def source_owner(session: Session, source_id: str) -> Workspace | None:
    """System-level: the workspace owning a source. For the pipeline, whose partition key is only the source id."""
    return session.scalars(
        select(Workspace).join(Source, Source.workspace_id == Workspace.id).where(Source.id == source_id)
    ).one_or_none()


def sources_with_status(
    session: Session, status: str, limit: int = 100, after: Sequence[str] | None = None
) -> list[Source]:
    """System-level: oldest sources in `status` across all workspaces (the sensor launches "registered" ones).
    `after` = (created_at ISO, id) of the last one already handled: a cursor, so nothing is returned twice."""
    if status not in SOURCE_STATUSES:
        raise ValueError(f"unknown source status {status!r}")
    stmt = select(Source).where(Source.status == status)
    if after:
        ts, last_id = datetime.fromisoformat(after[0]), after[1]
        stmt = stmt.where(or_(Source.created_at > ts, and_(Source.created_at == ts, Source.id > last_id)))
    stmt = stmt.order_by(Source.created_at, Source.id).limit(limit)
    return list(session.scalars(stmt))


class WorkspaceScope:
    """All reads and writes of one workspace's data."""

    def __init__(self, session: Session, workspace: Workspace) -> None:
        self.session = session
        self.workspace = workspace
        self.workspace_id = workspace.id

    @property
    def plan(self) -> Plan:
        return get_plan(self.workspace.plan)

    # --- uploads ---

    def add_upload(self, key: str, expires_at: datetime) -> None:
        """Remember a signed upload URL's key until its PUT (expired ones are swept here)."""
        self.session.execute(
            delete(Upload).where(Upload.workspace_id == self.workspace_id, Upload.expires_at <= utcnow())
        )
        self.session.add(Upload(key=key, workspace_id=self.workspace_id, created_at=utcnow(), expires_at=expires_at))
        self.session.flush()

    # --- sources ---

    def add_source(
        self, id: str, origin: str, origin_uri: str, original_name: str, status: str = "registered"
    ) -> Source:
        if origin not in SOURCE_ORIGINS:
            raise ValueError(f"unknown source origin {origin!r}; expected one of {', '.join(SOURCE_ORIGINS)}")
        if status not in SOURCE_STATUSES:
            raise ValueError(f"unknown source status {status!r}")
        if self.session.get(Source, id) is not None:
            raise SourceExists(f"source id {id!r} is already taken")
        source = Source(
            id=id,
            workspace_id=self.workspace_id,
            origin=origin,
            origin_uri=origin_uri,
            original_name=original_name,
            status=status,
        )
        self.session.add(source)
        self.session.flush()
        return source

    def get_source(self, id: str) -> Source | None:
        return self.session.scalars(
            select(Source).where(Source.id == id, Source.workspace_id == self.workspace_id)
        ).one_or_none()

    def _source(self, id: str) -> Source:
        source = self.get_source(id)
        if source is None:
            raise NotFound(f"no source {id!r} in workspace {self.workspace.name!r}")
        return source

    def list_sources(self, status: str | None = None) -> list[Source]:
        stmt = select(Source).where(Source.workspace_id == self.workspace_id)
        if status is not None:
            stmt = stmt.where(Source.status == status)
        return list(self.session.scalars(stmt.order_by(Source.created_at, Source.id)))

    def update_source(self, id: str, **fields: Any) -> Source:
        _check_fields(Source, _SOURCE_FIXED, fields)
        if "status" in fields and fields["status"] not in SOURCE_STATUSES:
            raise ValueError(f"unknown source status {fields['status']!r}")
        source = self._source(id)
        for key, value in fields.items():
            setattr(source, key, value)
        self.session.flush()
        return source

    def reject_source(self, id: str, code: str, reason: str) -> Source:
        return self.update_source(id, status="rejected", reject_code=code, reject_reason=reason)

    # --- transcripts ---

    def save_transcript(self, source_id: str, **fields: Any) -> Transcript:
        """Insert or replace the fields of a source's transcript."""
        _check_fields(Transcript, _TRANSCRIPT_FIXED, fields)
        self._source(source_id)
        transcript = self.get_transcript(source_id)
        if transcript is None:
            transcript = Transcript(source_id=source_id, workspace_id=self.workspace_id)
            self.session.add(transcript)
        for key, value in fields.items():
            setattr(transcript, key, value)
        self.session.flush()
        return transcript

    def get_transcript(self, source_id: str) -> Transcript | None:
        return self.session.scalars(
            select(Transcript).where(Transcript.source_id == source_id, Transcript.workspace_id == self.workspace_id)
        ).one_or_none()

    # --- clips ---

    def replace_clips(self, source_id: str, clips: Sequence[dict[str, Any]]) -> list[Clip]:
        """Make `clips` the source's full clip set (re-rendering replaces, never duplicates).

        Each dict needs start_s/end_s; rank defaults to its 1-based position, id to f"{source_id}-c{rank:02d}".
        """
        self._source(source_id)
        rows = []
        for position, data in enumerate(clips, start=1):
            _check_fields(Clip, _CLIP_FIXED, data)
            rank = data.get("rank", position)
            values = {"id": f"{source_id}-c{rank:02d}", "rank": rank, **data}
            rows.append(Clip(source_id=source_id, workspace_id=self.workspace_id, **values))
        self.session.execute(
            delete(Clip).where(Clip.source_id == source_id, Clip.workspace_id == self.workspace_id),
            execution_options={"synchronize_session": "fetch"},
        )
        self.session.add_all(rows)
        self.session.flush()
        return rows

    def set_clip_thumbnail(self, clip_id: str, thumbnail_key: str) -> Clip:
        clip = self.session.scalars(
            select(Clip).where(Clip.id == clip_id, Clip.workspace_id == self.workspace_id)
        ).one_or_none()
        if clip is None:
            raise NotFound(f"no clip {clip_id!r} in this workspace")
        clip.thumbnail_key = thumbnail_key
        self.session.flush()
        return clip

    def list_clips(self, source_id: str | None = None) -> list[Clip]:
        stmt = select(Clip).where(Clip.workspace_id == self.workspace_id)
        if source_id is not None:
            stmt = stmt.where(Clip.source_id == source_id)
        return list(self.session.scalars(stmt.order_by(Clip.source_id, Clip.rank)))

    # --- usage and plan limits ---

    def usage(self, period: str) -> UsageRecord:
        """This period's usage; an unsaved all-zero record if nothing was recorded yet."""
        validate_period(period)
        record = self.session.scalars(
            select(UsageRecord).where(UsageRecord.workspace_id == self.workspace_id, UsageRecord.period == period)
        ).one_or_none()
        if record is None:
            return UsageRecord(workspace_id=self.workspace_id, period=period, source_minutes=0.0, clips=0, projects=0)
        return record

    def record_usage(self, period: str, *, source_minutes: float = 0, clips: int = 0, projects: int = 0) -> UsageRecord:
        """Atomically add to this period's counters (one INSERT … ON CONFLICT DO UPDATE, so concurrent
        callers never lose an increment)."""
        validate_period(period)
        table = cast(Table, UsageRecord.__table__)
        now = utcnow()
        stmt = _dialect_insert(self.session)(table).values(
            workspace_id=self.workspace_id,
            period=period,
            source_minutes=float(source_minutes),
            clips=int(clips),
            projects=int(projects),
            updated_at=now,
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["workspace_id", "period"],
            set_={
                "source_minutes": table.c.source_minutes + stmt.excluded.source_minutes,
                "clips": table.c.clips + stmt.excluded.clips,
                "projects": table.c.projects + stmt.excluded.projects,
                "updated_at": now,
            },
        )
        self.session.execute(stmt)
        record = self.session.scalars(
            select(UsageRecord)
            .where(UsageRecord.workspace_id == self.workspace_id, UsageRecord.period == period)
            .execution_options(populate_existing=True)
        ).one()
        return record

    def check_plan(self, period: str, *, source_minutes: float = 0, clips: int = 0, projects: int = 0) -> None:
        """Raise PlanLimitExceeded if adding these amounts would pass a monthly limit. Does not record."""
        self._check(self.usage(period), {"source_minutes": source_minutes, "clips": clips, "projects": projects})

    def consume(self, period: str, *, source_minutes: float = 0, clips: int = 0, projects: int = 0) -> UsageRecord:
        """check_plan + record_usage as one step: the period's row is locked, so two concurrent requests
        cannot both squeeze under the limit. Raises PlanLimitExceeded and records nothing when over."""
        self.record_usage(period)  # make sure the row exists (adds zero)
        record = self.session.scalars(
            select(UsageRecord)
            .where(UsageRecord.workspace_id == self.workspace_id, UsageRecord.period == period)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).one()
        self._check(record, {"source_minutes": source_minutes, "clips": clips, "projects": projects})
        return self.record_usage(period, source_minutes=source_minutes, clips=clips, projects=projects)

    def _check(self, record: UsageRecord, requested: dict[str, float]) -> None:
        plan = self.plan
        for counter in USAGE_COUNTERS:
            amount = requested[counter]
            if amount < 0:
                raise ValueError(f"{counter} must not be negative")
            if not amount:
                continue
            used = getattr(record, counter) or 0
            allowed = plan.monthly_limit(counter)
            if used + amount > allowed:
                raise PlanLimitExceeded(counter, used, amount, allowed, plan=plan.name)
