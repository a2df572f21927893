"""The web pages through the real Starlette app on SQLite: the security headers on every page and static file (a CSP
without 'unsafe-inline', no framing, no caching of pages), the markup every page shares (one h1, a skip link,
landmarks, labelled fields, no inline scripts or styles), the home page's sections in the session's time zone,
script injection in a source name, an account handle and a caption rendered inert, another workspace's data never
shown, and every /web/ address sending signed-out visitors to the sign-in page."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import update
from starlette.testclient import TestClient

from cliply.platforms.models import Credentials
from cliply.publishing import ledger
from cliply.store.accounts import AccountsRepo
from cliply.store.models import Source, utcnow
from cliply.store.models_publishing import PostTarget
from cliply.store.models_web import WebSession
from cliply.store.repo import WorkspaceScope, get_or_create_workspace
from cliply.web.app import COOKIE
from cliply.web.headers import CSP
from cliply.web.sessions import digest
from tests.test_web_auth import Answer, Web, form_csrf, is_signin_redirect, sign_in, signed_in, web  # noqa: F401

XSS_NAME = '<script>alert("source")</script>.mp4'
XSS_REASON = "<img src=x onerror=alert(1)>"
XSS_HANDLE = '<script>alert("handle")</script>'
XSS_CAPTION = '"><script>alert("caption")</script>'


def connect(web: Web, ws: str, platform: str, handle: str, **fields: object) -> int:
    with web.env.db.session() as s:
        scope = WorkspaceScope(s, get_or_create_workspace(s, ws))
        creds = Credentials(access_token="tok-" + handle, refresh_token=None, account_id="id-" + handle)
        account = AccountsRepo(scope, web.env.vault).connect(platform, creds, handle)
        for key, value in fields.items():
            setattr(account, key, value)
        return account.id


def post(web: Web, ws: str, account_id: int, platform: str, caption: str, at: datetime, **target: object) -> str:
    with web.env.db.session() as s:
        scope = WorkspaceScope(s, get_or_create_workspace(s, ws))
        p = ledger.create_post(
            scope,
            clip_id=web.clips[ws],
            targets=[ledger.TargetSpec(platform, account_id)],
            scheduled_at=at,
            timezone="UTC",
            caption=caption,
        )
        post_id = p.id
        if target:
            s.flush()
            s.execute(update(PostTarget).where(PostTarget.post_id == post_id).values(**target))
        return post_id


def source(web: Web, ws: str, id: str, name: str, status: str, reason: str | None = None) -> None:
    with web.env.db.session() as s:
        scope = WorkspaceScope(s, get_or_create_workspace(s, ws))
        scope.add_source(id, "file", f"/in/{id}.mp4", name, status=status)
        if reason:
            s.execute(update(Source).where(Source.id == id).values(reject_code="too_short", reject_reason=reason))


def headers_ok(r: Answer, *, page: bool) -> None:
    assert r.headers["content-security-policy"] == CSP
    assert "unsafe-inline" not in CSP and "frame-ancestors 'none'" in CSP and "script-src 'self'" in CSP
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["referrer-policy"] == "same-origin"
    assert r.headers["x-content-type-options"] == "nosniff"
    if page:
        assert r.headers["cache-control"] == "no-store"


def markup_ok(html: str) -> None:
    assert html.startswith("<!doctype html>") and '<html lang="en">' in html
    assert re.search(r"<title>[^<]+ · Cliply</title>", html)
    assert len(re.findall(r"<h1[ >]", html)) == 1
    assert '<a class="skip-link" href="#main">' in html and '<main id="main"' in html
    assert "<header" in html and '<nav aria-label="Main">' in html
    assert "<style" not in html and " style=" not in html  # no inline styles (the CSP would refuse them)
    assert all('src="/static/' in tag for tag in re.findall(r"<script[^>]*>", html))  # no inline scripts
    assert not re.search(r"<[^>]*\son[a-z]+=", html)  # no inline event handlers
    for field in re.findall(r'<input (?![^>]*type="hidden")[^>]*id="([^"]+)"', html):
        assert f'<label for="{field}"' in html, field


def test_headers_and_shared_markup_on_every_page(web: Web) -> None:
    signed_out: list[Answer] = [web.http.get("/web/signin"), sign_in(web.http, "clp_wrong")]
    forbidden = web.http.post("/web/signin", data={"token": "x"}, follow_redirects=False)
    assert forbidden.status_code == 403
    for r in [*signed_out, forbidden]:
        headers_ok(r, page=True)
        markup_ok(r.text)
        assert "Sign out" not in r.text
    signed_in(web.http, web.tokens["acme"])
    signed = [web.http.get("/web/"), web.http.get("/web/no-such-page")]
    assert [r.status_code for r in signed] == [200, 404]
    for r in signed:
        headers_ok(r, page=True)
        markup_ok(r.text)
        assert "Workspace <strong>acme</strong>" in r.text
        assert '<form class="inline" method="post" action="/web/signout">' in r.text
    redirect = web.http.post("/web/signout", data={"csrf": form_csrf(signed[0].text)}, follow_redirects=False)
    headers_ok(redirect, page=True)
    css = web.http.get("/static/cliply.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    headers_ok(css, page=False)
    for missing in ("/static/nothing.css", "/static/%2e%2e/settings.py"):
        gone = web.http.get(missing)
        assert gone.status_code == 404 and "settings" not in gone.text
        headers_ok(gone, page=False)


def test_every_web_page_redirects_when_signed_out(web: Web) -> None:
    for path in ("/web/", "/web/anything", "/web/sources/1"):
        assert is_signin_redirect(web.http.get(path, follow_redirects=False)), path
    assert is_signin_redirect(web.http.post("/web/signout", data={}, follow_redirects=False))
    r = web.http.get("/web", follow_redirects=True)
    assert r.url.path == "/web/signin" and r.status_code == 200
    signed_in(web.http, web.tokens["acme"])
    assert web.http.get("/web/signin", follow_redirects=False).headers["location"] == "/web/"


def test_the_home_page_shows_what_needs_attention_first(web: Web) -> None:
    now = utcnow()
    yt = connect(web, "acme", "youtube", "acme-channel")
    connect(web, "acme", "x", "acme_x", expires_at=now + timedelta(days=3))  # no refresh token: expiring
    connect(web, "acme", "tiktok", "acme_tt", status="reauth_required", last_error="token revoked by the user")
    connect(web, "acme", "linkedin", "acme_fine", expires_at=now + timedelta(days=30))
    post(
        web,
        "acme",
        yt,
        "youtube",
        "Failing caption",
        now - timedelta(hours=2),
        state="failed",
        error_class="permanent",
        error_message="video too long for Shorts",
    )
    post(
        web, "acme", yt, "youtube", "Waiting caption", now + timedelta(minutes=5), state="waiting", wait_reason="quota"
    )
    post(web, "acme", yt, "youtube", "Upcoming caption", datetime(2031, 7, 1, 8, 30, tzinfo=UTC))
    source(web, "acme", "src_bad", "holiday.mov", "rejected", "the video is shorter than 30 seconds")
    source(web, "acme", "src_busy", "podcast.mp4", "processing")
    secret = signed_in(web.http, web.tokens["acme"])
    with web.env.db.session() as s:  # the session's own zone
        s.execute(update(WebSession).where(WebSession.id == digest(secret)).values(timezone="Europe/Paris"))
    html = web.http.get("/web/").text
    order = [html.index(h) for h in ("Needs your attention", "Recent sources", "Upcoming posts")]
    assert order == sorted(order)
    attention = html[order[0] : order[1]]
    assert "video too long for Shorts" in attention and "permanent" in attention
    assert "waiting: quota" in attention and "Waiting caption" in attention
    assert "acme_x" in attention and "Access ends soon" in attention
    assert "acme_tt" in attention and "token revoked by the user" in attention
    assert "acme_fine" not in html and "acme-channel" in attention  # the failed target names its account
    assert "holiday.mov" in attention and "the video is shorter than 30 seconds" in attention
    recent = html[order[1] : order[2]]
    assert "podcast.mp4" in recent and "processing" in recent and "holiday.mov" in recent
    upcoming = html[order[2] :]
    assert "Upcoming caption" in upcoming and "Failing caption" not in upcoming
    assert "Times are shown in Europe/Paris" in html
    assert '<time datetime="2031-07-01T08:30:00+00:00">2031-07-01 10:30 CEST</time>' in upcoming


def test_empty_home_says_what_to_do_next(web: Web) -> None:
    token = web.new_token("newcomer")
    signed_in(web.http, token)
    html = web.http.get("/web/").text
    assert "Nothing needs you right now" in html
    assert "No sources yet" in html and "cliply process FILE" in html
    assert "Nothing is scheduled" in html and "Times are shown in UTC" in html


def test_script_injection_is_rendered_inert(web: Web) -> None:
    source(web, "acme", "src_xss", XSS_NAME, "rejected", XSS_REASON)
    account = connect(web, "acme", "x", XSS_HANDLE, status="reauth_required", last_error=XSS_REASON)
    post(
        web,
        "acme",
        account,
        "x",
        XSS_CAPTION,
        utcnow() - timedelta(hours=1),
        state="needs_attention",
        error_message=XSS_REASON,
    )
    post(web, "acme", account, "x", XSS_CAPTION, utcnow() + timedelta(days=1))
    signed_in(web.http, web.tokens["acme"])
    html = web.http.get("/web/").text
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(&#34;source&#34;)&lt;/script&gt;.mp4" in html
    assert "&lt;script&gt;alert(&#34;handle&#34;)&lt;/script&gt;" in html
    assert html.count("&#34;&gt;&lt;script&gt;alert(&#34;caption&#34;)&lt;/script&gt;") == 2
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    markup_ok(html)


def test_another_workspaces_data_is_never_shown(web: Web) -> None:
    theirs = connect(web, "globex", "x", "globex_secret_handle", status="reauth_required")
    post(web, "globex", theirs, "x", "globex secret caption", utcnow() + timedelta(days=1))
    post(web, "globex", theirs, "x", "globex failed caption", utcnow(), state="failed", error_message="globex error")
    source(web, "globex", "src_g", "globex-secret.mp4", "rejected", "globex reason")
    signed_in(web.http, web.tokens["acme"])
    html = web.http.get("/web/").text
    assert "globex" not in html
    assert "acme.mp4" in html  # its own seeded source is there
    with TestClient(web.http.app) as theirs_browser:
        signed_in(theirs_browser, web.tokens["globex"])
        assert "globex-secret.mp4" in theirs_browser.get("/web/").text
        assert COOKIE in theirs_browser.cookies
