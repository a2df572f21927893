"""Composing posts in the web pages through the real Starlette app on SQLite: the compose form prefilled from a clip
and a local time (captions suggested as create_post would, counters as each platform counts), creating a post in the
session's time zone, field errors that keep what was typed, the live counters endpoint agreeing with each platform's
validate() at and past its limit, the post page (targets, reasons, URLs, actions), editing, bulk scheduling with the
API's cap; CSRF on every POST, another workspace's ids in every address and form field, and a script in a caption
rendered inert."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, update

from cliply.platforms import PLATFORMS, make_client
from cliply.platforms.models import VideoPost
from cliply.publishing.captions import suggest
from cliply.store.models import Clip, utcnow
from cliply.store.models_publishing import Post, PostTarget
from cliply.store.models_web import WebSession
from cliply.store.repo import WorkspaceScope, get_or_create_workspace
from cliply.web.pages_compose import CAPTION_RULES
from cliply.web.sessions import digest
from cliply.web.templating import ENV
from tests.test_web_auth import Web, form_csrf, is_signin_redirect, signed_in, web  # noqa: F401
from tests.test_web_pages import XSS_CAPTION, connect, headers_ok, markup_ok, post

TEXT = "Compound interest is the engine of wealth. Interest on interest grows your savings every year."
PARIS = "Europe/Paris"


def escape(text: str) -> str:
    return ENV.from_string("{{ text }}").render(text=text)


def in_zone(web: Web, secret: str, zone: str) -> None:
    with web.env.db.session() as s:
        s.execute(update(WebSession).where(WebSession.id == digest(secret)).values(timezone=zone))


def future_local(days: int = 30, zone: str = PARIS) -> str:
    moment = (utcnow() + timedelta(days=days)).astimezone(ZoneInfo(zone))
    return moment.replace(hour=9, minute=30, second=0, microsecond=0).strftime("%Y-%m-%dT%H:%M")


def posts_of(web: Web, ws: str) -> list[Post]:
    with web.env.db.reading() as s:
        workspace = get_or_create_workspace(s, ws)
        rows = list(s.scalars(select(Post).where(Post.workspace_id == workspace.id).order_by(Post.scheduled_at)))
        s.expunge_all()
        return rows


def targets_of(web: Web, post_id: str) -> list[PostTarget]:
    with web.env.db.reading() as s:
        rows = list(s.scalars(select(PostTarget).where(PostTarget.post_id == post_id).order_by(PostTarget.platform)))
        s.expunge_all()
        return rows


def snapshot(web: Web) -> list[tuple[Any, ...]]:
    """Every post and target as stored: what 'changes nothing' compares."""
    with web.env.db.reading() as s:
        posts = [(p.id, p.status, p.scheduled_at, p.caption) for p in s.scalars(select(Post).order_by(Post.id))]
        targets = [(t.id, t.state, t.due_at, t.caption) for t in s.scalars(select(PostTarget).order_by(PostTarget.id))]
        return posts + targets


def count_posts(web: Web) -> int:
    with web.env.db.reading() as s:
        return s.scalar(select(func.count()).select_from(Post)) or 0


def more_clips(web: Web, ws: str, n: int) -> list[str]:
    with web.env.db.session() as s:
        scope = WorkspaceScope(s, get_or_create_workspace(s, ws))
        rows = scope.replace_clips(
            f"src_{ws}", [{"start_s": i * 20.0, "end_s": i * 20.0 + 15, "text": TEXT} for i in range(n)]
        )
        return [c.id for c in rows]


def field_error(html: str, key: str) -> str:
    match = re.search(rf'<p class="field-error" id="err-{re.escape(key)}">([^<]*)</p>', html)
    assert match, f"no error shown for {key}"
    return match.group(1)


def textarea(html: str, name: str) -> str:
    match = re.search(rf'<textarea id="{name}" name="{name}"[^>]*>(.*?)</textarea>', html, re.S)
    assert match, name
    return match.group(1)


@pytest.fixture
def acme(web: Web) -> dict[str, Any]:
    """acme signed in (session zone Europe/Paris) with YouTube, TikTok, X and Pinterest accounts; globex has one."""
    ids: dict[str, Any] = {p: connect(web, "acme", p, f"acme_{p}") for p in ("youtube", "tiktok", "x", "pinterest")}
    ids["globex"] = connect(web, "globex", "x", "globex_secret_handle")
    secret = signed_in(web.http, web.tokens["acme"])
    in_zone(web, secret, PARIS)
    ids["csrf"] = form_csrf(web.http.get("/web/").text)
    return ids


def test_the_compose_form_is_prefilled_from_the_clip_and_the_time(web: Web, acme: dict[str, Any]) -> None:
    clip = web.clips["acme"]
    r = web.http.get(f"/web/posts/new?clip={clip}&at=2031-03-30T02:30")
    assert r.status_code == 200
    headers_ok(r, page=True)
    markup_ok(r.text)
    html = r.text
    assert "<h1>New post</h1>" in html and '<script src="/static/compose.js"></script>' in html
    assert f'<input type="hidden" name="clip" value="{clip}">' in html and "Clip 1 of acme.mp4" in html
    assert 'id="at" name="at" value="2031-03-30T02:30"' in html and "Date and time (Europe/Paris)" in html
    suggestion = suggest(TEXT).text()
    for p in ("youtube", "tiktok", "x", "pinterest"):
        assert textarea(html, f"caption-{p}") == escape(suggestion), p
        assert f'id="account-{acme[p]}" name="account-{acme[p]}"' in html
    assert f"{len(suggestion)} / 280 weighted characters</p>" in html  # X's count of the suggestion
    assert f"{len(suggestion)} / 2200 characters</p>" in html  # TikTok's
    assert 'name="opt-tiktok-privacy"' in html and 'name="opt-pinterest-board_id"' in html
    assert 'name="title-youtube"' in html and 'name="opt-youtube-privacy"' in html
    assert "caption-instagram" not in html  # no Instagram account
    assert "globex" not in html and f"account-{acme['globex']}" not in html
    assert 'data-counts="/web/posts/counts"' in html

    without = web.http.get("/web/posts/new?at=not-a-time")  # no clip yet: choose one first (a GET form)
    assert without.status_code == 200
    markup_ok(without.text)
    assert '<form class="stack" method="get" action="/web/posts/new">' in without.text
    assert f'<option value="{clip}">Clip 1 of acme.mp4</option>' in without.text
    assert 'name="at" value="' in without.text and "not-a-time" not in without.text


def test_a_post_is_created_in_the_sessions_time_zone(web: Web, acme: dict[str, Any]) -> None:
    at = future_local()
    data = {
        "csrf": acme["csrf"],
        "clip": web.clips["acme"],
        "when": "at",
        "at": at,
        f"account-{acme['x']}": "1",
        f"account-{acme['tiktok']}": "1",
        "caption-x": "Short and sweet #money",
        "caption-tiktok": "Longer TikTok text about interest",
        "caption-youtube": "not chosen: ignored",
        "opt-tiktok-privacy": "SELF_ONLY",
    }
    r = web.http.post("/web/posts", data=data, follow_redirects=False)
    assert r.status_code == 303, r.text
    [created] = posts_of(web, "acme")
    assert r.headers["location"] == f"/web/posts/{created.id}?done=created"
    expected = datetime.fromisoformat(at).replace(tzinfo=ZoneInfo(PARIS)).astimezone(UTC)
    assert created.scheduled_at.replace(tzinfo=UTC) == expected and created.timezone == PARIS
    targets = targets_of(web, created.id)
    assert [(t.platform, t.account_id, t.caption) for t in targets] == [
        ("tiktok", acme["tiktok"], "Longer TikTok text about interest"),
        ("x", acme["x"], "Short and sweet #money"),
    ]
    assert targets[0].options == {"privacy": "SELF_ONLY"}

    page = web.http.get(r.headers["location"])
    assert page.status_code == 200
    markup_ok(page.text)
    assert '<p class="notice" role="status">The post is scheduled.</p>' in page.text
    local = expected.astimezone(ZoneInfo(PARIS)).strftime("%Y-%m-%d %H:%M %Z")
    assert local in page.text and "acme_x" in page.text and "acme_tiktok" in page.text

    now = web.http.post(
        "/web/posts",
        data={**data, "when": "now", "at": "", "caption-tiktok": ""},  # an empty caption: the clip's suggestion
        follow_redirects=False,
    )
    assert now.status_code == 303, now.text
    newest = max(posts_of(web, "acme"), key=lambda p: p.created_at)
    assert abs(newest.scheduled_at.replace(tzinfo=UTC) - datetime.now(UTC)) < timedelta(minutes=5)
    tiktok = next(t for t in targets_of(web, newest.id) if t.platform == "tiktok")
    assert tiktok.caption == suggest(TEXT).text()


def test_bad_input_gets_a_line_per_field_and_keeps_what_was_typed(web: Web, acme: dict[str, Any]) -> None:
    base = {"csrf": acme["csrf"], "clip": web.clips["acme"]}
    first = web.http.post("/web/posts", data={**base, "when": "at", "at": "2020-01-01T10:00", "caption-x": "kept"})
    assert first.status_code == 400
    markup_ok(first.text)
    assert "is in the past" in field_error(first.text, "at")
    assert field_error(first.text, "accounts") == "Choose at least one account to publish to."
    assert 'id="at" name="at" value="2020-01-01T10:00"' in first.text and textarea(first.text, "caption-x") == "kept"
    assert 'aria-describedby="at-help err-at" aria-invalid="true"' in first.text

    long_x = "word " * 70 + '<b>"typed"</b>'
    second = web.http.post(
        "/web/posts",
        data={
            **base,
            "when": "at",
            "at": future_local(),
            f"account-{acme['x']}": "1",
            f"account-{acme['tiktok']}": "1",
            f"account-{acme['pinterest']}": "1",
            "caption-x": long_x,
            "caption-tiktok": "fine",
            "caption-pinterest": "fine",
        },
    )
    assert second.status_code == 422
    markup_ok(second.text)
    assert "X: text: length (x_weighted) is 364, the limit is 280" in field_error(second.text, "caption-x")
    assert field_error(second.text, "opt-tiktok-privacy") == "Choose who can watch the video on TikTok."
    assert field_error(second.text, "opt-pinterest-board_id") == "Enter the id of the Pinterest board to pin to."
    assert textarea(second.text, "caption-x") == escape(long_x)
    assert f'id="account-{acme["x"]}" name="account-{acme["x"]}" value="1" data-platform="x"\n' in second.text
    assert "364 / 280 weighted characters: too long" in second.text
    assert count_posts(web) == 0


def test_the_counters_endpoint_counts_as_each_platform_validates(web: Web, acme: dict[str, Any]) -> None:
    def counts(captions: dict[str, str]) -> dict[str, Any]:
        r = web.http.post("/web/posts/counts", json={"captions": captions}, headers={"X-CSRF-Token": acme["csrf"]})
        assert r.status_code == 200, r.text
        result: dict[str, Any] = r.json()["counts"]
        return result

    at_limit = counts({p: "a" * CAPTION_RULES[p].limit({}) for p in PLATFORMS})
    assert set(at_limit) == set(PLATFORMS)
    mixed = {p: "Grow 📈 your money, café ☕ & more! https://example.com/a " * 120 for p in PLATFORMS}
    over = counts(mixed)
    for p in PLATFORMS:
        client = make_client(p)
        try:
            limit = at_limit[p]["limit"]
            assert at_limit[p]["count"] == limit and at_limit[p]["ok"], p
            fine = client.validate(VideoPost(Path("clip.mp4"), caption="a" * limit))
            assert not [v for v in fine if v.field in CAPTION_RULES[p].fields and "length" in v.rule], p
            found = [v for v in client.validate(VideoPost(Path("clip.mp4"), caption=mixed[p])) if "length" in v.rule]
            length = next(v for v in found if v.field in CAPTION_RULES[p].fields)
            assert (over[p]["count"], over[p]["limit"]) == (length.measured, length.allowed), p
            assert not over[p]["ok"] and str(length) in over[p]["problems"], p
        finally:
            client.close()
    assert counts({"instagram": "#a #b #c #d #e #f"})["instagram"]["problems"] == [
        "caption: hashtags is 6, the limit is 5"
    ]

    assert web.http.post("/web/posts/counts", json={"captions": {"x": "hi"}}).status_code == 403
    wrong = web.http.post("/web/posts/counts", json={"captions": {"x": "hi"}}, headers={"X-CSRF-Token": "0" * 64})
    assert wrong.status_code == 403
    bad = {"X-CSRF-Token": acme["csrf"]}
    assert web.http.post("/web/posts/counts", content=b"{", headers=bad).status_code == 400
    assert web.http.post("/web/posts/counts", json={"captions": {"myspace": "hi"}}, headers=bad).status_code == 422
    assert web.http.post("/web/posts/counts", json={"captions": {"x": 3}}, headers=bad).status_code == 422
    huge = web.http.post("/web/posts/counts", json={"captions": {"x": "a" * 20_001}}, headers=bad)
    assert huge.status_code == 422
    with web.client() as stranger:
        refused = stranger.post("/web/posts/counts", json={"captions": {"x": "hi"}}, headers=bad)
        assert refused.status_code == 401 and refused.json() == {"error": "sign in first"}


def test_the_post_page_shows_each_target_and_its_actions(web: Web, acme: dict[str, Any]) -> None:
    later = utcnow() + timedelta(days=2)
    failed = post(web, "acme", acme["x"], "x", "a failed one", later, state="failed", error_class="auth_reconnect",
                  error_message="the token was revoked")  # fmt: skip
    done = post(web, "acme", acme["youtube"], "youtube", "a published one", later, state="published",
                url="https://youtube.com/shorts/abc123", published_at=utcnow())  # fmt: skip
    scheduled = post(web, "acme", acme["tiktok"], "tiktok", "still to come", later)

    html = web.http.get(f"/web/posts/{failed}").text
    markup_ok(html)
    [target] = targets_of(web, failed)
    assert "Failed" in html and "auth_reconnect: the token was revoked" in html and "acme_x" in html
    assert f'action="/web/targets/{target.id}/retry"' in html
    assert "/cancel" not in html and "/publish-now" not in html and "/edit" not in html

    html = web.http.get(f"/web/posts/{done}").text
    [target] = targets_of(web, done)
    assert '<a href="https://youtube.com/shorts/abc123" rel="noreferrer">View on YouTube' in html
    assert f'<a href="/web/analytics/targets/{target.id}">Metrics' in html
    assert "/retry" not in html and "/cancel" not in html

    waiting = post(web, "acme", acme["x"], "x", "held back", later, state="waiting", wait_reason="quota")
    html = web.http.get(f"/web/posts/{waiting}").text
    paris = later.astimezone(ZoneInfo(PARIS)).strftime("%Y-%m-%d %H:%M %Z")
    assert f'waiting (quota); next try <time datetime="{later.isoformat()}">{paris}</time>' in html
    assert "UTC" not in html.split('<main id="main"')[1]  # every time in the session's zone

    html = web.http.get(f"/web/posts/{scheduled}").text
    local = later.astimezone(ZoneInfo(PARIS)).strftime("%Y-%m-%d %H:%M %Z")
    assert local in html and "Scheduled" in html and "still to come" in html
    for action in ("edit", "publish-now", "cancel"):
        assert f"/web/posts/{scheduled}/{action}" in html, action
    assert "/retry" not in html and "/web/analytics/targets/" not in html


def test_cancel_publish_now_and_retry_come_back_with_a_notice(web: Web, acme: dict[str, Any]) -> None:
    later = utcnow() + timedelta(days=2)
    first = post(web, "acme", acme["x"], "x", "one", later)
    second = post(web, "acme", acme["x"], "x", "two", later)
    failed = post(web, "acme", acme["x"], "x", "three", later, state="failed", error_message="boom")
    token = acme["csrf"]

    r = web.http.post(f"/web/posts/{first}/publish-now", data={"csrf": token}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/web/posts/{first}?done=published-now"
    [t] = targets_of(web, first)
    assert t.due_at.replace(tzinfo=UTC) <= utcnow() + timedelta(seconds=5)
    assert "are due now" in web.http.get(r.headers["location"]).text

    r = web.http.post(f"/web/posts/{second}/cancel", data={"csrf": token}, follow_redirects=False)
    assert r.headers["location"] == f"/web/posts/{second}?done=cancelled"
    assert [t.state for t in targets_of(web, second)] == ["cancelled"]
    again = web.http.post(f"/web/posts/{second}/publish-now", data={"csrf": token}, follow_redirects=False)
    assert again.headers["location"] == f"/web/posts/{second}?done=nothing-due"
    published = post(web, "acme", acme["x"], "x", "out", later, state="published", url="https://x.com/a/status/1")
    r = web.http.post(f"/web/posts/{published}/cancel", data={"csrf": token}, follow_redirects=False)
    assert r.headers["location"] == f"/web/posts/{published}?error=cannot-cancel"
    assert [t.state for t in targets_of(web, published)] == ["published"]

    [target] = targets_of(web, failed)
    r = web.http.post(f"/web/targets/{target.id}/retry", data={"csrf": token}, follow_redirects=False)
    assert r.headers["location"] == f"/web/posts/{failed}?done=retried"
    assert [t.state for t in targets_of(web, failed)] == ["scheduled"]
    r = web.http.post(f"/web/targets/{target.id}/retry", data={"csrf": token}, follow_redirects=False)
    assert r.headers["location"] == f"/web/posts/{failed}?error=cannot-retry"
    page = web.http.get(r.headers["location"]).text
    assert '<p class="alert" role="alert">Only a failed target can be retried.</p>' in page
    assert "?done=<script>" not in web.http.get(f"/web/posts/{failed}?done=<script>").text


def test_a_post_is_edited_until_publishing_starts(web: Web, acme: dict[str, Any]) -> None:
    later = (utcnow() + timedelta(days=3)).replace(second=0, microsecond=0)
    post_id = post(web, "acme", acme["x"], "x", "before", later)
    form = web.http.get(f"/web/posts/{post_id}/edit")
    assert form.status_code == 200
    markup_ok(form.text)
    local = later.astimezone(ZoneInfo(PARIS)).strftime("%Y-%m-%dT%H:%M")
    assert f'id="at" name="at" value="{local}"' in form.text and textarea(form.text, "caption-x") == "before"
    assert "6 / 280 weighted characters" in form.text

    too_long = web.http.post(f"/web/posts/{post_id}/edit", data={"csrf": acme["csrf"], "at": local,
                                                                 "caption-x": "x" * 281})  # fmt: skip
    assert too_long.status_code == 422 and "the limit is 280" in field_error(too_long.text, "caption-x")
    assert textarea(too_long.text, "caption-x") == "x" * 281
    assert [t.caption for t in targets_of(web, post_id)] == ["before"]

    moved = (later + timedelta(days=1)).astimezone(ZoneInfo(PARIS)).strftime("%Y-%m-%dT%H:%M")
    r = web.http.post(
        f"/web/posts/{post_id}/edit",
        data={"csrf": acme["csrf"], "at": moved, "caption-x": "after"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == f"/web/posts/{post_id}?done=edited"
    [t] = targets_of(web, post_id)
    assert t.caption == "after" and t.due_at.replace(tzinfo=UTC) == later + timedelta(days=1)

    with web.env.db.session() as s:
        s.execute(update(PostTarget).where(PostTarget.post_id == post_id).values(state="uploading"))
    started = web.http.get(f"/web/posts/{post_id}/edit", follow_redirects=False)
    assert started.headers["location"] == f"/web/posts/{post_id}?error=cannot-edit"
    r = web.http.post(f"/web/posts/{post_id}/edit", data={"csrf": acme["csrf"], "at": moved, "caption-x": "late"},
                      follow_redirects=False)  # fmt: skip
    assert r.headers["location"] == f"/web/posts/{post_id}?error=cannot-edit"
    assert [t.caption for t in targets_of(web, post_id)] == ["after"]


def test_bulk_schedules_clips_at_an_interval_within_the_apis_cap(web: Web, acme: dict[str, Any]) -> None:
    clips = more_clips(web, "acme", 3)
    page = web.http.get("/web/posts/bulk")
    assert page.status_code == 200
    markup_ok(page.text)
    for c in clips:
        assert f'name="clip-{c}"' in page.text
    at = future_local()
    data = {
        "csrf": acme["csrf"],
        "when": "at",
        "at": at,
        "every": "45",
        f"account-{acme['x']}": "1",
        f"account-{acme['tiktok']}": "1",
        "opt-tiktok-privacy": "PUBLIC_TO_EVERYONE",
        **{f"clip-{c}": "1" for c in clips},
    }
    r = web.http.post("/web/posts/bulk", data=data)
    assert r.status_code == 200, r.text
    markup_ok(r.text)
    created = posts_of(web, "acme")
    assert [p.clip_id for p in created] == clips
    first = datetime.fromisoformat(at).replace(tzinfo=ZoneInfo(PARIS)).astimezone(UTC)
    assert [p.scheduled_at.replace(tzinfo=UTC) for p in created] == [
        first + timedelta(minutes=45 * i) for i in range(3)
    ]
    assert "3 posts scheduled, each to\n  2 accounts." in r.text
    for p in created:
        assert f'<a href="/web/posts/{p.id}">' in r.text
        assert len(targets_of(web, p.id)) == 2

    with web.client(web.env.settings.model_copy(update={"max_targets_per_post": 5})) as capped:
        signed_in(capped, web.tokens["acme"])
        token = form_csrf(capped.get("/web/posts/bulk").text)
        refused = capped.post("/web/posts/bulk", data={**data, "csrf": token})
        assert refused.status_code == 400 and "at most 5 targets" in refused.text
        assert 'role="alert" id="err-form"' in refused.text
    no_privacy = web.http.post("/web/posts/bulk", data={**data, "opt-tiktok-privacy": ""})
    assert no_privacy.status_code == 422
    assert field_error(no_privacy.text, "opt-tiktok-privacy") == "Choose who can watch the video on TikTok."
    bad = web.http.post("/web/posts/bulk", data={**data, "every": "0", clips[0]: ""})
    assert bad.status_code == 400 and "whole number of minutes" in field_error(bad.text, "every")
    assert len(posts_of(web, "acme")) == 3


def test_every_post_form_needs_its_csrf_token(web: Web, acme: dict[str, Any]) -> None:
    post_id = post(web, "acme", acme["x"], "x", "kept", utcnow() + timedelta(days=1))
    failed = post(web, "acme", acme["x"], "x", "kept", utcnow() + timedelta(days=1), state="failed")
    [target] = targets_of(web, failed)
    before = snapshot(web)
    create = {"clip": web.clips["acme"], "when": "now", f"account-{acme['x']}": "1", "caption-x": "new"}
    forms = [
        ("/web/posts", create),
        ("/web/posts/bulk", {**create, f"clip-{web.clips['acme']}": "1"}),
        (f"/web/posts/{post_id}/edit", {"at": future_local(), "caption-x": "changed"}),
        (f"/web/posts/{post_id}/cancel", {}),
        (f"/web/posts/{post_id}/publish-now", {}),
        (f"/web/targets/{target.id}/retry", {}),
    ]
    for path, data in forms:
        for token in ({}, {"csrf": "0" * 64}):
            r = web.http.post(path, data={**data, **token}, follow_redirects=False)
            assert r.status_code == 403 and "security token" in r.text, path
    assert snapshot(web) == before
    with web.client() as stranger:
        for path, data in forms:
            assert is_signin_redirect(stranger.post(path, data=data, follow_redirects=False)), path
        for path in ("/web/posts/new", f"/web/posts/{post_id}", f"/web/posts/{post_id}/edit", "/web/posts/bulk"):
            assert is_signin_redirect(stranger.get(path, follow_redirects=False)), path
    assert snapshot(web) == before


def test_another_workspaces_ids_are_a_404_and_change_nothing(web: Web, acme: dict[str, Any]) -> None:
    theirs = post(web, "globex", acme["globex"], "x", "globex secret caption", utcnow() + timedelta(days=1))
    failed = post(web, "globex", acme["globex"], "x", "globex failed", utcnow() + timedelta(days=1), state="failed")
    [their_target] = targets_of(web, failed)
    their_clip = web.clips["globex"]
    before = snapshot(web)
    token = acme["csrf"]
    for path in (
        f"/web/posts/new?clip={their_clip}",
        f"/web/posts/{theirs}",
        f"/web/posts/{theirs}/edit",
        "/web/posts/no-such-post",
    ):
        r = web.http.get(path)
        assert r.status_code == 404 and "globex" not in r.text, path
        markup_ok(r.text)
    mine = {"csrf": token, "clip": web.clips["acme"], "when": "now", "caption-x": "hi"}
    posts = [
        ("/web/posts", {**mine, "clip": their_clip, f"account-{acme['x']}": "1"}),
        ("/web/posts", {**mine, f"account-{acme['globex']}": "1"}),
        ("/web/posts", {**mine, "account-abc": "1"}),
        ("/web/posts/bulk", {**mine, f"clip-{their_clip}": "1", f"account-{acme['x']}": "1"}),
        ("/web/posts/bulk", {**mine, f"clip-{web.clips['acme']}": "1", f"account-{acme['globex']}": "1"}),
        (f"/web/posts/{theirs}/edit", {"csrf": token, "at": future_local(), "caption-x": "mine now"}),
        (f"/web/posts/{theirs}/cancel", {"csrf": token}),
        (f"/web/posts/{theirs}/publish-now", {"csrf": token}),
        (f"/web/targets/{their_target.id}/retry", {"csrf": token}),
    ]
    for path, data in posts:
        r = web.http.post(path, data=data, follow_redirects=False)
        assert r.status_code == 404 and "globex" not in r.text, (path, data)
    assert snapshot(web) == before
    bulk = web.http.get("/web/posts/bulk").text
    assert their_clip not in bulk and "globex" not in bulk


def test_a_script_in_a_caption_is_stored_as_text_and_rendered_inert(web: Web, acme: dict[str, Any]) -> None:
    r = web.http.post(
        "/web/posts",
        data={
            "csrf": acme["csrf"],
            "clip": web.clips["acme"],
            "when": "at",
            "at": future_local(),
            f"account-{acme['x']}": "1",
            "caption-x": XSS_CAPTION,
        },
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    [created] = posts_of(web, "acme")
    assert [t.caption for t in targets_of(web, created.id)] == [XSS_CAPTION]
    for path in (r.headers["location"], f"/web/posts/{created.id}/edit"):
        html = web.http.get(path).text
        assert "<script>alert" not in html and escape(XSS_CAPTION) in html, path
        markup_ok(html)
    with web.env.db.session() as s:  # a hostile clip text, suggested as the caption, is escaped too
        s.execute(update(Clip).where(Clip.id == web.clips["acme"]).values(text=XSS_CAPTION))
    html = web.http.get(f"/web/posts/new?clip={web.clips['acme']}").text
    assert "<script>alert" not in html
    markup_ok(html)
