"""Kill switches for publishing: one master switch and one per platform, read from the environment.

CLIPLY_PUBLISHING_ENABLED (default on) stops every platform; CLIPLY_PUBLISH_<PLATFORM>=0|1 (default on) stops one.
A switched-off platform is never claimed, so its targets simply stay scheduled until it is switched back on."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from cliply.platforms import PLATFORMS

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _flag(raw: str | None, default: bool) -> bool:
    if raw is None or not raw.strip():
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    # A typo must not silently publish: an unreadable value counts as "off".
    return False


@dataclass(frozen=True)
class PublishSwitches:
    enabled: bool = True
    platforms: Mapping[str, bool] = field(default_factory=dict)  # missing platform = on

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> PublishSwitches:
        env = os.environ if environ is None else environ
        per = {p: _flag(env.get(f"CLIPLY_PUBLISH_{p.upper()}"), True) for p in PLATFORMS}
        return cls(enabled=_flag(env.get("CLIPLY_PUBLISHING_ENABLED"), True), platforms=per)

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
