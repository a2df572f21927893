"""Cliply's assets, asset checks and jobs."""

import dagster as dg

from cliply_assets.media import MEDIA_ASSETS, process_source_job
from cliply_assets.publishing import PUBLISHING_ASSETS, PUBLISHING_JOBS

defs = dg.Definitions(assets=[*MEDIA_ASSETS, *PUBLISHING_ASSETS], jobs=[process_source_job, *PUBLISHING_JOBS])
