"""Composing posts: a post from one clip (`/web/posts/new`, `POST /web/posts`), several clips at an interval
(`/web/posts/bulk`), and the live caption counters (`POST /web/posts/counts`, JSON).

Thin adapters over publishing/service.py (create_post, bulk_create, check_target_count) and captions.py (suggest,
check_drafts): the server stays the judge. A caption's count and limit come from the platform's own counting
function and limit (the ones its client's validate() applies, see CAPTION_RULES; tests/test_web_compose.py checks
each platform at its limit against validate()), and its problems from check_drafts itself, the check create_post
runs. The pages work without JavaScript: the server checks on submit and shows the form again with a line per field
and what was typed; static/compose.js adds the live counters and hides the captions of platforms not chosen.

Every id in an address or a form is looked up in the session's workspace: another workspace's clip or account is
the 404 page, and nothing is written. The counters endpoint is JSON, not a form, so it cannot use the `page`
decorator's form reading; `counts` applies the same checks (a signed-in session, then the session's CSRF token, in
the X-CSRF-Token header)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from cliply.http.context import read_capped
from cliply.platforms import PLATFORMS, text
from cliply.platforms.bluesky import TEXT_GRAPHEMES
from cliply.platforms.facebook import DESCRIPTION_MAX
from cliply.platforms.instagram import CAPTION_MAX
from cliply.platforms.linkedin import COMMENTARY_MAX, escape_little_text
from cliply.platforms.threads import TEXT_MAX, threads_length
from cliply.platforms.tiktok import MAX_CAPTION_UTF16, PRIVACY_LEVELS
from cliply.platforms.youtube import PRIVACY as YOUTUBE_PRIVACY
from cliply.publishing import service
from cliply.publishing.accounts_service import list_accounts
from cliply.publishing.captions import (
    CaptionRejected,
    TargetDraft,
    check_drafts,
    schedule_time,
    suggest,
    with_default_hashtags,
)
from cliply.publishing.ledger import InvalidTransition
from cliply.store.models import Clip, Source, utcnow
from cliply.store.repo import NotFound
from cliply.usecases import ServiceError, WorkspaceRef, workspace_scope
from cliply.web import csrf
from cliply.web.pagekit import container, identity, page
from cliply.web.pages_accounts import NAMES
from cliply.web.sessions import WebIdentity, zone_of
from cliply.web.templating import render
from cliply.wiring import Cliply

CSRF_HEADER = "x-csrf-token"
LOCAL_MINUTE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$")  # an <input type="datetime-local"> value
MAX_MESSAGE_CHARS = 300
COUNT_MAX_CHARS = 20_000  # past every platform's limit; longer texts are judged on submit only
BULK_MAX_CLIPS_SHOWN = 100  # the form stays under the form reader's 200 fields
INTERVAL_MAX_MINUTES = 7 * 24 * 60
TIKTOK_PRIVACY = {
    "PUBLIC_TO_EVERYONE": "Everyone",
    "MUTUAL_FOLLOW_FRIENDS": "Friends (followers you follow back)",
    "FOLLOWER_OF_CREATOR": "Followers",
    "SELF_ONLY": "Only me",
}
# The options each platform's client requires or offers (the REST API's `targets[].options`): field name → label.
OPTION_FIELDS: dict[str, tuple[tuple[str, str], ...]] = {
    "youtube": (("privacy", "YouTube visibility"),),
    "tiktok": (("privacy", "Who can watch on TikTok"),),
    "pinterest": (("board_id", "Pinterest board id"), ("link", "Pinterest destination link (optional)")),
}
TITLE_PLATFORMS = ("youtube", "pinterest")
# Friendlier lines for the rules a person meets most, keyed by (platform, Violation field).
FIELD_MESSAGES = {
    ("tiktok", "privacy"): "Choose who can watch the video on TikTok.",
    ("pinterest", "board_id"): "Enter the id of the Pinterest board to pin to.",
    ("youtube", "title"): "Enter a YouTube title (at most 100 characters, no < or >).",
}


@dataclass(frozen=True)
class CaptionRule:
    """How a platform counts its caption and its limit: the counting function and the limit its client's
    validate() applies (`limit` reads the client's configured options, as validate() does). `fields` are the
    Violation fields that concern the caption text."""

    fields: tuple[str, ...]
    unit: str
    count: Callable[[str], int]
    limit: Callable[[Mapping[str, str]], int]


CAPTION_RULES: dict[str, CaptionRule] = {
    "youtube": CaptionRule(("description", "hashtags"), "bytes", text.utf8_bytes, lambda o: 5000),
    "tiktok": CaptionRule(("caption",), "characters", text.utf16_units, lambda o: MAX_CAPTION_UTF16),
    "instagram": CaptionRule(("caption",), "characters", text.utf16_units, lambda o: CAPTION_MAX),
    "facebook": CaptionRule(
        ("description",), "characters", text.utf16_units, lambda o: int(o.get("max_description", DESCRIPTION_MAX))
    ),
    "threads": CaptionRule(("text",), "characters", threads_length, lambda o: TEXT_MAX),
    "x": CaptionRule(
        ("text",), "weighted characters", text.x_weighted_length, lambda o: int(o.get("max_weighted_length", 280))
    ),
    "linkedin": CaptionRule(
        ("commentary",), "characters", lambda t: text.code_points(escape_little_text(t)), lambda o: COMMENTARY_MAX
    ),
    "pinterest": CaptionRule(("description",), "characters", text.code_points, lambda o: 800),
    "bluesky": CaptionRule(("text",), "characters", text.graphemes, lambda o: TEXT_GRAPHEMES),
}


def _one_line(message: str) -> str:
    line = " ".join(str(message).split())
    return line if len(line) <= MAX_MESSAGE_CHARS else line[: MAX_MESSAGE_CHARS - 1] + "…"


def _field_of(problem: str) -> str:
    return problem.split(":", 1)[0].strip()


# --- live counters: the server's counting and checks ---


def caption_counts(app: Cliply, captions: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """Per platform: the caption's count and limit as that platform counts, and the caption problems check_drafts
    (create_post's check) finds. Unknown platforms are left out."""
    wanted = {p: t for p, t in captions.items() if p in CAPTION_RULES}
    built = {p: app.clients(p) for p in wanted}
    out: dict[str, dict[str, Any]] = {}
    try:
        for p, caption in wanted.items():
            rule = CAPTION_RULES[p]
            limit = rule.limit(built[p].config.options)
            out[p] = {"count": rule.count(caption), "limit": limit, "unit": rule.unit, "problems": []}
        try:
            check_drafts([TargetDraft(p, 0, caption) for p, caption in wanted.items()], built.__getitem__)
        except CaptionRejected as exc:
            for p, problems in exc.problems.items():
                out[p]["problems"] = [m for m in problems if _field_of(m) in CAPTION_RULES[p].fields]
    finally:
        for client in built.values():
            client.close()
    for counted in out.values():
        counted["ok"] = counted["count"] <= counted["limit"] and not counted["problems"]
    return out


async def counts(request: Request) -> Response:
    """POST /web/posts/counts: {"captions": {platform: text}} → {"counts": {platform: {count, limit, unit,
    problems, ok}}}. A signed-in session and its CSRF token (X-CSRF-Token header) are required."""
    me = await identity(request)
    if me is None:
        return JSONResponse({"error": "sign in first"}, status_code=401)
    if not csrf.matches(me.csrf, request.headers.get(CSRF_HEADER)):
        return JSONResponse({"error": "the security token is missing or wrong; reload the page"}, status_code=403)
    raw = await read_capped(request, container(request).settings.http_max_body_bytes)
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        return JSONResponse({"error": "the body must be JSON"}, status_code=400)
    captions = data.get("captions") if isinstance(data, dict) else None
    if not isinstance(captions, dict) or not all(
        isinstance(k, str) and k in PLATFORMS and isinstance(v, str) for k, v in captions.items()
    ):
        return JSONResponse({"error": "captions must map platform names to texts"}, status_code=422)
    if any(len(v) > COUNT_MAX_CHARS for v in captions.values()):
        return JSONResponse({"error": f"captions longer than {COUNT_MAX_CHARS} characters are not counted"}, 422)
    result = await run_in_threadpool(caption_counts, container(request), captions)
    return JSONResponse({"counts": result})


# --- what the forms show ---


@dataclass
class ComposeView:
    clip: dict[str, Any] | None  # the chosen clip
    clips: list[dict[str, Any]]  # the workspace's clips of ready sources, to choose from
    accounts: list[dict[str, Any]]  # connected (not disconnected) accounts
    suggestion: str = ""

    @property
    def platforms(self) -> list[str]:
        have = {a["platform"] for a in self.accounts}
        return [p for p in PLATFORMS if p in have]

    def accounts_of(self, platform: str) -> list[dict[str, Any]]:
        return [a for a in self.accounts if a["platform"] == platform]


def _clip_json(clip: Clip, source: Source | None) -> dict[str, Any]:
    name = source.original_name if source is not None else clip.source_id
    score = "" if clip.score is None else f" · score {clip.score:.1f}"
    return {
        "id": clip.id,
        "rank": clip.rank,
        "source_name": name,
        "label": f"Clip {clip.rank} of {name}{score}",
        "has_thumbnail": bool(clip.thumbnail_key),
        "source_status": source.status if source is not None else "",
    }


def compose_view(app: Cliply, ref: WorkspaceRef, clip_id: str | None) -> ComposeView | None:
    """The clips and accounts to choose from, the chosen clip and its suggested caption (captions.suggest, with the
    workspace's default hashtags: what create_post would use); None when `clip_id` is not this workspace's."""
    with workspace_scope(app, ref, write=False) as scope:
        sources = {s.id: s for s in scope.list_sources()}
        clips = [
            _clip_json(c, sources.get(c.source_id))
            for c in scope.list_clips()
            if c.source_id in sources and sources[c.source_id].status == "ready"
        ]
        chosen, suggestion = None, ""
        if clip_id:
            try:
                clip = service.clip_in_workspace(scope, clip_id)
            except NotFound:
                return None
            chosen = _clip_json(clip, sources.get(clip.source_id))
            suggested = with_default_hashtags(suggest(clip.text), scope.workspace.experiment_defaults)
            suggestion = suggested.text()
    accounts = [a for a in list_accounts(app, ref) if a["status"] != "disconnected"]
    return ComposeView(chosen, clips, accounts, suggestion)


def initial_counts(app: Cliply, platforms: list[str], captions: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    return caption_counts(app, {p: captions.get(p, "") for p in platforms})


# --- reading the forms ---


@dataclass
class Compose:
    """What a compose or bulk form holds (kept as typed, to show it again) and its field errors."""

    clip: str = ""
    clips: list[str] = field(default_factory=list)
    when: str = "at"
    at: str = ""
    every: str = "30"
    accounts: list[int] = field(default_factory=list)
    captions: dict[str, str] = field(default_factory=dict)
    titles: dict[str, str] = field(default_factory=dict)
    options: dict[str, dict[str, str]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def error(self, key: str, message: str) -> None:
        self.errors.setdefault(key, _one_line(message))


def default_local_time(zone: str, now: datetime | None = None) -> str:
    """The next full hour in the viewer's zone, as a datetime-local value."""
    local = (now or utcnow()).astimezone(zone_of(zone)) + timedelta(hours=1)
    return local.replace(minute=0, second=0, microsecond=0).strftime("%Y-%m-%dT%H:%M")


def read_compose(fields: Mapping[str, str], *, platforms: list[str]) -> Compose:
    """The compose/bulk form's fields: `clip`, `clip-<id>` checkboxes, `when` (now|at), `at`, `every`,
    `account-<id>` checkboxes, and per platform `caption-<p>`, `title-<p>`, `opt-<p>-<name>`."""
    form = Compose(
        clip=fields.get("clip", "").strip()[:200],
        when="now" if fields.get("when") == "now" else "at",
        at=fields.get("at", "").strip()[:64],
        every=fields.get("every", "30").strip()[:12],
    )
    for key, value in fields.items():
        if key.startswith("clip-") and value:
            form.clips.append(key.removeprefix("clip-")[:200])
        elif key.startswith("account-") and value:
            ident = key.removeprefix("account-")
            if ident.isascii() and ident.isdigit() and int(ident) <= service.MAX_ID:
                form.accounts.append(int(ident))
            else:
                form.accounts.append(-1)  # never an account: the 404 page
    for p in platforms:
        if f"caption-{p}" in fields:
            form.captions[p] = fields[f"caption-{p}"].replace("\r\n", "\n")
        if p in TITLE_PLATFORMS and fields.get(f"title-{p}", "").strip():
            form.titles[p] = fields[f"title-{p}"].strip()
        opts = {name: fields.get(f"opt-{p}-{name}", "").strip() for name, _ in OPTION_FIELDS.get(p, ())}
        form.options[p] = {k: v for k, v in opts.items() if v}
    return form


def check_time(form: Compose, zone: str) -> str | None:
    """The `at` to pass on ("now" or the local time), or None after recording the field's error."""
    if form.when == "now":
        return "now"
    if not form.at:
        form.error("at", "Choose a date and time, or choose “As soon as possible”.")
        return None
    try:
        schedule_time(form.at, zone)
    except ValueError as exc:
        form.error("at", str(exc))
        return None
    return form.at


def drafts_of(form: Compose, view: ComposeView, *, with_captions: bool) -> list[TargetDraft] | None:
    """One draft per chosen account; None when an account id is not this workspace's (the 404 page)."""
    by_id = {a["id"]: a for a in view.accounts}
    drafts = []
    for account_id in dict.fromkeys(form.accounts):
        account = by_id.get(account_id)
        if account is None:
            return None
        p = account["platform"]
        caption = form.captions.get(p, "").strip() if with_captions else ""
        drafts.append(TargetDraft(p, account_id, caption or None, form.titles.get(p), dict(form.options.get(p, {}))))
    if not drafts:
        form.error("accounts", "Choose at least one account to publish to.")
    return drafts


def record_rejection(form: Compose, exc: CaptionRejected) -> None:
    """Each platform's problems under the field they concern: its caption, title or an option."""
    for p, problems in exc.problems.items():
        for problem in problems:
            name = _field_of(problem)
            if name in CAPTION_RULES[p].fields:
                form.error(f"caption-{p}", f"{NAMES.get(p, p)}: {problem}")
            elif name == "title" and p in TITLE_PLATFORMS:
                form.error(f"title-{p}", FIELD_MESSAGES.get((p, name), problem))
            elif any(name == option for option, _ in OPTION_FIELDS.get(p, ())):
                form.error(f"opt-{p}-{name}", FIELD_MESSAGES.get((p, name), problem))
            else:
                form.error(f"platform-{p}", f"{NAMES.get(p, p)}: {problem}")


def template_context(app: Cliply, view: ComposeView, form: Compose) -> dict[str, Any]:
    shown = {p: form.captions.get(p, view.suggestion) for p in view.platforms}
    return {
        "view": view,
        "form": form,
        "names": NAMES,
        "captions": shown,
        "counted": initial_counts(app, view.platforms, shown),
        "option_fields": OPTION_FIELDS,
        "title_platforms": TITLE_PLATFORMS,
        "tiktok_privacy": TIKTOK_PRIVACY,
        "tiktok_levels": PRIVACY_LEVELS,
        "youtube_privacy": YOUTUBE_PRIVACY,
    }


def _not_found(me: WebIdentity, what: str = "clip or account") -> Response:
    return render(
        "error.html", title="Page not found", me=me, status=404, message=f"There is no such {what} in this workspace."
    )


# --- one post ---


def _compose_page(app: Cliply, me: WebIdentity, view: ComposeView, form: Compose, status: int = 200) -> Response:
    return render(
        "compose.html",
        title="New post",
        me=me,
        nav="posts",
        status=status,
        **template_context(app, view, form),
    )


@page
async def compose(request: Request, me: WebIdentity) -> Response:
    app, params = container(request), request.query_params
    view = await run_in_threadpool(compose_view, app, me.workspace_ref(), params.get("clip") or None)
    if view is None:
        return _not_found(me, "clip")
    at = params.get("at", "")
    form = Compose(clip=view.clip["id"] if view.clip else "")
    form.at = at if LOCAL_MINUTE.match(at) else default_local_time(me.timezone)
    return await run_in_threadpool(_compose_page, app, me, view, form)


def _create(app: Cliply, me: WebIdentity, fields: Mapping[str, str]) -> Response:
    ref = me.workspace_ref()
    view = compose_view(app, ref, fields.get("clip", "").strip()[:200] or None)
    if view is None:
        return _not_found(me, "clip")
    form = read_compose(fields, platforms=view.platforms)
    if view.clip is None:
        form.error("clip", "Choose a clip.")
    at = check_time(form, me.timezone)
    drafts = drafts_of(form, view, with_captions=True)
    if drafts is None:
        return _not_found(me, "account")
    if form.errors or view.clip is None:
        return _compose_page(app, me, view, form, status=400)
    try:
        created = service.create_post(app, ref, clip_id=view.clip["id"], drafts=drafts, at=at, tz=me.timezone)
    except NotFound:
        return _not_found(me)
    except CaptionRejected as exc:
        record_rejection(form, exc)
        return _compose_page(app, me, view, form, status=422)
    except ServiceError as exc:
        form.error("form", str(exc))
        return _compose_page(app, me, view, form, status=exc.status if 400 <= exc.status < 500 else 422)
    except (ValueError, InvalidTransition) as exc:
        form.error("form", str(exc))
        return _compose_page(app, me, view, form, status=422)
    return RedirectResponse(f"/web/posts/{created.post['id']}?done=created", status_code=303)


@page
async def create(request: Request, me: WebIdentity) -> Response:
    return await run_in_threadpool(_create, container(request), me, dict(request.state.form))


# --- several clips at an interval ---


def _bulk_page(app: Cliply, me: WebIdentity, view: ComposeView, form: Compose, status: int = 200) -> Response:
    return render(
        "bulk.html",
        title="Bulk schedule",
        me=me,
        nav="posts",
        status=status,
        clips_shown=view.clips[:BULK_MAX_CLIPS_SHOWN],
        max_targets=app.settings.max_targets_per_post,
        **template_context(app, view, form),
    )


@page
async def bulk_form(request: Request, me: WebIdentity) -> Response:
    app = container(request)
    view = await run_in_threadpool(compose_view, app, me.workspace_ref(), None)
    assert view is not None
    form = Compose(at=default_local_time(me.timezone))
    return await run_in_threadpool(_bulk_page, app, me, view, form)


def _minutes(form: Compose) -> int | None:
    if not (form.every.isascii() and form.every.isdigit()) or not 1 <= int(form.every) <= INTERVAL_MAX_MINUTES:
        form.error("every", f"Enter a whole number of minutes from 1 to {INTERVAL_MAX_MINUTES}.")
        return None
    return int(form.every)


def _bulk(app: Cliply, me: WebIdentity, fields: Mapping[str, str]) -> Response:
    ref = me.workspace_ref()
    view = compose_view(app, ref, None)
    assert view is not None
    form = read_compose(fields, platforms=view.platforms)
    clip_ids = list(dict.fromkeys(form.clips))
    mine = {c["id"] for c in view.clips}
    if any(c not in mine for c in clip_ids):
        return _not_found(me, "clip")
    if not clip_ids:
        form.error("clips", "Choose at least one clip.")
    at, minutes = check_time(form, me.timezone), _minutes(form)
    drafts = drafts_of(form, view, with_captions=False)
    if drafts is None:
        return _not_found(me, "account")
    if not form.errors:
        try:
            service.check_target_count(app, len(clip_ids) * len(drafts))
        except ServiceError as exc:
            form.error("form", f"Too many at once: {exc}. Schedule fewer clips or accounts per batch.")
    if form.errors:
        return _bulk_page(app, me, view, form, status=400)
    try:
        posts = service.bulk_create(
            app, ref, clip_ids=clip_ids, drafts=drafts, at=at, tz=me.timezone, every=f"{minutes}m"
        )
    except NotFound:
        return _not_found(me)
    except CaptionRejected as exc:
        record_rejection(form, exc)
        form.error("form", "Nothing was scheduled: fix the options below and try again.")
        return _bulk_page(app, me, view, form, status=422)
    except (ServiceError, ValueError) as exc:
        form.error("form", f"Nothing was scheduled: {exc}")
        return _bulk_page(app, me, view, form, status=422)
    labels = {c["id"]: c["label"] for c in view.clips}
    return render(
        "bulk_done.html",
        title="Posts scheduled",
        me=me,
        nav="posts",
        posts=[{**p, "clip_label": labels.get(p["clip_id"], p["clip_id"])} for p in posts],
        targets=len(drafts),
    )


@page
async def bulk(request: Request, me: WebIdentity) -> Response:
    return await run_in_threadpool(_bulk, container(request), me, dict(request.state.form))


# Literal paths first: /posts/new, /posts/bulk and /posts/counts are not post ids.
ROUTES = [
    Route("/posts/new", compose, methods=["GET"], name="post_new"),
    Route("/posts/counts", counts, methods=["POST"], name="post_counts"),
    Route("/posts/bulk", bulk_form, methods=["GET"], name="posts_bulk"),
    Route("/posts/bulk", bulk, methods=["POST"]),
    Route("/posts", create, methods=["POST"], name="post_create"),
]
