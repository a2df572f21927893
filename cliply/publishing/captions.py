"""Caption rules: per-platform caption/title/hashtag validation (each client's own validate()), caption and hashtag
suggestions from a clip's transcript text, and the schedule time (local wall time + IANA zone → UTC).
The use cases that apply them (create, edit) are in publishing/service.py."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

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


def with_default_hashtags(suggestion: Suggestion, defaults: Mapping[str, Any] | None) -> Suggestion:
    """The workspace's hashtags, once a hashtags experiment's winner became its default, replace the derived ones."""
    chosen = str((defaults or {}).get("hashtags") or "").split()
    tags = tuple(t.lstrip("#") for t in chosen if t.lstrip("#"))
    return Suggestion(suggestion.caption, tags) if tags else suggestion


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


def check_drafts(
    drafts: Iterable[TargetDraft],
    clients: Callable[[str], PlatformClient],
    video: Path | None = None,
    video_url: str = "",
) -> None:
    """Validate every draft with its platform client; raise CaptionRejected naming each failing platform.
    File checks only count when the clip is a local file (otherwise the publisher checks it at upload)."""
    problems: dict[str, list[Violation | str]] = {}
    built: dict[str, PlatformClient] = {}  # one client per platform: building one costs tens of milliseconds
    try:
        for d in drafts:
            client = built.get(d.platform) or built.setdefault(d.platform, clients(d.platform))
            opts = dict(d.options)
            if (style := caption_style_problem(opts.pop("caption_style", None))) is not None:
                problems.setdefault(d.platform, []).append(style)
            fields: dict[str, Any] = {k: str(opts.pop(k)) for k in POST_FIELDS if opts.get(k) is not None}
            post = VideoPost(
                video=video or Path("clip.mp4"),
                caption=d.caption or "",
                title=d.title or "",
                video_url=video_url if d.platform in PULL_PLATFORMS else "",
                options=opts,
                **fields,
            )
            found = [
                v
                for v in client.validate(post)
                if (video is not None and video.is_file()) or v.field not in TEXT_FIELDS_ONLY
            ]
            if found:
                problems.setdefault(d.platform, []).extend(found)
    finally:
        for client in built.values():
            client.close()
    if problems:
        raise CaptionRejected(problems)


def caption_style_problem(style: Any) -> str | None:
    """Why a post's caption_style option is refused (it must name a preset), or None when it is absent or valid."""
    from cliply.media.caption_styles import STYLES

    if style is None or (isinstance(style, str) and style in STYLES):
        return None
    return f"caption_style: {style!r} is not a caption style (choose from {', '.join(STYLES)})"


def pull_url(signer: MediaUrlSigner, clip: Any, drafts: Iterable[TargetDraft]) -> str:
    """A sample of the signed URL Instagram/Threads will fetch (the publisher signs a fresh one at publish time), so
    a set-up that cannot give them one is refused when the post is created, with the reason, not when it is due."""
    pulls = sorted({d.platform for d in drafts} & PULL_PLATFORMS)
    if not pulls or clip is None or not clip.media_key:
        return ""
    try:
        return signer.url_for(clip.media_key)
    except MediaUrlError as exc:
        raise ValueError(
            f"{' and '.join(pulls)} fetch the video from a public URL, and none can be made: {exc}"
        ) from None


ZONE_NAME_MAX = 64  # the longest IANA name is about 30 characters; longer input is not a zone
PAST_GRACE = timedelta(minutes=1)  # a time this close to now counts as now (clock skew, typing time)


def zone_of(name: str) -> ZoneInfo:
    """The IANA zone; ValueError for anything else (including names no file system accepts)."""
    try:
        if len(name) > ZONE_NAME_MAX or "\x00" in name:
            raise ValueError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        shown = name if len(name) <= ZONE_NAME_MAX else name[:ZONE_NAME_MAX] + "…"
        raise ValueError(f"unknown time zone {shown!r} (use an IANA name such as Europe/Paris)") from exc


def parse_schedule(at: str | None, tz: str | None, *, now: datetime | None = None) -> tuple[datetime, str]:
    """`at` as local wall time in `tz` ("2026-12-01 09:00", or ISO with an offset) → (UTC datetime, zone name).
    No `at` = now. Unknown zones, malformed times and times outside the calendar in UTC raise ValueError."""
    zone_name = tz or "UTC"
    zone = zone_of(zone_name)
    if not at:
        return (now or datetime.now(UTC)).astimezone(UTC), zone_name
    shown = at if len(at) <= 40 else at[:40] + "…"
    try:
        local = datetime.fromisoformat(at.strip())
    except ValueError as exc:
        raise ValueError(f"bad time {shown!r}: use 'YYYY-MM-DD HH:MM'") from exc
    if local.tzinfo is None:
        local = local.replace(tzinfo=zone)
    try:
        return local.astimezone(UTC), zone_name
    except (OverflowError, ValueError):
        raise ValueError(f"bad time {shown!r}: outside the range of dates that can be scheduled") from None


def schedule_time(at: str | None, tz: str | None, *, now: datetime | None = None) -> tuple[datetime, str]:
    """parse_schedule for a new schedule: "now" (or no `at`) is now; a time in the past is refused rather than
    silently published at once."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    if at is not None and at.strip().lower() == "now":
        at = None
    when, zone = parse_schedule(at, tz, now=now)
    if at and when < now - PAST_GRACE:
        raise ValueError(
            f"the time {at.strip()!r} ({zone}) is in the past; give a future time, or 'now' to "
            "publish as soon as possible"
        )
    return when, zone


def parse_every(text: str) -> int:
    """ "30m" / "2h" / "1d" / "45s" → seconds."""
    m = re.fullmatch(r"\s*(\d+)\s*([smhd])\s*", text or "")
    if not m:
        raise ValueError(f"bad interval {text!r}: use e.g. 30m, 2h, 1d")
    return int(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]
