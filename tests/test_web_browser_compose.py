"""Composing posts in a real Chromium (Debian's package, driven by Playwright): a post composed by keyboard alone, with
the caption sections of the chosen platforms appearing and the live counters changing as you type (counted by the
server), scheduled and shown on its post page, then edited; bulk scheduling of several clips; a post with a published
and a failed target. Each page passes axe-core's WCAG 2 A/AA rules, shows no horizontal scrolling at 390×844 and
loads nothing its CSP blocks; screenshots go to docs/screenshots/compose-*.png, post-*.png, post-edit-*.png, bulk-*.png
and bulk-done-*.png with UPDATE_SCREENSHOTS=1."""

from __future__ import annotations

import io
import re
from datetime import timedelta

from PIL import Image
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select, update

from cliply.platforms.models import Credentials
from cliply.publishing import ledger
from cliply.security.vault import KeyRing, TokenVault
from cliply.store.accounts import AccountsRepo
from cliply.store.models import Clip, Source, utcnow
from cliply.store.models_publishing import Post, PostTarget
from cliply.store.repo import WorkspaceScope, get_or_create_workspace
from cliply.web.pages_compose import CAPTION_RULES
from cliply.wiring import build_media_store
from tests.browser import (
    DESKTOP,
    WORKSPACE,
    WebService,
    browser_fixture,  # noqa: F401  (the `browser` fixture)
    new_page,
    web_fixture,  # noqa: F401  (the `web` fixture)
)
from tests.test_web_browser import check_page, tab_to

TEXT = "Compound interest is the engine of wealth. Interest on interest grows your savings every single year."


def seed(web: WebService, clips: int = 1) -> tuple[list[str], dict[str, int]]:
    """A ready source with clips (the first with a thumbnail) and X, TikTok and Bluesky accounts."""
    vault = TokenVault(KeyRing.from_settings(web.settings, web.settings.home))
    with web.db.session() as s:
        scope = WorkspaceScope(s, get_or_create_workspace(s, WORKSPACE))
        scope.add_source("src_talk", "file", "talk.mp4", "Quarterly all-hands talk.mp4", status="ready")
        rows = scope.replace_clips(
            "src_talk",
            [{"start_s": i * 20.0, "end_s": i * 20.0 + 15, "text": TEXT, "score": 90.0 - i} for i in range(clips)],
        )
        clip_ids = [c.id for c in rows]
        repo = AccountsRepo(scope, vault)
        accounts = {
            p: repo.connect(p, Credentials(access_token=f"tok-{p}", account_id=f"id-{p}"), handle).id
            for p, handle in (("x", "northwind_x"), ("tiktok", "northwind.tt"), ("bluesky", "northwind.bsky.social"))
        }
    thumb = io.BytesIO()
    Image.new("RGB", (540, 960), (30, 80, 140)).save(thumb, format="JPEG")
    key = f"thumbnails/src_talk/{clip_ids[0]}.jpg"
    build_media_store(web.settings).put_bytes(key, thumb.getvalue(), content_type="image/jpeg")
    with web.db.session() as s:
        s.execute(update(Clip).where(Clip.id == clip_ids[0]).values(thumbnail_key=key))
        s.execute(update(Source).where(Source.id == "src_talk").values(duration_s=1843.0))
    return clip_ids, accounts


def sign_in(page: Page, web: WebService) -> None:
    page.goto(web.url("/web/signin"))
    page.locator("input[name=token]").fill(web.token)
    page.locator("input[name=token]").press("Enter")
    expect(page).to_have_url(web.url("/web/"))


def counted(platform: str, text: str) -> str:
    """The counter line the server answers for `text` on `platform`."""
    rule = CAPTION_RULES[platform]
    return f"{rule.count(text)} / {rule.limit({})} {rule.unit}"


def test_compose_by_keyboard_with_live_counters_then_the_post_and_its_edit(web: WebService, browser: Browser) -> None:
    [clip_id], accounts = seed(web)
    page = new_page(browser, DESKTOP)
    sign_in(page, web)
    at = (utcnow() + timedelta(days=7)).strftime("%Y-%m-%dT09:30")
    page.goto(web.url(f"/web/posts/new?clip={clip_id}&at={at}"))
    expect(page.get_by_role("heading", level=1)).to_have_text("New post")
    x_section, tiktok_section = page.locator("#platform-x"), page.locator("#platform-tiktok")
    expect(x_section).to_be_hidden()  # no account chosen yet: no caption to write
    expect(page.locator("#at")).to_have_value(at)

    tab_to(page, f"#account-{accounts['tiktok']}")  # TikTok is listed before X
    page.keyboard.press("Space")
    expect(tiktok_section).to_be_visible()
    expect(x_section).to_be_hidden()
    tab_to(page, f"#account-{accounts['x']}")
    page.keyboard.press("Space")
    expect(x_section).to_be_visible()
    expect(page.locator("#platform-bluesky")).to_be_hidden()

    tab_to(page, "#caption-tiktok")
    page.keyboard.press("ControlOrMeta+End")
    page.keyboard.type(" #compounding")
    tiktok_text = page.locator("#caption-tiktok").input_value()
    assert tiktok_text.endswith(" #compounding")
    expect(page.locator("#count-tiktok")).to_have_text(counted("tiktok", tiktok_text))
    tab_to(page, "#opt-tiktok-privacy")
    page.keyboard.press("ArrowDown")  # the first level after "Choose…"
    expect(page.locator("#opt-tiktok-privacy")).to_have_value("PUBLIC_TO_EVERYONE")

    tab_to(page, "#caption-x")
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.press("Delete")
    typed = "Money grows 📈 on interest: read https://example.com/compound-interest-explained-in-depth now"
    page.keyboard.type(typed)
    count_x = page.locator("#count-x")
    expect(count_x).to_have_text(counted("x", typed))  # the URL weighs 23 and the emoji 2, as X counts
    page.keyboard.insert_text(" and more" * 30)  # a paste
    expect(count_x).to_have_text(counted("x", typed + " and more" * 30) + ": too long")
    expect(count_x).to_have_class(re.compile(r"compose-over"))
    expect(page.locator("#problems-x li")).to_have_count(1)
    page.keyboard.press("ControlOrMeta+z")  # undo the paste
    expect(count_x).to_have_text(counted("x", typed))
    expect(page.locator("#problems-x li")).to_have_count(0)
    check_page(page, "compose")

    tab_to(page, "button[type=submit]", re.compile("Schedule the post"))
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/web/posts/post_[^/?]+\?done=created$"))
    expect(page.get_by_role("status")).to_have_text("The post is scheduled.")
    with web.db.reading() as s:
        post = s.scalars(select(Post)).one()
        targets = {t.platform: t for t in s.scalars(select(PostTarget))}
    assert targets["x"].caption == typed and targets["tiktok"].caption == tiktok_text
    assert targets["tiktok"].options == {"privacy": "PUBLIC_TO_EVERYONE"}
    expect(page.get_by_text(typed)).to_be_visible()
    check_page(page, "post")

    tab_to(page, "a", re.compile("^Edit$"))
    page.keyboard.press("Enter")
    expect(page).to_have_url(web.url(f"/web/posts/{post.id}/edit"))
    expect(page.locator("#count-x")).to_have_text(counted("x", typed))
    tab_to(page, "#caption-x")
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.type("Shorter now")
    expect(page.locator("#count-x")).to_have_text(counted("x", "Shorter now"))
    check_page(page, "post-edit")
    tab_to(page, "button[type=submit]", re.compile("Save the changes"))
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_have_text("The post was changed.")
    expect(page.get_by_text("Shorter now")).to_be_visible()


def test_bulk_schedule_and_a_post_with_a_failed_and_a_published_target(web: WebService, browser: Browser) -> None:
    clip_ids, accounts = seed(web, clips=3)
    page = new_page(browser, DESKTOP)
    sign_in(page, web)
    page.goto(web.url("/web/posts/bulk"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Bulk schedule")
    for clip_id in clip_ids:
        page.locator(f"#clip-{clip_id}").check()
    page.locator(f"#account-{accounts['x']}").check()
    page.locator(f"#account-{accounts['bluesky']}").check()
    page.locator("#every").fill("90")
    check_page(page, "bulk")
    page.get_by_role("button", name="Schedule the clips").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Posts scheduled")
    expect(page.get_by_role("status")).to_contain_text("3 posts scheduled")
    expect(page.locator("ol.items li")).to_have_count(3)
    check_page(page, "bulk-done")

    now = utcnow()
    with web.db.session() as s:
        scope = WorkspaceScope(s, get_or_create_workspace(s, WORKSPACE))
        post = ledger.create_post(
            scope,
            clip_id=clip_ids[0],
            targets=[
                ledger.TargetSpec("x", accounts["x"], caption="Compound interest, explained #money"),
                ledger.TargetSpec("bluesky", accounts["bluesky"], caption="Compound interest, explained"),
            ],
            scheduled_at=now - timedelta(hours=2),
            timezone="UTC",
            caption="Compound interest, explained",
        )
        post_id = post.id
        s.flush()
        s.execute(
            update(PostTarget)
            .where(PostTarget.post_id == post_id, PostTarget.platform == "x")
            .values(state="published", url="https://x.com/northwind_x/status/1234567890", published_at=now)
        )
        s.execute(
            update(PostTarget)
            .where(PostTarget.post_id == post_id, PostTarget.platform == "bluesky")
            .values(state="failed", error_class="auth_reconnect", error_message="the app password was revoked")
        )
        ledger.refresh_aggregate(s, post_id)
    page.goto(web.url(f"/web/posts/{post_id}"))
    expect(page.get_by_text("auth_reconnect: the app password was revoked")).to_be_visible()
    expect(page.get_by_role("link", name=re.compile("^Metrics"))).to_have_count(1)
    check_page(page, "post-failed")
    page.get_by_role("button", name=re.compile("^Retry")).click()
    expect(page.get_by_role("status")).to_contain_text("The target is due again now")
    expect(page.get_by_role("button", name=re.compile("^Retry"))).to_have_count(0)
