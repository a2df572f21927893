"""How each emulated platform counts text, written from the platforms' documentation.

Deliberately independent of the clients' own counting (cliply.platforms): the emulator is the reference a client's
counting is checked against, so it must not share that code or its bugs.

- X: twitter-text config v3 weighted length. NFC first; code points in the light ranges weigh 100, all others 200;
  an emoji (any emoji sequence, flags and keycaps included) weighs 200 as a whole; every URL weighs 23 × 100; the
  limit is 280 × 100.
- Instagram captions and TikTok titles: UTF-16 code units (2,200).
- Threads: 500 characters, where an emoji counts its UTF-8 byte length.
- Pinterest, LinkedIn, YouTube titles: code points. YouTube descriptions: UTF-8 bytes.
- Bluesky: 300 grapheme clusters and 3,000 UTF-8 bytes.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

import regex

X_SCALE = 100
X_LIGHT_WEIGHT = 100
X_HEAVY_WEIGHT = 200
X_URL_CHARS = 23
X_MAX_WEIGHTED = 280
X_LIGHT_RANGES = ((0x0000, 0x10FF), (0x2000, 0x200D), (0x2010, 0x201F), (0x2032, 0x2037))

# A URL as X shortens it: a scheme or "www." up to whitespace or an HTML-significant character.
URL = regex.compile(r"(?i)\b(?:https?://|www\.)[^\s<>\"]+")
_CLUSTER = regex.compile(r"\X")
# An emoji sequence: a pictograph anywhere in the cluster, a regional-indicator pair (flag) or a keycap.
_EMOJI = regex.compile(r"\p{Extended_Pictographic}|\p{Regional_Indicator}{2}|\u20E3")


def utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def utf8_bytes(text: str) -> int:
    return len(text.encode("utf-8"))


def code_points(text: str) -> int:
    return len(text)


def clusters(text: str) -> list[str]:
    return _CLUSTER.findall(text)


def graphemes(text: str) -> int:
    return len(clusters(text))


def is_emoji(cluster: str) -> bool:
    return _EMOJI.search(cluster) is not None


def _x_code_point_weight(ch: str) -> int:
    cp = ord(ch)
    return X_LIGHT_WEIGHT if any(lo <= cp <= hi for lo, hi in X_LIGHT_RANGES) else X_HEAVY_WEIGHT


def _x_plain_weight(text: str) -> int:
    return sum(X_HEAVY_WEIGHT if is_emoji(c) else sum(map(_x_code_point_weight, c)) for c in clusters(text))


def x_weight(text: str) -> int:
    """The scaled weight (limit 28,000): twitter-text compares this before dividing by the scale."""
    text = unicodedata.normalize("NFC", text)
    pieces = URL.split(text)  # the text between URLs
    return sum(map(_x_plain_weight, pieces)) + len(URL.findall(text)) * X_URL_CHARS * X_SCALE


def x_weighted_length(text: str) -> int:
    return x_weight(text) // X_SCALE


def threads_length(text: str) -> int:
    return sum(utf8_bytes(c) if is_emoji(c) else code_points(c) for c in clusters(text))


@dataclass(frozen=True)
class TextRule:
    """One platform field's limit: `limit` measured by `count`."""

    field: str
    limit: int
    count: Callable[[str], int]
    unit: str

    def too_long(self, text: str) -> bool:
        return self.count(text) > self.limit


X_TEXT = TextRule("text", X_MAX_WEIGHTED, x_weighted_length, "weighted characters")
INSTAGRAM_CAPTION = TextRule("caption", 2200, utf16_units, "UTF-16 units")
TIKTOK_TITLE = TextRule("title", 2200, utf16_units, "UTF-16 units")
THREADS_TEXT = TextRule("text", 500, threads_length, "characters (emoji as UTF-8 bytes)")
LINKEDIN_COMMENTARY = TextRule("commentary", 3000, code_points, "characters")
YOUTUBE_TITLE = TextRule("title", 100, code_points, "characters")
YOUTUBE_DESCRIPTION = TextRule("description", 5000, utf8_bytes, "UTF-8 bytes")
BLUESKY_GRAPHEMES = TextRule("text", 300, graphemes, "graphemes")
BLUESKY_BYTES = TextRule("text", 3000, utf8_bytes, "UTF-8 bytes")
PINTEREST_PIN = tuple(TextRule(name, limit, code_points, "characters")
                      for name, limit in (("title", 100), ("description", 800), ("link", 2048), ("alt_text", 500)))
