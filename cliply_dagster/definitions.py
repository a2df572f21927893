"""The Dagster code location: merges the assets, sensors and resources packages. Loaded by workspace.yaml,
pyproject's [tool.dagster] and `dagster dev`."""

from __future__ import annotations

import dagster as dg

import cliply_assets
import cliply_assets.analytics
import cliply_assets.experiments
import cliply_sensors
import cliply_sensors.analytics
import cliply_sensors.experiments
from cliply_resources import default_resources
from cliply_resources.analytics import analytics_resources


@dg.definitions
def defs() -> dg.Definitions:
    """Everything the UI shows for Cliply: media, publishing, analytics and experiment assets, jobs, sensors,
    schedules and resources."""
    return dg.Definitions.merge(
        cliply_assets.defs,
        cliply_assets.analytics.defs,
        cliply_assets.experiments.defs,
        cliply_sensors.defs,
        cliply_sensors.analytics.defs,
        cliply_sensors.experiments.defs,
        dg.Definitions(resources={**default_resources(), **analytics_resources()}),
    )
