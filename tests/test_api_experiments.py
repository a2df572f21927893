"""The /api/experiments routes through the real Starlette app and service on SQLite: create (201) → list → show →
chart PNG → stop, apply the winner or a named arm, the stopping rule on posted CSV text, 422s naming the field
(never a 500), and another workspace's key getting 404s."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, seed
from hypothesis import strategies as st
from PIL import Image
from sqlalchemy import select
from starlette.testclient import TestClient

from cliply.http.app import create_app
from cliply.media.cover_upload import MAX_COVER_BYTES
from cliply.store.models_publishing import PostTarget
from tests.test_cli_experiments import captions, decide, rendered, results
from tests.test_cli_publishing import Env
from tests.test_http import seed as seed_workspaces
from tests.test_http_fuzz import FUZZ, INTS, JSON, PATH_TEXT, RAW, SCALARS, TEXT

PNG = b"\x89PNG\r\n\x1a\n"


@dataclass
class Api:
    env: Env
    http: TestClient
    tokens: dict[str, str]
    clips: dict[str, str]
    accounts: dict[str, int]

    def auth(self, ws: str = "acme") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[ws]}"}

    def body(self, **overrides: Any) -> dict[str, Any]:
        return {
            "clip_id": self.clips["acme"],
            "kind": "caption",
            "variants": ["Money talk", "Interest grows"],
            "targets": f"youtube:{self.accounts['youtube']},x:{self.accounts['x']}",
            "posts_per_arm": 2,
            "at": "2030-12-01 09:00",
            "tz": "Europe/Paris",
            "every": "6h",
            "seed": 11,
            "rule": {"min_posts": 2},
            **overrides,
        }

    def create(self, **overrides: Any) -> dict[str, Any]:
        r = self.http.post("/api/experiments", json=self.body(**overrides), headers=self.auth())
        assert r.status_code == 201, r.text
        out: dict[str, Any] = r.json()
        return out


@pytest.fixture
def api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    env = Env(tmp_path, monkeypatch)
    tokens, clips = seed_workspaces(env.db, env.vault)
    accounts = {p: env.account(p, f"{p}-1", ws="acme") for p in ("youtube", "x")}
    with TestClient(create_app(env.settings, db=env.db, vault=env.vault)) as http:
        yield Api(env, http, tokens, clips, accounts)


def test_create_list_show_chart_stop(api: Api) -> None:
    exp = api.create(name="api test", rule={"p_best": 0.9, "min_posts": 2})
    assert exp["status"] == "running" and exp["name"] == "api test" and exp["seed"] == 11
    assert [a["name"] for a in exp["arms"]] == ["A", "B"] and len(exp["assignment"]) == 4
    assert exp["rule"]["p_best"] == 0.9 and exp["rule"]["min_posts"] == 2

    listed = api.http.get("/api/experiments", headers=api.auth()).json()["experiments"]
    assert [e["id"] for e in listed] == [exp["id"]]
    assert api.http.get("/api/experiments?status=stopped", headers=api.auth()).json() == {"experiments": []}
    shown = api.http.get(f"/api/experiments/{exp['id']}", headers=api.auth())
    assert shown.status_code == 200 and shown.json()["decision"]["status"] == "running"
    chart = api.http.get(f"/api/experiments/{exp['id']}/chart.png", headers=api.auth())
    assert chart.status_code == 200 and chart.headers["content-type"] == "image/png"
    assert chart.content.startswith(PNG)

    stopped = api.http.post(f"/api/experiments/{exp['id']}/stop", headers=api.auth())
    assert stopped.status_code == 200 and stopped.json()["status"] == "stopped"
    assert captions(api.env.db) == []
    listed = api.http.get("/api/experiments?status=stopped", headers=api.auth()).json()["experiments"]
    assert [e["id"] for e in listed] == [exp["id"]]


def test_targets_as_a_list_of_strings_or_objects(api: Api) -> None:
    yt, tt = api.accounts["youtube"], api.accounts["x"]
    a = api.create(targets=[f"youtube:{yt}", f"x:{tt}"])
    b = api.create(targets=[{"platform": "youtube", "account_id": yt}, {"platform": "x", "account_id": tt}])
    for exp in (a, b):
        assert {s["platform"] for s in exp["assignment"]} == {"youtube", "x"}


def test_platform_options_reach_that_platforms_targets(api: Api) -> None:
    tt = api.env.account("tiktok", "tiktok-1", ws="acme")
    targets = f"youtube:{api.accounts['youtube']},tiktok:{tt}"
    r = api.http.post("/api/experiments", json=api.body(targets=targets), headers=api.auth())
    assert r.status_code == 422 and "privacy" in r.text.lower(), r.text
    exp = api.create(targets=targets, options={"tiktok": {"privacy": "SELF_ONLY"}})
    with api.env.db.session() as s:
        options = {t.platform: t.options for t in s.scalars(select(PostTarget))}
    assert options["tiktok"]["privacy"] == "SELF_ONLY" and {s["platform"] for s in exp["assignment"]} >= {"tiktok"}
    r = api.http.post("/api/experiments", json=api.body(options={"tiktok": "x"}), headers=api.auth())
    assert r.status_code == 422 and r.json()["fields"][0]["field"].startswith("options"), r.text


def test_apply_the_winner_or_a_named_arm(api: Api) -> None:
    first = api.create(targets=f"youtube:{api.accounts['youtube']}")
    r = api.http.post(f"/api/experiments/{first['id']}/apply", headers=api.auth())
    assert r.status_code == 422 and "winner" in r.json()["error"]  # still running
    decide(api.env.db, first["id"], "B")
    r = api.http.post(f"/api/experiments/{first['id']}/apply", headers=api.auth())
    assert r.status_code == 200, r.text
    assert captions(api.env.db) == ["Interest grows"] * 4
    assert api.http.get(f"/api/experiments/{first['id']}", headers=api.auth()).json()["applied_at"]

    second = api.create(targets=f"youtube:{api.accounts['youtube']}", variants=["Third way", "Fourth way"])
    decide(api.env.db, second["id"], "B")
    r = api.http.post(f"/api/experiments/{second['id']}/apply", json={"arm": "A"}, headers=api.auth())
    assert r.status_code == 200, r.text
    assert set(captions(api.env.db)) == {"Third way"}
    r = api.http.post(f"/api/experiments/{second['id']}/apply", json={"arm": 3}, headers=api.auth())
    assert r.status_code == 422 and r.json()["fields"][0]["field"] == "arm"


def csv_text(rows: list[dict[str, Any]]) -> str:
    head = list(rows[0])
    return "\n".join([",".join(head), *(",".join(str(r[k]) for k in head) for r in rows)]) + "\n"


def test_analyse_posted_csv(api: Api) -> None:
    text = csv_text(results())
    plain = api.http.post(
        "/api/experiments/analyse", json={"csv": text, "metric": "lift", "arm": "variant"}, headers=api.auth()
    )
    assert plain.status_code == 200, plain.text
    assert [a["name"] for a in plain.json()["arms"]] == ["A", "B"] and plain.json()["file"] is None
    assert plain.json()["decision"]["winner"] == "B"
    body = {"csv": text, "metric": "views", "arm": "variant", "baseline": "account_median", "rule": {"p_best": 0.9}}
    adjusted = api.http.post("/api/experiments/analyse", json=body, headers=api.auth()).json()
    assert adjusted["decision"]["winner"] == "B" and adjusted["rule"]["p_best"] == 0.9
    assert adjusted["baseline_column"] == "account_median"

    for bad, word in (
        ({**body, "metric": "likes"}, "likes"),
        ({**body, "baseline": "nope"}, "nope"),
        ({**body, "csv": "variant,views\nA,many\nB,3\n", "baseline": None}, "views"),
    ):
        r = api.http.post("/api/experiments/analyse", json=bad, headers=api.auth())
        assert r.status_code == 422 and word in r.json()["error"], r.text
        assert r.json()["error"].startswith("csv: "), r.text  # never the server's temporary path
    for missing, field in (({**body, "csv": ""}, "csv"), ({"csv": text, "arm": "variant"}, "metric")):
        r = api.http.post("/api/experiments/analyse", json=missing, headers=api.auth())
        assert r.status_code == 422 and r.json()["fields"][0]["field"] == field, r.text


def b64_png(shade: int) -> str:
    out = io.BytesIO()
    Image.new("RGB", (640, 360), (shade, 90, 255 - shade)).save(out, format="PNG")
    return base64.b64encode(out.getvalue()).decode()


def test_thumbnail_images_are_base64(api: Api) -> None:
    rendered(api.env.db, api.clips["acme"])
    exp = api.create(kind="thumbnail", variants=["image:0", "image:1"], images=[b64_png(10), b64_png(200)])
    assert [(a["name"], a["variant"]) for a in exp["arms"]] == [("A", "image:0"), ("B", "image:1")]


@pytest.mark.parametrize(
    "change, field",
    [
        ({"clip_id": None}, "clip_id"),
        ({"kind": "colour"}, "kind"),
        ({"variants": ["only one"]}, "variants"),
        ({"variants": ["a", "b", "c", "d", "e"]}, "variants"),
        ({"targets": "nowhere:1"}, "targets"),
        ({"targets": [{"platform": "youtube"}]}, "targets"),
        ({"targets": 5}, "targets"),
        ({"posts_per_arm": 0}, "posts_per_arm"),
        ({"seed": -1}, "seed"),
        ({"rule": {"pbest": 0.9}}, "rule.pbest"),
        ({"rule": {"p_best": 2}}, "rule.p_best"),
        ({"images": ["not base64!"]}, "images.0"),
        ({"images": [123]}, "images.0"),
    ],
)
def test_bad_bodies_are_422_naming_the_field(api: Api, change: dict[str, Any], field: str) -> None:
    r = api.http.post("/api/experiments", json=api.body(**change), headers=api.auth())
    assert r.status_code == 422, r.text
    assert field in [f["field"] for f in r.json()["fields"]], r.json()


def test_refusals_of_the_service_are_4xx_never_500(api: Api) -> None:
    for change, word in (
        ({"metric": "likes@24h"}, "likes"),
        ({"every": "often"}, "often"),
        ({"clip_id": "no-such-clip"}, "no-such-clip"),
        ({"targets": "youtube:999"}, "999"),
        ({"kind": "thumbnail", "variants": ["image:0", "image:1"], "images": [base64.b64encode(b"xx").decode()]}, ""),
    ):
        r = api.http.post("/api/experiments", json=api.body(**change), headers=api.auth())
        assert r.status_code in (400, 404, 409, 422), (change, r.status_code, r.text)
        assert word in r.json()["error"], (change, r.text)
    big = "A" * (4 * (MAX_COVER_BYTES // 3 + 2))
    r = api.http.post("/api/experiments", json=api.body(images=[big]), headers=api.auth())
    assert r.status_code == 422 and "images.0" in r.text


def test_another_workspace_gets_404(api: Api) -> None:
    exp = api.create()
    other = api.auth("globex")
    for method, path in (
        ("GET", f"/api/experiments/{exp['id']}"),
        ("GET", f"/api/experiments/{exp['id']}/chart.png"),
        ("POST", f"/api/experiments/{exp['id']}/stop"),
        ("POST", f"/api/experiments/{exp['id']}/apply"),
    ):
        r = api.http.request(method, path, headers=other)
        assert r.status_code == 404, (path, r.text)
    assert api.http.get("/api/experiments", headers=other).json() == {"experiments": []}
    assert api.http.get(f"/api/experiments/{exp['id']}", headers=api.auth()).status_code == 200
    assert api.http.get("/api/experiments", headers={}).status_code == 401
    assert api.http.get("/api/experiments?status=bogus", headers=api.auth()).status_code == 422


CREATE_BODY = st.fixed_dictionaries(
    {},
    optional={
        "clip_id": st.one_of(st.just("src_acme-c01"), TEXT, JSON),
        "kind": st.one_of(
            st.sampled_from(["caption", "title", "hashtags", "caption_style", "thumbnail", "hook"]), JSON
        ),
        "variants": st.one_of(st.lists(TEXT, max_size=5), JSON),
        "targets": st.one_of(st.just("youtube:1,x:2"), st.lists(TEXT, max_size=3), JSON),
        "metric": st.one_of(st.sampled_from(["views@24h", "engagement_rate@2d", "watch_time@30s"]), TEXT, JSON),
        "posts_per_arm": st.one_of(INTS, JSON),
        "every": st.one_of(st.sampled_from(["6h", "0s", "99999999999999999999d"]), TEXT, JSON),
        "at": st.one_of(TEXT, JSON),
        "tz": st.one_of(TEXT, JSON),
        "seed": st.one_of(INTS, JSON),
        "rule": st.one_of(st.dictionaries(st.sampled_from(["p_best", "max_loss", "min_posts", "x"]), SCALARS), JSON),
        "images": st.one_of(st.lists(st.one_of(TEXT, st.just("iVBORw0KGgo=")), max_size=2), JSON),
    },
)
ANALYSE_BODY = st.fixed_dictionaries(
    {},
    optional={
        "csv": st.one_of(st.just("variant,views\nA,1\nB,2\nA,3\n"), TEXT, JSON),
        "metric": st.one_of(st.just("views"), TEXT, JSON),
        "arm": st.one_of(st.just("variant"), TEXT, JSON),
        "baseline": st.one_of(st.just("views"), TEXT, JSON),
        "rule": st.one_of(st.dictionaries(st.sampled_from(["p_best", "min_posts", "x"]), SCALARS), JSON),
    },
)


@pytest.mark.parametrize(
    ("path", "body"),
    [("/api/experiments", CREATE_BODY), ("/api/experiments/analyse", ANALYSE_BODY), ("/api/experiments/e/apply", JSON)],
)
@seed(20261207)
@FUZZ
@given(data=st.data())
def test_bodies_never_500(api: Api, path: str, body: Any, data: st.DataObject) -> None:
    payload = data.draw(st.one_of(body, JSON))
    for r in (
        api.http.post(path, headers=api.auth(), content=json.dumps(payload).encode()),
        api.http.post(path, headers=api.auth(), content=data.draw(RAW)),
    ):
        assert r.status_code < 500, r.text
        assert r.status_code < 300 or "error" in r.json()


@seed(20261207)
@FUZZ
@given(text=PATH_TEXT)
def test_path_parameters_never_500(api: Api, text: str) -> None:
    for method, path in (
        ("GET", f"/api/experiments/{text}"),
        ("GET", f"/api/experiments/{text}/chart.png"),
        ("POST", f"/api/experiments/{text}/stop"),
        ("POST", f"/api/experiments/{text}/apply"),
    ):
        assert api.http.request(method, path, headers=api.auth()).status_code in (404, 405), path
    assert api.http.get("/api/experiments", headers=api.auth(), params={"status": text}).status_code in (200, 422)
