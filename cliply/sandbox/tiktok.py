"""Emulated TikTok: Content Posting API v2 (direct post + inbox/draft), Display API video query/list, and OAuth v2.

Hosts share the /tiktok mount: www.tiktok.com (/v2/auth/authorize/), open.tiktokapis.com (/v2/...) and
open-upload.tiktokapis.com (PUT /video/?upload_id=&upload_token=).

Fault operations: "token", "creator_info", "init" (direct), "inbox_init", "upload" (each chunk PUT; lost_response
applies after the FINAL chunk committed the post), "status", "video_query", "video_list", "processing"
(processing_failed → FAILED, fail_reason from account extra "fail_reason", default "file_format_check_failed"),
"pull" (media_fetch_failed → FAILED video_pull_failed). A "media_fetch_failed" fault on "init" answers
url_ownership_unverified.

Account extra knobs: privacy_level_options, max_video_post_duration_sec, comment_disabled/duet_disabled/
stitch_disabled, audited (False → SELF_ONLY only), daily_post_cap, verified_url_prefixes.
"""

from __future__ import annotations

import re
import secrets
from functools import partial
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

from cliply.sandbox import growth, oauth
from cliply.sandbox.common import (
    Endpoint,
    after_commit,
    bind,
    newest_posts,
    pre_faults,
    processing_fails,
    require_grant,
    table,
)
from cliply.sandbox.counting import TIKTOK_TITLE
from cliply.sandbox.covers import frame_info
from cliply.sandbox.state import Grant, SandboxState

P = "tiktok"
MB = 1024 * 1024
MIN_CHUNK, MAX_CHUNK, MAX_FINAL_CHUNK, MAX_CHUNKS = 5 * MB, 64 * MB, 128 * MB, 1000
MAX_VIDEO_BYTES = 4 * 1024 * MB
ACCESS_TTL_S = 2 * 3600  # Nov-2026 docs: 2 h access, 180 d refresh, rotating
REFRESH_TTL_S = 180 * 86400
SCOPES = ("user.info.basic", "user.info.profile", "user.info.stats", "video.publish", "video.upload", "video.list")
PRIVACY_LEVELS = ("PUBLIC_TO_EVERYONE", "MUTUAL_FOLLOW_FRIENDS", "FOLLOWER_OF_CREATOR", "SELF_ONLY")
VIDEO_TYPES = ("video/mp4", "video/quicktime", "video/webm")
QUERY_FIELDS = (
    "id",
    "title",
    "video_description",
    "create_time",
    "share_url",
    "duration",
    "cover_image_url",
    "embed_link",
    "like_count",
    "comment_count",
    "share_count",
    "view_count",
)
# Per user token: init 6/min, creator_info 20/min, status 30/min; creator daily cap; 5 pending inbox shares/24 h.
LIMITS = {"init": (6, 60.0), "inbox_init": (6, 60.0), "creator_info": (20, 60.0), "status": (30, 60.0)}
DEFAULT_DAILY_CAP = 15
PENDING_SHARE_CAP = 5
STAGE_S = 2.0  # sandbox seconds per processing stage (status polls also advance one stage each)
_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")


def _log_id() -> str:
    return secrets.token_hex(16).upper()


def ok(data: Any, headers: dict[str, str] | None = None, status: int = 200) -> JSONResponse:
    return JSONResponse(
        {"data": data, "error": {"code": "ok", "message": "", "log_id": _log_id()}}, status, headers=headers
    )


def fail(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        {"data": {}, "error": {"code": code, "message": message, "log_id": _log_id()}}, status, headers=headers
    )


def _limit_headers(limit: int, remaining: int, reset_s: float) -> dict[str, str]:
    return {
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": str(max(0, remaining)),
        "X-RateLimit-Reset": str(max(1, int(reset_s + 0.999))),
    }


class Errors:
    """TikTok's envelope {"data":{},"error":{"code","message","log_id"}} for every scripted failure."""

    def auth_expired(self) -> Response:
        return fail(401, "access_token_invalid", "The access token is invalid or not found in the request.")

    def rate_limited(self, retry_after_s: float) -> Response:
        headers = {**_limit_headers(6, 0, retry_after_s), "Retry-After": str(max(1, int(retry_after_s)))}
        return fail(429, "rate_limit_exceeded", "API rate limit exceeded.", headers)

    def quota_exhausted(self, retry_after_s: float) -> Response:
        return fail(
            403,
            "spam_risk_too_many_posts",
            "The daily post cap from the API is reached for this creator.",
            {"Retry-After": str(max(1, int(retry_after_s)))},
        )

    def server_error(self, status: int) -> Response:
        return fail(status, "internal_error", "Something went wrong on TikTok's side.")

    def content_rejected(self) -> Response:
        return fail(403, "spam_risk_text", "The caption was flagged as spam risk.")

    def format_rejected(self) -> Response:
        return fail(400, "file_format_check_failed", "The video format is not supported.")

    def media_fetch_failed(self) -> Response:
        return fail(403, "url_ownership_unverified", "The video URL's domain or prefix is not verified.")

    def duplicate(self) -> Response:  # TikTok has no duplicate error: it answers with its generic param error
        return fail(400, "invalid_params", "Duplicate request.")


ERR = Errors()
OAUTH = oauth.OAuthVariant(
    platform=P,
    authorize_path="/v2/auth/authorize/",
    token_path="/v2/oauth/token/",
    errors=oauth.Rfc6749Errors(log_id=True),
    fault_errors=lambda _state: ERR,
    client_param="client_key",
    bad_response_type_redirect="invalid_request",
    authorize_invalid="client_key and redirect_uri are required",
    scope_separators=",",
    known_scopes=frozenset(SCOPES),
    scope_required=True,
    sandbox_scopes_filter=True,
    callback_scope=("scopes", ","),
    secret_required=True,
    form_required=True,
    invalid_client="client_key/client_secret",
    unsupported_grant="grant_type",
    access_ttl_s=ACCESS_TTL_S,
    refresh_ttl_s=REFRESH_TTL_S,
    account_field="open_id",
    scope_joiner=",",
    refresh_expires_in=("refresh_expires_in", "ttl"),
)  # PKCE is optional: TikTok requires it only of mobile and desktop apps


def _scope_check(grant: Grant, *needed: str) -> Response | None:
    if not any(s in grant.scopes for s in needed):
        return fail(401, "scope_not_authorized", f"The user did not authorize the scope required: {needed[0]}")
    return None


def _limit(state: SandboxState, grant: Grant, name: str) -> Response | None:
    limit, window = LIMITS[name]
    wait = state.hit_limit(P, grant.account_id, name, limit, window)
    if wait is None:
        return None
    headers = {**_limit_headers(limit, 0, wait), "Retry-After": str(max(1, int(wait + 0.999)))}
    return fail(429, "rate_limit_exceeded", "API rate limit exceeded, please retry later.", headers)


async def _json(request: Request) -> dict[str, Any] | Response:
    if not request.headers.get("content-type", "").startswith("application/json"):
        return fail(400, "invalid_params", "Content-Type must be application/json.")
    try:
        body = await request.json()
    except ValueError:
        return fail(400, "invalid_params", "The request body is not valid JSON.")
    return body if isinstance(body, dict) else fail(400, "invalid_params", "The request body must be an object.")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def check_chunks(video_size: Any, chunk_size: Any, count: Any) -> str | None:
    """TikTok's media-transfer arithmetic; None when the plan is acceptable, else the reason."""
    if not all(_is_int(v) for v in (video_size, chunk_size, count)):
        return "video_size, chunk_size and total_chunk_count must be integers"
    if video_size <= 0 or video_size > MAX_VIDEO_BYTES:
        return "video_size out of range"
    if video_size < MIN_CHUNK:
        if chunk_size != video_size or count != 1:
            return "videos under 5 MB must be uploaded as one chunk with chunk_size = video_size"
        return None
    if count == 1 and chunk_size == video_size:
        return None if video_size <= MAX_CHUNK else "videos over 64 MB must be uploaded in several chunks"
    if not MIN_CHUNK <= chunk_size <= MAX_CHUNK:
        return "chunk_size must be between 5 MB and 64 MB"
    if count != video_size // chunk_size:
        return "total_chunk_count must be floor(video_size / chunk_size)"
    if not 1 <= count <= MAX_CHUNKS:
        return "total_chunk_count must be 1..1000"
    if video_size - chunk_size * (count - 1) > MAX_FINAL_CHUNK:
        return "the final chunk may be at most 128 MB"
    return None


def jobs(state: SandboxState) -> dict[str, dict[str, Any]]:
    return table(state, "tiktok:publish")


def creator(state: SandboxState, grant: Grant) -> dict[str, Any]:
    acct = state.account(P, grant.account_id)
    audited = acct.extra.get("audited", True)
    options = list(acct.extra.get("privacy_level_options", PRIVACY_LEVELS)) if audited else ["SELF_ONLY"]
    return {
        "creator_avatar_url": f"https://p16-sign.tiktokcdn.com/{acct.account_id}.jpeg",
        "creator_username": acct.handle,
        "creator_nickname": acct.handle.title(),
        "privacy_level_options": options,
        "comment_disabled": bool(acct.extra.get("comment_disabled", False)),
        "duet_disabled": bool(acct.extra.get("duet_disabled", False)),
        "stitch_disabled": bool(acct.extra.get("stitch_disabled", False)),
        "max_video_post_duration_sec": int(acct.extra.get("max_video_post_duration_sec", 600)),
    }


# ---- Content Posting API ---------------------------------------------------------------------------------------------
async def creator_info(state: SandboxState, request: Request) -> Response:
    grant = require_grant(state, P, request, ERR)
    if isinstance(grant, Response):
        return grant
    if (err := _scope_check(grant, "video.publish")) or (err := _limit(state, grant, "creator_info")):
        return err
    if fault := await pre_faults(state, P, "creator_info", ERR):
        return fault
    return ok(creator(state, grant))


def _pull_source(state: SandboxState, grant: Grant, source: dict[str, Any]) -> tuple[Response | None, dict[str, Any]]:
    url = source.get("video_url")
    prefixes = state.account(P, grant.account_id).extra.get("verified_url_prefixes", ("https://",))
    if not isinstance(url, str) or not url.startswith("https://"):
        return fail(400, "invalid_params", "video_url must be a public https URL"), {}
    if not url.startswith(tuple(prefixes)):
        return ERR.media_fetch_failed(), {}
    return None, {"source": "PULL_FROM_URL", "video_url": url}


def source_error(state: SandboxState, grant: Grant, source: Any) -> tuple[Response | None, dict[str, Any]]:
    if not isinstance(source, dict) or source.get("source") not in ("FILE_UPLOAD", "PULL_FROM_URL"):
        return fail(400, "invalid_params", "source_info.source must be FILE_UPLOAD or PULL_FROM_URL"), {}
    if source["source"] == "PULL_FROM_URL":
        return _pull_source(state, grant, source)
    reason = check_chunks(source.get("video_size"), source.get("chunk_size"), source.get("total_chunk_count"))
    if reason:
        return fail(400, "invalid_params", reason), {}
    return None, {k: source[k] for k in ("source", "video_size", "chunk_size", "total_chunk_count")}


def _privacy_error(state: SandboxState, grant: Grant, privacy: Any) -> Response | None:
    if privacy not in PRIVACY_LEVELS:
        return fail(400, "invalid_params", "post_info.privacy_level is required")
    options = creator(state, grant)["privacy_level_options"]
    if privacy in options:
        return None
    if options == ["SELF_ONLY"]:
        return fail(
            403,
            "unaudited_client_can_only_post_to_private_accounts",
            "Unaudited clients can only post with SELF_ONLY visibility.",
        )
    return fail(400, "privacy_level_option_mismatch", "privacy_level is not in privacy_level_options")


BOOLEAN_POST_INFO = (
    "disable_comment",
    "disable_duet",
    "disable_stitch",
    "brand_content_toggle",
    "brand_organic_toggle",
    "is_aigc",
)


def post_info_error(state: SandboxState, grant: Grant, info: Any) -> Response | None:
    if not isinstance(info, dict):
        return fail(400, "invalid_params", "post_info is required")
    if err := _privacy_error(state, grant, info.get("privacy_level")):
        return err
    title = info.get("title", "")
    if not isinstance(title, str) or TIKTOK_TITLE.too_long(title):
        return fail(400, "invalid_params", "post_info.title exceeds 2200 UTF-16 units")
    for key in BOOLEAN_POST_INFO:
        if key in info and not isinstance(info[key], bool):
            return fail(400, "invalid_params", f"post_info.{key} must be a boolean")
    cover = info.get("video_cover_timestamp_ms", 0)
    if not _is_int(cover) or cover < 0:
        return fail(400, "invalid_params", "video_cover_timestamp_ms must be a non-negative integer")
    if info.get("brand_content_toggle") and info.get("privacy_level") == "SELF_ONLY":
        return fail(400, "invalid_params", "branded content cannot be private (SELF_ONLY)")
    return None


def _cap_error(state: SandboxState, grant: Grant, mode: str) -> Response | None:
    """Direct posts count against the creator's daily cap, inbox shares against the pending-share cap."""
    if mode == "direct":
        cap = int(state.account(P, grant.account_id).extra.get("daily_post_cap", DEFAULT_DAILY_CAP))
        wait = state.hit_limit(P, grant.account_id, "daily_posts", cap, 86400.0)
        code, message = "spam_risk_too_many_posts", "The daily post cap is reached for this creator."
    else:
        wait = state.hit_limit(P, grant.account_id, "pending_shares", PENDING_SHARE_CAP, 86400.0)
        code, message = "spam_risk_too_many_pending_share", "Too many pending inbox shares."
    return None if wait is None else fail(403, code, message, {"Retry-After": str(int(wait + 0.999))})


async def _init_request(
    state: SandboxState, request: Request, mode: str
) -> tuple[Grant, dict[str, Any], dict[str, Any]] | Response:
    """What an init checks before committing, in TikTok's order; (grant, body, source) when it passes."""
    grant = require_grant(state, P, request, ERR)
    if isinstance(grant, Response):
        return grant
    if err := _scope_check(grant, "video.publish" if mode == "direct" else "video.upload"):
        return err
    body = await _json(request)
    if isinstance(body, Response):
        return body
    if mode == "direct" and (err := post_info_error(state, grant, body.get("post_info"))):
        return err
    err, source = source_error(state, grant, body.get("source_info"))
    if err:
        return err
    if err := _limit(state, grant, "init" if mode == "direct" else "inbox_init") or _cap_error(state, grant, mode):
        return err
    return grant, body, source


async def init(mode: str, state: SandboxState, request: Request) -> Response:
    checked = await _init_request(state, request, mode)
    if isinstance(checked, Response):
        return checked
    grant, body, source = checked
    op = "init" if mode == "direct" else "inbox_init"
    if fault := await pre_faults(state, P, op, ERR):
        return fault
    kind = "file" if source["source"] == "FILE_UPLOAD" else "url"
    publish_id = f"v_{'pub' if mode == 'direct' else 'inbox'}_{kind}~v2-1.{state.new_id(digits=19)}"
    job: dict[str, Any] = {
        "publish_id": publish_id,
        "account_id": grant.account_id,
        "mode": mode,
        "source": source,
        "post_info": body.get("post_info") or {},
        "uploaded": 0,
        "received_chunks": 0,
        "done_at": None,
        "polls": 0,
        "fails": processing_fails(state, P),
        "post_id": None,
        "upload_token": secrets.token_hex(8),
    }
    data: dict[str, Any] = {"publish_id": publish_id}
    if kind == "file":
        data["upload_url"] = _upload_url(state, request, job)
    else:
        _start_pull(state, job)
    with state.lock:
        jobs(state)[publish_id] = job
    await after_commit(state, P, op)
    return ok(data)


def _upload_url(state: SandboxState, request: Request, job: dict[str, Any]) -> str:
    job["upload_id"] = state.new_id(digits=18)
    root = f"{request.url.scheme}://{request.url.netloc}{request.scope.get('root_path', '')}"
    return f"{root}/video/?{urlencode({'upload_id': job['upload_id'], 'upload_token': job['upload_token']})}"


def _start_pull(state: SandboxState, job: dict[str, Any]) -> None:
    """TikTok fetches the URL itself: the bytes are "in" at once."""
    if state.take_fault(P, "pull", frozenset({"media_fetch_failed"})):
        job["fails"], job["fail_reason"] = True, "video_pull_failed"
    job["downloaded"] = 0
    finish(state, job)


def finish(state: SandboxState, job: dict[str, Any]) -> None:
    """All bytes are in: the post is committed (TikTok will publish it) unless processing will fail."""
    job["done_at"] = state.clock.timestamp()
    if job["fails"]:
        job.setdefault(
            "fail_reason", state.account(P, job["account_id"]).extra.get("fail_reason", "file_format_check_failed")
        )
        return
    job["post_id"] = state.new_id(digits=19)
    if job["source"]["source"] == "PULL_FROM_URL":
        job["downloaded"] = 1
    state.record_post(
        P,
        job["account_id"],
        job["post_id"] if job["mode"] == "direct" else job["publish_id"],
        {
            "mode": job["mode"],
            "publish_id": job["publish_id"],
            "post_info": job["post_info"],
            "source": job["source"]["source"],
            "cover": _cover_of(job["post_info"]),
        },
    )


def _cover_of(post_info: Any) -> dict[str, Any] | None:
    """TikTok's cover is a frame of the video, chosen by video_cover_timestamp_ms (no image can be sent)."""
    at = post_info.get("video_cover_timestamp_ms") if isinstance(post_info, dict) else None
    return frame_info(at, "video_cover_timestamp_ms") if isinstance(at, int) and not isinstance(at, bool) else None


# ---- open-upload.tiktokapis.com --------------------------------------------------------------------------------------
def _chunk_expectation(job: dict[str, Any], request: Request) -> tuple[int, bool] | Response:
    """(expected size, final?) of the next chunk, or the refusal of its headers."""
    if request.headers.get("content-type", "").split(";")[0] not in VIDEO_TYPES:
        return fail(400, "invalid_file_upload", "Content-Type must be video/mp4, video/quicktime or video/webm.")
    m = _RANGE.match(request.headers.get("content-range", ""))
    if not m:
        return fail(400, "invalid_file_upload", "Content-Range must be 'bytes first-last/total'.")
    first, last, total = map(int, m.groups())
    if job["done_at"] is not None:
        return fail(400, "invalid_file_upload", "The upload is already complete.")
    src, index = job["source"], job["received_chunks"]
    final = index == src["total_chunk_count"] - 1
    expected = src["video_size"] - src["chunk_size"] * index if final else src["chunk_size"]
    if total != src["video_size"] or first != job["uploaded"] or last - first + 1 != expected:
        return fail(416, "invalid_file_upload", "Chunks must be sent in order with the planned sizes.")
    return expected, final


async def upload(state: SandboxState, request: Request) -> Response:
    upload_id, token_ = request.query_params.get("upload_id"), request.query_params.get("upload_token")
    with state.lock:
        job = next((j for j in jobs(state).values() if j.get("upload_id") == upload_id), None)
    if job is None or token_ != job["upload_token"]:
        return fail(404, "invalid_params", "Unknown or expired upload_url.")
    expectation = _chunk_expectation(job, request)
    if isinstance(expectation, Response):
        return expectation
    expected, final = expectation
    if fault := await pre_faults(state, P, "upload", ERR):
        return fault
    body = await request.body()
    if len(body) != expected:
        return fail(400, "invalid_file_upload", "The body length does not match Content-Range.")
    with state.lock:
        job["uploaded"] += len(body)
        job["received_chunks"] += 1
        if not final:
            return Response(status_code=206, headers={"Range": f"bytes=0-{job['uploaded'] - 1}"})
        finish(state, job)
    await after_commit(state, P, "upload")
    return Response(status_code=201)


# ---- status ----------------------------------------------------------------------------------------------------------
def _terminal(job: dict[str, Any], stage: int) -> dict[str, Any]:
    if job["fails"]:
        return {"status": "FAILED", "fail_reason": job["fail_reason"]}
    if job["mode"] == "inbox":
        return {"status": "SEND_TO_USER_INBOX"}
    # The public id comes after moderation, and never for private (SELF_ONLY) posts.
    public = stage >= 3 and job["post_info"].get("privacy_level") != "SELF_ONLY"
    return {"status": "PUBLISH_COMPLETE", **({"publicaly_available_post_id": [int(job["post_id"])]} if public else {})}


def status_of(state: SandboxState, job: dict[str, Any]) -> dict[str, Any]:
    is_url = job["source"]["source"] == "PULL_FROM_URL"
    out: dict[str, Any] = {
        "status": "PROCESSING_DOWNLOAD" if is_url else "PROCESSING_UPLOAD",
        "fail_reason": "",
        "publicaly_available_post_id": [],
        "uploaded_bytes": 0 if is_url else job["uploaded"],
    }
    if is_url:
        out["downloaded_bytes"] = 0
    if job["done_at"] is None:
        return out
    job["polls"] += 1
    stage = max(job["polls"] - 1, int((state.clock.timestamp() - job["done_at"]) // STAGE_S))
    # After the bytes: PROCESSING_UPLOAD → PROCESSING_DOWNLOAD → terminal (post id one stage later).
    if stage >= 1:
        out["status"] = "PROCESSING_DOWNLOAD"
    if stage >= 2:
        out.update(_terminal(job, stage))
    if is_url and not job["fails"]:
        out["downloaded_bytes"] = 1024 * 1024
    return out


async def status(state: SandboxState, request: Request) -> Response:
    grant = require_grant(state, P, request, ERR)
    if isinstance(grant, Response):
        return grant
    if err := _scope_check(grant, "video.publish", "video.upload"):
        return err
    body = await _json(request)
    if isinstance(body, Response):
        return body
    if err := _limit(state, grant, "status"):
        return err
    if fault := await pre_faults(state, P, "status", ERR):
        return fault
    with state.lock:
        job = jobs(state).get(str(body.get("publish_id", "")))
        if job is None or job["account_id"] != grant.account_id:
            return fail(400, "invalid_params", "publish_id not found")
        return ok(status_of(state, job))


# ---- Display API -----------------------------------------------------------------------------------------------------
def video_fields(request: Request) -> list[str] | Response:
    fields = [f for f in request.query_params.get("fields", "").split(",") if f]
    if not fields or any(f not in QUERY_FIELDS for f in fields):
        return fail(400, "invalid_params", "fields must list supported video fields")
    return fields


def video_obj(state: SandboxState, post: Any, fields: list[str]) -> dict[str, Any]:
    m = state.metrics(post)
    info = post.payload.get("post_info", {})
    handle = state.account(P, post.account_id).handle
    full = {
        "id": post.post_id,
        "title": info.get("title", ""),
        "video_description": info.get("title", ""),
        "create_time": int(post.created_at.timestamp()),
        "duration": 4,
        "share_url": f"https://www.tiktok.com/@{handle}/video/{post.post_id}",
        "embed_link": f"https://www.tiktok.com/player/v1/{post.post_id}",
        "cover_image_url": f"https://p16-sign.tiktokcdn.com/{post.post_id}.jpeg",
        "like_count": m["likes"],
        "comment_count": m["comments"],
        "share_count": m["shares"],
        "view_count": m["views"],
    }
    return {f: full[f] for f in fields}


def own_public_posts(state: SandboxState, grant: Grant) -> list[Any]:
    """Newest first; inbox drafts are not public."""
    return [p for p in newest_posts(state, P, grant.account_id) if p.payload.get("mode") == "direct"]


async def display_request(state: SandboxState, request: Request) -> tuple[Grant, list[str], dict[str, Any]] | Response:
    """What /video/query/ and /video/list/ check first, in TikTok's order: token, scope, fields, JSON body."""
    grant = require_grant(state, P, request, ERR)
    if isinstance(grant, Response):
        return grant
    if err := _scope_check(grant, "video.list"):
        return err
    fields = video_fields(request)
    if isinstance(fields, Response):
        return fields
    body = await _json(request)
    if isinstance(body, Response):
        return body
    return grant, fields, body


async def video_query(state: SandboxState, request: Request) -> Response:
    checked = await display_request(state, request)
    if isinstance(checked, Response):
        return checked
    grant, fields, body = checked
    ids = (body.get("filters") or {}).get("video_ids")
    if not isinstance(ids, list) or not 1 <= len(ids) <= 20:
        return fail(400, "invalid_params", "filters.video_ids must hold 1..20 ids")
    if fault := await pre_faults(state, P, "video_query", ERR):
        return fault
    wanted = {str(i) for i in ids}
    videos = [
        video_obj(state, p, fields)
        for p in own_public_posts(state, grant)
        if p.post_id in wanted and state.age_s(p) >= query_lag_s(state, p)
    ]
    # Only the caller's own videos; a deleted, foreign or not-yet-indexed id is simply absent (no error).
    return ok({"videos": videos, "cursor": 0, "has_more": False})


def query_lag_s(state: SandboxState, post: Any) -> float:
    """Display API reads are eventually consistent: a just-published video is missing from /video/query/ for a
    while (30 s – 5 min per video; account extra `query_lag_s` pins it)."""
    pinned = state.account(P, post.account_id).extra.get("query_lag_s")
    return float(pinned) if pinned is not None else growth.delay_s(P, post.post_id, "query", 30, 300)


async def video_list(state: SandboxState, request: Request) -> Response:
    checked = await display_request(state, request)
    if isinstance(checked, Response):
        return checked
    grant, fields, body = checked
    max_count = body.get("max_count", 10)
    if not _is_int(max_count) or not 1 <= max_count <= 20:
        return fail(400, "invalid_params", "max_count must be 1..20")
    if fault := await pre_faults(state, P, "video_list", ERR):
        return fault
    posts = own_public_posts(state, grant)
    cursor = body.get("cursor")
    if _is_int(cursor):  # cursor = create_time in ms; only older videos
        posts = [p for p in posts if p.created_at.timestamp() * 1000 < cursor]
    page = posts[:max_count]
    next_cursor = int(page[-1].created_at.timestamp() * 1000) if page else 0
    return ok(
        {
            "videos": [video_obj(state, p, fields) for p in page],
            "cursor": next_cursor,
            "has_more": len(posts) > max_count,
        }
    )


TABLE = [
    Endpoint("/v2/post/publish/creator_info/query/", creator_info, ("POST",)),
    Endpoint("/v2/post/publish/video/init/", partial(init, "direct"), ("POST",), "direct_init"),
    Endpoint("/v2/post/publish/inbox/video/init/", partial(init, "inbox"), ("POST",), "inbox_init"),
    Endpoint("/v2/post/publish/status/fetch/", status, ("POST",)),
    Endpoint("/v2/video/query/", video_query, ("POST",)),
    Endpoint("/v2/video/list/", video_list, ("POST",)),
    Endpoint("/video/", upload, ("PUT",)),
]


def routes(state: SandboxState) -> list[BaseRoute]:
    return [*oauth.routes(OAUTH, state), *bind(state, TABLE)]
