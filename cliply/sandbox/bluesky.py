"""Emulated Bluesky (PDS + video service + public AppView) under /bluesky/xrpc: createAccount, createSession
(30/5 min and 300/day per account, RateLimit-* headers), refreshSession (rotating, replay → InvalidToken),
uploadBlob (size limit, CIDv1 refs), getServiceAuth + app.bsky.video.uploadVideo/getJobStatus (25 videos/day),
createRecord (lexicon checks: 300 graphemes / 3000 bytes, facet byte ranges, own blob, TID rkey uniqueness),
getRecord, resolveHandle, and app.bsky.feed.getPosts (≤ 25 URIs, counters grow with the clock, no views).

Fault operations: createSession, refreshSession, uploadBlob, uploadVideo, createRecord, getRecord, getPosts
("processing" + processing_failed makes the next video job fail)."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

from cliply.sandbox import growth
from cliply.sandbox.common import Endpoint, after_commit, bearer_token, bind, pre_faults, processing_fails, table
from cliply.sandbox.counting import BLUESKY_BYTES, BLUESKY_GRAPHEMES
from cliply.sandbox.state import Account, Grant, OAuthFailure, SandboxState

P = "bluesky"
ACCESS_TTL, REFRESH_TTL = 2 * 3600, 90 * 86400
BLOB_LIMIT = 100 * 1024 * 1024
DAILY_VIDEOS = 25
CREATES_PER_HOUR = 5000 // 3  # 5,000 write points/hour, CREATE = 3
_TID = re.compile(r"^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$")


def _err(status: int, error: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": error, "message": message}, status_code=status, headers=headers)


def _ratelimit_headers(limit: int, retry_after_s: float, now: float, policy: str) -> dict[str, str]:
    return {
        "RateLimit-Limit": str(limit),
        "RateLimit-Remaining": "0",
        "RateLimit-Reset": str(int(now + retry_after_s)),
        "RateLimit-Policy": policy,
    }


class Errors:
    def __init__(self, state: SandboxState) -> None:
        self.state = state

    def auth_expired(self) -> Response:
        return _err(400, "ExpiredToken", "Token has expired")

    def rate_limited(self, retry_after_s: float) -> Response:
        return _err(
            429,
            "RateLimitExceeded",
            "Rate Limit Exceeded",
            _ratelimit_headers(3000, retry_after_s, self.state.clock.timestamp(), "3000;w=300"),
        )

    def quota_exhausted(self, retry_after_s: float) -> Response:
        return _err(
            429,
            "UploadLimitExceeded",
            "You have exceeded the daily video upload limit",
            _ratelimit_headers(DAILY_VIDEOS, retry_after_s, self.state.clock.timestamp(), "25;w=86400"),
        )

    def server_error(self, status: int) -> Response:
        return _err(status, "InternalServerError", "Internal Server Error")

    def content_rejected(self) -> Response:
        return _err(400, "InvalidRequest", "Invalid app.bsky.feed.post record")

    def media_fetch_failed(self) -> Response:
        return self.content_rejected()

    def duplicate(self) -> Response:
        return _err(400, "InvalidRequest", "Record already exists")


def cid_for(data: bytes, codec: int = 0x55) -> str:
    """CIDv1 (raw or dag-cbor codec, sha2-256) in base32 — the same shape the PDS returns."""
    raw = bytes([0x01, codec, 0x12, 0x20]) + hashlib.sha256(data).digest()
    return "b" + base64.b32encode(raw).decode().lower().rstrip("=")


def _empty_pds() -> dict[str, Any]:
    return {"passwords": {}, "blobs": {}, "records": {}, "jobs": {}, "service": {}}


def objs(state: SandboxState) -> dict[str, Any]:
    return table(state, P, _empty_pds)


def find_account(state: SandboxState, ident: str) -> Account | None:
    """The account with this handle or DID."""
    return next((a for (p, _), a in state.accounts.items() if p == P and ident in (a.handle, a.account_id)), None)


def session(state: SandboxState, request: Request) -> Grant | Response:
    token = bearer_token(request)
    if not token:
        return _err(401, "AuthenticationRequired", "Authentication Required")
    grant = state.bearer(P, token)
    if grant is not None:
        return grant
    known = state.grants.get(token)
    if known is not None and known.family not in state.revoked_families:
        return Errors(state).auth_expired()
    return _err(401, "InvalidToken", "Token could not be verified")


async def authed(state: SandboxState, request: Request, operation: str) -> Grant | Response:
    grant = session(state, request)
    if not isinstance(grant, Grant):
        return grant
    return await pre_faults(state, P, operation, Errors(state)) or grant


def session_body(state: SandboxState, grant: Grant) -> dict[str, Any]:
    acct = state.account(P, grant.account_id)
    return {
        "did": acct.account_id,
        "handle": acct.handle,
        "accessJwt": grant.access_token,
        "refreshJwt": grant.refresh_token,
        "active": True,
        "email": f"{acct.handle}@example.test",
        "emailConfirmed": True,
    }


def new_session(state: SandboxState, did: str) -> Grant:
    return state.issue_grant(P, did, ("atproto",), access_ttl_s=ACCESS_TTL, refresh_ttl_s=REFRESH_TTL)


# ---- accounts and sessions -------------------------------------------------------------------------------------------
async def create_account(state: SandboxState, request: Request) -> Response:
    body = await request.json()
    handle, password = str(body.get("handle", "")), str(body.get("password", ""))
    if not re.fullmatch(r"[a-z0-9-]+(\.[a-z0-9-]+)+", handle) or len(password) < 8:
        return _err(400, "InvalidHandle" if len(password) >= 8 else "InvalidRequest", "invalid handle or password")
    if any(a.handle == handle for (p, _), a in state.accounts.items() if p == P):
        return _err(400, "HandleNotAvailable", "Handle already taken")
    did = "did:plc:" + secrets.token_hex(12)
    state.add_account(P, did, handle)
    objs(state)["passwords"][did] = password
    return JSONResponse(session_body(state, new_session(state, did)))


SESSION_LIMITS = (("session5m", 30, 300, "30;w=300"), ("sessionDay", 300, 86400, "300;w=86400"))


def _session_limited(state: SandboxState, did: str) -> Response | None:
    now = state.clock.timestamp()
    for name, limit, window, policy in SESSION_LIMITS:
        wait = state.hit_limit(P, did, name, limit, window)
        if wait is not None:
            return _err(429, "RateLimitExceeded", "Rate Limit Exceeded", _ratelimit_headers(limit, wait, now, policy))
    return None


async def create_session(state: SandboxState, request: Request) -> Response:
    body = await request.json()
    acct = find_account(state, str(body.get("identifier", "")))
    if acct is None or objs(state)["passwords"].get(acct.account_id) != body.get("password"):
        return _err(401, "AuthenticationRequired", "Invalid identifier or password")
    if limited := _session_limited(state, acct.account_id):
        return limited
    if (fault := await pre_faults(state, P, "createSession", Errors(state))) is not None:
        return fault
    return JSONResponse(session_body(state, new_session(state, acct.account_id)))


async def refresh_session(state: SandboxState, request: Request) -> Response:
    if (fault := await pre_faults(state, P, "refreshSession", Errors(state))) is not None:
        return fault
    token = bearer_token(request) or ""
    if token in state.grants:  # an access token where the refresh token belongs
        return _err(400, "InvalidToken", "Invalid token type")
    try:
        grant = state.refresh_grant(P, token, access_ttl_s=ACCESS_TTL, refresh_ttl_s=REFRESH_TTL, rotate=True)
    except OAuthFailure:
        return _err(400, "InvalidToken", "Token has been revoked")
    return JSONResponse(session_body(state, grant))


async def resolve_handle(state: SandboxState, request: Request) -> Response:
    handle = request.query_params.get("handle", "")
    acct = next((a for (p, _), a in state.accounts.items() if p == P and a.handle == handle), None)
    if acct is None:
        return _err(400, "InvalidRequest", "Unable to resolve handle")
    return JSONResponse({"did": acct.account_id})


# ---- blobs and the video service -------------------------------------------------------------------------------------
def store_blob(state: SandboxState, did: str, data: bytes, mime: str) -> dict[str, Any]:
    cid = cid_for(data)
    # Blobs belong to a repo: two accounts uploading the same bytes each own their copy (same CID).
    objs(state)["blobs"][(did, cid)] = {"did": did, "size": len(data), "mime": mime}
    return {"$type": "blob", "ref": {"$link": cid}, "mimeType": mime, "size": len(data)}


async def upload_blob(state: SandboxState, request: Request) -> Response:
    grant = await authed(state, request, "uploadBlob")
    if not isinstance(grant, Grant):
        return grant
    data = await request.body()
    if len(data) > BLOB_LIMIT:
        return _err(400, "BlobTooLarge", f"This file is too large. It is {len(data)} bytes, max {BLOB_LIMIT}")
    blob = store_blob(state, grant.account_id, data, request.headers.get("content-type", ""))
    return JSONResponse({"blob": blob})


async def service_auth(state: SandboxState, request: Request) -> Response:
    grant = await authed(state, request, "getServiceAuth")
    if not isinstance(grant, Grant):
        return grant
    q = request.query_params
    exp = int(q.get("exp", "0") or 0)
    if not q.get("aud") or (exp and exp - state.clock.timestamp() > 3600):
        return _err(400, "BadExpiration", "aud is required and exp must be within 60 minutes")
    token = "svc_" + secrets.token_urlsafe(24)
    objs(state)["service"][token] = {"did": grant.account_id, "lxm": q.get("lxm"), "aud": q["aud"]}
    return JSONResponse({"token": token})


async def upload_video(state: SandboxState, request: Request) -> Response:
    svc = objs(state)["service"].get(bearer_token(request) or "")
    if svc is None or svc["lxm"] != "com.atproto.repo.uploadBlob":
        return _err(401, "AuthenticationRequired", "a service-auth token for uploadBlob is required")
    data = await request.body()
    if (fault := await pre_faults(state, P, "uploadVideo", Errors(state))) is not None:
        return fault
    if request.query_params.get("did") != svc["did"]:
        return _err(400, "InvalidRequest", "did does not match the token")
    wait = state.hit_limit(P, svc["did"], "videosDay", DAILY_VIDEOS, 86400)
    if wait is not None:
        return Errors(state).quota_exhausted(wait)
    job_id = secrets.token_hex(8)
    objs(state)["jobs"][job_id] = {"did": svc["did"], "data": data, "polls": 0, "fails": processing_fails(state, P)}
    return JSONResponse({"jobId": job_id, "did": svc["did"], "state": "JOB_STATE_CREATED"})


async def job_status(state: SandboxState, request: Request) -> Response:
    job_id = request.query_params.get("jobId", "")
    job = objs(state)["jobs"].get(job_id)
    if job is None:
        return _err(400, "InvalidRequest", "job not found")
    job["polls"] += 1
    status: dict[str, Any] = {"jobId": job_id, "did": job["did"], "state": "JOB_STATE_ENCODING", "progress": 50}
    if job["polls"] >= 2:
        if job["fails"]:
            status.update(state="JOB_STATE_FAILED", error="Video is not supported")
        else:
            status.update(
                state="JOB_STATE_COMPLETED", progress=100, blob=store_blob(state, job["did"], job["data"], "video/mp4")
            )
    return JSONResponse({"jobStatus": status})


# ---- records ---------------------------------------------------------------------------------------------------------
def _text_problem(record: dict[str, Any]) -> str | None:
    text = record.get("text")
    if record.get("$type") != "app.bsky.feed.post" or not isinstance(text, str) or not record.get("createdAt"):
        return "record must be an app.bsky.feed.post with text and createdAt"
    if BLUESKY_GRAPHEMES.too_long(text) or BLUESKY_BYTES.too_long(text):
        return "Record/text must not be longer than 300 graphemes"
    size = len(text.encode())
    for facet in record.get("facets", []):
        idx = facet.get("index", {})
        start, end = idx.get("byteStart"), idx.get("byteEnd")
        if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= size):
            return "facet byte range is outside the text"
    return None


def _embed_problem(state: SandboxState, did: str, embed: dict[str, Any]) -> str | None:
    if embed.get("$type") != "app.bsky.embed.video":
        return "only app.bsky.embed.video embeds are emulated"
    blob = objs(state)["blobs"].get((did, ((embed.get("video") or {}).get("ref") or {}).get("$link")))
    if blob is None or blob["did"] != did or not blob["mime"].startswith("video/"):
        return "Could not find blob"
    ratio = embed.get("aspectRatio") or {}
    if ratio and not (ratio.get("width", 0) > 0 and ratio.get("height", 0) > 0):
        return "aspectRatio must be positive"
    return None


def record_problem(state: SandboxState, did: str, record: dict[str, Any]) -> str | None:
    embed = record.get("embed")
    return _text_problem(record) or (_embed_problem(state, did, embed) if embed is not None else None)


def _create_request_problem(state: SandboxState, did: str, body: dict[str, Any], rkey: str) -> Response | None:
    if body.get("repo") not in (did, state.account(P, did).handle):
        return _err(400, "InvalidRequest", "repo must be the session's DID")
    if body.get("collection") != "app.bsky.feed.post":
        return _err(400, "InvalidRequest", "collection not emulated")
    if not _TID.match(rkey):
        return _err(400, "InvalidRequest", "rkey must be a TID")
    if problem := record_problem(state, did, body.get("record") or {}):
        return _err(400, "InvalidRequest", problem)
    return None


async def create_record(state: SandboxState, request: Request) -> Response:
    grant = await authed(state, request, "createRecord")
    if not isinstance(grant, Grant):
        return grant
    body = await request.json()
    did = grant.account_id
    rkey = body.get("rkey") or _tid()
    if problem := _create_request_problem(state, did, body, rkey):
        return problem
    uri = f"at://{did}/app.bsky.feed.post/{rkey}"
    if uri in objs(state)["records"]:
        return Errors(state).server_error(500)  # what the real PDS (0.5.x) answers for a taken rkey
    wait = state.hit_limit(P, did, "creates1h", CREATES_PER_HOUR, 3600)
    if wait is not None:
        return _err(
            429,
            "RateLimitExceeded",
            "Rate Limit Exceeded",
            _ratelimit_headers(5000, wait, state.clock.timestamp(), "5000;w=3600"),
        )
    cid = cid_for(repr(body["record"]).encode(), 0x71)
    objs(state)["records"][uri] = {"cid": cid, "value": body["record"]}
    state.record_post(P, did, uri, body["record"])
    await after_commit(state, P, "createRecord")
    return JSONResponse(
        {
            "uri": uri,
            "cid": cid,
            "commit": {"cid": cid_for(uri.encode(), 0x71), "rev": _tid()},
            "validationStatus": "valid",
        }
    )


async def get_record(state: SandboxState, request: Request) -> Response:
    if (fault := await pre_faults(state, P, "getRecord", Errors(state))) is not None:
        return fault
    q = request.query_params
    repo = q.get("repo", "")
    acct = find_account(state, repo)
    uri = f"at://{acct.account_id if acct else repo}/{q.get('collection')}/{q.get('rkey')}"
    rec = objs(state)["records"].get(uri)
    if rec is None:
        return _err(400, "RecordNotFound", f"Could not locate record: {uri}")
    return JSONResponse({"uri": uri, "cid": rec["cid"], "value": rec["value"]})


def post_view(state: SandboxState, uri: str, post: Any) -> dict[str, Any]:
    m = state.metrics(post)
    acct = state.account(P, post.account_id)
    rec = objs(state)["records"][uri]
    return {
        "uri": uri,
        "cid": rec["cid"],
        "author": {"did": acct.account_id, "handle": acct.handle},
        "record": rec["value"],
        "likeCount": m["likes"],
        "repostCount": m["shares"],
        "replyCount": m["comments"],
        "quoteCount": m["quotes"],
        "indexedAt": post.created_at.isoformat(),
    }  # no view count: Bluesky has none


def indexed(state: SandboxState, post: Any) -> bool:
    """The AppView indexes a new record a few seconds after the PDS commits it (account extra `index_lag_s`)."""
    pinned = state.account(P, post.account_id).extra.get("index_lag_s")
    lag = float(pinned) if pinned is not None else growth.delay_s(P, post.post_id, "index", 1, 15)
    return state.age_s(post) >= lag


async def get_posts(state: SandboxState, request: Request) -> Response:
    """Public AppView read: deleted, unknown and not-yet-indexed posts are simply left out."""
    if (fault := await pre_faults(state, P, "getPosts", Errors(state))) is not None:
        return fault
    uris = request.query_params.getlist("uris")
    if not uris or len(uris) > 25:
        return _err(400, "InvalidRequest", "uris must hold 1..25 AT-URIs")
    found = [(uri, state.find_post(P, uri)) for uri in dict.fromkeys(uris)]
    return JSONResponse(
        {"posts": [post_view(state, uri, post) for uri, post in found if post is not None and indexed(state, post)]}
    )


_X = "/xrpc/"
TABLE = [
    Endpoint(_X + "com.atproto.server.createAccount", create_account, ("POST",)),
    Endpoint(_X + "com.atproto.server.createSession", create_session, ("POST",)),
    Endpoint(_X + "com.atproto.server.refreshSession", refresh_session, ("POST",)),
    Endpoint(_X + "com.atproto.server.getServiceAuth", service_auth),
    Endpoint(_X + "com.atproto.identity.resolveHandle", resolve_handle),
    Endpoint(_X + "com.atproto.repo.uploadBlob", upload_blob, ("POST",)),
    Endpoint(_X + "com.atproto.repo.createRecord", create_record, ("POST",)),
    Endpoint(_X + "com.atproto.repo.getRecord", get_record),
    Endpoint(_X + "app.bsky.video.uploadVideo", upload_video, ("POST",)),
    Endpoint(_X + "app.bsky.video.getJobStatus", job_status),
    Endpoint(_X + "app.bsky.feed.getPosts", get_posts),
]


def routes(state: SandboxState) -> list[BaseRoute]:
    return bind(state, TABLE)


def _tid() -> str:
    n = secrets.randbits(63)
    return "".join("234567abcdefghijklmnopqrstuvwxyz"[(n >> (5 * i)) & 31] for i in reversed(range(13)))
