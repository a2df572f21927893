"""Jinja2 rendering of the web pages. Autoescaping is on for every template and no user-provided string is ever
marked safe: names, handles and captions are escaped wherever they appear."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.responses import HTMLResponse

from cliply.web.sessions import WebIdentity, zone_of

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"

# The main navigation (key, URL, label); pages mark theirs with nav=key.
NAV: list[tuple[str, str, str]] = [
    ("home", "/web/", "Home"),
    ("accounts", "/web/accounts", "Accounts"),
    ("sources", "/web/sources", "Sources"),
    ("posts", "/web/posts", "Posts"),
    ("calendar", "/web/calendar", "Calendar"),
    ("analytics", "/web/analytics", "Analytics"),
    ("experiments", "/web/experiments", "Experiments"),
]


def _moment(value: datetime | str | None) -> datetime | None:
    if value is None or value == "":
        return None
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def local_time(value: datetime | str | None, zone: str | None = None) -> str:
    """`2026-12-07 15:00 CET` in the viewer's zone (the abbreviation names it); `-` when there is no time."""
    moment = _moment(value)
    if moment is None:
        return "-"
    return moment.astimezone(zone_of(zone)).strftime("%Y-%m-%d %H:%M %Z")


def iso_time(value: datetime | str | None) -> str:
    moment = _moment(value)
    return moment.isoformat() if moment is not None else ""


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["local"] = local_time
    env.filters["iso"] = iso_time
    env.globals["nav_items"] = NAV
    return env


ENV = _environment()


def render(
    template: str, *, title: str, me: WebIdentity | None, status: int = 200, nav: str = "", **context: Any
) -> HTMLResponse:
    """A page: `title` is its <title> and (by convention) its one <h1>; `me` the signed-in session or None."""
    html = ENV.get_template(template).render(title=title, me=me, nav=nav, **context)
    return HTMLResponse(html, status_code=status)
