"""`cliply scoring show|on|off|reset|fit` through click and /api/scoring through the HTTP app: the status, the
switches, a fit (skipped with its reason, then a version), one-line errors with exit 2, the API token's workspace
only."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from starlette.testclient import TestClient

from cliply.cli import main
from cliply.http.app import build
from cliply.media.highlights import WEIGHTS
from cliply.store.accounts import AccountsRepo
from cliply.store.repo import WorkspaceScope, get_or_create_workspace
from tests.test_scoring_learning import World, make_world, seed_published


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    w = make_world(tmp_path, monkeypatch)
    seed_published(w, "acme", 12)  # + 1 clip whose post was young at T0, old enough by now
    seed_published(w, "globex", 4, seed=2)
    yield w
    w.app.db.dispose()


def test_show_fit_off_on_reset(world: World) -> None:
    shown = cli("scoring", "show", "--workspace", "acme")
    assert shown.exit_code == 0, shown.output
    assert "workspace acme: learning on; new sources are scored with default weights" in shown.stdout
    assert "views@24h" in shown.stdout
    assert json.loads(cli("scoring", "show", "--workspace", "acme", "--json").stdout)["active"]["weights"] == WEIGHTS

    skipped = cli("scoring", "fit", "--workspace", "globex")
    assert skipped.exit_code == 0 and "not fitted: 5 clips have views@24h; learning needs 10" in skipped.stdout
    fitted = cli("scoring", "fit", "--workspace", "acme")
    assert fitted.exit_code == 0, fitted.output
    assert "workspace acme: version 1 learned from" in fitted.stdout and "energy" in fitted.stdout
    status = json.loads(cli("scoring", "show", "--workspace", "acme", "--json").stdout)
    assert status["active"]["version"] == 1 and status["active"]["source"] == "learned"
    assert "with version 1 (learned from" in cli("scoring", "show", "--workspace", "acme").stdout

    off = json.loads(cli("scoring", "off", "--workspace", "acme", "--json").stdout)
    assert off["learning"] is False and off["active"]["version"] is None
    assert "learning off" in cli("scoring", "show", "--workspace", "acme").stdout
    assert json.loads(cli("scoring", "on", "--workspace", "acme", "--json").stdout)["active"]["version"] == 1
    reset = cli("scoring", "reset", "--workspace", "acme")
    assert reset.exit_code == 0 and "scored with default weights" in reset.stdout and "v1 inactive" in reset.stdout
    assert json.loads(cli("scoring", "show", "--workspace", "globex", "--json").stdout)["versions"] == []


def test_unknown_workspace_is_one_line_exit_2(world: World) -> None:
    r = cli("scoring", "show", "--workspace", "nope")
    assert r.exit_code == 2
    assert r.stderr.strip().splitlines() == [
        "error: no workspace 'nope'; create it with `cliply workspaces create nope`"
    ]


@pytest.fixture
def http(world: World) -> Iterator[tuple[TestClient, dict[str, dict[str, str]]]]:
    headers = {}
    with world.app.db.session() as s:
        for ws in ("acme", "globex"):
            scope = WorkspaceScope(s, get_or_create_workspace(s, ws))
            token = AccountsRepo(scope, world.app.vault).create_api_token("tests")
            headers[ws] = {"Authorization": f"Bearer {token}"}
    with TestClient(build(world.app)) as client:
        yield client, headers


def test_rest_scoring_in_the_token_workspace(http: tuple[TestClient, dict[str, dict[str, str]]]) -> None:
    client, auth = http
    assert client.get("/api/scoring").status_code == 401
    assert client.post("/api/scoring/fit").status_code == 401
    got = client.get("/api/scoring", headers=auth["acme"])
    assert got.status_code == 200 and got.json()["workspace"] == "acme" and got.json()["learning"] is True
    fitted = client.post("/api/scoring/fit", headers=auth["acme"]).json()
    assert fitted["version"] == 1 and fitted["learned_from"] == 13
    assert client.post("/api/scoring/fit", headers=auth["globex"]).json()["skipped"].startswith("5 clips")
    assert client.get("/api/scoring", headers=auth["globex"]).json()["versions"] == []
    off = client.post("/api/scoring/off", headers=auth["acme"])
    assert off.status_code == 200 and off.json()["active"]["source"] == "default"
    assert client.post("/api/scoring/on", headers=auth["acme"]).json()["active"]["version"] == 1
    reset = client.post("/api/scoring/reset", headers=auth["acme"]).json()
    assert reset["active"]["version"] is None and reset["versions"][0]["active"] is False
    assert client.get("/api/scoring/reset", headers=auth["acme"]).status_code == 405
