"""Emulated YouTube Data API v3 + Google OAuth, mounted at /youtube (www.googleapis.com, oauth2.googleapis.com and
accounts.google.com share the mount; their paths do not collide).

Served: POST /upload/youtube/v3/videos?uploadType=resumable (session start → Location), PUT <session> with
Content-Range chunks (308 + Range, final 200 with the video) and the `bytes */N` probe, GET /youtube/v3/videos,
/youtube/v3/channels, /youtube/v3/playlistItems, GET /o/oauth2/v2/auth (auto-approve; `sandbox_account`,
`sandbox_scopes`) and POST /token (PKCE when a challenge was sent; refresh tokens only for access_type=offline and
never rotated, as at Google).

Fault operations: "session" (videos.insert session start), "upload" (every chunk PUT), "publish" (the final chunk
that creates the video: lost_response applies here), "processing" (processing_failed → uploadStatus failed),
"status" (videos.list), "metrics" (videos.list part=statistics), "channels", "playlist", "token".

Limits: videos.insert has its own daily bucket per account (account extra `insert_quota`, default 100) and the other
calls draw 1 unit each from a 10,000-unit pool; both reset at 00:00 America/Los_Angeles (→ 403 quotaExceeded).
A channel daily upload cap (extra `daily_upload_cap`) → 400 uploadLimitExceeded. Session starts are rate limited
per account (10/minute → 429 rateLimitExceeded). Extra `unverified_project` forces privacyStatus=private.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from cliply.sandbox.common import after_commit, bearer_token, pre_faults, processing_fails, require_grant
from cliply.sandbox.state import Account, Grant, OAuthFailure, SandboxState

P = "youtube"
CHUNK = 256 * 1024
MAX_SIZE = 256 * 1024**3
PACIFIC = ZoneInfo("America/Los_Angeles")
SCOPE_PREFIX = "https://www.googleapis.com/auth/"
KNOWN_SCOPES = {SCOPE_PREFIX + s for s in ("youtube", "youtube.upload", "youtube.readonly", "youtube.force-ssl",
                                            "yt-analytics.readonly", "youtubepartner")} | {"openid", "email"}
INSERT_QUOTA = 100  # 2026 granular quota: videos.insert has its own bucket of 100 calls/day
UNIT_POOL = 10_000
SESSION_STARTS_PER_MIN = 10
PROCESSED_AFTER_POLLS = 2  # status reads before uploaded → processed (or after PROCESSED_AFTER_S of clock)
PROCESSED_AFTER_S = 30.0
SESSION_TTL = timedelta(days=7)
CATEGORIES = {"1", "2", "10", "15", "17", "19", "20", "22", "23", "24", "25", "26", "27", "28", "29"}
INSERT_PARTS = {"snippet", "status", "contentDetails", "recordingDetails", "localizations", "player", "statistics",
                "processingDetails", "fileDetails", "suggestions", "topicDetails", "liveStreamingDetails", "id"}
LIST_PARTS = INSERT_PARTS
ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_RANGE = re.compile(r"^bytes (?:(\d+)-(\d+)|\*)/(\d+|\*)$")


# ---- Google error envelopes -------------------------------------------------------------------------------------
def google_error(status: int, reason: str, message: str, *, domain: str = "global", api_status: str = "",
                 headers: dict[str, str] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"code": status, "message": message,
                            "errors": [{"message": message, "domain": domain, "reason": reason}]}
    if api_status:
        body["status"] = api_status
    return JSONResponse({"error": body}, status_code=status, headers=headers)


class Errors:
    def auth_expired(self) -> Response:
        return google_error(401, "authError", "Invalid Credentials", api_status="UNAUTHENTICATED",
                            headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'})

    def rate_limited(self, retry_after_s: float) -> Response:
        return google_error(429, "rateLimitExceeded", "Too many requests.", domain="youtube.quota",
                            api_status="RESOURCE_EXHAUSTED", headers={"Retry-After": str(int(retry_after_s))})

    def quota_exhausted(self, retry_after_s: float) -> Response:
        return google_error(403, "quotaExceeded", "The request cannot be completed because you have exceeded "
                            "your quota.", domain="youtube.quota", api_status="PERMISSION_DENIED")

    def server_error(self, status: int) -> Response:
        reason = "backendError" if status != 500 else "internalError"
        return google_error(status, reason, "Backend Error")

    def content_rejected(self) -> Response:
        return google_error(400, "invalidVideoMetadata", "The request metadata is invalid.",
                            domain="youtube.video", api_status="INVALID_ARGUMENT")

    def media_fetch_failed(self) -> Response:  # YouTube is push-only: the closest is a missing media body
        return google_error(400, "mediaBodyRequired", "The request does not include the video content.",
                            domain="youtube.video")

    def duplicate(self) -> Response:  # not synchronous at YouTube (rejectionReason=duplicate); scripted only
        return google_error(409, "duplicate", "The video is a duplicate.", domain="youtube.video")


ERRORS = Errors()


# ---- helpers -------------------------------------------------------------------------------------------------------
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
    return state.objects.setdefault(f"{P}:ledger", {})  # type: ignore[return-value]


def charge(state: SandboxState, acct: Account, bucket: str, limit: int, cost: int = 1) -> Response | None:
    """Spend from a daily bucket that resets at 00:00 Pacific; 403 quotaExceeded when it is empty."""
    day = state.clock.now().astimezone(PACIFIC).date().isoformat()
    key = (acct.account_id, bucket, day)
    with state.lock:
        ledger = _ledger(state)
        if ledger.get(key, 0) + cost > limit:
            return ERRORS.quota_exhausted(_seconds_to_pacific_midnight(state.clock.now()))
        ledger[key] = ledger.get(key, 0) + cost
    return None


def _videos(state: SandboxState) -> dict[str, dict[str, Any]]:
    return state.objects.setdefault(f"{P}:videos", {})  # type: ignore[return-value]


def _sessions(state: SandboxState) -> dict[str, dict[str, Any]]:
    return state.objects.setdefault(f"{P}:sessions", {})  # type: ignore[return-value]


# ---- metadata validation (what videos.insert rejects) ---------------------------------------------------------------
def validate_metadata(body: dict[str, Any], parts: set[str]) -> Response | None:
    for key in body:
        if key not in parts and key not in ("kind", "etag", "id"):
            return google_error(400, "unexpectedPart", f"'{key}' is not in the part parameter.")
    snippet = body.get("snippet") or {}
    title = snippet.get("title", "")
    if not isinstance(title, str) or not title.strip() or len(title) > 100 or "<" in title or ">" in title:
        return google_error(400, "invalidTitle", "The request metadata specifies an invalid or empty video title.",
                            domain="youtube.video")
    description = snippet.get("description", "")
    if len(description.encode()) > 5000 or "<" in description or ">" in description:
        return google_error(400, "invalidDescription", "The request metadata specifies an invalid video "
                            "description.", domain="youtube.video")
    tags = snippet.get("tags") or []
    tag_chars = sum(len(t) + (2 if " " in t else 0) for t in tags) + max(0, len(tags) - 1)
    if tag_chars > 500 or any("<" in t or ">" in t for t in tags):
        return google_error(400, "invalidTags", "The request metadata specifies invalid video keywords.",
                            domain="youtube.video")
    if snippet.get("categoryId") not in (None, *CATEGORIES):
        return google_error(400, "invalidCategoryId", "The snippet.categoryId property specifies an invalid "
                            "category ID.", domain="youtube.video")
    status = body.get("status") or {}
    privacy = status.get("privacyStatus", "public")
    if privacy not in ("public", "unlisted", "private"):
        return google_error(400, "invalidValue", "Invalid value for status.privacyStatus.")
    if "publishAt" in status:
        try:
            datetime.fromisoformat(str(status["publishAt"]).replace("Z", "+00:00"))
        except ValueError:
            return google_error(400, "invalidPublishAt", "Invalid publishAt.", domain="youtube.video")
        if privacy != "private":
            return google_error(400, "invalidPublishAt", "publishAt requires privacyStatus private.",
                                domain="youtube.video")
    for flag in ("selfDeclaredMadeForKids", "containsSyntheticMedia", "embeddable"):
        if flag in status and not isinstance(status[flag], bool):
            return google_error(400, "invalidValue", f"Invalid value for status.{flag}.")
    return None


# ---- video resources ------------------------------------------------------------------------------------------------
def _advance(state: SandboxState, video: dict[str, Any], *, poll: bool) -> None:
    if video["uploadStatus"] != "uploaded":
        return
    if poll:
        video["polls"] += 1
    age = (state.clock.now() - video["created_at"]).total_seconds()
    if video["polls"] >= PROCESSED_AFTER_POLLS or age >= PROCESSED_AFTER_S:
        video["uploadStatus"] = "failed" if video["fails"] else "processed"


def video_resource(state: SandboxState, video: dict[str, Any], parts: set[str]) -> dict[str, Any]:
    res: dict[str, Any] = {"kind": "youtube#video", "etag": hashlib.md5(video["id"].encode()).hexdigest(),
                           "id": video["id"]}
    if "snippet" in parts:
        snip = video["snippet"]
        res["snippet"] = {"publishedAt": _iso(video["created_at"]), "channelId": video["channel_id"],
                          "title": snip.get("title", ""), "description": snip.get("description", ""),
                          "channelTitle": video["channel_title"], "categoryId": snip.get("categoryId", "22"),
                          "liveBroadcastContent": "none"}
        if snip.get("tags"):
            res["snippet"]["tags"] = list(snip["tags"])
    if "status" in parts:
        st = {"uploadStatus": video["uploadStatus"], "privacyStatus": video["status"].get("privacyStatus", "public"),
              "license": "youtube", "embeddable": True, "publicStatsViewable": True,
              "selfDeclaredMadeForKids": bool(video["status"].get("selfDeclaredMadeForKids", False)),
              "madeForKids": bool(video["status"].get("selfDeclaredMadeForKids", False))}
        if "publishAt" in video["status"]:
            st["publishAt"] = video["status"]["publishAt"]
        if "containsSyntheticMedia" in video["status"]:
            st["containsSyntheticMedia"] = video["status"]["containsSyntheticMedia"]
        if video["uploadStatus"] == "failed":
            st["failureReason"] = "conversion"
        res["status"] = st
    if "processingDetails" in parts:
        proc = {"uploaded": "processing", "processed": "succeeded", "failed": "failed"}[video["uploadStatus"]]
        res["processingDetails"] = {"processingStatus": proc}
    if "statistics" in parts:
        post = state.find_post(P, video["id"])
        m = state.metrics(post) if post else {}
        res["statistics"] = {"viewCount": str(m.get("views", 0)), "likeCount": str(m.get("likes", 0)),
                             "favoriteCount": "0", "commentCount": str(m.get("comments", 0))}
    return res


async def _form(request: Request) -> dict[str, str]:
    # application/x-www-form-urlencoded by hand: python-multipart is not a dependency.
    return {k: v[0] for k, v in parse_qs((await request.body()).decode(), keep_blank_values=True).items()}


# ---- routes -----------------------------------------------------------------------------------------------------
def routes(state: SandboxState) -> list[BaseRoute]:

    def auth(request: Request) -> tuple[Grant, Account] | Response:
        grant = require_grant(state, P, request, ERRORS)
        if isinstance(grant, Response):
            return grant
        return grant, state.account(P, grant.account_id)

    def needs_scope(grant: Grant, *accepted: str) -> Response | None:
        if any(SCOPE_PREFIX + s in grant.scopes for s in accepted):
            return None
        return google_error(403, "insufficientPermissions", "Request had insufficient authentication scopes.",
                            api_status="PERMISSION_DENIED")

    async def insert(request: Request) -> Response:
        if request.method == "PUT":
            return await upload_chunk(request)
        who = auth(request)
        if isinstance(who, Response):
            return who
        grant, acct = who
        if denied := needs_scope(grant, "youtube.upload", "youtube", "youtube.force-ssl"):
            return denied
        if request.query_params.get("uploadType") != "resumable":
            return google_error(400, "badRequest", "Only uploadType=resumable is emulated.")
        parts = set(filter(None, request.query_params.get("part", "").split(",")))
        if not parts:
            return google_error(400, "required", "Required parameter: part")
        if bad := parts - INSERT_PARTS:
            return google_error(400, "unknownPart", f"Unknown part: {sorted(bad)[0]}")
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
        if invalid := validate_metadata(body, parts):
            return invalid
        if wait := state.hit_limit(P, acct.account_id, "session_start", SESSION_STARTS_PER_MIN, 60):
            return ERRORS.rate_limited(wait)
        if fault := await pre_faults(state, P, "session", ERRORS):
            return fault
        cap = acct.extra.get("daily_upload_cap")
        if cap is not None and _uploads_today(acct) >= int(cap):
            return google_error(400, "uploadLimitExceeded", "The user has exceeded the number of videos they may "
                                "upload.", domain="youtube.video")
        if over := charge(state, acct, "videos.insert", int(acct.extra.get("insert_quota", INSERT_QUOTA))):
            return over
        upload_id = "ADPycd" + secrets.token_urlsafe(24)
        with state.lock:
            _sessions(state)[upload_id] = {
                "account_id": acct.account_id, "body": body, "parts": sorted(parts),
                "total": int(length) if length else None, "data": bytearray(), "video_id": None,
                "expires_at": state.clock.now() + SESSION_TTL,
            }
        location = f"{request.url}&upload_id={upload_id}"
        return Response(status_code=200, headers={"Location": location, "X-GUploader-UploadID": upload_id})

    def _uploads_today(acct: Account) -> int:
        today = state.clock.now().astimezone(PACIFIC).date()
        return sum(1 for p in state.posts_for(P, acct.account_id) if p.created_at.astimezone(PACIFIC).date() == today)

    async def upload_chunk(request: Request) -> Response:
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
        if match and match.group(1) is None:  # `bytes */N`: status probe
            return _session_status(session)
        if session["video_id"]:
            return _session_status(session)
        if fault := await pre_faults(state, P, "upload", ERRORS):
            return fault
        first = int(match.group(1)) if match else 0
        last = int(match.group(2)) if match else len(data) - 1
        received = len(session["data"])
        if last - first + 1 != len(data):
            return google_error(400, "badRequest", "Content-Range does not match the body length.")
        if first > received:
            return google_error(400, "badRequest", f"The upload offset is {first} byte(s), which exceeds the "
                                f"already uploaded size of {received} byte(s).")
        total = int(total_s) if total_s != "*" else None
        final = total is not None and last + 1 == total
        if not final and len(data) % CHUNK:
            return google_error(400, "badRequest", f"The number of bytes uploaded is required to be a multiple of "
                                f"{CHUNK}, except for the final request. The request contained {len(data)} bytes.")
        with state.lock:
            session["data"].extend(data[received - first:])
            session["total"] = total if total is not None else session["total"]
        if not final:
            return _session_status(session)
        if fault := await pre_faults(state, P, "publish", ERRORS):
            return fault
        video = _create_video(session)
        await after_commit(state, P, "publish")
        return JSONResponse(video_resource(state, video, set(session["parts"]) | {"snippet", "status"}))

    def _session_status(session: dict[str, Any]) -> Response:
        if session["video_id"]:
            video = _videos(state)[session["video_id"]]
            return JSONResponse(video_resource(state, video, set(session["parts"]) | {"snippet", "status"}))
        received = len(session["data"])
        headers = {"Range": f"bytes=0-{received - 1}"} if received else {}
        return Response(status_code=308, headers={**headers, "X-GUploader-UploadID": "session"})

    def _create_video(session: dict[str, Any]) -> dict[str, Any]:
        acct = state.account(P, session["account_id"])
        body = session["body"]
        status = dict(body.get("status") or {})
        if acct.extra.get("unverified_project"):
            status["privacyStatus"] = "private"  # unaudited API projects are locked to private
        vid = _video_id()
        video = {"id": vid, "account_id": acct.account_id, "channel_id": channel_id(acct.account_id),
                 "channel_title": acct.handle, "snippet": dict(body.get("snippet") or {}), "status": status,
                 "uploadStatus": "uploaded", "polls": 0, "fails": processing_fails(state, P),
                 "created_at": state.clock.now(), "size": len(session["data"]),
                 "sha256": hashlib.sha256(session["data"]).hexdigest()}
        with state.lock:
            _videos(state)[vid] = video
            session["video_id"] = vid
        state.record_post(P, acct.account_id, vid, {"snippet": video["snippet"], "status": status,
                                                    "size": video["size"], "sha256": video["sha256"]})
        return video

    async def list_videos(request: Request) -> Response:
        who = auth(request)
        if isinstance(who, Response):
            return who
        grant, acct = who
        parts = set(filter(None, request.query_params.get("part", "").split(",")))
        if not parts:
            return google_error(400, "required", "Required parameter: part")
        if bad := parts - LIST_PARTS:
            return google_error(400, "unknownPart", f"Unknown part: {sorted(bad)[0]}")
        ids = [i for i in request.query_params.get("id", "").split(",") if i]
        if not ids:
            return google_error(400, "missingRequiredParameter", "No filter selected. Expected one of: id, "
                                "myRating, chart")
        if len(ids) > 50:
            return google_error(400, "invalidValue", "Too many ids: at most 50.")
        if denied := needs_scope(grant, "youtube.readonly", "youtube", "youtube.force-ssl"):
            return denied
        operation = "metrics" if parts == {"statistics"} else "status"
        if fault := await pre_faults(state, P, operation, ERRORS):
            return fault
        if over := charge(state, acct, "units", UNIT_POOL):
            return over
        items = []
        for vid in ids:
            video = _videos(state).get(vid)
            if video is None:
                continue
            mine = video["account_id"] == acct.account_id
            if not mine and video["status"].get("privacyStatus", "public") == "private":
                continue
            _advance(state, video, poll="status" in parts or "processingDetails" in parts)
            items.append(video_resource(state, video, parts))
        return JSONResponse({"kind": "youtube#videoListResponse", "etag": secrets.token_hex(8), "items": items,
                             "pageInfo": {"totalResults": len(items), "resultsPerPage": len(items)}})

    async def list_channels(request: Request) -> Response:
        who = auth(request)
        if isinstance(who, Response):
            return who
        grant, acct = who
        if request.query_params.get("mine") != "true":
            return google_error(400, "missingRequiredParameter", "Only mine=true is emulated.")
        if denied := needs_scope(grant, "youtube.readonly", "youtube", "youtube.force-ssl", "youtube.upload"):
            return denied
        if fault := await pre_faults(state, P, "channels", ERRORS):
            return fault
        if acct.extra.get("no_channel"):
            return google_error(401, "youtubeSignupRequired", "The user does not have a YouTube channel.",
                                domain="youtube.header")
        if over := charge(state, acct, "units", UNIT_POOL):
            return over
        cid = channel_id(acct.account_id)
        item = {"kind": "youtube#channel", "etag": hashlib.md5(cid.encode()).hexdigest(), "id": cid,
                "snippet": {"title": acct.handle, "customUrl": f"@{acct.handle}"},
                "contentDetails": {"relatedPlaylists": {"likes": "", "uploads": uploads_playlist(acct.account_id)}}}
        return JSONResponse({"kind": "youtube#channelListResponse", "items": [item],
                             "pageInfo": {"totalResults": 1, "resultsPerPage": 5}})

    async def list_playlist_items(request: Request) -> Response:
        who = auth(request)
        if isinstance(who, Response):
            return who
        grant, acct = who
        if denied := needs_scope(grant, "youtube.readonly", "youtube", "youtube.force-ssl"):
            return denied
        playlist = request.query_params.get("playlistId", "")
        try:
            size = int(request.query_params.get("maxResults", "5"))
            offset = int(request.query_params.get("pageToken") or 0)
        except ValueError:
            return google_error(400, "invalidPageToken", "Invalid page token or maxResults.")
        if not 0 <= size <= 50:
            return google_error(400, "invalidValue", "maxResults must be between 0 and 50.")
        if fault := await pre_faults(state, P, "playlist", ERRORS):
            return fault
        owner = next((a for (p, _), a in state.accounts.items() if p == P and uploads_playlist(a.account_id)
                      == playlist), None)
        if owner is None:
            return google_error(404, "playlistNotFound", "The playlist identified with the request's playlistId "
                                "parameter cannot be found.", domain="youtube.playlistItem")
        if over := charge(state, acct, "units", UNIT_POOL):
            return over
        mine = owner.account_id == acct.account_id
        videos = sorted((v for v in _videos(state).values() if v["account_id"] == owner.account_id
                         and (mine or v["status"].get("privacyStatus", "public") != "private")),
                        key=lambda v: v["created_at"], reverse=True)
        page = videos[offset:offset + size]
        items = [{"kind": "youtube#playlistItem", "id": base64.urlsafe_b64encode(f"{playlist}.{v['id']}".encode())
                  .decode().rstrip("="),
                  "snippet": {"publishedAt": _iso(v["created_at"]), "channelId": v["channel_id"],
                              "title": v["snippet"].get("title", ""),
                              "description": v["snippet"].get("description", ""), "playlistId": playlist,
                              "position": offset + n, "resourceId": {"kind": "youtube#video", "videoId": v["id"]}},
                  "contentDetails": {"videoId": v["id"], "videoPublishedAt": _iso(v["created_at"])}}
                 for n, v in enumerate(page)]
        out: dict[str, Any] = {"kind": "youtube#playlistItemListResponse", "items": items,
                               "pageInfo": {"totalResults": len(videos), "resultsPerPage": size}}
        if offset + size < len(videos):
            out["nextPageToken"] = str(offset + size)
        return JSONResponse(out)

    async def authorize(request: Request) -> Response:
        q = request.query_params
        redirect_uri, client_id = q.get("redirect_uri", ""), q.get("client_id", "")
        if not client_id or not redirect_uri:
            return JSONResponse({"error": "invalid_request", "error_description": "Missing required parameter"},
                                status_code=400)
        sep = "&" if "?" in redirect_uri else "?"

        def back(**params: str) -> Response:
            return RedirectResponse(f"{redirect_uri}{sep}{urlencode({**params, 'state': q.get('state', '')})}", 302)

        if q.get("response_type") != "code":
            return back(error="unsupported_response_type")
        requested = q.get("scope", "").split()
        if not requested or any(s not in KNOWN_SCOPES for s in requested):
            return back(error="invalid_scope")
        if q.get("code_challenge") and q.get("code_challenge_method", "plain") not in ("S256", "plain"):
            return back(error="invalid_request")
        allowed = q.get("sandbox_scopes")
        granted = tuple(s for s in requested if allowed is None or s in allowed.replace(",", " ").split())
        code = state.authorize(P, client_id=client_id, redirect_uri=redirect_uri, scopes=granted,
                               challenge=q.get("code_challenge"), method=q.get("code_challenge_method"),
                               account_id=q.get("sandbox_account"))
        # Google issues a refresh token only for access_type=offline (prompt=consent re-issues it every time).
        state.objects[f"{P}:code:{code}"] = {"offline": q.get("access_type") == "offline"}
        return back(code=code, scope=" ".join(granted))

    async def token(request: Request) -> Response:
        form = await _form(request)
        if fault := await pre_faults(state, P, "token", ERRORS):
            return fault
        client_id = str(form.get("client_id", ""))
        basic = request.headers.get("authorization", "")
        if not client_id and basic.lower().startswith("basic "):
            client_id = base64.b64decode(basic[6:]).decode().split(":", 1)[0]
        if not client_id:
            return JSONResponse({"error": "invalid_client", "error_description": "The OAuth client was not found."},
                                status_code=401)
        try:
            if form.get("grant_type") == "authorization_code":
                code = str(form.get("code", ""))
                ac = state.redeem_code(P, code, client_id=client_id, redirect_uri=str(form.get("redirect_uri", "")),
                                       verifier=form.get("code_verifier") or None,
                                       pkce_required=False)
                offline = state.objects.pop(f"{P}:code:{code}", {}).get("offline", False)
                grant = state.issue_grant(P, ac.account_id, ac.scopes, access_ttl_s=3599,
                                          refresh_ttl_s=180 * 86400 if offline else None, client_id=client_id)
            elif form.get("grant_type") == "refresh_token":
                grant = state.refresh_grant(P, str(form.get("refresh_token", "")), access_ttl_s=3599,
                                            refresh_ttl_s=None, rotate=False)
                return JSONResponse({"access_token": grant.access_token, "expires_in": 3599,
                                     "scope": " ".join(grant.scopes), "token_type": "Bearer"})
            else:
                return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        except OAuthFailure as exc:
            status = 401 if exc.error == "invalid_client" else 400
            return JSONResponse({"error": exc.error, "error_description": exc.description}, status_code=status)
        out: dict[str, Any] = {"access_token": grant.access_token, "expires_in": 3599,
                               "scope": " ".join(grant.scopes), "token_type": "Bearer"}
        if grant.refresh_token:
            out["refresh_token"] = grant.refresh_token
        return JSONResponse(out)

    async def revoke(request: Request) -> Response:
        tok = (await _form(request)).get("token", "") or bearer_token(request) or ""
        with state.lock:
            grant = state.refresh_index.get(tok) or state.grants.get(tok)
            if grant is None:
                return JSONResponse({"error": "invalid_token"}, status_code=400)
            state.revoked_families.add(grant.family)
        return Response(status_code=200)

    return [
        Route("/upload/youtube/v3/videos", insert, methods=["POST", "PUT"]),
        Route("/youtube/v3/videos", list_videos, methods=["GET"]),
        Route("/youtube/v3/channels", list_channels, methods=["GET"]),
        Route("/youtube/v3/playlistItems", list_playlist_items, methods=["GET"]),
        Route("/o/oauth2/v2/auth", authorize, methods=["GET"]),
        Route("/token", token, methods=["POST"]),
        Route("/revoke", revoke, methods=["POST"]),
    ]
