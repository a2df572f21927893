"""Registering an externally posted URL: every platform's public URL shapes map to exactly one (platform, post id),
and lookalikes or non-post pages are refused by all nine parsers."""

from __future__ import annotations

import pytest

from cliply.platforms import PLATFORMS, client_class, parse_post_url

REAL_URLS = [
    ("https://www.youtube.com/shorts/dQw4w9WgXcQ", "youtube", "dQw4w9WgXcQ"),
    ("https://youtube.com/watch?v=dQw4w9WgXcQ&t=42s", "youtube", "dQw4w9WgXcQ"),
    ("https://youtu.be/dQw4w9WgXcQ?si=abc", "youtube", "dQw4w9WgXcQ"),
    ("https://m.youtube.com/watch?feature=share&v=dQw4w9WgXcQ", "youtube", "dQw4w9WgXcQ"),
    ("https://www.tiktok.com/@scout2015/video/6718335390845095173", "tiktok", "6718335390845095173"),
    ("https://www.instagram.com/reel/C8xYz12AbCd/", "instagram", "C8xYz12AbCd"),
    ("https://www.instagram.com/p/C8xYz12AbCd/?igsh=x", "instagram", "C8xYz12AbCd"),
    ("https://www.facebook.com/reel/1234567890123456", "facebook", "1234567890123456"),
    ("https://www.facebook.com/watch/?v=1234567890123456", "facebook", "1234567890123456"),
    ("https://www.threads.net/@zuck/post/C8xYz12AbCd", "threads", "C8xYz12AbCd"),
    ("https://www.threads.com/@zuck/post/C8xYz12AbCd", "threads", "C8xYz12AbCd"),
    ("https://x.com/jack/status/20", "x", "20"),
    ("https://twitter.com/i/web/status/1460323737035677698", "x", "1460323737035677698"),
    ("https://www.pinterest.com/pin/99360735500167749/", "pinterest", "99360735500167749"),
    ("https://www.pinterest.co.uk/pin/99360735500167749/", "pinterest", "99360735500167749"),
]

NOT_POSTS = [
    "https://www.youtube.com/@somechannel",
    "https://www.youtube.com.evil.example/shorts/dQw4w9WgXcQ",
    "https://notyoutube.com/watch?v=dQw4w9WgXcQ",
    "https://www.tiktok.com/@scout2015",
    "https://www.instagram.com/someuser/",
    "https://x.com/home",
    "https://x.com.attacker.example/jack/status/20",
    "https://www.linkedin.com/in/someone/",
    "https://bsky.app/profile/alice.bsky.social",
    "https://www.pinterest.com/someuser/boards/",
    "https://example.com/pin/99360735500167749/",
    "ftp://x.com/jack/status/20",
    "not a url",
]


@pytest.mark.parametrize(("url", "platform", "post_id"), REAL_URLS)
def test_real_post_urls_map_to_one_platform(url: str, platform: str, post_id: str) -> None:
    claimed = [p for p in PLATFORMS if client_class(p).parse_post_url(url) is not None]
    assert claimed == [platform]
    ref = parse_post_url(url)
    assert ref is not None and ref.platform == platform and ref.post_id == post_id


def test_linkedin_and_bluesky_urls() -> None:
    li = parse_post_url("https://www.linkedin.com/feed/update/urn:li:activity:7123456789012345678/")
    assert li is not None and li.platform == "linkedin" and "7123456789012345678" in li.post_id
    bs = parse_post_url("https://bsky.app/profile/alice.bsky.social/post/3kq2hyfbvdc2a")
    assert bs is not None and bs.platform == "bluesky" and "3kq2hyfbvdc2a" in bs.post_id


@pytest.mark.parametrize("url", NOT_POSTS)
def test_non_post_urls_are_refused_everywhere(url: str) -> None:
    assert [p for p in PLATFORMS if client_class(p).parse_post_url(url) is not None] == []
