"""The renditions stage: for each clip of a source, the file each platform the workspace publishes to will get —
the main render when it fits the platform's preset, else a rendition made now (cached, so the publisher reuses it).

The platforms are those of the workspace's connected accounts (`platforms` overrides them)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select

from cliply.errors import SourceNotFound
from cliply.pipeline import Services, local_copy
from cliply.publishing.renditions import ClipMedia, Renditions
from cliply.store.models import Source
from cliply.store.models_accounts import Account
from cliply.store.repo import WorkspaceScope, source_owner


@dataclass(frozen=True)
class RenditionOutcome:
    clip_id: str
    platform: str
    key: str  # the media key the platform gets
    main: bool  # the main render fits
    reasons: tuple[str, ...]  # why a rendition was needed
    size_bytes: int
    rendered: bool  # made by this run (False: the main render or a cached rendition)


def connected_platforms(scope: WorkspaceScope) -> list[str]:
    rows = scope.session.scalars(
        select(Account.platform)
        .where(Account.workspace_id == scope.workspace_id, Account.status == "connected")
        .distinct()
    )
    return sorted(set(rows))


def materialize_renditions(
    svc: Services, source_id: str, *, platforms: Sequence[str] | None = None
) -> list[RenditionOutcome]:
    with svc.db.session() as session:
        ws = source_owner(session, source_id)
        if ws is None:
            raise SourceNotFound(f"unknown source {source_id}")
        scope = WorkspaceScope(session, ws)
        source = session.get(Source, source_id)
        source_key = (source.media_key or "") if source is not None else ""
        wanted = list(platforms) if platforms is not None else connected_platforms(scope)
        clips = [
            ClipMedia(
                key=c.media_key,
                source_id=source_id,
                clip_id=c.id,
                start_s=c.start_s,
                end_s=c.end_s,
                source_key=source_key,
                sha256=c.sha256 or "",
            )
            for c in scope.list_clips(source_id)
            if c.media_key
        ]
    s = svc.settings
    renditions = Renditions(svc.store, x264_preset=s.render_preset, crf=s.render_crf)
    out: list[RenditionOutcome] = []
    for i, clip in enumerate(clips, start=1):
        with local_copy(svc.store, clip.key) as main:
            for platform in wanted:
                svc.progress(f"clip {i}/{len(clips)}: checking {platform}")
                c = renditions.choose(clip, platform, main)
                out.append(RenditionOutcome(clip.clip_id, platform, c.key, c.main, c.reasons, c.size_bytes, c.rendered))
    return out
