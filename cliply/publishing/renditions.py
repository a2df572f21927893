"""Per-platform renditions: the file each publish target sends.

A target gets the clip's main render when it fits its platform's preset (PyAV probe: duration, size, resolution,
fps, codecs, faststart). Otherwise a rendition is made once and cached in the media store at
renditions/<source>/<clip>/<platform>[.<variant>].mp4, beside a small JSON stamp naming the render it was made from;
every later target of that platform reuses it while the stamp matches. Variants:
- "" — the main render transcoded into the platform's preset (trimmed to its maximum duration, bitrate capped so the
  file stays under its size limit);
- "strict" — after the platform refused the file's format or size: H.264 High, yuv420p, 30 fps, ≤ 60 s, < 50 MB;
- "style-<name>" — a post's own caption style: re-rendered from the source with the clip's stored crop plan and the
  stored transcript's words.
Making one is serialised per key (a thread lock plus a file lock in the lock directory), and the cache is checked
again under the lock, so concurrent publishers on one host never render the same rendition twice at once. Publishers
on different hosts may both render on a cold cache; both write identical bytes and the last write wins.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from cliply.media.caption_styles import STYLES
from cliply.media.presets import MB, PRESETS, Preset, check_clip
from cliply.media.probe import ProbeError, probe
from cliply.media.types import MediaInfo
from cliply.storage.media_store import MediaStore

log = logging.getLogger(__name__)

# Platform name → its preset in cliply.media.presets.
PLATFORM_PRESETS = {
    "youtube": "youtube_shorts",
    "tiktok": "tiktok",
    "instagram": "instagram_reels",
    "facebook": "facebook_reels",
    "threads": "threads",
    "x": "x",
    "linkedin": "linkedin",
    "pinterest": "pinterest",
    "bluesky": "bluesky",
}
PREFIX = "renditions"
STRICT = "strict"
STRICT_MAX_S = 60.0
STRICT_MAX_BYTES = 50 * MB
STRICT_MAX_KBPS = 8_000
AUDIO_KBPS = 128
SIZE_HEADROOM = 0.85  # of the byte limit the capped bitrate aims for (container overhead, VBV overshoot)
MIN_VIDEO_KBPS = 300


class RenditionError(RuntimeError):
    """A rendition could not be made; the message says why."""


RECUT_REASON = "hook variant:"  # how a re-cut clip's reasons say so (cliply.experiments.variant_media)


@dataclass(frozen=True)
class ClipMedia:
    """What a rendition is made from: the clip's main render and, for re-renders, its place in the source."""

    key: str
    source_id: str
    clip_id: str
    start_s: float = 0.0
    end_s: float = 0.0
    source_key: str = ""
    sha256: str = ""
    recut: bool = False  # a re-cut (an experiment's hook variant): its span alone does not reproduce it


@dataclass(frozen=True)
class Choice:
    """The file one platform gets: the main render (no reasons) or a rendition and why it was made."""

    platform: str
    key: str
    reasons: tuple[str, ...] = ()
    size_bytes: int = 0
    rendered: bool = False  # made by this call (False: the main render, or a cached rendition)

    @property
    def main(self) -> bool:
        return not self.reasons


def preset_for(platform: str) -> Preset:
    return PRESETS[PLATFORM_PRESETS.get(platform, "universal")]


def strict_preset(platform: str) -> Preset:
    """The platform's safest envelope: its own limits, but never over 60 s, 50 MB or 8 Mbps."""
    p = preset_for(platform)
    return replace(
        p,
        name=f"{p.name}_strict",
        max_duration_s=min(p.max_duration_s, STRICT_MAX_S),
        max_bytes=min(p.max_bytes, STRICT_MAX_BYTES),
        max_video_kbps=min(p.max_video_kbps, STRICT_MAX_KBPS),
    )


def size_capped(preset: Preset, duration_s: float) -> Preset:
    """`preset` with the video bitrate capped so `duration_s` (at most the preset's maximum) fits its byte limit."""
    seconds = max(0.5, min(duration_s, preset.max_duration_s))
    budget = preset.max_bytes * SIZE_HEADROOM * 8 / 1000 / seconds - AUDIO_KBPS
    return replace(preset, max_video_kbps=max(MIN_VIDEO_KBPS, min(preset.max_video_kbps, int(budget))))


def rendition_key(clip: ClipMedia, platform: str, variant: str = "") -> str:
    base = f"{PREFIX}/{clip.source_id}/{clip.clip_id}/{platform}"
    return f"{base}.{variant}.mp4" if variant else f"{base}.mp4"


def stamp_key(key: str) -> str:
    return key[: -len(".mp4")] + ".json"


def style_variant(style: str, strict: bool = False) -> str:
    return f"style-{style}" + (f".{STRICT}" if strict else "")


class Renditions:
    """Chooses and makes renditions in one media store (thread-safe)."""

    def __init__(
        self,
        media: MediaStore,
        *,
        lock_dir: Path | None = None,
        x264_preset: str = "veryfast",
        crf: int = 23,
    ) -> None:
        self.media = media
        self.lock_dir = lock_dir or Path(tempfile.gettempdir()) / "cliply-rendition-locks"
        self.x264_preset = x264_preset
        self.crf = crf
        self._locks: dict[str, threading.Lock] = {}
        self._locks_lock = threading.Lock()
        self.made = 0  # renditions rendered by this instance (cache misses)

    # ---- choosing --------------------------------------------------------------------------------------------
    def choose(
        self,
        clip: ClipMedia,
        platform: str,
        main_path: Path,
        *,
        strict: bool = False,
        caption_style: str | None = None,
    ) -> Choice:
        """The file `platform` gets for `clip` (`main_path`: a local copy of the main render)."""
        if caption_style and clip.recut:
            log.warning("clip %s is a re-cut: published in its own caption style, not %s", clip.clip_id, caption_style)
            caption_style = None
        if caption_style:
            if caption_style not in STYLES:
                raise RenditionError(f"unknown caption style {caption_style!r}; choose from {', '.join(STYLES)}")
            preset = strict_preset(platform) if strict else preset_for(platform)
            why = f"caption style {caption_style}" + (" (stricter, after a format rejection)" if strict else "")
            return self._ensure(
                clip,
                platform,
                style_variant(caption_style, strict),
                (why,),
                lambda out: self._restyle(clip, caption_style, preset, out),
            )
        if strict:
            preset = strict_preset(platform)
            why = "the platform refused the file's format or size: stricter rendition"
            return self._ensure(clip, platform, STRICT, (why,), lambda out: self._transcode(main_path, preset, out))
        try:
            info = probe(main_path)
        except ProbeError as exc:
            # Nothing to measure: the platform's own check decides (a format rejection then gets a strict rendition).
            log.warning("clip %s could not be probed (%s); publishing the main render as is", clip.key, exc)
            return Choice(platform, clip.key)
        problems = check_clip(info, preset_for(platform))
        if not problems:
            return Choice(platform, clip.key, size_bytes=info.size_bytes)
        preset = preset_for(platform)
        return self._ensure(
            clip, platform, "", tuple(problems), lambda out: self._transcode(main_path, preset, out, info=info)
        )

    # ---- making ----------------------------------------------------------------------------------------------
    def _ensure(
        self,
        clip: ClipMedia,
        platform: str,
        variant: str,
        reasons: tuple[str, ...],
        make: Callable[[Path], MediaInfo],
    ) -> Choice:
        key = rendition_key(clip, platform, variant)
        stamp = {"from": clip.key, "from_sha256": clip.sha256 or self._fingerprint(clip.key), "variant": variant}
        with self._lock(key):
            cached = self._cached(key, stamp)
            if cached is not None:
                return Choice(platform, key, tuple(cached.get("reasons") or reasons), int(cached.get("size_bytes", 0)))
            with tempfile.TemporaryDirectory(prefix="cliply-rendition-") as tmp:
                out = Path(tmp) / f"{platform}.mp4"
                info = make(out)
                self.media.put_file(key, out, content_type="video/mp4")
            record = {**stamp, "reasons": list(reasons), "size_bytes": info.size_bytes, "duration_s": info.duration}
            record |= {"width": info.width, "height": info.height}
            self.media.put_bytes(stamp_key(key), json.dumps(record).encode(), content_type="application/json")
            with self._locks_lock:
                self.made += 1
            log.info("rendition %s made (%s)", key, "; ".join(reasons))
            return Choice(platform, key, reasons, info.size_bytes, rendered=True)

    def _fingerprint(self, key: str) -> str:
        try:
            return f"size:{self.media.size(key)}"
        except (FileNotFoundError, OSError):
            return ""

    def _cached(self, key: str, stamp: dict[str, Any]) -> dict[str, Any] | None:
        if not self.media.exists(key) or not self.media.exists(stamp_key(key)):
            return None
        try:
            record = json.loads(self.media.get_bytes(stamp_key(key)))
        except (ValueError, FileNotFoundError):
            return None
        if not isinstance(record, dict) or any(record.get(k) != v for k, v in stamp.items()):
            return None  # made from an older render of the clip
        return record

    @contextlib.contextmanager
    def _lock(self, key: str) -> Iterator[None]:
        with self._locks_lock:
            local = self._locks.setdefault(key, threading.Lock())
        self.lock_dir.mkdir(parents=True, exist_ok=True)
        name = hashlib.sha256(key.encode()).hexdigest()[:32] + ".lock"
        with local, (self.lock_dir / name).open("a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _transcode(self, src: Path, preset: Preset, out: Path, *, info: MediaInfo | None = None) -> MediaInfo:
        from cliply.media.render import RenderError, transcode_for

        try:
            info = info or probe(src)
        except ProbeError as exc:
            raise RenditionError(f"the clip cannot be read: {exc}") from exc
        target = size_capped(preset, info.duration)
        w, h = info.width or 0, info.height or 0
        if 0 < w < target.width and 0 < h < target.height and abs(w / h - target.aspect) <= 0.01:
            # Already the right shape and smaller: keep its size (upscaling adds bytes, not detail).
            target = replace(target, width=w - w % 2, height=h - h % 2)
        try:
            return transcode_for(target, src, out, x264_preset=self.x264_preset, crf=self.crf)
        except RenderError as exc:
            raise RenditionError(str(exc)) from exc

    def _restyle(self, clip: ClipMedia, style: str, preset: Preset, out: Path) -> MediaInfo:
        """Re-render the clip from its source with another caption style: same span, crop plan and words."""
        from cliply.media.reframe import ReframePlan
        from cliply.media.render import RenderError, RenderRequest, render_clip
        from cliply.media.transcript_formats import from_json
        from cliply.pipeline import reframe_plan_key, transcript_keys

        if not clip.source_key or clip.end_s <= clip.start_s:
            raise RenditionError(f"clip {clip.clip_id} has no source span to re-render with style {style!r}")
        end = min(clip.end_s, clip.start_s + preset.max_duration_s)
        words = []
        tkey = transcript_keys(clip.source_id)["json"]
        if self.media.exists(tkey):
            transcript = from_json(self.media.get_bytes(tkey).decode())
            words = [w for w in transcript.words if w.end > clip.start_s and w.start < end]
        framing = None
        pkey = reframe_plan_key(clip.source_id, clip.clip_id)
        if self.media.exists(pkey):
            framing = ReframePlan.from_dict(json.loads(self.media.get_bytes(pkey)))
        with self._local(clip.source_key) as source:
            request = RenderRequest(
                source=source,
                output=out,
                start=clip.start_s,
                end=end,
                words=words,
                crop=framing.crop if framing else None,
                layout=framing.layout if framing else "fill",
                panels=framing.panels if framing else (),
                preset=size_capped(preset, end - clip.start_s),
                x264_preset=self.x264_preset,
                crf=self.crf,
                caption_style=style,
            )
            try:
                return render_clip(request)
            except RenderError as exc:
                raise RenditionError(str(exc)) from exc

    @contextlib.contextmanager
    def _local(self, key: str) -> Iterator[Path]:
        path = self.media.local_path(key)
        if path is not None:
            if not path.is_file():
                raise RenditionError(f"media {key} is missing")
            yield path
            return
        with tempfile.TemporaryDirectory(prefix="cliply-rendition-src-") as tmp:
            try:
                path = self.media.get_file(key, Path(tmp) / Path(key).name)
            except FileNotFoundError:
                raise RenditionError(f"media {key} is missing") from None
            yield path
