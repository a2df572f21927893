"""Kill switches for publishing: one master switch and one per platform, read from the environment.

CLIPLY_PUBLISHING_ENABLED (default on) stops every platform; CLIPLY_PUBLISH_<PLATFORM>=0|1 (default on) stops one.
A switched-off platform is never claimed, so its targets simply stay scheduled until it is switched back on."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from cliply.settings import Settings


@dataclass(frozen=True)
class PublishSwitches:
    enabled: bool = True
    platforms: Mapping[str, bool] = field(default_factory=dict)  # missing platform = on

    @classmethod
    def from_settings(cls, settings: Settings) -> PublishSwitches:
        return cls(enabled=settings.publishing_enabled, platforms=dict(settings.publish))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> PublishSwitches:
        return cls.from_settings(Settings.from_env(environ))

    @classmethod
    def all_on(cls) -> PublishSwitches:
        return cls()

    def allows(self, platform: str) -> bool:
        return self.enabled and self.platforms.get(platform, True)

    def off(self, *platforms: str) -> PublishSwitches:
        """A copy with `platforms` switched off (no arguments: the master switch)."""
        if not platforms:
            return PublishSwitches(False, dict(self.platforms))
        return PublishSwitches(self.enabled, {**self.platforms, **{p: False for p in platforms}})
