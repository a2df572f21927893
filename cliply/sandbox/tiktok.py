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
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from cliply.sandbox.common import after_commit, pre_faults, processing_fails, require_grant
from cliply.sandbox.state import Grant, OAuthFailure, SandboxState

P = "tiktok"
MB = 1024 * 1024
MIN_CHUNK, MAX_CHUNK, MAX_FINAL_CHUNK, MAX_CHUNKS = 5 * MB, 64 * MB, 128 * MB, 1000
MAX_VIDEO_BYTES = 4 * 1024 * MB
MAX_TITLE_UTF16 = 2200
ACCESS_TTL_S = 2 * 3600  # Nov-2026 docs: 2 h access, 180 d refresh, rotating
REFRESH_TTL_S = 180 * 86400
SCOPES = ("user.info.basic", "user.info.profile", "user.info.stats", "video.publish", "video.upload", "video.list")
PRIVACY_LEVELS = ("PUBLIC_TO_EVERYONE", "MUTUAL_FOLLOW_FRIENDS", "FOLLOWER_OF_CREATOR", "SELF_ONLY")
VIDEO_TYPES = ("video/mp4", "video/quicktime", "video/webm")
QUERY_FIELDS = ("id", "title", "video_description", "create_time", "share_url", "duration", "cover_image_url",
                "embed_link", "like_count", "comment_count", "share_count", "view_count")
# Per user token: init 6/min, creator_info 20/min, status 30/min; creator daily cap; 5 pending inbox shares/24 h.
LIMITS = {"init": (6, 60.0), "inbox_init": (6, 60.0), "creator_info": (20, 60.0), "status": (30, 60.0)}
DEFAULT_DAILY_CAP = 15
PENDING_SHARE_CAP = 5
STAGE_S = 2.0  # sandbox seconds per processing stage (status polls also advance one stage each)
_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")


def _log_id() -> str:
    return secrets.token_hex(16).upper()


def ok(data: Any, headers: dict[str, str] | None = None, status: int = 200) -> JSONResponse:
    return JSONResponse({"data": data, "error": {"code": "ok", "message": "", "log_id": _log_id()}}, status,
                        headers=headers)


def fail(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"data": {}, "error": {"code": code, "message": message, "log_id": _log_id()}}, status,
                        headers=headers)


def _limit_headers(limit: int, remaining: int, reset_s: float) -> dict[str, str]:
    return {"X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": str(max(0, remaining)),
            "X-RateLimit-Reset": str(max(1, int(reset_s + 0.999)))}


class Errors:
    """TikTok's envelope {"data":{},"error":{"code","message","log_id"}} for every scripted failure."""

    def auth_expired(self) -> Response:
        return fail(401, "access_token_invalid", "The access token is invalid or not found in the request.")

    def rate_limited(self, retry_after_s: float) -> Response:
        headers = {**_limit_headers(6, 0, retry_after_s), "Retry-After": str(max(1, int(retry_after_s)))}
        return fail(429, "rate_limit_exceeded", "API rate limit exceeded.", headers)

    def quota_exhausted(self, retry_after_s: float) -> Response:
        return fail(403, "spam_risk_too_many_posts", "The daily post cap from the API is reached for this creator.",
                    {"Retry-After": str(max(1, int(retry_after_s)))})

    def server_error(self, status: int) -> Response:
        return fail(status, "internal_error", "Something went wrong on TikTok's side.")

    def content_rejected(self) -> Response:
        return fail(403, "spam_risk_text", "The caption was flagged as spam risk.")

    def media_fetch_failed(self) -> Response:
        return fail(403, "url_ownership_unverified", "The video URL's domain or prefix is not verified.")

    def duplicate(self) -> Response:  # TikTok has no duplicate error: it answers with its generic param error
        return fail(400, "invalid_params", "Duplicate request.")


ERR = Errors()


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


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


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


def routes(state: SandboxState) -> list[BaseRoute]:
    def jobs() -> dict[str, dict[str, Any]]:
        return state.objects.setdefault("tiktok:publish", {})

    def creator(grant: Grant) -> dict[str, Any]:
        acct = state.account(P, grant.account_id)
        audited = acct.extra.get("audited", True)
        options = list(acct.extra.get("privacy_level_options", PRIVACY_LEVELS)) if audited else ["SELF_ONLY"]
        return {
            "creator_avatar_url": f"https://p16-sign.tiktokcdn.com/{acct.account_id}.jpeg",
            "creator_username": acct.handle, "creator_nickname": acct.handle.title(),
            "privacy_level_options": options,
            "comment_disabled": bool(acct.extra.get("comment_disabled", False)),
            "duet_disabled": bool(acct.extra.get("duet_disabled", False)),
            "stitch_disabled": bool(acct.extra.get("stitch_disabled", False)),
            "max_video_post_duration_sec": int(acct.extra.get("max_video_post_duration_sec", 600)),
        }

    # ---- OAuth --------------------------------------------------------------------------------------------
    async def authorize(request: Request) -> Response:
        q = request.query_params
        if not q.get("client_key") or not q.get("redirect_uri"):
            return JSONResponse({"error": "invalid_request", "error_description": "client_key and redirect_uri"
                                 " are required"}, 400)
        sep = "&" if "?" in q["redirect_uri"] else "?"
        requested = tuple(s for s in q.get("scope", "").split(",") if s)
        if q.get("response_type") != "code" or not requested or any(s not in SCOPES for s in requested):
            err = urlencode({"error": "invalid_scope" if q.get("response_type") == "code" else "invalid_request",
                             "state": q.get("state", "")})
            return RedirectResponse(f"{q['redirect_uri']}{sep}{err}", 302)
        granted = requested
        if q.get("sandbox_scopes") is not None:  # the user unticked some scopes on the consent screen
            subset = set(q["sandbox_scopes"].replace(",", " ").split())
            granted = tuple(s for s in requested if s in subset)
        code = state.authorize(P, client_id=q["client_key"], redirect_uri=q["redirect_uri"], scopes=granted,
                               challenge=q.get("code_challenge"), method=q.get("code_challenge_method"),
                               account_id=q.get("sandbox_account"))
        query = urlencode({"code": code, "scopes": ",".join(granted), "state": q.get("state", "")})
        return RedirectResponse(f"{q['redirect_uri']}{sep}{query}", 302)

    async def token(request: Request) -> Response:
        if fault := await pre_faults(state, P, "token", ERR):
            return fault
        if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            return JSONResponse({"error": "invalid_request", "error_description": "form body expected",
                                 "log_id": _log_id()}, 400)
        f = dict(parse_qsl((await request.body()).decode()))  # x-www-form-urlencoded, as TikTok requires
        if not f.get("client_key") or not f.get("client_secret"):
            return JSONResponse({"error": "invalid_client", "error_description": "client_key/client_secret",
                                 "log_id": _log_id()}, 401)
        try:
            if f.get("grant_type") == "authorization_code":
                ac = state.redeem_code(P, f.get("code", ""), client_id=f["client_key"],
                                       redirect_uri=f.get("redirect_uri", ""), verifier=f.get("code_verifier"),
                                       pkce_required=False)  # PKCE is mandatory only for mobile/desktop apps
                grant = state.issue_grant(P, ac.account_id, ac.scopes, access_ttl_s=ACCESS_TTL_S,
                                          refresh_ttl_s=REFRESH_TTL_S, client_id=f["client_key"])
            elif f.get("grant_type") == "refresh_token":
                grant = state.refresh_grant(P, f.get("refresh_token", ""), access_ttl_s=ACCESS_TTL_S,
                                            refresh_ttl_s=REFRESH_TTL_S, rotate=True)
            else:
                raise OAuthFailure("unsupported_grant_type", "grant_type")
        except OAuthFailure as exc:
            return JSONResponse({"error": exc.error, "error_description": exc.description, "log_id": _log_id()}, 400)
        return JSONResponse({
            "access_token": grant.access_token, "expires_in": ACCESS_TTL_S, "open_id": grant.account_id,
            "refresh_token": grant.refresh_token, "refresh_expires_in": REFRESH_TTL_S,
            "scope": ",".join(grant.scopes), "token_type": "Bearer",
        })

    # ---- Content Posting API ----------------------------------------------------------------------------------
    async def creator_info(request: Request) -> Response:
        grant = require_grant(state, P, request, ERR)
        if isinstance(grant, Response):
            return grant
        if (err := _scope_check(grant, "video.publish")) or (err := _limit(state, grant, "creator_info")):
            return err
        if fault := await pre_faults(state, P, "creator_info", ERR):
            return fault
        return ok(creator(grant))

    def source_error(grant: Grant, source: Any) -> tuple[Response | None, dict[str, Any]]:
        if not isinstance(source, dict) or source.get("source") not in ("FILE_UPLOAD", "PULL_FROM_URL"):
            return fail(400, "invalid_params", "source_info.source must be FILE_UPLOAD or PULL_FROM_URL"), {}
        if source["source"] == "PULL_FROM_URL":
            url = source.get("video_url")
            prefixes = state.account(P, grant.account_id).extra.get("verified_url_prefixes", ("https://",))
            if not isinstance(url, str) or not url.startswith("https://"):
                return fail(400, "invalid_params", "video_url must be a public https URL"), {}
            if not url.startswith(tuple(prefixes)):
                return ERR.media_fetch_failed(), {}
            return None, {"source": "PULL_FROM_URL", "video_url": url}
        reason = check_chunks(source.get("video_size"), source.get("chunk_size"), source.get("total_chunk_count"))
        if reason:
            return fail(400, "invalid_params", reason), {}
        return None, {k: source[k] for k in ("source", "video_size", "chunk_size", "total_chunk_count")}

    def post_info_error(grant: Grant, info: Any) -> Response | None:
        if not isinstance(info, dict):
            return fail(400, "invalid_params", "post_info is required")
        privacy = info.get("privacy_level")
        if privacy not in PRIVACY_LEVELS:
            return fail(400, "invalid_params", "post_info.privacy_level is required")
        c = creator(grant)
        if privacy not in c["privacy_level_options"]:
            if c["privacy_level_options"] == ["SELF_ONLY"]:
                return fail(403, "unaudited_client_can_only_post_to_private_accounts",
                            "Unaudited clients can only post with SELF_ONLY visibility.")
            return fail(400, "privacy_level_option_mismatch", "privacy_level is not in privacy_level_options")
        title = info.get("title", "")
        if not isinstance(title, str) or _utf16(title) > MAX_TITLE_UTF16:
            return fail(400, "invalid_params", "post_info.title exceeds 2200 UTF-16 units")
        for key in ("disable_comment", "disable_duet", "disable_stitch", "brand_content_toggle",
                    "brand_organic_toggle", "is_aigc"):
            if key in info and not isinstance(info[key], bool):
                return fail(400, "invalid_params", f"post_info.{key} must be a boolean")
        cover = info.get("video_cover_timestamp_ms", 0)
        if not _is_int(cover) or cover < 0:
            return fail(400, "invalid_params", "video_cover_timestamp_ms must be a non-negative integer")
        if info.get("brand_content_toggle") and privacy == "SELF_ONLY":
            return fail(400, "invalid_params", "branded content cannot be private (SELF_ONLY)")
        return None

    async def init(request: Request, mode: str) -> Response:
        op = "init" if mode == "direct" else "inbox_init"
        grant = require_grant(state, P, request, ERR)
        if isinstance(grant, Response):
            return grant
        if err := _scope_check(grant, "video.publish" if mode == "direct" else "video.upload"):
            return err
        body = await _json(request)
        if isinstance(body, Response):
            return body
        if mode == "direct" and (err := post_info_error(grant, body.get("post_info"))):
            return err
        err, source = source_error(grant, body.get("source_info"))
        if err:
            return err
        if err := _limit(state, grant, op):
            return err
        acct = state.account(P, grant.account_id)
        if mode == "direct":
            cap = int(acct.extra.get("daily_post_cap", DEFAULT_DAILY_CAP))
            wait = state.hit_limit(P, grant.account_id, "daily_posts", cap, 86400.0)
            if wait is not None:
                return fail(403, "spam_risk_too_many_posts", "The daily post cap is reached for this creator.",
                            {"Retry-After": str(int(wait + 0.999))})
        else:
            wait = state.hit_limit(P, grant.account_id, "pending_shares", PENDING_SHARE_CAP, 86400.0)
            if wait is not None:
                return fail(403, "spam_risk_too_many_pending_share", "Too many pending inbox shares.",
                            {"Retry-After": str(int(wait + 0.999))})
        if fault := await pre_faults(state, P, op, ERR):
            return fault
        kind = "file" if source["source"] == "FILE_UPLOAD" else "url"
        publish_id = f"v_{'pub' if mode == 'direct' else 'inbox'}_{kind}~v2-1.{state.new_id(digits=19)}"
        job: dict[str, Any] = {
            "publish_id": publish_id, "account_id": grant.account_id, "mode": mode, "source": source,
            "post_info": body.get("post_info") or {}, "uploaded": 0, "received_chunks": 0, "done_at": None,
            "polls": 0, "fails": processing_fails(state, P), "post_id": None, "upload_token": secrets.token_hex(8),
        }
        data: dict[str, Any] = {"publish_id": publish_id}
        if kind == "file":
            upload_id = state.new_id(digits=18)
            job["upload_id"] = upload_id
            root = f"{request.url.scheme}://{request.url.netloc}{request.scope.get('root_path', '')}"
            query = urlencode({"upload_id": upload_id, "upload_token": job["upload_token"]})
            data["upload_url"] = f"{root}/video/?{query}"
        else:
            if state.take_fault(P, "pull", frozenset({"media_fetch_failed"})):
                job["fails"], job["fail_reason"] = True, "video_pull_failed"
            job["downloaded"] = 0
            finish(job)  # TikTok fetches the URL itself
        with state.lock:
            jobs()[publish_id] = job
        await after_commit(state, P, op)
        return ok(data)

    def finish(job: dict[str, Any]) -> None:
        """All bytes are in: the post is committed (TikTok will publish it) unless processing will fail."""
        job["done_at"] = state.clock.timestamp()
        if job["fails"]:
            job.setdefault("fail_reason", state.account(P, job["account_id"]).extra.get(
                "fail_reason", "file_format_check_failed"))
            return
        job["post_id"] = state.new_id(digits=19)
        if job["source"]["source"] == "PULL_FROM_URL":
            job["downloaded"] = 1
        state.record_post(P, job["account_id"], job["post_id"] if job["mode"] == "direct" else job["publish_id"],
                          {"mode": job["mode"], "publish_id": job["publish_id"], "post_info": job["post_info"],
                           "source": job["source"]["source"]})

    async def upload(request: Request) -> Response:
        upload_id, token_ = request.query_params.get("upload_id"), request.query_params.get("upload_token")
        with state.lock:
            job = next((j for j in jobs().values() if j.get("upload_id") == upload_id), None)
        if job is None or token_ != job["upload_token"]:
            return fail(404, "invalid_params", "Unknown or expired upload_url.")
        src = job["source"]
        if request.headers.get("content-type", "").split(";")[0] not in VIDEO_TYPES:
            return fail(400, "invalid_file_upload", "Content-Type must be video/mp4, video/quicktime or video/webm.")
        m = _RANGE.match(request.headers.get("content-range", ""))
        if not m:
            return fail(400, "invalid_file_upload", "Content-Range must be 'bytes first-last/total'.")
        first, last, total = map(int, m.groups())
        if job["done_at"] is not None:
            return fail(400, "invalid_file_upload", "The upload is already complete.")
        index = job["received_chunks"]
        final = index == src["total_chunk_count"] - 1
        expected = src["video_size"] - src["chunk_size"] * index if final else src["chunk_size"]
        if total != src["video_size"] or first != job["uploaded"] or last - first + 1 != expected:
            return fail(416, "invalid_file_upload", "Chunks must be sent in order with the planned sizes.")
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
            finish(job)
        await after_commit(state, P, "upload")
        return Response(status_code=201)

    def status_of(job: dict[str, Any]) -> dict[str, Any]:
        src = job["source"]
        is_url = src["source"] == "PULL_FROM_URL"
        out: dict[str, Any] = {"status": "PROCESSING_DOWNLOAD" if is_url else "PROCESSING_UPLOAD",
                               "fail_reason": "", "publicaly_available_post_id": [],
                               "uploaded_bytes": 0 if is_url else job["uploaded"]}
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
            if job["fails"]:
                out["status"], out["fail_reason"] = "FAILED", job["fail_reason"]
            elif job["mode"] == "inbox":
                out["status"] = "SEND_TO_USER_INBOX"
            else:
                out["status"] = "PUBLISH_COMPLETE"
                # The public id comes after moderation, and never for private (SELF_ONLY) posts.
                if stage >= 3 and job["post_info"].get("privacy_level") != "SELF_ONLY":
                    out["publicaly_available_post_id"] = [int(job["post_id"])]
        if is_url and not job["fails"]:
            out["downloaded_bytes"] = 1024 * 1024
        return out

    async def status(request: Request) -> Response:
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
            job = jobs().get(str(body.get("publish_id", "")))
            if job is None or job["account_id"] != grant.account_id:
                return fail(400, "invalid_params", "publish_id not found")
            return ok(status_of(job))

    # ---- Display API ------------------------------------------------------------------------------------------
    def video_fields(request: Request) -> list[str] | Response:
        fields = [f for f in request.query_params.get("fields", "").split(",") if f]
        if not fields or any(f not in QUERY_FIELDS for f in fields):
            return fail(400, "invalid_params", "fields must list supported video fields")
        return fields

    def video_obj(post: Any, fields: list[str]) -> dict[str, Any]:
        m = state.metrics(post)
        info = post.payload.get("post_info", {})
        handle = state.account(P, post.account_id).handle
        full = {"id": post.post_id, "title": info.get("title", ""), "video_description": info.get("title", ""),
                "create_time": int(post.created_at.timestamp()), "duration": 4,
                "share_url": f"https://www.tiktok.com/@{handle}/video/{post.post_id}",
                "embed_link": f"https://www.tiktok.com/player/v1/{post.post_id}",
                "cover_image_url": f"https://p16-sign.tiktokcdn.com/{post.post_id}.jpeg",
                "like_count": m["likes"], "comment_count": m["comments"], "share_count": m["shares"],
                "view_count": m["views"]}
        return {f: full[f] for f in fields}

    def own_public_posts(grant: Grant) -> list[Any]:
        return [p for p in state.posts_for(P, grant.account_id) if p.payload.get("mode") == "direct"]

    async def display_request(request: Request) -> tuple[Grant, list[str], dict[str, Any]] | Response:
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

    async def video_query(request: Request) -> Response:
        checked = await display_request(request)
        if isinstance(checked, Response):
            return checked
        grant, fields, body = checked
        ids = (body.get("filters") or {}).get("video_ids")
        if not isinstance(ids, list) or not 1 <= len(ids) <= 20:
            return fail(400, "invalid_params", "filters.video_ids must hold 1..20 ids")
        if fault := await pre_faults(state, P, "video_query", ERR):
            return fault
        wanted = {str(i) for i in ids}
        videos = [video_obj(p, fields) for p in own_public_posts(grant) if p.post_id in wanted]
        return ok({"videos": videos, "cursor": 0, "has_more": False})

    async def video_list(request: Request) -> Response:
        checked = await display_request(request)
        if isinstance(checked, Response):
            return checked
        grant, fields, body = checked
        max_count = body.get("max_count", 10)
        if not _is_int(max_count) or not 1 <= max_count <= 20:
            return fail(400, "invalid_params", "max_count must be 1..20")
        if fault := await pre_faults(state, P, "video_list", ERR):
            return fault
        posts = sorted(own_public_posts(grant), key=lambda p: p.created_at, reverse=True)
        cursor = body.get("cursor")
        if _is_int(cursor):  # cursor = create_time in ms; only older videos
            posts = [p for p in posts if p.created_at.timestamp() * 1000 < cursor]
        page = posts[:max_count]
        next_cursor = int(page[-1].created_at.timestamp() * 1000) if page else 0
        return ok({"videos": [video_obj(p, fields) for p in page], "cursor": next_cursor,
                   "has_more": len(posts) > max_count})

    async def direct_init(request: Request) -> Response:
        return await init(request, "direct")

    async def inbox_init(request: Request) -> Response:
        return await init(request, "inbox")

    return [
        Route("/v2/auth/authorize/", authorize, methods=["GET"]),
        Route("/v2/oauth/token/", token, methods=["POST"]),
        Route("/v2/post/publish/creator_info/query/", creator_info, methods=["POST"]),
        Route("/v2/post/publish/video/init/", direct_init, methods=["POST"]),
        Route("/v2/post/publish/inbox/video/init/", inbox_init, methods=["POST"]),
        Route("/v2/post/publish/status/fetch/", status, methods=["POST"]),
        Route("/v2/video/query/", video_query, methods=["POST"]),
        Route("/v2/video/list/", video_list, methods=["POST"]),
        Route("/video/", upload, methods=["PUT"]),
    ]
