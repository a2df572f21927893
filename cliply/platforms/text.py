"""Count text the way each platform counts it: UTF-16 units, X's weighted characters, graphemes, UTF-8 bytes."""

from __future__ import annotations

import unicodedata

import regex

from cliply.platforms.models import Violation

# twitter-text v3 configuration: code points in these ranges weigh 100 (one char), everything else 200 (two).
_X_LIGHT_RANGES = ((0, 4351), (8192, 8205), (8208, 8223), (8242, 8247))
_X_SCALE = 100
_X_DEFAULT_WEIGHT = 200
X_URL_LENGTH = 23  # every URL counts as a t.co link
_URL = regex.compile(r"(?i)\b(?:https?://|www\.)[^\s<>\"]+")
_EMOJI = regex.compile(r"\p{Extended_Pictographic}")
_HASHTAG = regex.compile(r"(?<![\w&])#(\w+)")


def utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def utf8_bytes(text: str) -> int:
    return len(text.encode("utf-8"))


def graphemes(text: str) -> int:
    return len(regex.findall(r"\X", text))


def code_points(text: str) -> int:
    return len(text)


def _x_char_weight(ch: str) -> int:
    cp = ord(ch)
    return _X_SCALE if any(lo <= cp <= hi for lo, hi in _X_LIGHT_RANGES) else _X_DEFAULT_WEIGHT


def x_weighted_length(text: str) -> int:
    """X's weighted length (280 max for standard accounts): NFC text, URLs as 23, emoji clusters as 2."""
    text = unicodedata.normalize("NFC", text)
    total = 0
    pos = 0
    for m in _URL.finditer(text):
        total += _x_weight_plain(text[pos : m.start()])
        total += X_URL_LENGTH * _X_SCALE
        pos = m.end()
    total += _x_weight_plain(text[pos:])
    return total // _X_SCALE


def _x_weight_plain(text: str) -> int:
    total = 0
    for cluster in regex.findall(r"\X", text):
        if _EMOJI.search(cluster):
            total += _X_DEFAULT_WEIGHT
        else:
            total += sum(_x_char_weight(c) for c in cluster)
    return total


def hashtags_in(text: str) -> list[str]:
    return _HASHTAG.findall(text)


COUNTERS = {
    "utf16": utf16_units,
    "utf8_bytes": utf8_bytes,
    "graphemes": graphemes,
    "code_points": code_points,
    "x_weighted": x_weighted_length,
}


def check_length(field: str, text: str, limit: int, counter: str) -> list[Violation]:
    measured = COUNTERS[counter](text)
    return [Violation(field, f"length ({counter})", measured, limit)] if measured > limit else []


def check_count(field: str, count: int, limit: int, rule: str) -> list[Violation]:
    return [Violation(field, rule, count, limit)] if count > limit else []
