"""The experiments pages in a real Chromium (Debian's package, driven by Playwright): an experiment started from the
form by keyboard alone (a refusal first, shown at its field), followed on its page and stopped; a decided
experiment's page with its arms, probability bars and chart, and its winner applied by keyboard. Each page passes
axe-core's WCAG 2 A/AA rules, shows no horizontal scrolling at 390×844 and loads nothing its CSP blocks;
screenshots go to docs/screenshots/experiments-*.png and experiment-*.png with UPDATE_SCREENSHOTS=1."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import Browser, Page, expect

from cliply import wiring
from cliply.experiments import service
from cliply.experiments.service import ExperimentSpec
from cliply.platforms.models import Credentials
from cliply.security.vault import KeyRing, TokenVault
from cliply.store.accounts import AccountsRepo
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
from tests.test_web_experiments import decide_in

TEXT = "Compound interest is the engine of wealth. Interest on interest grows your savings every single year."
A_TEXT, B_TEXT = "Money grows while you sleep", "Interest on interest, explained"


def seed(web: WebService) -> tuple[str, dict[str, int], dict[str, Any]]:
    """A ready clip, a YouTube and an X account, and an experiment on the clip decided by a real evaluation."""
    vault = TokenVault(KeyRing.from_settings(web.settings, web.settings.home))
    accounts = {}
    with web.db.session() as s:
        scope = WorkspaceScope(s, get_or_create_workspace(s, WORKSPACE))
        scope.add_source("src_talk", "file", "talk.mp4", "Quarterly all-hands talk.mp4", status="ready")
        clip = scope.replace_clips("src_talk", [{"start_s": 12.0, "end_s": 32.0, "text": TEXT, "score": 88.4}])[0]
        clip_id = clip.id
        for platform, handle in (("youtube", "northwind-channel"), ("x", "northwind_x")):
            creds = Credentials(access_token="tok-" + handle, refresh_token="ref", account_id="id-" + handle)
            accounts[platform] = AccountsRepo(scope, vault).connect(platform, creds, handle).id
    app = wiring.cliply(web.settings, db=web.db, vault=vault)
    spec = ExperimentSpec(
        clip_id=clip_id,
        kind="caption",
        variants=("Save a little every month", "Your money, working while you sleep"),
        targets=(("youtube", accounts["youtube"]), ("x", accounts["x"])),
        posts_per_arm=5,
        rule={"min_days": 1},
        seed=42,
        name="Spring captions",
    )
    decided = decide_in(app, web.db, service.create_experiment(app, WORKSPACE, spec), {"A": 100.0, "B": 300.0})
    assert decided["status"] == "winner" and decided["winner"] == "B", decided["reason"]
    return clip_id, accounts, decided


def sign_in(page: Page, web: WebService) -> None:
    page.goto(web.url("/web/signin"))
    page.locator("input[name=token]").fill(web.token)
    page.locator("input[name=token]").press("Enter")
    expect(page).to_have_url(web.url("/web/"))


def test_start_follow_stop_and_apply_an_experiment_by_keyboard(web: WebService, browser: Browser) -> None:
    clip_id, accounts, decided = seed(web)
    page = new_page(browser, DESKTOP)
    sign_in(page, web)

    tab_to(page, "a", text=re.compile(r"^Experiments$"))
    page.keyboard.press("Enter")
    expect(page).to_have_url(web.url("/web/experiments"))
    expect(page.locator("li.exp-row")).to_have_count(1)
    expect(page.locator("li.exp-row")).to_contain_text("Arm B won")
    check_page(page, "experiments")

    tab_to(page, "a", text=re.compile(r"^New experiment$"))
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_have_text("New experiment")
    tab_to(page, "select#clip")
    page.keyboard.type("Q")  # the option starting with the source's name
    expect(page.locator("select#clip")).to_have_value(clip_id)
    tab_to(page, "textarea#variant_a")
    page.keyboard.type(A_TEXT)
    tab_to(page, "textarea#variant_b")
    page.keyboard.type(B_TEXT)
    tab_to(page, "input#name")
    page.keyboard.type("Evening captions")
    tab_to(page, "button", text=re.compile(r"Start the experiment"))
    page.keyboard.press("Enter")  # no account ticked: refused at that field, the rest kept
    expect(page.locator("#form-errors")).to_be_visible()
    expect(page.locator("#err-targets")).to_have_text("Tick at least one account.")
    expect(page.locator("textarea#variant_b")).to_have_value(B_TEXT)
    expect(page.locator("input#name")).to_have_value("Evening captions")
    check_page(page, "experiments-new-error")

    for _ in accounts:  # tick both accounts, in the order the form lists them
        tab_to(page, "input[type=checkbox][id^=target-]:not(:checked)")
        page.keyboard.press("Space")
    for account_id in accounts.values():
        expect(page.locator(f"input#target-{account_id}")).to_be_checked()
    check_page(page, "experiments-new")
    tab_to(page, "button", text=re.compile(r"Start the experiment"))
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/web/experiments/exp_[0-9a-f]+$"))
    expect(page.locator("h1")).to_have_text("Experiment Evening captions")
    expect(page.locator("#decision-heading + p")).to_contain_text("Still running")
    expect(page.locator("li.exp-arm")).to_have_count(2)
    expect(page.locator("li.exp-arm").first).to_contain_text(A_TEXT)
    expect(page.locator("li.exp-arm").first).to_contain_text("0 of 5 measured")

    tab_to(page, "button", text=re.compile(r"Stop the experiment"))
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_have_text(
        "The experiment is stopped: its posts that had not been published were cancelled."
    )

    tab_to(page, "a", text=re.compile(r"^All experiments$"))
    page.keyboard.press("Enter")
    expect(page.locator("li.exp-row")).to_have_count(2)
    tab_to(page, "a", text=re.compile(r"^Spring captions$"))
    page.keyboard.press("Enter")
    expect(page).to_have_url(web.url(f"/web/experiments/{decided['id']}"))
    expect(page.locator("li.exp-arm").nth(1)).to_contain_text("winner")
    chart = page.locator("img.exp-chart")
    expect(chart).to_have_attribute("alt", re.compile(r"Arm B: mean .*P\(best\) .*5 of 5 posts measured"))
    page.wait_for_function("() => document.querySelector('img.exp-chart').complete")
    assert page.evaluate("() => document.querySelector('img.exp-chart').naturalWidth") == 700  # the PNG loaded
    fill = page.locator("li.exp-arm").nth(1).locator(".exp-fill")
    assert fill.evaluate("e => e.getBoundingClientRect().width") > 0.9 * page.locator(".exp-bar").nth(1).evaluate(
        "e => e.getBoundingClientRect().width - 2"
    )  # the winner's bar is drawn (near) full by its CSS class
    check_page(page, "experiment")

    tab_to(page, "button", text=re.compile(r"Apply the winner, arm B"))
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_have_text(
        re.compile(r"^Applied arm B \(Your money, working while you sleep\) to \d+ scheduled posts?\.$")
    )
