"""Shared parts of the browser tests: the real HTTP service on 127.0.0.1, Debian's Chromium driven by Playwright, and
the checks every page must pass (axe-core's WCAG 2 A/AA rules, no horizontal scrolling at 390 px, screenshots).

Chromium is the system's (`scripts/ensure_browser.sh` installs Debian's package; CHROMIUM_PATH overrides where it is
looked for); Playwright's own browser download is not used. A missing browser or axe-core fails the test, never skips.
Screenshots go to a temporary folder, and also to docs/screenshots/ when UPDATE_SCREENSHOTS=1.

Use the fixtures by importing them into a test module: `from tests.browser import browser, web  # noqa: F401`."""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from cliply.http.app import create_app
from cliply.security.vault import KeyRing, TokenVault
from cliply.settings import Settings
from cliply.store.accounts import AccountsRepo
from cliply.store.db import Database
from cliply.store.repo import WorkspaceScope, get_or_create_workspace
from tests.fixtures.media import REPO
from tests.test_http import serve

# Headless without the sandbox (containers run as root) and without any background traffic to Google's servers.
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
AXE_JS = REPO / "peers" / "node_modules" / "axe-core" / "axe.min.js"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
BLOCKING_IMPACTS = frozenset({"serious", "critical"})
MOBILE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
SCREENSHOTS = REPO / "docs" / "screenshots"

WORKSPACE = "Northwind & Co"


def chromium_path() -> str:
    """The system Chromium: CHROMIUM_PATH when set, else `chromium` on PATH. Missing → the test fails."""
    path = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or ""
    if not path or not os.access(path, os.X_OK):
        pytest.fail(
            "Chromium is missing: run scripts/ensure_browser.sh (installs Debian's 'chromium' package) "
            "or set CHROMIUM_PATH to the browser",
            pytrace=False,
        )
    return path


@pytest.fixture(scope="module", name="browser")
def browser_fixture() -> Iterator[Browser]:
    """One headless Chromium per test module; give each test its own context (`new_page`)."""
    executable = chromium_path()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


_CSP_VIOLATIONS: dict[Page, list[str]] = {}


def new_page(browser: Browser, viewport: dict[str, int] = DESKTOP) -> Page:
    """A page in a fresh context (its own cookies). The pages' Content-Security-Policy stays enforced, and whatever it
    blocks is recorded for `check_no_csp_violations`."""
    context = browser.new_context(viewport=viewport)  # type: ignore[arg-type]
    page = context.new_page()
    blocked = _CSP_VIOLATIONS.setdefault(page, [])
    page.on("console", lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else None)
    return page


def check_no_csp_violations(page: Page) -> None:
    """Nothing the page loaded or ran so far was blocked by its Content-Security-Policy (no inline scripts/styles)."""
    blocked = _CSP_VIOLATIONS.get(page, [])
    assert not blocked, f"the Content-Security-Policy blocked parts of the page: {blocked}"


@dataclass
class WebService:
    base: str
    workspace: str
    token: str  # a workspace API key, the sign-in credential
    db: Database
    settings: Settings

    def url(self, path: str) -> str:
        return self.base + path


def _environ(tmp_path: Path) -> dict[str, str]:
    for d in ("home", "media", "dagster"):
        (tmp_path / d).mkdir(exist_ok=True)
    return {
        "CLIPLY_HOME": str(tmp_path / "home"),
        "CLIPLY_DATABASE_URL": f"sqlite:///{tmp_path / 'app.db'}",
        "CLIPLY_MEDIA_URL": str(tmp_path / "media"),
        "DAGSTER_HOME": str(tmp_path / "dagster"),
    }


@pytest.fixture(name="web")
def web_fixture(tmp_path: Path) -> Iterator[WebService]:
    """The real HTTP service (the app `cliply serve` runs) with uvicorn on a free port of 127.0.0.1: a migrated SQLite
    app database and one workspace with an API key."""
    settings = Settings.from_env(_environ(tmp_path))
    db = Database(settings.resolved_database_url)
    db.migrate()
    vault = TokenVault(KeyRing.from_settings(settings, settings.home))
    with db.session() as s:
        token = AccountsRepo(WorkspaceScope(s, get_or_create_workspace(s, WORKSPACE)), vault).create_api_token("web")
    try:
        with serve(create_app(settings, db=db, vault=vault)) as base:
            yield WebService(base, WORKSPACE, token, db, settings)
    finally:
        db.dispose()


def check_axe(page: Page) -> dict[str, Any]:
    """Run axe-core's WCAG 2.0/2.1 A and AA rules on the page as it is now; fails on any serious or critical
    violation, naming each rule, its impact and the elements. Returns axe's full result."""
    if not AXE_JS.is_file():
        pytest.fail(f"axe-core is missing ({AXE_JS.relative_to(REPO)}): run scripts/ensure_peers.sh", pytrace=False)
    # The source is evaluated through the DevTools protocol, so the page's CSP (no inline scripts) stays in force.
    page.evaluate(_axe_source())
    result: dict[str, Any] = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})", WCAG_TAGS
    )
    blocking = [v for v in result["violations"] if v.get("impact") in BLOCKING_IMPACTS]
    if blocking:
        lines = [f"{len(blocking)} serious or critical axe violation(s) on {page.url}:"]
        for v in blocking:
            lines.append(f"- {v['id']} ({v['impact']}): {v['help']}")
            lines.extend(f"    {node['target']}: {node.get('failureSummary', '')!r}" for node in v["nodes"][:5])
        pytest.fail("\n".join(lines), pytrace=False)
    return result


@functools.cache
def _axe_source() -> str:
    return AXE_JS.read_text(encoding="utf-8")


def check_no_horizontal_scroll(page: Page) -> None:
    """At a 390×844 viewport the document must not be wider than the window; names the elements that stick out."""
    page.set_viewport_size(MOBILE)  # type: ignore[arg-type]
    widths = page.evaluate(
        """() => {
            const root = document.documentElement, limit = root.clientWidth;
            const wide = [...document.body.querySelectorAll('*')]
                .filter(e => e.getBoundingClientRect().right > limit + 0.5)
                .slice(0, 5)
                .map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') +
                          (typeof e.className === 'string' && e.className ? '.' + e.className.trim() : '') +
                          ' (right edge ' + Math.round(e.getBoundingClientRect().right) + ')');
            return {scroll: root.scrollWidth, client: limit, wide};
        }"""
    )
    assert widths["scroll"] <= widths["client"], (
        f"{page.url} scrolls sideways at 390 px: scrollWidth {widths['scroll']} > clientWidth {widths['client']}; "
        f"too wide: {widths['wide']}"
    )


@functools.cache
def _screenshot_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="cliply-screenshots-"))


def screenshot(page: Page, name: str) -> Path:
    """A full-page PNG in a temporary folder; with UPDATE_SCREENSHOTS=1 also docs/screenshots/<name>.png."""
    path = _screenshot_dir() / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, SCREENSHOTS / f"{name}.png")
    return path
