"""The Dagster code location: merges the assets, sensors and resources packages. Loaded by workspace.yaml,
pyproject's [tool.dagster] and `dagster dev`."""

from __future__ import annotations

import dagster as dg

import cliply_assets
import cliply_sensors
from cliply_resources import default_resources


@dg.definitions
def defs() -> dg.Definitions:
    """Everything the UI shows for Cliply: media and publishing assets, jobs, sensors, schedules and resources."""
    return dg.Definitions.merge(cliply_assets.defs, cliply_sensors.defs, dg.Definitions(resources=default_resources()))
