"""Custom cover upload: one image the user chose replaces a clip's picked covers on every platform.

The image is checked before it is decoded (type from its first bytes, never from a file name; byte and pixel caps),
the subject is found (the largest frontal face, else the centre of the most salient region by spectral residual),
every platform's cover is cut around it at COVER_SPECS sizes, and the covers plus covers.json (`custom: true`) are
written where the publisher reads them. The clip is looked up in the caller's workspace only."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from functools import cache
from io import BytesIO
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from cliply.media.covers import COVER_SPECS, Subject, cover_key, covers_base, cut, jpeg_bytes, make_covers, manifest_key
from cliply.store.models import Clip
from cliply.store.repo import NotFound
from cliply.usecases import ServiceError, WorkspaceRef, workspace_scope

if TYPE_CHECKING:
    from cliply.wiring import Cliply

log = logging.getLogger(__name__)

MAX_COVER_BYTES = 10 * 1024**2  # 10 MiB: a phone photo fits, a video renamed to .jpg does not
MAX_COVER_PIXELS = 40_000_000  # 40 megapixels (e.g. 8000×5000), checked from the header before decoding
MIN_COVER_SIDE = 200  # smaller than this cannot make a readable cover at any platform's size
FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
SALIENCY_SIDE = 64  # spectral residual works on a small fixed-size image
FACE_ANALYSIS_WIDTH = 640


class CoverRejected(ServiceError):
    """The uploaded image cannot be used (bad input: HTTP 400/413/415, CLI exit 2)."""


def sniff(data: bytes) -> str | None:
    """The image format from its magic bytes: JPEG, PNG or WEBP, else None."""
    if data[:3] == b"\xff\xd8\xff":
        return "JPEG"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "PNG"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def decode_image(data: bytes, *, max_bytes: int | None = None, max_pixels: int | None = None) -> np.ndarray:
    """The upload as an upright RGB array, or CoverRejected with a one-line reason."""
    max_bytes = MAX_COVER_BYTES if max_bytes is None else max_bytes
    max_pixels = MAX_COVER_PIXELS if max_pixels is None else max_pixels
    if not data:
        raise CoverRejected("the image is empty")
    if len(data) > max_bytes:
        raise CoverRejected(f"the image is {len(data)} bytes, the limit is {max_bytes}", status=413)
    kind = sniff(data)
    if kind is None:
        raise CoverRejected("not a JPEG, PNG or WebP image (checked from its content)", status=415)
    try:
        with Image.open(BytesIO(data), formats=[kind]) as img:
            w, h = img.size  # from the header: nothing is decoded yet
            if w * h > max_pixels:
                raise CoverRejected(f"the image is {w}×{h} = {w * h} pixels, the limit is {max_pixels}", status=413)
            if min(w, h) < MIN_COVER_SIDE:
                raise CoverRejected(f"the image is {w}×{h}; each side must be at least {MIN_COVER_SIDE} pixels")
            upright = ImageOps.exif_transpose(img) or img
            rgb = np.asarray(upright.convert("RGB"))
    except CoverRejected:
        raise
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise CoverRejected(
            f"the {kind} image cannot be decoded (truncated or corrupt: {type(exc).__name__})"
        ) from None
    return np.ascontiguousarray(rgb)


def saliency_centre(rgb: np.ndarray) -> Subject:
    """Centre of interest by spectral residual saliency (Hou & Zhang 2007): the weighted centroid of the most
    salient 5 % of the image."""
    import cv2

    h, w = rgb.shape[:2]
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    small = cv2.resize(gray, (SALIENCY_SIDE, SALIENCY_SIDE), interpolation=cv2.INTER_AREA)
    spectrum = np.fft.fft2(small)
    log_amp = np.log(np.abs(spectrum) + 1e-6)
    residual = log_amp - cv2.blur(log_amp, (3, 3))
    sal = np.abs(np.fft.ifft2(np.exp(residual + 1j * np.angle(spectrum)))) ** 2
    sal = cv2.GaussianBlur(sal.astype(np.float32), (0, 0), 2.5)
    top = sal >= np.quantile(sal, 0.95)
    weights = np.where(top, sal, 0.0)
    total = float(weights.sum())
    if total <= 0:
        return Subject(w / 2, h / 2)
    ys, xs = np.mgrid[0:SALIENCY_SIDE, 0:SALIENCY_SIDE]
    cx = float((weights * (xs + 0.5)).sum() / total) * w / SALIENCY_SIDE
    cy = float((weights * (ys + 0.5)).sum() / total) * h / SALIENCY_SIDE
    return Subject(cx, cy)


@cache
def _face_cascade() -> Any:
    import cv2

    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")  # type: ignore[attr-defined]
    return None if cascade.empty() else cascade


def largest_face(rgb: np.ndarray) -> tuple[float, float, float, float] | None:
    """The largest frontal face (x, y, w, h) in image pixels (OpenCV's Haar cascade at FACE_ANALYSIS_WIDTH)."""
    import cv2

    cascade = _face_cascade()
    if cascade is None:
        return None
    h, w = rgb.shape[:2]
    scale = max(1.0, w / FACE_ANALYSIS_WIDTH)
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    if scale > 1:
        gray = cv2.resize(gray, (round(w / scale), round(h / scale)), interpolation=cv2.INTER_AREA)
    min_side = max(24, min(gray.shape) // 12)  # a face under ~1/12 of the short side is not the subject
    found = cascade.detectMultiScale(
        cv2.equalizeHist(gray), scaleFactor=1.1, minNeighbors=5, minSize=(min_side, min_side)
    )
    boxes = np.asarray(found).reshape(-1, 4)
    if not len(boxes):
        return None
    x, y, fw, fh = max(boxes, key=lambda b: int(b[2]) * int(b[3]))
    return float(x * scale), float(y * scale), float(fw * scale), float(fh * scale)


def find_subject(rgb: np.ndarray) -> tuple[Subject, str]:
    """(where the subject is, how it was found): "face" (the largest frontal face, OpenCV) or "saliency"."""
    face = largest_face(rgb)
    if face is not None:
        x, y, fw, fh = face
        # A little above the face's centre keeps some headroom and the shoulders below it.
        return Subject(x + fw / 2, y + fh * 0.45), "face"
    return saliency_centre(rgb), "saliency"


@dataclass(frozen=True)
class CoverUpload:
    clip_id: str
    subject: Subject
    found_by: str  # face | saliency
    covers: dict[str, str]  # platform → media-store key
    manifest_key: str

    def to_json(self) -> dict[str, Any]:
        return {
            "clip_id": self.clip_id,
            "custom": True,
            "subject": {"x": round(self.subject.cx, 1), "y": round(self.subject.cy, 1), "found_by": self.found_by},
            "covers": {
                n: {"key": k, "width": COVER_SPECS[n].width, "height": COVER_SPECS[n].height}
                for n, k in self.covers.items()
            },
            "manifest": self.manifest_key,
        }


def upload_cover(
    app: Cliply,
    ref: WorkspaceRef,
    clip_id: str,
    data: bytes,
    *,
    max_bytes: int | None = None,
    max_pixels: int | None = None,
) -> CoverUpload:
    """Validate `data`, cut every platform's cover around its subject and store them as the clip's chosen covers
    (they replace the picked ones; covers.json says `custom: true` and keeps the picked frame's `at_s`, which is
    still what TikTok gets: its API takes a frame time, not an image)."""
    with workspace_scope(app, ref, write=False) as scope:
        clip = scope.session.get(Clip, clip_id) if isinstance(clip_id, str) and clip_id else None
        if clip is None or clip.workspace_id != scope.workspace_id:
            raise NotFound(f"no clip {clip_id!r} in this workspace")
        source_id, width, height = clip.source_id, clip.width or 1080, clip.height or 1920
    rgb = decode_image(data, max_bytes=max_bytes, max_pixels=max_pixels)
    subject, found_by = find_subject(rgb)
    images = make_covers(rgb, subject)
    keys = {name: cover_key(source_id, clip_id, name) for name in images}
    encoded: dict[int, bytes] = {}
    for name, img in images.items():
        app.media.put_bytes(keys[name], encoded.setdefault(id(img), jpeg_bytes(img)), content_type="image/jpeg")
    thumb_key = f"{covers_base(source_id, clip_id)}.jpg"
    app.media.put_bytes(thumb_key, jpeg_bytes(cut(rgb, width, height, subject)), content_type="image/jpeg")
    mkey = manifest_key(source_id, clip_id)
    manifest = _read_manifest(app, mkey)
    manifest.update(
        custom=True,
        subject={"x": round(subject.cx, 1), "y": round(subject.cy, 1), "found_by": found_by},
        image={"width": int(rgb.shape[1]), "height": int(rgb.shape[0])},
        covers={n: {"key": k, "width": COVER_SPECS[n].width, "height": COVER_SPECS[n].height} for n, k in keys.items()},
    )
    app.media.put_bytes(mkey, json.dumps(manifest).encode(), content_type="application/json")
    with workspace_scope(app, ref) as scope:
        scope.set_clip_thumbnail(clip_id, thumb_key)
    log.info("clip %s: custom cover stored (%s subject at %.0f,%.0f)", clip_id, found_by, subject.cx, subject.cy)
    return CoverUpload(clip_id, subject, found_by, keys, mkey)


def _read_manifest(app: Cliply, key: str) -> dict[str, Any]:
    if not app.media.exists(key):
        return {}
    try:
        data = json.loads(app.media.get_bytes(key))
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
