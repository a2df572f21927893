"""The sandbox's shared state: a controllable clock, accounts and OAuth grants, per-account limit windows,
scripted faults, a log of every request, and every accepted post (so tests can assert "exactly once")."""

from __future__ import annotations

import secrets
import threading
import time
from collections import defaultdict, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from authlib.oauth2.rfc7636 import create_s256_code_challenge

from cliply.sandbox import growth


class Clock:
    """Wall time plus an offset tests can advance ("advance 24 h" without waiting)."""

    def __init__(self) -> None:
        self.offset_s = 0.0

    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.offset_s)

    def timestamp(self) -> float:
        return time.time() + self.offset_s

    def advance(self, seconds: float) -> None:
        self.offset_s += seconds


FAULT_KINDS = frozenset(
    {
        "error",
        "rate_limit",
        "quota",
        "slow",
        "timeout",
        "lost_response",
        "processing_failed",
        "expired_token",
        "media_fetch_failed",
        "content_rejected",
        "format_rejected",
        "duplicate",
    }
)


@dataclass
class Fault:
    """One scripted fault: `kind` on `platform`'s `operation` ("*" = any), `times` times (-1 = forever)."""

    platform: str
    kind: str
    operation: str = "*"
    times: int = 1
    status: int = 500
    delay_s: float = 0.0
    retry_after_s: float = 60.0

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; choose from {sorted(FAULT_KINDS)}")


@dataclass
class Account:
    platform: str
    account_id: str
    handle: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Grant:
    platform: str
    account_id: str
    scopes: tuple[str, ...]
    access_token: str
    expires_at: datetime
    refresh_token: str | None
    refresh_expires_at: datetime | None
    family: str
    client_id: str = ""


@dataclass
class AuthCode:
    platform: str
    account_id: str
    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    challenge: str | None
    method: str | None
    expires_at: datetime


@dataclass(frozen=True)
class RecordedPost:
    platform: str
    account_id: str
    post_id: str
    created_at: datetime
    payload: dict[str, Any]


@dataclass(frozen=True)
class RecordedRequest:
    platform: str
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body_size: int
    body_sha256: str
    status: int


def _texts(value: Any, depth: int = 0) -> Iterator[str]:
    """Every string in a post payload (nested dicts/lists, a few levels deep)."""
    if isinstance(value, str):
        yield value
    elif depth < 4 and isinstance(value, dict):
        for item in value.values():
            yield from _texts(item, depth + 1)
    elif depth < 4 and isinstance(value, list | tuple):
        for item in value:
            yield from _texts(item, depth + 1)


class OAuthFailure(Exception):
    def __init__(self, error: str, description: str = "") -> None:
        super().__init__(error)
        self.error = error
        self.description = description


class SandboxState:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.clock = Clock()
        self.in_flight = 0  # requests being served (a held "lost response" finishes after the client gave up)
        self.reset()

    def wait_idle(self, timeout_s: float = 30.0) -> bool:
        """Block until no request is being served, so one test's late requests never land in the next test's log."""
        deadline = time.monotonic() + timeout_s
        while self.in_flight and time.monotonic() < deadline:
            time.sleep(0.02)
        return not self.in_flight

    def reset(self) -> None:
        with self.lock:
            self.faults: list[Fault] = []
            self.accounts: dict[tuple[str, str], Account] = {}
            self.grants: dict[str, Grant] = {}  # access token -> grant
            self.refresh_index: dict[str, Grant] = {}  # live refresh token -> grant
            self.spent_refresh: dict[str, str] = {}  # rotated-away refresh token -> family (reuse detection)
            self.revoked_families: set[str] = set()
            self.codes: dict[str, AuthCode] = {}
            self.windows: dict[tuple[str, str, str], deque[float]] = defaultdict(deque)
            self.posts: list[RecordedPost] = []
            self.deleted: set[tuple[str, str]] = set()  # (platform, post_id) deleted on the platform
            self.requests: list[RecordedRequest] = []
            self.objects: dict[str, dict[str, Any]] = {}  # per-platform async objects (uploads, containers, jobs)
            self.api_keys: set[str] = set()  # API keys the sandbox accepts for keyed public reads
            # Experiment knobs: a text substring → reach multiplier of the posts whose text holds it, and an
            # override of the lognormal reach spread (growth.SIGMA). Empty/None: the usual numbers.
            self.lifts: dict[str, float] = {}
            self.post_spread: float | None = None
            self.clock.offset_s = 0.0

    # ---- faults ---------------------------------------------------------------------------------------
    def add_fault(self, fault: Fault) -> None:
        with self.lock:
            self.faults.append(fault)

    def take_fault(self, platform: str, operation: str, kinds: frozenset[str] | None = None) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.platform != platform or fault.operation not in ("*", operation):
                    continue
                if kinds is not None and fault.kind not in kinds:
                    continue
                if fault.times == 0:
                    continue
                if fault.times > 0:
                    fault.times -= 1
                return fault
        return None

    # ---- accounts and OAuth -----------------------------------------------------------------------------
    def add_account(self, platform: str, account_id: str, handle: str = "", **extra: Any) -> Account:
        with self.lock:
            acct = Account(platform, account_id, handle or account_id, dict(extra))
            self.accounts[(platform, account_id)] = acct
            return acct

    def add_api_key(self, key: str) -> str:
        """Register an API key (YouTube Data API style): public reads that carry `key=` and no token."""
        if not key:
            raise ValueError("an API key must not be empty")
        with self.lock:
            self.api_keys.add(key)
        return key

    def has_api_key(self, key: str) -> bool:
        with self.lock:
            return key in self.api_keys

    def account(self, platform: str, account_id: str | None = None) -> Account:
        with self.lock:
            if account_id is None:
                mine = [a for (p, _), a in self.accounts.items() if p == platform]
                if mine:
                    return mine[0]
                return self.add_account(platform, f"{platform}-user-1")
            acct = self.accounts.get((platform, account_id))
            return acct or self.add_account(platform, account_id)

    def issue_grant(
        self,
        platform: str,
        account_id: str,
        scopes: tuple[str, ...],
        *,
        access_ttl_s: float,
        refresh_ttl_s: float | None,
        client_id: str = "",
        family: str | None = None,
    ) -> Grant:
        now = self.clock.now()
        grant = Grant(
            platform=platform,
            account_id=account_id,
            scopes=scopes,
            access_token=f"{platform[:2]}at_{secrets.token_urlsafe(24)}",
            expires_at=now + timedelta(seconds=access_ttl_s),
            refresh_token=f"{platform[:2]}rt_{secrets.token_urlsafe(24)}" if refresh_ttl_s else None,
            refresh_expires_at=now + timedelta(seconds=refresh_ttl_s) if refresh_ttl_s else None,
            family=family or secrets.token_hex(8),
            client_id=client_id,
        )
        with self.lock:
            self.grants[grant.access_token] = grant
            if grant.refresh_token:
                self.refresh_index[grant.refresh_token] = grant
        return grant

    def authorize(
        self,
        platform: str,
        *,
        client_id: str,
        redirect_uri: str,
        scopes: tuple[str, ...],
        challenge: str | None,
        method: str | None,
        account_id: str | None = None,
    ) -> str:
        code = secrets.token_urlsafe(24)
        acct = self.account(platform, account_id)
        with self.lock:
            self.codes[code] = AuthCode(
                platform,
                acct.account_id,
                client_id,
                redirect_uri,
                scopes,
                challenge,
                method,
                self.clock.now() + timedelta(minutes=10),
            )
        return code

    def redeem_code(
        self, platform: str, code: str, *, client_id: str, redirect_uri: str, verifier: str | None, pkce_required: bool
    ) -> AuthCode:
        with self.lock:
            ac = self.codes.pop(code, None)
        if ac is None or ac.platform != platform or ac.expires_at < self.clock.now():
            raise OAuthFailure("invalid_grant", "authorization code is invalid, expired or already used")
        if ac.client_id != client_id:
            raise OAuthFailure("invalid_client", "client does not match the authorization code")
        if ac.redirect_uri != redirect_uri:
            raise OAuthFailure("invalid_grant", "redirect_uri does not match")
        if ac.challenge or pkce_required:
            if not verifier or not ac.challenge:
                raise OAuthFailure("invalid_grant", "PKCE code_verifier required")
            expected = create_s256_code_challenge(verifier) if (ac.method or "S256") == "S256" else verifier
            if expected != ac.challenge:
                raise OAuthFailure("invalid_grant", "code_verifier does not match code_challenge")
        return ac

    def refresh_grant(
        self, platform: str, refresh_token: str, *, access_ttl_s: float, refresh_ttl_s: float | None, rotate: bool
    ) -> Grant:
        with self.lock:
            if refresh_token in self.spent_refresh:
                # Replay of a rotated-away token: treat as theft, revoke the whole family (RFC 9700 §4.14).
                family = self.spent_refresh[refresh_token]
                self.revoked_families.add(family)
                for tok, g in list(self.refresh_index.items()):
                    if g.family == family:
                        del self.refresh_index[tok]
                raise OAuthFailure("invalid_grant", "refresh token was already used")
            old = self.refresh_index.get(refresh_token)
            if old is None or old.platform != platform or old.family in self.revoked_families:
                raise OAuthFailure("invalid_grant", "refresh token is invalid or revoked")
            if old.refresh_expires_at and old.refresh_expires_at < self.clock.now():
                raise OAuthFailure("invalid_grant", "refresh token expired")
            if rotate:
                del self.refresh_index[refresh_token]
                self.spent_refresh[refresh_token] = old.family
                return self.issue_grant(
                    platform,
                    old.account_id,
                    old.scopes,
                    access_ttl_s=access_ttl_s,
                    refresh_ttl_s=refresh_ttl_s,
                    client_id=old.client_id,
                    family=old.family,
                )
            grant = self.issue_grant(
                platform,
                old.account_id,
                old.scopes,
                access_ttl_s=access_ttl_s,
                refresh_ttl_s=None,
                client_id=old.client_id,
                family=old.family,
            )
            grant.refresh_token = refresh_token
            grant.refresh_expires_at = old.refresh_expires_at
            return grant

    def bearer(self, platform: str, token: str | None) -> Grant | None:
        """The live grant for an access token; None when unknown, expired, revoked or for another platform."""
        if not token:
            return None
        with self.lock:
            grant = self.grants.get(token)
        if grant is None or grant.platform != platform or grant.family in self.revoked_families:
            return None
        if grant.expires_at < self.clock.now():
            return None
        return grant

    def expire_tokens(self, platform: str) -> None:
        with self.lock:
            for g in self.grants.values():
                if g.platform == platform:
                    g.expires_at = self.clock.now() - timedelta(seconds=1)

    # ---- limits -----------------------------------------------------------------------------------------
    def hit_limit(self, platform: str, account_id: str, name: str, limit: int, window_s: float) -> float | None:
        """Count one use in a rolling window. None when allowed; else seconds until a slot frees (nothing counted)."""
        now = self.clock.timestamp()
        with self.lock:
            q = self.windows[(platform, account_id, name)]
            while q and q[0] <= now - window_s:
                q.popleft()
            if len(q) >= limit:
                return max(0.0, q[0] + window_s - now)
            q.append(now)
            return None

    def window_usage(self, platform: str, account_id: str, name: str, window_s: float) -> int:
        now = self.clock.timestamp()
        with self.lock:
            return sum(1 for t in self.windows[(platform, account_id, name)] if t > now - window_s)

    # ---- posts, objects, analytics -----------------------------------------------------------------------
    def record_post(self, platform: str, account_id: str, post_id: str, payload: dict[str, Any]) -> RecordedPost:
        post = RecordedPost(platform, account_id, post_id, self.clock.now(), payload)
        with self.lock:
            self.posts.append(post)
        return post

    def posts_for(
        self, platform: str | None = None, account_id: str | None = None, *, include_deleted: bool = False
    ) -> list[RecordedPost]:
        with self.lock:
            return [
                p
                for p in self.posts
                if (platform is None or p.platform == platform)
                and (account_id is None or p.account_id == account_id)
                and (include_deleted or (p.platform, p.post_id) not in self.deleted)
            ]

    def find_post(self, platform: str, post_id: str, *, include_deleted: bool = False) -> RecordedPost | None:
        """The live post with this id; a deleted one only with include_deleted (every platform answer skips it)."""
        with self.lock:
            if not include_deleted and (platform, post_id) in self.deleted:
                return None
            return next((p for p in self.posts if p.platform == platform and p.post_id == post_id), None)

    def new_id(self, prefix: str = "", digits: int = 0) -> str:
        if digits:
            return prefix + str(secrets.randbelow(9 * 10 ** (digits - 1)) + 10 ** (digits - 1))
        return prefix + secrets.token_hex(8)

    def age_s(self, post: RecordedPost) -> float:
        return (self.clock.now() - post.created_at).total_seconds()

    def metrics(self, post: RecordedPost) -> dict[str, int]:
        """The post's counters now: the single source every platform handler reads (see cliply.sandbox.growth).
        Deterministic in (platform, post id, age on the sandbox clock); `corrected` = 1 once a platform correction
        removed some views (the only time `views` goes down)."""
        return growth.counters(post.platform, post.post_id, self.age_s(post), **self.growth_knobs(post))

    def growth_knobs(self, post: RecordedPost) -> dict[str, Any]:
        """growth.counters' lift and spread for this post: the product of the lifts whose marker is in any text of
        its payload (each platform stores the caption under its own field), and the spread override."""
        knobs: dict[str, Any] = {}
        if self.lifts:
            texts = list(_texts(post.payload))
            lift = 1.0
            for marker, factor in self.lifts.items():
                if any(marker in t for t in texts):
                    lift *= factor
            knobs["lift"] = lift
        if self.post_spread is not None:
            knobs["sigma"] = self.post_spread
        return knobs

    def seed_post(
        self,
        platform: str,
        account_id: str,
        post_id: str | None = None,
        *,
        age: timedelta = timedelta(0),
        text: str = "",
        **options: Any,
    ) -> RecordedPost:
        """A post that exists on the platform without Cliply having published it (for tracking by URL): created
        `age` ago by `account_id`, with the objects the platform's endpoints read. The payload holds `public_url`,
        the URL a person would copy from the platform's web page. `options` are platform-specific (e.g. privacy)."""
        from cliply.sandbox import seeding  # the platform modules import this one

        return seeding.seed(self, platform, account_id, post_id, age=age, text=text, **options)

    def delete_post(self, platform: str, post_id: str) -> bool:
        """Delete a post on the platform: every endpoint then answers as the real API does for a deleted post.
        False when no such live post exists."""
        from cliply.sandbox import seeding

        with self.lock:
            if self.find_post(platform, post_id) is None:
                return False
            self.deleted.add((platform, post_id))
            seeding.forget(self, platform, post_id)
        return True

    def record_request(self, req: RecordedRequest) -> None:
        with self.lock:
            self.requests.append(req)

    def requests_for(self, platform: str) -> list[RecordedRequest]:
        with self.lock:
            return [r for r in self.requests if r.platform == platform]
