"""The sources and clips pages through the real Starlette app on SQLite: the sources list with statuses, durations,
clip counts and refusal reasons; a video uploaded into the workspace (CSRF required, size capped, its file name never
used as a path); a refused URL import with its one-line reason; a source's stage and clips; a clip's player,
thumbnail, score, reasons, transcript excerpt and platform fit, its media served with Range support; hostile names
and texts rendered inert; another workspace's sources and clips (pages and media) a 404 page."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image
from sqlalchemy import update

from cliply.storage.media_store import MediaStore
from cliply.store.models import Clip, Source
from cliply.store.repo import WorkspaceScope, get_or_create_workspace
from cliply.web.templating import ENV
from cliply.wiring import build_media_store
from tests.test_web_auth import Web, form_csrf, is_signin_redirect, signed_in, web  # noqa: F401
from tests.test_web_pages import XSS_NAME, XSS_REASON, headers_ok, markup_ok, source

XSS_TEXT = '</blockquote><script>alert("text")</script>'


def escape(text: str) -> str:
    """As the pages' templates write it."""
    return ENV.from_string("{{ text }}").render(text=text)


def store(web: Web) -> MediaStore:
    return build_media_store(web.env.settings)


def sources_of(web: Web, ws: str) -> list[Source]:
    with web.env.db.reading() as s:
        scope = WorkspaceScope(s, get_or_create_workspace(s, ws))
        rows = scope.list_sources()
        s.expunge_all()
        return rows


def thumbnail_bytes() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (90, 160), (40, 90, 160)).save(out, format="JPEG")
    return out.getvalue()


def give_media(web: Web, ws: str, video: Path | bytes, **clip: object) -> str:
    """Store a video and a thumbnail for the workspace's seeded clip; returns the clip id."""
    clip_id = web.clips[ws]
    media = store(web)
    video_key, thumb_key = f"clips/src_{ws}/{clip_id}.mp4", f"thumbnails/src_{ws}/{clip_id}.jpg"
    if isinstance(video, Path):
        media.put_file(video_key, video, "video/mp4")
    else:
        media.put_bytes(video_key, video, content_type="video/mp4")
    media.put_bytes(thumb_key, thumbnail_bytes(), content_type="image/jpeg")
    with web.env.db.session() as s:
        s.execute(update(Clip).where(Clip.id == clip_id).values(media_key=video_key, thumbnail_key=thumb_key, **clip))
    return clip_id


def test_the_sources_list_shows_status_duration_clips_and_why_one_was_refused(web: Web) -> None:
    source(web, "acme", "src_bad", "holiday.mov", "rejected", "the video is shorter than 30 seconds")
    source(web, "acme", "src_busy", "podcast.mp4", "processing")
    with web.env.db.session() as s:
        s.execute(update(Source).where(Source.id == "src_acme").values(duration_s=754.4))
    signed_in(web.http, web.tokens["acme"])
    r = web.http.get("/web/sources")
    assert r.status_code == 200
    headers_ok(r, page=True)
    markup_ok(r.text)
    html = r.text
    assert '<a href="/web/sources" aria-current="page">Sources</a>' in html
    bad = html[html.index("holiday.mov") :]
    assert "rejected" in bad[:400] and "the video is shorter than 30 seconds (too_short)" in bad[:600]
    busy = html[html.index("podcast.mp4") :]
    assert "processing" in busy[:300] and "0 clips" in busy[:300]
    ready = html[html.index("acme.mp4") :]
    assert "ready" in ready[:300] and "1 clip " in ready[:300] and "12 min 34 s" in ready[:300]
    assert html.index("podcast.mp4") < html.index("acme.mp4")  # newest first
    assert 'action="/web/sources/upload" enctype="multipart/form-data"' in html
    assert 'action="/web/sources/import"' in html
    assert html.count(f'name="csrf" value="{form_csrf(html)}"') == 3  # sign-out, upload and import
    assert "globex" not in html


def test_a_video_is_uploaded_into_the_workspace_with_its_csrf_token(web: Web, small_clip: Path) -> None:
    signed_in(web.http, web.tokens["acme"])
    token = form_csrf(web.http.get("/web/sources").text)
    before = {s.id for s in sources_of(web, "acme")}
    r = web.http.post(
        "/web/sources/upload",
        data={"csrf": token},
        files={"video": ("../../../etc/My talk.MP4", small_clip.read_bytes(), "video/mp4")},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    new = [s for s in sources_of(web, "acme") if s.id not in before]
    assert len(new) == 1 and r.headers["location"] == f"/web/sources/{new[0].id}"
    src = new[0]
    assert src.original_name == "My talk.mp4" and src.origin == "file" and src.status == "registered"
    assert src.media_key == f"sources/{src.id}/source.mp4"
    assert store(web).get_bytes(src.media_key) == small_clip.read_bytes()
    page = web.http.get(r.headers["location"])
    assert page.status_code == 200 and "My talk.mp4" in page.text and "Registered" in page.text
    markup_ok(page.text)
    assert [s.id for s in sources_of(web, "globex")] == ["src_globex"]  # nothing landed in the other workspace


def test_an_upload_without_its_csrf_token_is_refused_and_stores_nothing(web: Web, small_clip: Path) -> None:
    signed_in(web.http, web.tokens["acme"])
    before = len(sources_of(web, "acme"))
    files = {"video": ("talk.mp4", small_clip.read_bytes(), "video/mp4")}
    for data in ({}, {"csrf": "wrong"}):
        r = web.http.post("/web/sources/upload", data=data, files=files, follow_redirects=False)
        assert r.status_code == 403 and "security token" in r.text
    urlencoded = web.http.post("/web/sources/upload", data={"csrf": "x"}, follow_redirects=False)
    assert urlencoded.status_code == 403
    assert len(sources_of(web, "acme")) == before
    with web.client() as stranger:  # signed out: the sign-in page, nothing stored
        r = stranger.post("/web/sources/upload", files=files, follow_redirects=False)
        assert is_signin_redirect(r)
    assert len(sources_of(web, "acme")) == before


def test_refused_uploads_say_why(web: Web) -> None:
    signed_in(web.http, web.tokens["acme"])
    token = form_csrf(web.http.get("/web/sources").text)
    text = web.http.post(
        "/web/sources/upload", data={"csrf": token}, files={"video": ("notes.txt", b"hello", "text/plain")}
    )
    assert text.status_code == 400 and "filename must be a video" in text.text
    markup_ok(text.text)
    fake = web.http.post(
        "/web/sources/upload", data={"csrf": token}, files={"video": ("fake.mp4", b"not a video" * 100, "video/mp4")}
    )
    assert fake.status_code == 400 and 'role="alert" id="upload-error"' in fake.text
    rejected = [s for s in sources_of(web, "acme") if s.status == "rejected"]
    assert len(rejected) == 1 and rejected[0].original_name == "fake.mp4"
    assert rejected[0].reject_reason and escape(rejected[0].reject_reason) in fake.text  # its one-line reason
    none = web.http.post("/web/sources/upload", data={"csrf": token}, files={"other": ("a.mp4", b"x", "video/mp4")})
    assert none.status_code == 400 and "Choose a video file" in none.text


def test_an_upload_over_the_size_cap_is_refused(web: Web, small_clip: Path) -> None:
    settings = web.env.settings.model_copy(update={"max_download_bytes": 50_000})
    with web.client(settings) as http:
        signed_in(http, web.tokens["acme"])
        token = form_csrf(http.get("/web/sources").text)
        before = len(sources_of(web, "acme"))
        r = http.post(
            "/web/sources/upload",
            data={"csrf": token},
            files={"video": ("big.mp4", small_clip.read_bytes(), "video/mp4")},
        )
        assert r.status_code == 413
        markup_ok(r.text)
        assert len(sources_of(web, "acme")) == before


def test_a_refused_url_import_shows_its_one_line_reason(web: Web) -> None:
    signed_in(web.http, web.tokens["acme"])
    token = form_csrf(web.http.get("/web/sources").text)
    r = web.http.post("/web/sources/import", data={"csrf": token, "url": "http://127.0.0.1/admin/video.mp4"})
    assert r.status_code == 400
    markup_ok(r.text)
    alert = r.text[r.text.index('id="import-error"') :]
    alert = alert[: alert.index("</p>")]
    assert "This address was refused:" in alert and "\n" not in alert.split(":", 1)[1].strip()
    assert 'value="http://127.0.0.1/admin/video.mp4"' in r.text  # kept in the field to correct it
    rejected = [s for s in sources_of(web, "acme") if s.origin == "url"]
    assert len(rejected) == 1 and rejected[0].status == "rejected" and rejected[0].reject_code == "blocked_url"
    assert rejected[0].reject_reason and escape(rejected[0].reject_reason) in alert
    not_url = web.http.post("/web/sources/import", data={"csrf": token, "url": "file:///etc/passwd"})
    assert not_url.status_code == 400 and "Enter an http:// or https:// address" in not_url.text
    no_token = web.http.post("/web/sources/import", data={"url": "https://example.com/v.mp4"}, follow_redirects=False)
    assert no_token.status_code == 403
    assert len([s for s in sources_of(web, "acme") if s.origin == "url"]) == 1


def test_an_accepted_url_import_opens_its_source_page(web: Web) -> None:
    settings = web.env.settings.model_copy(update={"allow_private_urls": True})
    with web.client(settings) as http:
        signed_in(http, web.tokens["acme"])
        token = form_csrf(http.get("/web/sources").text)
        r = http.post(
            "/web/sources/import", data={"csrf": token, "url": "http://127.0.0.1:9/talk.mp4"}, follow_redirects=False
        )
        assert r.status_code == 303
        imported = [s for s in sources_of(web, "acme") if s.origin == "url"]
        assert len(imported) == 1 and r.headers["location"] == f"/web/sources/{imported[0].id}"
        assert imported[0].status == "registered"
        assert "http://127.0.0.1:9/talk.mp4" in http.get(r.headers["location"]).text


def test_a_source_page_shows_its_stage_reasons_and_clips(web: Web) -> None:
    source(web, "acme", "src_bad", "holiday.mov", "rejected", "the video is shorter than 30 seconds")
    with web.env.db.session() as s:
        s.execute(update(Clip).where(Clip.id == web.clips["acme"]).values(score=87.25, reasons=["a clear hook"]))
    signed_in(web.http, web.tokens["acme"])
    ready = web.http.get("/web/sources/src_acme")
    assert ready.status_code == 200
    markup_ok(ready.text)
    assert (
        "<h1>Source <span" in ready.text and "acme.mp4" in ready.text and "Ready: its clips are rendered" in ready.text
    )
    assert f'href="/web/clips/{web.clips["acme"]}"' in ready.text
    assert "score 87.2" in ready.text or "score 87.3" in ready.text
    assert "a clear hook" in ready.text and "Compound interest is the engine of wealth" in ready.text
    bad = web.http.get("/web/sources/src_bad").text
    assert "Why: the video is shorter than 30 seconds (too_short)" in bad and "This source has no clips" in bad


def test_a_clip_page_shows_player_thumbnail_score_reasons_excerpt_and_fit(web: Web, small_clip: Path) -> None:
    clip_id = give_media(web, "acme", small_clip, score=91.0, reasons=["strong hook", "complete thought"])
    signed_in(web.http, web.tokens["acme"])
    r = web.http.get(f"/web/clips/{clip_id}")
    assert r.status_code == 200
    headers_ok(r, page=True)
    markup_ok(r.text)
    html = r.text
    assert f'<video class="sources-player" controls preload="metadata" src="/web/clips/{clip_id}/video"' in html
    assert f'src="/web/clips/{clip_id}/thumbnail" alt="Thumbnail of clip 1"' in html
    assert f'href="/web/clips/{clip_id}/video?download=1" download' in html
    assert "91.0" in html and "<li>strong hook</li>" in html and "<li>complete thought</li>" in html
    assert "Compound interest is the engine of wealth" in html and "20.0 s" in html
    fit = html[html.index("Platform fit") :]
    assert "TikTok" in fit and "YouTube Shorts" in fit and "Bluesky" in fit
    x = fit[fit.index("<strong>X</strong>") - 80 :]
    assert "adjusted" in x[:120] and "exceeds 720x1280" in x  # X takes 720×1280 at most: publishing makes one
    tiktok = fit[fit.index("<strong>TikTok</strong>") - 80 :]
    assert "fits" in tiktok[:120]
    assert f"cliply posts create --clip {clip_id}" in html and "POST /api/posts" in html
    assert 'href="/web/sources/src_acme"' in html


def test_clip_media_is_served_with_range_support_and_as_a_download(web: Web, small_clip: Path) -> None:
    clip_id = give_media(web, "acme", small_clip)
    signed_in(web.http, web.tokens["acme"])
    video = web.http.get(f"/web/clips/{clip_id}/video")
    assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
    assert video.content == small_clip.read_bytes()
    part = web.http.get(f"/web/clips/{clip_id}/video", headers={"Range": "bytes=0-99"})
    assert part.status_code == 206 and len(part.content) == 100 and part.content == small_clip.read_bytes()[:100]
    download = web.http.get(f"/web/clips/{clip_id}/video?download=1")
    assert download.status_code == 200 and download.headers["content-disposition"].startswith("attachment;")
    assert f'filename="{clip_id}.mp4"' in download.headers["content-disposition"]
    thumb = web.http.get(f"/web/clips/{clip_id}/thumbnail")
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    assert thumb.content == thumbnail_bytes()
    with web.client() as stranger:
        assert is_signin_redirect(stranger.get(f"/web/clips/{clip_id}/video", follow_redirects=False))


def test_an_unreadable_clip_file_has_no_fit_but_the_page_still_renders(web: Web) -> None:
    clip_id = give_media(web, "acme", b"not a video at all")
    signed_in(web.http, web.tokens["acme"])
    r = web.http.get(f"/web/clips/{clip_id}")
    assert r.status_code == 200 and "could not be checked here" in r.text


def test_hostile_names_and_texts_are_rendered_inert(web: Web) -> None:
    source(web, "acme", "src_xss", XSS_NAME, "rejected", XSS_REASON)
    with web.env.db.session() as s:
        s.execute(update(Clip).where(Clip.id == web.clips["acme"]).values(text=XSS_TEXT, reasons=[XSS_REASON]))
        s.execute(update(Source).where(Source.id == "src_acme").values(original_name=XSS_NAME))
    signed_in(web.http, web.tokens["acme"])
    pages = [
        web.http.get("/web/sources").text,
        web.http.get("/web/sources/src_xss").text,
        web.http.get("/web/sources/src_acme").text,
        web.http.get(f"/web/clips/{web.clips['acme']}").text,
    ]
    for html in pages:
        assert "<script>alert" not in html and "<img src=x" not in html
        assert "&lt;script&gt;alert(&#34;source&#34;)&lt;/script&gt;.mp4" in html
        markup_ok(html)
    assert "&lt;img src=x onerror=alert(1)&gt;" in pages[0] and "&lt;img src=x onerror=alert(1)&gt;" in pages[1]
    assert "&lt;/blockquote&gt;&lt;script&gt;alert(&#34;text&#34;)&lt;/script&gt;" in pages[3]
    assert "<title>Source &lt;script&gt;" in pages[1]


def test_another_workspaces_sources_and_clips_are_a_404_page(web: Web, small_clip: Path) -> None:
    theirs = give_media(web, "globex", small_clip)
    source(web, "globex", "src_g_bad", "globex-secret.mp4", "rejected", "globex reason")
    signed_in(web.http, web.tokens["acme"])
    listing = web.http.get("/web/sources").text
    assert "globex" not in listing and "acme.mp4" in listing
    for path in (
        "/web/sources/src_globex",
        "/web/sources/src_g_bad",
        f"/web/clips/{theirs}",
        f"/web/clips/{theirs}/video",
        f"/web/clips/{theirs}/video?download=1",
        f"/web/clips/{theirs}/thumbnail",
        "/web/sources/no-such-source",
        "/web/clips/no-such-clip/video",
    ):
        r = web.http.get(path)
        assert r.status_code == 404, path
        assert "globex" not in r.text and "Page not found" in r.text, path
        markup_ok(r.text)
    with web.client() as other:  # their own browser sees them
        signed_in(other, web.tokens["globex"])
        assert other.get(f"/web/clips/{theirs}/video").content == small_clip.read_bytes()
        assert "globex-secret.mp4" in other.get("/web/sources").text
