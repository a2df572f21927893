"""The analytics resource: the application the refresher, the reports and retention run against.

Like the other resources every field defaults to empty/zero = the CLIPLY_* setting at execution time. The database,
media store, vault and platform clients come from their own resources (so one launchpad override changes them for
publishing and analytics alike); this resource only bundles them into a `Cliply` with the analytics settings."""

from __future__ import annotations

from typing import Any

import dagster as dg

from cliply import wiring
from cliply.settings import Settings


class AnalyticsResource(dg.ConfigurableResource):
    """Analytics knobs. Zero = CLIPLY_ANALYTICS_HOURLY_AFTER_D / _DAILY_AFTER_D (retention thresholds, days)."""

    hourly_after_d: float = 0.0
    daily_after_d: float = 0.0

    def settings(self) -> Settings:
        overrides = {f"analytics_{k}": v for k, v in self.model_dump().items() if v}
        return Settings.from_env().model_copy(update=overrides)

    def app(self, resources: Any, clients: wiring.ClientFactory | None = None) -> wiring.Cliply:
        """The application wired from the run's resources (database, media_store, token_vault, platforms)."""
        parts: dict[str, Any] = {"db": resources.database.get()}
        if hasattr(resources, "media_store"):
            parts["media"] = resources.media_store.get()
        if hasattr(resources, "token_vault"):
            parts["vault"] = resources.token_vault.get()
        if clients is not None:
            parts["clients"] = clients
        return wiring.cliply(self.settings(), **parts)


def analytics_resources() -> dict[str, dg.ConfigurableResource]:
    """Resource keys as the analytics assets, checks, sensors and schedules request them."""
    return {"analytics": AnalyticsResource()}
