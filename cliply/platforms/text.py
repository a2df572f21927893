"""Count text the way each platform counts it: UTF-16 units, X's weighted characters, graphemes, UTF-8 bytes."""

from __future__ import annotations

import array
import unicodedata
from dataclasses import dataclass

import regex

from cliply import text_data
from cliply.platforms.models import Violation

# twitter-text v3 configuration: code points in these ranges weigh 100 (one char), everything else 200 (two).
_X_LIGHT_RANGES = ((0, 4351), (8192, 8205), (8208, 8223), (8242, 8247))
_X_SCALE = 100
_X_DEFAULT_WEIGHT = 200
X_URL_LENGTH = 23  # every URL counts as a t.co link
_X_MAX_URL_LENGTH = 4096
_X_MAX_TCO_SLUG = 40
_X_MAX_LABEL = 63
_HASHTAG = regex.compile(r"(?<![\w&])#(\w+)")


def utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def utf8_bytes(text: str) -> int:
    return len(text.encode("utf-8"))


def graphemes(text: str) -> int:
    return len(regex.findall(r"\X", text))


def code_points(text: str) -> int:
    return len(text)


# X's URL rules, ported from twitter-text 3.1.0 (src/regexp/*.js). They run on the text as JavaScript sees it, one
# UTF-16 code unit per character, so that every class, index and length means what it means there.
_X_INVALID = r"\uFFFE\uFEFF\uFFFF"
_X_DIRECTIONAL = r"\u202A-\u202E\u061C\u200E\u200F\u2066\u2067\u2068\u2069"
_X_SPACES = r"\x09-\x0D\x20\x85\xA0\u1680\u180E\u2000-\u200A\u2028\u2029\u202F\u205F\u3000"
_X_PUNCT = r"\!'#%&'\(\)*\+,\\\-\.\/:;<=>\?@\[\]\^_{|}~\$"
_X_LATIN_ACCENTS = (
    r"\xC0-\xD6\xD8-\xF6\xF8-\xFF\u0100-\u024F\u0253\u0254\u0256\u0257\u0259\u025B\u0263\u0268\u026F\u0272\u0289"
    r"\u028B\u02BB\u0300-\u036F\u1E00-\u1EFF"
)
_X_CYRILLIC = r"\u0400-\u04FF"


def _x_tld_pattern() -> str:
    """gTLD | ccTLD | punycode, each ending where a domain cannot go on (\Z: JavaScript's $ is the end of input)."""
    boundary = r"(?=[^0-9a-zA-Z@+-]|\Z)"
    gtld, cctld = ("|".join(map(regex.escape, tlds)) for tlds in (text_data.X_GTLDS, text_data.X_CCTLDS))
    return rf"(?:(?:(?:{gtld}){boundary})|(?:(?:{cctld}){boundary})|(?:xn--[\-0-9a-z]+))"


def _x_url_pattern() -> str:
    tld = _x_tld_pattern()
    char = f"[^{_X_PUNCT}{_X_SPACES}{_X_INVALID}{_X_DIRECTIONAL}]"
    subdomain = f"(?:(?:{char}(?:[_-]|{char})*)?{char}\\.)"
    domain_name = f"(?:(?:{char}(?:-|{char})*)?{char}\\.)"
    path_char = f"[a-z{_X_CYRILLIC}0-9!\\*';:=\\+,\\.\\$\\/%#\\[\\]\\-\\u2013_~@\\|&{_X_LATIN_ACCENTS}]"
    parens = f"\\((?:{path_char}+|(?:{path_char}*\\({path_char}+\\){path_char}*))\\)"
    path_end = f"[\\+\\-a-z{_X_CYRILLIC}0-9=_#\\/{_X_LATIN_ACCENTS}]|(?:{parens})"
    path = f"(?:(?:{path_char}*(?:{parens}{path_char}*)*{path_end})|(?:@{path_char}+/))"
    preceding = f"(?:[^A-Za-z0-9@＠$#＃{_X_INVALID}]|[{_X_DIRECTIONAL}]|^)"
    return (
        f"({preceding})((https?:\\/\\/)?({subdomain}*{domain_name}{tld})(?::[0-9]+)?"
        f"(\\/{path}*)?(\\?{_X_QUERY_CHAR}*{_X_QUERY_END})?)"
    )


_X_QUERY_CHAR = r"[a-z0-9!?\*'@\(\);:&=\+\$\/%#\[\]\-_\.,~|]"
_X_QUERY_END = r"[a-z0-9\-_&=#\/]"
_X_URL = regex.compile(_x_url_pattern(), regex.IGNORECASE)
_X_ASCII_DOMAIN = regex.compile(f"(?:(?:[\\-a-z0-9{_X_LATIN_ACCENTS}]+)\\.)+{_x_tld_pattern()}", regex.IGNORECASE)
_X_TCO = regex.compile(f"^https?:\\/\\/t\\.co\\/([a-z0-9]+)(?:\\?{_X_QUERY_CHAR}*{_X_QUERY_END})?", regex.IGNORECASE)
_X_NO_PROTOCOL_AFTER = regex.compile(r"[-_.\/]\Z")
_X_LABEL_SEPARATORS = regex.compile("[\u3002\uff0e\uff61]")
_X_EMOJI = regex.compile(text_data.X_EMOJI_UTF16)


def js_string(text: str) -> str:
    """The text as JavaScript holds it: astral characters become their two UTF-16 surrogates."""
    units = array.array("H")
    units.frombytes(text.encode("utf-16-le"))
    return "".join(map(chr, units))


def _from_js(units: str) -> str:
    return units.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")  # lone halves stay


def _x_label_ascii_length(label: str) -> int:
    """Length of punycode.toASCII(label), which also splits on the ideographic full stops."""
    parts = _X_LABEL_SEPARATORS.split(label)
    encoded = [p if p.isascii() else "xn--" + p.encode("punycode").decode("ascii") for p in parts]
    return len(".".join(encoded))


def _x_valid_domain(url: str, protocol: str, domain: str) -> bool:
    """twitter-text's isValidUrl: IDNA-encodable labels of 1..63 characters and a URL of at most 4,096."""
    if domain.startswith("xn--") and not _X_ASCII_DOMAIN.search(domain):
        return False
    if not all(1 <= _x_label_ascii_length(_from_js(label)) <= _X_MAX_LABEL for label in domain.split(".")):
        return False
    return len(protocol or "https://") + len(url) <= _X_MAX_URL_LENGTH


def _x_urls_without_protocol(m: regex.Match[str]) -> list[tuple[int, int]]:
    """Bare domains: each ASCII domain inside the match is a link; the last one keeps the path."""
    if _X_NO_PROTOCOL_AFTER.search(m.group(1)):
        return []
    domain, url, start = m.group(4), m.group(2), m.start(2)
    spans, end = [], 0
    for ascii_domain in _X_ASCII_DOMAIN.finditer(domain):
        spans.append((start + ascii_domain.start(), len(ascii_domain.group())))
        end = ascii_domain.end()
    if spans and m.group(5):
        last_start, last_len = spans[-1]
        spans[-1] = (last_start, len(url.replace(domain, domain[end - last_len : end], 1)))
    return spans


def x_url_spans(units: str) -> list[tuple[int, int]]:
    """(start, length) of each URL twitter-text extracts from a JavaScript string (extractUrlsWithIndices)."""
    if "." not in units:
        return []
    spans: list[tuple[int, int]] = []
    for m in _X_URL.finditer(units):
        url, protocol = m.group(2), m.group(3)
        if not _x_valid_domain(url, protocol, m.group(4)):
            continue
        if not protocol:
            spans += _x_urls_without_protocol(m)
        elif tco := _X_TCO.match(url):
            if len(tco.group(1)) <= _X_MAX_TCO_SLUG:
                spans.append((m.start(2), len(tco.group())))
        else:
            spans.append((m.start(2), len(url)))
    return spans


def x_without_urls(text: str, replacement: str = " ") -> str:
    """The text with every URL X links (bare domains included) replaced: comparable with the posted t.co text."""
    units = js_string(text)
    pieces, pos = [], 0
    for start, length in sorted(x_url_spans(units)):
        pieces += [units[pos:start], replacement]
        pos = start + length
    return _from_js("".join(pieces) + units[pos:])


def _x_char_weight(unit: str) -> int:
    cp = ord(unit)
    return _X_SCALE if any(lo <= cp <= hi for lo, hi in _X_LIGHT_RANGES) else _X_DEFAULT_WEIGHT


def x_weight(text: str) -> int:
    """twitter-text's parseTweet weight (scale 100): NFC, URLs weigh 23, a twemoji emoji 2, other characters by
    range; an astral character outside an emoji weighs as its low surrogate does (2)."""
    units = js_string(unicodedata.normalize("NFC", text))
    urls = dict(x_url_spans(units))
    emoji = {m.start(): len(m.group()) for m in _X_EMOJI.finditer(units)}
    total = i = 0
    while i < len(units):
        if i in urls:
            total, i = total + X_URL_LENGTH * _X_SCALE, i + urls[i]
        elif i in emoji:
            total, i = total + _X_DEFAULT_WEIGHT, i + emoji[i]
        else:
            pair = int(_is_surrogate_pair(units, i))
            total, i = total + _x_char_weight(units[i + pair]), i + 1 + pair
    return total


def _is_surrogate_pair(units: str, i: int) -> bool:
    return i + 1 < len(units) and "\ud800" <= units[i] <= "\udbff" and "\udc00" <= units[i + 1] <= "\udfff"


def x_weighted_length(text: str) -> int:
    """X's weighted length (280 max for standard accounts), as twitter-text's parseTweet reports it."""
    return x_weight(text) // _X_SCALE


def x_has_invalid_characters(text: str) -> bool:
    """U+FFFE, U+FEFF and U+FFFF make X refuse a post whatever its length."""
    return regex.search(f"[{_X_INVALID}]", text) is not None


# Bluesky's facet detection, ported from @atproto/api (src/rich-text/util.ts, detection.ts). JavaScript's \s is spelled
# out: Python's differs (U+FEFF, U+001C-U+001F, U+0085).
_JS_SPACE = r"\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
_ZERO_WIDTH = r"\u00AD\u2060\u200A\u200B\u200C\u200D\u20e2"
_BSKY_MENTION = regex.compile(
    rf"(^|[{_JS_SPACE}]|\()@([a-zA-Z0-9.-]+)(?:(?<=[A-Za-z0-9_])(?![A-Za-z0-9_])|(?<![A-Za-z0-9_])(?=[A-Za-z0-9_]))"
)
_BSKY_URL = regex.compile(
    rf"(^|[{_JS_SPACE}]|\()((?:[hH][tT][tT][pP][sS]?://[^{_JS_SPACE}]+)"
    rf"|(?P<domain>[a-zA-Z][a-zA-Z0-9]*(?:\.[a-zA-Z0-9]+)+)[^{_JS_SPACE}]*)"
)
_BSKY_TAG = regex.compile(
    rf"(^|[{_JS_SPACE}])[#＃]((?!\ufe0f)[^{_JS_SPACE}{_ZERO_WIDTH}]*[^0-9{_JS_SPACE}\p{{P}}{_ZERO_WIDTH}]+"
    rf"[^{_JS_SPACE}{_ZERO_WIDTH}]*)?"
)
_BSKY_CASHTAG = regex.compile(
    rf"(^|[{_JS_SPACE}]|\()\$([A-Za-z][A-Za-z0-9]{{0,4}})(?=[{_JS_SPACE}]|\Z|[.,;:!?)\"'\u2019])"
)
_TRAILING_PUNCTUATION = regex.compile(r"\p{P}+\Z")
_BSKY_TLDS = frozenset(text_data.BLUESKY_TLDS)
BLUESKY_TAG_GRAPHEMES = 64


@dataclass(frozen=True)
class Facet:
    """A detected Bluesky facet: UTF-8 byte range, kind ("mention", "link", "tag") and value (handle, URI, tag)."""

    byte_start: int
    byte_end: int
    kind: str
    value: str


def _bsky_valid_domain(name: str) -> bool:
    """A known TLD after the last dot, case-sensitive as the official check is."""
    _, dot, tld = name.rpartition(".")
    return bool(dot) and tld in _BSKY_TLDS


def bluesky_facets(text: str) -> list[Facet]:
    """@atproto/api RichText.detectFacets before handle resolution: mentions, links (bare domains become https://),
    #tags and $cashtags, in that order."""
    offsets = [0]
    for ch in text:
        offsets.append(offsets[-1] + len(ch.encode("utf-8")))
    spans = _bsky_mentions(text) + _bsky_links(text) + _bsky_tags(text) + _bsky_cashtags(text)
    return [Facet(offsets[a], offsets[b], kind, value) for a, b, kind, value in spans]


def _bsky_mentions(text: str) -> list[tuple[int, int, str, str]]:
    out = []
    for m in _BSKY_MENTION.finditer(text):
        handle = m.group(2)
        if _bsky_valid_domain(handle) or handle.endswith(".test"):
            out.append((m.start(2) - 1, m.end(2), "mention", handle))
    return out


def _bsky_links(text: str) -> list[tuple[int, int, str, str]]:
    out = []
    for m in _BSKY_URL.finditer(text):
        uri, start, end = m.group(2), m.start(2), m.end(2)
        if not uri.startswith("http"):  # a bare domain, or a scheme in capitals (which the official code drops)
            if not m.group("domain") or not _bsky_valid_domain(m.group("domain")):
                continue
            uri = f"https://{uri}"
        if uri[-1] in ".,;:!?":
            uri, end = uri[:-1], end - 1
        if uri.endswith(")") and "(" not in uri:
            uri, end = uri[:-1], end - 1
        out.append((start, end, "link", uri))
    return out


def _bsky_tags(text: str) -> list[tuple[int, int, str, str]]:
    out = []
    for m in _BSKY_TAG.finditer(text):
        tag = _TRAILING_PUNCTUATION.sub("", m.group(2) or "")
        if not tag or (utf16_units(tag) > BLUESKY_TAG_GRAPHEMES and graphemes(tag) > BLUESKY_TAG_GRAPHEMES):
            continue
        start = m.start() + len(m.group(1))
        out.append((start, start + 1 + len(tag), "tag", tag))
    return out


def _bsky_cashtags(text: str) -> list[tuple[int, int, str, str]]:
    out = []
    for m in _BSKY_CASHTAG.finditer(text):
        start = m.start() + len(m.group(1))
        out.append((start, m.end(2), "tag", "$" + m.group(2).upper()))
    return out


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
