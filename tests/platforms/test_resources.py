"""One parametrised Dagster resource class, one resource key per platform: configured by base URL alone, each key
builds that platform's real client aimed at it."""

from __future__ import annotations

import pytest

from cliply.platforms import PLATFORMS, client_class
from cliply_dagster.definitions import defs
from cliply_resources.platforms import PlatformResource
from tests.fixtures.sandbox import REDIRECT_URI


def test_every_platform_has_a_resource_key_for_that_platform() -> None:
    resources = defs().resources or {}
    assert set(PLATFORMS) <= set(resources)
    for platform in PLATFORMS:
        assert isinstance(resources[platform], PlatformResource)
        assert resources[platform].platform == platform


@pytest.mark.parametrize("platform", PLATFORMS)
def test_resource_builds_the_client_for_its_base_url(platform: str, sandbox, monkeypatch) -> None:
    monkeypatch.setenv(f"CLIPLY_{platform.upper()}_CLIENT_SECRET", "from-the-environment")
    configured = (defs().resources or {})[platform]
    assert isinstance(configured, PlatformResource)
    resource = PlatformResource(
        platform=configured.platform, base_url=sandbox.url(platform), client_id=f"cliply-{platform}"
    )
    client = resource.get_client()
    assert isinstance(client, client_class(platform))
    assert client.config.base_url == sandbox.url(platform)
    assert client.config.client_secret == "from-the-environment"
    if platform != "bluesky":  # Bluesky signs in with an app password, not OAuth
        pending = client.authorization_url(redirect_uri=REDIRECT_URI)
        assert pending.url.startswith(sandbox.url(platform) + "/")
        assert "from-the-environment" not in pending.url
