"""One Dagster resource per platform client. Each field defaults to "" = the CLIPLY_<PLATFORM>_* environment
setting, so the same code talks to the real API, the sandbox or a test server by configuration alone."""

from __future__ import annotations

from dataclasses import replace

import dagster as dg

from cliply.platforms import PLATFORMS, make_client
from cliply.platforms.base import PlatformClient, PlatformConfig


class PlatformResource(dg.ConfigurableResource):
    """Base: `base_url`, `client_id`, `client_secret` override CLIPLY_<PLATFORM>_BASE_URL/_CLIENT_ID/_CLIENT_SECRET.
    Secrets belong in the environment (dg.EnvVar), never in run config or metadata."""

    base_url: str = ""
    client_id: str = ""
    client_secret: str = ""

    @classmethod
    def platform_name(cls) -> str:
        raise NotImplementedError

    def config(self) -> PlatformConfig:
        cfg = PlatformConfig.from_env(self.platform_name())
        overrides = {k: v for k, v in {"base_url": self.base_url.rstrip("/"), "client_id": self.client_id,
                                        "client_secret": self.client_secret}.items() if v}
        return replace(cfg, **overrides)

    def get_client(self) -> PlatformClient:
        return make_client(self.platform_name(), self.config())


class YouTubeResource(PlatformResource):
    """The YouTube client (cliply.platforms.youtube)."""

    @classmethod
    def platform_name(cls) -> str:
        return "youtube"


class TikTokResource(PlatformResource):
    """The TikTok client (cliply.platforms.tiktok)."""

    @classmethod
    def platform_name(cls) -> str:
        return "tiktok"


class InstagramResource(PlatformResource):
    """The Instagram client (cliply.platforms.instagram)."""

    @classmethod
    def platform_name(cls) -> str:
        return "instagram"


class FacebookResource(PlatformResource):
    """The Facebook client (cliply.platforms.facebook)."""

    @classmethod
    def platform_name(cls) -> str:
        return "facebook"


class ThreadsResource(PlatformResource):
    """The Threads client (cliply.platforms.threads)."""

    @classmethod
    def platform_name(cls) -> str:
        return "threads"


class XResource(PlatformResource):
    """The X client (cliply.platforms.x)."""

    @classmethod
    def platform_name(cls) -> str:
        return "x"


class LinkedInResource(PlatformResource):
    """The LinkedIn client (cliply.platforms.linkedin)."""

    @classmethod
    def platform_name(cls) -> str:
        return "linkedin"


class PinterestResource(PlatformResource):
    """The Pinterest client (cliply.platforms.pinterest)."""

    @classmethod
    def platform_name(cls) -> str:
        return "pinterest"


class BlueskyResource(PlatformResource):
    """The Bluesky client (cliply.platforms.bluesky)."""

    @classmethod
    def platform_name(cls) -> str:
        return "bluesky"


PLATFORM_RESOURCES: dict[str, type[PlatformResource]] = {
    cls.platform_name(): cls
    for cls in (YouTubeResource, TikTokResource, InstagramResource, FacebookResource, ThreadsResource, XResource,
                LinkedInResource, PinterestResource, BlueskyResource)
}
assert tuple(PLATFORM_RESOURCES) == PLATFORMS


def platform_resources() -> dict[str, PlatformResource]:
    """Resource keys as assets will request them: youtube, tiktok, …"""
    return {platform: cls() for platform, cls in PLATFORM_RESOURCES.items()}
