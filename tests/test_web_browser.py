"""The creators' web pages in a real Chromium (Debian's package, driven by Playwright): sign in with a workspace API key
by mouse and by keyboard alone, see the workspace's home, sign out and be refused, a wrong key refused and announced.
Every page passes axe-core's WCAG 2 A/AA rules, shows no horizontal scrolling at 390×844 and loads nothing its CSP
blocks; each is saved as a screenshot (mobile and desktop; docs/screenshots/ with UPDATE_SCREENSHOTS=1)."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser import (
    DESKTOP,
    MOBILE,
    WebService,
    browser_fixture,  # noqa: F401  (the `browser` fixture)
    check_axe,
    check_no_csp_violations,
    check_no_horizontal_scroll,
    new_page,
    screenshot,
    web_fixture,  # noqa: F401  (the `web` fixture)
)

SIGN_OUT = re.compile(r"sign\s*out", re.IGNORECASE)


def check_page(page: Page, name: str) -> None:
    """The checks every page passes, with its desktop (1280×800) and mobile (390×844) screenshots."""
    page.set_viewport_size(DESKTOP)  # type: ignore[arg-type]
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("h1")).to_have_count(1)
    check_axe(page)
    screenshot(page, f"{name}-desktop")
    check_no_horizontal_scroll(page)  # switches to 390×844
    check_axe(page)
    screenshot(page, f"{name}-mobile")
    check_no_csp_violations(page)
    page.set_viewport_size(DESKTOP)  # type: ignore[arg-type]


def session_cookie(page: Page) -> str:
    values = [c.get("value", "") for c in page.context.cookies() if c.get("name") == "cliply_session"]
    assert len(values) == 1 and values[0], f"expected one cliply_session cookie, got {len(values)}"
    return values[0]


def refused(web: WebService, cookie: str) -> bool:
    """A signed-out (or never signed-in) session cookie gets the sign-in page, not the home page."""
    r = httpx.get(web.url("/web/"), cookies={"cliply_session": cookie}, follow_redirects=False, timeout=30)
    return r.status_code == 303 and r.headers["location"].endswith("/web/signin")


def test_sign_in_by_mouse_see_the_home_page_then_sign_out_and_be_refused(web: WebService, browser: Browser) -> None:
    page = new_page(browser, DESKTOP)
    page.goto(web.url("/web/"))
    expect(page).to_have_url(web.url("/web/signin"))  # signed-out visitors are sent to sign in
    check_page(page, "signin")

    field = page.locator("input[name=token]")
    field.click()
    field.fill(web.token)
    page.locator("form").filter(has=field).locator("button[type=submit], input[type=submit]").click()

    expect(page).to_have_url(web.url("/web/"))
    expect(page.get_by_role("banner")).to_contain_text(web.workspace)
    expect(page.get_by_role("button", name=SIGN_OUT)).to_be_visible()
    check_page(page, "home")
    cookie = session_cookie(page)
    assert not refused(web, cookie)

    page.get_by_role("button", name=SIGN_OUT).click()
    expect(page).to_have_url(web.url("/web/signin"))
    page.goto(web.url("/web/"))
    expect(page).to_have_url(web.url("/web/signin"))
    expect(page.get_by_role("banner")).not_to_contain_text(web.workspace)
    assert refused(web, cookie), "the session still works after signing out: sign-out must end it on the server"


def test_sign_in_and_out_by_keyboard_alone(web: WebService, browser: Browser) -> None:
    page = new_page(browser, MOBILE)
    page.goto(web.url("/web/signin"))

    page.keyboard.press("Tab")
    first = page.evaluate("() => [document.activeElement.tagName, document.activeElement.textContent]")
    assert first[0] == "A" and re.search(r"skip", first[1], re.IGNORECASE), f"the first Tab stop is {first}"

    tab_to(page, "input[name=token]")
    page.keyboard.type(web.token)
    page.keyboard.press("Enter")
    expect(page).to_have_url(web.url("/web/"))
    expect(page.get_by_role("banner")).to_contain_text(web.workspace)

    tab_to(page, "button", text=SIGN_OUT)
    page.keyboard.press("Enter")
    expect(page).to_have_url(web.url("/web/signin"))
    page.goto(web.url("/web/"))
    expect(page).to_have_url(web.url("/web/signin"))


def tab_to(page: Page, selector: str, text: re.Pattern[str] | None = None, most: int = 30) -> None:
    """Press Tab until the focused element matches; each stop on the way must show where the focus is."""
    for _ in range(most):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            """([selector]) => {
                const e = document.activeElement, s = getComputedStyle(e);
                return {match: e.matches(selector), text: e.textContent || e.value || '',
                        tag: e.outerHTML.slice(0, 120),
                        visible: (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0)
                                 || s.boxShadow !== 'none'};
            }""",
            [selector],
        )
        assert focused["visible"], f"no visible focus on {focused['tag']}"
        if focused["match"] and (text is None or text.search(focused["text"])):
            return
    pytest.fail(f"{selector} ({text}) not reached with {most} presses of Tab on {page.url}")


def test_a_wrong_key_is_refused_and_announced(web: WebService, browser: Browser) -> None:
    page = new_page(browser, MOBILE)
    page.goto(web.url("/web/signin"))
    wrong = "not-a-key-" + web.token[::-1]
    field = page.locator("input[name=token]")
    field.fill(wrong)
    field.press("Enter")

    announced = page.locator("[role=alert], [aria-live=assertive], [aria-live=polite]").filter(
        has_text=re.compile(r"\w")
    )
    expect(announced.first).to_be_visible()
    assert page.url.startswith(web.url("/web/signin")), page.url
    assert wrong not in page.content(), "the refused key is echoed back into the page"
    sessions = [c.get("value", "") for c in page.context.cookies() if c.get("name") == "cliply_session"]
    assert all(refused(web, value) for value in sessions), "a refused key still got a working session"
    check_page(page, "signin-error")
    page.goto(web.url("/web/"))
    expect(page).to_have_url(web.url("/web/signin"))


GOOD_PAGE = """<!doctype html><html lang="en"><head><title>Fine</title></head><body>
<header><a href="#main">Skip to content</a></header><main id="main"><h1>Fine</h1>
<form><label for="t">Key</label><input id="t" name="token"><button>Sign in</button></form></main></body></html>"""


def test_the_page_checks_catch_what_they_are_for(browser: Browser) -> None:
    """axe, the 390 px width, CSP and visible-focus checks pass a sound page and fail pages that break them."""
    page = new_page(browser, MOBILE)
    page.set_content(GOOD_PAGE)
    assert check_axe(page)["violations"] == []
    check_no_horizontal_scroll(page)

    page.set_content(GOOD_PAGE.replace(' lang="en"', "").replace('<label for="t">Key</label>', ""))
    with pytest.raises(pytest.fail.Exception, match=r"html-has-lang \(serious\)[\s\S]*label \(critical\)"):
        check_axe(page)

    page.set_content(GOOD_PAGE.replace("<h1>Fine</h1>", '<h1 style="width: 600px">Fine</h1>'))
    with pytest.raises(AssertionError, match=r"scrollWidth 6\d\d > clientWidth 390; too wide: \['h1 "):
        check_no_horizontal_scroll(page)

    page.set_content(
        GOOD_PAGE.replace(
            "<head>",
            "<head><meta http-equiv='Content-Security-Policy' "
            "content=\"script-src 'self'\"><script>document.title = 'x'</script>",
        )
    )
    with pytest.raises(AssertionError, match="Content-Security-Policy blocked"):
        check_no_csp_violations(page)

    page = new_page(browser, MOBILE)
    page.set_content(GOOD_PAGE.replace("<title>", "<style>:focus { outline: none }</style><title>"))
    with pytest.raises(AssertionError, match="no visible focus"):
        tab_to(page, "input[name=token]")
