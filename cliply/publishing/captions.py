"""Drafting a post: per-platform caption/title/hashtag validation (each client's own validate()), caption and hashtag
suggestions from a clip's transcript text, and the schedule time (local wall time + IANA zone → UTC)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cliply.platforms import PLATFORMS
from cliply.platforms.base import PlatformClient
from cliply.platforms.models import VideoPost, Violation
from cliply.publishing.media_urls import PULL_PLATFORMS, MediaUrlError, MediaUrlSigner

# Small English stop list: hashtags should be content words, not glue.
_STOPWORDS = frozenset(
    """a about after again all also am an and any are as at be because been before being but by can could did do
    does doing don down during each even every for from further get got had has have having he her here hers him his
    how i if in into is it its itself just know let like me more most my no nor not now of off on once one only or
    other our out over own really right said same say see she should so some such than that the their them then there
    these they thing things this those through to too um uh up us very was we well were what when where which while
    who why will with would yeah yes you your going gonna want think lot kind okay""".split()  # noqa: SIM905
)
_WORD = re.compile(r"[^\W\d_][\w']*", re.UNICODE)
CAPTION_MAX = 150  # suggestions stay short: they must fit every platform's caption limit with hashtags
TEXT_FIELDS_ONLY = ("video",)
POST_FIELDS = ("privacy", "link", "board_id")  # target options that are VideoPost fields (as the publisher maps them)


@dataclass(frozen=True)
class Suggestion:
    caption: str
    hashtags: tuple[str, ...]

    def text(self) -> str:
        tags = " ".join(f"#{t}" for t in self.hashtags)
        return f"{self.caption} {tags}".strip()


def suggest(text: str | None, *, n_hashtags: int = 5) -> Suggestion:
    """A caption from the highlight text (its first sentence, trimmed on a word boundary) and 3–5 hashtags from the
    most frequent content words (ties keep first-appearance order)."""
    text = " ".join((text or "").split())
    first = re.split(r"(?<=[.!?])\s+", text, maxsplit=1)[0] if text else ""
    if len(first) > CAPTION_MAX:
        first = first[: CAPTION_MAX - 1].rsplit(" ", 1)[0].rstrip(",;:") + "…"
    words = [w.lower().strip("'") for w in _WORD.findall(text)]
    content = [w for w in words if len(w) >= 3 and w not in _STOPWORDS and "'" not in w]
    order = {w: i for i, w in reversed(list(enumerate(content)))}
    counts = Counter(content)
    ranked = sorted(counts, key=lambda w: (-counts[w], order[w]))
    tags = tuple(ranked[: max(3, min(n_hashtags, 5))])
    return Suggestion(first, tags)


@dataclass
class TargetDraft:
    """One requested target before it becomes a ledger TargetSpec."""

    platform: str
    account_id: int | str  # the account's id, or its handle / platform id (resolved in the workspace)
    caption: str | None = None
    title: str | None = None
    options: dict[str, Any] = field(default_factory=dict)


class CaptionRejected(ValueError):
    """At least one target's text breaks its platform's rules; `problems` maps platform → violations."""

    def __init__(self, problems: Mapping[str, Sequence[Violation | str]]) -> None:
        self.problems = {p: [str(v) for v in vs] for p, vs in problems.items()}
        detail = "; ".join(f"{p}: {', '.join(vs)}" for p, vs in self.problems.items())
        super().__init__(f"rejected by {', '.join(self.problems)} rules: {detail}")

    @property
    def platforms(self) -> list[str]:
        return list(self.problems)


def parse_targets(spec: str) -> list[tuple[str, int | str]]:
    """"youtube:3,tiktok:@me" → [("youtube", 3), ("tiktok", "@me")]: an account id, or a handle / platform id."""
    out: list[tuple[str, int | str]] = []
    for part in filter(None, (p.strip() for p in spec.split(","))):
        platform, sep, account = part.partition(":")
        platform, account = platform.strip().lower(), account.strip()
        if not sep or platform not in PLATFORMS or not account:
            raise ValueError(f"bad target {part!r}: expected <platform>:<account id or handle>, platform one of "
                             f"{', '.join(PLATFORMS)}")
        out.append((platform, int(account) if account.isdigit() else account))
    if not out:
        raise ValueError("no targets given")
    return out


def check_drafts(drafts: Iterable[TargetDraft], clients: Callable[[str], PlatformClient],
                 video: Path | None = None, video_url: str = "") -> None:
    """Validate every draft with its platform client; raise CaptionRejected naming each failing platform.
    File checks only count when the clip is a local file (otherwise the publisher checks it at upload)."""
    problems: dict[str, list[Violation]] = {}
    for d in drafts:
        client = clients(d.platform)
        try:
            opts = dict(d.options)
            fields = {k: str(opts.pop(k)) for k in POST_FIELDS if opts.get(k) is not None}
            post = VideoPost(video=video or Path("clip.mp4"), caption=d.caption or "", title=d.title or "",
                             video_url=video_url if d.platform in PULL_PLATFORMS else "", options=opts, **fields)
            found = [v for v in client.validate(post)
                     if (video is not None and video.is_file()) or v.field not in TEXT_FIELDS_ONLY]
        finally:
            client.close()
        if found:
            problems.setdefault(d.platform, []).extend(found)
    if problems:
        raise CaptionRejected(problems)


def pull_url(media: Any, clip: Any, drafts: Iterable[TargetDraft]) -> str:
    """A sample of the signed URL Instagram/Threads will fetch (the publisher signs a fresh one at publish time), so
    a set-up that cannot give them one is refused when the post is created, with the reason, not when it is due."""
    pulls = sorted({d.platform for d in drafts} & PULL_PLATFORMS)
    if not pulls or media is None or clip is None or not clip.media_key:
        return ""
    try:
        return MediaUrlSigner.from_env(media).url_for(clip.media_key)
    except MediaUrlError as exc:
        raise ValueError(f"{' and '.join(pulls)} fetch the video from a public URL, and none can be made: {exc}") \
            from None


def parse_schedule(at: str | None, tz: str | None, *, now: datetime | None = None) -> tuple[datetime, str]:
    """`at` as local wall time in `tz` ("2026-12-01 09:00", or ISO with an offset) → (UTC datetime, zone name).
    No `at` = now. Unknown zones and malformed times raise ValueError."""
    zone_name = tz or "UTC"
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {zone_name!r} (use an IANA name such as Europe/Paris)") from exc
    if not at:
        return (now or datetime.now(UTC)).astimezone(UTC), zone_name
    try:
        local = datetime.fromisoformat(at.strip())
    except ValueError as exc:
        raise ValueError(f"bad time {at!r}: use 'YYYY-MM-DD HH:MM'") from exc
    if local.tzinfo is None:
        local = local.replace(tzinfo=zone)
    return local.astimezone(UTC), zone_name


def parse_every(text: str) -> int:
    """"30m" / "2h" / "1d" / "45s" → seconds."""
    m = re.fullmatch(r"\s*(\d+)\s*([smhd])\s*", text or "")
    if not m:
        raise ValueError(f"bad interval {text!r}: use e.g. 30m, 2h, 1d")
    return int(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]


def _resolve_account(scope: Any, platform: str, ref: int | str) -> Any:
    """This workspace's `platform` account by id, or by handle (with or without @) / platform id."""
    from sqlalchemy import or_, select

    from cliply.store.models_accounts import Account
    from cliply.store.repo import NotFound

    stmt = select(Account).where(Account.workspace_id == scope.workspace_id, Account.platform == platform)
    if isinstance(ref, int):
        rows = list(scope.session.scalars(stmt.where(Account.id == ref)))
    else:
        name = ref.lstrip("@")
        rows = list(scope.session.scalars(stmt.where(
            or_(Account.handle == ref, Account.handle == name, Account.handle == f"@{name}",
                Account.external_id == ref)).order_by(Account.id)))
        live = [a for a in rows if a.status != "disconnected"]
        rows = live or rows
    if not rows:
        raise NotFound(f"no {platform} account {ref} in this workspace")
    if len(rows) > 1:
        raise ValueError(f"{platform} account {ref!r} is ambiguous: use one of the ids {[a.id for a in rows]}")
    return rows[0]


@dataclass
class Drafted:
    post: Any  # cliply.store.models_publishing.Post
    suggestion: Suggestion | None


def create_checked_post(scope: Any, *, clip_id: str, drafts: Sequence[TargetDraft], caption: str | None,
                        scheduled_at: datetime, timezone: str, clients: Callable[[str], PlatformClient],
                        media: Any = None) -> Drafted:
    """Everything `posts create` does in one place for the CLI and the API: the clip and accounts must be this
    workspace's, each target's text is validated by its platform, then the ledger creates the post. Any problem
    raises before anything is written. Targets without a caption get the clip's suggested caption + hashtags."""
    from sqlalchemy import select

    from cliply.publishing.ledger import TargetSpec, create_post
    from cliply.store.models import Clip
    from cliply.store.repo import NotFound

    clip = scope.session.scalars(
        select(Clip).where(Clip.id == clip_id, Clip.workspace_id == scope.workspace_id)).one_or_none()
    if clip is None:
        raise NotFound(f"no clip {clip_id!r} in this workspace")
    for d in drafts:
        account = _resolve_account(scope, d.platform, d.account_id)
        d.account_id = account.id
        if account.status == "disconnected":
            raise ValueError(f"{d.platform} account {d.account_id} is disconnected; connect it again")
    suggestion = None
    if caption is None and any(d.caption is None for d in drafts):
        suggestion = suggest(clip.text)
    for d in drafts:
        if d.caption is None:
            d.caption = caption if caption is not None else suggestion.text() if suggestion else ""
    video = media.local_path(clip.media_key) if media is not None and clip.media_key else None
    check_drafts(drafts, clients, video, pull_url(media, clip, drafts))
    specs = [TargetSpec(platform=d.platform, account_id=d.account_id, caption=d.caption or "", title=d.title or "",
                        options=dict(d.options)) for d in drafts]
    post = create_post(scope, clip_id=clip_id, targets=specs, scheduled_at=scheduled_at, timezone=timezone,
                       caption=caption if caption is not None else suggestion.text() if suggestion else "")
    return Drafted(post, suggestion)


def edit_post(scope: Any, post_id: str, *, clients: Callable[[str], PlatformClient], media: Any = None,
              caption: str | None = None, captions: Mapping[str, str] | None = None, title: str | None = None,
              at: str | None = None, tz: str | None = None) -> Any:
    """Edit a post before it starts: captions/title (re-validated per platform) and/or the time. Refused
    (InvalidTransition) once any target was claimed by the publisher; the rows are locked while checking."""
    from sqlalchemy import select

    from cliply.publishing.ledger import InvalidTransition
    from cliply.store.models import Clip
    from cliply.store.models_publishing import Post, PostTarget
    from cliply.store.repo import NotFound

    session, ws = scope.session, scope.workspace_id
    post = session.scalars(select(Post).where(Post.id == post_id, Post.workspace_id == ws).with_for_update()
                           .execution_options(populate_existing=True)).one_or_none()
    if post is None:
        raise NotFound(f"no post {post_id!r} in this workspace")
    targets = list(session.scalars(
        select(PostTarget).where(PostTarget.post_id == post_id, PostTarget.workspace_id == ws).with_for_update()
        .execution_options(populate_existing=True)))
    live = [t for t in targets if t.state != "cancelled"]
    if not live or any(t.state != "scheduled" or t.attempt_started_at is not None for t in live):
        raise InvalidTransition(f"post {post_id} has started or was cancelled; only scheduled posts can be edited")
    captions = dict(captions or {})
    unknown = set(captions) - {t.platform for t in live}
    if unknown:
        raise ValueError(f"post {post_id} has no target on {', '.join(sorted(unknown))}")
    drafts = [TargetDraft(t.platform, t.account_id,
                          captions.get(t.platform, caption if caption is not None else t.caption),
                          title if title is not None else t.title, dict(t.options or {})) for t in live]
    clip = session.scalars(select(Clip).where(Clip.id == post.clip_id, Clip.workspace_id == ws)).one_or_none()
    video = media.local_path(clip.media_key) if media is not None and clip is not None and clip.media_key else None
    check_drafts(drafts, clients, video, pull_url(media, clip, drafts))
    when = None
    if at is not None or tz is not None:
        when, zone = parse_schedule(at, tz or post.timezone) if at else (post.scheduled_at, tz or post.timezone)
        parse_schedule(None, zone)  # validates the zone
        post.scheduled_at, post.timezone = when, zone
    for t, d in zip(live, drafts, strict=True):
        t.caption, t.title = d.caption or "", d.title or ""
        if when is not None:
            t.due_at = when
    if caption is not None:
        post.caption = caption
    session.flush()
    return post
