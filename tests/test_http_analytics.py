"""The analytics REST routes over the real platform sandbox: track by URL (201 / 200 already tracked, 422 bad
body, 400 unknown or lookalike URL, 409 "connect …"), list / show / delete, stats, leaderboard, CSV download and
chart PNGs, all in the API token's workspace (another workspace's ids are 404s)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from starlette.testclient import TestClient

from cliply.http.app import build
from cliply.store.accounts import AccountsRepo
from cliply.store.repo import WorkspaceScope, get_or_create_workspace
from tests.test_analytics_service import World, sqlite_world  # noqa: F401  (fixture)

PNG = b"\x89PNG\r\n\x1a\n"


@dataclass
class Api:
    world: World
    http: TestClient
    tokens: dict[str, str]

    def auth(self, ws: str = "acme") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[ws]}"}


@pytest.fixture
def api(sqlite_world: World) -> Iterator[Api]:
    tokens = {}
    with sqlite_world.app.db.session() as s:
        for ws in ("acme", "globex"):
            scope = WorkspaceScope(s, get_or_create_workspace(s, ws))
            tokens[ws] = AccountsRepo(scope, sqlite_world.app.vault).create_api_token("tests")
    with TestClient(build(sqlite_world.app)) as http:
        yield Api(sqlite_world, http, tokens)


def test_track_list_show_delete(api: Api) -> None:
    w = api.world
    w.connect("tiktok", "tt_alice", ws="acme")
    url = w.seed("tiktok", "tt_alice").payload["public_url"]
    created = api.http.post("/api/tracked", json={"url": url}, headers=api.auth())
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["created"] is True and body["platform"] == "tiktok" and body["metrics"]["saves"] == "not available"
    again = api.http.post("/api/tracked", json={"url": url}, headers=api.auth())
    assert again.status_code == 200 and again.json()["message"] == "already tracked"
    assert again.json()["id"] == body["id"]

    listed = api.http.get("/api/tracked", headers=api.auth()).json()["tracked"]
    assert [p["id"] for p in listed] == [body["id"]]
    assert api.http.get("/api/tracked?status=gone", headers=api.auth()).json() == {"tracked": []}
    shown = api.http.get(f"/api/tracked/{body['id']}", headers=api.auth()).json()
    assert len(shown["snapshots"]) == 1 and "derived" in shown and "forecast" in shown
    chart = api.http.get(f"/api/tracked/{body['id']}/chart.png", headers=api.auth())
    assert chart.status_code == 200 and chart.headers["content-type"] == "image/png"
    assert chart.content.startswith(PNG)
    gone = api.http.delete(f"/api/tracked/{body['id']}", headers=api.auth())
    assert gone.status_code == 200 and gone.json()["removed"] is True
    assert api.http.get(f"/api/tracked/{body['id']}", headers=api.auth()).status_code == 404


@pytest.mark.parametrize(
    "payload, status, text",
    [
        ({}, 422, "url"),
        ({"url": 42}, 422, "url"),
        ({"url": ""}, 422, "url"),
        ({"url": "https://youtube.com.evil.example/watch?v=dQw4w9WgXcQ"}, 400, "not a post URL"),
        ({"url": "https://www.xn--yutube-wqf.com/watch?v=dQw4w9WgXcQ"}, 400, "not a post URL"),
        ({"url": "https://example.com/video/1"}, 400, "not a post URL"),
    ],
)
def test_bad_requests_are_4xx_with_a_message(api: Api, payload: dict[str, object], status: int, text: str) -> None:
    r = api.http.post("/api/tracked", json=payload, headers=api.auth())
    assert r.status_code == status, r.text
    assert text in r.json()["error"]
    if status == 422:
        assert r.json()["fields"][0]["field"] == "url"


def test_no_account_that_can_read_is_409_naming_what_to_connect(api: Api) -> None:
    url = api.world.seed("tiktok", "tt_stranger").payload["public_url"]
    r = api.http.post("/api/tracked", json={"url": url}, headers=api.auth())
    assert r.status_code == 409
    assert "`cliply accounts connect tiktok`" in r.json()["error"]


def test_workspaces_only_see_their_own(api: Api) -> None:
    w = api.world
    w.connect("tiktok", "tt_alice", ws="acme")
    w.connect("tiktok", "tt_gus", ws="globex")
    mine = api.http.post(
        "/api/tracked", json={"url": w.seed("tiktok", "tt_alice").payload["public_url"]}, headers=api.auth()
    ).json()
    theirs = api.http.post(
        "/api/tracked", json={"url": w.seed("tiktok", "tt_gus").payload["public_url"]}, headers=api.auth("globex")
    ).json()
    for method, path in (
        ("GET", f"/api/tracked/{theirs['id']}"),
        ("DELETE", f"/api/tracked/{theirs['id']}"),
        ("GET", f"/api/tracked/{theirs['id']}/chart.png"),
        ("GET", f"/api/stats?post={theirs['id']}"),
        ("GET", f"/api/stats?account={theirs['account_id']}"),
        ("GET", "/api/tracked/abc"),
    ):
        assert api.http.request(method, path, headers=api.auth()).status_code == 404, path
    assert [p["id"] for p in api.http.get("/api/tracked", headers=api.auth()).json()["tracked"]] == [mine["id"]]
    board = api.http.get("/api/leaderboard?by=account&since=24h", headers=api.auth()).json()
    assert [r["account_id"] for r in board["rows"]] == [mine["account_id"]]
    stats = api.http.get("/api/stats?since=7d", headers=api.auth()).json()
    assert [p["tracked_post_id"] for p in stats["posts"]] == [mine["id"]]
    rows = list(csv.DictReader(io.StringIO(api.http.get("/api/analytics/export.csv", headers=api.auth()).text)))
    assert [int(r["tracked_post_id"]) for r in rows] == [mine["id"]]
    assert api.http.get("/api/tracked", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_stats_leaderboard_csv_and_charts(api: Api) -> None:
    w = api.world
    w.connect("youtube", "yt_evil", ws="acme", handle="@=1+2")
    tracked = api.http.post(
        "/api/tracked", json={"url": w.seed("youtube", "yt_evil").payload["public_url"]}, headers=api.auth()
    ).json()
    post = api.http.get(f"/api/stats?post={tracked['id']}&since=24h", headers=api.auth()).json()
    assert post["kind"] == "post" and post["snapshots"][0]["shares"] == "not available"
    assert api.http.get("/api/stats?since=soon", headers=api.auth()).status_code == 400
    bad = api.http.get("/api/stats?post=abc", headers=api.auth())
    assert bad.status_code == 422 and bad.json()["fields"][0]["field"] == "post"
    assert api.http.get("/api/stats?post=1&clip=x", headers=api.auth()).status_code == 422
    assert api.http.get("/api/leaderboard?by=planet", headers=api.auth()).status_code == 422
    board = api.http.get("/api/leaderboard?by=account", headers=api.auth()).json()
    assert board["by"] == "account" and board["since"] == "7d" and board["rows"][0]["handle"] == "@=1+2"

    export = api.http.get("/api/analytics/export.csv?since=30d", headers=api.auth())
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    assert export.headers["content-disposition"].startswith("attachment;")
    row = next(csv.DictReader(io.StringIO(export.text)))
    assert row["account"] == "'@=1+2" and row["shares"] == ""
    for path in ("/api/charts/platforms.png", "/api/charts/leaderboard.png?by=clip&since=30d"):
        png = api.http.get(path, headers=api.auth())
        assert png.status_code == 200 and png.content.startswith(PNG), path
