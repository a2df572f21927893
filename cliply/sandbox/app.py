"""The sandbox ASGI app: each platform mounted at /<platform>, control endpoints at /_sandbox, every request logged."""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json
from datetime import timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cliply.sandbox.common import Endpoint, bind
from cliply.sandbox.state import Fault, RecordedPost, RecordedRequest, SandboxState

PLATFORMS = ("youtube", "tiktok", "instagram", "facebook", "threads", "x", "linkedin", "pinterest", "bluesky")
_LOGGED_HEADERS = (
    "content-type",
    "content-length",
    "content-range",
    "x-upload-content-length",
    "x-upload-content-type",
    "linkedin-version",
    "x-restli-protocol-version",
    "offset",
    "file_offset",
    "x-goog-upload-command",
    "x-goog-upload-offset",
    "etag",
    "if-match",
    "authorization",
)


class RecordRequests:
    """ASGI middleware: log method, path, chosen headers, body size and hash, and status for contract tests."""

    def __init__(self, app: ASGIApp, state: SandboxState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_sandbox"):
            await self.app(scope, receive, send)
            return
        size = 0
        digest = hashlib.sha256()
        status = 0
        body_done = False

        async def counting_receive() -> Message:
            nonlocal size, body_done
            message = await receive()
            if message["type"] == "http.request":
                body = message.get("body", b"")
                size += len(body)
                digest.update(body)
                body_done = not message.get("more_body", False)
            elif message["type"] == "http.disconnect":
                body_done = True
            return message

        recorded = False

        def record() -> None:
            # Logged when the response starts, before the client can see it: a test that counts requests right
            # after a call returns never misses that call's entry.
            nonlocal recorded
            if recorded:
                return
            recorded = True
            headers = {k.decode().lower(): v.decode(errors="replace") for k, v in scope["headers"]}
            kept = {
                k: ("<redacted>" if k == "authorization" else v) for k, v in headers.items() if k in _LOGGED_HEADERS
            }
            platform = scope["path"].strip("/").split("/", 1)[0]
            self.state.record_request(
                RecordedRequest(
                    platform,
                    scope["method"],
                    scope["path"],
                    scope.get("query_string", b"").decode(),
                    kept,
                    size,
                    digest.hexdigest(),
                    status,
                )
            )

        async def capturing_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                # An endpoint that answers without reading the body (auth error, scripted fault, 404) must still
                # log the full size and hash; once the response starts the server no longer hands the body over.
                while not body_done:
                    await counting_receive()
                record()
            await send(message)

        self.state.in_flight += 1
        try:
            await self.app(scope, counting_receive, capturing_send)
        finally:
            self.state.in_flight -= 1
            record()  # a request that ended without a response (client gone, server error)


# ---- /_sandbox controls ---------------------------------------------------------------------------------------------
async def posts(state: SandboxState, request: Request) -> Response:
    """Every accepted post, optionally of one platform and account."""
    rows = state.posts_for(request.query_params.get("platform"), request.query_params.get("account"))
    return JSONResponse(
        [
            {
                "platform": p.platform,
                "account_id": p.account_id,
                "post_id": p.post_id,
                "created_at": p.created_at.isoformat(),
                "payload": p.payload,
            }
            for p in rows
        ]
    )


def _post_json(post: RecordedPost) -> dict[str, Any]:
    return {
        "platform": post.platform,
        "account_id": post.account_id,
        "post_id": post.post_id,
        "created_at": post.created_at.isoformat(),
        "payload": post.payload,
        "public_url": post.payload.get("public_url", ""),
    }


async def one_post(state: SandboxState, request: Request) -> Response:
    """One accepted post by platform and post id (or TikTok's publish_id): the link `make demo` prints, since a
    platform-looking URL would point at a post that exists nowhere but here. DELETE deletes it on the platform."""
    platform, post_id = request.path_params["platform"], request.path_params["post_id"]
    if request.method == "DELETE":
        if not state.delete_post(platform, post_id):
            return JSONResponse({"error": f"no live {platform} post {post_id!r} in this sandbox"}, status_code=404)
        return JSONResponse({"deleted": True, "platform": platform, "post_id": post_id})
    post = state.find_post(platform, post_id) or next(
        (p for p in state.posts_for(platform) if p.payload.get("publish_id") == post_id), None
    )
    if post is None:
        return JSONResponse({"error": f"no {platform} post {post_id!r} in this sandbox"}, status_code=404)
    return JSONResponse(
        {
            "platform": post.platform,
            "account_id": post.account_id,
            "post_id": post.post_id,
            "created_at": post.created_at.isoformat(),
            "payload": post.payload,
        }
    )


async def seed(state: SandboxState, request: Request) -> Response:
    """A post that exists on a platform without Cliply having published it: {platform, account_id, post_id?,
    age_s?, text?, options?} → the post, with `public_url` (what `cliply track` is given)."""
    body: Any = await request.json()
    try:
        post = state.seed_post(
            str(body["platform"]),
            str(body["account_id"]),
            body.get("post_id"),
            age=timedelta(seconds=float(body.get("age_s", 0))),
            text=str(body.get("text", "")),
            **dict(body.get("options") or {}),
        )
    except (KeyError, TypeError, ValueError) as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)
    return JSONResponse(_post_json(post), status_code=201)


async def metrics(state: SandboxState, request: Request) -> Response:
    """The ground truth behind every platform's analytics answer for one post: all counters now, its age and
    whether a platform correction has lowered the views (`corrected`)."""
    platform, post_id = request.path_params["platform"], request.path_params["post_id"]
    post = state.find_post(platform, post_id, include_deleted=True)
    if post is None:
        return JSONResponse({"error": f"no {platform} post {post_id!r} in this sandbox"}, status_code=404)
    return JSONResponse(
        {
            **_post_json(post),
            "age_s": state.age_s(post),
            "deleted": (platform, post_id) in state.deleted,
            "counters": state.metrics(post),
        }
    )


async def faults(state: SandboxState, request: Request) -> Response:
    """GET: what is scripted (with the remaining `times` of each); POST: add a fault or a list; DELETE: clear."""
    if request.method == "GET":
        with state.lock:
            return JSONResponse([dataclasses.asdict(f) for f in state.faults])
    if request.method == "DELETE":
        with state.lock:
            state.faults.clear()
        return JSONResponse({"faults": 0})
    body: Any = await request.json()
    try:  # validate the whole batch first: a bad item (unknown kind/field) adds nothing and is a 400, not a 500
        batch = [Fault(**item) for item in (body if isinstance(body, list) else [body])]
    except (TypeError, ValueError) as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)
    for fault in batch:
        state.add_fault(fault)
    return JSONResponse({"faults": len(state.faults)})


async def clock(state: SandboxState, request: Request) -> Response:
    body = await request.json()
    state.clock.advance(float(body.get("advance_s", 0)))
    return JSONResponse({"now": state.clock.now().isoformat()})


async def accounts(state: SandboxState, request: Request) -> Response:
    """Create an account with a ready grant (skipping the consent flow)."""
    body = await request.json()
    acct = state.add_account(body["platform"], body["account_id"], body.get("handle", ""), **body.get("extra", {}))
    grant = state.issue_grant(
        acct.platform,
        acct.account_id,
        tuple(body.get("scopes", ())),
        access_ttl_s=float(body.get("access_ttl_s", 3600)),
        refresh_ttl_s=float(body.get("refresh_ttl_s", 86400 * 60)),
    )
    return JSONResponse(
        {
            "account_id": acct.account_id,
            "access_token": grant.access_token,
            "refresh_token": grant.refresh_token,
            "expires_at": grant.expires_at.isoformat(),
        }
    )


async def reset(state: SandboxState, _request: Request) -> Response:
    state.reset()
    return JSONResponse({"ok": True})


async def health(state: SandboxState, _request: Request) -> Response:
    return JSONResponse({"ok": True, "platforms": list(PLATFORMS), "now": state.clock.now().isoformat()})


CONTROLS = [
    Endpoint("/_sandbox/posts", posts),
    Endpoint("/_sandbox/posts/{platform}/{post_id:path}", one_post, ("GET", "DELETE")),
    Endpoint("/_sandbox/seed", seed, ("POST",)),
    Endpoint("/_sandbox/metrics/{platform}/{post_id:path}", metrics),
    Endpoint("/_sandbox/faults", faults, ("GET", "POST", "DELETE")),
    Endpoint("/_sandbox/clock", clock, ("POST",)),
    Endpoint("/_sandbox/accounts", accounts, ("POST",)),
    Endpoint("/_sandbox/reset", reset, ("POST",)),
    Endpoint("/_sandbox/health", health),
]


def create_app(state: SandboxState | None = None) -> Starlette:
    state = state or SandboxState()
    mounts = []
    for name in PLATFORMS:
        module = importlib.import_module(f"cliply.sandbox.{name}")
        mounts.append(Mount(f"/{name}", routes=module.routes(state)))
    app = Starlette(routes=[*bind(state, CONTROLS), *mounts])
    app.state.sandbox = state
    app.add_middleware(RecordRequests, state=state)
    return app


def load_faults(path: str) -> list[Fault]:
    """A scenario file: a JSON list of faults, e.g. [{"platform": "x", "kind": "rate_limit", "times": 2}]."""
    with open(path) as fh:
        return [Fault(**item) for item in json.load(fh)]
