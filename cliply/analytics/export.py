"""CSV export of a workspace's tracked posts, safe to open in a spreadsheet.

Formula injection (OWASP "CSV Injection"): a text cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage
return would be evaluated as a formula by Excel, LibreOffice or Google Sheets, so it gets a leading `'`. Only text
is escaped: a number (a negative one too) stays a number. A missing value is an empty cell, never 0.
"""

from __future__ import annotations

import csv
import io
import math
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import pandas as pd

from cliply.analytics.reports import METRICS, Since, latest_frame
from cliply.analytics.tiers import TierPolicy
from cliply.store.repo import WorkspaceScope

DANGEROUS_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
EXPORT_COLUMNS = [
    "tracked_post_id",
    "platform",
    "platform_post_id",
    "account_id",
    "account",
    "clip_id",
    "url",
    "status",
    "tier",
    "published_at",
    "fetched_at",
    *METRICS,
    "engagement_rate",
    "stale",
    "gone",
    "reason",
]


def escape_cell(value: Any) -> str:
    """The text of one CSV cell: strings starting with a formula character get a leading `'`."""
    if value is None or value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if hasattr(value, "item") and not isinstance(value, str | pd.Timestamp):  # numpy scalars
        return escape_cell(value.item())
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, pd.Timestamp | datetime):
        return value.isoformat()
    text = str(value)
    return "'" + text if text.startswith(DANGEROUS_PREFIXES) else text


def _write(frame: pd.DataFrame, out: IO[str]) -> None:
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([escape_cell(str(c)) for c in frame.columns])
    for row in frame.itertuples(index=False, name=None):
        writer.writerow([escape_cell(v) for v in row])


def csv_text(frame: pd.DataFrame) -> str:
    """The frame as CSV text (header row first, RFC 4180 quoting, CRLF line ends)."""
    out = io.StringIO()
    _write(frame, out)
    return out.getvalue()


def write_csv(frame: pd.DataFrame, path: Path | str) -> Path:
    """Write the frame as UTF-8 CSV to `path`; returns the path."""
    target = Path(path)
    with target.open("w", encoding="utf-8", newline="") as fh:
        _write(frame, fh)
    return target


def export_frame(
    scope: WorkspaceScope,
    since: Since = None,
    *,
    now: datetime | None = None,
    policy: TierPolicy | None = None,
) -> pd.DataFrame:
    """One row per tracked post (published within `since`; all when None) with its latest snapshot: platform,
    account, clip, url, fetch time, every metric (empty where not reported), engagement rate and staleness."""
    return latest_frame(scope, since=since, now=now, policy=policy)[EXPORT_COLUMNS]
