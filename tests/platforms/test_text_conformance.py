"""Cliply's text counting against the platforms' own libraries, run by Node on generated captions: twitter-text's
parseTweet for X (client and sandbox), @atproto/api's RichText facet detection and grapheme count for Bluesky."""

from __future__ import annotations

import random
from typing import Any

import pytest

from cliply.platforms import text as client_text
from cliply.platforms.bluesky import facets_for
from cliply.sandbox import counting
from tests.fixtures import text_oracle
from tests.fixtures.oauth_peers import ensure_peers

X_CAPTIONS = 3000
BLUESKY_POSTS = 1500
SEED = 20261206

WORDS = ["clip", "Cliply", "video", "the", "best", "moment", "watch", "new", "today", "café", "naïve", "über"]
EMOJI = [
    "\U0001f3ac",
    "\U0001f525",
    "\u2764\ufe0f",
    "\u2764",
    "\U0001f44d\U0001f3fd",
    "\U0001f468\u200d\U0001f4bb",
    "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466",
    "\U0001f3f3\ufe0f\u200d\U0001f308",
    "\U0001f1eb\U0001f1f7",
    "\U0001f1ef\U0001f1f5",
    "\U0001f1e6\U0001f1e6",
    "\U0001f1fa",
    "1\ufe0f\u20e3",
    "#\ufe0f\u20e3",
    "*\ufe0f\u20e3",
    "5\u20e3",
    "\u00a9\ufe0f",
    "\u00a9",
    "\u2122",
    "\ufe0f",
    "\U0001faf6\U0001f3fb",
    "\U0001f9d1\u200d\U0001f91d\u200d\U0001f9d1",
    "\u263a\ufe0f",
    "\U0001f3f4\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f",
]
SCRIPTS = ["日本語", "テキスト", "안녕하세요", "中文字幕", "مرحبا", "नमस्ते", "Привет", "ελληνικά", "ไทย", "𠀋𡈽"]
MARKS = ["e\u0301", "a\u0308", "n\u0303", "\u1100\u1161\u11a8", "o\u0302\u0323", "\u0915\u094d\u0937"]
PUNCT = [".", ",", "!", "?", ")", "(", ":", ";", "'", '"', "…", "–", "—", "“", "”", "′", "/", "-", "_"]
TLDS = ["com", "org", "net", "io", "co", "fr", "de", "uk", "jp", "app", "dev", "social", "co.uk", "com.au", "xyz"]
FAKE_TLDS = ["notatld", "test", "invalid", "localhost", "c", "comx", "e"]
HOSTS = ["example", "cliply", "bsky", "my-site", "a1", "news.example", "sub.domain.example", "t"]
PATHS = [
    "",
    "/",
    "/watch",
    "/a/b/c",
    "/p?q=1",
    "/x?y=z&w=1",
    "/path_(x)",
    "/profile/alice.bsky.social",
    "/~u/#f",
    "/search?q=a+b",
    "/é",
    "/日本",
]
ENDINGS = ["", ".", ",", "!", "?", ")", "...", ":", ";", "'", "-", "/"]


def _url(rng: random.Random) -> str:
    tld = rng.choice(FAKE_TLDS if rng.random() < 0.2 else TLDS)
    host = f"{rng.choice(HOSTS)}.{tld}"
    if rng.random() < 0.15:
        host = host.upper() if rng.random() < 0.5 else host.capitalize()
    scheme = rng.choice(["https://", "http://", "", "", "www.", "https://www.", "HTTPS://"])
    if rng.random() < 0.05:
        return f"https://t.co/{''.join(rng.choices('abcXYZ019', k=rng.randint(5, 45)))}"
    return scheme + host + rng.choice(PATHS) + rng.choice(ENDINGS)


def _token(rng: random.Random) -> str:
    kind = rng.choices(
        ["word", "emoji", "script", "mark", "punct", "url", "mention", "tag", "cashtag", "paren", "number"],
        [30, 12, 8, 5, 6, 12, 5, 7, 2, 2, 3],
    )[0]
    match kind:
        case "word":
            return rng.choice(WORDS)
        case "emoji":
            return "".join(rng.choice(EMOJI) for _ in range(rng.randint(1, 3)))
        case "script":
            return rng.choice(SCRIPTS)
        case "mark":
            return rng.choice(WORDS) + rng.choice(MARKS)
        case "punct":
            return rng.choice(PUNCT)
        case "url":
            return _url(rng)
        case "mention":
            handle = rng.choice(["alice", "bob.bsky.social", "carol.test", "dan.example.com", "e-f.co", "x.notatld"])
            return "@" + handle + rng.choice(["", "", ".", ",", ")", "!"])
        case "tag":
            body = rng.choice(
                ["clip", "Cliply2026", "日本", "café", "1", "a_b", "tag-x", "\ufe0fx", "x\u200dy", "2024"]
            )
            return rng.choice(["#", "#", "＃"]) + body + rng.choice(["", "", ".", "!", "…", ","])
        case "cashtag":
            return "$" + rng.choice(["AAPL", "tsla", "A1", "TOOLONG", "X"]) + rng.choice(["", ".", " "])
        case "paren":
            return "(" + _url(rng) + ")"
        case _:
            return str(rng.randint(0, 10 ** rng.randint(1, 8)))


def _caption(rng: random.Random) -> str:
    seps = [" ", " ", " ", "\n", "", "\u3000", "\u00a0", "\t"]
    n = rng.choice([rng.randint(1, 8), rng.randint(10, 40), rng.randint(40, 90)])
    text = "".join(_token(rng) + rng.choice(seps) for _ in range(n)).strip()
    if rng.random() < 0.1:  # around X's 280 limit
        text = (text + " " + "a" * rng.randint(200, 280))[: rng.randint(270, 290)]
    return text if rng.random() > 0.05 else text.replace("e\u0301", "é")  # NFD and NFC both


def captions(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [_caption(rng) for _ in range(n)]


@pytest.fixture(scope="module")
def node() -> str:
    return ensure_peers()


@pytest.fixture(scope="module")
def x_corpus(node: str) -> list[tuple[str, dict[str, Any]]]:
    texts = captions(X_CAPTIONS, SEED)
    return list(zip(texts, text_oracle.ask(node, "x", texts), strict=True))


def _report(misses: list[str], total: int) -> str:
    return f"{len(misses)}/{total} disagree:\n" + "\n".join(misses[:20])


def test_the_committed_lists_are_twitter_texts_and_the_tlds_packages(node: str) -> None:
    for module, content in text_oracle.rendered(node).items():
        assert module.read_text() == content, f"{module} is stale: python -m tests.fixtures.text_oracle"


def test_x_client_counts_like_twitter_text(x_corpus: list[tuple[str, dict[str, Any]]]) -> None:
    misses = [
        f"{text!r}: cliply {client_text.x_weighted_length(text)}, twitter-text {want['weightedLength']}"
        for text, want in x_corpus
        if client_text.x_weighted_length(text) != want["weightedLength"]
    ]
    assert not misses, _report(misses, len(x_corpus))


def test_x_client_accepts_exactly_what_twitter_text_accepts(x_corpus: list[tuple[str, dict[str, Any]]]) -> None:
    def valid(text: str) -> bool:
        length = client_text.x_weighted_length(text)
        return 0 < length <= 280 and not client_text.x_has_invalid_characters(text)

    misses = [repr(text) for text, want in x_corpus if valid(text) != want["valid"]]
    assert not misses, _report(misses, len(x_corpus))


def test_x_sandbox_counts_like_twitter_text(x_corpus: list[tuple[str, dict[str, Any]]]) -> None:
    misses = [
        f"{text!r}: sandbox {counting.x_weighted_length(text)}, twitter-text {want['weightedLength']}"
        for text, want in x_corpus
        if counting.x_weighted_length(text) != want["weightedLength"]
    ]
    assert not misses, _report(misses, len(x_corpus))


def test_the_corpus_exercises_what_it_should(x_corpus: list[tuple[str, dict[str, Any]]]) -> None:
    texts = [t for t, _ in x_corpus]
    assert len(texts) >= X_CAPTIONS
    for needle in ("\U0001f1eb\U0001f1f7", "\u200d", "\u20e3", ".notatld", "@", "#", "日本", "\u0301", "https://"):
        assert any(needle in t for t in texts), needle
    assert sum(not w["valid"] for _, w in x_corpus) > 10  # both sides of the 280 limit


# ---- Bluesky ---------------------------------------------------------------------------------------------------------
def _key(facet: dict[str, Any]) -> tuple[Any, ...]:
    feature = facet["features"][0]
    value = "" if feature["$type"].endswith("#mention") else feature.get("uri", feature.get("tag"))
    return facet["index"]["byteStart"], facet["index"]["byteEnd"], feature["$type"], value


def test_bluesky_graphemes_and_facets_match_richtext(node: str) -> None:
    texts = captions(BLUESKY_POSTS, SEED + 1)
    misses = []
    for text, want in zip(texts, text_oracle.ask(node, "bsky", texts), strict=True):
        ours = sorted(map(_key, facets_for(text, lambda handle: f"did:plc:{handle}")))
        theirs = sorted(map(_key, want["facets"]))
        if ours != theirs or client_text.graphemes(text) != want["graphemes"]:
            misses.append(f"{text!r}\n  cliply  {ours}\n  atproto {theirs}")
    assert not misses, _report(misses, len(texts))
