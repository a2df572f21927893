"""The accounts page through the real Starlette app on SQLite: every account of the workspace with its status, reason
and expiry in the session's time zone; Connect starts the browser OAuth flow on the sandbox for the session's own
workspace (CSRF token required) and the callback connects the account; the Bluesky form against the sandbox PDS
(errors in one line, the app password never echoed or logged); disconnecting through a confirmation and a POST with
the token; another workspace's account is a 404 page; handles and reasons are rendered inert."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from html import unescape as html_unescape
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from sqlalchemy import func, select, update
from starlette.testclient import TestClient

from cliply.http.app import create_app
from cliply.platforms import make_client
from cliply.store.models import utcnow
from cliply.store.models_accounts import Account, OAuthState
from cliply.store.models_web import WebSession
from cliply.web.sessions import digest
from cliply.web.templating import local_time
from tests.fixtures.sandbox import RunningSandbox
from tests.test_http import bluesky_account
from tests.test_web_auth import Web, form_csrf, is_signin_redirect, signed_in, web  # noqa: F401
from tests.test_web_pages import XSS_HANDLE, XSS_REASON, connect, headers_ok, markup_ok

FIXED_EXPIRY = datetime(2031, 7, 1, 8, 30, tzinfo=UTC)


@pytest.fixture
def http(web: Web, sandbox: RunningSandbox) -> Iterator[TestClient]:
    """A browser on the app whose platform clients talk to the sandbox."""
    app = create_app(
        web.env.settings, db=web.env.db, vault=web.env.vault, clients=lambda p: make_client(p, sandbox.config(p))
    )
    with TestClient(app) as client:
        yield client


def count(web: Web, model: type) -> int:
    with web.env.db.reading() as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def status_of(web: Web, account_id: int) -> str:
    with web.env.db.reading() as s:
        row = s.get(Account, account_id)
        assert row is not None
        return row.status


def item_of(html: str, handle: str) -> str:
    """The list item of the account shown as `handle`."""
    for item in re.findall(r'<li class="item account">(.*?)</li>', html, re.S):
        if f'<span class="handle">{handle}</span>' in item:
            return str(item)
    raise AssertionError(f"no account {handle} on the page")


def test_the_listing_shows_every_status_with_reasons_and_expiry_in_the_sessions_zone(web: Web) -> None:
    now = utcnow()
    connect(web, "acme", "youtube", "acme-channel", expires_at=FIXED_EXPIRY)
    connect(web, "acme", "x", "acme_x", expires_at=now + timedelta(days=3))  # no refresh token: expiring
    connect(web, "acme", "linkedin", "acme_li", expires_at=now - timedelta(days=1))
    connect(web, "acme", "tiktok", "acme_tt", status="reauth_required", last_error="token revoked by the user")
    connect(web, "acme", "threads", "acme_th", status="disconnected")
    connect(web, "acme", "pinterest", "acme_pin", status="error", last_error="missing permissions: pins:write")
    connect(web, "globex", "youtube", "globex-channel")
    secret = signed_in(web.http, web.tokens["acme"])
    with web.env.db.session() as s:
        s.execute(update(WebSession).where(WebSession.id == digest(secret)).values(timezone="Europe/Paris"))

    r = web.http.get("/web/accounts")
    assert r.status_code == 200
    headers_ok(r, page=True)
    markup_ok(r.text)
    html = r.text
    assert '<a href="/web/accounts" aria-current="page">Accounts</a>' in html
    assert "Times are shown in Europe/Paris" in html
    assert "globex" not in html
    youtube = item_of(html, "acme-channel")
    assert "Connected" in youtube and "YouTube" in youtube
    assert '<time datetime="2031-07-01T08:30:00+00:00">2031-07-01 10:30 CEST</time>' in youtube
    expiring = item_of(html, "acme_x")
    assert "Expiring soon" in expiring and "within 7 days" in expiring
    assert local_time(now + timedelta(days=3), "Europe/Paris") in expiring
    assert "Expired" in item_of(html, "acme_li") and "Access has ended" in item_of(html, "acme_li")
    reauth = item_of(html, "acme_tt")
    assert "Reconnect needed" in reauth and "token revoked by the user" in reauth
    assert "missing permissions: pins:write" in item_of(html, "acme_pin")
    gone = item_of(html, "acme_th")
    assert "Disconnected" in gone and "/disconnect" not in gone  # nothing left to disconnect
    assert "/disconnect" in youtube
    for p in ("youtube", "tiktok", "instagram", "facebook", "threads", "x", "linkedin", "pinterest"):
        assert f'action="/web/accounts/connect/{p}"' in html, p
    assert 'action="/web/accounts/connect/bluesky"' not in html
    password = re.search(r'<input id="bluesky-password"[^>]*>', html)
    assert password and 'type="password"' in password.group(0) and 'autocomplete="off"' in password.group(0)


def test_an_empty_workspace_says_what_to_do(web: Web) -> None:
    signed_in(web.http, web.tokens["globex"])
    html = web.http.get("/web/accounts").text
    assert "No account is connected yet" in html and "Times are shown in UTC" in html


def test_connect_runs_the_browser_oauth_flow_into_the_sessions_workspace(
    web: Web, http: TestClient, sandbox: RunningSandbox
) -> None:
    signed_in(http, web.tokens["acme"])
    token = form_csrf(http.get("/web/accounts").text)
    assert http.post("/web/accounts/connect/tiktok", data={}, follow_redirects=False).status_code == 403
    assert http.post("/web/accounts/connect/tiktok", data={"csrf": "0" * 64}, follow_redirects=False).status_code == 403
    assert count(web, OAuthState) == 0  # refused before any flow was started

    r = http.post("/web/accounts/connect/tiktok", data={"csrf": token}, follow_redirects=False)
    assert r.status_code == 200 and "<h1>Continue to TikTok</h1>" in r.text
    markup_ok(r.text)
    assert "the workspace\n    <strong>acme</strong>" in r.text
    link = re.search(r'<a class="button" href="([^"]+)" rel="noreferrer">Continue to TikTok</a>', r.text)
    assert link
    authorize = html_unescape(link.group(1))
    assert authorize.startswith(sandbox.url("tiktok"))
    assert parse_qs(urlparse(authorize).query)["redirect_uri"] == ["http://testserver/oauth/tiktok/callback"]
    cookie = next(h for h in r.headers.get_list("set-cookie") if h.startswith("cliply_oauth_"))
    assert "Path=/oauth/tiktok/callback" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie

    consent = httpx.get(authorize, timeout=10)  # the person allows Cliply on the platform
    assert consent.status_code in (302, 303), consent.text
    callback = urlparse(consent.headers["location"])
    assert callback.path == "/oauth/tiktok/callback"
    elsewhere = TestClient(http.app).get(f"{callback.path}?{callback.query}")  # another browser: refused
    assert elsewhere.status_code == 403 and count(web, Account) == 0
    done = http.get(f"{callback.path}?{callback.query}")
    assert done.status_code == 200 and "Connected" in done.text and "acme" in done.text

    with web.env.db.reading() as s:
        account = s.scalars(select(Account)).one()
        assert account.platform == "tiktok" and account.workspace_id is not None
        handle, account_id = account.handle, account.id
    html = http.get("/web/accounts").text
    item = item_of(html, handle)
    assert "TikTok" in item and "Connected" in item and f"/web/accounts/{account_id}/disconnect" in item
    other = TestClient(http.app)  # a member of another workspace
    signed_in(other, web.tokens["globex"])
    assert handle not in other.get("/web/accounts").text


def test_connect_refuses_unknown_platforms_and_sends_bluesky_to_its_form(web: Web, http: TestClient) -> None:
    signed_in(http, web.tokens["acme"])
    token = form_csrf(http.get("/web/accounts").text)
    unknown = http.post("/web/accounts/connect/myspace", data={"csrf": token}, follow_redirects=False)
    assert unknown.status_code == 404 and "Page not found" in unknown.text
    bluesky = http.post("/web/accounts/connect/bluesky", data={"csrf": token}, follow_redirects=False)
    assert bluesky.status_code == 303 and bluesky.headers["location"] == "/web/accounts#bluesky"
    assert count(web, OAuthState) == 0


def test_the_bluesky_form_connects_with_an_app_password_never_echoed(
    web: Web, http: TestClient, sandbox: RunningSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    did = bluesky_account(sandbox, "alice.test", "pw-very-secret")
    signed_in(http, web.tokens["acme"])
    token = form_csrf(http.get("/web/accounts").text)
    fields = {"csrf": token, "handle": "alice.test", "app_password": "pw-very-secret"}
    assert http.post("/web/accounts/bluesky", data={**fields, "csrf": ""}, follow_redirects=False).status_code == 403

    wrong = http.post("/web/accounts/bluesky", data={**fields, "app_password": "pw-wrong-secret"})
    assert wrong.status_code == 400
    errors = re.findall(r'<p class="alert" role="alert" id="bluesky-error">([^<]*)</p>', wrong.text)
    assert len(errors) == 1 and "Bluesky did not connect" in errors[0] and "\n" not in errors[0]
    assert "pw-wrong-secret" not in wrong.text and 'value="alice.test"' in wrong.text  # the handle is kept
    markup_ok(wrong.text)
    empty = http.post("/web/accounts/bluesky", data={**fields, "app_password": ""})
    assert empty.status_code == 400 and "Enter both the handle and an app password" in empty.text
    assert count(web, Account) == 0

    done = http.post("/web/accounts/bluesky", data=fields, follow_redirects=False)
    assert done.status_code == 303
    with web.env.db.reading() as s:
        account = s.scalars(select(Account)).one()
        assert account.external_id == did and account.handle == "alice.test"
    assert done.headers["location"] == f"/web/accounts?connected={account.id}#accounts-heading"
    page = http.get(done.headers["location"])
    assert "Bluesky account alice.test is connected." in page.text
    assert "Connected" in item_of(page.text, "alice.test")
    assert "pw-very-secret" not in page.text
    assert "pw-very-secret" not in caplog.text and "pw-wrong-secret" not in caplog.text


def test_disconnect_asks_then_needs_the_token(web: Web) -> None:
    account = connect(web, "acme", "youtube", "acme-channel")
    signed_in(web.http, web.tokens["acme"])
    ask = web.http.get(f"/web/accounts/{account}/disconnect")
    assert ask.status_code == 200
    markup_ok(ask.text)
    assert "Disconnect YouTube account acme-channel" in ask.text and 'href="/web/accounts"' in ask.text
    token = form_csrf(ask.text)
    url = f"/web/accounts/{account}/disconnect"
    assert web.http.post(url, data={}, follow_redirects=False).status_code == 403
    assert status_of(web, account) == "connected"
    r = web.http.post(url, data={"csrf": token}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/web/accounts?disconnected={account}#accounts-heading"
    assert status_of(web, account) == "disconnected"
    html = web.http.get(r.headers["location"]).text
    assert "YouTube account acme-channel was disconnected." in html
    assert "Disconnected" in item_of(html, "acme-channel")


def test_another_workspaces_account_is_a_404_page(web: Web) -> None:
    theirs = connect(web, "globex", "youtube", "globex-channel")
    signed_in(web.http, web.tokens["acme"])
    token = form_csrf(web.http.get("/web/accounts").text)
    ask = web.http.get(f"/web/accounts/{theirs}/disconnect")
    assert ask.status_code == 404 and "globex-channel" not in ask.text
    r = web.http.post(f"/web/accounts/{theirs}/disconnect", data={"csrf": token})
    assert r.status_code == 404 and "globex-channel" not in r.text
    assert status_of(web, theirs) == "connected"
    assert web.http.get("/web/accounts/not-a-number/disconnect").status_code == 404
    shown = web.http.get(f"/web/accounts?disconnected={theirs}&connected={theirs}").text
    assert "globex-channel" not in shown and "was disconnected" not in shown


def test_handles_and_reasons_are_rendered_inert(web: Web) -> None:
    account = connect(web, "acme", "x", XSS_HANDLE, status="reauth_required", last_error=XSS_REASON)
    signed_in(web.http, web.tokens["acme"])
    for path in ("/web/accounts", f"/web/accounts/{account}/disconnect"):
        html = web.http.get(path).text
        assert "<script>alert" not in html and "<img src=x" not in html, path
        assert "&lt;script&gt;alert(&#34;handle&#34;)&lt;/script&gt;" in html, path
        markup_ok(html)
    assert "&lt;img src=x onerror=alert(1)&gt;" in web.http.get("/web/accounts").text
    bad = web.http.post(
        "/web/accounts/bluesky",
        data={"csrf": form_csrf(html), "handle": XSS_HANDLE, "app_password": ""},
    )
    assert bad.status_code == 400 and "<script>alert" not in bad.text


def test_signed_out_visitors_are_sent_to_sign_in(web: Web) -> None:
    for path in ("/web/accounts", "/web/accounts/1/disconnect"):
        assert is_signin_redirect(web.http.get(path, follow_redirects=False)), path
    for path in ("/web/accounts/connect/tiktok", "/web/accounts/bluesky", "/web/accounts/1/disconnect"):
        assert is_signin_redirect(web.http.post(path, data={}, follow_redirects=False)), path
