"""Cliply's assets, asset checks and jobs."""

import dagster as dg

from cliply_assets.media import MEDIA_ASSETS, process_source_job

defs = dg.Definitions(assets=MEDIA_ASSETS, jobs=[process_source_job])
