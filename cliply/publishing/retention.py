"""Rendered media retention: delete clips, their renditions and thumbnails once past the retention time, unless a
post still needs them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select

from cliply.publishing.renditions import PREFIX as RENDITIONS_PREFIX
from cliply.storage.media_store import MediaStore
from cliply.store.db import Database
from cliply.store.models import Clip
from cliply.store.models_publishing import Post, PostTarget

DEFAULT_RETENTION_DAYS = 7
# A target in one of these states will never read its clip again.
_DONE_STATES = ("published", "cancelled", "failed")


@dataclass
class RetentionReport:
    deleted_clips: list[str] = field(default_factory=list)
    kept_for_posts: list[str] = field(default_factory=list)
    deleted_objects: int = 0


def _old_clips(cutoff: datetime) -> Any:
    return select(Clip).where(
        Clip.created_at < cutoff, or_(Clip.media_key.is_not(None), Clip.thumbnail_key.is_not(None))
    )


def _needed_clip_ids() -> Any:
    return (
        select(Post.clip_id)
        .join(PostTarget, PostTarget.post_id == Post.id)
        .where(PostTarget.state.not_in(_DONE_STATES))
    )


def has_expired_media(db: Database, *, now: datetime, days: int) -> bool:
    with db.session() as session:
        return (
            session.scalars(
                _old_clips(now - timedelta(days=days)).where(Clip.id.not_in(_needed_clip_ids())).limit(1)
            ).first()
            is not None
        )


def sweep_media(db: Database, media: MediaStore, *, now: datetime, days: int, batch: int = 500) -> RetentionReport:
    """System-level: delete rendered clips and thumbnails older than `days` unless a post target that has not
    finished (scheduled, waiting, in flight) still needs the clip. The clip rows stay (media keys cleared)."""
    cutoff = now - timedelta(days=days)
    report = RetentionReport()
    with db.session() as session:
        needed = set(session.scalars(_needed_clip_ids()))
        for clip in session.scalars(_old_clips(cutoff).order_by(Clip.created_at).limit(batch)):
            if clip.id in needed:
                report.kept_for_posts.append(clip.id)
                continue
            for key in (clip.media_key, clip.thumbnail_key):
                if key:
                    media.delete(key)
                    report.deleted_objects += 1
            # The per-platform renditions (and their stamps) go with the render they were made from.
            report.deleted_objects += media.delete_prefix(f"{RENDITIONS_PREFIX}/{clip.source_id}/{clip.id}/")
            clip.media_key = None
            clip.thumbnail_key = None
            report.deleted_clips.append(clip.id)
    return report
