"""/api/workspace: the token's workspace and its settings (the caption style its clips are rendered with)."""

from __future__ import annotations

from pydantic import field_validator
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cliply import workspace_settings
from cliply.http.context import api, body, container, token_workspace
from cliply.http.schemas import Body
from cliply.media.caption_styles import STYLES


class WorkspaceEdit(Body):
    caption_style: str | None = None  # null: back to CLIPLY_CAPTION_STYLE

    @field_validator("caption_style")
    @classmethod
    def _known_style(cls, value: str | None) -> str | None:
        if value is not None and value not in STYLES:
            raise ValueError(f"unknown caption style; choose from {', '.join(STYLES)}")
        return value


@api
async def workspace_get(request: Request) -> Response:
    ws = await run_in_threadpool(workspace_settings.workspace_settings, container(request), token_workspace(request))
    return JSONResponse(ws)


@api
async def workspace_patch(request: Request) -> Response:
    data = await body(request, WorkspaceEdit)
    ws = await run_in_threadpool(
        workspace_settings.set_caption_style, container(request), token_workspace(request), data.caption_style
    )
    return JSONResponse(ws)


ROUTES = [
    Route("/api/workspace", workspace_get, methods=["GET"]),
    Route("/api/workspace", workspace_patch, methods=["PATCH"]),
]
