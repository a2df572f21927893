"""Sandbox pieces the three Meta platforms share: the Graph error envelope, usage headers and per-account call
windows, Meta's OAuth (authorize → code → short-lived token → long-lived token → refresh after 24 h), and the
pull-container machine Instagram and Threads both run (fetch video_url → IN_PROGRESS → FINISHED → PUBLISHED,
ERROR, EXPIRED after 24 h)."""

from __future__ import annotations

import json
import math
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any
from urllib.parse import parse_qsl

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from cliply.sandbox import growth
from cliply.sandbox.common import Endpoint, after_commit, newest_posts, pre_faults, processing_fails
from cliply.sandbox.counting import TextRule
from cliply.sandbox.covers import fetch_image, frame_info
from cliply.sandbox.oauth import OAuthVariant
from cliply.sandbox.state import Grant, OAuthFailure, RecordedPost, SandboxState

SHORT_TTL_S = 3600
LONG_TTL_S = 60 * 86400
REFRESH_MIN_AGE_S = 86400
CALLS_PER_HOUR = 200  # per account; real BUC budgets scale with impressions
DAY_S = 86400.0


@dataclass(frozen=True)
class MetaErrors:
    """Meta's `{"error": {message, type, code, error_subcode, is_transient, fbtrace_id}}` envelope, with the codes
    each platform uses for a rate limit, its publishing cap, rejected media and a failed media pull."""

    platform: str
    rate_code: int = 4
    quota: tuple[int, int | None] = (9, 2207042)
    content: tuple[int, int | None] = (352, 2207026)
    media_fetch: tuple[int, int | None] = (9004, 2207052)

    def error(
        self,
        status: int,
        code: int,
        subcode: int | None = None,
        *,
        message: str = "",
        type_: str = "OAuthException",
        transient: bool = False,
        headers: dict[str, str] | None = None,
    ) -> JSONResponse:
        body: dict[str, Any] = {
            "message": message or f"({code}) request failed",
            "type": type_,
            "code": code,
            "is_transient": transient,
            "fbtrace_id": secrets.token_urlsafe(8),
        }
        if subcode is not None:
            body["error_subcode"] = subcode
        return JSONResponse({"error": body}, status_code=status, headers=headers)

    def auth_expired(self) -> Response:
        return self.error(400, 190, 463, message="Error validating access token: Session has expired")

    def invalid_token(self) -> Response:
        return self.error(400, 190, message="Invalid OAuth access token - Cannot parse access token")

    def permission(self, scope: str) -> Response:
        return self.error(403, 10, message=f"Application does not have permission for this action ({scope})")

    def bad_param(self, message: str, subcode: int | None = None) -> Response:
        return self.error(400, 100, subcode, message=f"Invalid parameter: {message}", type_="GraphMethodException")

    def rate_limited(self, retry_after_s: float) -> Response:
        minutes = max(1, math.ceil(retry_after_s / 60))
        return self.error(
            400,
            self.rate_code,
            message="Application request limit reached",
            headers=usage_headers("sandbox", 100, minutes),
        )

    def quota_exhausted(self, retry_after_s: float) -> Response:
        return self.error(400, self.quota[0], self.quota[1], message="The account has reached its publishing limit")

    def server_error(self, status: int) -> Response:
        return self.error(status, 2, message="An unexpected error has occurred. Please retry.", transient=True)

    def content_rejected(self) -> Response:
        return self.error(400, self.content[0], self.content[1], message="The video format is not supported")

    def format_rejected(self) -> Response:  # Graph 352 "video format not supported" (IG subcode 2207026)
        return self.error(400, 352, 2207026 if self.content[1] == 2207026 else None, message="Unsupported video format")

    def media_fetch_failed(self) -> Response:
        return self.error(400, self.media_fetch[0], self.media_fetch[1], message="Media could not be fetched")

    def duplicate(self) -> Response:
        return self.error(400, 506, message="Duplicate status message")


def usage_headers(account_id: str, pct: int, regain_min: int = 0, kind: str = "instagram") -> dict[str, str]:
    app = {"call_count": pct, "total_cputime": pct // 2, "total_time": pct // 2}
    buc = {account_id: [{"type": kind, **app, "estimated_time_to_regain_access": regain_min}]}
    return {"X-App-Usage": json.dumps(app), "X-Business-Use-Case-Usage": json.dumps(buc)}


def meta_token(request: Request, form: dict[str, str] | None = None) -> str | None:
    auth = request.headers.get("authorization", "")
    for scheme in ("bearer ", "oauth "):
        if auth.lower().startswith(scheme):
            return auth[len(scheme) :].strip()
    return request.query_params.get("access_token") or (form or {}).get("access_token")


async def params_of(request: Request) -> dict[str, str]:
    """Graph takes parameters in the query string or a form body, interchangeably."""
    merged = dict(request.query_params)
    if request.method == "POST" and "x-www-form-urlencoded" in request.headers.get("content-type", ""):
        merged.update(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))
    return merged


class Graph:
    """One Meta platform's request gate: token → grant (190 / 190·463), call window + usage headers, faults."""

    def __init__(self, state: SandboxState, errors: MetaErrors, buc_kind: str) -> None:
        self.state, self.errors, self.platform, self.kind = state, errors, errors.platform, buc_kind

    def token_info(self, token: str) -> dict[str, Any]:
        return self.state.objects.get(f"meta-token:{token}", {})

    def grant_for(self, token: str | None) -> Grant | Response:
        grant = self.state.bearer(self.platform, token)
        if grant is not None:
            return grant
        with self.state.lock:
            known = self.state.grants.get(token or "")
        return self.errors.auth_expired() if known and known.platform == self.platform else self.errors.invalid_token()

    async def gate(
        self, request: Request, operation: str, params: dict[str, str], scope: str | None = None
    ) -> Grant | Response:
        grant = self.grant_for(meta_token(request, params))
        if isinstance(grant, Response):
            return grant
        if scope and scope not in grant.scopes:
            return self.errors.permission(scope)
        wait = self.state.hit_limit(self.platform, grant.account_id, "calls", CALLS_PER_HOUR, 3600)
        if wait is not None:
            return self.errors.rate_limited(wait)
        return await pre_faults(self.state, self.platform, operation, self.errors) or grant

    def ok(self, grant: Grant, data: Any, status: int = 200) -> JSONResponse:
        used = self.state.window_usage(self.platform, grant.account_id, "calls", 3600)
        return JSONResponse(
            data,
            status_code=status,
            headers=usage_headers(grant.account_id, used * 100 // CALLS_PER_HOUR, kind=self.kind),
        )

    # ---- tokens beyond the code redemption (oauth.py serves that) ----------------------------------------------------
    def issue(
        self,
        account_id: str,
        scopes: tuple[str, ...],
        kind: str,
        ttl_s: float,
        client_id: str = "",
        family: str | None = None,
    ) -> Grant:
        grant = self.state.issue_grant(
            self.platform,
            account_id,
            scopes,
            access_ttl_s=ttl_s,
            refresh_ttl_s=None,
            client_id=client_id,
            family=family,
        )
        remember_token(self.state, grant, kind)
        return grant

    def long_lived(self, params: dict[str, str], token: str | None) -> Grant | Response:
        """Short-lived (or long-lived) user token → a fresh long-lived token (60 d)."""
        if not params.get("client_secret"):
            return self.errors.error(400, 101, message="Missing client_secret")
        grant = self.grant_for(token)
        if isinstance(grant, Response):
            return grant
        return self.issue(grant.account_id, grant.scopes, "long", LONG_TTL_S, grant.client_id, grant.family)

    def refreshed(self, token: str | None) -> Grant | Response:
        """A long-lived token at least 24 h old and unexpired → a new long-lived token."""
        grant = self.grant_for(token)
        if isinstance(grant, Response):
            return grant
        info = self.token_info(grant.access_token)
        if info.get("kind") != "long":
            return self.errors.error(400, 190, message="Only long-lived tokens can be refreshed")
        if self.state.clock.timestamp() - float(info["issued"]) < REFRESH_MIN_AGE_S:
            return self.errors.error(400, 10, message="The token must be at least 24 hours old to be refreshed")
        return self.issue(grant.account_id, grant.scopes, "long", LONG_TTL_S, grant.client_id, grant.family)

    def token_body(self, grant: Grant, **extra: Any) -> dict[str, Any]:
        ttl = int((grant.expires_at - self.state.clock.now()).total_seconds())
        return {"access_token": grant.access_token, "token_type": "bearer", "expires_in": ttl, **extra}


def remember_token(state: SandboxState, grant: Grant, kind: str) -> None:
    """Meta tokens are short-lived, long-lived or Page tokens; exchanges and refreshes depend on which."""
    with state.lock:
        state.objects[f"meta-token:{grant.access_token}"] = {"kind": kind, "issued": state.clock.timestamp()}


@dataclass(frozen=True)
class MetaOAuthErrors:
    """OAuth refusals in the Graph envelope: 101 for a missing secret, 100/36007 for a bad code."""

    errors: MetaErrors

    def refuse(self, status: int, error: str, description: str | None) -> Response:
        if error == "invalid_client":
            return self.errors.error(400, 101, message="Missing client_secret")
        return self.errors.bad_param(description or error)

    def failed(self, exc: OAuthFailure) -> Response:
        return self.errors.error(400, 100, 36007, message="Invalid verification code")


def meta_oauth(errors: MetaErrors, authorize_path: str, token_path: str, **shape: Any) -> OAuthVariant:
    """Meta's code flow: code → short-lived (1 h) user token, client secret in the parameters, no PKCE, no refresh
    token (long-lived tokens come from a separate exchange)."""
    return OAuthVariant(
        platform=errors.platform,
        authorize_path=authorize_path,
        token_path=token_path,
        errors=MetaOAuthErrors(errors),
        response_type_default="code",
        authorize_invalid="client_id, redirect_uri and response_type=code are required",
        scope_separators=", ",
        pkce="ignored",
        secret_required=True,
        refresh_grant_type=None,
        refresh_policy="never",
        access_ttl_s=SHORT_TTL_S,
        on_issue=partial(remember_token, kind="short"),
        **shape,
    )


def iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S+0000")


# ---- the pull-container machine (Instagram, Threads) -----------------------------------------------------------------
@dataclass(frozen=True)
class ContainerSpec:
    """What differs between Instagram and Threads containers."""

    errors: MetaErrors
    buc_kind: str  # the X-Business-Use-Case-Usage type
    media_edge: str  # media / threads
    publish_edge: str  # media_publish / threads_publish
    limit_edge: str  # content_publishing_limit / threads_publishing_limit
    text_field: str  # caption / text
    media_type: str  # REELS / VIDEO
    text: TextRule  # the platform's documented limit and way of counting
    publish_scope: str
    insights_scope: str
    quota_total: int
    permalink: Callable[[str, str], str]  # (handle, shortcode) → permalink
    metrics: dict[str, Callable[[dict[str, int]], int]]  # platform metric name → its value from state.metrics()
    status_body: Callable[[dict[str, Any]], dict[str, Any]]  # container object → GET /{container} fields
    fetch_failed_sync: bool  # IG answers an unreachable video_url at once (9004/2207052); Threads in status
    ig_subcodes: bool  # Instagram adds its 2207xxx subcodes to parameter errors
    insights_lag_s: tuple[float, float] | None = None  # insights answer an empty dataset this long after publishing
    takes_cover: bool = False  # Instagram Reels: cover_url (fetched like video_url) or thumb_offset

    @property
    def platform(self) -> str:
        return self.errors.platform

    def graph(self, state: SandboxState) -> Graph:
        return Graph(state, self.errors, self.buc_kind)

    def subcode(self, code: int) -> int | None:
        return code if self.ig_subcodes else None


READY_AFTER_POLLS = 2
CONTAINER_TTL_S = DAY_S
EdgeHandler = Callable[[ContainerSpec, SandboxState, Request, str, dict[str, str]], Awaitable[Response]]


async def fetch_media(url: str) -> str | None:
    """Pull video_url as Meta does: no redirects, no auth. None when it is a usable MP4, else a failure kind."""
    if not url.startswith(("http://", "https://")):
        return "fetch"
    try:
        async with httpx.AsyncClient(timeout=5.0, follow_redirects=False) as http:
            resp = await http.get(url)
    except httpx.HTTPError:
        return "fetch"
    if resp.status_code != 200:
        return "fetch"
    return None if resp.content[4:8] == b"ftyp" else "format"


def container_status(state: SandboxState, obj: dict[str, Any]) -> str:
    """IN_PROGRESS for a couple of polls, then FINISHED or ERROR; EXPIRED when unpublished after 24 h."""
    expired = state.clock.timestamp() - obj["created"] > CONTAINER_TTL_S
    if obj["status"] == "IN_PROGRESS":
        if expired:
            obj["status"] = "EXPIRED"
        elif obj["polls"] >= READY_AFTER_POLLS:
            obj["status"] = "ERROR" if obj.get("error") else "FINISHED"
        obj["polls"] += 1
    elif obj["status"] == "FINISHED" and expired:
        obj["status"] = "EXPIRED"
    return obj["status"]


def _create_refusal(spec: ContainerSpec, params: dict[str, str]) -> Response | None:
    errors = spec.errors
    if params.get("media_type") != spec.media_type:
        return errors.error(400, 100, spec.subcode(2207089), message="Unsupported media_type")
    if not params.get("video_url"):
        return errors.bad_param("video_url is required")
    if spec.text.too_long(params.get(spec.text_field, "")):
        return errors.bad_param(f"{spec.text_field} is too long", spec.subcode(2207010))
    offset = params.get("thumb_offset")
    if offset is not None and not offset.isdigit():
        return errors.error(400, 1, 2207057, message="Invalid thumbnail offset")
    return None


async def _pull_failure(spec: ContainerSpec, state: SandboxState, url: str) -> str | None:
    """What fetching video_url gives: None (a usable MP4), "fetch" (download failed) or "format"."""
    error = await fetch_media(url)
    if state.take_fault(spec.platform, "create", frozenset({"media_fetch_failed"})):
        error = "fetch"
    return error


def _later_failure(spec: ContainerSpec, state: SandboxState) -> str | None:
    """A scripted failure after the create was accepted: the container ends ERROR."""
    if state.take_fault(spec.platform, "processing", frozenset({"media_fetch_failed"})):
        return "fetch"
    return "processing" if processing_fails(state, spec.platform) else None


async def create_container(
    spec: ContainerSpec, state: SandboxState, request: Request, user: str, params: dict[str, str]
) -> Response:
    graph = spec.graph(state)
    grant = await graph.gate(request, "create", params, spec.publish_scope)
    if isinstance(grant, Response):
        return grant
    if grant.account_id != user:
        return spec.errors.permission(spec.publish_scope)
    if (refusal := _create_refusal(spec, params)) is not None:
        return refusal
    error = await _pull_failure(spec, state, params["video_url"])
    if error == "fetch" and spec.fetch_failed_sync:
        return spec.errors.media_fetch_failed()
    cover = await _container_cover(spec, params)
    if isinstance(cover, Response):
        return cover
    error = error or _later_failure(spec, state)
    cid = state.new_id("", 17)
    with state.lock:
        state.objects[cid] = {
            "kind": "container",
            "platform": spec.platform,
            "account": user,
            "status": "IN_PROGRESS",
            "error": error,
            "polls": 0,
            "created": state.clock.timestamp(),
            "text": params.get(spec.text_field, ""),
            "params": params,
            "media_id": None,
            "cover": cover,
        }
    return graph.ok(grant, {"id": cid})


async def _container_cover(spec: ContainerSpec, params: dict[str, str]) -> dict[str, Any] | Response | None:
    """The Reel's cover: cover_url is pulled like video_url (and wins over thumb_offset); None without one."""
    if not spec.takes_cover:
        return None
    if url := params.get("cover_url"):
        info = await fetch_image(url, "cover_url")
        if info is None:
            return spec.errors.bad_param("cover_url could not be fetched as a JPEG or PNG image", spec.subcode(2207052))
        return info
    if (offset := params.get("thumb_offset")) is not None:
        return frame_info(int(offset), "thumb_offset")
    return None


def _unpublishable(spec: ContainerSpec, status: str) -> Response | None:
    if status == "PUBLISHED":
        return spec.errors.duplicate()
    if status == "IN_PROGRESS":
        return spec.errors.error(400, 9007, 2207027, message="Media ID is not available")
    if status in ("ERROR", "EXPIRED"):
        return spec.errors.error(400, -2, 2207020, message="The media has expired or failed")
    return None


def _commit_publish(spec: ContainerSpec, state: SandboxState, user: str, obj: dict[str, Any], creation_id: str) -> str:
    """Turn a FINISHED container into a media object and record the post; returns the media id."""
    acct = state.account(spec.platform, user)
    media_id = state.new_id("", 17)
    shortcode = secrets.token_urlsafe(8).replace("-", "a").replace("_", "b")[:11]
    obj["status"], obj["media_id"] = "PUBLISHED", media_id
    state.objects[media_id] = {
        "kind": "media",
        "platform": spec.platform,
        "account": user,
        "container": obj,
        "shortcode": shortcode,
        "text": obj["text"],
        "permalink": spec.permalink(acct.handle, shortcode),
    }
    cover = {"cover": obj["cover"]} if obj.get("cover") else {}
    state.record_post(spec.platform, user, media_id, {"container_id": creation_id, **obj["params"], **cover})
    return media_id


async def publish_container(
    spec: ContainerSpec, state: SandboxState, request: Request, user: str, params: dict[str, str]
) -> Response:
    graph = spec.graph(state)
    grant = await graph.gate(request, "publish", params, spec.publish_scope)
    if isinstance(grant, Response):
        return grant
    obj = state.objects.get(params.get("creation_id", ""))
    if not obj or obj.get("kind") != "container" or obj["platform"] != spec.platform or obj["account"] != user:
        return spec.errors.bad_param("creation_id does not exist", spec.subcode(2207008))
    with state.lock:
        if (refusal := _unpublishable(spec, obj["status"])) is not None:
            return refusal
        quota = int(state.account(spec.platform, user).extra.get("publish_quota", spec.quota_total))
        wait = state.hit_limit(spec.platform, user, "publish", quota, DAY_S)
        if wait is not None:
            return spec.errors.quota_exhausted(wait)
        media_id = _commit_publish(spec, state, user, obj, params["creation_id"])
    await after_commit(state, spec.platform, "publish")
    return graph.ok(grant, {"id": media_id})


async def publishing_limit(
    spec: ContainerSpec, state: SandboxState, request: Request, user: str, params: dict[str, str]
) -> Response:
    graph = spec.graph(state)
    grant = await graph.gate(request, "limit", params)
    if isinstance(grant, Response):
        return grant
    total = int(state.account(spec.platform, user).extra.get("publish_quota", spec.quota_total))
    used = state.window_usage(spec.platform, user, "publish", DAY_S)
    return graph.ok(
        grant, {"data": [{"quota_usage": used, "config": {"quota_total": total, "quota_duration": int(DAY_S)}}]}
    )


async def list_media(
    spec: ContainerSpec, state: SandboxState, request: Request, user: str, params: dict[str, str]
) -> Response:
    graph = spec.graph(state)
    grant = await graph.gate(request, "list", params)
    if isinstance(grant, Response):
        return grant
    posts = newest_posts(state, spec.platform, user)
    limit = min(int(params.get("limit", "25") or 25), 100)
    rows = []
    for post in posts[:limit]:
        media = state.objects[post.post_id]
        rows.append(
            {
                "id": post.post_id,
                spec.text_field: media["text"],
                "permalink": media["permalink"],
                "shortcode": media["shortcode"],
                "timestamp": iso(post.created_at),
            }
        )
    return graph.ok(grant, {"data": rows, "paging": {}})


def counter(key: str) -> Callable[[dict[str, int]], int]:
    return lambda counts: counts[key]


def insights_lag_s(spec: ContainerSpec, state: SandboxState, post: RecordedPost) -> float:
    """How long a new post's insights stay an empty dataset (account extra `insights_lag_s` pins it)."""
    pinned = state.account(spec.platform, post.account_id).extra.get("insights_lag_s")
    if pinned is not None:
        return float(pinned)
    if spec.insights_lag_s is None:
        return 0.0
    return growth.delay_s(spec.platform, post.post_id, "insights", *spec.insights_lag_s)


async def media_insights(
    spec: ContainerSpec, state: SandboxState, request: Request, node: str, params: dict[str, str]
) -> Response:
    """Deleted or unknown media: 100/33 (as Graph answers for a node that does not exist); another account's live
    media: #10 (no permission on it); a new post: an empty dataset for a while, which is not zero."""
    graph = spec.graph(state)
    grant = await graph.gate(request, "insights", params, spec.insights_scope)
    if isinstance(grant, Response):
        return grant
    post = state.find_post(spec.platform, node)
    if post is None:
        return spec.errors.error(400, 100, 33, message="Object does not exist or is not accessible")
    if post.account_id != grant.account_id:
        return spec.errors.error(403, 10, message="(#10) Application does not have permission for this action")
    wanted = [m for m in params.get("metric", "").split(",") if m]
    if not wanted or any(m not in spec.metrics for m in wanted):
        return spec.errors.bad_param(f"metric must be one of {sorted(spec.metrics)}")
    if state.age_s(post) < insights_lag_s(spec, state, post):
        return graph.ok(grant, {"data": []})
    counts = state.metrics(post)
    data = [
        {
            "name": m,
            "period": "lifetime",
            "values": [{"value": spec.metrics[m](counts)}],
            "id": f"{node}/insights/{m}/lifetime",
        }
        for m in wanted
    ]
    return graph.ok(grant, {"data": data})


def _owned_object_body(spec: ContainerSpec, state: SandboxState, node_id: str, obj: dict[str, Any]) -> dict[str, Any]:
    if obj["kind"] == "container":
        return {"id": node_id, **spec.status_body({**obj, "status": container_status(state, obj)})}
    post = state.find_post(spec.platform, node_id)
    return {
        "id": node_id,
        "permalink": obj["permalink"],
        "shortcode": obj["shortcode"],
        "timestamp": iso(post.created_at) if post else "",
        spec.text_field: obj["text"],
        "media_type": "VIDEO",
        "media_product_type": spec.media_type,
    }


async def container_node(spec: ContainerSpec, state: SandboxState, request: Request) -> Response:
    """GET /{id}: a container's status, a published media object, or the user itself."""
    graph = spec.graph(state)
    node_id = request.path_params["node"]
    grant = await graph.gate(request, "read", await params_of(request))
    if isinstance(grant, Response):
        return grant
    obj = state.objects.get(node_id)
    if obj and obj.get("platform") == spec.platform and obj["account"] == grant.account_id:
        return graph.ok(grant, _owned_object_body(spec, state, node_id, obj))
    if node_id in ("me", grant.account_id):
        acct = state.account(spec.platform, grant.account_id)
        return graph.ok(grant, {"id": acct.account_id, "username": acct.handle, "user_id": acct.account_id})
    return spec.errors.error(400, 100, 33, message="Object does not exist or is not accessible")


def _edge_handler(spec: ContainerSpec, method: str, edge: str) -> EdgeHandler | None:
    return {
        ("POST", spec.media_edge): create_container,
        ("GET", spec.media_edge): list_media,
        ("POST", spec.publish_edge): publish_container,
        ("GET", spec.limit_edge): publishing_limit,
        ("GET", "insights"): media_insights,
    }.get((method, edge))


async def container_edge(spec: ContainerSpec, state: SandboxState, request: Request) -> Response:
    """/{node}/{edge}: Graph routes by edge name and method."""
    handler = _edge_handler(spec, request.method, request.path_params["edge"])
    if handler is None:
        return spec.errors.error(
            400, 100, message="Unsupported request - method type or edge", type_="GraphMethodException"
        )
    return await handler(spec, state, request, request.path_params["node"], await params_of(request))


def container_table(spec: ContainerSpec) -> list[Endpoint]:
    return [
        Endpoint("/{ver}/{node}/{edge}", partial(container_edge, spec), ("GET", "POST"), "container_edge"),
        Endpoint("/{ver}/{node}", partial(container_node, spec), ("GET",), "container_node"),
    ]


# ---- long-lived tokens (IG Login / Threads): GET /access_token and GET /refresh_access_token -------------------------
async def long_lived_token(spec: ContainerSpec, exchange_grant: str, state: SandboxState, request: Request) -> Response:
    """Short-lived (or long-lived) user token → a fresh long-lived token (60 d)."""
    params = dict(request.query_params)
    graph = spec.graph(state)
    if params.get("grant_type") != exchange_grant:
        return spec.errors.bad_param("unsupported grant_type")
    grant = graph.long_lived(params, meta_token(request))
    return grant if isinstance(grant, Response) else JSONResponse(graph.token_body(grant))


async def refresh_long_lived(
    spec: ContainerSpec, refresh_grant: str, state: SandboxState, request: Request
) -> Response:
    """A long-lived token at least 24 h old → a new long-lived token."""
    graph = spec.graph(state)
    if request.query_params.get("grant_type") != refresh_grant:
        return spec.errors.bad_param("unsupported grant_type")
    grant = graph.refreshed(meta_token(request))
    return grant if isinstance(grant, Response) else JSONResponse(graph.token_body(grant))


def long_lived_table(spec: ContainerSpec, *, exchange_grant: str, refresh_grant: str) -> list[Endpoint]:
    return [
        Endpoint("/access_token", partial(long_lived_token, spec, exchange_grant), name="long_lived_token"),
        Endpoint("/refresh_access_token", partial(refresh_long_lived, spec, refresh_grant), name="refresh_long_lived"),
    ]
