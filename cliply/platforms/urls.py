"""The start of every urlparse-based `parse_post_url`: split a pasted URL, accept only http(s)."""

from __future__ import annotations

from urllib.parse import ParseResult, urlparse


def web_url(url: str) -> ParseResult | None:
    """`url` (surrounding whitespace ignored) split into parts when it is an http(s) URL, else None.
    Host and path rules stay with each platform: they differ (short-link hosts, country domains, userinfo)."""
    try:
        parts = urlparse(url.strip())
    except ValueError:  # e.g. an unbalanced "[" in the host
        return None
    return parts if parts.scheme in ("http", "https") else None
