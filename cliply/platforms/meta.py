"""What Instagram, Facebook and Threads share: the Graph API version, the Graph error envelope and its
classification (code / error_subcode / is_transient, never message text), the usage headers (X-App-Usage,
X-Business-Use-Case-Usage), Meta's long-lived-token OAuth, and the container flow IG and Threads both use
(create from a public video_url → poll → *_publish → permalink, reconciled via container status + listing)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, ClassVar

import httpx

from cliply.platforms.base import (
    RECONCILE_SKEW,
    PlatformClient,
    Progress,
    caption_candidate,
    json_or_empty,
    parse_timestamp,
)
from cliply.platforms.errors import ErrorClass, PlatformError
from cliply.platforms.models import Credentials, PostMetrics, PublishResult, TokenSet, VideoPost

GRAPH_VERSION = "v23.0"  # facebook.com / instagram.com Graph; override with options["graph_version"]
THREADS_VERSION = "v1.0"
LONG_LIVED_S = 60 * 86400

# Graph error codes → class (https://developers.facebook.com/docs/graph-api/guides/error-handling, IG error codes).
RATE_CODES = frozenset({4, 17, 32, 341, 613}) | frozenset(range(80000, 80015))
RATE_SUBCODES = frozenset({1390008})
QUOTA_CODES = frozenset({9})  # IG 9/2207042 "publishing limit"; also used for FB/Threads caps in the sandbox
QUOTA_SUBCODES = frozenset({2207042})
RECONNECT_SUBCODES = frozenset({458, 459, 460, 464, 467})  # app removed, checkpoint, password changed, …
# Meta could not download video_url: 9004/2207052 "media could not be fetched from URI", -2/2207003 download timeout.
# TRANSIENT (code MEDIA_FETCH_CODE): a container that failed never publishes, so a new one is a safe retry.
MEDIA_FETCH = frozenset({2207052, 2207003, 9004})
MEDIA_FETCH_CODE = "media_fetch_failed"
CONTENT_SUBCODES = frozenset({2207026, 2207057, 2207089, 1609005})
CONTENT_CODES = frozenset({100, 352, 1609005})
TRANSIENT_SUBCODES = frozenset({2207001, 2207032, 2207053, 2207027, 2207020})  # retry / recreate the container
RESTRICTED_SUBCODES = frozenset({2207051})  # "action blocked as spam": a human must look at the account
NOT_ENOUGH_VIEWERS = 2108006  # insights (code 10) on a post too small to report


@dataclass(frozen=True)
class GraphError:
    code: int | None
    subcode: int | None
    is_transient: bool
    type: str
    fbtrace_id: str

    @classmethod
    def from_response(cls, resp: httpx.Response) -> GraphError:
        err = json_or_empty(resp).get("error")
        err = err if isinstance(err, dict) else {}
        return cls(
            _as_int(err.get("code")),
            _as_int(err.get("error_subcode")),
            bool(err.get("is_transient")),
            str(err.get("type", "")),
            str(err.get("fbtrace_id", "")),
        )


def _as_int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class Usage:
    """The highest percentage any Meta usage header reports, and Meta's wait estimate (seconds) if throttled."""

    max_pct: float
    regain_s: float | None


def read_usage(headers: Mapping[str, str]) -> Usage | None:
    """Parse X-App-Usage / X-Business-Use-Case-Usage (JSON; BUC is {id: [{type, call_count, …,
    estimated_time_to_regain_access (minutes)}]})."""
    h = {k.lower(): v for k, v in headers.items()}
    entries: list[dict[str, Any]] = []
    for name in ("x-app-usage", "x-business-use-case-usage"):
        try:
            data = json.loads(h[name]) if h.get(name) else None
        except ValueError:
            continue
        if isinstance(data, dict) and "call_count" in data:
            entries.append(data)
        elif isinstance(data, dict):
            entries += [e for rows in data.values() if isinstance(rows, list) for e in rows if isinstance(e, dict)]
    if not entries:
        return None
    pct = max(float(e.get(k) or 0) for e in entries for k in ("call_count", "total_cputime", "total_time"))
    minutes = [float(e["estimated_time_to_regain_access"]) for e in entries if e.get("estimated_time_to_regain_access")]
    return Usage(pct, max(minutes) * 60 if minutes else None)


def classify_graph(
    platform: str, resp: httpx.Response, *, refreshable: bool, quota_window_s: float = 86400.0
) -> PlatformError:
    """One Graph error response → PlatformError. `refreshable`: the token can be renewed without the user
    (IG Login / Threads long-lived tokens), so a plain 190 is worth one refresh before reconnecting."""
    g = GraphError.from_response(resp)
    status = resp.status_code
    code_s = f"{g.code}/{g.subcode}" if g.subcode else str(g.code if g.code is not None else status)

    def err(cls: ErrorClass, what: str, retry_at: datetime | None = None) -> PlatformError:
        return PlatformError(
            platform,
            cls,
            f"{what} (code {code_s}, fbtrace {g.fbtrace_id or '-'})",
            status=status,
            code=code_s,
            retry_at=retry_at,
            details={"code": g.code, "subcode": g.subcode, "is_transient": g.is_transient},
        )

    now = datetime.now(UTC)
    if g.code in RATE_CODES or g.subcode in RATE_SUBCODES or status == 429:
        if g.subcode in RESTRICTED_SUBCODES:
            return err(ErrorClass.CONFIG, "account temporarily blocked from this action")
        usage = read_usage(resp.headers)
        retry_s = (usage.regain_s if usage and usage.regain_s else None) or _retry_after(resp) or 300.0
        return err(ErrorClass.RATE_LIMITED, "Graph API rate limit", now + timedelta(seconds=retry_s))
    if g.code in QUOTA_CODES or g.subcode in QUOTA_SUBCODES:
        # Meta does not say when the rolling window frees a slot; the whole window is a safe upper bound.
        return err(ErrorClass.QUOTA_EXHAUSTED, "publishing limit reached", now + timedelta(seconds=quota_window_s))
    if g.code == 190 or status == 401:
        if refreshable and g.subcode not in RECONNECT_SUBCODES:
            return err(ErrorClass.AUTH_REFRESHABLE, "access token rejected; refresh it once")
        return err(ErrorClass.AUTH_RECONNECT, "access token invalid; reconnect the account")
    if g.code == 10 or (g.code is not None and 200 <= g.code <= 299):
        return err(ErrorClass.AUTH_RECONNECT, "permission missing; reconnect with the required scopes")
    if g.code == 368 or g.subcode in RESTRICTED_SUBCODES:
        return err(ErrorClass.CONFIG, "account temporarily blocked for policy reasons")
    if g.code == 506:
        return err(ErrorClass.DUPLICATE, "duplicate post")
    if g.subcode in MEDIA_FETCH or g.code in MEDIA_FETCH:
        return PlatformError(
            platform,
            ErrorClass.TRANSIENT,
            f"{media_fetch_message(platform)} (code {code_s}, fbtrace {g.fbtrace_id or '-'})",
            status=status,
            code=MEDIA_FETCH_CODE,
            details={"code": g.code, "subcode": g.subcode, "is_transient": g.is_transient},
        )
    if g.subcode in TRANSIENT_SUBCODES or g.is_transient or g.code in (1, 2, -1, -2) or status >= 500:
        return err(ErrorClass.TRANSIENT, "temporary platform error")
    if g.subcode in CONTENT_SUBCODES or g.code in CONTENT_CODES or status in (400, 413, 422):
        return err(ErrorClass.CONTENT_REJECTED, "the platform rejected the request")
    return err(ErrorClass.TRANSIENT, f"unexpected HTTP {status}")


def media_fetch_message(platform: str) -> str:
    return f"{platform.title()} could not download the video from the signed URL (safe to retry: a new container)"


def _retry_after(resp: httpx.Response) -> float | None:
    try:
        return float(resp.headers["retry-after"])
    except (KeyError, ValueError):
        return None


def _quota_from_limit(data: Mapping[str, Any]) -> tuple[int, int, float]:
    """(used, total, window seconds) from a content_publishing_limit / threads_publishing_limit answer."""
    row = (data.get("data") or [{}])[0]
    config = row.get("config") or {}
    return (
        int(row.get("quota_usage") or 0),
        int(config.get("quota_total") or 0),
        float(config.get("quota_duration") or 86400),
    )


def token_fields(data: Mapping[str, Any]) -> Mapping[str, Any]:
    """The token object of a Meta token answer. Business Login's guide documents the code exchange as
    `{"data": [{access_token, user_id, permissions}]}`, its endpoint reference as the flat object: accept both."""
    rows = data.get("data")
    if "access_token" not in data and isinstance(rows, list) and rows and isinstance(rows[0], Mapping):
        return rows[0]
    return data


def granted_permissions(value: Any) -> tuple[str, ...]:
    """Granted permissions as sent: "a,b" / "a b", a list of names, or Graph's [{permission, status}] rows."""
    if isinstance(value, str):
        return tuple(value.replace(",", " ").split())
    if not isinstance(value, list | tuple):
        return ()
    names = []
    for item in value:
        if isinstance(item, Mapping):
            if item.get("status", "granted") == "granted" and item.get("permission"):
                names.append(str(item["permission"]))
        elif item:
            names.append(str(item))
    return tuple(names)


class MetaClient(PlatformClient):
    """Graph plumbing shared by the three Meta clients. Tokens travel in the Authorization header, never in URLs,
    except where Meta's token endpoints require the access_token parameter."""

    refreshable_tokens: ClassVar[bool] = False
    last_usage: Usage | None = None
    graph_host: ClassVar[str] = "https://graph.facebook.com"
    default_version: ClassVar[str] = GRAPH_VERSION
    insights_scope: ClassVar[str] = ""  # the permission analytics reads need

    @property
    def version(self) -> str:
        return self.config.options.get("graph_version", self.default_version)

    def graph(self, path: str) -> str:
        return f"{self.config.host(self.graph_host)}/{self.version}/{path.lstrip('/')}"

    def classify(self, response: httpx.Response) -> PlatformError:
        return classify_graph(self.platform, response, refreshable=self.refreshable_tokens)

    def call(self, method: str, path: str, token: str, **kwargs: Any) -> dict[str, Any]:
        headers = {**kwargs.pop("headers", {}), "Authorization": f"Bearer {token}"}
        resp = self.request(method, self.graph(path), headers=headers, **kwargs)
        usage = read_usage(resp.headers)
        if usage:
            self.last_usage = usage
        return json_or_empty(resp)

    def require_insights_scope(self, creds: Credentials) -> None:
        """Fail fast, before any call, when the granted scopes are known and lack the insights permission."""
        if self.insights_scope and creds.scopes and self.insights_scope not in creds.scopes:
            raise PlatformError(
                self.platform,
                ErrorClass.AUTH_RECONNECT,
                f"the {self.insights_scope} permission was not granted: reconnect the account",
                code="missing_scope",
            )

    def token_get(self, url: str, params: Mapping[str, str]) -> dict[str, Any]:
        """Meta's GET token endpoints (long-lived exchange, refresh). Errors never echo the query (it holds a
        token): base.request prints only the path."""
        resp = self.request("GET", url, params=dict(params))
        return json_or_empty(resp)

    def parse_tokens(self, data: Mapping[str, Any]) -> TokenSet:
        data = token_fields(data)
        scopes = granted_permissions(data.get("permissions") or data.get("scope"))
        expires = data.get("expires_in")
        return TokenSet(
            access_token=str(data["access_token"]),
            refresh_token=None,
            expires_in=float(expires) if expires is not None else None,
            scope=scopes,
            token_type=str(data.get("token_type", "bearer")),
            raw={k: v for k, v in data.items() if k != "access_token"},
        )

    def credentials_from(self, tokens: TokenSet) -> Credentials:
        creds = super().credentials_from(tokens)
        user_id = str(tokens.raw.get("user_id") or "")
        return replace(creds, account_id=user_id, extra={"user_id": user_id} if user_id else {})


class ContainerClient(MetaClient):
    """Instagram and Threads: both publish by letting Meta pull a public video_url into a container.
    Subclasses name their paths and fields; the flow, polling and reconciliation are the same."""

    refreshable_tokens = True
    media_edge: ClassVar[str]  # "media" / "threads"
    publish_edge: ClassVar[str]  # "media_publish" / "threads_publish"
    limit_edge: ClassVar[str]  # "content_publishing_limit" / "threads_publishing_limit"
    status_field: ClassVar[str]  # "status_code" / "status"
    text_field: ClassVar[str]  # "caption" / "text"
    reason_field: ClassVar[str]  # why a container ended ERROR: "status" / "error_message"
    exchange_grant: ClassVar[str]  # "ig_exchange_token" / "th_exchange_token"
    refresh_grant: ClassVar[str]  # "ig_refresh_token" / "th_refresh_token"
    insight_metrics: ClassVar[tuple[str, ...]]
    reconcile_window_s: ClassVar[float] = 86400.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._containers: dict[str, tuple[str, datetime]] = {}  # post key → (container id, created at)

    # ---- tokens: code → short-lived (1 h) → long-lived (60 d); refresh renews the long-lived token itself ------
    def exchange_code(self, *, code: str, redirect_uri: str, code_verifier: str | None = None) -> Credentials:
        short = super().exchange_code(code=code, redirect_uri=redirect_uri, code_verifier=code_verifier)
        data = self.token_get(
            f"{self.config.host(self.graph_host)}/access_token",
            {
                "grant_type": self.exchange_grant,
                "client_secret": self.config.client_secret,
                "access_token": short.access_token,
            },
        )
        long = self.credentials_from(self.parse_tokens(data))
        return replace(
            long,
            account_id=short.account_id,
            scopes=long.scopes or short.scopes,
            extra={**short.extra, "token_kind": "long_lived"},
        )

    def refresh(self, creds: Credentials) -> Credentials:
        """Meta has no refresh token: a long-lived token (≥ 24 h old, unexpired) is exchanged for a new one."""
        data = self.token_get(
            f"{self.config.host(self.graph_host)}/refresh_access_token",
            {"grant_type": self.refresh_grant, "access_token": creds.access_token},
        )
        fresh = self.credentials_from(self.parse_tokens(data))
        return replace(fresh, account_id=creds.account_id, scopes=creds.scopes, extra=dict(creds.extra))

    # ---- publish ------------------------------------------------------------------------------------------
    def container_params(self, post: VideoPost) -> dict[str, str]:
        raise NotImplementedError

    def publish(self, creds: Credentials, post: VideoPost, *, progress: Progress | None = None) -> PublishResult:
        self.ensure_valid(post)
        user, token = creds.account_id, creds.access_token
        self._check_quota(user, token)
        # Creating a container publishes nothing, so a lost response here is only a leaked container.
        container = str(self.call("POST", f"{user}/{self.media_edge}", token, data=self.container_params(post))["id"])
        self._containers[_post_key(post)] = (container, datetime.now(UTC))
        if progress:
            progress(0.2)
        self.poll(lambda: self._container_ready(container, token), what=f"container {container}")
        if progress:
            progress(0.8)
        try:
            media_id = str(
                self.call("POST", f"{user}/{self.publish_edge}", token, creates=True, data={"creation_id": container})[
                    "id"
                ]
            )
        except PlatformError as exc:
            exc.details["container_id"] = container
            raise
        if progress:
            progress(1.0)
        return self._result(media_id, token, container)

    def _check_quota(self, user: str, token: str) -> None:
        data = self.call("GET", f"{user}/{self.limit_edge}", token, params={"fields": "quota_usage,config"})
        used, total, window = _quota_from_limit(data)
        if total and used >= total:
            raise PlatformError(
                self.platform,
                ErrorClass.QUOTA_EXHAUSTED,
                f"publishing limit {used}/{total} reached",
                code="publishing_limit",
                retry_at=datetime.now(UTC) + timedelta(seconds=window),
            )

    def _container_ready(self, container: str, token: str) -> bool | None:
        data = self.call("GET", container, token, params={"fields": self.container_fields()})
        status = str(data.get(self.status_field) or "")
        if status in ("FINISHED", "PUBLISHED"):
            return True
        if status in ("ERROR", "EXPIRED"):
            raise self.container_failure(container, status, data)
        return None

    def container_fields(self) -> str:
        return f"{self.status_field},status"

    def container_failure(self, container: str, status: str, data: Mapping[str, Any]) -> PlatformError:
        cls, code = self.failure_class(status, data)
        what = f"container {container} ended {status} ({data.get(self.reason_field) or code})"
        if code == MEDIA_FETCH_CODE:
            what = f"{media_fetch_message(self.platform)}: {what}"
        return PlatformError(self.platform, cls, what, code=code, details={"container_id": container, "status": status})

    def failure_class(self, status: str, data: Mapping[str, Any]) -> tuple[ErrorClass, str]:
        raise NotImplementedError

    def _result(self, media_id: str, token: str, container: str = "") -> PublishResult:
        info = self.call("GET", media_id, token, params={"fields": "id,permalink,shortcode,timestamp"})
        return PublishResult(
            self.platform,
            media_id,
            str(info.get("permalink") or ""),
            raw={"container_id": container, "shortcode": info.get("shortcode", "")},
        )

    # ---- reconciliation ("did it post?"): container status first, then the account's recent media -----------
    def find_existing(self, creds: Credentials, post: VideoPost) -> PublishResult | None:
        token = creds.access_token
        container = str(post.options.get("container_id") or "")
        # Without post.created_after (checked per item by caption_candidate) only the last reconcile_window_s can
        # be ours; a container this client created bounds it more tightly.
        since: datetime | None = None
        if post.created_after is None:
            since = datetime.now(UTC) - timedelta(seconds=self.reconcile_window_s)
        if not container and _post_key(post) in self._containers:
            container, started = self._containers[_post_key(post)]
            since = started - RECONCILE_SKEW
        if container:
            status = self.call("GET", container, token, params={"fields": self.status_field}).get(self.status_field)
            if status != "PUBLISHED":
                return None  # the container is still unpublished: nothing went out
        text = self.post_text(post)
        page = self.call(
            "GET",
            f"{creds.account_id}/{self.media_edge}",
            token,
            params={"fields": f"id,{self.text_field},permalink,timestamp", "limit": "25"},
        )
        for item in page.get("data") or []:
            when = parse_time(item.get("timestamp"))
            if (item.get(self.text_field) or "") != text or not caption_candidate(post, item.get("id"), when):
                continue  # another caption, another target's post, or posted before this target's first attempt
            if since is None or when is None or when >= since:
                return PublishResult(
                    self.platform,
                    str(item["id"]),
                    str(item.get("permalink") or ""),
                    raw={"container_id": container, "reconciled": True},
                )
        return None

    def post_text(self, post: VideoPost) -> str:
        return post.full_caption()

    # ---- analytics ------------------------------------------------------------------------------------------
    def fetch_metrics(self, creds: Credentials, post_ids: Sequence[str]) -> dict[str, PostMetrics]:
        """GET /{media}/insights?metric=…, one call per post (Graph has no multi-media insights read).
        What each answer means is in `insights_outcome`; subclasses say which metrics they ask for."""
        self.require_insights_scope(creds)
        out: dict[str, PostMetrics] = {}
        denied: list[PlatformError] = []
        params = {"metric": ",".join(self.insight_metrics)}
        for pid in dict.fromkeys(post_ids):
            metrics = insights_outcome(
                pid,
                partial(self.call, "GET", f"{pid}/insights", creds.access_token, params=params),
                self.to_metrics,
                denied,
            )
            if metrics is not None:
                out[pid] = metrics
        if denied and not out and not creds.scopes:
            raise denied[0]  # scopes unknown and every post refused: most likely the token, not the posts
        return out

    def to_metrics(self, pid: str, values: Mapping[str, int | None]) -> PostMetrics:
        raise NotImplementedError


GONE = (100, 33)  # Graph: the node does not exist (deleted), "cannot be loaded … or does not support this operation"


def insights_outcome(
    pid: str,
    read: Callable[[], dict[str, Any]],
    to_metrics: Callable[[str, Mapping[str, Any]], PostMetrics],
    denied: list[PlatformError],
) -> PostMetrics | None:
    """One Graph insights read → metrics, gone, or None (left out of the answer):
    - 100/33: the media no longer exists → gone=True;
    - #10 with subcode 2108006 ("not enough viewers") or an empty `data` (a new post, up to 48 h): no numbers yet;
    - any other #10 (no permission on this media: another account's) → not readable, left out (kept in `denied`);
    - rate limits, auth, 5xx: raised, classified."""
    try:
        data = read()
    except PlatformError as exc:
        code, subcode = exc.details.get("code"), exc.details.get("subcode")
        if (code, subcode) == GONE:
            return PostMetrics(pid, gone=True, raw={"error": {"code": code, "subcode": subcode}})
        if code == 10 and subcode == NOT_ENOUGH_VIEWERS:
            return None
        if code == 10:
            denied.append(exc)
            return None
        raise
    rows = data.get("data") or []
    if not rows:
        return None  # an empty dataset is not zero
    return to_metrics(pid, {str(row.get("name")): _insight_value(row) for row in rows})


def _insight_value(row: Mapping[str, Any]) -> Any:
    """A metric's latest value: a number as int, a breakdown (e.g. reactions by type) as given."""
    if "total_value" in row:
        value = (row.get("total_value") or {}).get("value")
    else:
        vals = row.get("values") or []
        value = vals[-1].get("value") if vals else None
    return value if isinstance(value, dict) else _as_int(value)


def _post_key(post: VideoPost) -> str:
    return post.idempotency_key or f"{post.video_url}|{post.full_caption()}"


def parse_time(value: Any) -> datetime | None:
    """Graph timestamps ("2026-01-02T03:04:05+0000")."""
    return parse_timestamp(value)
