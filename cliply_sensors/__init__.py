"""Cliply's sensors and schedules: uploads start one run per source; due posts one run per platform; maintenance."""

import dagster as dg

from cliply_sensors.publishing import PUBLISHING_SCHEDULES, PUBLISHING_SENSORS
from cliply_sensors.uploads import inbox_sensor, registered_sources_sensor

defs = dg.Definitions(sensors=[inbox_sensor, registered_sources_sensor, *PUBLISHING_SENSORS],
                      schedules=PUBLISHING_SCHEDULES)
