"""Workspace isolation across every web page, by enumeration: each route of cliply/web/app.py that takes an id in its
address is requested (GET, and POST with the session's CSRF token) by a signed-in member of one workspace with the
ids of another workspace's account, source, clip, post, target, tracked post and experiment. Every answer is the 404
page, none shows the other workspace's names or captions, and nothing of it changes. A route with an id parameter
this test does not know fails it, so a new page cannot skip the check."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from cliply.experiments import service as experiments
from cliply.experiments.service import ExperimentSpec
from cliply.store.models import Clip, utcnow
from cliply.store.models_accounts import Account
from cliply.store.models_analytics import TrackedPost
from cliply.store.models_experiments import Experiment
from cliply.store.models_publishing import Post, PostTarget
from cliply.store.repo import WorkspaceScope, get_or_create_workspace
from cliply.web.app import ROUTES
from cliply.wiring import Cliply
from tests.test_web_auth import Web, form_csrf, signed_in, web  # noqa: F401
from tests.test_web_pages import connect, post

HANDLE = "globex-private-channel"
CAPTION = "Globex quarterly secrets, not for Acme"
ARMS = ("Globex arm one words", "Globex arm two words")
# Path parameters that are not ids of workspace data: a platform name, a sign-in link's secret.
NOT_IDS = {"platform", "link"}
PARAM = re.compile(r"{(\w+)(?::\w+)?}")


def _seed_globex(web: Web) -> dict[str, str]:
    """One of everything in globex: the ids another workspace's visitor will try."""
    account = connect(web, "globex", "youtube", HANDLE)
    post_id = post(web, "globex", account, "youtube", CAPTION, utcnow() + timedelta(days=3))
    app: Cliply = web.http.app.state.cliply  # type: ignore[attr-defined]
    spec = ExperimentSpec(
        clip_id=web.clips["globex"],
        kind="caption",
        variants=ARMS,
        targets=(("youtube", account),),
        posts_per_arm=3,
        every="6h",
        rule={"min_days": 1, "min_posts": 3},
        seed=7,
    )
    experiment = experiments.create_experiment(app, "globex", spec)
    with web.env.db.session() as s:
        scope = WorkspaceScope(s, get_or_create_workspace(s, "globex"))
        target = s.scalars(select(PostTarget).where(PostTarget.post_id == post_id)).one()
        clip = s.get(Clip, web.clips["globex"])
        assert clip is not None
        tracked = TrackedPost(
            workspace_id=scope.workspace_id,
            platform="youtube",
            platform_post_id="globexvid01",
            account_id=account,
            target_id=target.id,
            url="https://www.youtube.com/watch?v=globexvid01",
            origin="published",
            published_at=utcnow() - timedelta(hours=1),
            tracked_at=utcnow() - timedelta(hours=1),
            status="active",
            tier="ultra_hot",
            next_fetch_at=utcnow() + timedelta(hours=1),
            consecutive_failures=0,
        )
        s.add(tracked)
        s.flush()
        return {
            "account_id": str(account),
            "source_id": clip.source_id,
            "clip_id": clip.id,
            "post_id": post_id,
            "target_id": target.id,
            "tracked_id": str(tracked.id),
            "experiment_id": experiment["id"],
        }


def _globex_state(web: Web) -> list[tuple[Any, ...]]:
    """What 'nothing changed' compares: globex's accounts, posts, targets and experiments as stored."""
    with web.env.db.reading() as s:
        ws = get_or_create_workspace(s, "globex").id
        rows: list[tuple[Any, ...]] = []
        rows += [(a.id, a.status, a.handle) for a in s.scalars(select(Account).where(Account.workspace_id == ws))]
        rows += [
            (p.id, p.status, p.scheduled_at, p.caption) for p in s.scalars(select(Post).where(Post.workspace_id == ws))
        ]
        rows += [
            (t.id, t.state, t.due_at, t.caption)
            for t in s.scalars(select(PostTarget).where(PostTarget.workspace_id == ws))
        ]
        rows += [(e.id, e.status) for e in s.scalars(select(Experiment).where(Experiment.workspace_id == ws))]
        return rows


def _leaks(html: str) -> list[str]:
    return [secret for secret in (HANDLE, CAPTION, *ARMS, "globex.mp4") if secret in html]


def test_every_page_with_an_id_refuses_another_workspaces_ids(web: Web) -> None:
    ids = _seed_globex(web)
    before = _globex_state(web)
    signed_in(web.http, web.tokens["acme"])
    csrf = form_csrf(web.http.get("/web/").text)

    tried: list[str] = []
    for route in ROUTES:
        params = [p for p in PARAM.findall(route.path) if p not in NOT_IDS]
        if not params:
            continue
        unknown = [p for p in params if p not in ids]
        assert not unknown, f"{route.path}: no isolation case for {unknown}; add one to this test"
        path = "/web" + PARAM.sub(lambda m: ids.get(m.group(1), m.group(0)), route.path)
        for method in sorted((route.methods or set()) - {"HEAD"}):
            if method == "GET":
                r = web.http.get(path, follow_redirects=False)
            else:
                r = web.http.post(path, data={"csrf": csrf}, follow_redirects=False)
            assert r.status_code == 404, (method, path, r.status_code, r.text[:300])
            assert not _leaks(r.text), (method, path, _leaks(r.text))
            tried.append(f"{method} {route.path}")
    assert len(tried) >= 20, tried  # the enumeration found the pages (it would pass vacuously otherwise)

    # Ids in the query string: the compose and experiment forms, the posts filter.
    for path in (
        f"/web/posts/new?clip={ids['clip_id']}",
        f"/web/experiments/new?clip={ids['clip_id']}",
        f"/web/posts?account={ids['account_id']}",
    ):
        r = web.http.get(path, follow_redirects=False)
        assert r.status_code == 404 and not _leaks(r.text), (path, r.status_code, _leaks(r.text))

    assert _globex_state(web) == before


def test_the_other_workspace_still_sees_its_own_data(web: Web) -> None:
    """The ids used above are real: globex's own visitor opens the same pages."""
    ids = _seed_globex(web)
    signed_in(web.http, web.tokens["globex"])
    for path in (
        f"/web/posts/{ids['post_id']}",
        f"/web/clips/{ids['clip_id']}",
        f"/web/sources/{ids['source_id']}",
        f"/web/experiments/{ids['experiment_id']}",
        f"/web/analytics/posts/{ids['tracked_id']}",
    ):
        r = web.http.get(path)
        assert r.status_code == 200, (path, r.status_code)
    assert HANDLE in web.http.get(f"/web/accounts/{ids['account_id']}/disconnect").text
