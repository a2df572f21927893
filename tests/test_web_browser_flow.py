"""The creator's whole flow in a real Chromium (Debian's package, driven by Playwright) against the real stack: the
HTTP service, the platform sandbox and the real dagster-daemon on the project's workspace.yaml (tests/web_flow_stack).

Sign in; upload a short talk on the sources page and reload its page until the daemon has made it a clip; connect X
and LinkedIn through the OAuth click-through and Bluesky with its app-password form; open the calendar, follow the
next hour's "Schedule a post" link and compose the post to the three accounts by keyboard alone; see it in its
calendar slot; Publish now, and the daemon publishes it (X refuses it while a fault is scripted on the sandbox);
follow a published target's Metrics link until its first numbers and chart are in; clear the fault and Retry the
failed target, which then publishes; schedule a second post and cancel it; sign out, and the pages send the browser
to sign in. Every wait is bounded; nothing is published twice."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser import (
    DESKTOP,
    browser_fixture,  # noqa: F401  (the `browser` fixture)
    check_axe,
    check_no_horizontal_scroll,
    new_page,
)
from tests.test_http import bluesky_account
from tests.test_web_browser import tab_to
from tests.web_flow_stack import (
    BLUESKY_HANDLE,
    BLUESKY_PASSWORD,
    FlowStack,
    flow_stack_fixture,  # noqa: F401  (the `flow_stack` fixture)
)

pytestmark = pytest.mark.slow

PROCESS_WAIT_S = 300  # upload → rendered clip: the daemon's start, a sensor tick, transcription and one render
PUBLISH_WAIT_S = 120  # due → published: a sensor tick (15 s), a run's start and the uploads
METRICS_WAIT_S = 120  # published → first numbers: the metrics sensor's tick (15 s) and a refresh run
PLATFORMS = ("x", "linkedin", "bluesky")
NAMES = ("X", "LinkedIn", "Bluesky")
NO_NUMBERS = "No numbers fetched yet."
CAPTION = "The one idea from our team talk worth a minute #cliply"


def sign_in(page: Page, stack: FlowStack) -> None:
    web = stack.web
    page.goto(web.url("/web/"))
    expect(page).to_have_url(web.url("/web/signin"))
    page.get_by_label("Workspace API key").fill(web.token)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(web.url("/web/"))
    expect(page.get_by_role("banner")).to_contain_text(web.workspace)


def upload(page: Page, stack: FlowStack) -> str:
    """Upload the talk on the sources page; returns the new source's page URL."""
    page.get_by_role("link", name="Sources", exact=True).click()
    page.get_by_label("Video file").set_input_files(str(stack.video))
    page.get_by_role("button", name="Upload").click()
    expect(page).to_have_url(re.compile(re.escape(stack.web.url("/web/sources/src_")) + r"\w+$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text(stack.video.name)
    return page.url


def connect_oauth(page: Page, stack: FlowStack, name: str) -> None:
    """The click-through: Connect → the continue page → the sandbox's consent (allows at once) → the callback."""
    page.goto(stack.web.url("/web/accounts"))
    page.get_by_role("button", name=f"Connect {name}", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Continue to {name}")
    with page.expect_navigation(url=re.compile(r"/oauth/\w+/callback")):
        page.get_by_role("link", name=f"Continue to {name}").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Connected")


def connect_bluesky(page: Page, stack: FlowStack) -> None:
    bluesky_account(stack.sandbox, BLUESKY_HANDLE, BLUESKY_PASSWORD)
    page.goto(stack.web.url("/web/accounts"))
    page.get_by_label("Handle").fill(BLUESKY_HANDLE)
    page.get_by_label("App password").fill(BLUESKY_PASSWORD)
    page.get_by_role("button", name="Connect Bluesky").click()
    expect(page.get_by_role("status")).to_have_text(f"Bluesky account {BLUESKY_HANDLE} is connected.")


def wait_for_clip(page: Page, stack: FlowStack, source_url: str) -> str:
    """Reload the source's page until it is ready with its clip; returns the clip's id."""
    page.goto(source_url)
    clip = page.get_by_role("link", name="Clip 1", exact=True)

    def ready() -> bool:
        status = page.locator("#status-heading + p .badge").inner_text()
        if status in ("rejected", "failed"):
            pytest.fail(f"the upload was {status}: {page.locator('main').inner_text()}\n{stack.daemon.report()}")
        return status == "ready" and clip.count() == 1

    stack.reload_until(page, ready, PROCESS_WAIT_S, "the uploaded talk to become a rendered clip")
    href = clip.get_attribute("href") or ""
    assert href.startswith("/web/clips/"), href
    return href.rsplit("/", 1)[1]


def session_zone(page: Page) -> ZoneInfo:
    """The session's time zone, as the calendar page states it."""
    found = re.search(r"by their time in (\S+?)\.", page.locator("main").inner_text())
    assert found, "the calendar does not say its time zone"
    return ZoneInfo(found.group(1))


def schedule_from_calendar(page: Page, stack: FlowStack) -> tuple[str, str, ZoneInfo]:
    """Calendar → day view → the next hour's "Schedule a post" link → choose the clip → compose by keyboard alone,
    to the three accounts. Returns (post page URL, the slot's local time, the session's zone)."""
    page.get_by_role("link", name="Calendar", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Calendar")
    zone = session_zone(page)
    # The first full hour at least two minutes away: nothing starts publishing before "Publish now".
    slot = (datetime.now(zone) + timedelta(minutes=62)).replace(minute=0, second=0, microsecond=0)
    page.get_by_role("link", name="Day", exact=True).click()
    if slot.date() != datetime.now(zone).date():  # the next hour is tomorrow
        page.get_by_role("link", name="Next day").click()
    page.get_by_role("link", name=re.compile(rf"^Schedule a post on .* at {slot:%H:%M}\b")).click()
    at = f"{slot:%Y-%m-%dT%H:%M}"
    expect(page).to_have_url(stack.web.url(f"/web/posts/new?at={at}"))

    # Keyboard alone from here: choose the clip, then the time, the accounts and a caption.
    expect(page.get_by_role("heading", level=1)).to_have_text("New post")
    tab_to(page, "select#clip", most=40)
    tab_to(page, "button", text=re.compile(r"^Continue$"))
    page.keyboard.press("Enter")
    expect(page.get_by_role("textbox", name=re.compile(r"^Date and time"))).to_have_value(at)
    boxes = page.locator("input[type=checkbox][data-platform]")
    order = boxes.evaluate_all("all => all.map(b => b.dataset.platform)")
    assert sorted(order) == sorted(PLATFORMS), order
    for platform in order:  # in the page's order: Tab only moves forward
        tab_to(page, f"input[type=checkbox][data-platform={platform}]", most=60)
        page.keyboard.press("Space")
        expect(page.locator(f"input[type=checkbox][data-platform={platform}]")).to_be_checked()
    tab_to(page, "textarea#caption-x", most=40)
    page.keyboard.press("ControlOrMeta+A")
    page.keyboard.type(CAPTION)
    tab_to(page, "button", text=re.compile(r"^Schedule the post$"), most=60)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(re.escape(stack.web.url("/web/posts/")) + r"[^/?]+\?done=created$"))
    expect(page.get_by_role("status")).to_have_text("The post is scheduled.")
    return page.url.split("?", 1)[0], at, zone


def target_states(page: Page) -> dict[str, tuple[str, str]]:
    """platform name → (target id, state label) as the post page lists them."""
    out = {}
    for item in page.locator("li.post-target").all():
        name = item.locator("strong").first.inner_text()
        out[name] = ((item.get_attribute("id") or "").removeprefix("target-"), item.locator(".badge").inner_text())
    return out


def wait_for_states(page: Page, stack: FlowStack, wanted: dict[str, str], what: str) -> dict[str, tuple[str, str]]:
    def settled() -> dict[str, tuple[str, str]] | None:
        states = target_states(page)
        return states if {n: s for n, (_, s) in states.items()} == wanted else None

    return stack.reload_until(page, settled, PUBLISH_WAIT_S, what)


def see_chart(page: Page, stack: FlowStack, name: str) -> None:
    """The target's Metrics link → its tracked post page; reload until the first numbers are in, then the chart."""
    page.get_by_role("link", name=f"Metrics of the {name} post").click()
    tracked = re.compile(re.escape(stack.web.url("/web/analytics/posts/")) + r"\d+$")
    history = page.get_by_role("heading", name="Every fetch")

    def fetched() -> bool:  # until then: the "not in yet" page, or the tracked post page without numbers
        return bool(tracked.match(page.url)) and history.count() == 1 and page.get_by_text(NO_NUMBERS).count() == 0

    stack.reload_until(page, fetched, METRICS_WAIT_S, f"the {name} post's first metrics")
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"{name} post")
    chart = page.locator("main img[src$='/chart.png']")
    expect(chart).to_have_attribute("alt", re.compile(r"\w"))
    width = chart.evaluate(
        "img => img.complete ? img.naturalWidth"
        " : new Promise(r => { img.onload = () => r(img.naturalWidth); img.onerror = () => r(0); })"
    )
    assert width > 0, f"the chart on {page.url} did not load"


def test_creator_flow_upload_connect_schedule_publish_chart_cancel_retry_sign_out(
    flow_stack: FlowStack, browser: Browser
) -> None:
    stack = flow_stack
    page = new_page(browser, DESKTOP)
    sign_in(page, stack)
    source_url = upload(page, stack)

    # While the daemon processes the upload: three accounts.
    connect_oauth(page, stack, "X")
    connect_oauth(page, stack, "LinkedIn")
    connect_bluesky(page, stack)
    page.goto(stack.web.url("/web/accounts"))
    rows = page.locator("li.account").all_inner_texts()
    assert len(rows) == 3 and all("Connected" in r for r in rows), rows

    clip_id = wait_for_clip(page, stack, source_url)
    stack.sandbox.fault("x", "content_rejected", "create_tweet", times=-1)  # scripted on the sandbox

    # Scheduled from the calendar for the next hour; it shows in that hour's slot.
    post_url, at, zone = schedule_from_calendar(page, stack)
    expect(page.locator("main")).to_contain_text(stack.video.name)
    assert {n: s for n, (_, s) in target_states(page).items()} == dict.fromkeys(NAMES, "Scheduled")
    page.goto(stack.web.url(f"/web/calendar?view=day&date={at[:10]}"))
    post_id = post_url.rsplit("/", 1)[1]
    expect(page.locator(f'li.calendar-slot[data-local="{at}"] li.calendar-post[data-post="{post_id}"]')).to_have_count(
        1
    )

    # Publish now hands the post to the daemon; X refuses the tweet until the fault is cleared.
    page.goto(post_url)
    page.get_by_role("button", name="Publish now").click()
    expect(page.get_by_role("status")).to_contain_text("due now")
    states = wait_for_states(
        page, stack, {"X": "Failed", "LinkedIn": "Published", "Bluesky": "Published"}, "the daemon to publish"
    )
    expect(page.locator(f"#target-{states['X'][0]} .why")).to_contain_text("rejected")
    published = [p for p in stack.sandbox.state.posts_for() if p.platform in ("linkedin", "bluesky")]
    assert len(published) == 2 and not stack.sandbox.state.posts_for("x"), published
    check_axe(page)  # the post page with a failed target and its Retry button
    check_no_horizontal_scroll(page)
    page.set_viewport_size(DESKTOP)  # type: ignore[arg-type]

    # The fault cleared, Retry: the X target is due again (the daemon takes it while the metrics come in).
    httpx.delete(f"{stack.sandbox.base}/_sandbox/faults", timeout=10).raise_for_status()
    page.get_by_role("button", name="Retry X").click()
    expect(page.get_by_role("status")).to_have_text("The target is due again now; publishing starts within a minute.")

    see_chart(page, stack, "LinkedIn")

    page.goto(post_url)
    wait_for_states(page, stack, dict.fromkeys(NAMES, "Published"), "the retried X target to publish")
    [tweet] = stack.sandbox.state.posts_for("x")
    assert CAPTION in str(tweet.payload), tweet.payload  # the caption typed in the compose form

    # A second post, for tomorrow, cancelled before it starts: nothing more reaches the platforms.
    page.goto(stack.web.url(f"/web/posts/new?clip={clip_id}"))
    tomorrow = datetime.now(zone) + timedelta(days=1)
    page.get_by_role("textbox", name=re.compile(r"^Date and time")).fill(f"{tomorrow:%Y-%m-%dT%H}:00")
    page.locator("input[type=checkbox][data-platform=linkedin]").check()
    page.get_by_role("button", name="Schedule the post").click()
    expect(page.get_by_role("status")).to_have_text("The post is scheduled.")
    page.get_by_role("button", name="Cancel the post").click()
    expect(page.get_by_role("status")).to_contain_text("The post was cancelled")
    assert {n: s for n, (_, s) in target_states(page).items()} == {"LinkedIn": "Cancelled"}
    expect(page.get_by_role("button", name="Publish now")).to_have_count(0)
    cancelled_url = page.url.split("?", 1)[0]

    # Signed out, the pages send the browser to sign in.
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(stack.web.url("/web/signin"))
    for url in (post_url, cancelled_url, stack.web.url("/web/calendar")):
        page.goto(url)
        expect(page).to_have_url(stack.web.url("/web/signin"))
    assert len(stack.sandbox.state.posts_for()) == 3
