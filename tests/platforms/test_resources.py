"""One Dagster resource per platform: configured by base URL alone, each builds the real client aimed at it."""

from __future__ import annotations

import pytest

from cliply.definitions import defs
from cliply.platforms import PLATFORMS, client_class
from cliply_resources.platforms import PLATFORM_RESOURCES
from tests.fixtures.sandbox import REDIRECT_URI


def test_every_platform_has_a_resource_in_the_code_location() -> None:
    resources = defs().resources or {}
    assert set(PLATFORMS) <= set(resources)
    assert {type(resources[p]) for p in PLATFORMS} == set(PLATFORM_RESOURCES.values())


@pytest.mark.parametrize("platform", PLATFORMS)
def test_resource_builds_the_client_for_its_base_url(platform: str, sandbox, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv(f"CLIPLY_{platform.upper()}_CLIENT_SECRET", "from-the-environment")
    resource = PLATFORM_RESOURCES[platform](base_url=sandbox.url(platform), client_id=f"cliply-{platform}")
    client = resource.get_client()
    assert isinstance(client, client_class(platform))
    assert client.config.base_url == sandbox.url(platform)
    assert client.config.client_secret == "from-the-environment"
    if platform != "bluesky":  # Bluesky signs in with an app password, not OAuth
        pending = client.authorization_url(redirect_uri=REDIRECT_URI)
        assert pending.url.startswith(sandbox.url(platform) + "/")
        assert "from-the-environment" not in pending.url
