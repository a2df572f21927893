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

import regex
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from cliply.sandbox.common import after_commit, bearer_token, pre_faults, processing_fails
from cliply.sandbox.state import Grant, OAuthFailure, SandboxState

P = "bluesky"
ACCESS_TTL, REFRESH_TTL = 2 * 3600, 90 * 86400
BLOB_LIMIT = 100 * 1024 * 1024
DAILY_VIDEOS = 25
CREATES_PER_HOUR = 5000 // 3  # 5,000 write points/hour, CREATE = 3
_TID = re.compile(r"^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$")


def _err(status: int, error: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": error, "message": message}, status_code=status, headers=headers)


def _ratelimit_headers(limit: int, retry_after_s: float, now: float, policy: str) -> dict[str, str]:
    return {"RateLimit-Limit": str(limit), "RateLimit-Remaining": "0", "RateLimit-Reset": str(int(now + retry_after_s)),
            "RateLimit-Policy": policy}


class Errors:
    def __init__(self, state: SandboxState) -> None:
        self.state = state

    def auth_expired(self) -> Response:
        return _err(400, "ExpiredToken", "Token has expired")

    def rate_limited(self, retry_after_s: float) -> Response:
        return _err(429, "RateLimitExceeded", "Rate Limit Exceeded",
                    _ratelimit_headers(3000, retry_after_s, self.state.clock.timestamp(), "3000;w=300"))

    def quota_exhausted(self, retry_after_s: float) -> Response:
        return _err(429, "UploadLimitExceeded", "You have exceeded the daily video upload limit",
                    _ratelimit_headers(DAILY_VIDEOS, retry_after_s, self.state.clock.timestamp(), "25;w=86400"))

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


def routes(state: SandboxState) -> list[BaseRoute]:
    E = Errors(state)

    def objs() -> dict[str, Any]:
        return state.objects.setdefault(P, {"passwords": {}, "blobs": {}, "records": {}, "jobs": {}, "service": {}})

    def session(request: Request) -> Grant | Response:
        token = bearer_token(request)
        if not token:
            return _err(401, "AuthenticationRequired", "Authentication Required")
        grant = state.bearer(P, token)
        if grant is not None:
            return grant
        known = state.grants.get(token)
        if known is not None and known.family not in state.revoked_families:
            return E.auth_expired()
        return _err(401, "InvalidToken", "Token could not be verified")

    async def authed(request: Request, operation: str) -> Grant | Response:
        grant = session(request)
        if not isinstance(grant, Grant):
            return grant
        return await pre_faults(state, P, operation, E) or grant

    def session_body(grant: Grant) -> dict[str, Any]:
        acct = state.account(P, grant.account_id)
        return {"did": acct.account_id, "handle": acct.handle, "accessJwt": grant.access_token,
                "refreshJwt": grant.refresh_token, "active": True, "email": f"{acct.handle}@example.test",
                "emailConfirmed": True}

    def new_session(did: str) -> Grant:
        return state.issue_grant(P, did, ("atproto",), access_ttl_s=ACCESS_TTL, refresh_ttl_s=REFRESH_TTL)

    # ---- accounts and sessions ---------------------------------------------------------------------------
    async def create_account(request: Request) -> Response:
        body = await request.json()
        handle, password = str(body.get("handle", "")), str(body.get("password", ""))
        if not re.fullmatch(r"[a-z0-9-]+(\.[a-z0-9-]+)+", handle) or len(password) < 8:
            return _err(400, "InvalidHandle" if len(password) >= 8 else "InvalidRequest", "invalid handle or password")
        if any(a.handle == handle for (p, _), a in state.accounts.items() if p == P):
            return _err(400, "HandleNotAvailable", "Handle already taken")
        did = "did:plc:" + secrets.token_hex(12)
        state.add_account(P, did, handle)
        objs()["passwords"][did] = password
        return JSONResponse(session_body(new_session(did)))

    async def create_session(request: Request) -> Response:
        body = await request.json()
        ident = str(body.get("identifier", ""))
        acct = next((a for (p, _), a in state.accounts.items() if p == P and ident in (a.handle, a.account_id)), None)
        if acct is None or objs()["passwords"].get(acct.account_id) != body.get("password"):
            return _err(401, "AuthenticationRequired", "Invalid identifier or password")
        now = state.clock.timestamp()
        for name, limit, window, policy in (("session5m", 30, 300, "30;w=300"), ("sessionDay", 300, 86400,
                                                                                 "300;w=86400")):
            wait = state.hit_limit(P, acct.account_id, name, limit, window)
            if wait is not None:
                return _err(429, "RateLimitExceeded", "Rate Limit Exceeded",
                            _ratelimit_headers(limit, wait, now, policy))
        if (fault := await pre_faults(state, P, "createSession", E)) is not None:
            return fault
        return JSONResponse(session_body(new_session(acct.account_id)))

    async def refresh_session(request: Request) -> Response:
        if (fault := await pre_faults(state, P, "refreshSession", E)) is not None:
            return fault
        token = bearer_token(request) or ""
        if token in state.grants:  # an access token where the refresh token belongs
            return _err(400, "InvalidToken", "Invalid token type")
        try:
            grant = state.refresh_grant(P, token, access_ttl_s=ACCESS_TTL, refresh_ttl_s=REFRESH_TTL, rotate=True)
        except OAuthFailure:
            return _err(400, "InvalidToken", "Token has been revoked")
        return JSONResponse(session_body(grant))

    async def resolve_handle(request: Request) -> Response:
        handle = request.query_params.get("handle", "")
        acct = next((a for (p, _), a in state.accounts.items() if p == P and a.handle == handle), None)
        if acct is None:
            return _err(400, "InvalidRequest", "Unable to resolve handle")
        return JSONResponse({"did": acct.account_id})

    # ---- blobs and the video service -----------------------------------------------------------------------
    def store_blob(did: str, data: bytes, mime: str) -> dict[str, Any]:
        cid = cid_for(data)
        # Blobs belong to a repo: two accounts uploading the same bytes each own their copy (same CID).
        objs()["blobs"][(did, cid)] = {"did": did, "size": len(data), "mime": mime}
        return {"$type": "blob", "ref": {"$link": cid}, "mimeType": mime, "size": len(data)}

    async def upload_blob(request: Request) -> Response:
        grant = await authed(request, "uploadBlob")
        if not isinstance(grant, Grant):
            return grant
        data = await request.body()
        if len(data) > BLOB_LIMIT:
            return _err(400, "BlobTooLarge", f"This file is too large. It is {len(data)} bytes, max {BLOB_LIMIT}")
        return JSONResponse({"blob": store_blob(grant.account_id, data, request.headers.get("content-type", ""))})

    async def service_auth(request: Request) -> Response:
        grant = await authed(request, "getServiceAuth")
        if not isinstance(grant, Grant):
            return grant
        q = request.query_params
        exp = int(q.get("exp", "0") or 0)
        if not q.get("aud") or (exp and exp - state.clock.timestamp() > 3600):
            return _err(400, "BadExpiration", "aud is required and exp must be within 60 minutes")
        token = "svc_" + secrets.token_urlsafe(24)
        objs()["service"][token] = {"did": grant.account_id, "lxm": q.get("lxm"), "aud": q["aud"]}
        return JSONResponse({"token": token})

    async def upload_video(request: Request) -> Response:
        svc = objs()["service"].get(bearer_token(request) or "")
        if svc is None or svc["lxm"] != "com.atproto.repo.uploadBlob":
            return _err(401, "AuthenticationRequired", "a service-auth token for uploadBlob is required")
        data = await request.body()
        if (fault := await pre_faults(state, P, "uploadVideo", E)) is not None:
            return fault
        if request.query_params.get("did") != svc["did"]:
            return _err(400, "InvalidRequest", "did does not match the token")
        wait = state.hit_limit(P, svc["did"], "videosDay", DAILY_VIDEOS, 86400)
        if wait is not None:
            return E.quota_exhausted(wait)
        job_id = secrets.token_hex(8)
        objs()["jobs"][job_id] = {"did": svc["did"], "data": data, "polls": 0, "fails": processing_fails(state, P)}
        return JSONResponse({"jobId": job_id, "did": svc["did"], "state": "JOB_STATE_CREATED"})

    async def job_status(request: Request) -> Response:
        job_id = request.query_params.get("jobId", "")
        job = objs()["jobs"].get(job_id)
        if job is None:
            return _err(400, "InvalidRequest", "job not found")
        job["polls"] += 1
        status: dict[str, Any] = {"jobId": job_id, "did": job["did"], "state": "JOB_STATE_ENCODING", "progress": 50}
        if job["polls"] >= 2:
            if job["fails"]:
                status.update(state="JOB_STATE_FAILED", error="Video is not supported")
            else:
                status.update(state="JOB_STATE_COMPLETED", progress=100,
                              blob=store_blob(job["did"], job["data"], "video/mp4"))
        return JSONResponse({"jobStatus": status})

    # ---- records -------------------------------------------------------------------------------------------------
    def record_problem(did: str, record: dict[str, Any]) -> str | None:
        text = record.get("text")
        if record.get("$type") != "app.bsky.feed.post" or not isinstance(text, str) or not record.get("createdAt"):
            return "record must be an app.bsky.feed.post with text and createdAt"
        if len(regex.findall(r"\X", text)) > 300 or len(text.encode()) > 3000:
            return "Record/text must not be longer than 300 graphemes"
        size = len(text.encode())
        for facet in record.get("facets", []):
            idx = facet.get("index", {})
            start, end = idx.get("byteStart"), idx.get("byteEnd")
            if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= size):
                return "facet byte range is outside the text"
        embed = record.get("embed")
        if embed is not None:
            if embed.get("$type") != "app.bsky.embed.video":
                return "only app.bsky.embed.video embeds are emulated"
            blob = objs()["blobs"].get((did, ((embed.get("video") or {}).get("ref") or {}).get("$link")))
            if blob is None or blob["did"] != did or not blob["mime"].startswith("video/"):
                return "Could not find blob"
            ratio = embed.get("aspectRatio") or {}
            if ratio and not (ratio.get("width", 0) > 0 and ratio.get("height", 0) > 0):
                return "aspectRatio must be positive"
        return None

    async def create_record(request: Request) -> Response:
        grant = await authed(request, "createRecord")
        if not isinstance(grant, Grant):
            return grant
        body = await request.json()
        did = grant.account_id
        if body.get("repo") not in (did, state.account(P, did).handle):
            return _err(400, "InvalidRequest", "repo must be the session's DID")
        if body.get("collection") != "app.bsky.feed.post":
            return _err(400, "InvalidRequest", "collection not emulated")
        rkey = body.get("rkey") or _tid()
        if not _TID.match(rkey):
            return _err(400, "InvalidRequest", "rkey must be a TID")
        problem = record_problem(did, body.get("record") or {})
        if problem:
            return _err(400, "InvalidRequest", problem)
        uri = f"at://{did}/app.bsky.feed.post/{rkey}"
        if uri in objs()["records"]:
            return E.server_error(500)  # what the real PDS (0.5.x) answers for a taken rkey
        wait = state.hit_limit(P, did, "creates1h", CREATES_PER_HOUR, 3600)
        if wait is not None:
            return _err(429, "RateLimitExceeded", "Rate Limit Exceeded",
                        _ratelimit_headers(5000, wait, state.clock.timestamp(), "5000;w=3600"))
        cid = cid_for(repr(body["record"]).encode(), 0x71)
        objs()["records"][uri] = {"cid": cid, "value": body["record"]}
        state.record_post(P, did, uri, body["record"])
        await after_commit(state, P, "createRecord")
        return JSONResponse({"uri": uri, "cid": cid, "commit": {"cid": cid_for(uri.encode(), 0x71), "rev": _tid()},
                             "validationStatus": "valid"})

    async def get_record(request: Request) -> Response:
        if (fault := await pre_faults(state, P, "getRecord", E)) is not None:
            return fault
        q = request.query_params
        repo = q.get("repo", "")
        acct = next((a for (p, _), a in state.accounts.items() if p == P and repo in (a.handle, a.account_id)), None)
        uri = f"at://{acct.account_id if acct else repo}/{q.get('collection')}/{q.get('rkey')}"
        rec = objs()["records"].get(uri)
        if rec is None:
            return _err(400, "RecordNotFound", f"Could not locate record: {uri}")
        return JSONResponse({"uri": uri, "cid": rec["cid"], "value": rec["value"]})

    async def get_posts(request: Request) -> Response:
        if (fault := await pre_faults(state, P, "getPosts", E)) is not None:
            return fault
        uris = request.query_params.getlist("uris")
        if not uris or len(uris) > 25:
            return _err(400, "InvalidRequest", "uris must hold 1..25 AT-URIs")
        out = []
        for uri in uris:
            post = state.find_post(P, uri)
            if post is None:
                continue
            m = state.metrics(post)
            acct = state.account(P, post.account_id)
            out.append({"uri": uri, "cid": objs()["records"][uri]["cid"],
                        "author": {"did": acct.account_id, "handle": acct.handle}, "record": post.payload,
                        "likeCount": m["likes"], "repostCount": m["shares"], "replyCount": m["comments"],
                        "quoteCount": m["shares"] // 4, "indexedAt": post.created_at.isoformat()})
        return JSONResponse({"posts": out})

    x = "/xrpc/"
    return [
        Route(x + "com.atproto.server.createAccount", create_account, methods=["POST"]),
        Route(x + "com.atproto.server.createSession", create_session, methods=["POST"]),
        Route(x + "com.atproto.server.refreshSession", refresh_session, methods=["POST"]),
        Route(x + "com.atproto.server.getServiceAuth", service_auth, methods=["GET"]),
        Route(x + "com.atproto.identity.resolveHandle", resolve_handle, methods=["GET"]),
        Route(x + "com.atproto.repo.uploadBlob", upload_blob, methods=["POST"]),
        Route(x + "com.atproto.repo.createRecord", create_record, methods=["POST"]),
        Route(x + "com.atproto.repo.getRecord", get_record, methods=["GET"]),
        Route(x + "app.bsky.video.uploadVideo", upload_video, methods=["POST"]),
        Route(x + "app.bsky.video.getJobStatus", job_status, methods=["GET"]),
        Route(x + "app.bsky.feed.getPosts", get_posts, methods=["GET"]),
    ]


def _tid() -> str:
    n = secrets.randbits(63)
    return "".join("234567abcdefghijklmnopqrstuvwxyz"[(n >> (5 * i)) & 31] for i in reversed(range(13)))
