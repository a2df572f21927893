"""The experiments pages through the real Starlette app on SQLite: the list (status, variable, clip, arms, decision),
the form to start one (workspace defaults filled in, the workspace's clips and accounts only) validated by the REST
API's schema and the same ExperimentSpec (refusals as one-line field messages with what was typed kept, nothing
written, never a 500), an experiment followed while running and once decided by a real evaluation (arms, P(best)
as text and a CSS bar, the decision and why, the chart and its alt text), Stop and Apply the winner with their
notices; CSRF on every POST, another workspace's experiment, clip and account ids refused, and scripts in arm
captions and names rendered inert."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape
from typing import Any

import pytest
from sqlalchemy import func, select, update

from cliply.experiments import service
from cliply.experiments.service import ExperimentSpec
from cliply.store.db import Database
from cliply.store.models_analytics import MetricSnapshot, TrackedPost
from cliply.store.models_experiments import Experiment
from cliply.store.models_publishing import Post, PostTarget
from cliply.store.models_web import WebSession
from cliply.web.sessions import digest
from cliply.wiring import Cliply
from tests.test_web_auth import Web, form_csrf, is_signin_redirect, signed_in, web  # noqa: F401
from tests.test_web_pages import XSS_CAPTION, XSS_HANDLE, connect, headers_ok, markup_ok, post

PNG = b"\x89PNG\r\n\x1a\n"
DAY = timedelta(days=1)
A_TEXT, B_TEXT = "Money grows while you sleep", "Interest on interest, explained"


def app_of(web: Web) -> Cliply:
    app: Cliply = web.http.app.state.cliply  # type: ignore[attr-defined]
    return app


def accounts(web: Web) -> dict[str, int]:
    """Acme's YouTube and X accounts and Globex's YouTube one."""
    return {
        "youtube": connect(web, "acme", "youtube", "acme-channel"),
        "x": connect(web, "acme", "x", "acme_x"),
        "globex": connect(web, "globex", "youtube", "globex-channel"),
    }


def start(web: Web, acc: dict[str, int], ws: str = "acme", **kw: Any) -> dict[str, Any]:
    """An experiment made through the service layer, as the CLI and REST API make it."""
    targets = (("youtube", acc["globex"]),) if ws == "globex" else (("youtube", acc["youtube"]), ("x", acc["x"]))
    spec = ExperimentSpec(
        clip_id=web.clips[ws],
        kind="caption",
        variants=(A_TEXT, B_TEXT),
        targets=targets,
        posts_per_arm=4,
        every="6h",
        rule={"min_days": 1, "min_posts": 3},
        seed=42,
    )
    return service.create_experiment(app_of(web), ws, ExperimentSpec(**{**spec.__dict__, **kw}))


def decide(web: Web, shown: dict[str, Any], views: dict[str, float]) -> dict[str, Any]:
    return decide_in(app_of(web), web.env.db, shown, views)


def decide_in(app: Cliply, db: Database, shown: dict[str, Any], views: dict[str, float]) -> dict[str, Any]:
    """Every slot published at its time with its views read 24 h later (X's account 4x YouTube's), then a real
    evaluation four days on."""
    with db.session() as s:
        for row in shown["assignment"]:
            at = datetime.fromisoformat(row["slot_at"])
            target = s.scalars(select(PostTarget).where(PostTarget.post_id == row["post_id"])).one()
            target.state, target.published_at, target.platform_post_id = "published", at, row["post_id"]
            tracked = TrackedPost(
                workspace_id=target.workspace_id,
                platform=row["platform"],
                platform_post_id=row["post_id"],
                account_id=row["account_id"],
                target_id=target.id,
                clip_id=shown["clip_id"],
                origin="published",
                published_at=at,
            )
            s.add(tracked)
            s.flush()
            scale = 4.0 if row["platform"] == "x" else 1.0
            noise = 1 + 0.03 * ((row["slot"] * 7) % 5 - 2)
            value = int(views[row["arm"]] * scale * noise)
            s.add(
                MetricSnapshot(
                    tracked_post_id=tracked.id, workspace_id=target.workspace_id, fetched_at=at + DAY, views=value
                )
            )
    began = datetime.fromisoformat(shown["started_at"])
    return service.evaluate_experiment(app, shown["id"], now=began + 4 * DAY)


def count(web: Web, model: type) -> int:
    with web.env.db.reading() as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def status_of(web: Web, experiment_id: str) -> str:
    with web.env.db.reading() as s:
        row = s.get(Experiment, experiment_id)
        assert row is not None
        return row.status


def form_fields(web: Web, acc: dict[str, int], **changes: str | None) -> dict[str, str]:
    """What a person fills in on the new-experiment form (None removes a field)."""
    fields: dict[str, str | None] = {
        "csrf": form_csrf(web.http.get("/web/experiments/new").text),
        "clip": web.clips["acme"],
        "kind": "caption",
        "variant_a": A_TEXT,
        "variant_b": B_TEXT,
        "variant_c": "",
        "variant_d": "",
        f"target-{acc['youtube']}": f"youtube:{acc['youtube']}",
        f"target-{acc['x']}": f"x:{acc['x']}",
        "tiktok_privacy": "",
        "pinterest_board": "",
        "posts_per_arm": "5",
        "every": "6h",
        "at": "2030-12-01T09:00",
        "metric_name": "views",
        "metric_age": "24h",
        "p_best": "0.975",
        "max_loss": "0.01",
        "min_days": "3",
        "min_posts": "",
        "max_days": "",
        "seed": "7",
        "name": "",
        **changes,
    }
    return {k: v for k, v in fields.items() if v is not None}


def field_error(html: str, name: str) -> str:
    match = re.search(rf'<p class="exp-error" id="err-{name}">([^<]*)</p>', html)
    assert match, f"no message at {name}"
    return unescape(match.group(1))


def section(html: str, heading_id: str) -> str:
    start = html.index(f'id="{heading_id}"')
    end = html.find("</section>", start)
    return html[start:end]


# --- the list ---


def test_the_list_shows_each_experiment_with_status_variable_clip_arms_and_decision(web: Web) -> None:
    acc = accounts(web)
    running = start(web, acc, name="Evening hooks")
    decided = start(web, acc, name="Captions that sell", variants=("one caption", "two caption", "three caption"))
    assert decide(web, decided, {"A": 100.0, "B": 300.0, "C": 100.0})["status"] in ("winner", "inconclusive")
    start(web, acc, ws="globex", name="Globex secret test")
    signed_in(web.http, web.tokens["acme"])

    r = web.http.get("/web/experiments")
    assert r.status_code == 200
    headers_ok(r, page=True)
    markup_ok(r.text)
    html = r.text
    assert '<a href="/web/experiments" aria-current="page">Experiments</a>' in html
    assert '<a class="button" href="/web/experiments/new">New experiment</a>' in html
    assert "Globex" not in html and "globex" not in html
    rows = re.findall(r'<li class="item exp-row">(.*?)</li>', html, re.S)
    assert len(rows) == 2
    by_name = {("Evening hooks" in row): row for row in rows}
    first, second = by_name[True], by_name[False]
    assert f'href="/web/experiments/{running["id"]}"' in first and "Running" in first
    assert "<strong>caption</strong>" in first and "2 arms" in first and "views@24h" in first
    assert f'href="/web/clips/{web.clips["acme"]}"' in first and "acme.mp4 · clip 1" in first
    assert "Still running" in first and "0 of 8 posts measured" in first
    assert f'href="/web/experiments/{decided["id"]}"' in second and "3 arms" in second
    assert "Arm B won" in second and "P(best)" in second and "12 of 12 posts measured" in second


def test_an_empty_list_says_what_experiments_are_for(web: Web) -> None:
    signed_in(web.http, web.tokens["acme"])
    html = web.http.get("/web/experiments").text
    assert "No experiments yet" in html
    markup_ok(html)


# --- starting one ---


def test_the_form_has_the_workspace_defaults_and_only_its_clips_and_accounts(web: Web) -> None:
    acc = accounts(web)
    signed_in(web.http, web.tokens["acme"])
    r = web.http.get(f"/web/experiments/new?clip={web.clips['acme']}")
    assert r.status_code == 200
    headers_ok(r, page=True)
    markup_ok(r.text)
    html = r.text
    settings = web.env.settings
    assert f'<option value="{web.clips["acme"]}" selected>' in html
    assert web.clips["globex"] not in html and "globex" not in html
    posts = settings.experiment_min_posts
    assert f'name="posts_per_arm" type="number" min="1" max="100" inputmode="numeric" value="{posts}"' in html
    assert f'value="{settings.experiment_p_best:g}"' in html and f'value="{settings.experiment_max_loss:g}"' in html
    assert 'id="every" name="every" type="text" maxlength="16" value="6h"' in html
    assert 'id="metric_age" name="metric_age" type="text" maxlength="10" value="24h"' in html
    for kind in ("caption", "title", "hashtags", "caption_style", "thumbnail", "hook"):
        assert f'<option value="{kind}"' in html, kind
    assert f'value="youtube:{acc["youtube"]}"' in html and f'value="x:{acc["x"]}"' in html
    assert f'value="youtube:{acc["globex"]}"' not in html
    assert "Times are in UTC" in html
    assert "tiktok_privacy" not in html and "pinterest_board" not in html  # asked only when such an account is there
    # another workspace's clip in the address is the 404 page, never its data
    theirs = web.http.get(f"/web/experiments/new?clip={web.clips['globex']}")
    assert theirs.status_code == 404 and "globex" not in theirs.text
    assert web.http.get("/web/experiments/new?clip=nope").status_code == 404


def test_the_form_starts_an_experiment_in_the_sessions_time_zone(web: Web) -> None:
    acc = accounts(web)
    secret = signed_in(web.http, web.tokens["acme"])
    with web.env.db.session() as s:
        s.execute(update(WebSession).where(WebSession.id == digest(secret)).values(timezone="Europe/Paris"))
    fields = form_fields(web, acc, name="From the page", variant_c="A third caption", auto_apply="on")
    r = web.http.post("/web/experiments", data=fields, follow_redirects=False)
    assert r.status_code == 303, r.text
    experiment_id = r.headers["location"].removeprefix("/web/experiments/")
    shown = service.show_experiment(app_of(web), "acme", experiment_id)
    assert shown["name"] == "From the page" and shown["kind"] == "caption" and shown["auto_apply"] is True
    assert [a["variant"] for a in shown["arms"]] == [A_TEXT, B_TEXT, "A third caption"]
    assert shown["seed"] == 7 and shown["rule"]["p_best"] == 0.975 and shown["rule"]["min_posts"] == 5
    assert len(shown["assignment"]) == 15 and {s["platform"] for s in shown["assignment"]} == {"youtube", "x"}
    assert shown["started_at"] == datetime(2030, 12, 1, 8, 0, tzinfo=UTC).isoformat()  # 09:00 in Paris
    page = web.http.get(r.headers["location"])
    assert page.status_code == 200 and "From the page" in page.text
    assert '<time datetime="2030-12-01T08:00:00+00:00">2030-12-01 09:00 CET</time>' in page.text


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"variant_b": ""}, "arms", "Fill in 2 to 4 arms"),
        ({"variant_b": f"  {A_TEXT} "}, "arms", "distinct"),
        ({"kind": "caption_style", "variant_a": "pop", "variant_b": "neon"}, "arms", "caption style 'neon'"),
        ({"kind": "hook", "variant_a": "3", "variant_b": "45"}, "arms", "outside the clip"),
        ({"kind": "hashtags", "variant_a": "#a", "variant_b": "b"}, "arms", "not a hashtag"),
        ({"kind": "colour"}, "kind", "Input should be"),
        ({"variant_b": "x" * 400}, "arms", "X refuses an arm"),
        ({"posts_per_arm": "many"}, "posts_per_arm", "valid integer"),
        ({"posts_per_arm": "2"}, "posts_per_arm", "fewer than the 5 a decision needs"),
        ({"every": "soon"}, "every", "bad interval"),
        ({"at": "2001-01-01T09:00"}, "at", "in the past"),
        ({"at": "tomorrow-ish"}, "at", "bad time"),
        ({"metric_age": "yesterday"}, "metric", "bad metric"),
        ({"p_best": "2"}, "p_best", "less than 1"),
        ({"p_best": "0.3"}, "p_best", "p_best must be above 0.5"),
        ({"seed": "-1"}, "seed", "greater than or equal to 0"),
        ({"clip": ""}, "clip", "at least 1 character"),
    ],
)
def test_bad_input_is_the_form_again_with_a_field_message_and_nothing_written(
    web: Web, changes: dict[str, str], field: str, message: str
) -> None:
    acc = accounts(web)
    signed_in(web.http, web.tokens["acme"])
    fields = form_fields(web, acc, name="kept name", **changes)
    r = web.http.post("/web/experiments", data=fields, follow_redirects=False)
    assert r.status_code == 422, r.text
    markup_ok(r.text)
    assert message in field_error(r.text, field)
    assert '<div class="alert" role="alert" id="form-errors">' in r.text
    assert 'value="kept name"' in r.text  # what was typed is kept
    for key in ("variant_a", "variant_b"):
        if fields[key]:
            assert f">{fields[key].replace('&', '&amp;')}</textarea>" in r.text or fields[key].strip() == ""
    assert f'value="youtube:{acc["youtube"]}" checked' in r.text
    assert (count(web, Experiment), count(web, Post)) == (0, 0)


def test_missing_targets_and_platform_choices_are_asked_for_at_their_fields(web: Web) -> None:
    acc = accounts(web)
    tiktok = connect(web, "acme", "tiktok", "acme_tt")
    signed_in(web.http, web.tokens["acme"])
    none = form_fields(web, acc, **{f"target-{acc['youtube']}": None, f"target-{acc['x']}": None})
    r = web.http.post("/web/experiments", data=none, follow_redirects=False)
    assert r.status_code == 422 and field_error(r.text, "targets") == "Tick at least one account."
    fields = form_fields(web, acc, **{f"target-{tiktok}": f"tiktok:{tiktok}"})
    r = web.http.post("/web/experiments", data=fields, follow_redirects=False)
    assert r.status_code == 422 and "TikTok" in field_error(r.text, "tiktok_privacy")
    assert count(web, Experiment) == 0
    fields["tiktok_privacy"] = "SELF_ONLY"
    r = web.http.post("/web/experiments", data=fields, follow_redirects=False)
    assert r.status_code == 303, r.text
    with web.env.db.reading() as s:
        options = [t.options for t in s.scalars(select(PostTarget).where(PostTarget.platform == "tiktok"))]
    assert options and all(o.get("privacy") == "SELF_ONLY" for o in options)


# --- following one ---


def test_a_running_experiment_shows_its_arms_what_it_waits_for_and_a_stop_button(web: Web) -> None:
    acc = accounts(web)
    shown = start(web, acc, name="Evening hooks")
    signed_in(web.http, web.tokens["acme"])
    r = web.http.get(f"/web/experiments/{shown['id']}")
    assert r.status_code == 200
    headers_ok(r, page=True)
    markup_ok(r.text)
    html = r.text
    assert "<h1>Experiment Evening hooks</h1>" in html
    decision = section(html, "decision-heading")
    assert "Running" in decision and "Still running" in decision and "Not evaluated yet" in decision
    assert "3 measured posts per arm" in decision
    assert f'action="/web/experiments/{shown["id"]}/stop"' in decision and "/apply" not in decision
    arms = re.findall(r'<li class="item exp-arm">(.*?)</li>', html, re.S)
    assert len(arms) == 2
    assert A_TEXT in arms[0] and "0 of 4 measured" in arms[0] and "exp-w-0" in arms[0]
    img = re.search(r'<img class="exp-chart" src="([^"]+)" width="700" height="400" alt="([^"]+)">', html)
    assert img and img.group(1) == f"/web/experiments/{shown['id']}/chart.png"
    assert "Arm A: no measured post yet, 4 planned." in unescape(img.group(2))
    chart = web.http.get(img.group(1))
    assert chart.status_code == 200 and chart.headers["content-type"] == "image/png"
    assert chart.content.startswith(PNG)
    posts = section(html, "posts-heading")
    for slot in shown["assignment"]:
        assert f'href="/web/posts/{slot["post_id"]}"' in posts
    assert "acme-channel" in posts and "acme_x" in posts and "scheduled" in posts


def test_a_decided_experiment_shows_the_winner_why_and_the_numbers(web: Web) -> None:
    acc = accounts(web)
    shown = start(web, acc)
    done = decide(web, shown, {"A": 100.0, "B": 300.0})
    assert done["status"] == "winner" and done["winner"] == "B", done["reason"]
    signed_in(web.http, web.tokens["acme"])
    html = web.http.get(f"/web/experiments/{shown['id']}").text
    markup_ok(html)
    decision = section(html, "decision-heading")
    assert "Arm B won" in decision and unescape(decision).count(done["reason"]) == 1
    assert "Apply the winner, arm B" in decision and "/stop" not in decision
    arms = {a["name"]: a for a in done["arms"]}
    rows = re.findall(r'<li class="item exp-arm">(.*?)</li>', html, re.S)
    b_pct = f"{arms['B']['p_best'] * 100:.1f} %"
    assert "winner" in rows[1] and b_pct in rows[1] and "4 of 4 measured" in rows[1]
    assert f"exp-w-{round(arms['B']['p_best'] * 20) * 5} exp-win" in rows[1]
    alt = unescape(re.search(r'<img class="exp-chart"[^>]* alt="([^"]+)">', html).group(1))  # type: ignore[union-attr]
    assert f"Arm B: mean {arms['B']['mean']:.3g}" in alt and f"P(best) {b_pct}" in alt
    assert "4 of 4 posts measured" in alt and "Decision: Winner: arm B wins." in alt


def test_apply_the_winner_changes_the_clips_scheduled_posts_with_a_notice(web: Web) -> None:
    acc = accounts(web)
    shown = start(web, acc)
    decide(web, shown, {"A": 100.0, "B": 300.0})
    later = post(web, "acme", acc["youtube"], "youtube", "an older caption", datetime(2031, 1, 5, 9, tzinfo=UTC))
    signed_in(web.http, web.tokens["acme"])
    token = form_csrf(web.http.get(f"/web/experiments/{shown['id']}").text)
    r = web.http.post(f"/web/experiments/{shown['id']}/apply", data={"csrf": token}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith(f"/web/experiments/{shown['id']}?applied=B")
    with web.env.db.reading() as s:
        assert s.scalars(select(PostTarget.caption).where(PostTarget.post_id == later)).one() == B_TEXT
    html = web.http.get(r.headers["location"]).text
    assert f'<p class="notice" role="status">Applied arm B ({B_TEXT}) to 1 scheduled post.</p>' in html
    assert "Applied <time" in html
    # a forged notice for an arm that was not applied says nothing
    assert 'role="status"' not in web.http.get(f"/web/experiments/{shown['id']}?applied=Z&targets=9").text


def test_stop_cancels_the_posts_and_a_second_stop_is_refused_in_one_line(web: Web) -> None:
    acc = accounts(web)
    shown = start(web, acc)
    signed_in(web.http, web.tokens["acme"])
    token = form_csrf(web.http.get(f"/web/experiments/{shown['id']}").text)
    r = web.http.post(f"/web/experiments/{shown['id']}/stop", data={"csrf": token}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/web/experiments/{shown['id']}?stopped=1"
    assert status_of(web, shown["id"]) == "stopped"
    with web.env.db.reading() as s:
        states = set(s.scalars(select(PostTarget.state)))
    assert states == {"cancelled"}
    html = web.http.get(r.headers["location"]).text
    assert "The experiment is stopped: its posts that had not been published were cancelled." in html
    assert "/stop" not in section(html, "decision-heading")
    again = web.http.post(f"/web/experiments/{shown['id']}/stop", data={"csrf": token}, follow_redirects=False)
    assert again.status_code == 409 and "already stopped" in again.text
    markup_ok(again.text)
    applied = web.http.post(f"/web/experiments/{shown['id']}/apply", data={"csrf": token}, follow_redirects=False)
    assert applied.status_code == 422 and "no winner" in applied.text


# --- security ---


def test_every_post_needs_the_sessions_csrf_token(web: Web) -> None:
    acc = accounts(web)
    shown = start(web, acc)
    decided = start(web, acc)
    decide(web, decided, {"A": 100.0, "B": 300.0})
    signed_in(web.http, web.tokens["acme"])
    fields = form_fields(web, acc)
    before = count(web, Experiment)
    for token in (None, "0" * 64):
        data = {**fields, "csrf": token} if token else {k: v for k, v in fields.items() if k != "csrf"}
        assert web.http.post("/web/experiments", data=data, follow_redirects=False).status_code == 403
        bad = {"csrf": token} if token else {}
        r = web.http.post(f"/web/experiments/{shown['id']}/stop", data=bad, follow_redirects=False)
        assert r.status_code == 403
        r = web.http.post(f"/web/experiments/{decided['id']}/apply", data=bad, follow_redirects=False)
        assert r.status_code == 403
    assert count(web, Experiment) == before
    assert status_of(web, shown["id"]) == "running"
    with web.env.db.reading() as s:
        row = s.get(Experiment, decided["id"])
        assert row is not None and row.applied_at is None


def test_signed_out_visitors_are_sent_to_sign_in(web: Web) -> None:
    acc = accounts(web)
    shown = start(web, acc)
    for path in ("/web/experiments", "/web/experiments/new", f"/web/experiments/{shown['id']}"):
        assert is_signin_redirect(web.http.get(path, follow_redirects=False)), path
    assert is_signin_redirect(web.http.get(f"/web/experiments/{shown['id']}/chart.png", follow_redirects=False))
    for path in ("/web/experiments", f"/web/experiments/{shown['id']}/stop", f"/web/experiments/{shown['id']}/apply"):
        assert is_signin_redirect(web.http.post(path, data={}, follow_redirects=False)), path
    assert status_of(web, shown["id"]) == "running"


def test_another_workspaces_ids_are_404s_and_field_errors_and_change_nothing(web: Web) -> None:
    acc = accounts(web)
    theirs = start(web, acc, ws="globex", name="Globex secret test")
    theirs_decided = start(web, acc, ws="globex", variants=("g one", "g two"))
    with web.env.db.session() as s:  # a winner in its own workspace
        row = s.get(Experiment, theirs_decided["id"])
        assert row is not None
        row.status, row.winner, row.reason = "winner", "B", "B: P(best) 0.99 >= 0.975"
    signed_in(web.http, web.tokens["acme"])
    token = form_csrf(web.http.get("/web/experiments").text)
    for path in (f"/web/experiments/{theirs['id']}", f"/web/experiments/{theirs['id']}/chart.png"):
        r = web.http.get(path)
        assert r.status_code == 404 and "Globex secret" not in r.text and "g one" not in r.text, path
    for path in (f"/web/experiments/{theirs['id']}/stop", f"/web/experiments/{theirs_decided['id']}/apply"):
        r = web.http.post(path, data={"csrf": token}, follow_redirects=False)
        assert r.status_code == 404, path
    assert status_of(web, theirs["id"]) == "running"
    with web.env.db.reading() as s:
        row = s.get(Experiment, theirs_decided["id"])
        assert row is not None and row.applied_at is None
    posts_before = count(web, Post)
    # their clip, and their account, in the form
    r = web.http.post("/web/experiments", data=form_fields(web, acc, clip=web.clips["globex"]), follow_redirects=False)
    assert r.status_code == 422 and "no clip" in field_error(r.text, "clip")
    sneaky = form_fields(web, acc, **{f"target-{acc['globex']}": f"youtube:{acc['globex']}"})
    r = web.http.post("/web/experiments", data=sneaky, follow_redirects=False)
    assert r.status_code == 422 and f"no youtube account {acc['globex']}" in field_error(r.text, "targets")
    assert "globex-channel" not in r.text
    assert count(web, Post) == posts_before and count(web, Experiment) == 2


def test_scripts_in_arm_captions_and_names_are_rendered_inert(web: Web) -> None:
    acc = accounts(web)
    # X takes any text (YouTube refuses angle brackets)
    shown = start(web, acc, name=XSS_HANDLE, variants=(XSS_CAPTION, B_TEXT), targets=(("x", acc["x"]),))
    signed_in(web.http, web.tokens["acme"])
    escaped_caption = "&#34;&gt;&lt;script&gt;alert(&#34;caption&#34;)&lt;/script&gt;"
    escaped_name = "&lt;script&gt;alert(&#34;handle&#34;)&lt;/script&gt;"
    for path in ("/web/experiments", f"/web/experiments/{shown['id']}"):
        html = web.http.get(path).text
        assert "<script>alert" not in html, path
        assert escaped_name in html, path
        markup_ok(html)
    assert escaped_caption in web.http.get(f"/web/experiments/{shown['id']}").text
    # typed into the form and refused: shown again, still inert
    refused = form_fields(web, acc, variant_a=XSS_CAPTION, variant_b=XSS_CAPTION, name=XSS_HANDLE)
    r = web.http.post("/web/experiments", data=refused, follow_redirects=False)
    assert r.status_code == 422 and "<script>alert" not in r.text
    assert r.text.count(escaped_caption) == 2 and escaped_name in r.text
