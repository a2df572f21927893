"""How media outcomes read in the Dagster UI: tables instead of markdown, clickable file links, inline previews.

The asset pages render a markdown entry inline only when it is under 1,000 characters (longer ones hide behind
"Show Markdown"), so each thumbnail preview is a tiny JPEG data: URI sized to fit under that limit."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

import dagster as dg
from PIL import Image

from cliply.media.types import Highlight
from cliply.pipeline import ClipOutcome

INLINE_MARKDOWN_CHARS = 1000
# Largest first; the first that fits inline wins. 96 px wide is legible as a 9:16 frame, 48 px is the floor.
_PREVIEW_WIDTHS = (96, 80, 64, 48, 40, 32)
_PREVIEW_QUALITIES = (50, 35, 25, 15)


def file_link(uri: str) -> dg.MetadataValue:
    """A link the UI opens in a new tab for file:// and http(s) locations; a copyable path otherwise (s3://)."""
    if uri.startswith(("file://", "http://", "https://")):
        return dg.MetadataValue.url(uri)
    return dg.MetadataValue.path(uri)


Cell = str | int | float | bool | None


def _table(columns: Sequence[tuple[str, str]], rows: Sequence[dict[str, Cell]]) -> dg.TableMetadataValue:
    schema = dg.TableSchema(columns=[dg.TableColumn(name, type_) for name, type_ in columns])
    return dg.MetadataValue.table(records=[dg.TableRecord(row) for row in rows], schema=schema)


HIGHLIGHT_COLUMNS = (
    ("rank", "int"),
    ("start", "float"),
    ("end", "float"),
    ("score", "float"),
    ("reasons", "string"),
    ("text", "string"),
)


def highlights_table(found: Sequence[Highlight]) -> dg.TableMetadataValue:
    return _table(
        HIGHLIGHT_COLUMNS,
        [
            {
                "rank": h.rank,
                "start": round(h.start, 2),
                "end": round(h.end, 2),
                "score": round(h.score, 1),
                "reasons": "; ".join(h.reasons),
                "text": h.text[:80],
            }
            for h in found
        ],
    )


CLIP_COLUMNS = (
    ("clip", "string"),
    ("rank", "int"),
    ("start", "float"),
    ("end", "float"),
    ("score", "float"),
    ("duration", "float"),
    ("MB", "float"),
    ("reframe", "string"),
    ("path", "string"),
)


def clips_table(rendered: Sequence[ClipOutcome], uris: Sequence[str]) -> dg.TableMetadataValue:
    return _table(
        CLIP_COLUMNS,
        [
            {
                "clip": o.clip_id,
                "rank": o.highlight.rank,
                "start": round(o.highlight.start, 2),
                "end": round(o.highlight.end, 2),
                "score": round(o.highlight.score, 1),
                "duration": round(o.info.duration, 2),
                "MB": round(o.info.size_bytes / 1e6, 2),
                "reframe": o.crop_method,
                "path": uri,
            }
            for o, uri in zip(rendered, uris, strict=True)
        ],
    )


def _jpeg(image: Image.Image, width: int, quality: int) -> bytes:
    height = max(1, round(width * image.height / image.width))
    out = io.BytesIO()
    image.convert("RGB").resize((width, height)).save(out, "JPEG", quality=quality, optimize=True)
    return out.getvalue()


def preview_markdown(label: str, jpeg: bytes) -> dg.MarkdownMetadataValue:
    """A markdown image of `jpeg`, scaled down until the entry renders inline on the asset page."""
    image = Image.open(io.BytesIO(jpeg))
    md = ""
    for width in _PREVIEW_WIDTHS:
        for quality in _PREVIEW_QUALITIES:
            md = f"![{label}](data:image/jpeg;base64,{base64.b64encode(_jpeg(image, width, quality)).decode()})"
            if len(md) < INLINE_MARKDOWN_CHARS:
                return dg.MetadataValue.md(md)
    return dg.MetadataValue.md(md)
