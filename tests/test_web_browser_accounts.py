"""The accounts page in a real Chromium (Debian's package, driven by Playwright) against the platform sandbox: connect
a TikTok account through the OAuth click-through by keyboard alone and see it listed, connect Bluesky with the app
password form, disconnect through the confirmation page. Each page passes axe-core's WCAG 2 A/AA rules, shows no
horizontal scrolling at 390×844 and loads nothing its CSP blocks; screenshots go to docs/screenshots/accounts-*.png
with UPDATE_SCREENSHOTS=1."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from cliply.http.app import create_app
from cliply.platforms import make_client
from cliply.security.vault import KeyRing, TokenVault
from cliply.settings import Settings
from cliply.store.accounts import AccountsRepo
from cliply.store.db import Database
from cliply.store.repo import WorkspaceScope, get_or_create_workspace
from tests.browser import (
    DESKTOP,
    MOBILE,
    WORKSPACE,
    WebService,
    _environ,
    browser_fixture,  # noqa: F401  (the `browser` fixture)
    new_page,
)
from tests.fixtures.sandbox import RunningSandbox
from tests.test_http import bluesky_account, serve
from tests.test_web_browser import check_page, tab_to


@pytest.fixture(name="web")
def web_on_sandbox(tmp_path: Path, sandbox: RunningSandbox) -> Iterator[WebService]:
    """The real HTTP service on 127.0.0.1 whose platform clients talk to the sandbox, with one workspace."""
    settings = Settings.from_env(_environ(tmp_path))
    db = Database(settings.resolved_database_url)
    db.migrate()
    vault = TokenVault(KeyRing.from_settings(settings, settings.home))
    with db.session() as s:
        token = AccountsRepo(WorkspaceScope(s, get_or_create_workspace(s, WORKSPACE)), vault).create_api_token("web")
    app = create_app(settings, db=db, vault=vault, clients=lambda p: make_client(p, sandbox.config(p)))
    try:
        with serve(app) as base:
            yield WebService(base, WORKSPACE, token, db, settings)
    finally:
        db.dispose()


def sign_in(page: Page, web: WebService) -> None:
    page.goto(web.url("/web/signin"))
    page.locator("input[name=token]").fill(web.token)
    page.locator("input[name=token]").press("Enter")
    expect(page).to_have_url(web.url("/web/"))


def accounts_list(page: Page) -> list[str]:
    return page.locator("li.account").all_inner_texts()


def test_connect_tiktok_through_the_oauth_click_through_by_keyboard(
    web: WebService, browser: Browser, sandbox: RunningSandbox
) -> None:
    page = new_page(browser, MOBILE)
    sign_in(page, web)
    tab_to(page, "a", text=re.compile(r"^Accounts$"))
    page.keyboard.press("Enter")
    expect(page).to_have_url(web.url("/web/accounts"))
    expect(page.get_by_text("No account is connected yet")).to_be_visible()
    check_page(page, "accounts-empty")

    page.set_viewport_size(MOBILE)  # type: ignore[arg-type]
    tab_to(page, "button", text=re.compile(r"Connect TikTok"))
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_have_text("Continue to TikTok")
    expect(page.locator("main")).to_contain_text(WORKSPACE)
    check_page(page, "accounts-continue")
    tab_to(page, "a", text=re.compile(r"Continue to TikTok"))
    with page.expect_navigation(url=re.compile(r"/oauth/tiktok/callback")):
        page.keyboard.press("Enter")  # the sandbox's consent page allows at once and calls back
    expect(page.locator("h1")).to_have_text("Connected")
    expect(page.locator("body")).to_contain_text(WORKSPACE)

    tab_to(page, "a", text=re.compile(r"Back to your accounts"))
    page.keyboard.press("Enter")
    expect(page).to_have_url(web.url("/web/accounts"))
    rows = accounts_list(page)
    assert len(rows) == 1 and "TikTok" in rows[0] and "Connected" in rows[0], rows
    check_page(page, "accounts")


def test_connect_bluesky_then_disconnect_it(web: WebService, browser: Browser, sandbox: RunningSandbox) -> None:
    bluesky_account(sandbox, "northwind.test", "pw-app-secret")
    page = new_page(browser, DESKTOP)
    sign_in(page, web)
    page.goto(web.url("/web/accounts"))

    page.get_by_label("Handle").fill("northwind.test")
    page.get_by_label("App password").fill("pw-wrong")
    page.get_by_role("button", name="Connect Bluesky").click()
    alert = page.locator("#bluesky-error")
    expect(alert).to_be_visible()
    expect(alert).to_contain_text("Bluesky did not connect")
    assert "pw-wrong" not in page.content()
    expect(page.get_by_label("Handle")).to_have_value("northwind.test")
    expect(page.get_by_label("App password")).to_have_value("")
    check_page(page, "accounts-bluesky-error")

    page.get_by_label("App password").fill("pw-app-secret")
    page.get_by_role("button", name="Connect Bluesky").click()
    expect(page.get_by_role("status")).to_have_text("Bluesky account northwind.test is connected.")
    rows = accounts_list(page)
    assert len(rows) == 1 and "northwind.test" in rows[0] and "Connected" in rows[0], rows

    page.get_by_role("link", name=re.compile(r"Disconnect Bluesky account northwind\.test")).click()
    expect(page.locator("h1")).to_have_text("Disconnect an account")
    check_page(page, "accounts-disconnect")
    page.get_by_role("button", name=re.compile(r"Disconnect Bluesky account northwind\.test")).click()
    expect(page).to_have_url(re.compile(r"/web/accounts\?disconnected=\d+"))
    expect(page.get_by_role("status")).to_have_text("Bluesky account northwind.test was disconnected.")
    rows = accounts_list(page)
    assert len(rows) == 1 and "Disconnected" in rows[0], rows
