"""`cliply track|tracked|stats|leaderboard|analytics`: follow posts' metrics and read the reports.

Tables show "n/a" for a metric the platform does not report or has not sent yet, never 0, and every time both
relative ("12 min ago") and absolute (UTC)."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from cliply.analytics import service
from cliply.cli.base import EXIT_BAD_INPUT, Failure, app, failing_with, fmt_time, json_option, workspace_option
from cliply.store.models import utcnow
from cliply.store.models_analytics import METRIC_FIELDS
from cliply.usecases import ServiceError

since_option = click.option(
    "--since", default=service.DEFAULT_SINCE, show_default=True, help="Time window: 90m, 24h, 7d, 30d, 2w or all."
)
LABELS = {"watch_time_s": "watch s"}


def _console() -> Console:
    console = Console(highlight=False, soft_wrap=False)
    if not console.is_terminal:
        console = Console(highlight=False, soft_wrap=False, width=200)
    return console


def _print_json(data: Any) -> None:
    click.echo(json.dumps(data, default=str))


def _num(value: Any) -> str:
    if value is None or value == service.NOT_AVAILABLE:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.1f}" if not value.is_integer() else f"{int(value):,}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _rate(value: Any) -> str:
    return "n/a" if value is None else f"{value * 100:.2f} %"


def _when(value: str | None) -> str:
    """ "12 min ago (2025-01-02 10:00 UTC)"."""
    if not value:
        return "-"
    at = datetime.fromisoformat(value)
    return f"{service.ago(at, utcnow())} ({fmt_time(at)})"


def _since(text: str) -> str:
    try:
        service.parse_since(text)
    except ServiceError as exc:
        raise Failure(f"--since: {exc}", EXIT_BAD_INPUT) from None
    return text


def _metrics_table(
    title: str, rows: list[dict[str, Any]], first: list[tuple[str, str]], last: list[tuple[str, str]] | None = None
) -> Table:
    """Columns `first`, then every metric ("n/a" when missing), then `last`; (key, label) pairs."""
    table = Table(title=title or None, title_justify="left")
    for _, label in first:
        table.add_column(label)
    for m in METRIC_FIELDS:
        table.add_column(LABELS.get(m, m), justify="right")
    for _, label in last or []:
        table.add_column(label)
    for row in rows:
        metrics = row.get("metrics", row)
        table.add_row(
            *(_cell(row.get(k)) for k, _ in first),
            *(_num(metrics.get(m)) for m in METRIC_FIELDS),
            *(_cell(row.get(k)) for k, _ in last or []),
        )
    return table


def _cell(value: Any) -> str:
    return "-" if value is None else str(value)


def _freshness_line(post: dict[str, Any]) -> str:
    fresh = post["freshness"]
    line = f"{fresh['fetched']}" + (f" ({fmt_time(post['fetched_at'])})" if post.get("fetched_at") else "")
    if fresh["gone"]:
        return f"{line}; {fresh['reason']}"
    return f"{line}; stale: {fresh['reason']}" if fresh["stale"] else line


def print_post(post: dict[str, Any]) -> None:
    console = _console()
    console.print(
        f"tracked post {post['id']}  {post['platform']} {post['post_id']}  account {post['account'] or '-'}  "
        f"tier {post['tier']}  status {post['status']}"
    )
    if post.get("url"):
        console.print(f"  url: {post['url']}", soft_wrap=True)
    console.print(f"  published {_when(post['published_at'])}; next fetch {_when(post['next_fetch_at'])}")
    console.print(f"  {_freshness_line(post)}")
    table = Table(show_header=True)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for m in METRIC_FIELDS:
        table.add_row(LABELS.get(m, m), _num(post["metrics"][m]))
    console.print(table)
    if "derived" in post:
        _print_derived(console, post["derived"], post.get("forecast") or {})


def _print_derived(console: Console, d: dict[str, Any], fc: dict[str, Any]) -> None:
    velocity = "n/a" if d["velocity_views_per_h"] is None else f"{d['velocity_views_per_h']:,.1f} views/h"
    console.print(f"  engagement rate {_rate(d['engagement_rate'])}; velocity {velocity}")
    if fc.get("points"):
        parts = [
            f"+{p['horizon_h']:g} h: {p['predicted']:,.0f} ({p['low']:,.0f}–{p['high']:,.0f})" for p in fc["points"]
        ]
        console.print(f"  forecast of views, 80 % interval ({fc['model']}): " + "; ".join(parts))
    elif fc.get("reason"):
        console.print(f"  no forecast: {fc['reason']}")


# --- commands ---


@click.command("track")
@click.argument("url")
@workspace_option
@json_option
def track(url: str, workspace: str | None, as_json: bool) -> None:
    """Track a post published anywhere by its public URL, and show its first metrics."""
    result = service.track_url(app(), workspace, url)
    if as_json:
        _print_json(result)
        return
    click.echo(result["message"])
    print_post(result)


@click.group("tracked")
def tracked() -> None:
    """The posts whose metrics are followed."""


@tracked.command("list")
@click.option("--status", type=click.Choice(["active", "gone"]), default=None, help="Only active or gone posts.")
@click.option("--platform", default=None)
@workspace_option
@json_option
def tracked_list(status: str | None, platform: str | None, workspace: str | None, as_json: bool) -> None:
    """Tracked posts with their latest numbers and freshness."""
    rows = service.list_tracked(app(), workspace, status, platform)
    if as_json:
        _print_json({"tracked": rows})
        return
    if not rows:
        click.echo("nothing tracked yet; published posts are tracked automatically, others with `cliply track <url>`")
        return
    rows = [{**r, "fetched": _freshness_line(r)} for r in rows]
    cols = [("id", "id"), ("platform", "platform"), ("account", "account"), ("tier", "tier")]
    _console().print(_metrics_table("", rows, cols, [("fetched", "fetched")]))


@tracked.command("show")
@click.argument("tracked_id")
@workspace_option
@json_option
@failing_with(1)
def tracked_show(tracked_id: str, workspace: str | None, as_json: bool) -> None:
    """One tracked post: metrics, freshness, derived numbers, forecast."""
    post = service.show_tracked(app(), workspace, tracked_id)
    _print_json(post) if as_json else print_post(post)


@tracked.command("remove")
@click.argument("tracked_id")
@workspace_option
@json_option
@failing_with(1)
def tracked_remove(tracked_id: str, workspace: str | None, as_json: bool) -> None:
    """Stop tracking a post (its history is deleted)."""
    gone = service.remove_tracked(app(), workspace, tracked_id)
    _print_json(gone) if as_json else click.echo(
        f"stopped tracking {gone['id']} ({gone['platform']} {gone['post_id']})"
    )


@click.command("stats")
@click.option("--post", "post", default=None, help="A tracked post id.")
@click.option("--clip", "clip", default=None, help="A clip id: all its posts across platforms and accounts.")
@click.option("--account", "account", default=None, help="A connected account id.")
@since_option
@click.option("--chart", "chart", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Write a PNG.")
@workspace_option
@json_option
@failing_with(1)
def stats(
    post: str | None,
    clip: str | None,
    account: str | None,
    since: str,
    chart: Path | None,
    workspace: str | None,
    as_json: bool,
) -> None:
    """Metrics of a post, a clip, an account, or (none given) the platform comparison."""
    if sum(x is not None for x in (post, clip, account)) > 1:
        raise Failure("give at most one of --post, --clip and --account", EXIT_BAD_INPUT)
    _since(since)
    container = app()
    report = service.stats(container, workspace, post=post, clip=clip, account=account, since=since)
    if chart is not None:
        kind = "post" if post is not None else "platforms"
        chart.write_bytes(service.chart(container, workspace, kind, post=post, since=since))
    if as_json:
        _print_json(report)
    else:
        _print_stats(report)
    if chart is not None and not as_json:
        click.echo(f"chart written to {chart}")


def _print_stats(report: dict[str, Any]) -> None:
    kind, window = report["kind"], report["since"] or "all time"
    if kind == "post":
        print_post(report)
        return
    console = _console()
    if kind == "platforms":
        table = Table(title=f"platforms, posts published in the last {window}", title_justify="left")
        for col in ("platform", "posts", "views", "likes", "comments", "shares", "saves", "engagement", "median views"):
            table.add_column(col, justify="left" if col == "platform" else "right")
        for r in report["platforms"]:
            table.add_row(
                r["platform"],
                _num(r["posts"]),
                *(_num(r[m]) for m in ("views", "likes", "comments", "shares", "saves")),
                _rate(r["engagement_rate"]),
                _num(r["median_views"]),
            )
        console.print(table if report["platforms"] else f"no posts published in the last {window}")
        return
    title = f"clip {report['clip_id']}" if kind == "clip" else f"account {report['account']['handle']}"
    cols = [("tracked_post_id", "id"), ("platform", "platform"), ("account", "account"), ("fetched_at", "fetched")]
    rows = [{**r, "fetched_at": fmt_time(r["fetched_at"]) if r.get("fetched_at") else None} for r in report["posts"]]
    console.print(_metrics_table(f"{title} ({window})", rows, cols))


@click.command("leaderboard")
@click.option("--by", type=click.Choice(["account", "clip"]), default="account", show_default=True)
@since_option
@workspace_option
@json_option
def leaderboard(by: str, since: str, workspace: str | None, as_json: bool) -> None:
    """Accounts (creators) or clips ranked by views gained in the window."""
    _since(since)
    board = service.leaderboard(app(), workspace, by, since)
    if as_json:
        _print_json(board)
        return
    table = Table(title=f"leaderboard by {by}, last {board['since'] or 'all time'}", title_justify="left")
    names = ["rank", "account", "platform", "posts", "views", "views gained"]
    if by == "clip":
        names = ["rank", "clip", "title", "posts", "views", "views gained"]
    for name in names:
        table.add_column(name, justify="right" if name in ("rank", "posts", "views", "views gained") else "left")
    for r in board["rows"]:
        who = [r.get("handle") or f"account {r['account_id']}", r.get("platform") or "-"]
        if by == "clip":
            who = [r["clip_id"], r["title"]]
        table.add_row(str(r["rank"]), *who, _num(r["posts"]), _num(r["views"]), _num(r["views_gained"]))
    _console().print(table if board["rows"] else "no tracked posts in this window")


@click.group("analytics")
def analytics() -> None:
    """Analytics exports."""


@analytics.command("export")
@click.option("--csv", "csv_file", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Output file.")
@click.option("--since", default=None, help="Only posts published in this window (default: all).")
@workspace_option
def analytics_export(csv_file: Path, since: str | None, workspace: str | None) -> None:
    """Every tracked post with its latest numbers, as CSV (cells are escaped against formula injection)."""
    if since is not None:
        _since(since)
    text = service.export_csv(app(), workspace, since)
    csv_file.write_text(text, encoding="utf-8", newline="")
    rows = sum(1 for _ in csv.reader(io.StringIO(text))) - 1
    click.echo(f"wrote {rows} tracked post{'' if rows == 1 else 's'} to {csv_file}")


COMMANDS = [track, tracked, stats, leaderboard, analytics]
