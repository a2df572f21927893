"""Cliply's sensors: uploads in the inbox and sources registered by the CLI/API start one run per source."""

import dagster as dg

from cliply_sensors.uploads import inbox_sensor, registered_sources_sensor

defs = dg.Definitions(sensors=[inbox_sensor, registered_sources_sensor])
