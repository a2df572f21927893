"""The sources and clips pages: the workspace's sources (status, duration, clips, why one was refused) with an upload
form and an import-by-URL form; one source's stage, reasons and clips; one clip with its player, thumbnail, score and
reasons, transcript excerpt, duration, platform fit and download. The clip's video and thumbnail are served by
workspace-checked routes (another workspace's id is the 404 page, as on every page here).

The upload is a multipart form, so it cannot go through the `page` decorator's urlencoded form reading: `upload`
applies the same checks (signed-in session first, then the session's CSRF token from the form) around a streamed,
size-capped read of the one file."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncGenerator
from pathlib import Path, PurePosixPath

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import Route

from cliply.http.context import declared_length
from cliply.http.errors import ApiError
from cliply.web import csrf
from cliply.web import sources_view as view
from cliply.web.pagekit import container, forbidden, identity, page, to_signin
from cliply.web.sessions import WebIdentity
from cliply.web.templating import render

UPLOAD_FIELD_LIMIT = 4 * 1024  # bytes of the form's small fields (the CSRF token)
MEDIA_TYPES = {".mp4": "video/mp4", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png"}
MEDIA_URL_TTL_S = 900


def _not_found() -> HTTPException:
    return HTTPException(404)


async def _sources_page(
    request: Request,
    me: WebIdentity,
    *,
    status: int = 200,
    upload_error: str = "",
    import_error: str = "",
    url: str = "",
) -> Response:
    app = container(request)
    sources = await run_in_threadpool(view.list_sources, app, me.workspace_ref())
    return render(
        "sources.html",
        title="Sources",
        me=me,
        nav="sources",
        status=status,
        sources=sources,
        upload_error=upload_error,
        import_error=import_error,
        url=url,
        max_size=view.size_text(app.settings.max_download_bytes),
    )


@page
async def sources(request: Request, me: WebIdentity) -> Response:
    return await _sources_page(request, me)


@page
async def import_url(request: Request, me: WebIdentity) -> Response:
    url = request.state.form.get("url", "")
    done = await run_in_threadpool(view.import_url, container(request), me.workspace_name, url)
    if isinstance(done, view.Refused):
        return await _sources_page(request, me, status=400, import_error=done.message, url=url[:2000])
    return RedirectResponse(f"/web/sources/{done}", status_code=303)


async def _capped(request: Request, limit: int) -> AsyncGenerator[bytes, None]:
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, f"The file is larger than {view.size_text(limit)}.")
        yield chunk


async def upload(request: Request) -> Response:
    """POST /web/sources/upload (multipart: csrf, video)."""
    me = await identity(request)
    if me is None:
        return to_signin()
    limit = container(request).settings.max_download_bytes
    declared_length(request, limit)
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        return forbidden(me)  # no multipart form, no CSRF token
    parser = MultiPartParser(
        request.headers, _capped(request, limit), max_files=1, max_fields=4, max_part_size=UPLOAD_FIELD_LIMIT
    )
    try:
        fields = await parser.parse()
    except MultiPartException:
        raise ApiError(400, "The form could not be read.") from None
    try:
        token = fields.get(csrf.FIELD)
        if not csrf.matches(me.csrf, token if isinstance(token, str) else None):
            return forbidden(me)
        video = fields.get("video")
        if not isinstance(video, UploadFile) or not video.filename:
            return await _sources_page(request, me, status=400, upload_error="Choose a video file to upload.")
        folder = Path(tempfile.mkdtemp(prefix="cliply-web-receive-"))
        try:
            received = folder / "received"
            await run_in_threadpool(_save, video, received)
            done = await run_in_threadpool(
                view.store_upload, container(request), me.workspace_ref(), video.filename, received, _origin(request)
            )
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    finally:
        await fields.close()
    if isinstance(done, view.Refused):
        return await _sources_page(request, me, status=400, upload_error=done.message)
    return RedirectResponse(f"/web/sources/{done}", status_code=303)


def _origin(request: Request) -> str:
    """CLIPLY_PUBLIC_BASE_URL, else the origin this request reached (the upload use case signs its URL for it)."""
    return container(request).settings.public_base_url or f"{request.url.scheme}://{request.url.netloc}"


def _save(video: UploadFile, dest: Path) -> None:
    video.file.seek(0)
    with dest.open("wb") as fh:
        shutil.copyfileobj(video.file, fh)


@page
async def source(request: Request, me: WebIdentity) -> Response:
    found = await run_in_threadpool(
        view.source_page, container(request), me.workspace_ref(), request.path_params["source_id"]
    )
    if found is None:
        raise _not_found()
    return render("source.html", title=f"Source {found.source['original_name']}", me=me, nav="sources", view=found)


@page
async def clip(request: Request, me: WebIdentity) -> Response:
    found = await run_in_threadpool(
        view.clip_page, container(request), me.workspace_ref(), request.path_params["clip_id"]
    )
    if found is None:
        raise _not_found()
    return render("clip.html", title=f"Clip {found.clip['rank']}", me=me, nav="sources", view=found)


async def _media(request: Request, me: WebIdentity, kind: str, *, download: bool = False) -> Response:
    app, clip_id = container(request), request.path_params["clip_id"]
    key = await run_in_threadpool(view.clip_media, app, me.workspace_ref(), clip_id, kind)
    if not key:
        raise _not_found()
    path = app.media.local_path(key)
    if path is None and kind == "thumbnail":  # an S3 store: a small image, passed through (the CSP allows 'self')
        data = await run_in_threadpool(app.media.get_bytes, key)
        return Response(data, media_type=MEDIA_TYPES.get(PurePosixPath(key).suffix.lower(), "image/jpeg"))
    if path is None:  # an S3 store: a short-lived presigned URL
        return RedirectResponse(app.media.presigned_url(key, MEDIA_URL_TTL_S), status_code=303)
    if not path.is_file():
        raise _not_found()
    media_type = MEDIA_TYPES.get(path.suffix.lower(), "application/octet-stream")
    if download:
        return FileResponse(path, media_type=media_type, filename=f"{clip_id}{path.suffix.lower()}")
    return FileResponse(path, media_type=media_type)


@page
async def clip_video(request: Request, me: WebIdentity) -> Response:
    return await _media(request, me, "video", download=request.query_params.get("download") == "1")


@page
async def clip_thumbnail(request: Request, me: WebIdentity) -> Response:
    return await _media(request, me, "thumbnail")


ROUTES = [
    Route("/sources", sources, methods=["GET"], name="sources"),
    Route("/sources/upload", upload, methods=["POST"], name="sources_upload"),
    Route("/sources/import", import_url, methods=["POST"], name="sources_import"),
    Route("/sources/{source_id}", source, methods=["GET"], name="source"),
    Route("/clips/{clip_id}", clip, methods=["GET"], name="clip"),
    Route("/clips/{clip_id}/video", clip_video, methods=["GET", "HEAD"], name="clip_video"),
    Route("/clips/{clip_id}/thumbnail", clip_thumbnail, methods=["GET", "HEAD"], name="clip_thumbnail"),
]
