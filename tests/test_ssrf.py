"""SSRF guard: schemes, credentials, and every class of non-public address, via fake and real resolution."""

from __future__ import annotations

import socket

import pytest

from cliply.security.ssrf import BlockedURL, check_ip, check_url


def fake_resolver(*addresses: str):
    """A getaddrinfo stand-in returning the given addresses for any host (no DNS traffic)."""

    def resolve(host, port, family=0, type=0, proto=0, flags=0):
        out = []
        for a in addresses:
            fam = socket.AF_INET6 if ":" in a else socket.AF_INET
            sockaddr = (a, port, 0, 0) if fam == socket.AF_INET6 else (a, port)
            out.append((fam, socket.SOCK_STREAM, 6, "", sockaddr))
        return out

    return resolve


BLOCKED = {
    "loopback v4": "127.0.0.1",
    "loopback v4 other": "127.10.20.30",
    "loopback v6": "::1",
    "private 10/8": "10.1.2.3",
    "private 172.16/12": "172.31.255.1",
    "private 192.168/16": "192.168.1.10",
    "link-local": "169.254.10.10",
    "cloud metadata": "169.254.169.254",
    "multicast v4": "224.0.0.251",
    "multicast v6": "ff02::1",
    "reserved 240/4": "240.0.0.1",
    "broadcast": "255.255.255.255",
    "unspecified v4": "0.0.0.0",
    "this-network 0/8": "0.1.2.3",
    "unspecified v6": "::",
    "CGNAT 100.64/10": "100.64.0.1",
    "CGNAT top": "100.127.255.254",
    "IPv6 ULA": "fd12:3456:789a::1",
    "IPv6 link-local": "fe80::1",
    "IPv4-mapped loopback": "::ffff:127.0.0.1",
    "IPv4-mapped private": "::ffff:10.0.0.1",
    "IPv4-mapped metadata": "::ffff:169.254.169.254",
    "NAT64 of loopback": "64:ff9b::7f00:1",
    "6to4": "2002:7f00:1::1",
    "documentation": "192.0.2.1",
    "benchmarking": "198.18.0.1",
}
PUBLIC = ["93.184.216.34", "8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"]


@pytest.mark.parametrize("address", BLOCKED.values(), ids=BLOCKED.keys())
def test_blocked_address_classes(address: str) -> None:
    with pytest.raises(BlockedURL):
        check_url("https://media.example.com/v.mp4", resolver=fake_resolver(address))
    # The same address is fine when private targets are explicitly allowed (tests, trusted setups).
    assert check_url("https://media.example.com/v.mp4", allow_private=True, resolver=fake_resolver(address))


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address: str) -> None:
    assert check_url("https://media.example.com/v.mp4", resolver=fake_resolver(address)) == [check_ip(address)]


def test_every_resolved_address_must_pass() -> None:
    # One public and one private answer: a client could connect to either, so the URL is refused.
    with pytest.raises(BlockedURL, match=r"10\.0\.0\.5"):
        check_url("http://mixed.example.com/", resolver=fake_resolver("93.184.216.34", "10.0.0.5"))
    assert check_url("http://ok.example.com/", resolver=fake_resolver("8.8.8.8", "1.1.1.1")) == ["1.1.1.1", "8.8.8.8"]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://localhost:8080/x",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://2130706433/",  # decimal 127.0.0.1
        "http://0177.0.0.1/",  # octal
        "http://0x7f.0.0.1/",  # hex
        "http://0x7f000001/",
        "http://127.1/",  # short form
        "http://0/",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/",
        "http://[fe80::1]/",
    ],
)
def test_real_literals_blocked(url: str) -> None:
    # The real resolver normalises odd IPv4 spellings (inet_aton), so they are judged as the address they are.
    with pytest.raises(BlockedURL):
        check_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/v.mp4",
        "file:///etc/passwd",
        "gopher://example.com/",
        "javascript:alert(1)",
        "//example.com/v.mp4",
        "example.com/v.mp4",
        "http:///path-only",
        "https://user:pass@example.com/v.mp4",
        "https://user@example.com/v.mp4",
        "http://example.com@127.0.0.1/",
        "http://127.0.0.1\\@example.com/",
        "http://exa mple.com/",
        "http://example.com/\n",
        "http://example.com:99999/",
        "",
    ],
)
def test_malformed_or_unsupported_urls(url: str) -> None:
    with pytest.raises(BlockedURL):
        check_url(url, resolver=fake_resolver("93.184.216.34"))


def test_resolution_failure_is_blocked() -> None:
    def failing(*_args, **_kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with pytest.raises(BlockedURL, match="cannot resolve"):
        check_url("https://no-such-host.invalid/", resolver=failing)
    with pytest.raises(BlockedURL, match="no addresses"):
        check_url("https://empty.example/", resolver=lambda *a, **k: [])


def test_resolver_gets_host_and_default_port() -> None:
    seen = []

    def spy(host, port, *rest):
        seen.append((host, port))
        return fake_resolver("8.8.8.8")(host, port)

    check_url("https://Media.Example.COM/a", resolver=spy)
    check_url("http://media.example.com:8080/a", resolver=spy)
    check_url("http://media.example.com/a", resolver=spy)
    assert seen == [("media.example.com", 443), ("media.example.com", 8080), ("media.example.com", 80)]


def test_blocked_url_is_value_error() -> None:
    assert issubclass(BlockedURL, ValueError)
