"""The media stages as plain functions: each reads its inputs from the media store and app database by source id,
writes its outputs back at deterministic keys, and returns a small summary. Dagster assets are thin wrappers."""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from cliply.errors import InputRejected, SourceNotFound
from cliply.experiments.scoring import active_weights
from cliply.experiments.variants import cover_window
from cliply.ingest import source_key, url_refusal
from cliply.media.audio_features import compute_energy
from cliply.media.caption_styles import style_named
from cliply.media.captions import CaptionStyle
from cliply.media.covers import COVER_SPECS, hook_title, jpeg_bytes
from cliply.media.highlights import find_highlights
from cliply.media.presets import PRESETS, check_clip
from cliply.media.probe import probe
from cliply.media.reframe import CropPlan, plan_framing
from cliply.media.render import RenderRequest, render_clip
from cliply.media.thumbnails import source_thumbnails
from cliply.media.transcribe import Transcriber
from cliply.media.transcript_formats import from_json, to_json, to_srt, to_vtt
from cliply.media.types import Highlight, MediaInfo, Transcript
from cliply.media.validate import inspect_source
from cliply.plans import PlanLimitExceeded, current_period, get_plan
from cliply.settings import Settings
from cliply.storage.inbox import Inbox, InboxEntry
from cliply.storage.media_store import MediaStore
from cliply.store.db import Database
from cliply.store.models import Source
from cliply.store.repo import WorkspaceScope, source_owner

log = logging.getLogger("cliply.pipeline")
Progress = Callable[[str], None]


@dataclass
class Services:
    """Everything a stage needs; built from settings (CLI) or from Dagster resources (assets)."""

    settings: Settings
    db: Database
    store: MediaStore
    transcriber: Callable[[], Transcriber]
    inbox: Inbox | None = None
    progress: Progress = field(default=lambda msg: log.info(msg))


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@contextmanager
def local_copy(store: MediaStore, key: str) -> Iterator[Path]:
    """A readable local path for a stored object: in place for a folder store, a temp download for S3."""
    path = store.local_path(key)
    if path is not None:
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="cliply-") as tmp:
        yield store.get_file(key, Path(tmp) / Path(key).name)


@contextmanager
def _scope(db: Database, source_id: str) -> Iterator[WorkspaceScope]:
    with db.session() as session:
        ws = source_owner(session, source_id)
        if ws is None:
            raise SourceNotFound(f"unknown source {source_id}")
        yield WorkspaceScope(session, ws)


# ---------------------------------------------------------------- sources


@dataclass(frozen=True)
class SourceOutcome:
    source_id: str
    workspace: str
    accepted: bool
    info: MediaInfo | None = None
    media_key: str | None = None
    sha256: str | None = None
    reject_code: str | None = None
    reject_reason: str | None = None


def _fetch_original(svc: Services, scope: WorkspaceScope, source_id: str, tmp: Path) -> Path:
    src = scope.get_source(source_id)
    assert src is not None
    if src.origin == "file":
        if not src.media_key:
            raise InputRejected("missing", "the uploaded file never reached the media store")
        return svc.store.get_file(src.media_key, tmp / Path(src.media_key).name)
    if src.origin == "url":
        from cliply.media.download import DownloadError, download_url
        from cliply.security.ssrf import BlockedURL

        try:
            return download_url(
                src.origin_uri,
                tmp,
                allow_private=svc.settings.allow_private_urls,
                max_bytes=svc.settings.max_download_bytes,
            )
        except BlockedURL as exc:
            raise url_refusal(src.origin_uri, exc) from exc
        except DownloadError as exc:
            raise InputRejected("download_failed", str(exc)) from exc
    if src.origin == "inbox":
        if svc.inbox is None:
            raise RuntimeError("an inbox source needs the inbox configured")
        entry = InboxEntry(key=src.origin_uri, name=src.original_name, size=src.size_bytes or 0, mtime=0.0)
        try:
            return svc.inbox.fetch(entry, tmp / src.original_name)
        except FileNotFoundError as exc:
            raise InputRejected("missing", "the inbox file disappeared before it could be read") from exc
    raise RuntimeError(f"unknown origin {src.origin!r}")


def _take_source(svc: Services, scope: WorkspaceScope, src: Source, tmp: Path) -> tuple[MediaInfo, str, str]:
    """Fetch, validate, count against the plan and store the original: (probe, media key, sha256)."""
    if src.status == "rejected" and src.reject_code:
        raise InputRejected(src.reject_code, src.reject_reason or "rejected at ingest")
    svc.progress(f"fetching source {src.id} ({src.origin})")
    local = _fetch_original(svc, scope, src.id, tmp)
    info = inspect_source(local, max_duration_s=scope.plan.max_source_duration_s)
    if src.status in {"registered", "queued"}:
        try:  # checked and counted in one locked step, so parallel runs cannot overshoot the plan
            scope.consume(current_period(), source_minutes=info.duration / 60, projects=1)
        except PlanLimitExceeded as exc:
            raise InputRejected("over_plan", str(exc)) from exc
    key = source_key(src.id, local.name)
    if src.media_key != key or not svc.store.exists(key):
        svc.store.put_file(key, local)
    return info, key, sha256_file(local)


def materialize_source(svc: Services, source_id: str) -> SourceOutcome:
    """Fetch, validate against the workspace plan, store at sources/<id>/source.<ext>. Rejections are outcomes."""
    refused: InputRejected | None = None
    with _scope(svc.db, source_id) as scope, tempfile.TemporaryDirectory(prefix="cliply-src-") as tmpdir:
        src = scope.get_source(source_id)
        assert src is not None
        workspace, origin = scope.workspace.name, src.origin
        entry = InboxEntry(key=src.origin_uri, name=src.original_name, size=0, mtime=0.0)
        try:
            info, key, digest = _take_source(svc, scope, src, Path(tmpdir))
        except InputRejected as exc:
            scope.reject_source(source_id, exc.code, exc.reason)
            refused = exc
        else:
            scope.update_source(
                source_id,
                status="processing",
                media_key=key,
                duration_s=info.duration,
                video_codec=info.video_codec,
                audio_codec=info.audio_codec,
                width=info.width,
                height=info.height,
                fps=info.fps,
                size_bytes=info.size_bytes,
                sha256=digest,
                reject_code=None,
                reject_reason=None,
            )
    # Inbox drops never stay in the inbox once decided (the rejection is committed first): an accepted original now
    # lives in the media store, a refused one moves to rejected/ with its reason for whoever dropped it.
    if origin == "inbox" and svc.inbox is not None:
        if refused is not None:
            svc.inbox.reject(entry, f"rejected ({refused.code}): {refused.reason}")
        else:
            svc.inbox.remove(entry)
    if refused is not None:
        return SourceOutcome(source_id, workspace, False, reject_code=refused.code, reject_reason=refused.reason)
    return SourceOutcome(source_id, workspace, True, info=info, media_key=key, sha256=digest)


def _source_media_key(svc: Services, source_id: str) -> str:
    with _scope(svc.db, source_id) as scope:
        src = scope.get_source(source_id)
        assert src is not None
        if src.status == "rejected" or not src.media_key:
            raise InputRejected(src.reject_code or "not_ready", src.reject_reason or "source was not accepted")
        return src.media_key


# ---------------------------------------------------------------- transcripts


@dataclass(frozen=True)
class TranscriptOutcome:
    transcript: Transcript
    keys: dict[str, str]
    seconds: float
    note: str = ""  # why the transcript is empty when that is expected (no audio track)


# A video without sound is valid but has nothing to transcribe, so it yields no clips; the source says why.
NO_AUDIO_CODE, NO_AUDIO_REASON = "no_audio", "no audio track: nothing to transcribe"


def transcript_keys(source_id: str) -> dict[str, str]:
    return {fmt: f"transcripts/{source_id}/transcript.{fmt}" for fmt in ("json", "srt", "vtt")}


def _transcribe(svc: Services, source_id: str, path: Path) -> tuple[Transcript, str]:
    info = probe(path)
    if not info.has_audio:
        return Transcript(language="", text="", segments=(), duration=round(info.duration, 3)), NO_AUDIO_REASON
    transcript = svc.transcriber().transcribe(
        path, progress=lambda f: svc.progress(f"transcribing {source_id}: {f:.0%}")
    )
    return transcript, ""


def _store_transcript(svc: Services, source_id: str, transcript: Transcript) -> dict[str, str]:
    keys = transcript_keys(source_id)
    svc.store.put_bytes(keys["json"], to_json(transcript).encode(), content_type="application/json")
    svc.store.put_bytes(keys["srt"], to_srt(transcript).encode(), content_type="application/x-subrip")
    svc.store.put_bytes(keys["vtt"], to_vtt(transcript).encode(), content_type="text/vtt")
    return keys


def materialize_transcript(svc: Services, source_id: str) -> TranscriptOutcome:
    import time

    key = _source_media_key(svc, source_id)
    svc.progress(f"transcribing {source_id}")
    started = time.perf_counter()
    with local_copy(svc.store, key) as path:
        transcript, note = _transcribe(svc, source_id, path)
    seconds = time.perf_counter() - started
    keys = _store_transcript(svc, source_id, transcript)
    with _scope(svc.db, source_id) as scope:
        scope.save_transcript(
            source_id,
            language=transcript.language,
            engine=transcript.engine,
            model=transcript.model,
            json_key=keys["json"],
            srt_key=keys["srt"],
            vtt_key=keys["vtt"],
            word_count=len(transcript.words),
            duration_s=transcript.duration,
        )
        if note:
            svc.progress(f"{source_id}: {note}")
            scope.update_source(source_id, reject_code=NO_AUDIO_CODE, reject_reason=note)
    return TranscriptOutcome(transcript, keys, seconds, note)


def load_transcript(svc: Services, source_id: str) -> Transcript:
    return from_json(svc.store.get_bytes(transcript_keys(source_id)["json"]).decode())


# ---------------------------------------------------------------- highlights


def highlights_key(source_id: str) -> str:
    return f"highlights/{source_id}/highlights.json"


def highlights_scoring_key(source_id: str) -> str:
    return f"highlights/{source_id}/scoring.json"


def materialize_highlights(svc: Services, source_id: str) -> list[Highlight]:
    """Rank the source's highlights with its workspace's active weights (learned or default) and record which."""
    transcript = load_transcript(svc, source_id)
    key = _source_media_key(svc, source_id)
    with local_copy(svc.store, key) as path:
        energy = compute_energy(path) if transcript.words else None
    with _scope(svc.db, source_id) as scope:
        weights = active_weights(scope.session, scope.workspace_id)
    s = svc.settings
    found = find_highlights(
        transcript,
        energy=energy,
        min_s=s.clip_min_seconds,
        max_s=s.clip_max_seconds,
        max_clips=s.max_clips,
        weights=weights.weights,
    )
    payload = json.dumps([h.to_dict() for h in found], indent=1)
    svc.store.put_bytes(highlights_key(source_id), payload.encode(), content_type="application/json")
    record = json.dumps(weights.json(), indent=1).encode()
    svc.store.put_bytes(highlights_scoring_key(source_id), record, content_type="application/json")
    return found


def highlights_scoring(svc: Services, source_id: str) -> dict[str, object]:
    """Which weights scored the source's highlights: {"version", "weights", "learned_from", "source"}; sources
    scored before learned scoring existed were scored with the defaults."""
    key = highlights_scoring_key(source_id)
    if not svc.store.exists(key):
        return {"version": None, "weights": None, "learned_from": 0, "source": "default"}
    data: dict[str, object] = json.loads(svc.store.get_bytes(key))
    return data


def load_highlights(svc: Services, source_id: str) -> list[Highlight]:
    return [Highlight.from_dict(d) for d in json.loads(svc.store.get_bytes(highlights_key(source_id)))]


# ---------------------------------------------------------------- clips


@dataclass(frozen=True)
class ClipOutcome:
    clip_id: str
    highlight: Highlight
    key: str
    info: MediaInfo
    sha256: str
    crop_method: str
    problems: dict[str, list[str]]
    framing: dict[str, object] = field(default_factory=dict)  # the reframe plan's summary (layout, cuts, …)


def clip_id_for(source_id: str, rank: int) -> str:
    return f"{source_id}-c{rank:02d}"


def _render_progress(svc: Services, i: int, n: int) -> Callable[[float], None]:
    return lambda f: svc.progress(f"clip {i}/{n}: rendering {f:.0%}")


def materialize_clips(svc: Services, source_id: str) -> list[ClipOutcome]:
    """Render every highlight as a captioned 9:16 clip; the number rendered is capped by the plan's clip quota."""
    highlights = load_highlights(svc, source_id)
    transcript = load_transcript(svc, source_id)
    key = _source_media_key(svc, source_id)
    period = current_period()
    with _scope(svc.db, source_id) as scope:
        plan = get_plan(scope.workspace.plan)
        workspace_style = scope.workspace.caption_style
        already = len(scope.list_clips(source_id))
        used = scope.usage(period).clips
        left = plan.clips_per_month - used + already
        if highlights and left <= 0:
            raise PlanLimitExceeded("clips", used, len(highlights), plan.clips_per_month, plan.name)
    highlights = highlights[: max(left, 0)]
    s = svc.settings
    preset = PRESETS["universal"]
    style = _caption_style(s, workspace_style)
    outcomes: list[ClipOutcome] = []
    with local_copy(svc.store, key) as source_path, tempfile.TemporaryDirectory(prefix="cliply-clips-") as tmp:
        for i, h in enumerate(highlights, start=1):
            clip_id = clip_id_for(source_id, h.rank)
            svc.progress(f"clip {i}/{len(highlights)}: reframing {h.start:.1f}-{h.end:.1f}s")
            words = [w for w in transcript.words if w.end > h.start and w.start < h.end]
            framing = plan_framing(source_path, h.start, h.end, words=words, layout=s.clip_layout)
            out = Path(tmp) / f"{clip_id}.mp4"
            request = RenderRequest(
                source=source_path,
                output=out,
                start=h.start,
                end=h.end,
                words=words,
                crop=framing.crop,
                preset=preset,
                x264_preset=s.render_preset,
                crf=s.render_crf,
                style=style,
                fonts_dir=Path(s.fonts_dir) if s.fonts_dir else None,
                layout=framing.layout,
                panels=framing.panels,
            )
            info = render_clip(request, progress=_render_progress(svc, i, len(highlights)))
            clip_key = f"clips/{source_id}/{clip_id}.mp4"
            svc.store.put_file(clip_key, out, content_type="video/mp4")
            # Kept beside the clip (per-second subject boxes, cuts, layout); thumbnails and covers use its crop.
            plan_json = json.dumps(framing.to_dict()).encode()
            svc.store.put_bytes(reframe_plan_key(source_id, clip_id), plan_json, content_type="application/json")
            problems = {name: check_clip(info, p) for name, p in PRESETS.items()}
            outcomes.append(
                ClipOutcome(clip_id, h, clip_key, info, sha256_file(out), framing.method, problems, framing.summary())
            )
    with _scope(svc.db, source_id) as scope:
        before = len(scope.list_clips(source_id))
        scope.replace_clips(
            source_id,
            [
                {
                    "id": o.clip_id,
                    "rank": o.highlight.rank,
                    "start_s": o.highlight.start,
                    "end_s": o.highlight.end,
                    "score": o.highlight.score,
                    "reasons": list(o.highlight.reasons),
                    "text": o.highlight.text,
                    "media_key": o.key,
                    "duration_s": o.info.duration,
                    "size_bytes": o.info.size_bytes,
                    "sha256": o.sha256,
                    "width": o.info.width,
                    "height": o.info.height,
                }
                for o in outcomes
            ],
        )
        # Re-rendering the same source replaces its clips; only net new clips count against the quota.
        scope.record_usage(period, clips=max(0, len(outcomes) - before))
    return outcomes


# ---------------------------------------------------------------- thumbnails


@dataclass(frozen=True)
class ThumbnailOutcome:
    clip_id: str
    key: str
    preview_key: str
    preview_jpeg: bytes
    cover_keys: dict[str, str] = field(default_factory=dict)  # platform → JPEG key (COVER_SPECS sizes)
    at_s: float = 0.0  # the frame's time in the clip (TikTok cover timestamp, Instagram thumb_offset)
    framing: str = "center"


def thumbnail_keys(source_id: str, clip_id: str) -> dict[str, str]:
    """Media-store keys of a clip's thumbnail, preview, cover manifest and one cover per platform."""
    base = f"thumbnails/{source_id}/{clip_id}"
    keys = {"thumbnail": f"{base}.jpg", "preview": f"{base}_preview.jpg", "manifest": f"{base}.covers.json"}
    keys.update({f"cover_{name}": f"{base}.cover-{name}.jpg" for name in COVER_SPECS})
    return keys


def _caption_style(s: Settings, workspace_style: str | None = None) -> CaptionStyle:
    """The workspace's preset when it has one (workspaces.caption_style), else the configured one, with the font
    and spoken-word colour settings applied where the style uses them."""
    style = style_named(workspace_style or s.caption_style)
    if s.caption_font:
        style = replace(style, font=s.caption_font)
    if style.highlight_colour and s.caption_highlight:
        style = replace(style, highlight_colour=s.caption_highlight)
    return style


def reframe_plan_key(source_id: str, clip_id: str) -> str:
    """Where a clip's crop plan is stored when the clip stage keeps it; thumbnails reuse its framing."""
    return f"clips/{source_id}/{clip_id}.reframe.json"


def _stored_crop(svc: Services, source_id: str, clip_id: str) -> CropPlan | None:
    key = reframe_plan_key(source_id, clip_id)
    if not svc.store.exists(key):
        return None
    try:
        data = json.loads(svc.store.get_bytes(key))
        return CropPlan.from_dict(data.get("crop", data) if isinstance(data, dict) else data)
    except (ValueError, KeyError, TypeError) as exc:
        log.warning("ignoring unreadable crop plan %s: %s", key, exc)
        return None


def materialize_thumbnails(svc: Services, source_id: str, *, title_overlay: bool = False) -> list[ThumbnailOutcome]:
    """Per clip: pick the cover frame from the un-captioned source inside the clip's span, cut to the clip's
    framing, and store the thumbnail, a preview and every platform's cover beside it (same bytes are encoded
    once). With `title_overlay` the clip's hook sentence is drawn on the images."""
    with _scope(svc.db, source_id) as scope:
        clips = [
            (c.id, c.start_s, c.end_s, c.text, c.width or 1080, c.height or 1920)
            for c in scope.list_clips(source_id)
            if c.media_key
        ]
        rule = (scope.workspace.experiment_defaults or {}).get("thumbnail")  # a thumbnail experiment's winner
    outcomes: list[ThumbnailOutcome] = []
    if clips:
        with local_copy(svc.store, _source_media_key(svc, source_id)) as source_path:
            for clip_id, start, end, text, width, height in clips:
                picked, images = source_thumbnails(
                    source_path,
                    *cover_window(rule, start, end),
                    crop=_stored_crop(svc, source_id, clip_id),
                    size=(width, height),
                    title=hook_title(text) if title_overlay else "",
                )
                keys = thumbnail_keys(source_id, clip_id)
                encoded: dict[int, bytes] = {}
                for name, img in images.items():
                    data = encoded.setdefault(id(img), jpeg_bytes(img, quality=80 if name == "preview" else 88))
                    svc.store.put_bytes(keys[name], data, content_type="image/jpeg")
                cover_keys = {n.removeprefix("cover_"): keys[n] for n in images if n.startswith("cover_")}
                manifest = {
                    "at_s": round(picked.clip_t, 3),
                    "source_t_s": round(picked.t, 3),
                    "framing": picked.framing,
                    "title": hook_title(text) if title_overlay else "",
                    "covers": {
                        n: {"key": k, "width": COVER_SPECS[n].width, "height": COVER_SPECS[n].height}
                        for n, k in cover_keys.items()
                    },
                }
                svc.store.put_bytes(keys["manifest"], json.dumps(manifest).encode(), content_type="application/json")
                preview = encoded[id(images["preview"])]
                outcomes.append(
                    ThumbnailOutcome(
                        clip_id,
                        keys["thumbnail"],
                        keys["preview"],
                        preview,
                        cover_keys,
                        picked.clip_t,
                        picked.framing,
                    )
                )
    with _scope(svc.db, source_id) as scope:
        for o in outcomes:
            scope.set_clip_thumbnail(o.clip_id, o.key)
        scope.update_source(source_id, status="ready")
    return outcomes


def mark_failed(db: Database, source_id: str, reason: str) -> None:
    with _scope(db, source_id) as scope:
        scope.update_source(source_id, status="failed", reject_reason=reason[:500])


@contextmanager
def failure_recorded(svc: Services, source_id: str) -> Iterator[None]:
    """A stage that crashes leaves the source marked failed with the reason, not stuck in "processing"."""
    try:
        yield
    except Exception as exc:
        try:
            mark_failed(svc.db, source_id, f"{type(exc).__name__}: {exc}")
        except Exception:  # the original error is the one worth raising
            log.exception("could not record the failure of %s", source_id)
        raise
