"""The analytics pages in a real Chromium (Debian's package, driven by Playwright): the overview with its platform
chart loaded, the CSV downloaded and a refused URL in the "Track a URL" form, both reached by keyboard alone, and a
tracked post's page with its chart of views and forecast band loaded and its data table. Each page passes axe-core's
WCAG 2 A/AA rules, shows no horizontal scrolling at 390×844 and loads nothing its CSP blocks; screenshots go to
docs/screenshots/analytics-*.png with UPDATE_SCREENSHOTS=1."""

from __future__ import annotations

import re
from datetime import timedelta

from playwright.sync_api import Browser, Page, expect

from cliply.platforms.models import Credentials
from cliply.security.vault import KeyRing, TokenVault
from cliply.store.accounts import AccountsRepo
from cliply.store.models import utcnow
from cliply.store.models_analytics import MetricSnapshot, TrackedPost
from cliply.store.repo import WorkspaceScope, get_or_create_workspace
from tests.browser import (
    DESKTOP,
    WORKSPACE,
    WebService,
    browser_fixture,  # noqa: F401  (the `browser` fixture)
    new_page,
    web_fixture,  # noqa: F401  (the `web` fixture)
)
from tests.test_web_browser import check_page, tab_to

REFUSED = "https://youtube.com.evil.example/watch?v=dQw4w9WgXcQ"


def sign_in(page: Page, web: WebService) -> None:
    page.goto(web.url("/web/signin"))
    page.locator("input[name=token]").fill(web.token)
    page.locator("input[name=token]").press("Enter")
    expect(page).to_have_url(web.url("/web/"))


def seed(web: WebService) -> int:
    """A TikTok post of a clip with 10 fetches (enough history for a forecast) and a Bluesky post without views."""
    now = utcnow()
    vault = TokenVault(KeyRing.from_settings(web.settings, web.settings.home))
    with web.db.session() as s:
        scope = WorkspaceScope(s, get_or_create_workspace(s, WORKSPACE))
        scope.add_source("src_talk", "file", "talk.mp4", "talk.mp4", status="ready")
        clip = scope.replace_clips("src_talk", [{"start_s": 0.0, "end_s": 20.0, "text": "Interest on interest."}])[0]
        creds = Credentials(access_token="tok", refresh_token=None, account_id="id-alice")
        alice = AccountsRepo(scope, vault).connect("tiktok", creds, "alice.creates").id
        ids = []
        for platform, post_id, views in (
            ("tiktok", "7301234567890123456", [int(1000 * (i + 1) ** 0.7) for i in range(10)]),
            ("bluesky", "3kq2xyzabc", [None] * 4),
        ):
            published = now - timedelta(minutes=15 * len(views))
            row = TrackedPost(
                workspace_id=scope.workspace_id,
                platform=platform,
                platform_post_id=post_id,
                account_id=alice if platform == "tiktok" else None,
                clip_id=clip.id,
                url=f"https://www.tiktok.com/@alice.creates/video/{post_id}" if platform == "tiktok" else None,
                origin="published",
                published_at=published,
                tracked_at=published,
                status="active",
                tier="ultra_hot",
                next_fetch_at=now + timedelta(minutes=5),
                last_fetched_at=now - timedelta(minutes=10),
                consecutive_failures=0,
            )
            s.add(row)
            s.flush()
            ids.append(row.id)
            for i, v in enumerate(views):
                s.add(
                    MetricSnapshot(
                        tracked_post_id=row.id,
                        workspace_id=scope.workspace_id,
                        fetched_at=published + timedelta(minutes=15 * (i + 1) - 10),
                        raw={},
                        granularity="raw",
                        views=v,
                        likes=(v or 40 * (i + 1)) // 10,
                        comments=2 * i,
                        shares=i,
                    )
                )
        return ids[0]


def image_width(page: Page, selector: str) -> int:
    """The natural width of the image once it has loaded (0 when it could not be loaded)."""
    width: int = page.evaluate(
        """async (selector) => {
            const img = document.querySelector(selector);
            if (!img.complete) await new Promise(r => {
                img.addEventListener('load', r, {once: true});
                img.addEventListener('error', r, {once: true});
            });
            return img.naturalWidth;
        }""",
        selector,
    )
    return width


def test_overview_csv_and_track_form_by_keyboard_and_a_post_with_its_chart(web: WebService, browser: Browser) -> None:
    tracked = seed(web)
    page = new_page(browser, DESKTOP)
    sign_in(page, web)

    page.get_by_role("link", name="Analytics", exact=True).click()
    expect(page).to_have_url(web.url("/web/analytics"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Analytics")
    assert image_width(page, "img.analytics-chart") == 900
    expect(page.get_by_role("cell", name="not available").first).to_be_visible()
    check_page(page, "analytics")

    tab_to(page, "#csv-link")  # the keyboard reaches the download
    with page.expect_download() as download:
        page.keyboard.press("Enter")
    assert download.value.suggested_filename == "cliply-analytics.csv"
    text = download.value.path().read_text(encoding="utf-8")
    assert text.startswith("tracked_post_id,platform,platform_post_id,")
    assert "7301234567890123456" in text and "alice.creates" in text

    tab_to(page, "#track-url")  # …and the track form: a refused address comes back with its reason
    page.keyboard.type(REFUSED)
    page.keyboard.press("Enter")
    expect(page.get_by_role("alert")).to_contain_text("This address was refused: not a post URL")
    expect(page.locator("#track-url")).to_have_value(REFUSED)

    page.get_by_role("link", name="TikTok post 7301234567890123456", exact=True).first.click()
    expect(page).to_have_url(web.url(f"/web/analytics/posts/{tracked}"))
    expect(page.get_by_role("heading", level=1)).to_have_text("TikTok post 7301234567890123456")
    chart = page.locator("img.analytics-chart")
    expect(chart).to_have_attribute("alt", re.compile(r"^Views over time: 10 fetches .* Forecast of views: \+1 h: "))
    assert image_width(page, "img.analytics-chart") == 900
    expect(page.get_by_role("row", name=re.compile(r"^\+3 h"))).to_be_visible()
    expect(page.get_by_role("heading", name="Every fetch")).to_be_visible()
    expect(page.get_by_text("fetched 10 min ago").first).to_be_visible()
    check_page(page, "analytics-post")

    other = new_page(browser, DESKTOP)  # signed out: no chart
    other.goto(web.url(f"/web/analytics/posts/{tracked}/chart.png"))
    expect(other).to_have_url(web.url("/web/signin"))
