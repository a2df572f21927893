"""SSRF guard for URL imports: only public http(s) targets, checked on every resolved address."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

Resolver = Callable[..., list[tuple[Any, ...]]]

# Ranges the ipaddress flags miss or that we want named explicitly.
_EXTRA_BLOCKED = [
    ipaddress.ip_network("100.64.0.0/10"),  # CGNAT (is_private is False for it)
    ipaddress.ip_network("169.254.0.0/16"),  # link-local, cloud metadata 169.254.169.254
    ipaddress.ip_network("0.0.0.0/8"),  # "this network"; 0.x often reaches localhost
    ipaddress.ip_network("192.0.0.0/24"),  # IETF protocol assignments
    ipaddress.ip_network("198.18.0.0/15"),  # benchmarking
    ipaddress.ip_network("fc00::/7"),  # IPv6 unique local
    ipaddress.ip_network("fe80::/10"),  # IPv6 link-local
    ipaddress.ip_network("fec0::/10"),  # deprecated IPv6 site-local
    ipaddress.ip_network("64:ff9b::/96"),  # NAT64 can embed any IPv4
    ipaddress.ip_network("64:ff9b:1::/48"),
    ipaddress.ip_network("2002::/16"),  # 6to4 embeds an IPv4
]


class BlockedURL(ValueError):
    """The URL is not allowed as an import source (scheme, host or resolved address)."""


def _blocked_reason(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    if isinstance(ip, ipaddress.IPv6Address):
        # ::ffff:a.b.c.d and ::a.b.c.d (compat) carry an IPv4 target: judge that instead.
        mapped = ip.ipv4_mapped
        if mapped is not None:
            return _blocked_reason(mapped) or None
        if ip.teredo is not None:
            return "Teredo IPv6"
    for flag in ("is_loopback", "is_link_local", "is_multicast", "is_unspecified", "is_reserved", "is_private"):
        if getattr(ip, flag):
            return flag.removeprefix("is_").replace("_", "-")
    for net in _EXTRA_BLOCKED:
        if ip.version == net.version and ip in net:
            return f"in {net}"
    if not ip.is_global:
        return "not global"
    return None


def check_ip(address: str, *, allow_private: bool = False) -> str:
    """Return the canonical IP string, or raise BlockedURL if it is not a public unicast address."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    except ValueError as exc:
        raise BlockedURL(f"resolver returned a non-IP address {address!r}") from exc
    if not allow_private:
        reason = _blocked_reason(ip)
        if reason:
            raise BlockedURL(f"{ip} is blocked ({reason}); private network targets are not allowed")
    return str(ip)


def check_url(url: str, *, allow_private: bool = False, resolver: Resolver = socket.getaddrinfo) -> list[str]:
    """Validate an import URL and return every address its host resolves to.

    Every address must pass, because a client may connect to any of them. Odd IPv4 spellings
    (decimal 2130706433, octal 0177.0.0.1, hex 0x7f.1) are normalised by the resolver (inet_aton)
    and so end up checked as the address they really are.
    """
    if not isinstance(url, str) or not url.strip():
        raise BlockedURL("empty URL")
    url = url.strip(" ")
    if any(ord(c) < 33 or ord(c) == 127 for c in url) or "\\" in url:
        raise BlockedURL("URL contains whitespace, control characters or backslashes")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise BlockedURL(f"malformed URL: {exc}") from exc
    if parts.scheme.lower() not in ("http", "https"):
        raise BlockedURL(f"only http and https URLs can be imported, not {parts.scheme or 'no scheme'!r}")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise BlockedURL("URLs with embedded credentials (user@host) are not allowed")
    host = parts.hostname
    if not host:
        raise BlockedURL("URL has no host")
    port = port or (443 if parts.scheme.lower() == "https" else 80)
    try:
        infos = resolver(host, port, 0, socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise BlockedURL(f"cannot resolve host {host!r}: {exc}") from exc
    addresses = sorted({str(info[4][0]) for info in infos})
    if not addresses:
        raise BlockedURL(f"host {host!r} resolved to no addresses")
    return [check_ip(a, allow_private=allow_private) for a in addresses]
