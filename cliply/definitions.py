"""The Dagster code location: merges assets, sensors and resources. Loaded by workspace.yaml and `dagster dev`."""

from __future__ import annotations

import dagster as dg

import cliply_assets
import cliply_sensors
from cliply_resources import default_resources


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions.merge(cliply_assets.defs, cliply_sensors.defs, dg.Definitions(resources=default_resources()))
