"""Clients for the nine publishing platforms behind one interface (cliply.platforms.base.PlatformClient)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cliply.platforms.base import PlatformClient, PlatformConfig
    from cliply.platforms.models import PostRef

PLATFORMS = ("youtube", "tiktok", "instagram", "facebook", "threads", "x", "linkedin", "pinterest", "bluesky")


def client_class(platform: str) -> type[PlatformClient]:
    if platform not in PLATFORMS:
        raise ValueError(f"unknown platform {platform!r}; choose from {', '.join(PLATFORMS)}")
    return importlib.import_module(f"cliply.platforms.{platform}").CLIENT


def make_client(platform: str, config: PlatformConfig | None = None) -> PlatformClient:
    return client_class(platform)(config)


def parse_post_url(url: str) -> PostRef | None:
    """Which platform a public post URL belongs to, and the post id; None when no platform claims it."""
    for platform in PLATFORMS:
        ref = client_class(platform).parse_post_url(url)
        if ref is not None:
            return ref
    return None
