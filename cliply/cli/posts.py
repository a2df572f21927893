"""`cliply posts`: schedule clips to connected accounts, and follow them."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from typing import Any

import click

from cliply.cli.base import EXIT_BAD_INPUT, Failure, app, failing_with, fmt_time, json_option, workspace_option
from cliply.publishing import service
from cliply.publishing.captions import TargetDraft
from cliply.store.repo import NotFound


@click.group()
def posts() -> None:
    """Schedule clips to connected accounts, and follow them."""


def target_options(items: tuple[str, ...]) -> dict[str, dict[str, str]]:
    """("tiktok.privacy=PUBLIC_TO_EVERYONE", …) → {"tiktok": {"privacy": "PUBLIC_TO_EVERYONE"}}."""
    out: dict[str, dict[str, str]] = {}
    for item in items:
        name, sep, value = item.partition("=")
        platform, dot, key = name.partition(".")
        if not sep or not dot or not key.strip():
            raise click.BadParameter(f"{item!r}: use platform.key=value", param_hint="--option")
        out.setdefault(platform.strip().lower(), {})[key.strip()] = value
    return out


def _captions(items: tuple[str, ...]) -> dict[str, str]:
    """("x=short text", …) → {"x": "short text"}."""
    captions = {}
    for item in items:
        platform, sep, text = item.partition("=")
        if not sep:
            raise click.BadParameter(f"{item!r}: use platform=caption", param_hint="--per-platform-caption")
        captions[platform.strip().lower()] = text
    return captions


def _drafts(
    targets: str, per_platform: tuple[str, ...], title: str | None, options: tuple[str, ...] = ()
) -> list[TargetDraft]:
    opts, captions = target_options(options), _captions(per_platform)
    try:
        parsed = service.parse_targets(targets)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--targets") from None
    try:
        return service.drafts_for(parsed, captions=captions, title=title, options=opts)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def print_post(post: dict[str, Any]) -> None:
    click.echo(
        f"{post['id']}  {post['status']:<10} clip {post['clip_id']}  at {post['scheduled_at']} ({post['timezone']})"
    )
    for t in post.get("targets", []):
        extra = (
            t["url"]
            or t.get("status_message")
            or (f"{t['error_class']}: {t['error_message']}" if t["error_class"] else "")
        )
        click.echo(f"  {t['id']}  {t['platform']:<10} account {t['account_id']:<4} {t['state']:<15} {extra}")


@posts.command("create")
@click.option("--clip", "clip", required=True, help="Clip id.")
@click.option("--targets", required=True, help="platform:account_id,… e.g. youtube:1,tiktok:2")
@click.option("--at", "at", default=None, help='Local time "YYYY-MM-DD HH:MM", or "now" (the default).')
@click.option("--tz", default="UTC", show_default=True, help="IANA time zone of --at, e.g. Europe/Paris.")
@click.option("--caption", default=None, help="Caption for every target (default: suggested from the clip).")
@click.option("--per-platform-caption", multiple=True, help="platform=caption (repeatable).")
@click.option("--title", default=None, help="Title (YouTube, Pinterest).")
@click.option(
    "--option",
    "options",
    multiple=True,
    help="platform.key=value, e.g. tiktok.privacy=PUBLIC_TO_EVERYONE (repeatable).",
)
@workspace_option
@json_option
def posts_create(
    clip: str,
    targets: str,
    at: str | None,
    tz: str,
    caption: str | None,
    per_platform_caption: tuple[str, ...],
    title: str | None,
    options: tuple[str, ...],
    workspace: str | None,
    as_json: bool,
) -> None:
    """Schedule one clip; every target's text is checked against its platform first (nothing is created if not)."""
    drafts = _drafts(targets, per_platform_caption, title, options)
    created = service.create_post(app(), workspace, clip_id=clip, drafts=drafts, caption=caption, at=at, tz=tz)
    if as_json:
        click.echo(json.dumps(created.json()))
        return
    if created.suggestion is not None:
        click.echo(f"no caption given; using the suggestion: {created.suggestion.text()}")
    print_post(created.post)


def _progress(clip_ids: Iterable[str]) -> Iterable[str]:
    from tqdm import tqdm

    return tqdm(list(clip_ids), desc="scheduling", unit="post", file=sys.stderr)


@posts.command("bulk")
@click.option("--clips", required=True, help="Clip ids, comma separated.")
@click.option("--targets", required=True, help="platform:account_id,…")
@click.option("--at", "at", default=None, help='Local time of the first post, or "now" (the default).')
@click.option("--tz", default="UTC", show_default=True)
@click.option("--every", default="30m", show_default=True, help="Spacing between posts (s/m/h/d).")
@click.option("--caption", default=None, help="Caption for every post (default: each clip's suggestion).")
@click.option(
    "--option",
    "options",
    multiple=True,
    help="platform.key=value, e.g. tiktok.privacy=PUBLIC_TO_EVERYONE (repeatable).",
)
@workspace_option
def posts_bulk(
    clips: str,
    targets: str,
    at: str | None,
    tz: str,
    every: str,
    caption: str | None,
    options: tuple[str, ...],
    workspace: str | None,
) -> None:
    """Schedule several clips spaced --every apart. All or nothing: one refused clip creates none."""
    clip_ids = [c.strip() for c in clips.split(",") if c.strip()]
    if not clip_ids:
        raise click.BadParameter("no clips given", param_hint="--clips")
    drafts = _drafts(targets, (), None, options)
    try:
        created = service.bulk_create(
            app(),
            workspace,
            clip_ids=clip_ids,
            drafts=drafts,
            caption=caption,
            at=at,
            tz=tz,
            every=every,
            progress=_progress,
        )
    except (NotFound, ValueError) as exc:
        raise Failure(f"{exc} (nothing was scheduled)", EXIT_BAD_INPUT) from exc
    for post in created:
        click.echo(f"{post['id']}  clip {post['clip_id']}  at {fmt_time(post['scheduled_at'])}")


@posts.command("list")
@click.option("--status", default=None)
@workspace_option
@json_option
def posts_list(status: str | None, workspace: str | None, as_json: bool) -> None:
    """Posts, newest schedule first."""
    rows = service.list_posts(app(), workspace, status)
    if as_json:
        click.echo(json.dumps({"posts": rows}))
        return
    for p in rows:
        print_post(p)


@posts.command("show")
@click.argument("post_id")
@workspace_option
@json_option
@failing_with(1)
def posts_show(post_id: str, workspace: str | None, as_json: bool) -> None:
    """A post and each target's state, error and URL."""
    post = service.show_post(app(), workspace, post_id)
    click.echo(json.dumps(post)) if as_json else print_post(post)


@posts.command("edit")
@click.argument("post_id")
@click.option("--caption", default=None, help="New caption for every target.")
@click.option("--per-platform-caption", multiple=True, help="platform=caption (repeatable).")
@click.option("--title", default=None)
@click.option("--at", "at", default=None, help='New local time "YYYY-MM-DD HH:MM".')
@click.option("--tz", default=None, help="IANA time zone (default: the post's).")
@workspace_option
def posts_edit(
    post_id: str,
    caption: str | None,
    per_platform_caption: tuple[str, ...],
    title: str | None,
    at: str | None,
    tz: str | None,
    workspace: str | None,
) -> None:
    """Change captions, title or time before the post starts (re-validated per platform)."""
    print_post(
        service.edit_post(
            app(),
            workspace,
            post_id,
            caption=caption,
            captions=_captions(per_platform_caption),
            title=title,
            at=at,
            tz=tz,
        )
    )


@posts.command("cancel")
@click.argument("post_id")
@workspace_option
@failing_with(1)
def posts_cancel(post_id: str, workspace: str | None) -> None:
    """Cancel the targets that have not started."""
    print_post(service.cancel_post(app(), workspace, post_id))


@posts.command("retry")
@click.argument("target_id")
@workspace_option
@failing_with(1)
def posts_retry(target_id: str, workspace: str | None) -> None:
    """Make a failed target due again now."""
    t = service.retry_target(app(), workspace, target_id)
    click.echo(f"{t['id']}  {t['platform']}  {t['state']}  due {fmt_time(t['due_at'])}")
