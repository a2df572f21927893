"""CLI for publishing: `cliply accounts`, `cliply posts`, `cliply keys`, `cliply serve`, `cliply readyz`.
Registered on the main group by cliply/cli.py (register(main)). Secrets are never echoed."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import click

from cliply.config import Settings

DEFAULT_SERVE_PORT = 8780  # `cliply sandbox` uses 8765


def _settings() -> Settings:
    return Settings.from_env()


def _db(settings: Settings) -> Any:
    from cliply.store.db import Database

    db = Database(settings.resolved_database_url)
    db.migrate()
    return db


def _vault(settings: Settings) -> Any:
    from cliply.security.vault import KeyRing, TokenVault

    return TokenVault(KeyRing.from_env(os.environ, settings.home))


def _public_base(settings: Settings) -> str:
    base = getattr(settings, "public_base_url", "") or os.environ.get("CLIPLY_PUBLIC_BASE_URL", "")
    return (base or f"http://127.0.0.1:{DEFAULT_SERVE_PORT}").rstrip("/")


@contextmanager
def _scope(settings: Settings, db: Any, workspace: str | None) -> Iterator[Any]:
    from cliply.store.repo import WorkspaceScope, get_or_create_workspace

    with db.session() as session:
        ws = get_or_create_workspace(session, workspace or settings.default_workspace, settings.default_plan)
        yield WorkspaceScope(session, ws)


def _die(message: str, code: int = 1) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _fmt_time(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value is not None else "-"


workspace_option = click.option("--workspace", default=None, help="Workspace (tenant); default: the default one.")
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


# --- accounts ---


@click.group()
def accounts() -> None:
    """Connect, list and disconnect platform accounts."""


@accounts.command("connect")
@click.argument("platform")
@workspace_option
@click.option("--timeout", default=300, show_default=True, type=int, help="Seconds to wait for the callback.")
@click.option("--no-wait", is_flag=True, help="Print the authorisation URL and return.")
def accounts_connect(platform: str, workspace: str | None, timeout: int, no_wait: bool) -> None:
    """OAuth: print the authorisation URL, then wait for `cliply serve` to receive the callback.
    Bluesky: asks for the handle and an app password (hidden)."""
    from cliply.platforms import PLATFORMS, make_client
    from cliply.platforms.errors import PlatformError
    from cliply.store.accounts import AccountsRepo
    from cliply.store.models_accounts import Account, OAuthState

    platform = platform.lower()
    if platform not in PLATFORMS:
        _die(f"unknown platform {platform!r}; choose from {', '.join(PLATFORMS)}", 2)
    settings = _settings()
    db, vault = _db(settings), _vault(settings)
    client = make_client(platform)
    try:
        if platform == "bluesky":
            handle = click.prompt("Bluesky handle").strip()
            password = click.prompt("App password (not your account password)", hide_input=True)
            try:
                creds = client.login(handle, password)  # type: ignore[attr-defined]
            except PlatformError as exc:
                _die(f"bluesky refused the login ({exc.error_class.value})")
                return
            with _scope(settings, db, workspace) as scope:
                account = AccountsRepo(scope, vault).connect("bluesky", creds, creds.extra.get("handle") or handle)
                click.echo(f"connected bluesky account {account.handle} (id {account.id})")
            return
        redirect_uri = f"{_public_base(settings)}/oauth/{platform}/callback"
        pending = client.authorization_url(redirect_uri=redirect_uri)
        with _scope(settings, db, workspace) as scope:
            AccountsRepo(scope, vault).begin_oauth(platform, pending.state, pending.code_verifier, redirect_uri)
            workspace_id = scope.workspace_id
    finally:
        client.close()
    click.echo(f"Open this URL in a browser to connect {platform} (the callback goes to {redirect_uri}):")
    click.echo(pending.url)
    if no_wait:
        return
    from sqlalchemy import select

    from cliply.store.models import utcnow

    started = utcnow() - timedelta(seconds=5)  # an account updated since the URL was printed is this connection
    deadline = time.monotonic() + timeout
    consumed_at: float | None = None
    click.echo(f"waiting up to {timeout}s for the callback (`cliply serve` must be running) …", err=True)
    while time.monotonic() < deadline:
        with db.session() as session:  # read briefly; never sleep while holding a transaction
            consumed = session.get(OAuthState, pending.state) is None
            account = session.scalars(
                select(Account).where(Account.workspace_id == workspace_id, Account.platform == platform,
                                      Account.updated_at >= started)
                .order_by(Account.updated_at.desc()).limit(1)).first() if consumed else None
        if account is not None:
            click.echo(f"connected {platform} account {account.handle} (id {account.id}, {account.status})")
            return
        if consumed:  # the service may still be exchanging the code: allow it a moment
            consumed_at = consumed_at or time.monotonic()
            if time.monotonic() - consumed_at > 30:
                _die("the authorisation was used but no account was stored; the service's page says why")
        time.sleep(1.0)
    _die(f"no callback within {timeout}s; is `cliply serve` reachable at {redirect_uri}?")


@accounts.command("list")
@workspace_option
@json_option
def accounts_list(workspace: str | None, as_json: bool) -> None:
    """Accounts with status (connected/expiring/expired/error/reauth_required/disconnected) and expiry."""
    from cliply.http.app import account_json
    from cliply.store.accounts import AccountsRepo

    settings = _settings()
    with _scope(settings, _db(settings), workspace) as scope:
        rows = [account_json(a) for a in AccountsRepo(scope, _vault(settings)).list()]
    if as_json:
        click.echo(json.dumps({"accounts": rows}))
        return
    if not rows:
        click.echo("no accounts; connect one with `cliply accounts connect <platform>`")
    for a in rows:
        ends = [t for t in (a["expires_at"], a["refresh_expires_at"]) if t]
        expiry = max(ends)[:16].replace("T", " ") + " UTC" if ends else "never"
        err = f"  ({a['last_error']})" if a["last_error"] else ""
        click.echo(f"{a['id']:>4}  {a['platform']:<10} {a['handle']:<28} {a['status']:<16} expires {expiry}{err}")


@accounts.command("disconnect")
@click.argument("account_id", type=int)
@workspace_option
def accounts_disconnect(account_id: int, workspace: str | None) -> None:
    """Disconnect an account (tokens wiped; past posts keep it)."""
    from cliply.store.accounts import AccountsRepo
    from cliply.store.repo import NotFound

    settings = _settings()
    try:
        with _scope(settings, _db(settings), workspace) as scope:
            account = AccountsRepo(scope, _vault(settings)).disconnect(account_id)
            click.echo(f"disconnected {account.platform} account {account.handle} (id {account.id})")
    except NotFound as exc:
        _die(str(exc))


# --- posts ---


@click.group()
def posts() -> None:
    """Schedule clips to connected accounts, and follow them."""


def _options(items: tuple[str, ...]) -> dict[str, dict[str, str]]:
    """("tiktok.privacy=PUBLIC_TO_EVERYONE", …) → {"tiktok": {"privacy": "PUBLIC_TO_EVERYONE"}}."""
    out: dict[str, dict[str, str]] = {}
    for item in items:
        name, sep, value = item.partition("=")
        platform, dot, key = name.partition(".")
        if not sep or not dot or not key.strip():
            raise click.BadParameter(f"{item!r}: use platform.key=value", param_hint="--option")
        out.setdefault(platform.strip().lower(), {})[key.strip()] = value
    return out


def _drafts(targets: str, per_platform: tuple[str, ...], title: str | None,
            options: tuple[str, ...] = ()) -> list[Any]:
    from cliply.publishing.captions import TargetDraft, parse_targets

    opts = _options(options)
    captions: dict[str, str] = {}
    for item in per_platform:
        platform, sep, text = item.partition("=")
        if not sep:
            raise click.BadParameter(f"{item!r}: use platform=caption", param_hint="--per-platform-caption")
        captions[platform.strip().lower()] = text
    try:
        parsed = parse_targets(targets)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--targets") from None
    unknown = (set(captions) | set(opts)) - {p for p, _ in parsed}
    if unknown:
        raise click.BadParameter(f"no target on {', '.join(sorted(unknown))}")
    return [TargetDraft(p, a, captions.get(p), title, dict(opts.get(p, {}))) for p, a in parsed]


def _media(settings: Settings) -> Any:
    from cliply_resources import MediaStoreResource

    return MediaStoreResource(url=settings.resolved_media_url).get()


def _create(media: Any, scope: Any, clip: str, drafts: list[Any], caption: str | None, when: Any, tz: str) -> Any:
    from cliply.platforms import make_client
    from cliply.publishing.captions import create_checked_post

    return create_checked_post(scope, clip_id=clip, drafts=drafts, caption=caption, scheduled_at=when, timezone=tz,
                               clients=make_client, media=media)


def _print_post(post: dict[str, Any]) -> None:
    click.echo(f"{post['id']}  {post['status']:<10} clip {post['clip_id']}  at {post['scheduled_at']} "
               f"({post['timezone']})")
    for t in post.get("targets", []):
        extra = t["url"] or (f"{t['error_class']}: {t['error_message']}" if t["error_class"] else "")
        click.echo(f"  {t['id']}  {t['platform']:<10} account {t['account_id']:<4} {t['state']:<15} {extra}")


@posts.command("create")
@click.option("--clip", "clip", required=True, help="Clip id.")
@click.option("--targets", required=True, help="platform:account_id,… e.g. youtube:1,tiktok:2")
@click.option("--at", "at", default=None, help='Local time "YYYY-MM-DD HH:MM" (default: now).')
@click.option("--tz", default="UTC", show_default=True, help="IANA time zone of --at, e.g. Europe/Paris.")
@click.option("--caption", default=None, help="Caption for every target (default: suggested from the clip).")
@click.option("--per-platform-caption", multiple=True, help="platform=caption (repeatable).")
@click.option("--title", default=None, help="Title (YouTube, Pinterest).")
@click.option("--option", "options", multiple=True,
              help="platform.key=value, e.g. tiktok.privacy=PUBLIC_TO_EVERYONE (repeatable).")
@workspace_option
@json_option
def posts_create(clip: str, targets: str, at: str | None, tz: str, caption: str | None,
                 per_platform_caption: tuple[str, ...], title: str | None, options: tuple[str, ...],
                 workspace: str | None, as_json: bool) -> None:
    """Schedule one clip; every target's text is checked against its platform first (nothing is created if not)."""
    from cliply.http.app import post_json, scoped_post
    from cliply.publishing.captions import CaptionRejected, parse_schedule
    from cliply.store.repo import NotFound

    drafts = _drafts(targets, per_platform_caption, title, options)
    try:
        when, zone = parse_schedule(at, tz)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--at/--tz") from None
    settings = _settings()
    try:
        with _scope(settings, _db(settings), workspace) as scope:
            drafted = _create(_media(settings), scope, clip, drafts, caption, when, zone)
            post = post_json(*scoped_post(scope, drafted.post.id))
    except (CaptionRejected, NotFound, ValueError) as exc:
        _die(str(exc), 2)
        return
    if as_json:
        click.echo(json.dumps(post))
        return
    if drafted.suggestion is not None:
        click.echo(f"no caption given; using the suggestion: {drafted.suggestion.text()}")
    _print_post(post)


@posts.command("bulk")
@click.option("--clips", required=True, help="Clip ids, comma separated.")
@click.option("--targets", required=True, help="platform:account_id,…")
@click.option("--at", "at", default=None, help='Local time of the first post (default: now).')
@click.option("--tz", default="UTC", show_default=True)
@click.option("--every", default="30m", show_default=True, help="Spacing between posts (s/m/h/d).")
@click.option("--caption", default=None, help="Caption for every post (default: each clip's suggestion).")
@click.option("--option", "options", multiple=True,
              help="platform.key=value, e.g. tiktok.privacy=PUBLIC_TO_EVERYONE (repeatable).")
@workspace_option
def posts_bulk(clips: str, targets: str, at: str | None, tz: str, every: str, caption: str | None,
               options: tuple[str, ...], workspace: str | None) -> None:
    """Schedule several clips spaced --every apart. All or nothing: one refused clip creates none."""
    from tqdm import tqdm

    from cliply.publishing.captions import CaptionRejected, parse_every, parse_schedule
    from cliply.store.repo import NotFound

    clip_ids = [c.strip() for c in clips.split(",") if c.strip()]
    if not clip_ids:
        raise click.BadParameter("no clips given", param_hint="--clips")
    try:
        first, zone = parse_schedule(at, tz)
        step = parse_every(every)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    settings = _settings()
    created: list[tuple[str, str, Any]] = []
    media = _media(settings)
    try:
        with _scope(settings, _db(settings), workspace) as scope:
            for i, clip in enumerate(tqdm(clip_ids, desc="scheduling", unit="post", file=sys.stderr)):
                when = first + timedelta(seconds=step * i)
                drafted = _create(media, scope, clip, _drafts(targets, (), None, options), caption, when,
                                  zone)
                created.append((drafted.post.id, clip, when))
    except (CaptionRejected, NotFound, ValueError) as exc:
        _die(f"{exc} (nothing was scheduled)", 2)
        return
    for post_id, clip, when in created:
        click.echo(f"{post_id}  clip {clip}  at {_fmt_time(when)}")


@posts.command("list")
@click.option("--status", default=None)
@workspace_option
@json_option
def posts_list(status: str | None, workspace: str | None, as_json: bool) -> None:
    """Posts, newest schedule first."""
    from cliply.http.app import post_json, scoped_posts

    settings = _settings()
    with _scope(settings, _db(settings), workspace) as scope:
        rows = [post_json(p) for p in scoped_posts(scope, status)]
    if as_json:
        click.echo(json.dumps({"posts": rows}))
        return
    for p in rows:
        _print_post(p)


@posts.command("show")
@click.argument("post_id")
@workspace_option
@json_option
def posts_show(post_id: str, workspace: str | None, as_json: bool) -> None:
    """A post and each target's state, error and URL."""
    from cliply.http.app import post_json, scoped_post
    from cliply.store.repo import NotFound

    settings = _settings()
    try:
        with _scope(settings, _db(settings), workspace) as scope:
            post = post_json(*scoped_post(scope, post_id))
    except NotFound as exc:
        _die(str(exc))
        return
    click.echo(json.dumps(post)) if as_json else _print_post(post)


@posts.command("edit")
@click.argument("post_id")
@click.option("--caption", default=None, help="New caption for every target.")
@click.option("--per-platform-caption", multiple=True, help="platform=caption (repeatable).")
@click.option("--title", default=None)
@click.option("--at", "at", default=None, help='New local time "YYYY-MM-DD HH:MM".')
@click.option("--tz", default=None, help="IANA time zone (default: the post's).")
@workspace_option
def posts_edit(post_id: str, caption: str | None, per_platform_caption: tuple[str, ...], title: str | None,
               at: str | None, tz: str | None, workspace: str | None) -> None:
    """Change captions, title or time before the post starts (re-validated per platform)."""
    from cliply.http.app import post_json, scoped_post
    from cliply.platforms import make_client
    from cliply.publishing.captions import CaptionRejected, edit_post
    from cliply.store.repo import NotFound

    captions = {}
    for item in per_platform_caption:
        platform, sep, text = item.partition("=")
        if not sep:
            raise click.BadParameter(f"{item!r}: use platform=caption", param_hint="--per-platform-caption")
        captions[platform.strip().lower()] = text
    settings = _settings()
    media = _media(settings)
    try:
        with _scope(settings, _db(settings), workspace) as scope:
            edit_post(scope, post_id, clients=make_client, media=media, caption=caption, captions=captions,
                      title=title, at=at, tz=tz)
            post = post_json(*scoped_post(scope, post_id))
    except (CaptionRejected, NotFound, ValueError) as exc:
        _die(str(exc), 2)
        return
    _print_post(post)


@posts.command("cancel")
@click.argument("post_id")
@workspace_option
def posts_cancel(post_id: str, workspace: str | None) -> None:
    """Cancel the targets that have not started."""
    from cliply.http.app import post_json, scoped_post
    from cliply.publishing.ledger import cancel_post
    from cliply.store.repo import NotFound

    settings = _settings()
    try:
        with _scope(settings, _db(settings), workspace) as scope:
            cancel_post(scope, post_id)
            post = post_json(*scoped_post(scope, post_id))
    except NotFound as exc:
        _die(str(exc))
        return
    _print_post(post)


@posts.command("retry")
@click.argument("target_id")
@workspace_option
def posts_retry(target_id: str, workspace: str | None) -> None:
    """Make a failed target due again now."""
    from cliply.publishing.ledger import retry_target
    from cliply.store.repo import NotFound

    settings = _settings()
    try:
        with _scope(settings, _db(settings), workspace) as scope:
            target = retry_target(scope, target_id)
            click.echo(f"{target.id}  {target.platform}  {target.state}  due {_fmt_time(target.due_at)}")
    except (NotFound, ValueError) as exc:
        _die(str(exc))


# --- keys ---


@click.group()
def keys() -> None:
    """Token-encryption keys and API tokens."""


@keys.command("rotate")
def keys_rotate() -> None:
    """Re-encrypt every stored secret with the active key (CLIPLY_TOKEN_KEY_ACTIVE)."""
    from cliply.store.accounts import rotate_all_secrets

    settings = _settings()
    vault = _vault(settings)
    with _db(settings).session() as session:
        n = rotate_all_secrets(session, vault)
    click.echo(f"re-encrypted {n} secret(s) with key {vault.active_kid!r}")


@keys.command("create-token")
@click.argument("name")
@workspace_option
def keys_create_token(name: str, workspace: str | None) -> None:
    """Create an API token for the HTTP API. It is shown once, on stdout only."""
    from cliply.store.accounts import AccountsRepo

    settings = _settings()
    with _scope(settings, _db(settings), workspace) as scope:
        token = AccountsRepo(scope, _vault(settings)).create_api_token(name)
    click.echo("store this API token now; it cannot be shown again:", err=True)
    click.echo(token)


@keys.command("list-tokens")
@workspace_option
def keys_list_tokens(workspace: str | None) -> None:
    """API tokens (prefix only)."""
    from cliply.store.accounts import AccountsRepo

    settings = _settings()
    with _scope(settings, _db(settings), workspace) as scope:
        for t in AccountsRepo(scope, _vault(settings)).list_api_tokens():
            state = f"revoked {_fmt_time(t.revoked_at)}" if t.revoked_at else "active"
            click.echo(f"{t.id:>4}  {t.prefix}…  {t.name:<24} {state}  last used {_fmt_time(t.last_used_at)}")


@keys.command("revoke-token")
@click.argument("token_id", type=int)
@workspace_option
def keys_revoke_token(token_id: int, workspace: str | None) -> None:
    """Revoke an API token."""
    from cliply.store.accounts import AccountsRepo
    from cliply.store.repo import NotFound

    settings = _settings()
    try:
        with _scope(settings, _db(settings), workspace) as scope:
            AccountsRepo(scope, _vault(settings)).revoke_api_token(token_id)
    except NotFound as exc:
        _die(str(exc))
        return
    click.echo(f"revoked API token {token_id}")


# --- service ---


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=DEFAULT_SERVE_PORT, type=int, show_default=True)
def serve(host: str, port: int) -> None:
    """Run the HTTP service (OAuth callbacks, REST API, signed media) with uvicorn."""
    import logging

    import uvicorn

    from cliply.http.app import create_app

    logging.getLogger("cliply.http").setLevel(logging.INFO)

    # uvicorn's access log prints query strings (OAuth codes, URL signatures): the app logs method + path instead.
    uvicorn.run(create_app(_settings()), host=host, port=port, log_level="info", proxy_headers=True,
                access_log=False)


@click.command()
def readyz() -> None:
    """Check config, database, media store and Dagster; print JSON; exit 0 when ready, 1 when not."""
    from cliply.http.readiness import run_checks

    report = run_checks()
    click.echo(json.dumps(report, indent=2))
    sys.exit(0 if report["ok"] else 1)


def register(main: click.Group) -> None:
    for command in (accounts, posts, keys, serve, readyz):
        main.add_command(command)
