"""The posts list and the calendar in a real Chromium (Debian's package, driven by Playwright): the list with a failed
target and its reason, the time zone changed by keyboard alone, then the month, week and day views of a week with a
daylight-saving change, weeks navigated by keyboard, and the same post on the same local day and hour in each view.
Each page passes axe-core's WCAG 2 A/AA rules, shows no horizontal scrolling at 390×844 and loads nothing its CSP
blocks; screenshots go to docs/screenshots/posts-*.png and calendar-{month,week,day}-*.png with UPDATE_SCREENSHOTS=1."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from playwright.sync_api import Browser, Page, expect
from sqlalchemy import update

from cliply.platforms.models import Credentials
from cliply.publishing import ledger
from cliply.security.vault import KeyRing, TokenVault
from cliply.store.accounts import AccountsRepo
from cliply.store.models_publishing import PostTarget
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

LATE_SUNDAY = datetime(2026, 3, 9, 3, 30, tzinfo=UTC)  # Sunday 8 March 23:30 EDT, the day US clocks go forward


def seed(web: WebService) -> dict[str, str]:
    """A clip, two accounts and three posts: one late on the Sunday of the US clock change (already Monday in UTC),
    one whose target failed, one on the Wednesday after."""
    vault = TokenVault(KeyRing.from_settings(web.settings, web.settings.home))
    with web.db.session() as s:
        scope = WorkspaceScope(s, get_or_create_workspace(s, WORKSPACE))
        scope.add_source("src_talk", "file", "talk.mp4", "Quarterly all-hands talk.mp4", status="ready")
        clip = scope.replace_clips("src_talk", [{"start_s": 0.0, "end_s": 20.0, "text": "Interest on interest."}])[0]
        repo = AccountsRepo(scope, vault)
        yt = repo.connect("youtube", Credentials(access_token="a", refresh_token=None, account_id="yt1"), "northwind")
        tt = repo.connect("tiktok", Credentials(access_token="b", refresh_token=None, account_id="tt1"), "@northwind")
        posts = {}
        for key, at, caption in (
            ("late", LATE_SUNDAY, "Why compound interest wins: the Sunday night cut"),
            ("failed", datetime(2026, 3, 5, 14, 0, tzinfo=UTC), "Three habits of savers"),
            ("midweek", datetime(2026, 3, 11, 16, 0, tzinfo=UTC), "A question from the audience"),
        ):
            targets = [ledger.TargetSpec("youtube", yt.id), ledger.TargetSpec("tiktok", tt.id)]
            posts[key] = ledger.create_post(
                scope, clip_id=clip.id, targets=targets, scheduled_at=at, timezone="UTC", caption=caption
            ).id
        s.flush()
        s.execute(
            update(PostTarget)
            .where(PostTarget.post_id == posts["failed"], PostTarget.platform == "tiktok")
            .values(state="failed", error_class="permanent", error_message="the video is longer than 10 minutes")
        )
    return posts


def sign_in(page: Page, web: WebService) -> None:
    page.goto(web.url("/web/signin"))
    page.locator("input[name=token]").fill(web.token)
    page.locator("input[name=token]").press("Enter")
    expect(page).to_have_url(web.url("/web/"))


def day_and_slot(page: Page, post_id: str) -> tuple[str | None, str | None]:
    entry = page.locator(f'[data-post="{post_id}"]')
    expect(entry).to_have_count(1)
    found: list[str | None] = entry.evaluate(
        """e => [e.closest('[data-date]')?.dataset.date ?? null, e.closest('[data-local]')?.dataset.local ?? null]"""
    )
    return found[0], found[1]


def test_posts_list_zone_by_keyboard_and_calendar_views(web: WebService, browser: Browser) -> None:
    posts = seed(web)
    page = new_page(browser, DESKTOP)
    sign_in(page, web)

    page.get_by_role("link", name="Posts", exact=True).click()
    expect(page).to_have_url(web.url("/web/posts"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Posts")
    expect(page.get_by_text("failed (permanent): the video is longer than 10 minutes")).to_be_visible()

    tab_to(page, "#timezone")  # the zone picker, by keyboard alone
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.type("America/New_York")
    page.keyboard.press("Enter")
    expect(page).to_have_url(web.url("/web/posts"))
    expect(page.get_by_text("Times are shown in America/New_York").first).to_be_visible()
    expect(page.locator(f'[data-post="{posts["late"]}"] time').first).to_have_text("2026-03-08 23:30 EDT")
    check_page(page, "posts")

    page.goto(web.url("/web/calendar?view=month&date=2026-03-08"))
    expect(page.get_by_role("heading", name="March 2026", exact=True)).to_be_visible()
    assert day_and_slot(page, posts["late"]) == ("2026-03-08", None)
    check_page(page, "calendar-month")

    page.get_by_role("link", name="Week", exact=True).click()
    expect(page).to_have_url(web.url("/web/calendar?view=week&date=2026-03-08"))
    expect(page.get_by_role("heading", name="2 – 8 March 2026", exact=True)).to_be_visible()
    assert day_and_slot(page, posts["late"]) == ("2026-03-08", "2026-03-08T23:00")
    expect(page.get_by_text("it has 23 hours")).to_be_visible()
    check_page(page, "calendar-week")

    tab_to(page, "a", text=re.compile("Next week"))  # weeks by keyboard
    page.keyboard.press("Enter")
    expect(page).to_have_url(web.url("/web/calendar?view=week&date=2026-03-09"))
    expect(page.get_by_role("heading", name="9 – 15 March 2026", exact=True)).to_be_visible()
    expect(page.locator(f'[data-post="{posts["late"]}"]')).to_have_count(0)
    assert day_and_slot(page, posts["midweek"]) == ("2026-03-11", "2026-03-11T12:00")
    tab_to(page, "a", text=re.compile("Previous week"))
    page.keyboard.press("Enter")
    expect(page).to_have_url(web.url("/web/calendar?view=week&date=2026-03-02"))
    assert day_and_slot(page, posts["late"]) == ("2026-03-08", "2026-03-08T23:00")

    page.goto(web.url("/web/calendar?view=day&date=2026-03-08"))
    expect(page.get_by_role("heading", name="Sunday 8 March 2026", exact=True)).to_be_visible()
    assert day_and_slot(page, posts["late"]) == ("2026-03-08", "2026-03-08T23:00")
    schedule = page.get_by_role("link", name="Schedule a post on Sunday 8 March 2026 at 03:00 EDT")
    expect(schedule).to_have_attribute("href", "/web/posts/new?at=2026-03-08T03:00")
    check_page(page, "calendar-day")
