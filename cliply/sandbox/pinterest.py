"""Emulated Pinterest API v5 (api.pinterest.com, www.pinterest.com OAuth, and the S3 upload host), mounted at
/pinterest.

Paths: GET /oauth/, POST /v5/oauth/token, GET /v5/user_account, GET /v5/boards, POST /v5/media,
GET /v5/media/{media_id}, POST /v5/pins, GET /v5/boards/{board_id}/pins, GET /v5/pins/{pin_id}/analytics, and
POST / (the S3 bucket the returned `upload_url` points at).

Fault operations: "token", "register_media", "upload" (S3 envelopes), "media_status", "create_pin" (also takes
"lost_response"), "board_pins", "analytics"; "processing" (processing_failed, consumed at POST /v5/media).

Behaviour: HTTP Basic client auth on the token endpoint, PKCE checked when a challenge was sent, access 30 d,
continuous refresh tokens (60 d, rotated on every refresh, replay revokes the family); media registered →
processing (after the S3 POST, which must carry every upload parameter before `file`) → succeeded|failed, one step
per status read; pins validate title ≤ 100, description ≤ 800, link ≤ 2048 (code points), a board the user owns,
a succeeded unused video and a cover; writes limited per user per minute (X-RateLimit-* headers, 429 code 29);
analytics windows ≤ 90 days back; errors {"code", "message"}.
Error codes here are the sandbox's stand-ins (1 invalid parameters, 2 authentication, 3 authorization, 29 rate
limit, 50 not found); the client only branches on status and these codes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlparse

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

from cliply.sandbox import growth, oauth
from cliply.sandbox.common import (
    Endpoint,
    after_commit,
    bind,
    faulted,
    multipart_fields,
    newest_posts,
    pre_faults,
    processing_fails,
    require_grant,
    table,
)
from cliply.sandbox.counting import PINTEREST_PIN
from cliply.sandbox.covers import frame_info, image_info
from cliply.sandbox.state import Grant, SandboxState

P = "pinterest"
ACCESS_TTL_S = 30 * 86400
REFRESH_TTL_S = 60 * 86400
WRITES_PER_MIN = 100
DAILY_WRITES = 1000
_SIGNING_KEY = b"sandbox-s3-signing-key"
METRICS = {  # metric type → the state.metrics() counter it sums (watch times in milliseconds)
    "IMPRESSION": "impressions",
    "SAVE": "saves",
    "PIN_CLICK": "clicks",
    "OUTBOUND_CLICK": "outbound_clicks",
    "TOTAL_COMMENTS": "comments",
    "TOTAL_REACTIONS": "likes",
    "VIDEO_MRC_VIEW": "views",
    "VIDEO_START": "video_starts",
    "VIDEO_10S_VIEW": "views_10s",
    "QUARTILE_95_PERCENT_VIEW": "completions",
    "VIDEO_V50_WATCH_TIME": "watch_time_ms",
    "VIDEO_AVG_WATCH_TIME": "watch_time_ms",  # divided by VIDEO_MRC_VIEW
}
LIFETIME = ("TOTAL_COMMENTS", "TOTAL_REACTIONS")  # reported as lifetime counts beside the window sums


def _err(status: int, code: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"code": code, "message": message}, status, headers=headers)


def _limit_headers(limit: int, remaining: int, reset_s: float) -> dict[str, str]:
    return {
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": str(max(0, remaining)),
        "X-RateLimit-Reset": str(max(1, int(reset_s))),
    }  # seconds until the window frees


class PinterestErrors:
    def auth_expired(self) -> Response:
        return _err(401, 2, "Authentication failed.")

    def rate_limited(self, retry_after_s: float) -> Response:
        return _err(
            429,
            29,
            "You have exceeded your rate limit. Try again later.",
            _limit_headers(WRITES_PER_MIN, 0, retry_after_s),
        )

    def quota_exhausted(self, retry_after_s: float) -> Response:  # the daily write budget of the app/user
        return _err(
            429,
            29,
            "You have exceeded your rate limit. Try again later.",
            _limit_headers(DAILY_WRITES, 0, retry_after_s),
        )

    def server_error(self, status: int) -> Response:
        return _err(status, status, "Internal server error.")

    def content_rejected(self) -> Response:
        return _err(400, 1, "Invalid parameters.")

    def media_fetch_failed(self) -> Response:
        return _err(400, 1, "Invalid parameters.")

    def duplicate(self) -> Response:
        return _err(409, 1, "Conflict.")


def _s3(status: int, code: str, message: str) -> Response:
    xml = f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message></Error>'
    return Response(xml, status, media_type="application/xml")


class S3Errors:
    """The upload host answers like S3: XML errors, SlowDown for throttling."""

    def auth_expired(self) -> Response:
        return _s3(400, "ExpiredToken", "The provided token has expired.")

    def rate_limited(self, retry_after_s: float) -> Response:
        return _s3(503, "SlowDown", "Please reduce your request rate.")

    quota_exhausted = rate_limited

    def server_error(self, status: int) -> Response:
        return _s3(status, "InternalError", "We encountered an internal error. Please try again.")

    def content_rejected(self) -> Response:
        return _s3(400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size")

    media_fetch_failed = content_rejected
    duplicate = content_rejected


ERRORS, S3_ERRORS = PinterestErrors(), S3Errors()
OAUTH = oauth.OAuthVariant(
    platform=P,
    authorize_path="/oauth/",
    token_path="/v5/oauth/token",
    errors=oauth.CodeMessageErrors(),
    fault_errors=lambda _state: ERRORS,
    authorize_invalid="response_type=code, client_id and redirect_uri are required",
    scope_separators=",",
    client_auth="basic",
    secret_required=True,
    invalid_client="Authentication failed: HTTP Basic client credentials are required.",
    unsupported_grant="Unsupported grant_type.",
    access_ttl_s=ACCESS_TTL_S,
    refresh_ttl_s=REFRESH_TTL_S,
    token_type="bearer",
    scope_joiner=",",
    refresh_expires_in=("refresh_token_expires_in", "ttl"),
    refresh_expires_at="refresh_token_expires_at",
    grant_type_echo="response_type",
)  # continuous refresh tokens: rotated on every refresh, a replay revokes the family


def objects(state: SandboxState, name: str) -> dict[str, Any]:
    return table(state, f"{P}:{name}")


def authed(state: SandboxState, request: Request, *scopes: str) -> Grant | Response:
    grant = require_grant(state, P, request, ERRORS)
    if isinstance(grant, Response):
        return grant
    missing = [s for s in scopes if s not in grant.scopes]
    return _err(403, 3, f"Authorization failed: missing scope {missing[0]}.") if missing else grant


def boards_of(state: SandboxState, account_id: str) -> list[dict[str, Any]]:
    boards = objects(state, "boards")
    if account_id not in boards:  # every sandbox user starts with one public board
        boards[account_id] = [
            {
                "id": state.new_id(digits=18),
                "name": "Cliply clips",
                "privacy": "PUBLIC",
                "owner": {"username": state.account(P, account_id).handle},
            }
        ]
    return boards[account_id]


def write_limit(state: SandboxState, grant: Grant) -> Response | dict[str, str]:
    """Writes count per minute and per day; the answer carries X-RateLimit-* headers of the minute window."""
    wait = state.hit_limit(P, grant.account_id, "writes_min", WRITES_PER_MIN, 60)
    if wait is not None:
        return ERRORS.rate_limited(wait)
    wait = state.hit_limit(P, grant.account_id, "writes_day", DAILY_WRITES, 86400)
    if wait is not None:
        return ERRORS.quota_exhausted(wait)
    used = state.window_usage(P, grant.account_id, "writes_min", 60)
    return _limit_headers(WRITES_PER_MIN, WRITES_PER_MIN - used, 60)


async def user_account(state: SandboxState, request: Request) -> Response:
    grant = authed(state, request, "user_accounts:read")
    if isinstance(grant, Response):
        return grant
    acct = state.account(P, grant.account_id)
    return JSONResponse({"account_type": "BUSINESS", "id": acct.account_id, "username": acct.handle})


async def boards(state: SandboxState, request: Request) -> Response:
    grant = authed(state, request, "boards:read")
    if isinstance(grant, Response):
        return grant
    return JSONResponse({"items": boards_of(state, grant.account_id), "bookmark": None})


# ---- media -----------------------------------------------------------------------------------------------------------
def upload_parameters(state: SandboxState, account_id: str, media_id: str) -> dict[str, str]:
    """The signed S3 POST-policy fields the client must send back, before `file`."""
    key = f"uploads/{account_id}/{media_id}.mp4"
    policy = base64.b64encode(f'{{"key":"{key}"}}'.encode()).decode()
    return {
        "x-amz-date": state.clock.now().strftime("%Y%m%dT%H%M%SZ"),
        "x-amz-algorithm": "AWS4-HMAC-SHA256",
        "x-amz-credential": "SANDBOX/s3/aws4_request",
        "x-amz-security-token": state.new_id("tok"),
        "key": key,
        "policy": policy,
        "Content-Type": "multipart/form-data",
        "x-amz-signature": hmac.new(_SIGNING_KEY, policy.encode(), hashlib.sha256).hexdigest(),
    }


async def register_media(state: SandboxState, request: Request) -> Response:
    grant = await faulted(state, P, "register_media", ERRORS, authed(state, request, "pins:write"))
    if isinstance(grant, Response):
        return grant
    try:
        body = await request.json()
    except ValueError:
        return _err(400, 1, "Invalid request body.")
    if not isinstance(body, dict) or body.get("media_type") != "video":
        return _err(400, 1, "media_type must be video.")
    limited = write_limit(state, grant)
    if isinstance(limited, Response):
        return limited
    media_id = state.new_id(digits=19)
    params = upload_parameters(state, grant.account_id, media_id)
    objects(state, "media")[media_id] = {
        "owner": grant.account_id,
        "status": "registered",
        "params": params,
        "fails": processing_fails(state, P),
        "size": 0,
    }
    return JSONResponse(
        {
            "media_id": media_id,
            "media_type": "video",
            "upload_url": str(request.url_for("pinterest_s3_upload")),
            "upload_parameters": params,
        },
        201,
        headers=limited,
    )


Parts = list[tuple[str, bytes, str | None]]


def _policy_refusal(state: SandboxState, parts: Parts | None) -> Response | dict[str, Any]:
    """The registered media a POST-policy upload is for, or S3's refusal of the form."""
    if not parts:
        return _s3(400, "MalformedPOSTRequest", "The body of your POST request is not well-formed multipart/form-data.")
    if parts[-1][0] != "file" or any(name == "file" for name, _, _ in parts[:-1]):
        return _s3(400, "InvalidArgument", "The file must be the last field in the form.")
    fields = {name.lower(): value.decode("utf-8", "replace") for name, value, _ in parts[:-1]}
    item = next((m for m in objects(state, "media").values() if m["params"]["key"] == fields.get("key")), None)
    if item is None or item["status"] != "registered":
        return _s3(403, "AccessDenied", "Invalid according to Policy: key is not registered.")
    for name, value in item["params"].items():
        if not hmac.compare_digest(fields.get(name.lower(), ""), value):
            return _s3(403, "AccessDenied", f"Invalid according to Policy: {name} does not match.")
    return item


async def s3_upload(state: SandboxState, request: Request) -> Response:
    if (fault := await pre_faults(state, P, "upload", S3_ERRORS)) is not None:
        return fault
    parts = await multipart_fields(request)
    item = _policy_refusal(state, parts)
    if isinstance(item, Response):
        return item
    assert parts is not None
    if not parts[-1][1]:
        return _s3(400, "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed size")
    item.update(status="processing", size=len(parts[-1][1]), polls=0)
    return Response(status_code=204)


async def media_status(state: SandboxState, request: Request) -> Response:
    grant = await faulted(state, P, "media_status", ERRORS, authed(state, request, "pins:read"))
    if isinstance(grant, Response):
        return grant
    media_id = request.path_params["media_id"]
    item = objects(state, "media").get(media_id)
    if item is None or item["owner"] != grant.account_id:
        return _err(404, 50, "Media not found.")
    if item["status"] == "processing":  # one step per read: deterministic without wall-clock waits
        item["polls"] += 1
        if item["polls"] >= 2:
            item["status"] = "failed" if item["fails"] else "succeeded"
    return JSONResponse({"media_id": media_id, "media_type": "video", "status": item["status"]})


# ---- pins ------------------------------------------------------------------------------------------------------------
def pin_json(state: SandboxState, post: Any) -> dict[str, Any]:
    body = post.payload
    return {
        "id": post.post_id,
        "created_at": post.created_at.strftime("%Y-%m-%dT%H:%M:%S"),
        "board_id": body["board_id"],
        "title": body.get("title"),
        "description": body.get("description"),
        "link": body.get("link"),
        "alt_text": body.get("alt_text"),
        "board_owner": {"username": state.account(P, post.account_id).handle},
        "media": {"media_type": "video", "cover_image_url": body.get("cover_image_url"), "duration": None},
    }


def _text_problem(body: dict[str, Any]) -> str | None:
    for rule in PINTEREST_PIN:
        value = body.get(rule.field)
        if value is not None and (not isinstance(value, str) or rule.too_long(value)):
            return f"{rule.field} must be a string of at most {rule.limit} characters."
    link = body.get("link")
    if link and urlparse(link).scheme not in ("http", "https"):
        return "link must be an http(s) URL."
    return None


def _media_problem(state: SandboxState, grant: Grant, src: Any) -> str | None:
    if not isinstance(src, dict) or src.get("source_type") != "video_id":
        return "media_source.source_type must be video_id."
    item = objects(state, "media").get(str(src.get("media_id")))
    if item is None or item["owner"] != grant.account_id or item["status"] != "succeeded" or item.get("used"):
        return "media_source.media_id is not a processed video."
    key_frame = src.get("cover_image_key_frame_time")
    has_key_frame = isinstance(key_frame, int | float) and key_frame >= 0
    has_data = src.get("cover_image_content_type") in ("image/jpeg", "image/png") and src.get("cover_image_data")
    if not (src.get("cover_image_url") or has_key_frame or has_data):
        return "cover_image_url or cover_image_content_type is required."
    if has_data and _pin_cover(src) is None:
        return "cover_image_data is not a base64 JPEG or PNG image."
    return None


def _pin_cover(src: dict[str, Any]) -> dict[str, Any] | None:
    """The cover a video Pin was given: the decoded cover_image_data, else the URL, else the key frame time."""
    if data := src.get("cover_image_data"):
        try:
            raw = base64.b64decode(str(data), validate=True)
        except (ValueError, binascii.Error):
            return None
        return image_info(raw, "cover_image_data")
    if url := src.get("cover_image_url"):
        return {"kind": "url", "url": str(url), "via": "cover_image_url"}
    key_frame = src.get("cover_image_key_frame_time")
    return frame_info(float(key_frame) * 1000, "cover_image_key_frame_time") if key_frame is not None else None


def validate_pin(state: SandboxState, body: Any, grant: Grant) -> str | None:
    if not isinstance(body, dict):
        return "Invalid request body."
    if body.get("board_id") not in {b["id"] for b in boards_of(state, grant.account_id)}:
        return "board_id is not a board this user owns."
    return _text_problem(body) or _media_problem(state, grant, body.get("media_source"))


async def create_pin(state: SandboxState, request: Request) -> Response:
    grant = await faulted(state, P, "create_pin", ERRORS, authed(state, request, "pins:write", "boards:read"))
    if isinstance(grant, Response):
        return grant
    try:
        body = await request.json()
    except ValueError:
        body = None
    if problem := validate_pin(state, body, grant):
        return _err(400, 1, problem)
    limited = write_limit(state, grant)
    if isinstance(limited, Response):
        return limited
    src = body["media_source"]
    objects(state, "media")[str(src["media_id"])]["used"] = True
    payload = {k: body.get(k) for k in ("board_id", "title", "description", "link", "alt_text")}
    payload.update(media_id=str(src["media_id"]), cover_image_url=src.get("cover_image_url"), cover=_pin_cover(src))
    post = state.record_post(P, grant.account_id, state.new_id(digits=18), payload)
    await after_commit(state, P, "create_pin")
    return JSONResponse(pin_json(state, post), 201, headers=limited)


def _page_of(request: Request) -> tuple[int, int] | Response:
    try:
        size = int(request.query_params.get("page_size", "25"))
        start = int(base64.urlsafe_b64decode(request.query_params.get("bookmark", "") or "MA==").decode())
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return _err(400, 1, "Invalid page_size or bookmark.")
    if not 1 <= size <= 250:
        return _err(400, 1, "page_size must be between 1 and 250.")
    return size, start


async def board_pins(state: SandboxState, request: Request) -> Response:
    grant = await faulted(state, P, "board_pins", ERRORS, authed(state, request, "boards:read", "pins:read"))
    if isinstance(grant, Response):
        return grant
    board_id = request.path_params["board_id"]
    if board_id not in {b["id"] for b in boards_of(state, grant.account_id)}:
        return _err(404, 50, "Board not found.")
    paging = _page_of(request)
    if isinstance(paging, Response):
        return paging
    size, start = paging
    pins = [p for p in newest_posts(state, P, grant.account_id) if p.payload["board_id"] == board_id]
    more = start + size < len(pins)
    bookmark = base64.urlsafe_b64encode(str(start + size).encode()).decode() if more else None
    return JSONResponse({"items": [pin_json(state, p) for p in pins[start : start + size]], "bookmark": bookmark})


def _analytics_window(state: SandboxState, request: Request) -> tuple[list[str], date, date] | Response:
    """The wanted metric types and the window as sandbox dates, once the range (≤ 90 days, ≤ 90 days back)
    checks out. Callers send dates from their own calendar; the sandbox's clock may have been advanced, so a date
    is read relative to the caller's today (the offset between the two calendars is added)."""
    q = request.query_params
    try:
        start, end = date.fromisoformat(q["start_date"]), date.fromisoformat(q["end_date"])
    except (KeyError, ValueError):
        return _err(400, 1, "start_date and end_date (YYYY-MM-DD) are required.")
    today = state.clock.now().date()
    shift = today - datetime.now(UTC).date()
    start, end = start + shift, end + shift
    if start < today - timedelta(days=90) or end < start or end - start > timedelta(days=90):
        return _err(400, 1, "start_date cannot be more than 90 days back and the range at most 90 days.")
    wanted = [m for m in q.get("metric_types", "").split(",") if m]
    if not wanted or any(m not in METRICS for m in wanted):
        return _err(400, 1, f"metric_types must be a list of {', '.join(METRICS)}.")
    return wanted, start, end


def _counts_at(state: SandboxState, post: Any, at: datetime) -> dict[str, int]:
    return growth.counters(P, post.post_id, (min(at, state.clock.now()) - post.created_at).total_seconds())


def _window_values(before: dict[str, int], after: dict[str, int], wanted: list[str]) -> dict[str, int]:
    delta = {k: after[k] - before[k] for k in after}
    out = {m: delta[METRICS[m]] for m in wanted}
    if "VIDEO_AVG_WATCH_TIME" in out:
        out["VIDEO_AVG_WATCH_TIME"] = delta["watch_time_ms"] // max(1, delta["views"])
    return out


def _daily(state: SandboxState, post: Any, wanted: list[str], start: date, end: date) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    day = start
    while day <= end and day <= state.clock.now().date():
        begin = datetime.combine(day, time(), UTC)
        if begin + timedelta(days=1) <= post.created_at:
            rows.append({"date": day.isoformat(), "data_status": "BEFORE_PIN_CREATED"})
        else:
            before, after = _counts_at(state, post, begin), _counts_at(state, post, begin + timedelta(days=1))
            status = "READY" if begin + timedelta(days=1) <= state.clock.now() else "PROCESSING"
            rows.append(
                {"date": day.isoformat(), "data_status": status, "metrics": _window_values(before, after, wanted)}
            )
        day += timedelta(days=1)
    return rows


async def analytics(state: SandboxState, request: Request) -> Response:
    """Window sums over [start_date, end_date] (so a pin older than the window reports only its last 90 days),
    comments and reactions also as lifetime counts. A deleted pin is 404 code 50, another user's pin 403 code 3."""
    grant = await faulted(state, P, "analytics", ERRORS, authed(state, request, "pins:read"))
    if isinstance(grant, Response):
        return grant
    post = state.find_post(P, request.path_params["pin_id"])
    if post is None:
        return _err(404, 50, "Pin not found.")
    if post.account_id != grant.account_id:
        return _err(403, 3, "Not authorized to access analytics of this Pin.")
    window = _analytics_window(state, request)
    if isinstance(window, Response):
        return window
    wanted, start, end = window
    first = datetime.combine(start, time(), UTC)
    last = datetime.combine(end + timedelta(days=1), time(), UTC)
    summary = _window_values(_counts_at(state, post, first), _counts_at(state, post, last), wanted)
    now = state.metrics(post)
    return JSONResponse(
        {
            "all": {
                "daily_metrics": _daily(state, post, wanted, start, end),
                "summary_metrics": summary,
                "lifetime_metrics": {m: now[METRICS[m]] for m in LIFETIME if m in wanted},
            }
        }
    )


TABLE = [
    Endpoint("/v5/user_account", user_account),
    Endpoint("/v5/boards", boards),
    Endpoint("/v5/media", register_media, ("POST",)),
    Endpoint("/v5/media/{media_id}", media_status),
    Endpoint("/v5/pins", create_pin, ("POST",)),
    Endpoint("/v5/boards/{board_id}/pins", board_pins),
    Endpoint("/v5/pins/{pin_id}/analytics", analytics),
    Endpoint("/", s3_upload, ("POST",), "pinterest_s3_upload"),
]


def routes(state: SandboxState) -> list[BaseRoute]:
    return [*oauth.routes(OAUTH, state), *bind(state, TABLE)]
