"""Web sign-in through the real Starlette app on SQLite: an API key or a one-time link from `cliply web login` opens
a new server-side session (HttpOnly, SameSite=Lax cookie; Secure behind https), wrong or revoked keys get the same
401, sign-out and key revocation end the session, expired sessions and links are refused, a session id presented
before sign-in is never kept, every POST needs its CSRF token, and failed sign-ins are bounded per address."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

import pytest
from sqlalchemy import select, update
from starlette.testclient import TestClient

from cliply.http.app import create_app
from cliply.settings import Settings
from cliply.store.accounts import AccountsRepo
from cliply.store.models import utcnow
from cliply.store.models_accounts import ApiToken
from cliply.store.models_web import WebLoginLink, WebSession
from cliply.store.repo import WorkspaceScope, get_or_create_workspace
from cliply.web.app import BAD_KEY, BAD_LINK, COOKIE
from cliply.web.csrf import SIGNIN_COOKIE
from cliply.web.sessions import digest
from tests.test_cli_publishing import Env
from tests.test_http import seed as seed_workspaces


class Answer(Protocol):
    """What the tests read of a TestClient response."""

    @property
    def status_code(self) -> int: ...
    @property
    def text(self) -> str: ...
    @property
    def headers(self) -> Any: ...
    @property
    def url(self) -> Any: ...


CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class Web:
    env: Env
    http: TestClient
    tokens: dict[str, str]
    clips: dict[str, str]

    def client(self, settings: Settings | None = None, **kw: Any) -> TestClient:
        """A second browser (its own cookie jar) on the same database."""
        return TestClient(create_app(settings or self.env.settings, db=self.env.db, vault=self.env.vault), **kw)

    def revoke(self, ws: str) -> None:
        with self.env.db.session() as s:
            scope = WorkspaceScope(s, get_or_create_workspace(s, ws))
            row = s.scalars(select(ApiToken).where(ApiToken.workspace_id == scope.workspace_id)).first()
            assert row is not None
            AccountsRepo(scope, self.env.vault).revoke_api_token(row.id)

    def new_token(self, ws: str) -> str:
        with self.env.db.session() as s:
            return AccountsRepo(WorkspaceScope(s, get_or_create_workspace(s, ws)), self.env.vault).create_api_token("t")

    def link(self, ws: str = "acme") -> str:
        r = self.env.cli("web", "login", "--workspace", ws, "--json")
        assert r.exit_code == 0, r.output
        url: str = json.loads(r.output)["url"]
        return url


@pytest.fixture
def web(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Web]:
    env = Env(tmp_path, monkeypatch)
    tokens, clips = seed_workspaces(env.db, env.vault)
    with TestClient(create_app(env.settings, db=env.db, vault=env.vault)) as http:
        yield Web(env, http, tokens, clips)
    env.db.dispose()


def form_csrf(html: str) -> str:
    match = CSRF_FIELD.search(html)
    assert match, "the page has no form with a csrf field"
    return match.group(1)


def sign_in(http: TestClient, token: str) -> Answer:
    page = http.get("/web/signin")
    assert page.status_code == 200, page.text
    return http.post("/web/signin", data={"token": token, "csrf": form_csrf(page.text)}, follow_redirects=False)


def signed_in(http: TestClient, token: str) -> str:
    """Sign `http` in; returns its session cookie."""
    r = sign_in(http, token)
    assert r.status_code == 303 and r.headers["location"] == "/web/", r.text
    cookie = http.cookies.get(COOKIE)
    assert cookie
    return cookie


def set_cookie_header(r: Answer, name: str) -> str:
    headers = [h for h in r.headers.get_list("set-cookie") if h.startswith(f"{name}=")]
    assert len(headers) == 1, r.headers.get_list("set-cookie")
    return headers[0]


def is_signin_redirect(r: Answer) -> bool:
    return r.status_code == 303 and r.headers["location"] == "/web/signin"


def test_sign_in_with_a_key_opens_a_session_with_a_strict_cookie(web: Web) -> None:
    r = sign_in(web.http, web.tokens["acme"])
    assert r.status_code == 303 and r.headers["location"] == "/web/"
    cookie = set_cookie_header(r, COOKIE)
    attributes = {part.strip().split("=")[0].lower(): part.strip() for part in cookie.split(";")[1:]}
    assert "httponly" in attributes
    assert attributes["samesite"].lower() == "samesite=lax"
    assert attributes["path"] == "Path=/"
    assert attributes["max-age"] == f"Max-Age={int(web.env.settings.web_session_hours * 3600)}"
    assert "secure" not in attributes  # the public base URL is not https here
    secret = web.http.cookies[COOKIE]
    with web.env.db.reading() as s:
        row = s.get(WebSession, digest(secret))  # only the hash is stored
        assert row is not None and row.api_token_id is not None
        assert s.get(WebSession, secret) is None
    home = web.http.get("/web/", follow_redirects=False)
    assert home.status_code == 200
    assert "acme" in home.text and "globex" not in home.text


def test_the_cookie_is_secure_when_the_public_url_is_https(web: Web) -> None:
    settings = web.env.settings.model_copy(update={"public_base_url": "https://cliply.example"})
    with web.client(settings, base_url="https://testserver") as browser:
        page = browser.get("/web/signin")
        assert "secure" in set_cookie_header(page, SIGNIN_COOKIE).lower()
        r = sign_in(browser, web.tokens["acme"])
        assert r.status_code == 303
        assert "; secure" in set_cookie_header(r, COOKIE).lower()


def test_wrong_and_revoked_keys_get_the_same_401_form(web: Web) -> None:
    unknown = sign_in(web.http, "clp_" + "x" * 43)
    revoked_key = web.tokens["globex"]
    web.revoke("globex")
    revoked = sign_in(web.http, revoked_key)
    empty = sign_in(web.http, "")
    for r in (unknown, revoked, empty):
        assert r.status_code == 401
        assert BAD_KEY in r.text and 'name="token"' in r.text
        assert COOKIE not in web.http.cookies
    assert unknown.text == revoked.text  # nothing tells a revoked key from one that never existed


def test_one_time_link_signs_in_once(web: Web) -> None:
    url = web.link("acme")
    assert url.startswith("http://127.0.0.1:8780/web/login/")
    path = urlparse(url).path
    r = web.http.get(path, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/web/"
    assert "acme" in web.http.get("/web/").text
    with web.client() as other:
        again = other.get(path, follow_redirects=False)
        assert again.status_code == 401 and BAD_LINK in again.text
        assert COOKIE not in other.cookies


def test_link_uses_the_public_base_url(web: Web, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLIPLY_PUBLIC_BASE_URL", "https://clips.example.org/")
    r = web.env.cli("web", "login", "--workspace", "globex")
    assert r.exit_code == 0, r.output
    assert re.fullmatch(r"https://clips\.example\.org/web/login/[A-Za-z0-9_-]{43}", r.stdout.strip())
    with web.env.db.reading() as s:
        secret = r.stdout.strip().rsplit("/", 1)[1]
        row = s.scalars(select(WebLoginLink).where(WebLoginLink.token_hash == digest(secret))).one()
        assert timedelta(minutes=14) < row.expires_at - utcnow() <= timedelta(minutes=15)


def test_an_expired_link_is_refused(web: Web) -> None:
    path = urlparse(web.link("acme")).path
    with web.env.db.session() as s:
        s.execute(update(WebLoginLink).values(expires_at=utcnow() - timedelta(seconds=1)))
    r = web.http.get(path, follow_redirects=False)
    assert r.status_code == 401 and COOKIE not in web.http.cookies
    assert is_signin_redirect(web.http.get("/web/", follow_redirects=False))


def test_a_session_id_set_before_sign_in_is_not_kept(web: Web) -> None:
    planted = "planted-by-someone-else"
    with web.client(cookies={COOKIE: planted}) as browser:
        r = sign_in(browser, web.tokens["acme"])
        assert r.status_code == 303
        issued = set_cookie_header(r, COOKIE).split(";", 1)[0].split("=", 1)[1]
        assert issued and issued != planted
    with web.env.db.reading() as s:
        assert s.get(WebSession, digest(planted)) is None and s.get(WebSession, planted) is None
    # Signing in again (here with a link) gives a new id and ends the one the browser held.
    first = signed_in(web.http, web.tokens["acme"])
    r = web.http.get(urlparse(web.link("acme")).path, follow_redirects=False)
    assert r.status_code == 303
    second = web.http.cookies[COOKIE]
    assert second != first
    assert web.http.get("/web/", follow_redirects=False).status_code == 200
    with web.client(cookies={COOKIE: first}) as old:
        assert is_signin_redirect(old.get("/web/", follow_redirects=False))


def test_sign_out_ends_the_session_server_side(web: Web) -> None:
    old = signed_in(web.http, web.tokens["acme"])
    home = web.http.get("/web/")
    r = web.http.post("/web/signout", data={"csrf": form_csrf(home.text)}, follow_redirects=False)
    assert is_signin_redirect(r)
    assert COOKIE not in web.http.cookies
    with web.client(cookies={COOKIE: old}) as replay:  # the old cookie, copied before sign-out
        assert is_signin_redirect(replay.get("/web/", follow_redirects=False))
    with web.env.db.reading() as s:
        row = s.get(WebSession, digest(old))
        assert row is not None and row.revoked_at is not None


def test_revoking_the_key_ends_its_sessions(web: Web) -> None:
    signed_in(web.http, web.tokens["globex"])
    assert web.http.get("/web/", follow_redirects=False).status_code == 200
    web.revoke("globex")
    assert is_signin_redirect(web.http.get("/web/", follow_redirects=False))


def test_an_expired_session_is_refused(web: Web) -> None:
    secret = signed_in(web.http, web.tokens["acme"])
    with web.env.db.session() as s:
        s.execute(
            update(WebSession).where(WebSession.id == digest(secret)).values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert is_signin_redirect(web.http.get("/web/", follow_redirects=False))


def test_sign_out_without_or_with_a_wrong_csrf_token_is_refused(web: Web) -> None:
    signed_in(web.http, web.tokens["acme"])
    other = TestClient(create_app(web.env.settings, db=web.env.db, vault=web.env.vault))
    signed_in(other, web.tokens["globex"])
    someone_elses = form_csrf(other.get("/web/").text)
    for data in ({}, {"csrf": ""}, {"csrf": "0" * 64}, {"csrf": someone_elses}, {"csrf": "é" * 10}):
        r = web.http.post("/web/signout", data=data, follow_redirects=False)
        assert r.status_code == 403, data
        assert "security token" in r.text
    assert web.http.get("/web/", follow_redirects=False).status_code == 200  # still signed in


def test_the_sign_in_form_needs_its_double_submit_token(web: Web) -> None:
    token = web.tokens["acme"]
    with web.client() as fresh:  # no csrf cookie and no field
        assert fresh.post("/web/signin", data={"token": token}, follow_redirects=False).status_code == 403
    with web.client() as fresh:  # a field but no cookie (a cross-site form cannot set the cookie)
        r = fresh.post("/web/signin", data={"token": token, "csrf": "a" * 43}, follow_redirects=False)
        assert r.status_code == 403
    page = web.http.get("/web/signin")
    r = web.http.post("/web/signin", data={"token": token, "csrf": "b" * 43}, follow_redirects=False)
    assert r.status_code == 403 and COOKIE not in web.http.cookies
    assert form_csrf(page.text) == web.http.cookies[SIGNIN_COOKIE]
    cookie = set_cookie_header(page, SIGNIN_COOKIE).lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/web/signin" in cookie


def test_failed_sign_ins_are_bounded_per_address(web: Web) -> None:
    for _ in range(10):
        assert sign_in(web.http, "clp_wrong").status_code == 401
    r = sign_in(web.http, web.tokens["acme"])  # even the right key waits now
    assert r.status_code == 429 and COOKIE not in web.http.cookies
    assert web.http.get(urlparse(web.link()).path, follow_redirects=False).status_code == 429


def test_secrets_never_reach_the_log(web: Web, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    secret = signed_in(web.http, web.tokens["acme"])
    sign_in(web.http, "clp_not-a-real-key")
    link = web.link("acme")
    web.http.get(urlparse(link).path)
    ours = [r for r in caplog.records if r.name.startswith("cliply")]
    assert any(r.name == "cliply.http.access" and "/web/login/…" in r.getMessage() for r in ours)
    text = "\n".join(r.getMessage() for r in ours)
    for value in (web.tokens["acme"], secret, "clp_not-a-real-key", link.rsplit("/", 1)[1]):
        assert value not in text


def test_last_seen_is_refreshed_at_most_every_few_minutes(web: Web) -> None:
    secret = signed_in(web.http, web.tokens["acme"])
    an_hour_ago = utcnow() - timedelta(hours=1)
    with web.env.db.session() as s:
        s.execute(update(WebSession).where(WebSession.id == digest(secret)).values(last_seen_at=an_hour_ago))

    def seen() -> datetime:
        with web.env.db.reading() as s:
            row = s.get(WebSession, digest(secret))
            assert row is not None and row.last_seen_at is not None
            return row.last_seen_at

    assert web.http.get("/web/").status_code == 200
    first = seen()
    assert first > an_hour_ago + timedelta(minutes=59)
    assert web.http.get("/web/").status_code == 200
    assert seen() == first  # a second view moments later writes nothing
