"""Covers the emulated platforms received, recorded on the accepted post as `payload["cover"]` so tests can check
that the chosen cover reached each platform:

- {"kind": "image", "sha256", "bytes", "content_type", "width", "height", "via"}: an image (YouTube thumbnails.set,
  Facebook /{video}/thumbnails, Instagram cover_url, Pinterest cover_image_data / cover_image_url);
- {"kind": "frame", "at_ms", "via"}: a frame time (TikTok video_cover_timestamp_ms, Instagram thumb_offset,
  Pinterest cover_image_key_frame_time)."""

from __future__ import annotations

import hashlib
from io import BytesIO
from typing import Any

import httpx

from cliply.sandbox.state import SandboxState

IMAGE_TYPES = {b"\xff\xd8\xff": "image/jpeg", b"\x89PNG\r\n\x1a\n": "image/png"}


def image_info(data: bytes, via: str) -> dict[str, Any] | None:
    """What a platform learns from an uploaded cover image; None when it is not a JPEG or PNG image."""
    from PIL import Image, UnidentifiedImageError

    ctype = next((t for magic, t in IMAGE_TYPES.items() if data.startswith(magic)), None)
    if ctype is None:
        return None
    try:
        with Image.open(BytesIO(data)) as img:
            width, height = img.size
    except (UnidentifiedImageError, OSError):
        return None
    return {
        "kind": "image",
        "sha256": hashlib.sha256(data).hexdigest(),
        "bytes": len(data),
        "content_type": ctype,
        "width": width,
        "height": height,
        "via": via,
    }


def frame_info(at_ms: float, via: str) -> dict[str, Any]:
    return {"kind": "frame", "at_ms": int(at_ms), "via": via}


async def fetch_image(url: str, via: str) -> dict[str, Any] | None:
    """Pull a cover URL as the platform does (no redirects, no auth): its image info, or None when unusable."""
    if not url.startswith(("http://", "https://")):
        return None
    try:
        async with httpx.AsyncClient(timeout=5.0, follow_redirects=False) as http:
            resp = await http.get(url)
    except httpx.HTTPError:
        return None
    if resp.status_code != 200:
        return None
    return image_info(resp.content, via)


def record_cover(state: SandboxState, platform: str, post_id: str, cover: dict[str, Any]) -> bool:
    """Attach a cover to an accepted post (a cover set after the post was recorded, e.g. YouTube's)."""
    post = state.find_post(platform, post_id)
    if post is None:
        return False
    with state.lock:
        post.payload["cover"] = cover
    return True


def cover_of(state: SandboxState, platform: str, post_id: str) -> dict[str, Any] | None:
    post = state.find_post(platform, post_id)
    return post.payload.get("cover") if post is not None else None
