"""Caption fonts that ship with the project: Source Sans Pro (SIL OFL 1.1) from the `font-source-sans-pro` package.

libass is given the package's folder as `fontsdir`, so captions never depend on fonts installed on the system.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from PIL import ImageFont

FAMILY = "Source Sans Pro"
_FILES = {False: "SourceSansPro-Regular.ttf", True: "SourceSansPro-Bold.ttf"}


def fonts_dir() -> Path:
    """The folder holding the packaged .ttf files (passed to libass as fontsdir)."""
    import font_source_sans_pro  # type: ignore[import-untyped]

    return Path(font_source_sans_pro.font_directory)


def font_file(bold: bool = True) -> Path:
    path = fonts_dir() / _FILES[bold]
    if not path.is_file():
        raise FileNotFoundError(f"packaged caption font missing: {path} (reinstall font-source-sans-pro)")
    return path


@cache
def _face(bold: bool) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(font_file(bold)), 1000)


def text_width(text: str, size: float, *, bold: bool = True) -> float:
    """Rendered width in px of `text` at ASS font size `size` (libass sizes a font by its line height, not its em)."""
    face = _face(bold)
    ascent, descent = face.getmetrics()
    return face.getlength(text) * size / (ascent + descent)
