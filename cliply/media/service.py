"""Source use cases, shared by the CLI and the REST API: register a file or URL, list sources, summarise one, process
one now through the orchestrator, and hand out a signed upload URL."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cliply.ingest import Registered, is_url, register_file, register_url
from cliply.orchestration import RunOutcome, materialize_source
from cliply.publishing.media_urls import UPLOAD_TTL_S
from cliply.store.repo import NotFound, WorkspaceScope, source_owner
from cliply.usecases import ServiceError, WorkspaceRef, resolve, workspace_scope

if TYPE_CHECKING:
    from cliply.wiring import Cliply

VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v", ".webm", ".mkv")


def register_source(
    app: Cliply, target: str, workspace: str | None = None, status: str = "registered", *, keep_refused: bool = True
) -> Registered:
    """A local file (validated, then copied into the media store) or an http(s) URL (downloaded by the pipeline).
    Raises InputRejected when it cannot be taken, recorded as a rejected source unless `keep_refused` is off (a
    path that does not exist is never recorded)."""
    name = workspace or app.settings.default_workspace
    with app.db.session() as session:
        resolve(app, session, name)  # a mistyped workspace is refused, never created (the default one is)
    if is_url(target):
        return register_url(app.settings, app.db, target, workspace=name, status=status, keep_refused=keep_refused)
    return register_file(
        app.settings, app.db, app.media, Path(target), workspace=name, status=status, keep_refused=keep_refused
    )


def list_sources(app: Cliply, ref: WorkspaceRef) -> list[dict[str, Any]]:
    with workspace_scope(app, ref) as scope:
        return [
            {
                "id": s.id,
                "status": s.status,
                "origin": s.origin,
                "original_name": s.original_name,
                "reject_code": s.reject_code,
                "reject_reason": s.reject_reason,
            }
            for s in scope.list_sources()
        ]


def _uri(app: Cliply, key: str | None) -> str | None:
    return app.media.uri(key) if key else None


def source_summary(app: Cliply, source_id: str) -> dict[str, Any]:
    """What a source became: status, video, transcript files and ranked clips (media as store URIs)."""
    with app.session() as session:
        ws = source_owner(session, source_id)
        src = WorkspaceScope(session, ws).get_source(source_id) if ws is not None else None
        if ws is None or src is None:
            raise NotFound(f"no source {source_id!r}")
        scope = WorkspaceScope(session, ws)
        tr = scope.get_transcript(source_id)
        clips = sorted(scope.list_clips(source_id), key=lambda c: c.rank)
        return {
            "ok": src.status == "ready",
            "source_id": source_id,
            "workspace": ws.name,
            "status": src.status,
            "reject_code": src.reject_code,
            "reason": src.reject_reason,
            "source": {
                "uri": _uri(app, src.media_key),
                "duration_s": src.duration_s,
                "resolution": f"{src.width}x{src.height}" if src.width else None,
            },
            "transcript": None
            if tr is None
            else {
                "language": tr.language,
                "engine": tr.engine,
                "words": tr.word_count,
                "files": {
                    k: app.media.uri(v)
                    for k, v in (("json", tr.json_key), ("srt", tr.srt_key), ("vtt", tr.vtt_key))
                    if v
                },
            },
            "clips": [
                {
                    "id": c.id,
                    "rank": c.rank,
                    "start": round(c.start_s or 0.0, 3),
                    "end": round(c.end_s or 0.0, 3),
                    "score": round(c.score or 0.0, 1),
                    "reasons": c.reasons,
                    "path": _uri(app, c.media_key),
                    "thumbnail": _uri(app, c.thumbnail_key),
                }
                for c in clips
            ],
        }


@dataclass(frozen=True)
class Processed:
    registered: Registered
    run: RunOutcome
    summary: dict[str, Any]  # source_summary plus dagster_run_id


def process_source(
    app: Cliply, target: str, workspace: str | None = None, *, log_level: str = "INFO", on_registered: Any = None
) -> Processed:
    """Register a file or URL as queued and materialise every media asset for it now, through the orchestrator.
    A file or URL refused at the door raises InputRejected and is recorded as a rejected source (no run starts);
    otherwise the caller reads the outcome: a rejection in the run or a failed run is in `summary` / `run`.
    Whisper weights that cannot be loaded raise ModelUnavailable before anything is recorded."""
    _check_transcriber(app)
    reg = register_source(app, target, workspace, status="queued")
    if on_registered is not None:
        on_registered(reg)
    run = materialize_source(app.settings, reg.source_id, log_level=log_level)
    summary = {**source_summary(app, reg.source_id), "dagster_run_id": run.run_id}
    if not run.success and summary["status"] == "failed" and summary["reason"]:
        run = replace(run, failure=summary["reason"])  # the stage's own message, not "step … failed"
    return Processed(reg, run, summary)


def _check_transcriber(app: Cliply) -> None:
    """Load the weights now (cached for the run, which executes in this process): a missing model is a one-line
    setup error here, not a failed run at its second step."""
    load = getattr(app.transcriber(), "load", None)
    if load is not None:
        load()


def new_upload(
    app: Cliply, ref: WorkspaceRef, *, filename: str | None, content_type: str | None, base_url: str = ""
) -> dict[str, Any]:
    """A fresh key under the workspace's uploads/ and a signed PUT URL for it (presigned on S3)."""
    suffix = Path(filename or "upload.mp4").suffix.lower()
    if suffix not in VIDEO_SUFFIXES:
        raise ServiceError(f"filename must be a video ({', '.join(VIDEO_SUFFIXES)})")
    with app.session() as session:
        workspace_id = resolve(app, session, ref).id
    key = f"uploads/ws{workspace_id}/{secrets.token_hex(12)}{suffix}"
    url, headers = app.signer.upload_url(key, content_type=content_type or "video/mp4", base_url=base_url)
    return {"key": key, "method": "PUT", "url": url, "headers": headers, "expires_in": UPLOAD_TTL_S}
