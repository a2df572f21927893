"""The posts list through the real Starlette app on SQLite: every post of the workspace with its time in the session's
zone, clip, caption and targets (platform, account, state, and why a target failed or waits, with its next try);
filters by status, platform, account and a local date range; bad filters answered with the form again and a one-line
message per field (what was typed kept); another workspace's posts and accounts never shown (its account id as a
filter shows nothing of it); captions and account handles rendered inert."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import update

from cliply.store.models import utcnow
from cliply.store.models_publishing import Post
from tests.test_web_auth import Web, signed_in, web  # noqa: F401
from tests.test_web_calendar import cells, set_zone
from tests.test_web_pages import XSS_CAPTION, XSS_HANDLE, XSS_REASON, connect, headers_ok, markup_ok, post


def ids(html: str) -> set[str]:
    return set(cells(html))


def test_the_list_shows_each_post_with_its_time_clip_and_targets(web: Web) -> None:
    yt = connect(web, "acme", "youtube", "acme-channel")
    tt = connect(web, "acme", "tiktok", "acme_tt")
    at = datetime(2026, 7, 1, 16, 45, tzinfo=UTC)
    failed = post(
        web,
        "acme",
        yt,
        "youtube",
        "Failed caption",
        at,
        state="failed",
        error_class="permanent",
        error_message="video too long for Shorts",
    )
    retry = utcnow() + timedelta(hours=2)
    waiting = post(
        web,
        "acme",
        tt,
        "tiktok",
        "Waiting caption",
        at + timedelta(days=1),
        state="waiting",
        wait_reason="quota",
        due_at=retry,
    )
    later = post(web, "acme", yt, "youtube", "Later caption", at + timedelta(days=2))
    signed_in(web.http, web.tokens["acme"])
    set_zone(web, "Europe/Berlin")
    r = web.http.get("/web/posts")
    assert r.status_code == 200
    headers_ok(r, page=True)
    markup_ok(r.text)
    html = r.text
    assert '<a href="/web/posts" aria-current="page">Posts</a>' in html
    assert [html.index(f'data-post="{i}"') for i in (later, waiting, failed)] == sorted(
        html.index(f'data-post="{i}"') for i in (later, waiting, failed)
    )  # newest schedule first
    item = html[html.index(f'data-post="{failed}"') :][:2500]
    assert (
        f'<a href="/web/posts/{failed}"><time datetime="2026-07-01T16:45:00+00:00">2026-07-01 18:45 CEST</time>' in item
    )
    assert f'href="/web/clips/{web.clips["acme"]}">clip 1 of acme.mp4</a>' in item
    assert "Failed caption" in item and "YouTube" in item and "acme-channel" in item
    assert "failed (permanent): video too long for Shorts" in item
    wait = html[html.index(f'data-post="{waiting}"') :][:2000]
    local_retry = retry.astimezone(ZoneInfo("Europe/Berlin")).strftime("%Y-%m-%d %H:%M %Z")
    assert "waiting for the platform&#39;s quota limit" in wait and "next try <time" in wait and local_retry in wait
    assert "TikTok" in wait and "acme_tt" in wait


def test_filters_by_status_platform_account_and_local_dates(web: Web) -> None:
    yt = connect(web, "acme", "youtube", "acme-channel")
    yt2 = connect(web, "acme", "youtube", "acme-second")
    x = connect(web, "acme", "x", "acme_x")
    late = post(web, "acme", yt, "youtube", "Late", datetime(2026, 4, 1, 3, 30, tzinfo=UTC))  # 03-31 23:30 in NY
    early = post(web, "acme", x, "x", "Early", datetime(2026, 3, 31, 12, 0, tzinfo=UTC), state="failed")
    second = post(web, "acme", yt2, "youtube", "Second", datetime(2026, 4, 2, 12, 0, tzinfo=UTC))
    cancelled = post(web, "acme", x, "x", "Gone", datetime(2026, 4, 3, 12, 0, tzinfo=UTC))
    signed_in(web.http, web.tokens["acme"])
    with web.env.db.session() as s:
        s.execute(update(Post).where(Post.id == cancelled).values(status="cancelled"))
        s.execute(update(Post).where(Post.id == early).values(status="failed"))
    assert ids(web.http.get("/web/posts").text) == {late, early, second, cancelled}
    assert ids(web.http.get("/web/posts?status=cancelled").text) == {cancelled}
    assert ids(web.http.get("/web/posts?status=failed").text) == {early}
    assert ids(web.http.get("/web/posts?platform=youtube").text) == {late, second}
    assert ids(web.http.get(f"/web/posts?account={yt2}").text) == {second}
    assert ids(web.http.get(f"/web/posts?platform=x&account={x}&status=scheduled").text) == set()
    assert ids(web.http.get("/web/posts?from=2026-04-01&to=2026-04-01").text) == {late}  # UTC
    set_zone(web, "America/New_York")
    assert ids(web.http.get("/web/posts?from=2026-04-01&to=2026-04-01").text) == set()
    assert ids(web.http.get("/web/posts?from=2026-03-31&to=2026-03-31").text) == {late, early}
    assert ids(web.http.get("/web/posts?from=2026-04-02").text) == {second, cancelled}
    assert ids(web.http.get("/web/posts?to=2026-03-31").text) == {late, early}
    filtered = web.http.get(f"/web/posts?platform=youtube&account={yt}&from=2026-03-31")
    html = filtered.text
    assert '<option value="youtube" selected>YouTube</option>' in html
    assert f'<option value="{yt}" selected>YouTube · acme-channel</option>' in html
    assert 'value="2026-03-31" id="from"' in html and "Clear filters" in html
    assert "Matching posts (1)" in html
    none = web.http.get("/web/posts?status=posted")
    assert none.status_code == 200 and "No post matches these filters." in none.text


def test_bad_filters_get_the_form_again_with_one_line_each(web: Web) -> None:
    signed_in(web.http, web.tokens["acme"])
    r = web.http.get("/web/posts?status=bogus&platform=myspace&from=2026-02-30&to=yesterday")
    assert r.status_code == 400
    markup_ok(r.text)
    errors = dict(re.findall(r'<p class="alert" role="alert" id="([a-z]+)-error">([^<\n]+)</p>', r.text))
    assert set(errors) == {"status", "platform", "from", "to"}
    assert errors["from"] == errors["to"] == "Give a date as YYYY-MM-DD."
    assert 'value="2026-02-30" aria-describedby="from-error" aria-invalid="true" id="from"' in r.text
    assert 'value="yesterday"' in r.text
    backwards = web.http.get("/web/posts?from=2026-04-02&to=2026-04-01")
    assert backwards.status_code == 400 and "The end date is before the start date." in backwards.text
    for account in ("abc", "0", "-1", "99999999999999999999999", "999999"):
        none = web.http.get(f"/web/posts?account={account}")
        assert none.status_code == 404 and "There is no such account in this workspace." in none.text, account


def test_another_workspaces_posts_and_accounts_are_never_shown(web: Web) -> None:
    ours = connect(web, "acme", "x", "acme_x")
    theirs = connect(web, "globex", "x", "globex_handle")
    mine = post(web, "acme", ours, "x", "acme caption", datetime(2026, 5, 1, 12, 0, tzinfo=UTC))
    other = post(web, "globex", theirs, "x", "globex secret caption", datetime(2026, 5, 1, 12, 0, tzinfo=UTC))
    signed_in(web.http, web.tokens["acme"])
    listing = web.http.get("/web/posts").text
    assert ids(listing) == {mine} and "globex" not in listing
    r = web.http.get(f"/web/posts?account={theirs}")
    assert r.status_code == 404 and ids(r.text) == set()
    assert "globex" not in r.text and other not in r.text
    assert f'<option value="{theirs}"' not in r.text
    for path in (f"/web/posts?account={theirs}&platform=x", "/web/posts?platform=x&from=2026-05-01&to=2026-05-01"):
        assert other not in web.http.get(path).text


def test_captions_handles_and_reasons_are_rendered_inert(web: Web) -> None:
    account = connect(web, "acme", "x", XSS_HANDLE)
    post(
        web,
        "acme",
        account,
        "x",
        XSS_CAPTION,
        utcnow() + timedelta(days=1),
        state="failed",
        error_message=XSS_REASON,
        url="javascript:alert(1)",
    )
    signed_in(web.http, web.tokens["acme"])
    html = web.http.get("/web/posts").text
    assert "<script>alert" not in html and "<img src=x" not in html and "javascript:" not in html
    assert "&#34;&gt;&lt;script&gt;alert(&#34;caption&#34;)&lt;/script&gt;" in html
    assert html.count("&lt;script&gt;alert(&#34;handle&#34;)&lt;/script&gt;") == 2  # the target and the filter
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    markup_ok(html)


def test_an_empty_list_says_what_to_do_next(web: Web) -> None:
    signed_in(web.http, web.tokens["acme"])
    html = web.http.get("/web/posts").text
    assert "No posts yet" in html and 'href="/web/calendar"' in html and "All posts" in html
