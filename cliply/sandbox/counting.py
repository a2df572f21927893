"""How each emulated platform counts text, written from the platforms' documentation.

Deliberately independent of the clients' own counting (cliply.platforms): the emulator is the reference a client's
counting is checked against, so it must not share that code or its bugs.

- X: twitter-text 3.1.0 parseTweet (config v3). NFC first, then over the UTF-16 code units: a URL (twitter-text's
  extraction: known gTLD/ccTLD or punycode, bare domains too) weighs 23 × 100; an emoji in twemoji's list weighs 200
  as a whole; a code unit in the light ranges weighs 100, anything else (a surrogate pair counts once) 200; the limit
  is 280 × 100.
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

from cliply import text_data

X_SCALE = 100
X_LIGHT_WEIGHT = 100
X_HEAVY_WEIGHT = 200
X_URL_CHARS = 23
X_MAX_WEIGHTED = 280
X_LIGHT_RANGES = ((0x0000, 0x10FF), (0x2000, 0x200D), (0x2010, 0x201F), (0x2032, 0x2037))

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


# ---- X: twitter-text's URL grammar (regexp/extractUrl.js) over JavaScript's UTF-16 code units -----------------------
_BOUNDARY = r"(?=[^0-9a-zA-Z@+-]|\Z)"  # \Z: JavaScript's $ without the m flag
_TLD = "|".join(
    [f"(?:(?:{'|'.join(map(regex.escape, tlds))}){_BOUNDARY})" for tlds in (text_data.X_GTLDS, text_data.X_CCTLDS)]
    + [r"(?:xn--[\-0-9a-z]+)"]
)
_NOT_DOMAIN = (  # punctuation, spaces, invalid characters, directional marks
    r"\!'#%&'\(\)*\+,\\\-\.\/:;<=>\?@\[\]\^_{|}~\$\x09-\x0D\x20\x85\xA0\u1680\u180E\u2000-\u200A\u2028\u2029\u202F"
    r"\u205F\u3000\uFFFE\uFEFF\uFFFF\u202A-\u202E\u061C\u200E\u200F\u2066-\u2069"
)
_LATIN = (
    r"\xC0-\xD6\xD8-\xF6\xF8-\xFF\u0100-\u024F\u0253\u0254\u0256\u0257\u0259\u025B\u0263\u0268\u026F\u0272"
    r"\u0289\u028B\u02BB\u0300-\u036F\u1E00-\u1EFF"
)
_D = f"[^{_NOT_DOMAIN}]"
_P = rf"[a-z\u0400-\u04FF0-9!*';:=+,.$/%#\[\]\-\u2013_~@|&{_LATIN}]"
_PARENS = rf"\((?:{_P}+|{_P}*\({_P}+\){_P}*)\)"
# As twitter-text splices it: the ending-character class and a bare parenthesised group are separate alternatives.
_PATH = rf"(?:{_P}*(?:{_PARENS}{_P}*)*[+\-a-z\u0400-\u04FF0-9=_#/{_LATIN}]|{_PARENS}|@{_P}+/)"
_QUERY = r"\?[a-z0-9!?*'@();:&=+$/%#\[\]\-_.,~|]*[a-z0-9\-_&=#/]"
_URL_CANDIDATE = regex.compile(
    rf"(?P<before>[^A-Za-z0-9@＠$#＃\uFFFE\uFEFF\uFFFF]|[\u202A-\u202E\u061C\u200E\u200F\u2066-\u2069]|^)"
    rf"(?P<url>(?P<scheme>https?://)?(?P<domain>(?:(?:{_D}[_-]*)*{_D}\.)*(?:(?:{_D}-*)*{_D}\.)(?:{_TLD}))"
    rf"(?::[0-9]+)?(?P<path>/{_PATH}*)?(?:{_QUERY})?)",
    regex.IGNORECASE,
)
_ASCII_DOMAIN = regex.compile(rf"(?:[\-a-z0-9{_LATIN}]+\.)+(?:{_TLD})", regex.IGNORECASE)
_TCO = regex.compile(rf"https?://t\.co/([a-z0-9]+)(?:{_QUERY})?", regex.IGNORECASE)
_TWEMOJI = regex.compile(text_data.X_EMOJI_UTF16)


def _utf16(text: str) -> str:
    """One character per UTF-16 code unit, as twitter-text (JavaScript) indexes and matches the text."""
    data = text.encode("utf-16-le")
    return "".join(chr(int.from_bytes(data[i : i + 2], "little")) for i in range(0, len(data), 2))


def _idna_ok(domain: str) -> bool:
    """Each label, punycode-encoded (with 。．｡ as further dots), is 1-63 characters; xn-- must be ASCII."""
    if domain[:4] == "xn--" and not _ASCII_DOMAIN.search(domain):
        return False
    for label in domain.split("."):
        plain = _from_utf16(label)
        parts = regex.split("[\u3002\uff0e\uff61]", plain)
        size = sum(len(p) if p.isascii() else 4 + len(p.encode("punycode")) for p in parts) + len(parts) - 1
        if not 1 <= size <= 63:
            return False
    return True


def _url_entities(units: str) -> dict[int, int]:
    """start → length of each URL X links (twitter-text extractUrlsWithIndices)."""
    found: dict[int, int] = {}
    for m in _URL_CANDIDATE.finditer(units) if "." in units else ():
        url, domain = m["url"], m["domain"]
        if not _idna_ok(domain) or len(m["scheme"] or "https://") + len(url) > 4096:
            continue
        if m["scheme"]:
            tco = _TCO.match(url)
            if tco and len(tco[1]) > 40:
                continue
            found[m.start("url")] = len(tco[0]) if tco else len(url)
        elif not regex.search(r"[-_./]\Z", m["before"]):
            ascii_domains = list(_ASCII_DOMAIN.finditer(domain))
            for d in ascii_domains:
                found[m.start("url") + d.start()] = len(d[0])
            if ascii_domains and m["path"]:  # the last domain carries the path
                last = ascii_domains[-1]
                found[m.start("url") + last.start()] = len(url) - len(domain) + len(last[0])
    return found


class _XLinks:
    """The URLs X links in a text, with the one method of a compiled pattern the X emulator uses to t.co-wrap them."""

    def sub(self, repl: Callable[[str], str], text: str) -> str:
        units, out, pos = _utf16(text), [], 0
        for start, length in sorted(_url_entities(units).items()):
            out += [_from_utf16(units[pos:start]), repl(_from_utf16(units[start : start + length]))]
            pos = start + length
        return "".join(out) + _from_utf16(units[pos:])


URL = _XLinks()


def _from_utf16(units: str) -> str:
    return units.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")  # lone halves stay


def _x_unit_weight(unit: str) -> int:
    cp = ord(unit)
    return X_LIGHT_WEIGHT if any(lo <= cp <= hi for lo, hi in X_LIGHT_RANGES) else X_HEAVY_WEIGHT


def x_weight(text: str) -> int:
    """The scaled weight (limit 28,000): twitter-text compares this before dividing by the scale."""
    units = _utf16(unicodedata.normalize("NFC", text))
    urls = _url_entities(units)
    emoji = {m.start(): len(m[0]) for m in _TWEMOJI.finditer(units)}
    weight, i = 0, 0
    while i < len(units):
        if i in urls:
            weight += X_URL_CHARS * X_SCALE
            i += urls[i]
        elif i in emoji:
            weight += X_HEAVY_WEIGHT
            i += emoji[i]
        else:  # an astral character is weighed by its low surrogate
            i += (
                1
                if "\ud800" <= units[i] <= "\udbff" and i + 1 < len(units) and "\udc00" <= units[i + 1] <= "\udfff"
                else 0
            )
            weight += _x_unit_weight(units[i])
            i += 1
    return weight


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
PINTEREST_PIN = tuple(
    TextRule(name, limit, code_points, "characters")
    for name, limit in (("title", 100), ("description", 800), ("link", 2048), ("alt_text", 500))
)
