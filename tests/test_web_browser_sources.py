"""The sources and clips pages in a real Chromium (Debian's package, driven by Playwright): the sources list with a
refused source and its reason, a video uploaded with the keyboard reaching the upload form, the new source's page, and
a clip's page with its player and thumbnail served by the workspace-checked routes. Each page passes axe-core's
WCAG 2 A/AA rules, shows no horizontal scrolling at 390×844 and loads nothing its CSP blocks; screenshots go to
docs/screenshots/sources-*.png, source-*.png and clip-*.png with UPDATE_SCREENSHOTS=1."""

from __future__ import annotations

import io
import re
from pathlib import Path

from PIL import Image
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import update

from cliply.store.models import Clip, Source
from cliply.store.repo import WorkspaceScope, get_or_create_workspace
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


def sign_in(page: Page, web: WebService) -> None:
    page.goto(web.url("/web/signin"))
    page.locator("input[name=token]").fill(web.token)
    page.locator("input[name=token]").press("Enter")
    expect(page).to_have_url(web.url("/web/"))


def seed(web: WebService, video: Path) -> str:
    """A ready source with one rendered clip (a real video and a thumbnail), a refused one and one in progress."""
    media = build_media_store(web.settings)
    with web.db.session() as s:
        scope = WorkspaceScope(s, get_or_create_workspace(s, WORKSPACE))
        scope.add_source("src_talk", "file", "talk.mp4", "Quarterly all-hands talk.mp4", status="ready")
        scope.add_source("src_short", "file", "short.mov", "holiday-clip.mov", status="rejected")
        scope.reject_source("src_short", "too_short", "the video is 0.4 s long; at least 1 s needed")
        podcast = "https://videos.example/podcast"
        scope.add_source("src_busy", "url", podcast, podcast, status="processing")
        clip = scope.replace_clips(
            "src_talk",
            [{"start_s": 12.0, "end_s": 16.0, "text": TEXT, "score": 88.4, "reasons": ["opens with a question"]}],
        )[0]
        clip_id = clip.id
        s.execute(update(Source).where(Source.id == "src_talk").values(duration_s=1843.0, width=1920, height=1080))
    thumb = io.BytesIO()
    Image.new("RGB", (540, 960), (30, 80, 140)).save(thumb, format="JPEG")
    video_key, thumb_key = f"clips/src_talk/{clip_id}.mp4", f"thumbnails/src_talk/{clip_id}.jpg"
    media.put_file(video_key, video, "video/mp4")
    media.put_bytes(thumb_key, thumb.getvalue(), content_type="image/jpeg")
    with web.db.session() as s:
        s.execute(
            update(Clip)
            .where(Clip.id == clip_id)
            .values(media_key=video_key, thumbnail_key=thumb_key, duration_s=4.0, width=1080, height=1920)
        )
    return clip_id


def test_sources_list_upload_by_keyboard_source_and_clip_pages(
    web: WebService, browser: Browser, small_clip: Path
) -> None:
    clip_id = seed(web, small_clip)
    page = new_page(browser, DESKTOP)
    sign_in(page, web)

    page.get_by_role("link", name="Sources", exact=True).click()
    expect(page).to_have_url(web.url("/web/sources"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Sources")
    expect(page.get_by_text("the video is 0.4 s long; at least 1 s needed (too_short)")).to_be_visible()
    check_page(page, "sources")

    tab_to(page, "#video")  # the keyboard reaches the upload form's file field, then its button
    page.set_input_files("#video", str(small_clip))
    tab_to(page, "button", text=re.compile("Upload"))
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(re.escape(web.url("/web/sources/src_")) + r"\w+$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("small.mp4")
    expect(page.get_by_text("Registered: its run starts")).to_be_visible()

    page.goto(web.url("/web/sources/src_talk"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Quarterly all-hands talk.mp4")
    expect(page.get_by_role("link", name="Clip 1", exact=True)).to_be_visible()
    check_page(page, "source")

    page.get_by_role("link", name="Clip 1", exact=True).click()
    expect(page).to_have_url(web.url(f"/web/clips/{clip_id}"))
    video = page.locator("video.sources-player")
    expect(video).to_have_attribute("src", f"/web/clips/{clip_id}/video")
    loaded = page.evaluate(
        """async () => {
            const img = document.querySelector('img.sources-thumb');
            if (!img.complete) await new Promise(r => img.addEventListener('load', r, {once: true}));
            const r = await fetch(document.querySelector('video').src, {headers: {Range: 'bytes=0-9'}});
            return {thumb: img.naturalWidth, status: r.status, bytes: (await r.arrayBuffer()).byteLength};
        }"""
    )
    assert loaded == {"thumb": 540, "status": 206, "bytes": 10}, loaded
    expect(page.get_by_text("opens with a question")).to_be_visible()
    expect(page.get_by_role("heading", name="Platform fit")).to_be_visible()
    check_page(page, "clip")

    other = new_page(browser, DESKTOP)  # signed out: the clip's media is not served
    other.goto(web.url(f"/web/clips/{clip_id}/video"))
    expect(other).to_have_url(web.url("/web/signin"))
