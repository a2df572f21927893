"""Media for experiment variants: a thumbnail variant's covers and a hook variant's re-cut clip.

A thumbnail variant is a frame of the clip or an uploaded image, cut to every platform's cover size the way the
clip's own covers are (covers.make_covers) and stored under experiments/<experiment>/<arm>/ with a covers.json that
names its clip and workspace, so publishing sends it only for posts of that clip (post_covers). A hook variant opens
on a strong line of the same highlight (a teaser of at most TEASER_MAX_S, sentence-aligned) and then plays the whole
clip; it is rendered by the clip stage's renderer with the clip's framing and captions and stored as a new Clip row
beside the original, so the normal publishing use cases can post it."""

from __future__ import annotations

import json
import logging
import re
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from cliply.media.cover_upload import decode_image, find_subject
from cliply.media.covers import COVER_SPECS, jpeg_bytes, make_covers, manifest_key
from cliply.media.ffmpeg import FFmpegError, run_ffmpeg
from cliply.media.highlights import build_sentences
from cliply.media.presets import PRESETS
from cliply.media.probe import probe
from cliply.media.reframe import CropPlan, ReframePlan, plan_framing
from cliply.media.render import RenderRequest, render_clip
from cliply.media.thumbnails import pick_source_frame
from cliply.media.types import Transcript, Word
from cliply.pipeline import (
    Services,
    _caption_style,
    _stored_crop,
    load_transcript,
    local_copy,
    reframe_plan_key,
    sha256_file,
)
from cliply.publishing.renditions import RECUT_REASON
from cliply.store.models import Clip, Source, Workspace
from cliply.store.repo import NotFound

if TYPE_CHECKING:
    from collections.abc import Sequence

    from cliply.wiring import Cliply

log = logging.getLogger(__name__)

VARIANT_PREFIX = "experiments/"
TEASER_MAX_S = 5.0  # the re-cut opens on at most this much of the strong line
TEASER_MIN_S = 0.5  # shorter than this is not a moment anyone can hear
SNAP_BACK_S = 1.5  # a hook point this soon after its sentence starts opens on the whole sentence
FRAME_EPS_S = 0.002  # pick_source_frame over [t, t + eps] decodes exactly the frame at t
_ID_PART = re.compile(r"[A-Za-z0-9_-]{1,64}")
_FRAME = re.compile(r"frame:(\d+(?:\.\d+)?)(%?)")
_IMAGE = re.compile(r"image:(\d+)")


@dataclass(frozen=True)
class _ClipRef:
    id: str
    source_id: str
    source_key: str
    rank: int
    start_s: float
    end_s: float
    score: float | None
    reasons: list[Any]
    text: str | None
    width: int
    height: int
    thumbnail_key: str | None

    @property
    def duration(self) -> float:
        return self.end_s - self.start_s


def variant_base(experiment_id: str, arm: str) -> str:
    """experiments/<experiment_id>/<arm>: both are ids the service made; anything else is refused."""
    for name, value in (("experiment id", experiment_id), ("arm", arm)):
        if not isinstance(value, str) or not _ID_PART.fullmatch(value):
            raise ValueError(f"{name} {value!r} must be 1-64 letters, digits, '-' or '_'")
    return f"{VARIANT_PREFIX}{experiment_id}/{arm}"


def _services(app: Cliply) -> Services:
    return Services(settings=app.settings, db=app.db, store=app.media, transcriber=app.transcriber)


def _clip(app: Cliply, workspace_id: int, clip_id: str) -> _ClipRef:
    with app.db.reading() as session:
        row = session.execute(
            select(Clip, Source.media_key)
            .join(Source, Source.id == Clip.source_id)
            .where(Clip.id == clip_id, Clip.workspace_id == workspace_id)
        ).one_or_none()
        if row is None or not row[0].media_key or not row[1]:
            raise NotFound(f"no rendered clip {clip_id!r} in this workspace")
        c, source_key = row
        return _ClipRef(
            c.id,
            c.source_id,
            str(source_key),
            c.rank,
            c.start_s,
            c.end_s,
            c.score,
            list(c.reasons or []),
            c.text,
            c.width or 1080,
            c.height or 1920,
            c.thumbnail_key,
        )


# ---------------------------------------------------------------- thumbnails


def parse_thumbnail_spec(spec: str, duration: float, images: int) -> tuple[str, float]:
    """("frame", seconds into the clip) or ("image", index); ValueError (one line) otherwise."""
    text = str(spec).strip()
    if m := _FRAME.fullmatch(text):
        t = float(m[1]) * duration / 100 if m[2] else float(m[1])
        if (m[2] and float(m[1]) >= 100) or t >= duration:
            raise ValueError(f"thumbnail {text!r} is past the clip's end ({duration:.2f} s)")
        return "frame", round(t, 3)
    if m := _IMAGE.fullmatch(text):
        i = int(m[1])
        if i >= images:
            raise ValueError(f"thumbnail {text!r}: only {images} image(s) were uploaded")
        return "image", float(i)
    raise ValueError(f"thumbnail {text!r}: use frame:<seconds>, frame:<percent>% or image:<index>")


def _shifted(plan: CropPlan, offset: float) -> CropPlan:
    """The same framing with its clock starting `offset` seconds later (crop plans are clip-relative)."""
    return replace(plan, keyframes=[(t - offset, x) for t, x in plan.keyframes])


def _frame_cover(app: Cliply, clip: _ClipRef, t: float) -> tuple[Any, Any, dict[str, Any]]:
    """The source frame at clip time t, framed the way the clip's own covers are (stored crop plan or face)."""
    crop = _stored_crop(_services(app), clip.source_id, clip.id)
    at = clip.start_s + t
    with local_copy(app.media, clip.source_key) as source:
        picked = pick_source_frame(
            source,
            at,
            at + FRAME_EPS_S,
            crop=_shifted(crop, t) if crop is not None else None,
            aspect=clip.width / clip.height,
        )
    extra = {"at_s": round(t, 3), "source_t_s": round(picked.t, 3), "framing": picked.framing}
    return picked.rgb, picked.subject, extra


def _image_cover(app: Cliply, clip: _ClipRef, data: bytes) -> tuple[Any, Any, dict[str, Any]]:
    rgb = decode_image(data)  # CoverRejected (one line) for anything that is not a usable JPEG/PNG/WebP
    subject, found_by = find_subject(rgb)
    extra: dict[str, Any] = {
        "custom": True,
        "subject": {"x": round(subject.cx, 1), "y": round(subject.cy, 1), "found_by": found_by},
        "image": {"width": int(rgb.shape[1]), "height": int(rgb.shape[0])},
    }
    own = manifest_key(clip.source_id, clip.id)
    if app.media.exists(own):  # TikTok takes a frame time, not an image: keep the clip's picked frame
        try:
            at = json.loads(app.media.get_bytes(own)).get("at_s")
            if isinstance(at, int | float):
                extra["at_s"] = at
        except (ValueError, AttributeError):
            pass
    return rgb, subject, extra


def thumbnail_options(
    app: Cliply,
    workspace_id: int,
    clip_id: str,
    spec: str,
    images: Sequence[bytes],
    *,
    experiment_id: str,
    arm: str,
) -> dict[str, Any]:
    """Store the variant's covers and return the target options that make publishing send them."""
    base = variant_base(experiment_id, arm)
    clip = _clip(app, workspace_id, clip_id)
    kind, value = parse_thumbnail_spec(spec, clip.duration, len(images))
    if kind == "frame":
        rgb, subject, extra = _frame_cover(app, clip, value)
    else:
        rgb, subject, extra = _image_cover(app, clip, images[int(value)])
    covers = make_covers(rgb, subject)
    keys = {name: f"{base}/cover-{name}.jpg" for name in covers}
    encoded: dict[int, bytes] = {}
    for name, img in covers.items():
        app.media.put_bytes(keys[name], encoded.setdefault(id(img), jpeg_bytes(img)), content_type="image/jpeg")
    manifest = {
        "clip_id": clip.id,
        "workspace_id": workspace_id,
        "experiment_id": experiment_id,
        "arm": arm,
        "variant": str(spec).strip(),
        "title": "",
        **extra,
        "covers": {
            n: {"key": k, "width": COVER_SPECS[n].width, "height": COVER_SPECS[n].height} for n, k in keys.items()
        },
    }
    mkey = f"{base}/covers.json"
    app.media.put_bytes(mkey, json.dumps(manifest).encode(), content_type="application/json")
    log.info("experiment %s arm %s: %s covers stored for clip %s", experiment_id, arm, kind, clip.id)
    return {"cover_manifest": mkey, "cover_time_s": value} if kind == "frame" else {"cover_manifest": mkey}


# ---------------------------------------------------------------- hooks


@dataclass(frozen=True)
class Teaser:
    start: float  # source seconds
    end: float
    text: str


def teaser_span(transcript: Transcript, clip_start: float, clip_end: float, at: float) -> Teaser:
    """The moment the re-cut opens on: from the word at `at` (its sentence's start when that is within
    SNAP_BACK_S before) through the whole sentences that fit in TEASER_MAX_S, else to the last word that fits."""
    words = [w for w in transcript.words if w.start >= clip_start - 1e-3 and w.end <= clip_end + 1e-3]
    first = next((w for w in words if w.end > at + 1e-3), None)
    if first is None:  # no speech after the hook point: the raw moment
        return Teaser(at, min(at + TEASER_MAX_S, clip_end), "")
    sentences = [s for s in build_sentences(transcript) if s.start >= clip_start - 1e-3 and s.end <= clip_end + 1e-3]
    start = first.start
    own = next((s for s in sentences if s.start <= first.start + 1e-3 and s.end >= first.end - 1e-3), None)
    if own is not None and at - own.start <= SNAP_BACK_S:
        start = own.start
    limit = min(start + TEASER_MAX_S, clip_end)
    ends = [s.end for s in sentences if s.start >= start - 1e-3 and s.end <= limit + 1e-3]
    if not ends:
        ends = [w.end for w in words if w.start >= start - 1e-3 and w.end <= limit + 1e-3]
    end = max(ends) if ends else limit
    return Teaser(start, end, " ".join(w.word.strip() for w in _within(words, start, end)))


def _within(words: Sequence[Word], start: float, end: float) -> list[Word]:
    return [w for w in words if w.end > start and w.start < end]


def hook_clip_id(clip_id: str, experiment_id: str, arm: str) -> str:
    suffix = f"-{experiment_id[-6:]}{arm}"
    return f"{clip_id[: 80 - len(suffix)]}{suffix}"


def _framing(app: Cliply, clip: _ClipRef) -> ReframePlan | None:
    key = reframe_plan_key(clip.source_id, clip.id)
    if not app.media.exists(key):
        return None
    try:
        return ReframePlan.from_dict(json.loads(app.media.get_bytes(key)))
    except (ValueError, KeyError, TypeError) as exc:
        log.warning("ignoring unreadable framing %s: %s", key, exc)
        return None


def _request(
    app: Cliply,
    source: Path,
    out: Path,
    clip: _ClipRef,
    span: tuple[float, float],
    words: list[Word],
    workspace_style: str | None,
) -> RenderRequest:
    """The clip stage's render of [start, end): the clip's stored framing (its clock shifted to the span), or a
    fresh plan when none is stored; the workspace's caption style."""
    s = app.settings
    start, end = span
    plan = _framing(app, clip)
    offset = start - clip.start_s
    if plan is None:
        plan = plan_framing(source, start, end, words=words, layout=s.clip_layout)
        offset = 0.0
    return RenderRequest(
        source=source,
        output=out,
        start=start,
        end=end,
        words=words,
        crop=_shifted(plan.crop, offset),
        preset=PRESETS["universal"],
        x264_preset=s.render_preset,
        crf=s.render_crf,
        style=_caption_style(s, workspace_style),
        fonts_dir=Path(s.fonts_dir) if s.fonts_dir else None,
        layout=plan.layout,
        panels=tuple(_shifted(p, offset) for p in plan.panels),
    )


def _concat(parts: list[Path], out: Path) -> None:
    """Join parts rendered with identical encoder settings without re-encoding them."""
    listing = out.with_suffix(".txt")
    listing.write_text("".join(f"file '{p.as_posix()}'\n" for p in parts), encoding="utf-8")
    args = ["-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy", "-movflags", "+faststart", str(out)]
    try:
        run_ffmpeg(args)
    except FFmpegError as exc:
        raise RuntimeError(f"joining the hook and the clip failed: {exc}") from exc


def hook_clip(app: Cliply, workspace_id: int, clip_id: str, hook_at_s: float, *, experiment_id: str, arm: str) -> str:
    """Render the clip re-cut to open on the moment at hook_at_s (clip-relative) and return the new clip's id."""
    variant_base(experiment_id, arm)
    clip = _clip(app, workspace_id, clip_id)
    if not 0 <= hook_at_s < clip.duration:
        raise ValueError(f"hook_at_s {hook_at_s:g} is outside the clip (0-{clip.duration:.2f} s)")
    try:
        transcript = load_transcript(_services(app), clip.source_id)
    except FileNotFoundError:
        transcript = Transcript(language="", text="", segments=(), duration=0.0)
    teaser = teaser_span(transcript, clip.start_s, clip.end_s, clip.start_s + hook_at_s)
    if teaser.end - teaser.start < TEASER_MIN_S:
        raise ValueError(f"hook_at_s {hook_at_s:g} leaves under {TEASER_MIN_S:g} s of the clip to open on")
    with app.db.reading() as session:
        ws = session.get(Workspace, workspace_id)
        workspace_style = ws.caption_style if ws is not None else None
    new_id = hook_clip_id(clip.id, experiment_id, arm)
    key = f"clips/{clip.source_id}/{new_id}.mp4"
    words = transcript.words
    with local_copy(app.media, clip.source_key) as source, tempfile.TemporaryDirectory(prefix="cliply-hook-") as tmp:
        parts = []
        for name, span in (("teaser", (teaser.start, teaser.end)), ("body", (clip.start_s, clip.end_s))):
            out = Path(tmp) / f"{name}.mp4"
            render_clip(_request(app, source, out, clip, span, _within(words, *span), workspace_style))
            parts.append(out)
        joined = Path(tmp) / f"{new_id}.mp4"
        _concat(parts, joined)
        info = probe(joined)
        digest = sha256_file(joined)
        app.media.put_file(key, joined, content_type="video/mp4")
    _copy_covers(app, clip, new_id, teaser.end - teaser.start)
    reason = f"{RECUT_REASON} opens on {teaser.start - clip.start_s:.2f}-{teaser.end - clip.start_s:.2f} s"
    _save_clip(app, workspace_id, clip, new_id, key, info, digest, reason)
    log.info(
        "experiment %s arm %s: hook clip %s (%.2f s teaser)", experiment_id, arm, new_id, teaser.end - teaser.start
    )
    return new_id


def _copy_covers(app: Cliply, clip: _ClipRef, new_id: str, teaser_s: float) -> None:
    """The re-cut keeps the clip's covers (only the opening differs); its cover frame comes teaser_s later."""
    own = manifest_key(clip.source_id, clip.id)
    if not app.media.exists(own):
        return
    try:
        manifest = json.loads(app.media.get_bytes(own))
    except ValueError:
        return
    if isinstance(manifest, dict):
        if isinstance(manifest.get("at_s"), int | float):
            manifest["at_s"] = round(manifest["at_s"] + teaser_s, 3)
        data = json.dumps(manifest).encode()
        app.media.put_bytes(manifest_key(clip.source_id, new_id), data, content_type="application/json")


def _save_clip(
    app: Cliply, workspace_id: int, clip: _ClipRef, new_id: str, key: str, info: Any, digest: str, reason: str
) -> None:
    """The re-cut as a clip of the same source and rank (listed beside its original); re-running the source's
    clip stage replaces it like every other clip of the source."""
    with app.db.session() as session:
        row = session.get(Clip, new_id)
        if row is not None and row.workspace_id != workspace_id:
            raise ValueError(f"clip id {new_id!r} is taken")
        if row is None:
            row = Clip(id=new_id, source_id=clip.source_id, workspace_id=workspace_id)
            session.add(row)
        row.rank, row.start_s, row.end_s = clip.rank, clip.start_s, clip.end_s
        row.score, row.reasons, row.text = clip.score, [*clip.reasons, reason], clip.text
        row.media_key, row.thumbnail_key = key, clip.thumbnail_key
        row.duration_s, row.size_bytes, row.sha256 = info.duration, info.size_bytes, digest
        row.width, row.height = info.width, info.height
