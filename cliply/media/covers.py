"""Per-platform cover images cut from one chosen source frame, with the subject kept in frame, and an optional
title overlay (the clip's hook sentence) in the packaged Source Sans Pro Bold (see cliply.media.fonts)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from io import BytesIO

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from cliply.media.fonts import font_file


@dataclass(frozen=True)
class CoverSpec:
    name: str
    width: int
    height: int
    note: str

    @property
    def aspect(self) -> float:
        return self.width / self.height


# Cover images for the platforms that take one. TikTok only takes a frame timestamp (video_cover_timestamp_ms)
# and Instagram may take thumb_offset instead of an image: their image is the same frame, for the UI and for
# cover_url. X, Threads and Bluesky take no cover for a video.
COVER_SPECS: dict[str, CoverSpec] = {
    c.name: c
    for c in (
        CoverSpec("youtube", 1280, 720, "thumbnails.set: 16:9, 1280×720, JPEG ≤ 2 MB"),
        CoverSpec("tiktok", 1080, 1920, "cover frame (sent as video_cover_timestamp_ms)"),
        CoverSpec("instagram", 1080, 1920, "Reels cover (cover_url or thumb_offset)"),
        CoverSpec("instagram_grid", 1080, 1350, "how the Reel shows in the 4:5 profile grid"),
        CoverSpec("facebook", 1080, 1920, "Reels thumbnail"),
        CoverSpec("linkedin", 1080, 1920, "video thumbnail, same aspect as the video"),
        CoverSpec("pinterest", 1000, 1500, "video Pin cover (cover_image_url), 2:3"),
    )
}

# Platforms that take a cover image file or URL (the others take only a frame time, or nothing).
IMAGE_COVER_PLATFORMS = frozenset({"youtube", "instagram", "facebook", "pinterest"})


def covers_base(source_id: str, clip_id: str) -> str:
    """The media-store prefix of a clip's thumbnail, covers and cover manifest (see pipeline.thumbnail_keys)."""
    return f"thumbnails/{source_id}/{clip_id}"


def manifest_key(source_id: str, clip_id: str) -> str:
    """covers.json: `at_s` (the cover frame's time in the clip), `covers` {platform: {key, width, height}} and
    `custom` (true once the user uploaded their own image)."""
    return f"{covers_base(source_id, clip_id)}.covers.json"


def cover_key(source_id: str, clip_id: str, name: str) -> str:
    return f"{covers_base(source_id, clip_id)}.cover-{name}.jpg"


TITLE_MAX_CHARS = 70
TITLE_MAX_LINES = 3
TITLE_WIDTH_FRACTION = 0.88  # of the image width
TITLE_TOP_FRACTION = 0.12  # top of the text block; the bottom of vertical covers sits under platform buttons


@dataclass(frozen=True)
class Subject:
    """Where the subject is in the source frame (source pixels): the centre a crop keeps in view."""

    cx: float
    cy: float


def crop_box(src_w: int, src_h: int, aspect: float, subject: Subject) -> tuple[int, int, int, int]:
    """The largest `aspect` window inside the frame, centred on the subject as far as the frame edges allow."""
    if src_w / src_h > aspect:
        h = src_h
        w = min(src_w, round(src_h * aspect))
    else:
        w = src_w
        h = min(src_h, round(src_w / aspect))
    x = round(min(max(subject.cx - w / 2, 0), src_w - w))
    y = round(min(max(subject.cy - h / 2, 0), src_h - h))
    return x, y, w, h


def cut(frame: np.ndarray, width: int, height: int, subject: Subject) -> Image.Image:
    """A width×height image of `frame` (RGB array): the subject-centred crop at that aspect, resized."""
    import cv2

    src_h, src_w = frame.shape[:2]
    x, y, w, h = crop_box(src_w, src_h, width / height, subject)
    region = frame[y : y + h, x : x + w]
    if (w, h) != (width, height):
        interpolation = cv2.INTER_AREA if w > width else cv2.INTER_LINEAR
        region = cv2.resize(region, (width, height), interpolation=interpolation)
    return Image.fromarray(np.ascontiguousarray(region))


def hook_title(text: str | None, max_chars: int = TITLE_MAX_CHARS) -> str:
    """The clip's first sentence, whitespace collapsed and cut at a word boundary to `max_chars`."""
    if not text:
        return ""
    flat = " ".join(text.split())
    first = re.split(r"(?<=[.!?])\s+", flat, maxsplit=1)[0].strip()
    if len(first) <= max_chars:
        return first
    cut_at = first.rfind(" ", 0, max_chars - 1)
    return first[: cut_at if cut_at > 0 else max_chars - 1].rstrip(",;:- ") + "…"


@cache
def _font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(font_file(bold=True)), size)


def _wrap(draw: ImageDraw.ImageDraw, words: list[str], font: ImageFont.FreeTypeFont, max_w: float) -> list[str]:
    lines: list[str] = []
    for word in words:
        if lines and draw.textlength(f"{lines[-1]} {word}", font=font) <= max_w:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return lines


def draw_title(img: Image.Image, title: str) -> Image.Image:
    """Draw `title` centred near the top in white with a black outline; shrink the size until it fits."""
    if not title:
        return img
    out = img.copy()
    draw = ImageDraw.Draw(out)
    w, h = out.size
    max_w = w * TITLE_WIDTH_FRACTION
    words = title.split()
    size = max(12, round(min(w / 9, h / 8)))
    while True:
        font = _font(size)
        lines = _wrap(draw, words, font, max_w)
        fits = len(lines) <= TITLE_MAX_LINES and all(draw.textlength(line, font=font) <= max_w for line in lines)
        if fits or size <= 12:
            break
        size = max(12, int(size * 0.9))
    stroke = max(2, round(size / 12))
    line_h = round(size * 1.15)
    y = round(h * TITLE_TOP_FRACTION)
    for line in lines[:TITLE_MAX_LINES]:
        lw = draw.textlength(line, font=font)
        draw.text(((w - lw) / 2, y), line, font=font, fill=(255, 255, 255), stroke_width=stroke, stroke_fill=(0, 0, 0))
        y += line_h
    return out


def jpeg_bytes(img: Image.Image, quality: int = 88) -> bytes:
    buf = BytesIO()
    img.convert("RGB").save(buf, format="JPEG", quality=quality, optimize=False)
    return buf.getvalue()


def make_covers(
    frame: np.ndarray, subject: Subject, *, title: str = "", specs: dict[str, CoverSpec] | None = None
) -> dict[str, Image.Image]:
    """Every platform's cover from one RGB frame: subject-centred crop at the platform's aspect and exact size.
    Platforms with the same size share one image object (callers encode it once)."""
    by_size: dict[tuple[int, int], Image.Image] = {}
    out: dict[str, Image.Image] = {}
    for name, spec in (specs or COVER_SPECS).items():
        size = (spec.width, spec.height)
        if size not in by_size:
            img = cut(frame, spec.width, spec.height, subject)
            by_size[size] = draw_title(img, title) if title else img
        out[name] = by_size[size]
    return out
