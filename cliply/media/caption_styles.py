"""Caption style presets, emphasis rules and per-platform safe zones.

A style is a `CaptionStyle`; `STYLES` holds the named presets a workspace or post chooses from by name. Captions are
placed inside the safe area of every target platform: the union of their unsafe bands (top bar, bottom caption/UI
band, right-hand button column) is kept free of caption pixels.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from cliply.media.fonts import FAMILY


@dataclass(frozen=True)
class CaptionStyle:
    font: str = FAMILY
    size: int = 84  # px at PlayResY=1920; scaled with the canvas height
    colour: str = "#FFFFFF"
    highlight_colour: str | None = "#FFD400"  # the spoken word; None: no spoken-word highlight
    outline_colour: str = "#000000"
    outline: float = 5.0
    shadow: float = 1.5
    bold: bool = True
    highlight_scale: int = 112  # % size of the spoken word: a small "pop"
    words_per_line: int = 3
    max_lines: int = 2
    position: float = 0.70  # preferred vertical centre of the caption block, as a fraction of the height
    max_gap_s: float = 0.7  # a pause longer than this ends a group: silence shows nothing
    linger_s: float = 0.25  # keep the last group briefly after its last word, never into the next group
    name: str = "highlight"
    emphasis_colour: str | None = "#4CE65A"  # numbers, ALL-CAPS and key words; None: no emphasis
    one_word: bool = False  # show only the word being spoken
    box: bool = False  # lines on a background box (libass BorderStyle 4)
    box_colour: str = "#000000"
    box_alpha: int = 0x60  # 0 opaque .. 255 transparent

    @property
    def max_scale(self) -> int:
        return max(100, self.highlight_scale if (self.highlight_colour or self.one_word) else 100)


STYLES: dict[str, CaptionStyle] = {
    # The original look: groups of up to 3×2 words, the spoken word yellow and 12 % larger.
    "highlight": CaptionStyle(),
    # One word at a time, large, enlarged as it is spoken; emphasised words in yellow.
    "pop": CaptionStyle(
        name="pop",
        size=104,
        highlight_colour=None,
        emphasis_colour="#FFD400",
        highlight_scale=118,
        one_word=True,
        words_per_line=1,
        max_lines=1,
        outline=6.0,
        shadow=2.0,
        position=0.62,
        linger_s=0.15,
    ),
    # Whole lines on a semi-opaque black box, no outline; emphasised words in yellow.
    "boxed": CaptionStyle(
        name="boxed",
        size=72,
        highlight_colour=None,
        emphasis_colour="#FFD400",
        highlight_scale=100,
        words_per_line=4,
        max_lines=2,
        outline=14.0,  # with a box, the outline width is the box padding (the outline itself is not drawn)
        shadow=0.0,
        box=True,
        box_alpha=0x60,
        position=0.66,
    ),
    # Minimal: small, regular weight, as low as the safe area allows, no highlight or emphasis.
    "lower_third": CaptionStyle(
        name="lower_third",
        size=54,
        bold=False,
        highlight_colour=None,
        emphasis_colour=None,
        highlight_scale=100,
        words_per_line=6,
        max_lines=1,
        outline=2.5,
        shadow=0.0,
        position=0.95,
    ),
}
DEFAULT_STYLE = "highlight"


def style_named(name: str | None) -> CaptionStyle:
    """The preset called `name` (None or "": the default); an unknown name is an error listing the choices."""
    key = (name or DEFAULT_STYLE).strip().lower().replace("-", "_")
    try:
        return STYLES[key]
    except KeyError:
        raise ValueError(f"unknown caption style {name!r}; choose one of: {', '.join(STYLES)}") from None


# --- emphasis ---------------------------------------------------------------------------------------------------

EMPHASIS_WORDS = frozenset(
    {
        "never",
        "always",
        "nobody",
        "everyone",
        "best",
        "worst",
        "biggest",
        "secret",
        "free",
        "must",
        "stop",
        "mistake",
        "huge",
        "million",
        "billion",
        "percent",
    }
)
_CORE = re.compile(r"[^\w%$€£.,]+")
_NUMBER = re.compile(r"^[$€£]?\d[\d,.]*(%|k|m|bn|x|s|st|nd|rd|th)?$", re.IGNORECASE)


def is_emphasis(word: str) -> bool:
    """Numbers ("42", "3.5", "$10", "90%", "10x", "2nd"), words in ALL CAPS (two letters or more) and a small set of
    key words."""
    core = _CORE.sub("", word).strip(".,")
    if not core:
        return False
    if _NUMBER.match(core):
        return True
    letters = [c for c in core if c.isalpha()]
    if len(letters) >= 2 and all(c.isupper() for c in letters):
        return True
    return core.lower() in EMPHASIS_WORDS


# --- safe zones -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Insets:
    """Unsafe bands in px of a 1080×1920 frame: top bar, bottom UI band, left edge, right-hand button column."""

    top: int
    bottom: int
    left: int
    right: int

    def scaled(self, width: int, height: int) -> Insets:
        return Insets(
            round(self.top * height / 1920),
            round(self.bottom * height / 1920),
            round(self.left * width / 1080),
            round(self.right * width / 1080),
        )

    def union(self, other: Insets) -> Insets:
        return Insets(
            max(self.top, other.top),
            max(self.bottom, other.bottom),
            max(self.left, other.left),
            max(self.right, other.right),
        )


# Source: the shared platform reference (platforms.md) gives each platform's 9:16 1080×1920 envelope but no overlay
# measurements, so these are the platforms' creative safe-zone guides as commonly republished in safe-zone templates
# [recall], rounded up: top = status/tab bar, bottom = caption, audio and profile UI, right = like/comment/share column.
SAFE_ZONES: dict[str, Insets] = {
    "tiktok": Insets(top=150, bottom=480, left=60, right=140),  # TikTok creative safe zone [recall]
    "instagram": Insets(top=220, bottom=420, left=60, right=120),  # Instagram Reels safe zone [recall]
    "youtube": Insets(top=120, bottom=400, left=60, right=190),  # YouTube Shorts safe zone [recall]
    "facebook": Insets(top=200, bottom=440, left=60, right=130),  # Facebook Reels safe zone [recall]
}
VERTICAL_PLATFORMS = tuple(SAFE_ZONES)


def unsafe_insets(platforms: Iterable[str] | None = None, *, width: int = 1080, height: int = 1920) -> Insets:
    """The union of the target platforms' unsafe bands (default: all vertical platforms), scaled to the canvas.

    Platforms without a vertical overlay (X, LinkedIn, Pinterest, Bluesky, Threads) add nothing beyond an edge margin.
    """
    names = list(platforms) if platforms is not None else list(VERTICAL_PLATFORMS)
    out = Insets(0, 0, 60, 60)
    for name in names:
        zone = SAFE_ZONES.get(name.lower())
        if zone is not None:
            out = out.union(zone)
    return out.scaled(width, height)
