"""The sandbox's own text counting (cliply.sandbox.counting) against documented cases, and side by side with the
clients' counting so that any disagreement between a client and the emulator that checks it shows up here."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from cliply.platforms import text as client_text
from cliply.platforms.threads import threads_length as client_threads_length
from cliply.sandbox import counting

SANDBOX_DIR = Path(counting.__file__).parent

FLAG = "\U0001f1eb\U0001f1f7"  # 🇫🇷: two regional indicators
FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"  # 👨‍👩‍👧‍👦: four people joined by ZWJ
KEYCAP = "1\ufe0f\u20e3"  # 1️⃣
THUMBS_MEDIUM = "\U0001f44d\U0001f3fd"  # 👍🏽: emoji + skin tone modifier


# ---- X: twitter-text v3 ----------------------------------------------------------------------------------------------
def test_x_280_latin_characters_fit_and_281_do_not() -> None:
    assert counting.x_weighted_length("a" * 280) == 280
    assert not counting.X_TEXT.too_long("a" * 280)
    assert counting.X_TEXT.too_long("a" * 281)


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com",
        "http://a.co/c?d=e#f",
        "www.example.com/x",
        "example.fr",
        "https://example.com/" + "p" * 200,
    ],
)
def test_x_every_url_counts_23(url: str) -> None:
    assert counting.x_weighted_length(url) == 23
    assert counting.x_weighted_length(f"see {url} now") == 23 + 8


@pytest.mark.parametrize(
    ("text", "weight"), [("http://a.b/c", 12), ("example.notatld", 15), ("https://t.co/abc.", 24), ("a.com.", 24)]
)
def test_x_links_only_known_tlds_and_stops_at_trailing_punctuation(text: str, weight: int) -> None:
    assert counting.x_weighted_length(text) == weight


def test_x_wraps_bare_domains_in_t_co_but_not_fake_tlds() -> None:
    shown = counting.URL.sub(lambda _url: "https://t.co/x", "see example.com/a, site.notatld and https://b.org/")
    assert shown == "see https://t.co/x, site.notatld and https://t.co/x"


def test_x_cjk_counts_2_each() -> None:
    assert counting.x_weighted_length("日本語") == 6
    assert counting.X_TEXT.too_long("日" * 141)
    assert not counting.X_TEXT.too_long("日" * 140)


@pytest.mark.parametrize("emoji", ["\U0001f3ac", FLAG, FAMILY, KEYCAP, THUMBS_MEDIUM, "\u2764\ufe0f"])
def test_x_an_emoji_sequence_counts_2(emoji: str) -> None:
    assert counting.x_weighted_length(emoji) == 2


def test_x_light_ranges_count_1() -> None:
    # Latin-1, en dash, curly quotes and primes are in the light ranges; the ellipsis (U+2026) is not.
    assert counting.x_weighted_length("é–“”′") == 5
    assert counting.x_weighted_length("…") == 2
    assert counting.x_weighted_length("\u1100") == 2  # first code point past 4351


def test_x_counts_after_nfc() -> None:
    assert counting.x_weighted_length("Cafe\u0301") == counting.x_weighted_length("Caf\u00e9") == 4


# ---- the other platforms --------------------------------------------------------------------------------------------
def test_instagram_and_tiktok_count_utf16_units() -> None:
    assert counting.utf16_units("\U0001f3ac") == 2  # astral: a surrogate pair
    assert not counting.INSTAGRAM_CAPTION.too_long("a" * 2200)
    assert counting.INSTAGRAM_CAPTION.too_long("a" * 2199 + "\U0001f3ac")
    assert counting.TIKTOK_TITLE.too_long("a" * 2201)


def test_threads_counts_500_characters_with_emoji_as_utf8_bytes() -> None:
    assert not counting.THREADS_TEXT.too_long("a" * 500)
    assert counting.THREADS_TEXT.too_long("a" * 501)
    assert counting.threads_length("\U0001f3ac") == 4
    assert counting.threads_length("日本") == 2


def test_pinterest_counts_code_points() -> None:
    title = next(rule for rule in counting.PINTEREST_PIN if rule.field == "title")
    assert not title.too_long("\U0001f3ac" * 100)
    assert title.too_long("a" * 101)


def test_bluesky_counts_graphemes_and_bytes() -> None:
    assert counting.graphemes(FAMILY + FLAG + "e\u0301") == 3
    assert not counting.BLUESKY_GRAPHEMES.too_long(FAMILY * 300)
    assert counting.BLUESKY_BYTES.too_long(FAMILY * 300)  # 25 bytes each


def test_youtube_title_in_characters_and_description_in_bytes() -> None:
    assert not counting.YOUTUBE_TITLE.too_long("日" * 100)
    assert counting.YOUTUBE_DESCRIPTION.too_long("日" * 1667)  # 3 bytes each


# ---- client vs emulator ---------------------------------------------------------------------------------------------
def _known(reason: str) -> pytest.MarkDecorator:
    return pytest.mark.xfail(strict=True, reason=reason)


_FLAG_THREADS = "client counts a flag as 2 characters; the sandbox counts it as an emoji, by its 8 UTF-8 bytes"
_KEYCAP_THREADS = "client counts a keycap as 3 characters; the sandbox counts it as an emoji, by its 7 UTF-8 bytes"

SAMPLES = {
    "ascii": "Cliply turns long videos into clips",
    "limit": "a" * 280,
    "url": "watch https://example.com/watch?v=abc&t=10 now",
    "www": "www.example.com",
    "cjk": "日本語のテキスト",
    "hangul": "안녕하세요",
    "arabic": "مرحبا بالعالم",
    "devanagari": "नमस्ते",
    "punctuation": "“quotes” – dash… ′prime′",
    "nfd": "Cafe\u0301",
    "emoji": "clip \U0001f3ac",
    "zwj": FAMILY,
    "skin_tone": THUMBS_MEDIUM,
    "heart_vs16": "\u2764\ufe0f",
    "copyright": "\u00a9\ufe0f 2026",
    "flag": FLAG,
    "keycap": KEYCAP,
    "hashtags": "#clip #shorts @someone",
}
THREADS_KNOWN = {"flag": _FLAG_THREADS, "keycap": _KEYCAP_THREADS}


def _cases(known: dict[str, str]) -> list[pytest.param]:  # type: ignore[valid-type]
    return [
        pytest.param(text, id=name, marks=[_known(known[name])] if name in known else [])
        for name, text in SAMPLES.items()
    ]


@pytest.mark.parametrize("text", _cases({}))
def test_x_client_and_sandbox_agree(text: str) -> None:
    assert client_text.x_weighted_length(text) == counting.x_weighted_length(text)


@pytest.mark.parametrize("text", _cases(THREADS_KNOWN))
def test_threads_client_and_sandbox_agree(text: str) -> None:
    assert client_threads_length(text) == counting.threads_length(text)


@pytest.mark.parametrize("text", _cases({}))
@pytest.mark.parametrize(
    ("client", "sandbox"),
    [
        (client_text.utf16_units, counting.utf16_units),
        (client_text.code_points, counting.code_points),
        (client_text.graphemes, counting.graphemes),
        (client_text.utf8_bytes, counting.utf8_bytes),
    ],
    ids=["utf16", "code_points", "graphemes", "utf8_bytes"],
)
def test_plain_counters_agree(client: object, sandbox: object, text: str) -> None:
    assert client(text) == sandbox(text)  # type: ignore[operator]


def test_the_emulator_does_not_import_client_code() -> None:
    """Only the list of platform names may come from cliply.platforms: anything else would let a client bug hide."""
    offenders = []
    for path in SANDBOX_DIR.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("cliply.platforms"):
                if node.module != "cliply.platforms" or [a.name for a in node.names] != ["PLATFORMS"]:
                    offenders.append(f"{path.name}: from {node.module} import ...")
            elif isinstance(node, ast.Import):
                offenders += [
                    f"{path.name}: import {a.name}" for a in node.names if a.name.startswith("cliply.platforms")
                ]
    assert not offenders
