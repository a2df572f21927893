"""Cliply's assets, asset checks and jobs, by domain: media (per source) and publishing (per day × platform)."""

import dagster as dg

from cliply_assets import media, publishing

defs = dg.Definitions.merge(media.defs, publishing.defs)
