"""What the sources and clips pages show, read in the signed-in workspace's scope: its sources (through the catalog),
one source with its transcript and clips, one clip with its platform fit, and the stored file behind a clip's video
or thumbnail. Another workspace's id is never found (None), so the pages answer it with their 404 page.

Uploads and URL imports go through the existing use cases (cliply/usecases.py begin_upload / upload_owner /
finish_upload, the REST upload's; cliply/media/service.py register_source, the CLI's guarded import)."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from cliply import usecases
from cliply.errors import InputRejected
from cliply.ingest import is_url
from cliply.media import catalog
from cliply.media import service as media_service
from cliply.media.presets import PRESETS, check_clip
from cliply.media.probe import ProbeError, probe
from cliply.security.filenames import safe_filename
from cliply.store.models import Clip, Source
from cliply.usecases import ServiceError, WorkspaceRef, workspace_scope

if TYPE_CHECKING:
    from cliply.wiring import Cliply

# What each status means for the person waiting on it.
STAGES = {
    "registered": "Registered: its run starts when the pipeline picks it up.",
    "queued": "Queued: its run is about to start.",
    "processing": "Processing: downloading or probing, transcribing, finding highlights and rendering clips.",
    "ready": "Ready: its clips are rendered.",
    "rejected": "Refused: this video cannot be turned into clips.",
    "failed": "Failed: a stage of its run failed.",
}
EXCERPT_CHARS = 600
VIDEO_TYPES = {".mov": "video/quicktime", ".webm": "video/webm", ".mkv": "video/x-matroska"}  # else video/mp4
PLATFORM_NAMES = {
    "youtube_shorts": "YouTube Shorts",
    "tiktok": "TikTok",
    "instagram_reels": "Instagram Reels",
    "facebook_reels": "Facebook Reels",
    "threads": "Threads",
    "x": "X",
    "linkedin": "LinkedIn",
    "pinterest": "Pinterest",
    "bluesky": "Bluesky",
}


@dataclass(frozen=True)
class Refused:
    """A refused upload or import: its one-line reason (and the source it was recorded as, if any)."""

    message: str
    source_id: str | None = None


@dataclass
class SourcePage:
    source: dict[str, Any]
    transcript: dict[str, Any] | None
    clips: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class ClipPage:
    clip: dict[str, Any]
    source: dict[str, Any]
    fit: list[dict[str, Any]] | None  # None: the clip's file cannot be checked here


def duration_text(seconds: float | None) -> str:
    """`42 s`, `30 min 43 s`, `1 h 02 min`; `-` when unknown."""
    if seconds is None:
        return "-"
    total = round(seconds)
    if total < 60:
        return f"{total} s"
    if total < 3600:
        return f"{total // 60} min {total % 60} s"
    return f"{total // 3600} h {total % 3600 // 60:02d} min"


def size_text(size: int) -> str:
    return f"{size / 1e9:.1f} GB" if size >= 1_000_000_000 else f"{size / 1e6:.0f} MB"


def list_sources(app: Cliply, ref: WorkspaceRef) -> list[dict[str, Any]]:
    """The workspace's sources, newest first (the catalog lists them oldest first)."""
    return [{**s, "duration": duration_text(s["duration_s"])} for s in reversed(catalog.list_sources(app, ref))]


def _source_json(s: Source) -> dict[str, Any]:
    return {
        "id": s.id,
        "status": s.status,
        "stage": STAGES.get(s.status, s.status),
        "origin": s.origin,
        "original_name": s.original_name,
        "duration_s": s.duration_s,
        "duration": duration_text(s.duration_s),
        "resolution": f"{s.width}x{s.height}" if s.width and s.height else None,
        "reject_code": s.reject_code,
        "reject_reason": s.reject_reason,
        "created_at": s.created_at,
    }


def _clip_json(c: Clip) -> dict[str, Any]:
    duration = c.duration_s if c.duration_s is not None else (c.end_s or 0.0) - (c.start_s or 0.0)
    text = (c.text or "").strip()
    return {
        "id": c.id,
        "source_id": c.source_id,
        "rank": c.rank,
        "score": None if c.score is None else round(c.score, 1),
        "reasons": [str(r) for r in (c.reasons or [])],
        "start_s": c.start_s or 0.0,
        "end_s": c.end_s or 0.0,
        "duration_s": round(duration, 1),
        "excerpt": text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 1].rstrip() + "…",
        "has_video": bool(c.media_key),
        "has_thumbnail": bool(c.thumbnail_key),
        "resolution": f"{c.width}x{c.height}" if c.width and c.height else None,
    }


def source_page(app: Cliply, ref: WorkspaceRef, source_id: str) -> SourcePage | None:
    with workspace_scope(app, ref, write=False) as scope:
        source = scope.get_source(source_id)
        if source is None:
            return None
        tr = scope.get_transcript(source_id)
        transcript = None if tr is None else {"language": tr.language, "words": tr.word_count, "engine": tr.engine}
        clips = [_clip_json(c) for c in sorted(scope.list_clips(source_id), key=lambda c: c.rank)]
        return SourcePage(_source_json(source), transcript, clips)


def _clip_row(app: Cliply, ref: WorkspaceRef, clip_id: str) -> tuple[Clip, Source] | None:
    with workspace_scope(app, ref, write=False) as scope:
        clip = scope.session.get(Clip, clip_id)
        if clip is None or clip.workspace_id != scope.workspace_id:
            return None
        source = scope.get_source(clip.source_id)
        if source is None:
            return None
        scope.session.expunge_all()
        return clip, source


def _fit(app: Cliply, key: str | None) -> list[dict[str, Any]] | None:
    """Each platform's problems with the clip's file (the checks publishing applies); None when the file is not
    on this machine's media store (an S3 store) or cannot be probed."""
    path = app.media.local_path(key) if key else None
    if path is None or not path.is_file():
        return None
    try:
        info = probe(path)
    except (ProbeError, OSError):  # an unreadable file has no fit to show; the page still renders
        return None
    return [
        {"platform": name, "label": PLATFORM_NAMES.get(name, name), "problems": check_clip(info, PRESETS[name])}
        for name in PLATFORM_NAMES
    ]


def clip_page(app: Cliply, ref: WorkspaceRef, clip_id: str) -> ClipPage | None:
    found = _clip_row(app, ref, clip_id)
    if found is None:
        return None
    clip, source = found
    return ClipPage(_clip_json(clip), _source_json(source), _fit(app, clip.media_key))


def clip_media(app: Cliply, ref: WorkspaceRef, clip_id: str, kind: str) -> str | None:
    """The media-store key of a clip's video ("video") or thumbnail ("thumbnail") in the workspace, or None."""
    found = _clip_row(app, ref, clip_id)
    if found is None:
        return None
    clip = found[0]
    return clip.media_key if kind == "video" else clip.thumbnail_key


def import_url(app: Cliply, workspace: str, url: str) -> str | Refused:
    """The CLI's `cliply ingest URL`: the guarded import (private and local addresses refused); the new source's id,
    or its one-line refusal (kept as a rejected source, so the list shows it too)."""
    url = url.strip()
    if not is_url(url):
        return Refused("Enter an http:// or https:// address of a video.")
    try:
        return media_service.register_source(app, url, workspace).source_id
    except InputRejected as exc:
        return Refused(exc.reason)


def store_upload(app: Cliply, ref: WorkspaceRef, filename: str, received: Path, base_url: str) -> str | Refused:
    """A received file through the REST upload's use cases: a single-use upload key for the workspace, taken at
    once, then stored and registered as a source (validated as every source is). The browser's file name is only a
    display name, made safe; the stored key is the upload use case's own."""
    content_type = VIDEO_TYPES.get(PurePosixPath(safe_filename(filename)).suffix.lower(), "video/mp4")
    try:
        upload = usecases.begin_upload(app, ref, filename=filename, content_type=content_type, base_url=base_url)
    except ServiceError as exc:
        return Refused(str(exc))
    key = upload["key"]
    workspace = usecases.upload_owner(app, key)
    if workspace is None:  # cannot happen for a key handed out just now; refused rather than guessed
        return Refused("The upload could not be accepted; try again.")
    folder = Path(tempfile.mkdtemp(prefix="cliply-web-upload-"))
    try:
        name = safe_filename(filename)
        file = folder / (PurePosixPath(name).stem + PurePosixPath(key).suffix)
        shutil.move(str(received), file)
        try:
            done = usecases.finish_upload(app, key, workspace, file, content_type)
        except InputRejected as exc:
            return Refused(exc.reason)
        return str(done["source_id"])
    finally:
        shutil.rmtree(folder, ignore_errors=True)
