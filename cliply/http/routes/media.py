"""Uploads (a signed, single-use PUT URL, then the PUT itself for a local store, which registers the file as a
source), signed media downloads, and a clip's custom cover (PUT /api/clips/{clip_id}/cover with the image as the
body)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path, PurePosixPath

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from cliply import usecases
from cliply.http.context import api, base_url, body, container, declared_length, read_capped, token_workspace
from cliply.http.errors import ApiError
from cliply.http.schemas import UploadCreate
from cliply.media import cover_upload


@api
async def uploads_create(request: Request) -> Response:
    data = await body(request, UploadCreate, optional=True)
    upload = await run_in_threadpool(
        usecases.begin_upload,
        container(request),
        token_workspace(request),
        filename=data.filename,
        content_type=data.content_type,
        base_url=base_url(request),
    )
    return JSONResponse(upload, status_code=201)


async def _receive(request: Request, dest: Path, limit: int) -> int:
    """The request body into `dest`, refused (413) past `limit` bytes."""
    size = 0
    with dest.open("wb") as fh:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise ApiError(413, f"upload larger than {limit} bytes")
            fh.write(chunk)
    return size


async def upload_put(request: Request) -> Response:
    app, key, q = container(request), request.path_params["key"], request.query_params
    if not key.startswith("uploads/") or not app.signer.verify(key, q.get("exp", ""), q.get("sig", ""), method="PUT"):
        raise ApiError(403, "invalid or expired upload URL")
    limit = app.settings.max_download_bytes
    declared_length(request, limit)
    workspace = await run_in_threadpool(usecases.upload_owner, app, key)  # consumed: the URL works once
    if workspace is None:
        raise ApiError(403, "this upload URL was used already, or never handed out")
    folder = Path(tempfile.mkdtemp(prefix="cliply-upload-"))
    try:
        file = folder / PurePosixPath(key).name
        size = await _receive(request, file, limit)
        done = await run_in_threadpool(
            usecases.finish_upload, app, key, workspace, file, request.headers.get("content-type")
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return JSONResponse({**done, "size": size}, status_code=201)


def media_get(request: Request) -> Response:
    app, key, q = container(request), request.path_params["key"], request.query_params
    if not app.signer.local or not app.signer.verify(key, q.get("exp", ""), q.get("sig", "")):
        raise ApiError(403, "invalid or expired media URL")
    path = app.media.local_path(key)
    if path is None or not path.is_file():
        raise ApiError(404, "no such media")
    return FileResponse(path, media_type="video/mp4" if key.endswith(".mp4") else None)


@api
async def clip_cover_put(request: Request) -> Response:
    """The body is the image (JPEG, PNG or WebP, recognised from its bytes; Content-Type is not trusted): 201 with
    the covers made from it; 400/413/415 when it cannot be used; 404 for a clip outside the token's workspace."""
    data = await read_capped(request, cover_upload.MAX_COVER_BYTES)
    done = await run_in_threadpool(
        cover_upload.upload_cover, container(request), token_workspace(request), request.path_params["clip_id"], data
    )
    return JSONResponse(done.to_json(), status_code=201)


ROUTES = [
    Route("/api/clips/{clip_id}/cover", clip_cover_put, methods=["PUT"]),
    Route("/api/uploads", uploads_create, methods=["POST"]),
    Route("/uploads/{key:path}", upload_put, methods=["PUT"]),
    Route("/media/{key:path}", media_get, methods=["GET", "HEAD"]),
]
