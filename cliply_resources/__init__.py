"""Dagster resources by domain (media, publishing, platforms): thin, configurable wrappers over cliply.wiring."""

from __future__ import annotations

import dagster as dg

from cliply_resources.media import (
    DatabaseResource,
    InboxResource,
    MediaStoreResource,
    SettingsResource,
    TranscriberResource,
    media_resources,
)
from cliply_resources.platforms import PlatformResource, platform_resources
from cliply_resources.publishing import NotifierResource, TokenVaultResource, publishing_resources


def default_resources() -> dict[str, dg.ConfigurableResource]:
    """Every resource key of the code location, each configured from CLIPLY_* settings at execution time."""
    return {**media_resources(), **platform_resources(), **publishing_resources()}


__all__ = [
    "DatabaseResource",
    "InboxResource",
    "MediaStoreResource",
    "NotifierResource",
    "PlatformResource",
    "SettingsResource",
    "TokenVaultResource",
    "TranscriberResource",
    "default_resources",
    "platform_resources",
]
