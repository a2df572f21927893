"""A pasted post URL → (platform, post id) → the workspace account that can read it.

The platform clients' own parsers decide what a post URL is (so lookalike hosts such as youtube.com.evil.example
or punycode twins are refused there), and short links are followed to the post they name.

Short links (vm.tiktok.com, tiktok.com/t/, pin.it, fb.watch) are followed hop by hop, at most MAX_HOPS, through the
guarded egress (cliply.security.egress): every connection is checked against private addresses, whatever a hop
redirects to. Following stops at the first Location the platform's parser accepts as a post URL, so the post page
itself is never fetched. A Bluesky handle is resolved to its DID by the platform client; a LinkedIn activity URN is
kept as it is (LinkedIn's post APIs accept it).

A post is readable by an account when that account's metrics call returns it (deleted posts included: the platform
then says so). Instagram and Threads URLs carry a shortcode, not the Graph id: it is looked up among the account's
own media."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

import httpx

from cliply.platforms import PLATFORMS, client_class
from cliply.platforms.base import PlatformClient
from cliply.platforms.errors import ErrorClass, PlatformError
from cliply.platforms.models import Credentials, PostRef
from cliply.security.egress import Dial, GuardedEgress, dial_checked
from cliply.security.ssrf import BlockedURL, Resolver, check_url
from cliply.security.vault import VaultError
from cliply.store.accounts import AccountDisconnected, AccountsRepo
from cliply.usecases import ServiceError, WorkspaceRef, workspace_scope

if TYPE_CHECKING:
    from cliply.wiring import Cliply

MAX_URL_CHARS = 2048
MAX_HOPS = 5
TIMEOUT_S = 10.0
REDIRECTS = frozenset({301, 302, 303, 307, 308})
_POST = "app.bsky.feed.post"


@dataclass
class Network:
    """How hops reach the network: the real resolver and dialer (tests let a loopback server play a public host)."""

    resolver: Resolver = socket.getaddrinfo
    dial: Dial = dial_checked


NETWORK = Network()


def unsupported(url: str) -> ServiceError:
    return ServiceError(
        f"not a post URL Cliply can track: {url[:200]!r} (supported: {', '.join(PLATFORMS)} post URLs)", status=400
    )


def parse(url: str) -> PostRef:
    """The platform and post id of `url`; ServiceError (400) when no platform's parser accepts it."""
    text = (url or "").strip()
    if not text or len(text) > MAX_URL_CHARS or any(c.isspace() for c in text):
        raise unsupported(text)
    for platform in PLATFORMS:
        ref = client_class(platform).parse_post_url(text)
        if ref is not None:
            return ref
    raise unsupported(text)


def resolve(app: Cliply, ref: PostRef, url: str) -> PostRef:
    """A final PostRef for a short link / handle URL (ref.needs_resolution), else `ref` itself."""
    if not ref.needs_resolution:
        return ref
    if ref.platform == "bluesky":
        return _bluesky(app, ref)
    if ref.platform == "linkedin":
        return PostRef("linkedin", ref.post_id, id_kind=ref.id_kind)
    final = follow(url, ref.platform, allow_private=app.settings.allow_private_urls)
    return final


def _bluesky(app: Cliply, ref: PostRef) -> PostRef:
    client = app.clients("bluesky")
    try:
        did = client.resolve_handle(ref.handle)  # type: ignore[attr-defined]
    finally:
        client.close()
    if not did:
        raise ServiceError(f"unknown Bluesky handle {ref.handle!r}", status=400)
    rkey = ref.post_id.rsplit("/", 1)[-1]
    return PostRef("bluesky", f"at://{did}/{_POST}/{rkey}", id_kind="at_uri", handle=ref.handle)


def follow(url: str, platform: str, *, allow_private: bool, max_hops: int = MAX_HOPS) -> PostRef:
    """Follow `url`'s redirects until one names a `platform` post; every hop goes through the guarded egress."""
    net = NETWORK
    parser = client_class(platform).parse_post_url
    with (
        GuardedEgress(allow_private=allow_private, resolver=net.resolver, dial=net.dial, timeout_s=TIMEOUT_S) as egress,
        httpx.Client(
            proxy=egress.url, timeout=TIMEOUT_S, trust_env=False, headers={"User-Agent": "cliply/0.1"}
        ) as http,
    ):
        current = url.strip()
        for _ in range(max_hops):
            location = _hop(http, egress, current, allow_private, net.resolver)
            if location is None:
                break
            current = urljoin(current, location)
            ref = parser(current)
            if ref is not None and not ref.needs_resolution:
                return ref
        else:
            raise ServiceError(f"the short link {url!r} redirects more than {max_hops} times", status=400)
    raise ServiceError(
        f"the short link {url!r} does not lead to a {platform} post (it ends at {current!r})", status=400
    )


def _hop(http: httpx.Client, egress: GuardedEgress, url: str, allow_private: bool, resolver: Resolver) -> str | None:
    """One request; the redirect's Location, or None when the answer is not a redirect."""
    try:
        check_url(url, allow_private=allow_private, resolver=resolver)  # earlier, friendlier than the egress's 403
        with http.stream("GET", url) as resp:
            status, location = resp.status_code, resp.headers.get("location")
    except BlockedURL as exc:
        raise ServiceError(f"the short link was refused: {exc}", status=400) from None
    except (httpx.HTTPError, OSError) as exc:
        _refused(egress)
        raise ServiceError(
            f"could not follow the short link {url!r}: {type(exc).__name__}", status=502, exit_code=1
        ) from None
    _refused(egress)
    return location if status in REDIRECTS and location else None


def _refused(egress: GuardedEgress) -> None:
    try:
        egress.raise_if_refused()
    except BlockedURL as exc:
        raise ServiceError(f"the short link was refused: {exc}", status=400) from None


# --- who can read the post ---


@dataclass(frozen=True)
class Reader:
    """The account (None: the YouTube API key) that can read the post, and the post id its API knows."""

    account_id: int | None
    handle: str
    post_id: str
    published_at: datetime | None = None


@dataclass
class _Candidate:
    account_id: int
    handle: str
    external_id: str
    creds: Credentials


NAMES = {
    "youtube": "YouTube",
    "tiktok": "TikTok",
    "instagram": "Instagram",
    "facebook": "Facebook",
    "threads": "Threads",
    "x": "X",
    "linkedin": "LinkedIn",
    "pinterest": "Pinterest",
    "bluesky": "Bluesky",
}
NOUNS = {"youtube": "video", "tiktok": "video", "facebook": "video", "pinterest": "pin"}
REFRESH_AHEAD = timedelta(minutes=5)
MEDIA_PAGES = 4  # Instagram/Threads shortcode lookup: the account's newest 4 × 100 media
UNUSABLE = ("disconnected", "reauth_required")
# Platforms that list a new post to its own account only after a while: "not readable" may just mean "too new".
LISTING_LAG = {"tiktok": " (TikTok lists a new video a few minutes after it is posted: try again shortly)"}


def connect_error(platform: str) -> ServiceError:
    name, noun = NAMES.get(platform, platform), NOUNS.get(platform, "post")
    return ServiceError(
        f"no connected {name} account of this workspace can read this {noun}: connect the {name} account that "
        f"posted this {noun}: `cliply accounts connect {platform}`" + LISTING_LAG.get(platform, ""),
        status=409,
        exit_code=1,
    )


def find_reader(app: Cliply, ref: WorkspaceRef, post: PostRef) -> Reader:
    """The first connected account of `post.platform` whose metrics call returns the post; else the YouTube API key
    for a YouTube video; else ServiceError naming what to connect. Platform failures other than "cannot read"
    (timeouts, rate limits) are reported as such rather than as a missing account."""
    failures: list[PlatformError] = []
    for candidate in _candidates(app, ref, post):
        try:
            reader = _try(app, ref, post, candidate)
        except PlatformError as exc:
            failures.append(exc)
            continue
        if reader is not None:
            return reader
    if post.platform == "youtube" and app.settings.youtube_api_key.get_secret_value():
        keyed = _with_api_key(app, post)
        if keyed is not None:
            return keyed
    transient = [f for f in failures if f.error_class in (ErrorClass.TRANSIENT, ErrorClass.RATE_LIMITED)]
    if transient:
        name = NAMES.get(post.platform, post.platform)
        raise ServiceError(f"{name} did not answer ({transient[0].message}); try again", status=502, exit_code=1)
    raise connect_error(post.platform)


def _with_api_key(app: Cliply, post: PostRef) -> Reader | None:
    """A public YouTube video read with the API key (no channel needed); None when the key cannot see it."""
    client = app.clients("youtube")
    try:
        fetch = getattr(client, "fetch_metrics_with_key", None)
        if fetch is None:  # a client without key reads: the refresher will say so on the first fetch
            return Reader(None, "YouTube API key", post.post_id)
        got = fetch(app.settings.youtube_api_key.get_secret_value(), [post.post_id])
    except PlatformError:
        return None
    finally:
        client.close()
    return Reader(None, "YouTube API key", post.post_id) if post.post_id in got else None


def _candidates(app: Cliply, ref: WorkspaceRef, post: PostRef) -> list[_Candidate]:
    """The workspace's usable accounts of the platform, the one whose handle or id the URL names first."""
    out = []
    with workspace_scope(app, ref, write=False) as scope:
        repo = AccountsRepo(scope, app.vault)
        for account in repo.list(post.platform):
            if account.status in UNUSABLE:
                continue
            try:
                creds = repo.credentials(account)
            except (AccountDisconnected, VaultError):
                continue
            out.append(_Candidate(account.id, account.handle, account.external_id, creds))
    named = {post.handle.lower().lstrip("@"), *_did_of(post)} - {""}
    return sorted(out, key=lambda c: not ({c.handle.lower().lstrip("@"), c.external_id.lower()} & named))


def _did_of(post: PostRef) -> set[str]:
    return {post.post_id.split("/")[2].lower()} if post.post_id.startswith("at://did:") else set()


def _try(app: Cliply, ref: WorkspaceRef, post: PostRef, cand: _Candidate) -> Reader | None:
    client = app.clients(post.platform)
    try:
        creds = _fresh(app, ref, client, cand, force=False)
        try:
            return _read(client, creds, post, cand)
        except PlatformError as exc:
            if exc.error_class is not ErrorClass.AUTH_REFRESHABLE or not creds.refresh_token:
                raise
            return _read(client, _fresh(app, ref, client, cand, force=True), post, cand)
    finally:
        client.close()


def _read(client: PlatformClient, creds: Credentials, post: PostRef, cand: _Candidate) -> Reader | None:
    post_id = _media_id(client, creds, post.post_id) if post.id_kind == "shortcode" else post.post_id
    if post_id is None:
        return None
    got = client.fetch_metrics(creds, [post_id])
    if post_id not in got:
        return None
    return Reader(cand.account_id, cand.handle, post_id, _published_at(got[post_id].raw))


def _fresh(app: Cliply, ref: WorkspaceRef, client: PlatformClient, cand: _Candidate, *, force: bool) -> Credentials:
    """The candidate's credentials, refreshed (and stored) when they expire within minutes or were refused."""
    creds = cand.creds
    expiring = creds.expires_at is not None and creds.expires_at - REFRESH_AHEAD <= datetime.now(UTC)
    if not (force or expiring) or not creds.refresh_token:
        return creds
    fresh = client.refresh(creds)
    with workspace_scope(app, ref) as scope:
        AccountsRepo(scope, app.vault).store_refreshed(cand.account_id, fresh)
    cand.creds = fresh
    return fresh


def _media_id(client: PlatformClient, creds: Credentials, shortcode: str) -> str | None:
    """Instagram/Threads: the Graph id of the account's media with this shortcode (None: not this account's)."""
    edge = getattr(client, "media_edge", "media")
    params: dict[str, str] = {"fields": "id,shortcode", "limit": "100"}
    for _ in range(MEDIA_PAGES):
        page = client.call("GET", f"{creds.account_id}/{edge}", creds.access_token, params=params)  # type: ignore[attr-defined]
        for item in page.get("data") or []:
            if item.get("shortcode") == shortcode:
                return str(item["id"])
        after = ((page.get("paging") or {}).get("cursors") or {}).get("after")
        if not after or not (page.get("paging") or {}).get("next"):
            return None
        params = {**params, "after": str(after)}
    return None


_TIME_FIELDS = ("create_time", "publishedAt", "created_time", "created_at", "timestamp", "indexedAt")


def _published_at(raw: dict[str, Any]) -> datetime | None:
    """When the platform says the post went out, if its metrics answer says so (epoch seconds or ISO 8601)."""
    for key in _TIME_FIELDS:
        value = raw.get(key)
        try:
            if isinstance(value, int | float) and not isinstance(value, bool):
                return datetime.fromtimestamp(value, UTC)
            if isinstance(value, str) and value:
                parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
                return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        except (ValueError, OverflowError, OSError):
            continue
    return None
