"""What every web page shares: the app container, the visitor's session, reading a form, and the `page` decorator
(signed-out visitors get a 303 to the sign-in page; a POST must carry the session's CSRF token). Page modules
(cliply/web/pages_*.py) import these and list their routes; cliply/web/app.py mounts them."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qs

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from cliply.http.context import read_capped
from cliply.http.errors import ApiError
from cliply.web import csrf
from cliply.web import sessions as web_sessions
from cliply.web.sessions import WebIdentity
from cliply.web.templating import render
from cliply.wiring import Cliply

COOKIE = "cliply_session"
SIGNIN_URL = "/web/signin"
HOME_URL = "/web/"

Page = Callable[[Request, WebIdentity], Awaitable[Response]]


def container(request: Request) -> Cliply:
    app: Cliply = request.app.state.cliply
    return app


async def identity(request: Request) -> WebIdentity | None:
    return await run_in_threadpool(web_sessions.current, container(request), request.cookies.get(COOKIE))


def to_signin() -> RedirectResponse:
    return RedirectResponse(SIGNIN_URL, status_code=303)


async def form(request: Request, limit: int | None = None) -> dict[str, str]:
    """An urlencoded form body (first value of each field), read with a size cap (413 past it)."""
    raw = await read_capped(request, limit or container(request).settings.http_max_body_bytes)
    try:
        fields = parse_qs(raw.decode("utf-8"), keep_blank_values=True, max_num_fields=200)
    except (UnicodeDecodeError, ValueError):
        raise ApiError(400, "the form could not be read") from None
    return {k: v[0] for k, v in fields.items()}


def page(handler: Page) -> Callable[[Request], Awaitable[Response]]:
    """A page for signed-in visitors: the session is checked first (303 to the sign-in page otherwise); a POST's
    form must carry the session's CSRF token (403 otherwise), and is then available as request.state.form."""

    @functools.wraps(handler)
    async def run(request: Request) -> Response:
        me = await identity(request)
        if me is None:
            return to_signin()
        if request.method == "POST":
            fields = await form(request)
            if not csrf.matches(me.csrf, fields.get(csrf.FIELD)):
                return forbidden(me)
            request.state.form = fields
        return await handler(request, me)

    return run


def forbidden(me: WebIdentity | None) -> Response:
    return render(
        "error.html",
        title="Form expired",
        me=me,
        status=403,
        message="This form could not be accepted (its security token was missing or wrong). "
        "Go back, reload the page and try again.",
    )
