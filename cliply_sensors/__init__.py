"""Cliply's sensors and schedules, by domain: media (uploads → one run per source) and publishing (due posts → one
run per platform; maintenance schedules; run-failure notifications)."""

import dagster as dg

from cliply_sensors import media, publishing

defs = dg.Definitions.merge(media.defs, publishing.defs)
