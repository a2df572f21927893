"""One post (`/web/posts/<id>`): its time in the session's zone, its clip, and each target with its platform, account,
status, the reason of a failure or a wait, and the published URL; Cancel, Publish now, Retry (per failed target) and
Edit, each a POST with the session's CSRF token through the publishing use cases (cancel_post, publish_now,
retry_target, edit_post), answered by the post page again with a one-line notice. The notice is one of a fixed set
(`?done=<key>`), never text from the address.

Another workspace's post or target id, in an address or a form, is the 404 page and changes nothing."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from cliply.publishing import service
from cliply.publishing.accounts_service import list_accounts
from cliply.publishing.captions import CaptionRejected
from cliply.publishing.ledger import ATTENTION_STATE, InvalidTransition
from cliply.store.models import Clip, Source
from cliply.store.models_publishing import PostTarget
from cliply.store.repo import NotFound
from cliply.usecases import ServiceError, WorkspaceRef, workspace_scope
from cliply.web.pagekit import container, page
from cliply.web.pages_accounts import NAMES
from cliply.web.pages_compose import (
    LOCAL_MINUTE,
    Compose,
    caption_counts,
    check_time,
    record_rejection,
)
from cliply.web.sessions import WebIdentity, zone_of
from cliply.web.templating import render
from cliply.wiring import Cliply

NOTICES = {
    "created": "The post is scheduled.",
    "edited": "The post was changed.",
    "cancelled": "The post was cancelled: its targets that had not started will not be published.",
    "published-now": "The post's scheduled targets are due now; publishing starts within a minute.",
    "nothing-due": "Nothing was waiting to be published: every target has started, finished or been cancelled.",
    "retried": "The target is due again now; publishing starts within a minute.",
}
ERRORS = {
    "cannot-cancel": "This post cannot be cancelled any more: its targets have started or finished.",
    "cannot-retry": "Only a failed target can be retried.",
    "cannot-edit": "This post cannot be changed any more: publishing has started, or it was cancelled.",
}
STATE_LABELS = {
    "scheduled": "Scheduled",
    "claimed": "Starting",
    "uploading": "Uploading",
    "processing": "Processing",
    "publishing": "Publishing",
    "waiting": "Waiting",
    "unknown_outcome": "Checking",
    "published": "Published",
    "failed": "Failed",
    "cancelled": "Cancelled",
    ATTENTION_STATE: "Needs attention",
}
BADGES = {"claimed": "processing", "uploading": "processing", "publishing": "processing", "unknown_outcome": "waiting"}
RETRYABLE = ("failed", ATTENTION_STATE)


@dataclass
class PostPage:
    post: dict[str, Any]
    clip: dict[str, Any] | None
    targets: list[dict[str, Any]]

    @property
    def live(self) -> list[dict[str, Any]]:
        return [t for t in self.targets if t["state"] != "cancelled"]

    @property
    def can_cancel(self) -> bool:
        return any(t["state"] in ("scheduled", "waiting") for t in self.targets)

    @property
    def can_publish_now(self) -> bool:
        return any(t["state"] == "scheduled" for t in self.targets)

    @property
    def editable(self) -> bool:
        return bool(self.live) and all(t["state"] == "scheduled" for t in self.live)


def _reason(t: dict[str, Any]) -> str:
    """Why a target failed or waits (views.status_message's wording; its time is shown apart, in the viewer's zone)."""
    state = t["state"]
    if state == "failed":
        return f"{t['error_class'] or 'failed'}: {t['error_message'] or 'no message'}"
    if state == ATTENTION_STATE:
        return f"needs attention: {t['error_message'] or 'no message'}"
    if state == "waiting" and t["wait_reason"] == "transient":
        return f"retrying after platform errors (round {t['retry_rounds']})"
    if state == "waiting":
        return f"waiting ({t['wait_reason'] or 'limit'})"
    if state == "unknown_outcome":
        return "checking whether it was posted"
    return ""


def _public_url(url: str | None) -> str:
    """Only a web address is a link (a stored value from a platform is never trusted as a scheme)."""
    return url if url and url.startswith(("https://", "http://")) else ""


def post_page(app: Cliply, ref: WorkspaceRef, post_id: str) -> PostPage | None:
    try:
        post = service.show_post(app, ref, post_id)
    except NotFound:
        return None
    with workspace_scope(app, ref, write=False) as scope:
        clip_row = scope.session.scalars(
            select(Clip).where(Clip.id == post["clip_id"], Clip.workspace_id == scope.workspace_id)
        ).one_or_none()
        clip = None
        if clip_row is not None:
            source = scope.session.get(Source, clip_row.source_id)
            clip = {
                "id": clip_row.id,
                "rank": clip_row.rank,
                "source_name": source.original_name if source is not None else clip_row.source_id,
                "has_thumbnail": bool(clip_row.thumbnail_key),
            }
    accounts = {a["id"]: a for a in list_accounts(app, ref)}
    targets = []
    for t in post["targets"]:
        account = accounts.get(t["account_id"])
        targets.append(
            {
                **t,
                "name": NAMES.get(t["platform"], t["platform"]),
                "handle": account["handle"] if account is not None else f"account {t['account_id']}",
                "label": STATE_LABELS.get(t["state"], t["state"]),
                "badge": BADGES.get(t["state"], t["state"]),
                "reason": _reason(t),
                "link": _public_url(t["url"]),
                "retryable": t["state"] in RETRYABLE,
            }
        )
    return PostPage(post, clip, targets)


def _not_found(me: WebIdentity, what: str = "post") -> Response:
    return render(
        "error.html", title="Page not found", me=me, status=404, message=f"There is no such {what} in this workspace."
    )


def _post_url(post_id: str, key: str, *, error: bool = False) -> str:
    return f"/web/posts/{post_id}?{'error' if error else 'done'}={key}"


@page
async def show(request: Request, me: WebIdentity) -> Response:
    found = await run_in_threadpool(post_page, container(request), me.workspace_ref(), request.path_params["post_id"])
    if found is None:
        return _not_found(me)
    params = request.query_params
    return render(
        "post.html",
        title="Post",
        me=me,
        nav="posts",
        view=found,
        notice=NOTICES.get(params.get("done", ""), ""),
        error=ERRORS.get(params.get("error", ""), ""),
    )


@page
async def cancel(request: Request, me: WebIdentity) -> Response:
    post_id = request.path_params["post_id"]
    try:
        post = await run_in_threadpool(service.cancel_post, container(request), me.workspace_ref(), post_id)
    except NotFound:
        return _not_found(me)
    except InvalidTransition:
        return RedirectResponse(_post_url(post_id, "cannot-cancel", error=True), status_code=303)
    if not any(t["state"] == "cancelled" for t in post["targets"]):  # every target had started or finished
        return RedirectResponse(_post_url(post_id, "cannot-cancel", error=True), status_code=303)
    return RedirectResponse(_post_url(post_id, "cancelled"), status_code=303)


@page
async def publish_now(request: Request, me: WebIdentity) -> Response:
    post_id = request.path_params["post_id"]
    try:
        post = await run_in_threadpool(service.publish_now, container(request), me.workspace_ref(), post_id)
    except NotFound:
        return _not_found(me)
    return RedirectResponse(_post_url(post_id, "published-now" if post["made_due"] else "nothing-due"), 303)


def target_post_id(app: Cliply, ref: WorkspaceRef, target_id: str) -> str | None:
    """The post a target of this workspace belongs to; None for another workspace's or an unknown target."""
    with workspace_scope(app, ref, write=False) as scope:
        found: str | None = scope.session.scalars(
            select(PostTarget.post_id).where(PostTarget.id == target_id, PostTarget.workspace_id == scope.workspace_id)
        ).one_or_none()
        return found


@page
async def retry(request: Request, me: WebIdentity) -> Response:
    app, target_id = container(request), request.path_params["target_id"]
    post_id = await run_in_threadpool(target_post_id, app, me.workspace_ref(), target_id)
    if post_id is None:
        return _not_found(me, "target")
    try:
        await run_in_threadpool(service.retry_target, app, me.workspace_ref(), target_id)
    except NotFound:
        return _not_found(me, "target")
    except InvalidTransition:
        return RedirectResponse(_post_url(post_id, "cannot-retry", error=True), status_code=303)
    return RedirectResponse(_post_url(post_id, "retried"), status_code=303)


# --- editing ---


def local_minute(value: str | datetime, zone: str) -> str:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.astimezone(zone_of(zone)).strftime("%Y-%m-%dT%H:%M")


def _edit_page(app: Cliply, me: WebIdentity, view: PostPage, form: Compose, status: int = 200) -> Response:
    platforms = list(dict.fromkeys(t["platform"] for t in view.live))
    shown = {p: form.captions.get(p, "") for p in platforms}
    return render(
        "post_edit.html",
        title="Change the post",
        me=me,
        nav="posts",
        status=status,
        view=view,
        form=form,
        platforms=platforms,
        names=NAMES,
        captions=shown,
        counted=caption_counts(app, shown),
    )


def _form_of(view: PostPage, me: WebIdentity) -> Compose:
    form = Compose(at=local_minute(view.post["scheduled_at"], me.timezone))
    for t in view.live:
        form.captions.setdefault(t["platform"], t["caption"] or "")
    return form


def _edit_form(app: Cliply, me: WebIdentity, post_id: str) -> Response:
    view = post_page(app, me.workspace_ref(), post_id)
    if view is None:
        return _not_found(me)
    if not view.editable:
        return RedirectResponse(_post_url(post_id, "cannot-edit", error=True), status_code=303)
    return _edit_page(app, me, view, _form_of(view, me))


@page
async def edit_form(request: Request, me: WebIdentity) -> Response:
    return await run_in_threadpool(_edit_form, container(request), me, request.path_params["post_id"])


def _edit(app: Cliply, me: WebIdentity, post_id: str, fields: Mapping[str, str]) -> Response:
    ref = me.workspace_ref()
    view = post_page(app, ref, post_id)
    if view is None:
        return _not_found(me)
    was = _form_of(view, me)
    platforms = list(was.captions)
    form = Compose(at=fields.get("at", "").strip()[:64])
    for p in platforms:
        form.captions[p] = fields.get(f"caption-{p}", was.captions[p]).replace("\r\n", "\n")
    at = None
    if not form.at:
        form.error("at", "Choose a date and time.")
    elif form.at != was.at or not LOCAL_MINUTE.match(form.at):  # an unchanged time is left as it is
        at = check_time(form, me.timezone)
    if form.errors:
        return _edit_page(app, me, view, form, status=400)
    changed = {p: c for p, c in form.captions.items() if c != was.captions[p]}
    try:
        service.edit_post(app, ref, post_id, captions=changed, at=at, tz=me.timezone if at else None)
    except NotFound:
        return _not_found(me)
    except CaptionRejected as exc:
        record_rejection(form, exc)
        return _edit_page(app, me, view, form, status=422)
    except InvalidTransition:
        return RedirectResponse(_post_url(post_id, "cannot-edit", error=True), status_code=303)
    except (ServiceError, ValueError) as exc:
        form.error("form", str(exc))
        return _edit_page(app, me, view, form, status=422)
    return RedirectResponse(_post_url(post_id, "edited"), status_code=303)


@page
async def edit(request: Request, me: WebIdentity) -> Response:
    return await run_in_threadpool(
        _edit, container(request), me, request.path_params["post_id"], dict(request.state.form)
    )


ROUTES = [
    Route("/posts/{post_id}", show, methods=["GET"], name="post"),
    Route("/posts/{post_id}/edit", edit_form, methods=["GET"], name="post_edit"),
    Route("/posts/{post_id}/edit", edit, methods=["POST"]),
    Route("/posts/{post_id}/cancel", cancel, methods=["POST"], name="post_cancel"),
    Route("/posts/{post_id}/publish-now", publish_now, methods=["POST"], name="post_publish_now"),
    Route("/targets/{target_id}/retry", retry, methods=["POST"], name="target_retry"),
]
