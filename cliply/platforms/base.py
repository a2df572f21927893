"""What every platform client shares: configuration (one base URL per platform), an httpx client with timeouts,
classified errors, rate-limit headers, polling, and the interface the publisher uses."""

from __future__ import annotations

import abc
import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar

import httpx

from cliply.platforms import oauth
from cliply.platforms.errors import ErrorClass, PlatformError
from cliply.platforms.models import Credentials, PostMetrics, PostRef, PublishResult, TokenSet, VideoPost, Violation
from cliply.settings import PlatformSettings, Settings

Progress = Callable[[float], None]


def _setting_default(name: str) -> float:
    return float(PlatformSettings.model_fields[name].default)


@dataclass(frozen=True)
class PlatformConfig:
    """One platform's settings. `base_url` empty = the real API hosts; set it (CLIPLY_<PLATFORM>_BASE_URL) to send
    every host of that platform (API, upload, OAuth) to one origin: the sandbox's /<platform> mount or a test server."""

    platform: str
    base_url: str = ""
    client_id: str = ""
    client_secret: str = ""
    # Timing defaults are the settings' own (CLIPLY_<PLATFORM>_TIMEOUT_S, _UPLOAD_TIMEOUT_S, …): one source.
    timeout_s: float = _setting_default("timeout_s")
    upload_timeout_s: float = _setting_default("upload_timeout_s")
    poll_interval_s: float = _setting_default("poll_interval_s")
    poll_timeout_s: float = _setting_default("poll_timeout_s")
    chunk_size: int = 0  # 0 = the client's default for that platform
    options: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, platform: str, settings: Settings) -> PlatformConfig:
        ps = settings.platform(platform)
        return cls(
            platform=platform,
            base_url=ps.base_url,
            client_id=ps.client_id,
            client_secret=ps.client_secret.get_secret_value(),
            timeout_s=ps.timeout_s,
            upload_timeout_s=ps.upload_timeout_s,
            poll_interval_s=ps.poll_interval_s,
            poll_timeout_s=ps.poll_timeout_s,
        )

    @classmethod
    def from_env(cls, platform: str, environ: Mapping[str, str] | None = None) -> PlatformConfig:
        return cls.from_settings(platform, Settings.from_env(environ))

    def host(self, real: str) -> str:
        """The origin for one of the platform's real hosts (e.g. "https://open.tiktokapis.com")."""
        return self.base_url or real.rstrip("/")

    def with_base(self, base_url: str) -> PlatformConfig:
        return replace(self, base_url=base_url.rstrip("/"))


@dataclass(frozen=True)
class RateLimit:
    limit: int | None
    remaining: int | None
    reset_at: datetime | None


def _int(value: str | None) -> int | None:
    try:
        return int(float(value)) if value not in (None, "") else None
    except ValueError:
        return None


def read_rate_limit(headers: Mapping[str, str], now: datetime | None = None) -> RateLimit | None:
    """X-Rate-Limit-* (X), X-RateLimit-* (Pinterest, others), IETF RateLimit-* (Bluesky), and Retry-After."""
    now = now or datetime.now(UTC)
    h = {k.lower(): v for k, v in headers.items()}
    limit = remaining = None
    reset_at: datetime | None = None
    for pre in ("x-rate-limit-", "x-ratelimit-", "ratelimit-"):
        if pre + "remaining" in h or pre + "limit" in h:
            limit, remaining = _int(h.get(pre + "limit")), _int(h.get(pre + "remaining"))
            reset = _int(h.get(pre + "reset"))
            if reset is not None:
                # Epoch seconds (X, Bluesky) or seconds-until-reset (IETF draft): tell them apart by size.
                reset_at = datetime.fromtimestamp(reset, UTC) if reset > 10**9 else now + timedelta(seconds=reset)
            break
    retry_after = h.get("retry-after")
    if retry_after:
        seconds = _int(retry_after)
        if seconds is not None:
            reset_at = now + timedelta(seconds=seconds)
        else:
            with contextlib.suppress(TypeError, ValueError):
                reset_at = parsedate_to_datetime(retry_after)
    if limit is None and remaining is None and reset_at is None:
        return None
    return RateLimit(limit, remaining, reset_at)


class PlatformClient(abc.ABC):
    """One platform's real protocol. Subclasses implement the abstract methods and `classify`."""

    platform: ClassVar[str]
    required_scopes: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: PlatformConfig | None = None, *, http: httpx.Client | None = None) -> None:
        self.config = config or PlatformConfig.from_env(self.platform)
        self.http = http or httpx.Client(
            timeout=httpx.Timeout(self.config.timeout_s), follow_redirects=False, headers={"User-Agent": "cliply/0.1"}
        )
        self.last_rate_limit: RateLimit | None = None

    # ---- validation -------------------------------------------------------------------------------------
    @abc.abstractmethod
    def validate(self, post: VideoPost) -> list[Violation]:
        """Every text/content limit this platform enforces, counted the platform's way. Empty = OK."""

    def ensure_valid(self, post: VideoPost) -> None:
        problems = self.validate(post)
        if problems:
            raise PlatformError(
                self.platform, ErrorClass.CONTENT_REJECTED, "; ".join(map(str, problems)), code="validation"
            )

    # ---- OAuth --------------------------------------------------------------------------------------------
    @abc.abstractmethod
    def oauth_app(self) -> oauth.OAuthApp:
        """This platform's OAuth client description (endpoints follow config.base_url)."""

    def authorization_url(
        self, *, redirect_uri: str, state: str | None = None, code_verifier: str | None = None
    ) -> oauth.PendingAuthorization:
        return oauth.authorization_url(
            self.oauth_app(), redirect_uri=redirect_uri, state=state, code_verifier=code_verifier
        )

    def parse_tokens(self, data: Mapping[str, Any]) -> TokenSet:
        return oauth.parse_token_response(data)

    def exchange_code(self, *, code: str, redirect_uri: str, code_verifier: str | None = None) -> Credentials:
        tokens = oauth.exchange_code(
            self.oauth_app(),
            self.http,
            code=code,
            redirect_uri=redirect_uri,
            code_verifier=code_verifier,
            parser=self.parse_tokens,
        )
        return self.credentials_from(tokens)

    def refresh(self, creds: Credentials) -> Credentials:
        if not creds.refresh_token:
            raise PlatformError(self.platform, ErrorClass.AUTH_RECONNECT, "no refresh token: reconnect the account")
        tokens = oauth.refresh(self.oauth_app(), self.http, creds.refresh_token, parser=self.parse_tokens)
        fresh = self.credentials_from(tokens)
        return replace(
            fresh,
            account_id=fresh.account_id or creds.account_id,
            extra={**creds.extra, **fresh.extra},
            scopes=fresh.scopes or creds.scopes,
        )

    def credentials_from(self, tokens: TokenSet) -> Credentials:
        expires = datetime.now(UTC) + timedelta(seconds=tokens.expires_in) if tokens.expires_in else None
        return Credentials(
            access_token=tokens.access_token,
            refresh_token=tokens.refresh_token,
            expires_at=expires,
            scopes=tokens.scope,
            extra=dict(tokens.raw),
        )

    def missing_scopes(self, creds: Credentials) -> list[str]:
        return oauth.missing_scopes(creds.scopes, self.required_scopes)

    # ---- publishing and analytics ---------------------------------------------------------------------------
    @abc.abstractmethod
    def publish(self, creds: Credentials, post: VideoPost, *, progress: Progress | None = None) -> PublishResult:
        """Upload and publish one video. Raises PlatformError (UNKNOWN_OUTCOME when a create may have happened)."""

    @abc.abstractmethod
    def find_existing(self, creds: Credentials, post: VideoPost) -> PublishResult | None:
        """ "Did it already post?": look the post up after a lost response (by handle, marker or text + time)."""

    @abc.abstractmethod
    def fetch_metrics(self, creds: Credentials, post_ids: Sequence[str]) -> dict[str, PostMetrics]:
        """Per-post analytics for this account's posts, batched the way the platform allows."""

    @staticmethod
    @abc.abstractmethod
    def parse_post_url(url: str) -> PostRef | None:
        """A public post URL → PostRef, or None when it is not this platform's post URL."""

    # ---- HTTP plumbing ----------------------------------------------------------------------------------------
    @abc.abstractmethod
    def classify(self, response: httpx.Response) -> PlatformError:
        """Turn an error response into a PlatformError from status and platform error codes (never message text)."""

    def request(
        self,
        method: str,
        url: str,
        *,
        creates: bool = False,
        ok: Sequence[int] = (),
        timeout: float | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send one request; error responses raise classified PlatformErrors. A timeout or dropped connection on a
        request that `creates` something is UNKNOWN_OUTCOME (it may have happened), else TRANSIENT."""
        if timeout is not None:
            kwargs["timeout"] = timeout
        where = f"{method} {_path(url)}"
        try:
            resp = self.http.request(method, url, **kwargs)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            # Nothing reached the server: safe to retry even for creates.
            raise PlatformError(self.platform, ErrorClass.TRANSIENT, f"{where}: {type(exc).__name__}") from exc
        except (httpx.TimeoutException, httpx.RemoteProtocolError, httpx.ReadError) as exc:
            cls = ErrorClass.UNKNOWN_OUTCOME if creates else ErrorClass.TRANSIENT
            raise PlatformError(self.platform, cls, f"{where}: no response ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise PlatformError(self.platform, ErrorClass.TRANSIENT, f"{where}: {type(exc).__name__}") from exc
        self.last_rate_limit = read_rate_limit(resp.headers) or self.last_rate_limit
        if resp.status_code >= 400 and resp.status_code not in ok:
            raise self.classify(resp)
        return resp

    def poll(
        self,
        check: Callable[[], Any | None],
        *,
        what: str,
        interval_s: float | None = None,
        timeout_s: float | None = None,
    ) -> Any:
        """Call `check` until it returns something other than None (bounded by poll_timeout_s)."""
        interval = self.config.poll_interval_s if interval_s is None else interval_s
        deadline = time.monotonic() + (self.config.poll_timeout_s if timeout_s is None else timeout_s)
        while True:
            result = check()
            if result is not None:
                return result
            if time.monotonic() >= deadline:
                raise PlatformError(
                    self.platform,
                    ErrorClass.TRANSIENT,
                    f"{what} still processing after timeout",
                    code="processing_timeout",
                )
            time.sleep(interval)

    def close(self) -> None:
        self.http.close()


def _path(url: str) -> str:
    return httpx.URL(url).path  # never echo query strings: they can carry tokens


def json_or_empty(resp: httpx.Response) -> dict[str, Any]:
    try:
        data = resp.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {"data": data}


# ---- reconciliation by caption ------------------------------------------------------------------------------
RECONCILE_SKEW = timedelta(minutes=5)  # our clock vs the platform's when comparing against post.created_after


def reconcile_since(post: VideoPost) -> datetime | None:
    """The earliest creation time a post of this target can have (created_after less the skew), or None."""
    return _aware(post.created_after) - RECONCILE_SKEW if post.created_after else None


def created_in_window(when: datetime | None, post: VideoPost) -> bool:
    """False only when a candidate provably predates this target's first attempt: an identical caption posted
    earlier (a re-post, another target) is not ours. An unknown time (or no created_after) never excludes."""
    since = reconcile_since(post)
    return when is None or since is None or _aware(when) >= since


def caption_candidate(post: VideoPost, post_id: object, when: datetime | None) -> bool:
    """May a post whose caption matched be this target's? Not if another target of the account owns its id, nor
    if it was created before the target's first attempt."""
    return str(post_id) not in post.exclude_post_ids and created_in_window(when, post)


def parse_timestamp(value: Any, *, epoch_unit_s: float = 1.0) -> datetime | None:
    """A platform timestamp as an aware UTC datetime: epoch numbers (× epoch_unit_s, e.g. 0.001 for ms) or ISO
    8601 strings ("Z", "+0000" or none, which the APIs mean as UTC). None when missing or unparsable."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        if isinstance(value, int | float) or (isinstance(value, str) and value.strip().lstrip("-").isdigit()):
            return datetime.fromtimestamp(float(value) * epoch_unit_s, UTC)
        return _aware(datetime.fromisoformat(str(value).strip().replace("Z", "+00:00")))
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def retry_at_from(resp: httpx.Response, default_s: float | None = None) -> datetime | None:
    rl = read_rate_limit(resp.headers)
    if rl and rl.reset_at:
        return rl.reset_at
    return datetime.now(UTC) + timedelta(seconds=default_s) if default_s is not None else None
