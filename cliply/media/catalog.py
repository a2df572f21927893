"""What a workspace holds and how it is cleaned up: its sources with their clip counts, its clips, removing a source
with everything derived from it, and pruning rejected sources. Shared by the CLI and any other adapter."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, select

from cliply.store.models import Clip, Source, Transcript
from cliply.store.models_publishing import Post, PostTarget
from cliply.store.repo import NotFound, WorkspaceScope
from cliply.usecases import ServiceError, WorkspaceRef, workspace_scope

if TYPE_CHECKING:
    from cliply.wiring import Cliply

# Every stage writes under <stage>/<source id>/ (cliply/ingest.py, cliply/pipeline.py).
MEDIA_PREFIXES = ("sources", "transcripts", "highlights", "clips", "thumbnails")
ACTIVE_POSTS = ("scheduled", "processing")  # a removed clip would fail these when they run


def list_sources(app: Cliply, ref: WorkspaceRef) -> list[dict[str, Any]]:
    """The workspace's sources, oldest first, with their duration and how many clips each has."""
    with workspace_scope(app, ref, write=False) as scope:
        counts = dict(
            scope.session.execute(
                select(Clip.source_id, func.count())
                .where(Clip.workspace_id == scope.workspace_id)
                .group_by(Clip.source_id)
            )
            .tuples()
            .all()
        )
        return [
            {
                "id": s.id,
                "status": s.status,
                "origin": s.origin,
                "original_name": s.original_name,
                "duration_s": s.duration_s,
                "clips": counts.get(s.id, 0),
                "reject_code": s.reject_code,
                "reject_reason": s.reject_reason,
            }
            for s in scope.list_sources()
        ]


def list_clips(app: Cliply, ref: WorkspaceRef, source_id: str | None = None) -> list[dict[str, Any]]:
    """The workspace's clips (of one source when given), by source and rank; media as store URIs."""
    with workspace_scope(app, ref, write=False) as scope:
        if source_id is not None and scope.get_source(source_id) is None:
            raise NotFound(f"no source {source_id!r} in workspace {scope.workspace.name!r}")
        return [_clip_json(app, c) for c in scope.list_clips(source_id)]


def _clip_json(app: Cliply, c: Clip) -> dict[str, Any]:
    duration = c.duration_s if c.duration_s is not None else (c.end_s or 0.0) - (c.start_s or 0.0)
    return {
        "id": c.id,
        "source_id": c.source_id,
        "rank": c.rank,
        "score": None if c.score is None else round(c.score, 1),
        "duration_s": round(duration, 2),
        "path": app.media.uri(c.media_key) if c.media_key else None,
        "thumbnail": app.media.uri(c.thumbnail_key) if c.thumbnail_key else None,
    }


@dataclass(frozen=True)
class Removed:
    source_id: str
    clips: int
    posts: int  # finished posts of its clips, removed with them
    media_files: int


def remove_source(app: Cliply, ref: WorkspaceRef, source_id: str) -> Removed:
    """Delete a source, its transcript and clips (rows and stored media) and the finished posts of those clips.
    Refused (exit 1 / 409) while a scheduled or running post uses one of its clips: cancel that post first."""
    with workspace_scope(app, ref) as scope:
        source = scope.get_source(source_id)
        if source is None:
            raise NotFound(f"no source {source_id!r} in workspace {scope.workspace.name!r}")
        keys = _recorded_keys(scope, source)
        clips, posts = _delete_rows(scope, source_id)
    # After the commit: a failure here leaves files without rows, never rows without their files.
    return Removed(source_id, clips, posts, _delete_media(app, source_id, keys))


def prune_rejected(app: Cliply, ref: WorkspaceRef) -> list[Removed]:
    """Remove every rejected source of the workspace with its stored media."""
    with workspace_scope(app, ref, write=False) as scope:
        rejected = [s.id for s in scope.list_sources(status="rejected")]
    return [remove_source(app, ref, source_id) for source_id in rejected]


def _recorded_keys(scope: WorkspaceScope, source: Source) -> set[str]:
    transcript = scope.get_transcript(source.id)
    keys = {source.media_key}
    if transcript is not None:
        keys |= {transcript.json_key, transcript.srt_key, transcript.vtt_key}
    for clip in scope.list_clips(source.id):
        keys |= {clip.media_key, clip.thumbnail_key}
    return {k for k in keys if k}


def _delete_rows(scope: WorkspaceScope, source_id: str) -> tuple[int, int]:
    """(clips, finished posts) deleted; raises ServiceError when an active post uses one of the clips."""
    session, ws = scope.session, scope.workspace_id
    clip_ids = select(Clip.id).where(Clip.source_id == source_id, Clip.workspace_id == ws)
    posts = list(session.scalars(select(Post).where(Post.workspace_id == ws, Post.clip_id.in_(clip_ids))))
    active = [p for p in posts if p.status in ACTIVE_POSTS]
    if active:
        raise ServiceError(
            f"source {source_id!r} has a clip in {active[0].status} post {active[0].id!r}; cancel "
            f"it first (`cliply posts cancel {active[0].id}`)",
            status=409,
            exit_code=1,
        )
    post_ids = [p.id for p in posts]
    session.execute(delete(PostTarget).where(PostTarget.workspace_id == ws, PostTarget.post_id.in_(post_ids)))
    session.execute(delete(Post).where(Post.workspace_id == ws, Post.id.in_(post_ids)))
    clips = len(session.scalars(clip_ids).all())
    session.execute(delete(Clip).where(Clip.source_id == source_id, Clip.workspace_id == ws))
    session.execute(delete(Transcript).where(Transcript.source_id == source_id, Transcript.workspace_id == ws))
    session.execute(delete(Source).where(Source.id == source_id, Source.workspace_id == ws))
    session.expunge_all()  # the rows are gone: nothing cached may be flushed back
    return clips, len(post_ids)


def _delete_media(app: Cliply, source_id: str, keys: set[str]) -> int:
    deleted = 0
    for key in sorted(keys):
        if app.media.exists(key):
            app.media.delete(key)
            deleted += 1
    for stage in MEDIA_PREFIXES:  # what no row names (highlights, previews, stray files of a re-render)
        deleted += app.media.delete_prefix(f"{stage}/{source_id}/")
    return deleted
