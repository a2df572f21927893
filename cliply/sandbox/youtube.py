"""Emulated YouTube Data API v3 + Google OAuth, mounted at /youtube (www.googleapis.com, oauth2.googleapis.com and
accounts.google.com share the mount; their paths do not collide).

Served: POST /upload/youtube/v3/videos?uploadType=resumable (session start → Location), PUT <session> with
Content-Range chunks (308 + Range, final 200 with the video) and the `bytes */N` probe, GET /youtube/v3/videos,
/youtube/v3/channels, /youtube/v3/playlistItems, GET /o/oauth2/v2/auth (auto-approve; `sandbox_account`,
`sandbox_scopes`) and POST /token (PKCE when a challenge was sent; refresh tokens only for access_type=offline and
never rotated, as at Google).

Fault operations: "session" (videos.insert session start), "upload" (every chunk PUT), "publish" (the final chunk
that creates the video: lost_response applies here), "processing" (processing_failed → uploadStatus failed),
"status" (videos.list), "metrics" (videos.list part=statistics), "channels", "playlist", "token", "thumbnail"
(thumbnails.set: 50 units; the image is recorded as the post's `cover`, see cliply.sandbox.covers).

API keys: videos.list also answers a request that carries `key=<API key>` and no bearer token, as for a public
reader: only videos anyone can open (public, and unlisted ones asked for by id) are returned, a private video is absent
from `items`, and no scope applies. A key must be registered (`state.add_api_key`); any other answers 400 keyInvalid.

Limits: videos.insert has its own daily bucket per account (account extra `insert_quota`, default 100) and the other
calls draw 1 unit each from a 10,000-unit pool (per account; per key for keyed reads); both reset at 00:00
America/Los_Angeles (→ 403 quotaExceeded).
A channel daily upload cap (extra `daily_upload_cap`) → 400 uploadLimitExceeded. Session starts are rate limited
per account (10/minute → 429 rateLimitExceeded). Extra `unverified_project` forces privacyStatus=private.

Duplicates: with account extra `reject_duplicates`, uploading the same bytes again to a channel succeeds (the final
chunk answers 200 with the video) and processing then ends the video `uploadStatus: rejected, rejectionReason:
duplicate`, as YouTube does; it stays in the uploads playlist.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

from cliply.sandbox import oauth
from cliply.sandbox.common import (
    Endpoint,
    after_commit,
    bearer_token,
    bind,
    pre_faults,
    processing_fails,
    require_grant,
    table,
    urlencoded_form,
)
from cliply.sandbox.counting import YOUTUBE_DESCRIPTION, YOUTUBE_TITLE
from cliply.sandbox.covers import image_info, record_cover
from cliply.sandbox.state import Account, Grant, SandboxState

P = "youtube"
CHUNK = 256 * 1024
MAX_SIZE = 256 * 1024**3
PACIFIC = ZoneInfo("America/Los_Angeles")
SCOPE_PREFIX = "https://www.googleapis.com/auth/"
KNOWN_SCOPES = {
    SCOPE_PREFIX + s
    for s in (
        "youtube",
        "youtube.upload",
        "youtube.readonly",
        "youtube.force-ssl",
        "yt-analytics.readonly",
        "youtubepartner",
    )
} | {"openid", "email"}
INSERT_QUOTA = 100  # 2026 granular quota: videos.insert has its own bucket of 100 calls/day
UNIT_POOL = 10_000
SESSION_STARTS_PER_MIN = 10
PROCESSED_AFTER_POLLS = 2  # status reads before uploaded → processed (or after PROCESSED_AFTER_S of clock)
PROCESSED_AFTER_S = 30.0
SESSION_TTL = timedelta(days=7)
CATEGORIES = {"1", "2", "10", "15", "17", "19", "20", "22", "23", "24", "25", "26", "27", "28", "29"}
INSERT_PARTS = {
    "snippet",
    "status",
    "contentDetails",
    "recordingDetails",
    "localizations",
    "player",
    "statistics",
    "processingDetails",
    "fileDetails",
    "suggestions",
    "topicDetails",
    "liveStreamingDetails",
    "id",
}
LIST_PARTS = INSERT_PARTS
ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_RANGE = re.compile(r"^bytes (?:(\d+)-(\d+)|\*)/(\d+|\*)$")


# ---- Google error envelopes ------------------------------------------------------------------------------------------
def google_error(
    status: int,
    reason: str,
    message: str,
    *,
    domain: str = "global",
    api_status: str = "",
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "code": status,
        "message": message,
        "errors": [{"message": message, "domain": domain, "reason": reason}],
    }
    if api_status:
        body["status"] = api_status
    return JSONResponse({"error": body}, status_code=status, headers=headers)


class Errors:
    def auth_expired(self) -> Response:
        return google_error(
            401,
            "authError",
            "Invalid Credentials",
            api_status="UNAUTHENTICATED",
            headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'},
        )

    def rate_limited(self, retry_after_s: float) -> Response:
        return google_error(
            429,
            "rateLimitExceeded",
            "Too many requests.",
            domain="youtube.quota",
            api_status="RESOURCE_EXHAUSTED",
            headers={"Retry-After": str(int(retry_after_s))},
        )

    def quota_exhausted(self, retry_after_s: float) -> Response:
        return google_error(
            403,
            "quotaExceeded",
            "The request cannot be completed because you have exceeded your quota.",
            domain="youtube.quota",
            api_status="PERMISSION_DENIED",
        )

    def server_error(self, status: int) -> Response:
        reason = "backendError" if status != 500 else "internalError"
        return google_error(status, reason, "Backend Error")

    def content_rejected(self) -> Response:
        return google_error(
            400,
            "invalidVideoMetadata",
            "The request metadata is invalid.",
            domain="youtube.video",
            api_status="INVALID_ARGUMENT",
        )

    def media_fetch_failed(self) -> Response:  # YouTube is push-only: the closest is a missing media body
        return google_error(
            400, "mediaBodyRequired", "The request does not include the video content.", domain="youtube.video"
        )

    def duplicate(self) -> Response:  # not synchronous at YouTube (rejectionReason=duplicate); scripted only
        return google_error(409, "duplicate", "The video is a duplicate.", domain="youtube.video")


ERRORS = Errors()
OAUTH = oauth.OAuthVariant(
    platform=P,
    authorize_path="/o/oauth2/v2/auth",
    token_path="/token",
    errors=oauth.Rfc6749Errors(client_mismatch_status=401),
    fault_errors=lambda _state: ERRORS,
    bad_response_type_redirect="unsupported_response_type",
    authorize_invalid="Missing required parameter",
    known_scopes=frozenset(KNOWN_SCOPES),
    scope_required=True,
    sandbox_scopes_filter=True,
    pkce_methods=("S256", "plain"),
    callback_scope=("scope", " "),
    client_auth="body_or_basic",
    invalid_client="The OAuth client was not found.",
    access_ttl_s=3599,
    # Google: a refresh token only for access_type=offline, never rotated, and not repeated on refresh.
    refresh_ttl_s=180 * 86400,
    refresh_policy="access_type_offline",
    rotate_refresh=False,
    refresh_on_refresh=False,
)


# ---- helpers ---------------------------------------------------------------------------------------------------------
def channel_id(account_id: str) -> str:
    if account_id.startswith("UC") and len(account_id) == 24:
        return account_id
    digest = base64.urlsafe_b64encode(hashlib.sha256(account_id.encode()).digest()).decode()
    return "UC" + digest[:22]


def uploads_playlist(account_id: str) -> str:
    return "UU" + channel_id(account_id)[2:]


def _video_id() -> str:
    return "".join(secrets.choice(ID_ALPHABET) for _ in range(11))


def _iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def _seconds_to_pacific_midnight(now: datetime) -> float:
    local = now.astimezone(PACIFIC)
    midnight = datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), PACIFIC)
    return (midnight - local).total_seconds()


def _ledger(state: SandboxState) -> dict[tuple[str, str, str], int]:
    return table(state, f"{P}:ledger")


def key_owner(api_key: str) -> str:
    """The quota owner of an API key in the daily ledger (never the same as an account id)."""
    return f"key:{api_key}"


def _today(state: SandboxState) -> str:
    return state.clock.now().astimezone(PACIFIC).date().isoformat()


def units_used(state: SandboxState, owner: str, bucket: str = "units") -> int:
    """Units `owner` (an account id, or key_owner(key)) has spent from `bucket` today (Pacific)."""
    with state.lock:
        return _ledger(state).get((owner, bucket, _today(state)), 0)


def charge(state: SandboxState, acct: Account | str, bucket: str, limit: int, cost: int = 1) -> Response | None:
    """Spend from a daily bucket that resets at 00:00 Pacific; 403 quotaExceeded when it is empty. `acct` is an
    account or a ledger owner id (see key_owner)."""
    owner = acct if isinstance(acct, str) else acct.account_id
    key = (owner, bucket, _today(state))
    with state.lock:
        ledger = _ledger(state)
        if ledger.get(key, 0) + cost > limit:
            return ERRORS.quota_exhausted(_seconds_to_pacific_midnight(state.clock.now()))
        ledger[key] = ledger.get(key, 0) + cost
    return None


def _videos(state: SandboxState) -> dict[str, dict[str, Any]]:
    return table(state, f"{P}:videos")


def _sessions(state: SandboxState) -> dict[str, dict[str, Any]]:
    return table(state, f"{P}:sessions")


# ---- metadata validation (what videos.insert rejects) ----------------------------------------------------------------
def validate_metadata(body: dict[str, Any], parts: set[str]) -> Response | None:
    for key in body:
        if key not in parts and key not in ("kind", "etag", "id"):
            return google_error(400, "unexpectedPart", f"'{key}' is not in the part parameter.")
    return _snippet_problem(body.get("snippet") or {}) or _status_problem(body.get("status") or {})


def _has_markup(text: str) -> bool:
    return "<" in text or ">" in text


def _snippet_problem(snippet: dict[str, Any]) -> Response | None:
    title = snippet.get("title", "")
    if not isinstance(title, str) or not title.strip() or YOUTUBE_TITLE.too_long(title) or _has_markup(title):
        return google_error(
            400,
            "invalidTitle",
            "The request metadata specifies an invalid or empty video title.",
            domain="youtube.video",
        )
    description = snippet.get("description", "")
    if YOUTUBE_DESCRIPTION.too_long(description) or _has_markup(description):
        return google_error(
            400,
            "invalidDescription",
            "The request metadata specifies an invalid video description.",
            domain="youtube.video",
        )
    tags = snippet.get("tags") or []
    tag_chars = sum(len(t) + (2 if " " in t else 0) for t in tags) + max(0, len(tags) - 1)  # quoted, comma-joined
    if tag_chars > 500 or any(_has_markup(t) for t in tags):
        return google_error(
            400, "invalidTags", "The request metadata specifies invalid video keywords.", domain="youtube.video"
        )
    if snippet.get("categoryId") not in (None, *CATEGORIES):
        return google_error(
            400,
            "invalidCategoryId",
            "The snippet.categoryId property specifies an invalid category ID.",
            domain="youtube.video",
        )
    return None


def _status_problem(status: dict[str, Any]) -> Response | None:
    privacy = status.get("privacyStatus", "public")
    if privacy not in ("public", "unlisted", "private"):
        return google_error(400, "invalidValue", "Invalid value for status.privacyStatus.")
    if "publishAt" in status:
        try:
            datetime.fromisoformat(str(status["publishAt"]).replace("Z", "+00:00"))
        except ValueError:
            return google_error(400, "invalidPublishAt", "Invalid publishAt.", domain="youtube.video")
        if privacy != "private":
            return google_error(
                400, "invalidPublishAt", "publishAt requires privacyStatus private.", domain="youtube.video"
            )
    for flag in ("selfDeclaredMadeForKids", "containsSyntheticMedia", "embeddable"):
        if flag in status and not isinstance(status[flag], bool):
            return google_error(400, "invalidValue", f"Invalid value for status.{flag}.")
    return None


# ---- video resources -------------------------------------------------------------------------------------------------
PROCESSING_STATUS = {"uploaded": "processing", "processed": "succeeded", "failed": "failed", "rejected": "terminated"}


def _rejection(state: SandboxState, acct: Account, sha256: str) -> str | None:
    """The rejectionReason processing will end with: duplicate when the channel already holds these bytes."""
    if not acct.extra.get("reject_duplicates"):
        return None
    with state.lock:
        videos = list(_videos(state).values())
    return "duplicate" if any(v["account_id"] == acct.account_id and v["sha256"] == sha256 for v in videos) else None


def _advance(state: SandboxState, video: dict[str, Any], *, poll: bool) -> None:
    if video["uploadStatus"] != "uploaded":
        return
    if poll:
        video["polls"] += 1
    age = (state.clock.now() - video["created_at"]).total_seconds()
    if video["polls"] >= PROCESSED_AFTER_POLLS or age >= PROCESSED_AFTER_S:
        video["uploadStatus"] = "failed" if video["fails"] else "rejected" if video["rejection"] else "processed"


def _snippet_resource(video: dict[str, Any]) -> dict[str, Any]:
    snip = video["snippet"]
    out = {
        "publishedAt": _iso(video["created_at"]),
        "channelId": video["channel_id"],
        "title": snip.get("title", ""),
        "description": snip.get("description", ""),
        "channelTitle": video["channel_title"],
        "categoryId": snip.get("categoryId", "22"),
        "liveBroadcastContent": "none",
    }
    if snip.get("tags"):
        out["tags"] = list(snip["tags"])
    return out


def _status_resource(video: dict[str, Any]) -> dict[str, Any]:
    asked = video["status"]
    kids = bool(asked.get("selfDeclaredMadeForKids", False))
    st = {
        "uploadStatus": video["uploadStatus"],
        "privacyStatus": asked.get("privacyStatus", "public"),
        "license": "youtube",
        "embeddable": True,
        "publicStatsViewable": True,
        "selfDeclaredMadeForKids": kids,
        "madeForKids": kids,
    }
    for key in ("publishAt", "containsSyntheticMedia"):
        if key in asked:
            st[key] = asked[key]
    if video["uploadStatus"] == "failed":
        st["failureReason"] = "conversion"
    if video["uploadStatus"] == "rejected":
        st["rejectionReason"] = video["rejection"]
    return st


def _statistics_resource(state: SandboxState, video: dict[str, Any]) -> dict[str, Any]:
    post = state.find_post(P, video["id"])
    m = state.metrics(post) if post else {}
    return {
        "viewCount": str(m.get("views", 0)),
        "likeCount": str(m.get("likes", 0)),
        "favoriteCount": "0",
        "commentCount": str(m.get("comments", 0)),
    }


def video_resource(state: SandboxState, video: dict[str, Any], parts: set[str]) -> dict[str, Any]:
    res: dict[str, Any] = {
        "kind": "youtube#video",
        "etag": hashlib.md5(video["id"].encode()).hexdigest(),
        "id": video["id"],
    }
    if "snippet" in parts:
        res["snippet"] = _snippet_resource(video)
    if "status" in parts:
        res["status"] = _status_resource(video)
    if "processingDetails" in parts:
        proc = PROCESSING_STATUS[video["uploadStatus"]]
        res["processingDetails"] = {"processingStatus": proc}
    if "statistics" in parts:
        res["statistics"] = _statistics_resource(state, video)
    return res


# ---- request checks --------------------------------------------------------------------------------------------------
def auth(state: SandboxState, request: Request) -> tuple[Grant, Account] | Response:
    grant = require_grant(state, P, request, ERRORS)
    if isinstance(grant, Response):
        return grant
    return grant, state.account(P, grant.account_id)


def needs_scope(grant: Grant, *accepted: str) -> Response | None:
    if any(SCOPE_PREFIX + s in grant.scopes for s in accepted):
        return None
    return google_error(
        403,
        "insufficientPermissions",
        "Request had insufficient authentication scopes.",
        api_status="PERMISSION_DENIED",
    )


def parts_of(request: Request, allowed: set[str]) -> set[str] | Response:
    parts = set(filter(None, request.query_params.get("part", "").split(",")))
    if not parts:
        return google_error(400, "required", "Required parameter: part")
    if bad := parts - allowed:
        return google_error(400, "unknownPart", f"Unknown part: {sorted(bad)[0]}")
    return parts


READ_SCOPES = ("youtube.readonly", "youtube", "youtube.force-ssl")


# ---- videos.insert: resumable session start --------------------------------------------------------------------------
async def insert(state: SandboxState, request: Request) -> Response:
    if request.method == "PUT":
        return await upload_chunk(state, request)
    who = auth(state, request)
    if isinstance(who, Response):
        return who
    grant, acct = who
    if denied := needs_scope(grant, "youtube.upload", "youtube", "youtube.force-ssl"):
        return denied
    if request.query_params.get("uploadType") != "resumable":
        return google_error(400, "badRequest", "Only uploadType=resumable is emulated.")
    parts = parts_of(request, INSERT_PARTS)
    if isinstance(parts, Response):
        return parts
    body = await _session_request(request, parts)
    if isinstance(body, Response):
        return body
    if refused := await _session_refusal(state, acct):
        return refused
    length = request.headers.get("x-upload-content-length")
    upload_id = "ADPycd" + secrets.token_urlsafe(24)
    with state.lock:
        _sessions(state)[upload_id] = {
            "account_id": acct.account_id,
            "body": body,
            "parts": sorted(parts),
            "total": int(length) if length else None,
            "data": bytearray(),
            "video_id": None,
            "expires_at": state.clock.now() + SESSION_TTL,
        }
    return Response(
        status_code=200, headers={"Location": f"{request.url}&upload_id={upload_id}", "X-GUploader-UploadID": upload_id}
    )


async def _session_request(request: Request, parts: set[str]) -> dict[str, Any] | Response:
    """The upload headers and the metadata body of a session start, validated."""
    upload_type = request.headers.get("x-upload-content-type", "")
    if upload_type and not (upload_type.startswith("video/") or upload_type == "application/octet-stream"):
        return google_error(400, "badContent", f"Media type '{upload_type}' is not supported.")
    length = request.headers.get("x-upload-content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_SIZE):
        return google_error(400, "badContent", "Invalid X-Upload-Content-Length.")
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        return google_error(400, "parseError", "Parse Error")
    if not isinstance(body, dict):
        return google_error(400, "parseError", "Parse Error")
    return validate_metadata(body, parts) or body


async def _session_refusal(state: SandboxState, acct: Account) -> Response | None:
    """Rate limit, scripted faults, the channel's daily upload cap and the insert quota, in that order."""
    if wait := state.hit_limit(P, acct.account_id, "session_start", SESSION_STARTS_PER_MIN, 60):
        return ERRORS.rate_limited(wait)
    if fault := await pre_faults(state, P, "session", ERRORS):
        return fault
    cap = acct.extra.get("daily_upload_cap")
    if cap is not None and _uploads_today(state, acct) >= int(cap):
        return google_error(
            400,
            "uploadLimitExceeded",
            "The user has exceeded the number of videos they may upload.",
            domain="youtube.video",
        )
    return charge(state, acct, "videos.insert", int(acct.extra.get("insert_quota", INSERT_QUOTA)))


def _uploads_today(state: SandboxState, acct: Account) -> int:
    today = state.clock.now().astimezone(PACIFIC).date()
    return sum(1 for p in state.posts_for(P, acct.account_id) if p.created_at.astimezone(PACIFIC).date() == today)


# ---- resumable session PUTs ------------------------------------------------------------------------------------------
async def upload_chunk(state: SandboxState, request: Request) -> Response:
    # The session URI itself authorises the PUTs (as at Google); a bearer token, when sent, is not re-checked.
    data = await request.body()
    session = _sessions(state).get(request.query_params.get("upload_id", ""))
    if session is None or session["expires_at"] < state.clock.now():
        return google_error(404, "notFound", "Upload session not found or expired.")
    match = _RANGE.match(request.headers.get("content-range", "").strip())
    if request.headers.get("content-range") and not match:
        return google_error(400, "badRequest", "Invalid Content-Range header.")
    total_s = match.group(3) if match else str(len(data))
    if total_s != "*" and session["total"] is not None and int(total_s) != session["total"]:
        return google_error(400, "badRequest", "Content-Range total does not match X-Upload-Content-Length.")
    if (match and match.group(1) is None) or session["video_id"]:  # `bytes */N` status probe, or already done
        return _session_status(state, session)
    if fault := await pre_faults(state, P, "upload", ERRORS):
        return fault
    first = int(match.group(1)) if match else 0
    last = int(match.group(2)) if match else len(data) - 1
    return await _append_chunk(state, session, data, first, last, int(total_s) if total_s != "*" else None)


def _chunk_problem(received: int, size: int, first: int, last: int, final: bool) -> Response | None:
    if last - first + 1 != size:
        return google_error(400, "badRequest", "Content-Range does not match the body length.")
    if first > received:
        return google_error(
            400,
            "badRequest",
            f"The upload offset is {first} byte(s), which exceeds the already uploaded size of {received} byte(s).",
        )
    if not final and size % CHUNK:
        return google_error(
            400,
            "badRequest",
            f"The number of bytes uploaded is required to be a multiple of "
            f"{CHUNK}, except for the final request. The request contained {size} bytes.",
        )
    return None


async def _append_chunk(
    state: SandboxState, session: dict[str, Any], data: bytes, first: int, last: int, total: int | None
) -> Response:
    received = len(session["data"])
    final = total is not None and last + 1 == total
    if problem := _chunk_problem(received, len(data), first, last, final):
        return problem
    with state.lock:
        session["data"].extend(data[received - first :])
        session["total"] = total if total is not None else session["total"]
    if not final:
        return _session_status(state, session)
    if fault := await pre_faults(state, P, "publish", ERRORS):
        return fault
    video = _create_video(state, session)
    await after_commit(state, P, "publish")
    return JSONResponse(video_resource(state, video, set(session["parts"]) | {"snippet", "status"}))


def _session_status(state: SandboxState, session: dict[str, Any]) -> Response:
    if session["video_id"]:
        video = _videos(state)[session["video_id"]]
        _advance(state, video, poll=False)  # the resource as it is now, processed or refused
        return JSONResponse(video_resource(state, video, set(session["parts"]) | {"snippet", "status"}))
    received = len(session["data"])
    headers = {"Range": f"bytes=0-{received - 1}"} if received else {}
    return Response(status_code=308, headers={**headers, "X-GUploader-UploadID": "session"})


def _create_video(state: SandboxState, session: dict[str, Any]) -> dict[str, Any]:
    acct = state.account(P, session["account_id"])
    body = session["body"]
    status = dict(body.get("status") or {})
    if acct.extra.get("unverified_project"):
        status["privacyStatus"] = "private"  # unaudited API projects are locked to private
    vid = _video_id()
    sha256 = hashlib.sha256(session["data"]).hexdigest()
    video = {
        "id": vid,
        "account_id": acct.account_id,
        "channel_id": channel_id(acct.account_id),
        "channel_title": acct.handle,
        "snippet": dict(body.get("snippet") or {}),
        "status": status,
        "uploadStatus": "uploaded",
        "polls": 0,
        "fails": processing_fails(state, P),
        "rejection": _rejection(state, acct, sha256),
        "created_at": state.clock.now(),
        "size": len(session["data"]),
        "sha256": sha256,
    }
    with state.lock:
        _videos(state)[vid] = video
        session["video_id"] = vid
    state.record_post(
        P,
        acct.account_id,
        vid,
        {"snippet": video["snippet"], "status": status, "size": video["size"], "sha256": video["sha256"]},
    )
    return video


# ---- reads -----------------------------------------------------------------------------------------------------------
def _video_ids(request: Request) -> list[str] | Response:
    ids = [i for i in request.query_params.get("id", "").split(",") if i]
    if not ids:
        return google_error(400, "missingRequiredParameter", "No filter selected. Expected one of: id, myRating, chart")
    if len(ids) > 50:
        return google_error(400, "invalidValue", "Too many ids: at most 50.")
    return ids


def _visible(video: dict[str, Any], viewer: str | None) -> bool:
    """The owner sees all of its videos; anyone else (a key reader: viewer None) all but private ones."""
    return video["account_id"] == viewer or video["status"].get("privacyStatus", "public") != "private"


def key_invalid() -> Response:
    message = "API key not valid. Please pass a valid API key."
    body = {
        "code": 400,
        "message": message,
        "errors": [{"message": message, "domain": "usageLimits", "reason": "keyInvalid"}],
        "status": "INVALID_ARGUMENT",
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
                "metadata": {"service": "youtube.googleapis.com"},
            }
        ],
    }
    return JSONResponse({"error": body}, status_code=400)


def keyed_read(state: SandboxState, request: Request) -> str | Response | None:
    """For a request with `key=` and no bearer token: the key's ledger owner, or 400 keyInvalid for a key the
    sandbox does not know. None for any other request (it authenticates with a token)."""
    api_key = request.query_params.get("key")
    if api_key is None or bearer_token(request):
        return None
    return key_owner(api_key) if state.has_api_key(api_key) else key_invalid()


async def list_videos(state: SandboxState, request: Request) -> Response:
    keyed = keyed_read(state, request)
    if isinstance(keyed, Response):
        return keyed
    grant: Grant | None = None
    viewer: str | None = None  # None: a key reader, who sees only what anyone can open
    if keyed is None:
        who = auth(state, request)
        if isinstance(who, Response):
            return who
        grant, acct = who
        viewer = payer = acct.account_id
    else:
        payer = keyed
    parts = parts_of(request, LIST_PARTS)
    if isinstance(parts, Response):
        return parts
    ids = _video_ids(request)
    if isinstance(ids, Response):
        return ids
    if grant is not None and (denied := needs_scope(grant, *READ_SCOPES)):
        return denied
    if fault := await pre_faults(state, P, "metrics" if parts == {"statistics"} else "status", ERRORS):
        return fault
    if over := charge(state, payer, "units", UNIT_POOL):
        return over
    items = []
    for video in filter(None, map(_videos(state).get, ids)):
        if _visible(video, viewer):
            _advance(state, video, poll="status" in parts or "processingDetails" in parts)
            items.append(video_resource(state, video, parts))
    return JSONResponse(
        {
            "kind": "youtube#videoListResponse",
            "etag": secrets.token_hex(8),
            "items": items,
            "pageInfo": {"totalResults": len(items), "resultsPerPage": len(items)},
        }
    )


async def list_channels(state: SandboxState, request: Request) -> Response:
    who = auth(state, request)
    if isinstance(who, Response):
        return who
    grant, acct = who
    if request.query_params.get("mine") != "true":
        return google_error(400, "missingRequiredParameter", "Only mine=true is emulated.")
    if denied := needs_scope(grant, *READ_SCOPES, "youtube.upload"):
        return denied
    if fault := await pre_faults(state, P, "channels", ERRORS):
        return fault
    if acct.extra.get("no_channel"):
        return google_error(
            401, "youtubeSignupRequired", "The user does not have a YouTube channel.", domain="youtube.header"
        )
    if over := charge(state, acct, "units", UNIT_POOL):
        return over
    cid = channel_id(acct.account_id)
    item = {
        "kind": "youtube#channel",
        "etag": hashlib.md5(cid.encode()).hexdigest(),
        "id": cid,
        "snippet": {"title": acct.handle, "customUrl": f"@{acct.handle}"},
        "contentDetails": {"relatedPlaylists": {"likes": "", "uploads": uploads_playlist(acct.account_id)}},
    }
    return JSONResponse(
        {"kind": "youtube#channelListResponse", "items": [item], "pageInfo": {"totalResults": 1, "resultsPerPage": 5}}
    )


def _page_request(request: Request) -> tuple[int, int] | Response:
    try:
        size = int(request.query_params.get("maxResults", "5"))
        offset = int(request.query_params.get("pageToken") or 0)
    except ValueError:
        return google_error(400, "invalidPageToken", "Invalid page token or maxResults.")
    if not 0 <= size <= 50:
        return google_error(400, "invalidValue", "maxResults must be between 0 and 50.")
    return size, offset


def _playlist_item(playlist: str, video: dict[str, Any], position: int) -> dict[str, Any]:
    item_id = base64.urlsafe_b64encode(f"{playlist}.{video['id']}".encode()).decode().rstrip("=")
    return {
        "kind": "youtube#playlistItem",
        "id": item_id,
        "snippet": {
            "publishedAt": _iso(video["created_at"]),
            "channelId": video["channel_id"],
            "title": video["snippet"].get("title", ""),
            "description": video["snippet"].get("description", ""),
            "playlistId": playlist,
            "position": position,
            "resourceId": {"kind": "youtube#video", "videoId": video["id"]},
        },
        "contentDetails": {"videoId": video["id"], "videoPublishedAt": _iso(video["created_at"])},
    }


def _uploads_of(state: SandboxState, playlist: str) -> Account | None:
    return next(
        (a for (p, _), a in state.accounts.items() if p == P and uploads_playlist(a.account_id) == playlist), None
    )


async def list_playlist_items(state: SandboxState, request: Request) -> Response:
    """The uploads playlist, newest first, paged with numeric page tokens."""
    who = auth(state, request)
    if isinstance(who, Response):
        return who
    grant, acct = who
    if denied := needs_scope(grant, *READ_SCOPES):
        return denied
    paging = _page_request(request)
    if isinstance(paging, Response):
        return paging
    size, offset = paging
    if fault := await pre_faults(state, P, "playlist", ERRORS):
        return fault
    playlist = request.query_params.get("playlistId", "")
    owner = _uploads_of(state, playlist)
    if owner is None:
        return google_error(
            404,
            "playlistNotFound",
            "The playlist identified with the request's playlistId parameter cannot be found.",
            domain="youtube.playlistItem",
        )
    if over := charge(state, acct, "units", UNIT_POOL):
        return over
    videos = sorted(
        (v for v in _videos(state).values() if v["account_id"] == owner.account_id and _visible(v, acct.account_id)),
        key=lambda v: v["created_at"],
        reverse=True,
    )
    page = videos[offset : offset + size]
    out: dict[str, Any] = {
        "kind": "youtube#playlistItemListResponse",
        "items": [_playlist_item(playlist, v, offset + n) for n, v in enumerate(page)],
        "pageInfo": {"totalResults": len(videos), "resultsPerPage": size},
    }
    if offset + size < len(videos):
        out["nextPageToken"] = str(offset + size)
    return JSONResponse(out)


async def revoke(state: SandboxState, request: Request) -> Response:
    """Revoking either token of a grant revokes its whole family."""
    tok = (await urlencoded_form(request)).get("token", "") or bearer_token(request) or ""
    with state.lock:
        grant = state.refresh_index.get(tok) or state.grants.get(tok)
        if grant is None:
            return JSONResponse({"error": "invalid_token"}, status_code=400)
        state.revoked_families.add(grant.family)
    return Response(status_code=200)


# ---- thumbnails.set --------------------------------------------------------------------------------------------------
THUMBNAIL_MAX_BYTES = 2 * 1024**2
THUMBNAIL_COST = 50


async def set_thumbnail(state: SandboxState, request: Request) -> Response:
    """POST /upload/youtube/v3/thumbnails/set?videoId= with the image as the media body (uploadType=media): JPEG or
    PNG, at most 2 MB, on a video of the caller's channel. Account extra `thumbnails_forbidden` answers 403 as for
    a channel that is not phone-verified. The image is recorded as the video's cover."""
    who = auth(state, request)
    if isinstance(who, Response):
        return who
    grant, acct = who
    if denied := needs_scope(grant, "youtube.upload", "youtube", "youtube.force-ssl"):
        return denied
    if fault := await pre_faults(state, P, "thumbnail", ERRORS):
        return fault
    if over := charge(state, acct, "units", UNIT_POOL, THUMBNAIL_COST):
        return over
    video = _videos(state).get(request.query_params.get("videoId", ""))
    if video is None or video["account_id"] != acct.account_id:
        return google_error(404, "videoNotFound", "The video that you are trying to update cannot be found.")
    if acct.extra.get("thumbnails_forbidden"):
        return google_error(
            403, "forbidden", "The authenticated user doesn't have permissions to upload and set custom thumbnails."
        )
    if request.query_params.get("uploadType", "media") not in ("media", "multipart"):
        return google_error(400, "badRequest", "Only uploadType=media is emulated for thumbnails.")
    data = await request.body()
    if not data:
        return google_error(400, "mediaBodyRequired", "The request does not include the image content.")
    if len(data) > THUMBNAIL_MAX_BYTES:
        return google_error(400, "failedPrecondition", "The thumbnail image file size is too large.")
    info = image_info(data, "thumbnails.set")
    if info is None:
        return google_error(400, "invalidImage", "The provided image content is invalid.")
    with state.lock:
        video["thumbnail"] = info
    record_cover(state, P, video["id"], info)
    url = f"https://i.ytimg.com/vi/{video['id']}"
    sizes = {"default": (120, 90), "medium": (320, 180), "high": (480, 360), "maxres": (1280, 720)}
    item = {k: {"url": f"{url}/{k}.jpg", "width": w, "height": h} for k, (w, h) in sizes.items()}
    return JSONResponse({"kind": "youtube#thumbnailSetResponse", "items": [item]})


TABLE = [
    Endpoint("/upload/youtube/v3/thumbnails/set", set_thumbnail, ("POST",)),
    Endpoint("/upload/youtube/v3/videos", insert, ("POST", "PUT")),
    Endpoint("/youtube/v3/videos", list_videos),
    Endpoint("/youtube/v3/channels", list_channels),
    Endpoint("/youtube/v3/playlistItems", list_playlist_items),
    Endpoint("/revoke", revoke, ("POST",)),
]


def routes(state: SandboxState) -> list[BaseRoute]:
    return [*bind(state, TABLE), *oauth.routes(OAUTH, state)]
