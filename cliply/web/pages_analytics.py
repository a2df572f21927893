"""The analytics pages: the overview (per-platform numbers and views over time, the leaderboard, the tracked posts, a
form to track a post by its URL and the CSV download), one tracked post (latest numbers with when each was fetched,
engagement rate, velocity, the +1/+2/+3 h forecast and a chart of views with the forecast band), one clip across its
platforms, and a published target's way to its tracked post. Charts are PNGs under each page's URL + /chart.png,
served only to a signed-in session of the same workspace (another workspace's id is the 404 page, as everywhere)."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from cliply.usecases import ServiceError
from cliply.web import analytics_view as view
from cliply.web.pagekit import container, page
from cliply.web.sessions import WebIdentity
from cliply.web.templating import render

PNG = "image/png"
CSV_NAME = "cliply-analytics.csv"


def _not_found() -> HTTPException:
    return HTTPException(404)


async def _overview(
    request: Request, me: WebIdentity, f: view.Filters, *, status: int = 200, url: str = "", track_error: str = ""
) -> Response:
    found = await run_in_threadpool(view.overview, container(request), me.workspace_ref(), f, me.timezone)
    return render(
        "analytics.html",
        title="Analytics",
        me=me,
        nav="analytics",
        status=status,
        view=found,
        f=f,
        since_choices=view.SINCE_CHOICES,
        board_choices=view.BOARD_CHOICES,
        platforms=[(p, view.platform_name(p)) for p in view.PLATFORMS],
        chart_query=urlencode({"since": f.since, "platform": f.platform}),
        csv_query=urlencode({"since": f.since}),
        url=url,
        track_error=track_error,
    )


@page
async def analytics(request: Request, me: WebIdentity) -> Response:
    f = view.filters(request.query_params)
    return await _overview(request, me, f, status=400 if f.errors else 200)


@page
async def track(request: Request, me: WebIdentity) -> Response:
    url = request.state.form.get("url", "")
    done = await run_in_threadpool(view.track_url, container(request), me.workspace_ref(), url)
    if isinstance(done, str):
        return await _overview(request, me, view.Filters(), status=400, url=url[: view.URL_LIMIT], track_error=done)
    return RedirectResponse(f"/web/analytics/posts/{done}", status_code=303)


@page
async def overview_chart(request: Request, me: WebIdentity) -> Response:
    f = view.filters(request.query_params)
    if f.errors:
        raise HTTPException(400)
    png = await run_in_threadpool(view.platforms_chart, container(request), me.workspace_ref(), f, me.timezone)
    return Response(png, media_type=PNG)


@page
async def export_csv(request: Request, me: WebIdentity) -> Response:
    since = request.query_params.get("since") or "all"  # as `cliply analytics export`: every post by default
    if since not in dict(view.SINCE_CHOICES):
        raise HTTPException(400)
    try:
        text = await run_in_threadpool(view.export_csv, container(request), me.workspace_ref(), since)
    except ServiceError:
        raise HTTPException(400) from None
    headers = {"Content-Disposition": f'attachment; filename="{CSV_NAME}"'}
    return Response(text, media_type="text/csv; charset=utf-8", headers=headers)


@page
async def post(request: Request, me: WebIdentity) -> Response:
    found = await run_in_threadpool(
        view.post_page, container(request), me.workspace_ref(), request.path_params["tracked_id"], me.timezone
    )
    if found is None:
        raise _not_found()
    title = f"{found.platform_name} post {found.post['post_id']}"
    return render("analytics_post.html", title=title, me=me, nav="analytics", view=found)


@page
async def post_chart(request: Request, me: WebIdentity) -> Response:
    png = await run_in_threadpool(
        view.post_chart, container(request), me.workspace_ref(), request.path_params["tracked_id"], me.timezone
    )
    if png is None:
        raise _not_found()
    return Response(png, media_type=PNG)


@page
async def clip(request: Request, me: WebIdentity) -> Response:
    found = await run_in_threadpool(
        view.clip_page, container(request), me.workspace_ref(), request.path_params["clip_id"], me.timezone
    )
    if found is None:
        raise _not_found()
    return render("analytics_clip.html", title="Clip analytics", me=me, nav="analytics", view=found)


@page
async def clip_chart(request: Request, me: WebIdentity) -> Response:
    png = await run_in_threadpool(
        view.clip_chart, container(request), me.workspace_ref(), request.path_params["clip_id"], me.timezone
    )
    if png is None:
        raise _not_found()
    return Response(png, media_type=PNG)


@page
async def target(request: Request, me: WebIdentity) -> Response:
    found = await run_in_threadpool(
        view.target_metrics, container(request), me.workspace_ref(), request.path_params["target_id"]
    )
    if found is None:
        raise _not_found()
    if found.tracked_id is not None:
        return RedirectResponse(f"/web/analytics/posts/{found.tracked_id}", status_code=303)
    return render(
        "analytics_pending.html",
        title="Metrics not in yet",
        me=me,
        nav="analytics",
        platform_name=view.platform_name(found.platform),
        state=found.state,
    )


ROUTES = [
    Route("/analytics", analytics, methods=["GET"], name="analytics"),
    Route("/analytics.csv", export_csv, methods=["GET"], name="analytics_csv"),
    Route("/analytics/chart.png", overview_chart, methods=["GET"], name="analytics_chart"),
    Route("/analytics/track", track, methods=["POST"], name="analytics_track"),
    Route("/analytics/posts/{tracked_id}", post, methods=["GET"], name="analytics_post"),
    Route("/analytics/posts/{tracked_id}/chart.png", post_chart, methods=["GET"], name="analytics_post_chart"),
    Route("/analytics/clips/{clip_id}", clip, methods=["GET"], name="analytics_clip"),
    Route("/analytics/clips/{clip_id}/chart.png", clip_chart, methods=["GET"], name="analytics_clip_chart"),
    Route("/analytics/targets/{target_id}", target, methods=["GET"], name="analytics_target"),
]
