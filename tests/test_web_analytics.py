"""The analytics pages through the real Starlette app on SQLite, with the platform sandbox behind tracking by URL: the
overview (platform numbers, views-over-time chart, leaderboard, tracked posts, CSV download with formula-safe cells),
tracking a URL (CSRF required, a refused URL is a one-line error keeping what was typed), one post (each number with
when it was fetched in the session's zone, stale and not-available values as such, engagement rate, velocity, the
forecast with its interval or "too little history", a chart with an alt text and a data table), one clip across
platforms, a target's way to its tracked post, hostile handles and URLs rendered inert, and another workspace's
tracked posts, clips and targets (pages and chart PNGs) a 404 page."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update
from starlette.testclient import TestClient

from cliply.http.app import build
from cliply.publishing import ledger
from cliply.store.models import utcnow
from cliply.store.models_analytics import MetricSnapshot, TrackedPost
from cliply.store.models_publishing import PostTarget
from cliply.store.models_web import WebSession
from cliply.store.repo import WorkspaceScope, get_or_create_workspace
from cliply.web.sessions import digest
from tests.test_analytics_service import World, sqlite_world  # noqa: F401  (fixture)
from tests.test_http import seed as seed_workspaces
from tests.test_web_auth import form_csrf, is_signin_redirect, signed_in
from tests.test_web_pages import XSS_HANDLE, headers_ok, markup_ok
from tests.test_web_sources import escape

PNG = b"\x89PNG\r\n\x1a\n"
FORECAST_ROW = (
    r'<tr><th scope="row">(\+\d h)</th><td><time[^>]*>([^<]+)</time></td>\s*'
    r"<td>([\d,]+)</td><td>([\d,]+) – ([\d,]+)</td>"
)
XSS_URL = 'https://www.tiktok.com/@x/video/1"><script>alert("url")</script>'


@dataclass
class Site:
    world: World
    http: TestClient
    tokens: dict[str, str]
    clips: dict[str, str]

    def other(self) -> TestClient:
        return TestClient(build(self.world.app))

    def tracked(self) -> int:
        with self.world.app.db.reading() as s:
            return s.scalar(select(func.count()).select_from(TrackedPost)) or 0


@pytest.fixture
def site(sqlite_world: World) -> Iterator[Site]:
    tokens, clips = seed_workspaces(sqlite_world.app.db, sqlite_world.app.vault)
    with TestClient(build(sqlite_world.app)) as http:
        yield Site(sqlite_world, http, tokens, clips)


def flat(html: str) -> str:
    """The markup without the whitespace between tags."""
    return re.sub(r">\s+<", "><", html)


def set_zone(site: Site, cookie: str, zone: str) -> None:
    with site.world.app.db.session() as s:
        s.execute(update(WebSession).where(WebSession.id == digest(cookie)).values(timezone=zone))


def track_rows(
    site: Site,
    ws: str,
    platform: str,
    post_id: str,
    views: list[int | None],
    *,
    every: timedelta = timedelta(minutes=15),
    account: int | None = None,
    clip: bool = False,
    target_id: str | None = None,
    url: str | None = None,
    **post: Any,
) -> int:
    """A tracked post published len(views) × every ago with one snapshot per interval (views, likes = views/10)."""
    now = utcnow()
    published = now - every * len(views)
    with site.world.app.db.session() as s:
        scope = WorkspaceScope(s, get_or_create_workspace(s, ws))
        row = TrackedPost(
            workspace_id=scope.workspace_id,
            platform=platform,
            platform_post_id=post_id,
            account_id=account,
            clip_id=site.clips[ws] if clip else None,
            target_id=target_id,
            url=url or f"https://www.tiktok.com/@a/video/{post_id}",
            origin="url",
            published_at=published,
            tracked_at=published,
            status="active",
            tier="ultra_hot",
            next_fetch_at=now + timedelta(minutes=10),
            last_fetched_at=now - timedelta(minutes=12) if views else None,
            consecutive_failures=0,
        )
        for key, value in post.items():
            setattr(row, key, value)
        s.add(row)
        s.flush()
        for i, v in enumerate(views):
            at = published + every * (i + 1) - timedelta(minutes=12)
            likes = None if v is None else v // 10
            s.add(
                MetricSnapshot(
                    tracked_post_id=row.id,
                    workspace_id=scope.workspace_id,
                    fetched_at=at,
                    raw={},
                    granularity="raw",
                    views=v,
                    likes=likes,
                    comments=3,
                )
            )
        return row.id


def account(site: Site, ws: str, platform: str, handle: str) -> int:
    return site.world.connect(platform, f"id_{handle[:20]}_{ws}", ws=ws, handle=handle)


def growing(n: int) -> list[int | None]:
    return [int(1000 * (i + 1) ** 0.7) for i in range(n)]


def test_the_overview_shows_platforms_leaderboard_tracked_posts_and_the_forms(site: Site) -> None:
    alice = account(site, "acme", "tiktok", "alice")
    tracked = track_rows(site, "acme", "tiktok", "7001", growing(8), account=alice, clip=True)
    track_rows(site, "acme", "bluesky", "3kxyz", [None, None])  # no view counts on Bluesky
    track_rows(site, "globex", "youtube", "globexvid", growing(4))
    cookie = signed_in(site.http, site.tokens["acme"])
    r = site.http.get("/web/analytics")
    assert r.status_code == 200, r.text
    headers_ok(r, page=True)
    markup_ok(r.text)
    html = flat(r.text)
    assert '<a href="/web/analytics" aria-current="page">Analytics</a>' in html
    assert html.count("<h1>") == 1 and "<h1>Analytics</h1>" in html
    platforms = html[html.index('id="platforms-heading"') : html.index('id="board-heading"')]
    tiktok = platforms[platforms.index('<th scope="row">TikTok</th>') :]
    assert "<td>1</td><td>4,287</td><td>428</td><td>3</td><td>not reported yet</td><td>not available</td>" in tiktok
    bluesky = platforms[platforms.index('<th scope="row">Bluesky</th>') :]
    assert "<td>1</td><td>not available</td>" in bluesky  # never a 0 for a number Bluesky does not report
    assert 'src="/web/analytics/chart.png?since=7d&amp;platform="' in platforms
    assert (
        'alt="Views over time per platform, posts published last 7 days; latest totals: Bluesky not available' in html
    )
    board = html[html.index('id="board-heading"') : html.index('id="tracked-heading"')]
    ranked = re.findall(r'<tr><td>(\d+)</td><th scope="row"><a href="([^"]+)">([^<]+)</a></th>', board)
    assert [(r[0], r[2]) for r in ranked] == [("1", "TikTok post 7001"), ("2", "Bluesky post 3kxyz")]
    assert ranked[0][1] == f"/web/analytics/posts/{tracked}"
    assert '<td class="analytics-text">alice</td><td>4,287</td><td>4,287</td>' in board
    assert "<td>not available</td><td>not available</td>" in board  # Bluesky: no views, ranked last, never 0
    listed = html[html.index('id="tracked-heading"') : html.index('id="track-heading"')]
    assert f'<a href="/web/analytics/posts/{tracked}"><strong>TikTok post 7001</strong></a>' in listed
    assert (
        "Views 4,287 · Likes 428 · Comments 3" in listed
        and "Views not available · Likes not reported yet" in listed
        and "fetched 12 min ago (" in listed
    )
    assert "globex" not in html and "globexvid" not in html
    assert 'href="/web/analytics.csv?since=7d" download>Download CSV</a>' in html
    assert 'action="/web/analytics/track"' in html and f'name="csrf" value="{form_csrf(html)}"' in html

    accounts = flat(site.http.get("/web/analytics?by=account").text)
    board = accounts[accounts.index('id="board-heading"') : accounts.index('id="tracked-heading"')]
    assert (
        '<th scope="row" class="analytics-text">alice</th><td>TikTok</td><td>1</td><td>4,287</td><td>4,287</td>'
        in board
    )

    chart = site.http.get("/web/analytics/chart.png?since=30d&platform=tiktok")
    assert chart.status_code == 200 and chart.headers["content-type"] == "image/png"
    assert chart.content.startswith(PNG)

    set_zone(site, cookie, "Asia/Tokyo")
    tokyo = site.http.get("/web/analytics").text
    assert "fetched 12 min ago (" in tokyo and " JST)" in tokyo and "shown in\n  Asia/Tokyo" in tokyo


def test_filters_narrow_the_overview_and_a_bad_filter_is_a_field_error(site: Site) -> None:
    alice = account(site, "acme", "tiktok", "alice")
    track_rows(site, "acme", "tiktok", "7001", growing(4), account=alice, clip=True)
    track_rows(site, "acme", "youtube", "ytvid", growing(4))
    signed_in(site.http, site.tokens["acme"])
    yt = site.http.get("/web/analytics?since=24h&platform=youtube&by=clip").text
    assert "YouTube post ytvid" in yt and "TikTok post 7001" not in yt
    assert '<option value="youtube" selected>' in yt and '<option value="24h" selected>' in yt
    assert '<option value="clip" selected>' in yt
    board = yt[yt.index('id="board-heading"') : yt.index('id="tracked-heading"')]
    assert f'href="/web/analytics/clips/{site.clips["acme"]}"' in board and "(clips across all platforms)" in board
    bad = site.http.get("/web/analytics?since=forever&platform=myspace&by=mood")
    assert bad.status_code == 400
    markup_ok(bad.text)
    assert '<p class="alert" id="since-error">Choose one of the listed periods.</p>' in bad.text
    assert '<p class="alert" id="platform-error">Choose one of the listed platforms.</p>' in bad.text
    assert '<p class="alert" id="by-error">Choose posts, accounts or clips.</p>' in bad.text
    assert site.http.get("/web/analytics/chart.png?since=forever").status_code == 400
    assert site.http.get("/web/analytics.csv?since=forever").status_code == 400


def test_tracking_a_url_needs_the_csrf_token_and_a_refused_url_keeps_what_was_typed(site: Site) -> None:
    site.world.connect("tiktok", "tt_alice", ws="acme")
    url = site.world.seed("tiktok", "tt_alice").payload["public_url"]
    signed_in(site.http, site.tokens["acme"])
    token = form_csrf(site.http.get("/web/analytics").text)
    for data in ({"url": url}, {"url": url, "csrf": "wrong"}):
        r = site.http.post("/web/analytics/track", data=data, follow_redirects=False)
        assert r.status_code == 403 and "security token" in r.text
    assert site.tracked() == 0

    lookalike = "https://youtube.com.evil.example/watch?v=dQw4w9WgXcQ"
    r = site.http.post("/web/analytics/track", data={"url": lookalike, "csrf": token}, follow_redirects=False)
    assert r.status_code == 400
    markup_ok(r.text)
    assert '<p class="alert" role="alert" id="track-error">This address was refused: not a post URL' in r.text
    assert f'value="{escape(lookalike)}"' in r.text and 'aria-invalid="true"' in r.text
    empty = site.http.post("/web/analytics/track", data={"url": "  ", "csrf": token})
    assert empty.status_code == 400 and "Enter the address of a published post." in empty.text
    stranger = site.world.seed("tiktok", "tt_stranger").payload["public_url"]
    r = site.http.post("/web/analytics/track", data={"url": stranger, "csrf": token})
    assert r.status_code == 400 and "connect the TikTok account that posted this video" in r.text
    assert site.tracked() == 0

    r = site.http.post("/web/analytics/track", data={"url": url, "csrf": token}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/web/analytics/posts/")
    page = site.http.get(r.headers["location"])
    assert page.status_code == 200 and "TikTok post" in page.text and "fetched just now (" in page.text
    again = site.http.post("/web/analytics/track", data={"url": url, "csrf": token}, follow_redirects=False)
    assert again.headers["location"] == r.headers["location"] and site.tracked() == 1


def test_a_post_page_says_when_each_number_was_fetched_and_shows_the_forecast(site: Site) -> None:
    alice = account(site, "acme", "tiktok", "alice")
    tracked = track_rows(site, "acme", "tiktok", "7001", growing(10), account=alice, clip=True)
    cookie = signed_in(site.http, site.tokens["acme"])
    set_zone(site, cookie, "Europe/Berlin")
    r = site.http.get(f"/web/analytics/posts/{tracked}")
    assert r.status_code == 200, r.text
    headers_ok(r, page=True)
    markup_ok(r.text)
    html = r.text
    assert "<h1>TikTok post 7001</h1>" in html and '<a href="/web/analytics" aria-current="page">' in html
    numbers = html[html.index('id="numbers-heading"') : html.index('id="forecast-heading"')]
    views = numbers[numbers.index('<th scope="row">Views</th>') :]
    assert views.startswith('<th scope="row">Views</th>\n      <td>5,011</td>')
    assert "fetched 12 min ago (" in views[:400] and (" CET)" in views[:400] or " CEST)" in views[:400])
    saves = numbers[numbers.index('<th scope="row">Saves</th>') :]
    assert '<span class="analytics-na">not available</span>' in saves[:200]
    assert "the platform does not report it" in saves[:300]
    assert "stale" not in numbers
    assert "<dt>Engagement rate</dt><dd>10.06 %</dd>" in numbers  # (501 + 3) / 5,011; shares not sent yet
    assert "<dt>Velocity</dt><dd>1,506.0 views per hour</dd>" in numbers
    shares = numbers[numbers.index('<th scope="row">Shares</th>') :]
    assert shares.startswith('<th scope="row">Shares</th>\n      <td>not reported yet</td>')
    forecast = html[html.index('id="forecast-heading"') :]
    rows = re.findall(FORECAST_ROW, forecast)
    assert [r[0] for r in rows] == ["+1 h", "+2 h", "+3 h"]
    assert all(r[1].endswith((" CET", " CEST")) for r in rows)
    for _, _, mid, low, high in rows:
        assert 5011 <= int(low.replace(",", "")) <= int(mid.replace(",", "")) <= int(high.replace(",", ""))
    assert f'src="/web/analytics/posts/{tracked}/chart.png"' in forecast
    alt = forecast[forecast.index('alt="') : forecast.index('">', forecast.index('alt="'))]
    assert "Views over time: 10 fetches from " in alt and "to 5,011 views. Forecast of views: +1 h: " in alt
    assert "Every fetch" in forecast and forecast.count('<tr><th scope="row"><time') == 10

    chart = site.http.get(f"/web/analytics/posts/{tracked}/chart.png")
    assert chart.status_code == 200 and chart.headers["content-type"] == "image/png"
    assert chart.content.startswith(PNG)


def test_stale_numbers_too_little_history_and_unreported_views_are_said_as_such(site: Site) -> None:
    young = track_rows(site, "acme", "tiktok", "7002", [120], consecutive_failures=3,
                       last_error_class="transient", last_error="GET /v2/video/query/: 503")  # fmt: skip
    sky = track_rows(site, "acme", "bluesky", "3kabc", [None, None, None])
    gone = track_rows(site, "acme", "tiktok", "7003", [10, 20], status="gone", gone_at=utcnow())
    signed_in(site.http, site.tokens["acme"])
    html = site.http.get(f"/web/analytics/posts/{young}").text
    assert "These numbers are stale: transient: GET /v2/video/query/: 503, 3 failures in a row." in html
    assert '<td>120 <span class="badge state-waiting">stale</span></td>' in html
    assert "No forecast: too little history" in html and "No forecast: too little history" in html[html.index("alt=") :]
    sky_html = site.http.get(f"/web/analytics/posts/{sky}").text
    views = sky_html[sky_html.index('<th scope="row">Views</th>') :]
    assert views.startswith('<th scope="row">Views</th>\n      <td><span class="analytics-na">not available</span>')
    assert "Bluesky does not report views for this post." in sky_html
    assert "<td>0</td>" not in sky_html
    gone_html = site.http.get(f"/web/analytics/posts/{gone}").text
    assert "This post was deleted on the platform: its numbers are final." in gone_html
    overview = site.http.get("/web/analytics").text
    assert '<span class="badge state-failed">gone</span>' in overview
    assert '<span class="badge state-waiting">stale</span>' in overview


def test_a_clip_page_shows_its_posts_across_platforms_with_totals(site: Site) -> None:
    alice = account(site, "acme", "tiktok", "alice")
    track_rows(site, "acme", "tiktok", "7001", growing(4), account=alice, clip=True)
    track_rows(site, "acme", "youtube", "ytvid", growing(3), clip=True)
    track_rows(site, "acme", "bluesky", "3kq", [None], clip=True)
    signed_in(site.http, site.tokens["acme"])
    clip = site.clips["acme"]
    r = site.http.get(f"/web/analytics/clips/{clip}")
    assert r.status_code == 200, r.text
    markup_ok(r.text)
    html = r.text
    assert "Posts (3)" in html and "TikTok post 7001" in html and "YouTube post ytvid" in html
    totals = html[html.index('id="totals-heading"') : html.index('id="posts-heading"')]
    assert '<th scope="row">Views</th><td>4,796</td><td>2 of 3</td>' in totals
    assert '<th scope="row">Saves</th><td>not available</td><td>0 of 3</td>' in totals
    assert f'src="/web/analytics/clips/{clip}/chart.png"' in html
    assert "TikTok (alice) 2,639 views" in html
    chart = site.http.get(f"/web/analytics/clips/{clip}/chart.png")
    assert chart.status_code == 200 and chart.content.startswith(PNG)
    missing = site.http.get("/web/analytics/clips/clip_nothing_here")
    assert missing.status_code == 404 and "Page not found" in missing.text


def published_target(site: Site, ws: str, account_id: int) -> str:
    with site.world.app.db.session() as s:
        scope = WorkspaceScope(s, get_or_create_workspace(s, ws))
        post = ledger.create_post(
            scope,
            clip_id=site.clips[ws],
            targets=[ledger.TargetSpec("tiktok", account_id)],
            scheduled_at=utcnow() - timedelta(hours=1),
            timezone="UTC",
            caption="hello",
        )
        s.flush()
        target_id = s.scalars(select(PostTarget.id).where(PostTarget.post_id == post.id)).one()
        s.execute(update(PostTarget).where(PostTarget.id == target_id).values(state="published"))
        return target_id


def test_a_target_leads_to_its_tracked_post_or_says_metrics_are_not_in_yet(site: Site) -> None:
    alice = account(site, "acme", "tiktok", "alice")
    with_metrics = published_target(site, "acme", alice)
    tracked = track_rows(site, "acme", "tiktok", "7001", growing(3), account=alice, target_id=with_metrics)
    waiting = published_target(site, "acme", alice)
    signed_in(site.http, site.tokens["acme"])
    r = site.http.get(f"/web/analytics/targets/{with_metrics}", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/web/analytics/posts/{tracked}"
    pending = site.http.get(f"/web/analytics/targets/{waiting}")
    assert pending.status_code == 200 and "<h1>Metrics not in yet</h1>" in pending.text
    markup_ok(pending.text)


def test_another_workspaces_posts_clips_and_targets_are_a_404_page(site: Site) -> None:
    gus = account(site, "globex", "tiktok", "gus")
    target = published_target(site, "globex", gus)
    theirs = track_rows(site, "globex", "tiktok", "9009", growing(4), account=gus, clip=True, target_id=target)
    signed_in(site.http, site.tokens["acme"])
    for path in (
        f"/web/analytics/posts/{theirs}",
        f"/web/analytics/posts/{theirs}/chart.png",
        f"/web/analytics/clips/{site.clips['globex']}",
        f"/web/analytics/clips/{site.clips['globex']}/chart.png",
        f"/web/analytics/targets/{target}",
        "/web/analytics/posts/not-a-number",
        "/web/analytics/posts/99999999999999999999999",
    ):
        r = site.http.get(path, follow_redirects=False)
        assert r.status_code == 404, path
        assert "Page not found" in r.text and "9009" not in r.text and "gus" not in r.text, path
    overview = site.http.get("/web/analytics?since=all").text
    assert "9009" not in overview and "gus" not in overview
    exported = site.http.get("/web/analytics.csv?since=all").text
    assert "9009" not in exported


def test_charts_and_the_csv_need_a_session(site: Site) -> None:
    tracked = track_rows(site, "acme", "tiktok", "7001", growing(4), clip=True)
    with site.other() as stranger:
        for path in (
            "/web/analytics",
            "/web/analytics.csv",
            "/web/analytics/chart.png",
            f"/web/analytics/posts/{tracked}",
            f"/web/analytics/posts/{tracked}/chart.png",
            f"/web/analytics/clips/{site.clips['acme']}/chart.png",
        ):
            assert is_signin_redirect(stranger.get(path, follow_redirects=False)), path
        assert is_signin_redirect(stranger.post("/web/analytics/track", data={"url": "x"}, follow_redirects=False))


def test_the_csv_download_is_an_attachment_with_formula_safe_cells(site: Site) -> None:
    hostile = account(site, "acme", "tiktok", '=HYPERLINK("http://evil.example")')
    track_rows(site, "acme", "tiktok", "7001", growing(4), account=hostile, url="@SUM(1+1)")
    track_rows(site, "acme", "tiktok", "7002", growing(2), published_at=utcnow() - timedelta(days=40))
    signed_in(site.http, site.tokens["acme"])
    week = list(csv.DictReader(io.StringIO(site.http.get("/web/analytics.csv?since=7d").text)))
    assert [row["platform_post_id"] for row in week] == ["7001"]
    r = site.http.get("/web/analytics.csv")  # every post, as `cliply analytics export`
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.headers["content-disposition"] == 'attachment; filename="cliply-analytics.csv"'
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [row["platform_post_id"] for row in rows] == ["7001", "7002"]
    cells = list(rows[0].values())
    assert '\'=HYPERLINK("http://evil.example")' in cells and "'@SUM(1+1)" in cells
    assert not any(c.startswith(("=", "@", "+")) for c in cells)


def test_hostile_handles_and_urls_are_rendered_inert(site: Site) -> None:
    evil = account(site, "acme", "tiktok", XSS_HANDLE)
    tracked = track_rows(site, "acme", "tiktok", '<script>alert("id")</script>', growing(4), account=evil,
                         url=XSS_URL, clip=True)  # fmt: skip
    signed_in(site.http, site.tokens["acme"])
    for path in (
        "/web/analytics?since=all",
        f"/web/analytics/posts/{tracked}",
        f"/web/analytics/clips/{site.clips['acme']}",
    ):
        html = site.http.get(path).text
        markup_ok(html)
        assert "<script>alert(" not in html, path
        assert escape(XSS_HANDLE) in html, path
    post = site.http.get(f"/web/analytics/posts/{tracked}").text
    assert f'<a href="{escape(XSS_URL)}" rel="noopener noreferrer">' in post
    assert escape('<script>alert("id")</script>') in post
    javascript = track_rows(site, "acme", "tiktok", "7777", growing(2), url="javascript:alert(1)")
    assert 'href="javascript:' not in site.http.get(f"/web/analytics/posts/{javascript}").text


def test_an_empty_workspace_says_what_to_do_next(site: Site) -> None:
    signed_in(site.http, site.tokens["acme"])
    r = site.http.get("/web/analytics")
    assert r.status_code == 200
    markup_ok(r.text)
    assert "No post published in this period has numbers yet." in r.text
    assert "Nothing to rank in this period yet." in r.text and "No tracked posts yet." in r.text
    assert (
        'alt="Views over time per platform, last 7 days: no posts published in this period have numbers yet."' in r.text
    )
    chart = site.http.get("/web/analytics/chart.png")
    assert chart.status_code == 200 and chart.content.startswith(PNG)
    clip = site.http.get(f"/web/analytics/clips/{site.clips['acme']}")
    assert clip.status_code == 200 and "None of this clip's posts is tracked yet" in clip.text


def test_the_best_posts_are_ranked_by_views_gained_in_the_period(site: Site) -> None:
    old = track_rows(site, "acme", "tiktok", "old", [1000, 5000, 6000], every=timedelta(days=1))
    new = track_rows(site, "acme", "youtube", "new", [3000], every=timedelta(hours=2))
    signed_in(site.http, site.tokens["acme"])

    def ranked(query: str) -> list[tuple[int, str, str]]:
        html = flat(site.http.get(f"/web/analytics?{query}").text)
        board = html[html.index('id="board-heading"') : html.index('id="tracked-heading"')]
        rows = re.findall(r'<a href="/web/analytics/posts/(\d+)">[^<]+</a></th><td[^>]*>[^<]*</td>'
                          r"<td>([^<]+)</td><td>([^<]+)</td>", board)  # fmt: skip
        return [(int(pid), views, gained) for pid, views, gained in rows]

    assert ranked("since=24h") == [(new, "3,000", "3,000"), (old, "6,000", "1,000")]
    assert ranked("since=7d") == [(old, "6,000", "6,000"), (new, "3,000", "3,000")]
    assert ranked("since=24h&platform=tiktok") == [(old, "6,000", "1,000")]
