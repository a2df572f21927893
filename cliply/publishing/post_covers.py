"""The clip's chosen cover for one target: the frame time (clip-relative) and the platform's cover image, read from
the clip's covers.json in the media store (written by the thumbnail stage or a custom upload).

What each platform gets (the clients decide how to send it):
- YouTube, Facebook, Pinterest: `thumbnail` (a local JPEG of the platform's cover size) and the frame time.
- Instagram: `options["cover_url"]` (a signed public URL of its cover, as for video_url), else the frame time
  (thumb_offset).
- TikTok: the frame time (video_cover_timestamp_ms); its API takes no image.
- X, Threads, Bluesky, LinkedIn: nothing.

A target's options override: `cover_time_s` (a frame chosen by the user: no image for Instagram and Pinterest),
`cover_url` / `cover_image_url` (the user's own URL), `cover_manifest` (an experiment arm's covers.json, made for
the post's clip), or `cover: false` (send no cover at all). A missing or unreadable cover never blocks publishing:
it is not sent, and that is logged at info."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cliply.media.covers import COVER_SPECS, IMAGE_COVER_PLATFORMS, manifest_key
from cliply.publishing.media_urls import MediaUrlError, MediaUrlSigner
from cliply.storage.media_store import MediaStore
from cliply.store.db import Database
from cliply.store.models import Clip
from cliply.store.models_publishing import Post

log = logging.getLogger(__name__)

FRAME_PLATFORMS = frozenset({"tiktok", "instagram", "facebook", "pinterest", "youtube"})
# Options with which the user chose the cover image themselves, per platform.
USER_IMAGE_OPTIONS = {"instagram": ("cover_url", "cover_time_s"), "pinterest": ("cover_image_url", "cover_time_s")}
# options["cover_manifest"]: an experiment arm's covers.json, honoured only under this prefix (see _variant_manifest).
VARIANT_PREFIX = "experiments/"


@dataclass(frozen=True)
class PostCover:
    cover_time_s: float | None = None
    thumbnail: Path | None = None
    options: dict[str, Any] = field(default_factory=dict)
    custom: bool = False

    def fields(self) -> dict[str, Any]:
        """VideoPost fields to set (only those that have a value)."""
        out: dict[str, Any] = {}
        if self.cover_time_s is not None:
            out["cover_time_s"] = self.cover_time_s
        if self.thumbnail is not None:
            out["thumbnail"] = self.thumbnail
        return out


NO_COVER = PostCover()


def wants_cover(options: dict[str, Any]) -> bool:
    value = options.get("cover", True)
    return str(value).strip().lower() not in ("false", "0", "no", "none", "off")


def cover_for(
    db: Database,
    media: MediaStore,
    signer: MediaUrlSigner,
    *,
    workspace_id: int,
    post_id: str,
    platform: str,
    video: Path,
    options: dict[str, Any],
) -> PostCover:
    """The chosen cover for one target, or NO_COVER. Never raises."""
    if platform not in FRAME_PLATFORMS or not wants_cover(options):
        return NO_COVER
    try:
        return _cover_for(db, media, signer, workspace_id, post_id, platform, video, options)
    except Exception as exc:  # a cover is cosmetic: whatever went wrong, publish without it
        log.info("post %s (%s): no cover sent (%s: %s)", post_id, platform, type(exc).__name__, exc)
        return NO_COVER


def _manifest(
    db: Database, media: MediaStore, workspace_id: int, post_id: str, variant_key: Any = None
) -> dict[str, Any] | None:
    with db.session() as session:
        post = session.get(Post, post_id)
        clip = session.get(Clip, post.clip_id) if post is not None and post.workspace_id == workspace_id else None
        if clip is None or clip.workspace_id != workspace_id:
            return None
        key, clip_id = manifest_key(clip.source_id, clip.id), clip.id
    if variant_key is not None:
        variant = _variant_manifest(media, variant_key, clip_id, workspace_id, post_id)
        if variant is not None:
            return variant
    if not media.exists(key):
        return None
    data = json.loads(media.get_bytes(key))
    return data if isinstance(data, dict) else None


def _variant_manifest(media: MediaStore, key: Any, clip_id: str, workspace_id: int, post_id: str) -> dict | None:
    """An experiment arm's covers.json (options["cover_manifest"]), only when it was made for this post's clip in
    this workspace; otherwise None (the clip's own covers are used)."""
    why = ""
    if not isinstance(key, str) or not key.startswith(VARIANT_PREFIX) or ".." in key.split("/"):
        why = "not an experiment manifest"
    elif not media.exists(key):
        why = "missing"
    else:
        try:
            data = json.loads(media.get_bytes(key))
        except ValueError:
            data = None
        if not isinstance(data, dict) or data.get("clip_id") != clip_id or data.get("workspace_id") != workspace_id:
            why = "made for another clip or workspace"
    if why:
        log.info("post %s: cover_manifest %r ignored (%s); the clip's own covers are used", post_id, key, why)
        return None
    return {**data, "experiment_variant": True}


def _cover_for(
    db: Database,
    media: MediaStore,
    signer: MediaUrlSigner,
    workspace_id: int,
    post_id: str,
    platform: str,
    video: Path,
    options: dict[str, Any],
) -> PostCover:
    manifest = _manifest(db, media, workspace_id, post_id, options.get("cover_manifest"))
    if manifest is None:
        log.info("post %s (%s): the clip has no covers yet; none sent", post_id, platform)
        return NO_COVER
    at = manifest.get("at_s")
    at_s = float(at) if isinstance(at, int | float) and at >= 0 else None
    custom = bool(manifest.get("custom"))
    entry = (manifest.get("covers") or {}).get(platform) if platform in COVER_SPECS else None
    key = str(entry.get("key") or "") if isinstance(entry, dict) else ""
    variant = manifest.get("experiment_variant") is True
    if variant and not key.startswith(VARIANT_PREFIX):
        key = ""  # an experiment's manifest only ever names its own images
    # An experiment's frame time (cover_time_s) is the frame its images show: it does not replace them.
    chosen = [k for k in USER_IMAGE_OPTIONS.get(platform, ()) if not (variant and k == "cover_time_s")]
    user_chose = any(options.get(k) is not None for k in chosen)
    if platform not in IMAGE_COVER_PLATFORMS or not key or user_chose:
        return PostCover(cover_time_s=at_s, custom=custom)
    if not media.exists(key):
        log.info("post %s (%s): cover image %s is missing; none sent", post_id, platform, key)
        return PostCover(cover_time_s=at_s, custom=custom)
    if platform == "instagram":
        try:
            return PostCover(cover_time_s=at_s, options={"cover_url": signer.url_for(key)}, custom=custom)
        except MediaUrlError as exc:
            log.info("post %s (instagram): cover has no public URL (%s); the frame time is sent instead", post_id, exc)
            return PostCover(cover_time_s=at_s, custom=custom)
    return PostCover(cover_time_s=at_s, thumbnail=_local_image(media, key, video), custom=custom)


def _local_image(media: MediaStore, key: str, video: Path) -> Path:
    """The cover as a local file for the upload: in place for a local store; for a remote store, downloaded beside
    the video's working copy (a private temporary folder that is removed with it after the publish)."""
    local = media.local_path(key)
    if local is not None:
        return local
    return media.get_file(key, video.parent / f"cover-{Path(key).name}")
