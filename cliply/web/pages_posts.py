"""The posts list and the calendar: the workspace's posts filtered by status, platform, account and a date range,
each with its time, clip and targets (platform, account, state, and why a target failed or waits); a calendar with
month, week and day views; and the session's time zone (POST /web/timezone), in which both pages show every time.

Thin adapters over publishing/post_listing.py (the workspace-scoped query) and web/calendar_view.py (the pure date
arithmetic). Filters naming another workspace's account match nothing: they get the same 404 answer as an unknown
account, with an empty list."""

from __future__ import annotations

import functools
import zoneinfo
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from cliply.platforms import PLATFORMS
from cliply.publishing import post_listing
from cliply.publishing.post_listing import PostFilter
from cliply.publishing.service import MAX_ID, list_accounts
from cliply.store.models_publishing import POST_STATUSES
from cliply.web import calendar_view as cal
from cliply.web import sessions as web_sessions
from cliply.web.pagekit import container, page
from cliply.web.pages_accounts import NAMES as PLATFORM_NAMES
from cliply.web.sessions import WebIdentity, zone_of
from cliply.web.templating import render

POSTS_URL = "/web/posts"
CALENDAR_URL = "/web/calendar"
MAX_NEXT_CHARS = 2000
MAX_TYPED_CHARS = 100
NOT_ZONES = frozenset({"localtime", "Factory"})
BAD_DATE = "Give a date as YYYY-MM-DD."
NO_ACCOUNT = "There is no such account in this workspace."


@functools.cache
def zone_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones() - NOT_ZONES)


@functools.cache
def zone_choices() -> list[str]:
    """The zones the picker suggests: the Area/City names (and UTC), without the legacy aliases."""
    legacy = ("Etc/", "SystemV/", "US/", "posix/", "right/")
    return [*sorted(n for n in zone_names() if "/" in n and not n.startswith(legacy)), "UTC"]


@functools.cache
def _folded_zones() -> dict[str, str]:
    return {n.casefold(): n for n in zone_names()}


def valid_zone(text: str) -> str | None:
    """The zone's canonical spelling when zoneinfo knows it (case-insensitively), else None."""
    name = text.strip()
    return name if name in zone_names() else _folded_zones().get(name.casefold())


def safe_next(text: str | None, default: str = CALENDAR_URL) -> str:
    """`next` when it is a path of these pages on this site; anything else (another host, a scheme, `//host`,
    backslashes, control characters, `..`) is the default: never an open redirect."""
    if not text or len(text) > MAX_NEXT_CHARS:
        return default
    if any(c == "\\" or ord(c) < 0x20 or ord(c) == 0x7F for c in text):
        return default
    parts = urlsplit(text)
    if parts.scheme or parts.netloc or text.startswith("//") or not parts.path.startswith("/web/"):
        return default
    if ".." in unquote(parts.path).split("/"):
        return default
    return text


def _typed(value: str) -> str:
    return value[:MAX_TYPED_CHARS]


def _zone_form(me: WebIdentity, next_url: str, error: str = "", typed: str = "") -> dict[str, Any]:
    return {
        "zone_next": next_url,
        "zone_error": error,
        "zone_typed": typed or me.timezone,
        "zone_choices": zone_choices(),
    }


def _here(path: str, params: Mapping[str, str]) -> str:
    query = urlencode([(k, v) for k, v in params.items() if v])
    return f"{path}?{query}" if query else path


# --- the posts list ---


def _clock(moment: datetime, zone: str) -> str:
    return moment.astimezone(zone_of(zone)).strftime("%H:%M")


def _web_url(url: Any) -> str:
    """A platform's link to the published post, when it is an http(s) address."""
    return url if isinstance(url, str) and url.startswith(("https://", "http://")) else ""


def _posts_page(
    request: Request, me: WebIdentity, params: Mapping[str, str], *, zone_error: str = "", zone_typed: str = ""
) -> Response:
    app, ref = container(request), me.workspace_ref()
    zone = zone_of(me.timezone)
    typed = {k: _typed(params.get(k, "").strip()) for k in ("status", "platform", "account", "from", "to")}
    errors: dict[str, str] = {}
    if typed["status"] and typed["status"] not in POST_STATUSES:
        errors["status"] = "Choose one of the listed statuses."
    if typed["platform"] and typed["platform"] not in PLATFORMS:
        errors["platform"] = "Choose one of the listed platforms."
    account_id: int | None = None
    if typed["account"]:
        raw = typed["account"]
        if raw.isascii() and raw.isdigit() and 0 < int(raw) <= MAX_ID:
            account_id = int(raw)
        if account_id is None or not post_listing.account_in_workspace(app, ref, account_id):
            errors["account"] = NO_ACCOUNT
    first, last = cal.parse_date(typed["from"]), cal.parse_date(typed["to"])
    if typed["from"] and first is None:
        errors["from"] = BAD_DATE
    if typed["to"] and last is None:
        errors["to"] = BAD_DATE
    if first is not None and last is not None and last < first:
        errors["to"] = "The end date is before the start date."
    listing = post_listing.Listing()
    if not errors:
        start, end = cal.local_bounds(first, last, zone)
        wanted = PostFilter(typed["status"] or None, typed["platform"] or None, account_id, start, end)
        listing = post_listing.list_posts(app, ref, wanted)
    for p in listing.posts:
        for t in p["targets"]:
            t["web_url"] = _web_url(t.get("url"))
    status = 200
    if errors:
        status = 404 if set(errors) == {"account"} else 400
    if zone_error:
        status = 400
    here = _here(POSTS_URL, typed)
    return render(
        "posts.html",
        title="Posts",
        me=me,
        nav="posts",
        status=status,
        listing=listing,
        typed=typed,
        errors=errors,
        filtered=any(typed.values()),
        statuses=POST_STATUSES,
        platforms=PLATFORMS,
        names=PLATFORM_NAMES,
        accounts=list_accounts(app, ref),
        max_posts=post_listing.MAX_POSTS,
        **_zone_form(me, here, zone_error, zone_typed),
    )


@page
async def posts(request: Request, me: WebIdentity) -> Response:
    return await run_in_threadpool(_posts_page, request, me, request.query_params)


# --- the calendar ---


def _calendar_page(
    request: Request, me: WebIdentity, params: Mapping[str, str], *, zone_error: str = "", zone_typed: str = ""
) -> Response:
    app, zone = container(request), zone_of(me.timezone)
    view = cal.parse_view(params.get("view"))
    today = cal.today_in(zone)
    raw = params.get("date", "")
    anchor = cal.parse_date(raw)
    error = ""
    if raw and anchor is None:
        error = f"That date could not be read ({BAD_DATE}); showing today."
    anchor = anchor or today
    shown = cal.period(view, anchor, zone, today)
    listing = post_listing.list_posts(
        app, me.workspace_ref(), PostFilter(start=shown.start, end=shown.end), newest_first=False
    )
    for p in listing.posts:
        p["clock"] = _clock(p["scheduled_at"], me.timezone)
    shown.place((p["scheduled_at"], p) for p in listing.posts)
    here = _here(CALENDAR_URL, {"view": view, "date": anchor.isoformat()})
    return render(
        "calendar.html",
        title=f"Calendar · {shown.title}",
        me=me,
        nav="calendar",
        status=400 if error or zone_error else 200,
        cal=shown,
        view=view,
        error=error,
        truncated=listing.truncated,
        today=today,
        link=functools.partial(_calendar_link, view),
        day_label=cal.day_label,
        names=PLATFORM_NAMES,
        **_zone_form(me, here, zone_error, zone_typed),
    )


def _calendar_link(view: str, day: date, other_view: str | None = None) -> str:
    return _here(CALENDAR_URL, {"view": other_view or view, "date": day.isoformat()})


@page
async def calendar(request: Request, me: WebIdentity) -> Response:
    return await run_in_threadpool(_calendar_page, request, me, request.query_params)


# --- the session's time zone ---


@page
async def set_timezone(request: Request, me: WebIdentity) -> Response:
    fields: dict[str, str] = request.state.form
    next_url = safe_next(fields.get("next"))
    typed = _typed(fields.get("timezone", "").strip())
    zone = valid_zone(typed)
    if zone is None:
        parts = urlsplit(next_url)
        params = dict(parse_qsl(parts.query))
        builder = _posts_page if parts.path == POSTS_URL else _calendar_page
        error = (
            f"Unknown time zone “{typed}”: choose one from the list, e.g. Europe/Berlin."
            if typed
            else "Choose a time zone from the list, e.g. Europe/Berlin."
        )
        return await run_in_threadpool(builder, request, me, params, zone_error=error, zone_typed=typed)
    await run_in_threadpool(web_sessions.set_timezone, container(request), me.session_id, zone)
    return RedirectResponse(next_url, status_code=303)


ROUTES = [
    Route("/posts", posts, methods=["GET"], name="posts"),
    Route("/calendar", calendar, methods=["GET"], name="calendar"),
    Route("/timezone", set_timezone, methods=["POST"], name="timezone"),
]
