"""One Dagster resource class for the nine platform clients, one resource key per platform. Each field defaults to
empty = the CLIPLY_<PLATFORM>_* setting, so the same code talks to the real API, the sandbox or a test server by
configuration alone."""

from __future__ import annotations

import dagster as dg

from cliply import wiring
from cliply.platforms import PLATFORMS
from cliply.platforms.base import PlatformClient
from cliply.settings import Settings


class PlatformResource(dg.ConfigurableResource):
    """One social platform's API client; `platform` equals the resource key (youtube, tiktok, …). `base_url`,
    `client_id`, `client_secret` override CLIPLY_<PLATFORM>_BASE_URL/_CLIENT_ID/_CLIENT_SECRET. Secrets belong in the
    environment (dg.EnvVar), never in run config or metadata."""

    platform: str
    base_url: str = ""
    client_id: str = ""
    client_secret: str = ""

    def _overrides(self) -> dict[str, str]:
        return {"base_url": self.base_url, "client_id": self.client_id, "client_secret": self.client_secret}

    def get_client(self) -> PlatformClient:
        return wiring.build_client(Settings.from_env(), self.platform, **self._overrides())


def platform_resources() -> dict[str, PlatformResource]:
    """Resource keys as assets request them: youtube, tiktok, …"""
    return {platform: PlatformResource(platform=platform) for platform in PLATFORMS}
