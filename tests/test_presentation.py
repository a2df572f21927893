"""Asset-page previews: inline markdown images stay under the size the Dagster UI shows inline, even for detailed
pictures."""

from __future__ import annotations

import base64
import io

import numpy as np
from matplotlib import cbook
from PIL import Image

from cliply_assets.presentation import INLINE_MARKDOWN_CHARS, preview_markdown


def _jpeg(pixels: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=95)
    return out.getvalue()


def test_a_detailed_vertical_frame_still_fits_inline() -> None:
    # A real photograph (the portrait the demo pans over) at 9:16: its structure survives JPEG's quantisation, so
    # it needs a smaller preview than random noise does.
    photo = Image.open(cbook.get_sample_data("grace_hopper.jpg")).convert("RGB").resize((1080, 1920))
    label = "c" * 80  # a clip id may be 80 characters long
    md = preview_markdown(label, _jpeg(np.asarray(photo))).value
    assert len(md) < INLINE_MARKDOWN_CHARS
    image = Image.open(io.BytesIO(base64.b64decode(md.split("base64,", 1)[1].rstrip(")"))))
    assert image.width <= 96 and abs(image.height / image.width - 1920 / 1080) < 0.1


def test_a_plain_frame_keeps_the_largest_preview() -> None:
    flat = np.full((1920, 1080, 3), 120, dtype=np.uint8)
    md = preview_markdown("flat", _jpeg(flat)).value
    image = Image.open(io.BytesIO(base64.b64decode(md.split("base64,", 1)[1].rstrip(")"))))
    assert image.width == 96
