"""The HTTP service: probes, OAuth connect (start → platform → callback), the REST API (Bearer API token → one
workspace; every query goes through that workspace's scope), signed local uploads and media downloads.

Secrets never leave the service: tokens and app passwords are not returned, logged or put in error messages."""

from __future__ import annotations

import hashlib
import hmac
import html
import logging
import os
import secrets
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import select, update
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from cliply.config import Settings
from cliply.http.auth import Unauthorized, authenticate
from cliply.http.readiness import run_checks
from cliply.platforms import PLATFORMS, make_client
from cliply.platforms.base import PlatformClient
from cliply.platforms.errors import PlatformError
from cliply.publishing.captions import (
    CaptionRejected,
    TargetDraft,
    create_checked_post,
    edit_post,
    parse_schedule,
)
from cliply.publishing.media_urls import MediaUrlSigner
from cliply.security.vault import KeyRing, TokenVault, VaultError
from cliply.storage.media_store import LocalMediaStore, MediaStore, S3MediaStore, validate_key
from cliply.store.accounts import AccountsRepo, account_status, oauth_state_owner
from cliply.store.db import Database
from cliply.store.models import Workspace, utcnow
from cliply.store.models_accounts import Account
from cliply.store.models_publishing import Post, PostTarget
from cliply.store.repo import NotFound, WorkspaceScope

log = logging.getLogger(__name__)
access_log = logging.getLogger("cliply.http.access")
UPLOAD_TTL_S = 3600
ClientFactory = Callable[[str], PlatformClient]


class ApiError(Exception):
    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.message, self.extra = status, message, extra


@dataclass
class Services:
    settings: Settings
    db: Database
    media: MediaStore
    vault: TokenVault
    clients: ClientFactory
    signer: MediaUrlSigner
    public_base_url: str

    @contextmanager
    def session(self) -> Iterator[Any]:
        with self.db.session() as session:
            yield session


def _default_media(settings: Settings) -> MediaStore:
    from cliply_resources import MediaStoreResource

    return MediaStoreResource(url=settings.resolved_media_url).get()


def build_services(settings: Settings, *, db: Database | None = None, media: MediaStore | None = None,
                   vault: TokenVault | None = None, clients: ClientFactory | None = None,
                   environ: Mapping[str, str] | None = None) -> Services:
    env = os.environ if environ is None else environ
    if db is None:
        db = Database(settings.resolved_database_url)
        try:
            db.migrate()
        except Exception as exc:  # start anyway: /readyz reports the database until it is reachable
            log.warning("database not migrated at start-up: %s", type(exc).__name__)
    media = media or _default_media(settings)
    vault = vault or TokenVault(KeyRing.from_env(env, settings.home))
    signer = MediaUrlSigner.from_env(media, env, home=settings.home)
    base = (getattr(settings, "public_base_url", "") or env.get("CLIPLY_PUBLIC_BASE_URL", "")).rstrip("/")
    return Services(settings, db, media, vault, clients or make_client, signer, base)


# --- serialisation (also used by the CLI) ---


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def account_json(account: Account, now: datetime | None = None) -> dict[str, Any]:
    return {"id": account.id, "platform": account.platform, "handle": account.handle,
            "external_id": account.external_id, "status": account_status(account, now or utcnow()),
            "expires_at": _iso(account.expires_at), "refresh_expires_at": _iso(account.refresh_expires_at),
            "scopes": list(account.scopes or []), "last_error": account.last_error,
            "created_at": _iso(account.created_at)}


def target_json(t: PostTarget) -> dict[str, Any]:
    return {"id": t.id, "platform": t.platform, "account_id": t.account_id, "state": t.state, "caption": t.caption,
            "title": t.title, "due_at": _iso(t.due_at), "attempts": t.attempts, "error_class": t.error_class,
            "error_message": t.error_message, "wait_reason": t.wait_reason, "platform_post_id": t.platform_post_id,
            "url": t.url, "published_at": _iso(t.published_at)}


def post_json(post: Post, targets: list[PostTarget] | None = None) -> dict[str, Any]:
    out = {"id": post.id, "clip_id": post.clip_id, "caption": post.caption, "status": post.status,
           "scheduled_at": _iso(post.scheduled_at), "timezone": post.timezone, "created_at": _iso(post.created_at)}
    if targets is not None:
        out["targets"] = [target_json(t) for t in targets]
    return out


def scoped_posts(scope: WorkspaceScope, status: str | None = None, limit: int = 200) -> list[Post]:
    stmt = select(Post).where(Post.workspace_id == scope.workspace_id)
    if status:
        stmt = stmt.where(Post.status == status)
    return list(scope.session.scalars(stmt.order_by(Post.scheduled_at.desc(), Post.id).limit(limit)))


def scoped_post(scope: WorkspaceScope, post_id: str) -> tuple[Post, list[PostTarget]]:
    post = scope.session.scalars(
        select(Post).where(Post.id == post_id, Post.workspace_id == scope.workspace_id)).one_or_none()
    if post is None:
        raise NotFound(f"no post {post_id!r} in this workspace")
    targets = list(scope.session.scalars(
        select(PostTarget).where(PostTarget.post_id == post_id, PostTarget.workspace_id == scope.workspace_id)
        .order_by(PostTarget.platform, PostTarget.id)))
    return post, targets


def publish_now(scope: WorkspaceScope, post_id: str) -> int:
    """Make the post's not-yet-started targets due now (the publishing sensor picks them up). Returns how many."""
    scoped_post(scope, post_id)
    now = utcnow()
    result = scope.session.execute(
        update(PostTarget)
        .where(PostTarget.post_id == post_id, PostTarget.workspace_id == scope.workspace_id,
               PostTarget.state == "scheduled")
        .values(due_at=now, updated_at=now).execution_options(synchronize_session=False))
    scope.session.execute(
        update(Post).where(Post.id == post_id, Post.workspace_id == scope.workspace_id, Post.status == "scheduled")
        .values(scheduled_at=now, updated_at=now).execution_options(synchronize_session=False))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def handle_of(platform: str, creds: Any) -> str:
    extra = creds.extra or {}
    for key in ("handle", "username", "channel_title", "name", "page_name", "display_name"):
        value = extra.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return creds.account_id or platform


def connect_oauth(services: Services, platform: str, code: str, state: str) -> tuple[Account, list[str]]:
    """Callback half of the OAuth flow: consume `state` (once), exchange the code, store the account encrypted.
    Returns the account and any required scopes the user did not grant."""
    with services.session() as session:
        workspace = oauth_state_owner(session, state)  # system-level: the callback only carries `state`
        if workspace is None:
            raise ApiError(400, "unknown, used or expired authorisation; start again")
        try:
            pending = AccountsRepo(WorkspaceScope(session, workspace), services.vault).finish_oauth(state)
        except (ValueError, VaultError) as exc:  # expired, or a verifier we cannot decrypt
            raise ApiError(400, str(exc) if isinstance(exc, ValueError) else "start the connection again") from None
        if pending.platform != platform:
            raise ApiError(400, "this authorisation was started for another platform")
    client = services.clients(platform)
    try:  # no database transaction is held during the network calls
        creds = client.exchange_code(code=code, redirect_uri=pending.redirect_uri,
                                     code_verifier=pending.code_verifier)
        missing = client.missing_scopes(creds)
    finally:
        client.close()
    if not creds.account_id:
        raise ApiError(502, f"{platform} did not say which account was authorised")
    with services.session() as session:
        workspace = session.get(Workspace, workspace.id)
        repo = AccountsRepo(WorkspaceScope(session, workspace), services.vault)
        account = repo.connect(platform, creds, handle_of(platform, creds))
        if missing:
            account = repo.set_status(account.id, "error", f"missing permissions: {', '.join(missing)}")
        log.info("account connected", extra={"workspace": workspace.name, "platform": platform,
                                             "account_id": account.id, "missing_scopes": missing})
        return account, missing


def begin_connect(services: Services, scope: WorkspaceScope, platform: str, redirect_uri: str) -> str:
    """Start an OAuth flow for the scope's workspace: store state + PKCE verifier, return the authorisation URL."""
    if platform not in PLATFORMS:
        raise ApiError(404, f"unknown platform {platform!r}")
    if platform == "bluesky":
        raise ApiError(400, "bluesky uses a handle and an app password: POST /api/accounts")
    client = services.clients(platform)
    try:
        pending = client.authorization_url(redirect_uri=redirect_uri)
    finally:
        client.close()
    AccountsRepo(scope, services.vault).begin_oauth(platform, pending.state, pending.code_verifier, redirect_uri)
    return pending.url


# --- the Starlette app ---


def create_app(settings: Settings | None = None, **overrides: Any) -> Starlette:
    """overrides: db, media, vault, clients (platform → PlatformClient), environ — for tests and embedding."""
    settings = settings or Settings.from_env()
    services = build_services(settings, **overrides)

    def base_url(request: Request) -> str:
        return services.public_base_url or str(request.base_url).rstrip("/")

    def callback_uri(request: Request, platform: str) -> str:
        return f"{base_url(request)}/oauth/{platform}/callback"

    @contextmanager
    def workspace_scope(request: Request) -> Iterator[WorkspaceScope]:
        with services.session() as session:
            try:
                workspace = authenticate(session, request)
            except Unauthorized:
                raise ApiError(401, "missing or invalid API token") from None
            yield WorkspaceScope(session, workspace)

    async def body(request: Request) -> dict[str, Any]:
        try:
            data = await request.json()
        except ValueError:
            raise ApiError(400, "the body must be JSON") from None
        if not isinstance(data, dict):
            raise ApiError(400, "the body must be a JSON object")
        return data

    # probes
    def healthz(request: Request) -> Response:
        return JSONResponse({"ok": True})

    def readyz(request: Request) -> Response:
        report = run_checks(services.settings)
        return JSONResponse(report, status_code=200 if report["ok"] else 503)

    # OAuth
    def oauth_start(request: Request) -> Response:
        platform = request.path_params["platform"]
        with workspace_scope(request) as scope:
            url = begin_connect(services, scope, platform, callback_uri(request, platform))
        return RedirectResponse(url, status_code=302)

    def oauth_callback(request: Request) -> Response:
        platform = request.path_params["platform"]
        q = request.query_params
        if q.get("error"):
            return _page(400, "Not connected", f"{platform} said: {q.get('error')}")
        if not q.get("code") or not q.get("state"):
            return _page(400, "Not connected", "the callback is missing code or state")
        try:
            account, missing = connect_oauth(services, platform, q["code"], q["state"])
        except ApiError as exc:
            return _page(exc.status, "Not connected", exc.message)
        except PlatformError as exc:
            log.warning("oauth callback for %s failed: %s", platform, exc.error_class)
            return _page(502, "Not connected", f"{platform} refused the authorisation ({exc.error_class.value})")
        note = f" Missing permissions: {', '.join(missing)}; connect again and allow them." if missing else ""
        return _page(200, "Connected", f"{platform} account {account.handle} is connected (id {account.id}).{note}")

    # accounts
    def accounts_list(request: Request) -> Response:
        with workspace_scope(request) as scope:
            rows = AccountsRepo(scope, services.vault).list(request.query_params.get("platform") or None)
            now = utcnow()
            return JSONResponse({"accounts": [account_json(a, now) for a in rows]})

    async def accounts_create(request: Request) -> Response:
        data = await body(request)
        from starlette.concurrency import run_in_threadpool

        return await run_in_threadpool(_accounts_create, request, data)

    def _accounts_create(request: Request, data: dict[str, Any]) -> Response:
        platform = str(data.get("platform", "")).lower()
        with workspace_scope(request):
            pass  # authenticate before any network call
        if platform != "bluesky":
            raise ApiError(400, f"connect {platform or 'this platform'} with OAuth: "
                                f"POST /api/accounts/oauth/<platform> or GET /oauth/<platform>/start")
        handle, password = str(data.get("handle", "")).strip(), str(data.get("app_password", ""))
        if not handle or not password:
            raise ApiError(400, "bluesky needs handle and app_password")
        client = services.clients("bluesky")
        try:
            creds = client.login(handle, password)  # type: ignore[attr-defined]
        except PlatformError as exc:
            raise ApiError(400, f"bluesky refused the login ({exc.error_class.value})") from None
        finally:
            client.close()
        with workspace_scope(request) as scope:
            account = AccountsRepo(scope, services.vault).connect("bluesky", creds, handle_of("bluesky", creds))
            return JSONResponse(account_json(account), status_code=201)

    def accounts_oauth(request: Request) -> Response:
        platform = request.path_params["platform"]
        with workspace_scope(request) as scope:
            url = begin_connect(services, scope, platform, callback_uri(request, platform))
        return JSONResponse({"authorization_url": url})

    def accounts_delete(request: Request) -> Response:
        with workspace_scope(request) as scope:
            account = AccountsRepo(scope, services.vault).disconnect(request.path_params["account_id"])
            return JSONResponse(account_json(account))

    # posts
    def posts_list(request: Request) -> Response:
        with workspace_scope(request) as scope:
            posts = scoped_posts(scope, request.query_params.get("status") or None)
            return JSONResponse({"posts": [post_json(p) for p in posts]})

    async def posts_create(request: Request) -> Response:
        data = await body(request)
        from starlette.concurrency import run_in_threadpool

        return await run_in_threadpool(_posts_create, request, data)

    def _posts_create(request: Request, data: dict[str, Any]) -> Response:
        raw_targets = data.get("targets")
        if not isinstance(raw_targets, list) or not raw_targets:
            raise ApiError(400, "targets must be a non-empty list of {platform, account_id}")
        drafts = []
        for t in raw_targets:
            ref = str(t.get("account_id") or t.get("account") or "").strip() if isinstance(t, dict) else ""
            if not isinstance(t, dict) or t.get("platform") not in PLATFORMS or not ref:
                raise ApiError(400, "each target needs a known platform and an account_id (or account handle)")
            drafts.append(TargetDraft(t["platform"], int(ref) if ref.isdigit() else ref, t.get("caption"),
                                      t.get("title"), dict(t.get("options") or {})))
        try:
            when, tz = parse_schedule(data.get("at") or data.get("scheduled_at"), data.get("timezone"))
        except ValueError as exc:
            raise ApiError(400, str(exc)) from None
        with workspace_scope(request) as scope:
            drafted = create_checked_post(
                scope, clip_id=str(data.get("clip_id", "")), drafts=drafts, caption=data.get("caption"),
                scheduled_at=when, timezone=tz, clients=services.clients, media=services.media)
            post, targets = scoped_post(scope, drafted.post.id)
            log.info("post created", extra={"workspace": scope.workspace.name, "post": post.id,
                                            "clip": post.clip_id, "platforms": [t.platform for t in targets]})
            out = post_json(post, targets)
            if drafted.suggestion is not None:
                out["suggested"] = {"caption": drafted.suggestion.caption,
                                    "hashtags": list(drafted.suggestion.hashtags)}
            return JSONResponse(out, status_code=201)

    def post_show(request: Request) -> Response:
        with workspace_scope(request) as scope:
            post, targets = scoped_post(scope, request.path_params["post_id"])
            return JSONResponse(post_json(post, targets))

    async def post_edit(request: Request) -> Response:
        data = await body(request)
        from starlette.concurrency import run_in_threadpool

        return await run_in_threadpool(_post_edit, request, data)

    def _post_edit(request: Request, data: dict[str, Any]) -> Response:
        captions = data.get("captions") or {}
        if not isinstance(captions, dict):
            raise ApiError(400, "captions must be an object {platform: caption}")
        with workspace_scope(request) as scope:
            post_id = request.path_params["post_id"]
            edit_post(scope, post_id, clients=services.clients, media=services.media, caption=data.get("caption"),
                      captions={str(k): str(v) for k, v in captions.items()}, title=data.get("title"),
                      at=data.get("at") or data.get("scheduled_at"), tz=data.get("timezone"))
            return JSONResponse(post_json(*scoped_post(scope, post_id)))

    def post_cancel(request: Request) -> Response:
        from cliply.publishing.ledger import cancel_post

        with workspace_scope(request) as scope:
            post_id = request.path_params["post_id"]
            scoped_post(scope, post_id)
            cancel_post(scope, post_id)
            log.info("post cancelled", extra={"workspace": scope.workspace.name, "post": post_id})
            post, targets = scoped_post(scope, post_id)
            return JSONResponse(post_json(post, targets))

    def post_publish_now(request: Request) -> Response:
        with workspace_scope(request) as scope:
            post_id = request.path_params["post_id"]
            n = publish_now(scope, post_id)
            post, targets = scoped_post(scope, post_id)
            return JSONResponse({**post_json(post, targets), "made_due": n})

    def target_retry(request: Request) -> Response:
        from cliply.publishing.ledger import retry_target

        with workspace_scope(request) as scope:
            target_id = request.path_params["target_id"]
            target = scope.session.scalars(select(PostTarget).where(
                PostTarget.id == target_id, PostTarget.workspace_id == scope.workspace_id)).one_or_none()
            if target is None:
                raise NotFound(f"no target {target_id!r} in this workspace")
            retry_target(scope, target_id)
            target = scope.session.scalars(select(PostTarget).where(PostTarget.id == target_id)
                                           .execution_options(populate_existing=True)).one()
            return JSONResponse(target_json(target))

    # uploads and media
    def _upload_sig(key: str, exp: int) -> str:
        return hmac.new(services.signer.secret, f"PUT\n{key}\n{exp}".encode(), hashlib.sha256).hexdigest()

    async def uploads_create(request: Request) -> Response:
        data = await body(request) if await request.body() else {}
        from starlette.concurrency import run_in_threadpool

        return await run_in_threadpool(_uploads_create, request, data)

    def _uploads_create(request: Request, data: dict[str, Any]) -> Response:
        suffix = Path(str(data.get("filename") or "upload.mp4")).suffix.lower()
        if suffix not in {".mp4", ".mov", ".m4v", ".webm", ".mkv"}:
            raise ApiError(400, "filename must be a video (.mp4, .mov, .m4v, .webm, .mkv)")
        content_type = str(data.get("content_type") or "video/mp4")
        with workspace_scope(request) as scope:
            key = f"uploads/ws{scope.workspace_id}/{secrets.token_hex(12)}{suffix}"
        exp = int(time.time()) + UPLOAD_TTL_S
        media = services.media
        if isinstance(media, S3MediaStore):
            url = media.presign_client.generate_presigned_url(
                "put_object", Params={"Bucket": media.bucket, "Key": media._full(key), "ContentType": content_type},
                ExpiresIn=UPLOAD_TTL_S)
            headers = {"Content-Type": content_type}
        else:
            url = f"{base_url(request)}/uploads/{quote(key)}?exp={exp}&sig={_upload_sig(key, exp)}"
            headers = {}
        return JSONResponse({"key": key, "method": "PUT", "url": url, "headers": headers, "expires_in": UPLOAD_TTL_S},
                            status_code=201)

    async def upload_put(request: Request) -> Response:
        key = request.path_params["key"]
        q = request.query_params
        try:
            validate_key(key)
            exp = int(q.get("exp", ""))
        except ValueError:
            raise ApiError(403, "invalid upload URL") from None
        if not services.signer.secret or exp < time.time() or not key.startswith("uploads/") or \
                not hmac.compare_digest(_upload_sig(key, exp), q.get("sig", "")):
            raise ApiError(403, "invalid or expired upload URL")
        limit = services.settings.max_download_bytes
        fd, tmp_name = tempfile.mkstemp(prefix="cliply-upload-")
        tmp = Path(tmp_name)
        try:
            size = 0
            with os.fdopen(fd, "wb") as fh:
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > limit:
                        raise ApiError(413, f"upload larger than {limit} bytes")
                    fh.write(chunk)
            from starlette.concurrency import run_in_threadpool

            await run_in_threadpool(services.media.put_file, key, tmp, request.headers.get("content-type"))
        finally:
            tmp.unlink(missing_ok=True)
        return JSONResponse({"key": key, "size": size}, status_code=201)

    def media_get(request: Request) -> Response:
        key = request.path_params["key"]
        q = request.query_params
        if not services.signer.local or not services.signer.verify(key, q.get("exp", ""), q.get("sig", "")):
            raise ApiError(403, "invalid or expired media URL")
        path = services.media.local_path(key) if isinstance(services.media, LocalMediaStore) else None
        if path is None or not path.is_file():
            raise ApiError(404, "no such media")
        return FileResponse(path, media_type="video/mp4" if key.endswith(".mp4") else None)

    routes = [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/oauth/{platform}/start", oauth_start),
        Route("/oauth/{platform}/callback", oauth_callback),
        Route("/api/accounts", accounts_list, methods=["GET"]),
        Route("/api/accounts", accounts_create, methods=["POST"]),
        Route("/api/accounts/oauth/{platform}", accounts_oauth, methods=["POST"]),
        Route("/api/accounts/{account_id:int}", accounts_delete, methods=["DELETE"]),
        Route("/api/posts", posts_list, methods=["GET"]),
        Route("/api/posts", posts_create, methods=["POST"]),
        Route("/api/posts/{post_id}", post_show, methods=["GET"]),
        Route("/api/posts/{post_id}", post_edit, methods=["PATCH"]),
        Route("/api/posts/{post_id}/cancel", post_cancel, methods=["POST"]),
        Route("/api/posts/{post_id}/publish-now", post_publish_now, methods=["POST"]),
        Route("/api/targets/{target_id}/retry", target_retry, methods=["POST"]),
        Route("/api/uploads", uploads_create, methods=["POST"]),
        Route("/uploads/{key:path}", upload_put, methods=["PUT"]),
        Route("/media/{key:path}", media_get, methods=["GET", "HEAD"]),
    ]
    app = Starlette(routes=routes, exception_handlers={
        ApiError: _api_error, NotFound: _not_found, CaptionRejected: _caption_rejected, ValueError: _bad_request,
        VaultError: _vault_error,
    })
    app.state.services = services
    app.add_middleware(AccessLog)
    return app


class AccessLog:
    """One line per request with method, path and status, never the query string (codes, signatures)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = {"code": 500}

        async def _send(message: Any) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        started = time.monotonic()
        try:
            await self.app(scope, receive, _send)
        finally:
            access_log.info("%s %s %s %.0fms", scope["method"], scope["path"], status["code"],
                            (time.monotonic() - started) * 1000)


def _json_error(status: int, message: str, **extra: Any) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"error": message, **extra}, status_code=status, headers=headers)


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return _json_error(exc.status, exc.message, **exc.extra)


async def _not_found(request: Request, exc: Exception) -> Response:
    return _json_error(404, str(exc))


async def _caption_rejected(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, CaptionRejected)
    return _json_error(422, str(exc), platforms=exc.platforms, problems=exc.problems)


async def _bad_request(request: Request, exc: Exception) -> Response:
    return _json_error(409 if type(exc).__name__ == "InvalidTransition" else 400, str(exc))


async def _vault_error(request: Request, exc: Exception) -> Response:
    log.error("vault error: %s", exc)
    return _json_error(500, "stored credentials could not be decrypted")


def _page(status: int, title: str, message: str) -> HTMLResponse:
    t, m = html.escape(title), html.escape(message)
    return HTMLResponse(f"<!doctype html><html><head><meta charset='utf-8'><title>Cliply: {t}</title></head>"
                        f"<body><h1>{t}</h1><p>{m}</p><p>You can close this window.</p></body></html>",
                        status_code=status)


__all__ = ["ApiError", "Services", "account_json", "build_services", "create_app", "post_json", "scoped_post",
           "scoped_posts", "target_json"]
