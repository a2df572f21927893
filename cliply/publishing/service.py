"""Publishing use cases, shared by the CLI and the REST API so each rule lives once: posts here, accounts in
accounts_service (re-exported). Each takes the application container and a workspace reference, returns the JSON
shapes of views.py, and raises NotFound, CaptionRejected, ValueError (InvalidTransition) or ServiceError."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select, update

from cliply.platforms import PLATFORMS
from cliply.publishing import ledger
from cliply.publishing.accounts_service import (
    begin_oauth,
    complete_oauth,
    confirm_oauth,
    disconnect_account,
    handle_of,
    list_accounts,
    login_bluesky,
    oauth_result,
)
from cliply.publishing.captions import (
    Suggestion,
    TargetDraft,
    check_drafts,
    parse_every,
    parse_schedule,
    pull_url,
    schedule_time,
    suggest,
    with_default_hashtags,
)
from cliply.publishing.views import account_json, post_json, target_json
from cliply.store.models import Clip, utcnow
from cliply.store.models_accounts import Account
from cliply.store.models_publishing import Post, PostTarget
from cliply.store.repo import NotFound, WorkspaceScope
from cliply.usecases import ServiceError, WorkspaceRef, workspace_scope

if TYPE_CHECKING:
    from cliply.wiring import Cliply

__all__ = [
    "Created",
    "NotFound",
    "ServiceError",
    "account_json",
    "account_ref",
    "begin_oauth",
    "bulk_create",
    "cancel_post",
    "check_target_count",
    "complete_oauth",
    "confirm_oauth",
    "create_post",
    "disconnect_account",
    "drafts_for",
    "edit_post",
    "handle_of",
    "list_accounts",
    "list_posts",
    "login_bluesky",
    "oauth_result",
    "parse_targets",
    "post_json",
    "publish_now",
    "retry_target",
    "show_post",
    "target_json",
]


# --- target specs ---


def parse_targets(spec: str) -> list[tuple[str, int | str]]:
    """ "youtube:3,tiktok:@me" → [("youtube", 3), ("tiktok", "@me")]: an account id, or a handle / platform id."""
    out: list[tuple[str, int | str]] = []
    for part in filter(None, (p.strip() for p in spec.split(","))):
        platform, sep, account = part.partition(":")
        platform, account = platform.strip().lower(), account.strip()
        if not sep or platform not in PLATFORMS or not account:
            raise ValueError(
                f"bad target {part!r}: expected <platform>:<account id or handle>, platform one of "
                f"{', '.join(PLATFORMS)}"
            )
        out.append((platform, account_ref(account)))
    if not out:
        raise ValueError("no targets given")
    return out


MAX_ID = 2**63 - 1  # database integers are 64-bit


def account_ref(text: str) -> int | str:
    """ "3" → 3 (an account id); anything else (a number past the id range included) is a handle or a platform id."""
    return int(text) if text.isascii() and text.isdigit() and int(text) <= MAX_ID else text


def check_target_count(app: Cliply, count: int) -> None:
    limit = app.settings.max_targets_per_post
    if count > limit:
        raise ServiceError(
            f"a post may have at most {limit} targets (CLIPLY_MAX_TARGETS_PER_POST); got {count}", status=422
        )


def drafts_for(
    targets: Sequence[tuple[str, int | str]],
    *,
    captions: Mapping[str, str] | None = None,
    title: str | None = None,
    options: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[TargetDraft]:
    """Drafts for parsed targets; a per-platform caption or option naming no target is refused."""
    captions, options = dict(captions or {}), dict(options or {})
    unknown = (set(captions) | set(options)) - {p for p, _ in targets}
    if unknown:
        raise ValueError(f"no target on {', '.join(sorted(unknown))}")
    return [TargetDraft(p, a, captions.get(p), title, dict(options.get(p, {}))) for p, a in targets]


# --- reading ---


def _post(scope: WorkspaceScope, post_id: str) -> tuple[Post, list[PostTarget]]:
    post = ledger.get_post(scope, post_id)
    if post is None:
        raise NotFound(f"no post {post_id!r} in this workspace")
    return post, ledger.list_targets(scope, post_id)


def _post_view(scope: WorkspaceScope, post_id: str) -> dict[str, Any]:
    return post_json(*_post(scope, post_id))


def list_posts(app: Cliply, ref: WorkspaceRef, status: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
    """The workspace's posts, newest schedule first (without their targets)."""
    with workspace_scope(app, ref, write=False) as scope:
        stmt = select(Post).where(Post.workspace_id == scope.workspace_id)
        if status:
            stmt = stmt.where(Post.status == status)
        rows = scope.session.scalars(stmt.order_by(Post.scheduled_at.desc(), Post.id).limit(limit))
        return [post_json(p) for p in rows]


def show_post(app: Cliply, ref: WorkspaceRef, post_id: str) -> dict[str, Any]:
    with workspace_scope(app, ref, write=False) as scope:
        return _post_view(scope, post_id)


# --- creating ---


@dataclass(frozen=True)
class Created:
    post: dict[str, Any]
    suggestion: Suggestion | None

    def json(self) -> dict[str, Any]:
        """The post, plus the suggested caption and hashtags when no caption was given."""
        if self.suggestion is None:
            return self.post
        return {
            **self.post,
            "suggested": {"caption": self.suggestion.caption, "hashtags": list(self.suggestion.hashtags)},
        }


def _resolve_account(scope: WorkspaceScope, platform: str, ref: int | str) -> Account:
    """This workspace's `platform` account by id, or by handle (with or without @) / platform id."""
    stmt = select(Account).where(Account.workspace_id == scope.workspace_id, Account.platform == platform)
    if isinstance(ref, int):
        rows = list(scope.session.scalars(stmt.where(Account.id == ref))) if 0 < ref <= MAX_ID else []
    else:
        name = ref.lstrip("@")
        rows = list(
            scope.session.scalars(
                stmt.where(
                    or_(
                        Account.handle == ref,
                        Account.handle == name,
                        Account.handle == f"@{name}",
                        Account.external_id == ref,
                    )
                ).order_by(Account.id)
            )
        )
        rows = [a for a in rows if a.status != "disconnected"] or rows
    if not rows:
        raise NotFound(f"no {platform} account {ref} in this workspace")
    if len(rows) > 1:
        raise ValueError(f"{platform} account {ref!r} is ambiguous: use one of the ids {[a.id for a in rows]}")
    if rows[0].status == "disconnected":
        raise ValueError(f"{platform} account {rows[0].id} is disconnected; connect it again")
    return rows[0]


def resolve_account(scope: WorkspaceScope, platform: str, ref: int | str) -> Account:
    """The account a parsed target names, by the rules create_post applies (for use cases writing posts in their
    own transaction, e.g. experiments)."""
    return _resolve_account(scope, platform, ref)


def clip_in_workspace(scope: WorkspaceScope, clip_id: str) -> Clip:
    """The workspace's clip (NotFound for another workspace's or an unknown id)."""
    clip = scope.session.scalars(
        select(Clip).where(Clip.id == clip_id, Clip.workspace_id == scope.workspace_id)
    ).one_or_none()
    if clip is None:
        raise NotFound(f"no clip {clip_id!r} in this workspace")
    return clip


def _video(app: Cliply, clip: Clip | None) -> Any:
    return app.media.local_path(clip.media_key) if clip is not None and clip.media_key else None


@dataclass
class _Draft:
    """One post, checked in a read transaction; the platform rules run outside any transaction, then it is
    written in a short one (so a slow validation never holds the database's write lock)."""

    clip_id: str
    drafts: list[TargetDraft]
    default: str
    suggestion: Suggestion | None
    video: Any
    url: str


def _prepare(
    app: Cliply, scope: WorkspaceScope, clip_id: str, drafts: Sequence[TargetDraft], caption: str | None
) -> _Draft:
    """The clip and accounts must be this workspace's; targets without a caption get the clip's suggested
    caption + hashtags."""
    clip = clip_in_workspace(scope, clip_id)
    drafts = [TargetDraft(d.platform, d.account_id, d.caption, d.title, dict(d.options)) for d in drafts]
    for d in drafts:
        d.account_id = _resolve_account(scope, d.platform, d.account_id).id
    suggestion = suggest(clip.text) if caption is None and any(d.caption is None for d in drafts) else None
    if suggestion is not None:
        suggestion = with_default_hashtags(suggestion, scope.workspace.experiment_defaults)
    default = caption if caption is not None else suggestion.text() if suggestion else ""
    for d in drafts:
        d.caption = default if d.caption is None else d.caption
    return _Draft(clip_id, drafts, default, suggestion, _video(app, clip), pull_url(app.signer, clip, drafts))


def _write(scope: WorkspaceScope, draft: _Draft, when: datetime, zone: str) -> Post:
    """Re-check what may have changed since the draft was read (clip, accounts), then record the post."""
    clip_in_workspace(scope, draft.clip_id)
    for d in draft.drafts:
        _resolve_account(scope, d.platform, d.account_id)
    specs = [
        ledger.TargetSpec(
            platform=d.platform,
            account_id=int(d.account_id),
            caption=d.caption or "",
            title=d.title or "",
            options=dict(d.options),
        )
        for d in draft.drafts
    ]
    return ledger.create_post(
        scope, clip_id=draft.clip_id, targets=specs, scheduled_at=when, timezone=zone, caption=draft.default
    )


def create_post(
    app: Cliply,
    ref: WorkspaceRef,
    *,
    clip_id: str,
    drafts: Sequence[TargetDraft],
    caption: str | None = None,
    at: str | None = None,
    tz: str | None = None,
) -> Created:
    """Schedule one clip to one or more accounts at local time `at` in zone `tz` (default: now, UTC). Every
    target's text must pass its platform's rules; nothing is written otherwise."""
    when, zone = schedule_time(at, tz)
    check_target_count(app, len(drafts))
    with workspace_scope(app, ref, write=False) as scope:
        draft = _prepare(app, scope, clip_id, drafts, caption)
    check_drafts(draft.drafts, app.clients, draft.video, draft.url)
    with workspace_scope(app, ref) as scope:
        post = _write(scope, draft, when, zone)
        return Created(_post_view(scope, post.id), draft.suggestion)


def bulk_create(
    app: Cliply,
    ref: WorkspaceRef,
    *,
    clip_ids: Sequence[str],
    drafts: Sequence[TargetDraft],
    caption: str | None = None,
    at: str | None = None,
    tz: str | None = None,
    every: str = "30m",
    progress: Callable[[Iterable[str]], Iterable[str]] = iter,
) -> list[dict[str, Any]]:
    """Several clips spaced `every` apart, written in one transaction: one refused clip creates none."""
    if not clip_ids:
        raise ValueError("no clips given")
    first, zone = schedule_time(at, tz)
    step = parse_every(every)
    check_target_count(app, len(drafts))
    with workspace_scope(app, ref, write=False) as scope:
        prepared = [_prepare(app, scope, clip, drafts, caption) for clip in progress(clip_ids)]
    for draft in prepared:
        check_drafts(draft.drafts, app.clients, draft.video, draft.url)
    with workspace_scope(app, ref) as scope:
        posts = [_write(scope, draft, first + timedelta(seconds=step * i), zone) for i, draft in enumerate(prepared)]
        return [post_json(p) for p in posts]


# --- changing ---


def _locked(scope: WorkspaceScope, post_id: str) -> tuple[Post, list[PostTarget]]:
    session, ws = scope.session, scope.workspace_id
    post = session.scalars(
        select(Post)
        .where(Post.id == post_id, Post.workspace_id == ws)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()
    if post is None:
        raise NotFound(f"no post {post_id!r} in this workspace")
    targets = list(
        session.scalars(
            select(PostTarget)
            .where(PostTarget.post_id == post_id, PostTarget.workspace_id == ws)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    )
    return post, targets


def _edit_drafts(
    scope: WorkspaceScope,
    post_id: str,
    caption: str | None,
    captions: Mapping[str, str],
    title: str | None,
    *,
    lock: bool,
) -> tuple[Post, list[PostTarget], list[TargetDraft], Clip | None]:
    post, targets = _locked(scope, post_id) if lock else _post(scope, post_id)
    live = [t for t in targets if t.state != "cancelled"]
    if not live or any(t.state != "scheduled" or t.attempt_started_at is not None for t in live):
        raise ledger.InvalidTransition(
            f"post {post_id} has started or was cancelled; only scheduled posts can be edited"
        )
    unknown = set(captions) - {t.platform for t in live}
    if unknown:
        raise ValueError(f"post {post_id} has no target on {', '.join(sorted(unknown))}")
    drafts = [
        TargetDraft(
            t.platform,
            t.account_id,
            captions.get(t.platform, caption if caption is not None else t.caption),
            title if title is not None else t.title,
            dict(t.options or {}),
        )
        for t in live
    ]
    clip = scope.session.scalars(
        select(Clip).where(Clip.id == post.clip_id, Clip.workspace_id == scope.workspace_id)
    ).one_or_none()
    return post, live, drafts, clip


def edit_post(
    app: Cliply,
    ref: WorkspaceRef,
    post_id: str,
    *,
    caption: str | None = None,
    captions: Mapping[str, str] | None = None,
    title: str | None = None,
    at: str | None = None,
    tz: str | None = None,
) -> dict[str, Any]:
    """Change captions/title (re-validated per platform) and/or the time of a post that has not started.
    Refused (InvalidTransition) once any target was claimed by the publisher; the rows are locked meanwhile.
    The platform rules run between a read and a short write transaction, like create_post's."""
    captions = dict(captions or {})
    with workspace_scope(app, ref, write=False) as scope:
        _, _, checked, clip = _edit_drafts(scope, post_id, caption, captions, title, lock=False)
        video, url = _video(app, clip), pull_url(app.signer, clip, checked)
    check_drafts(checked, app.clients, video, url)
    with workspace_scope(app, ref) as scope:
        post, live, drafts, clip = _edit_drafts(scope, post_id, caption, captions, title, lock=True)
        if drafts != checked:  # changed meanwhile: check what will be written
            check_drafts(drafts, app.clients, _video(app, clip), pull_url(app.signer, clip, drafts))
        _apply_edit(post, live, drafts, caption, at, tz)
        scope.session.flush()
        return _post_view(scope, post_id)


def _apply_edit(
    post: Post, live: list[PostTarget], drafts: list[TargetDraft], caption: str | None, at: str | None, tz: str | None
) -> None:
    when = None
    if at is not None or tz is not None:
        when, zone = schedule_time(at, tz or post.timezone) if at else (post.scheduled_at, tz or post.timezone)
        parse_schedule(None, zone)  # validates the zone
        post.scheduled_at, post.timezone = when, zone
    for t, d in zip(live, drafts, strict=True):
        t.caption, t.title = d.caption or "", d.title or ""
        if when is not None:
            t.due_at = when
    if caption is not None:
        post.caption = caption


def cancel_post(app: Cliply, ref: WorkspaceRef, post_id: str) -> dict[str, Any]:
    """Cancel the targets that have not started; the others are left as they are."""
    with workspace_scope(app, ref) as scope:
        ledger.cancel_post(scope, post_id)
        return _post_view(scope, post_id)


def retry_target(app: Cliply, ref: WorkspaceRef, target_id: str) -> dict[str, Any]:
    """A failed target becomes due now (InvalidTransition for any other state)."""
    with workspace_scope(app, ref) as scope:
        return target_json(ledger.retry_target(scope, target_id))


def publish_now(app: Cliply, ref: WorkspaceRef, post_id: str) -> dict[str, Any]:
    """Make the post's not-yet-started targets due now (the publishing sensor picks them up); the post, plus
    `made_due`: how many were."""
    with workspace_scope(app, ref) as scope:
        _post(scope, post_id)
        now, ws = utcnow(), scope.workspace_id
        result = scope.session.execute(
            update(PostTarget)
            .where(PostTarget.post_id == post_id, PostTarget.workspace_id == ws, PostTarget.state == "scheduled")
            .values(due_at=now, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        scope.session.execute(
            update(Post)
            .where(Post.id == post_id, Post.workspace_id == ws, Post.status == "scheduled")
            .values(scheduled_at=now, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        made_due = int(result.rowcount or 0)  # type: ignore[attr-defined]
        scope.session.expire_all()
        return {**_post_view(scope, post_id), "made_due": made_due}
