"""The CLI and the REST API are two adapters over the same use cases: the same call gives the same JSON, the same
rules (Bluesky's handle) apply, and a malformed request body is a 422 naming the field, never a 500."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from starlette.testclient import TestClient

from cliply import usecases, wiring
from cliply.cli import main
from cliply.http.app import create_app
from cliply.platforms import make_client
from cliply.platforms.models import Credentials
from cliply.publishing import service
from cliply.settings import Settings
from cliply.store.accounts import AccountsRepo
from cliply.usecases import workspace_scope
from tests.test_http import env_for

TEXT = "Compound interest is the engine of wealth. Interest on interest grows your savings every year."


class FakeBluesky:
    """A Bluesky client whose login answers with fixed credentials (what the handle rule reads)."""

    def __init__(self, extra: dict[str, Any]) -> None:
        self.extra = extra

    def login(self, handle: str, password: str) -> Credentials:
        return Credentials(
            access_token="jwt-access", refresh_token="jwt-refresh", account_id="did:plc:abc", extra=dict(self.extra)
        )

    def close(self) -> None:
        pass


@dataclass
class Stack:
    app: wiring.Cliply
    api: TestClient
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def cli(self, *args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)


@pytest.fixture
def stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    for key, value in env_for(tmp_path).items():
        monkeypatch.setenv(key, value)
    for name in ("CLIPLY_TOKEN_KEYS", "CLIPLY_PUBLIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    app = wiring.cliply(Settings.from_env())
    with workspace_scope(app, None) as scope:
        scope.add_source("src_1", "file", "/in/a.mp4", "a.mp4", status="ready")
        scope.replace_clips("src_1", [{"start_s": 0.0, "end_s": 15.0, "text": TEXT}])
        repo = AccountsRepo(scope, app.vault)
        repo.connect("youtube", Credentials(access_token="tok", account_id="UC1"), "UC1")
        token = repo.create_api_token("tests")
    with TestClient(create_app(app.settings)) as api:
        yield Stack(app, api, token)


def _without_ids(post: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in post.items() if k not in {"id", "created_at"}}
    out["targets"] = [{k: v for k, v in t.items() if k != "id"} for t in post["targets"]]
    return out


def test_cli_and_api_give_the_same_json(stack: Stack) -> None:
    api = stack.api.post(
        "/api/posts",
        headers=stack.auth,
        json={
            "clip_id": "src_1-c01",
            "caption": "Money talk",
            "targets": [{"platform": "youtube", "account_id": 1}],
            "at": "2030-01-01 09:00",
            "timezone": "Europe/Paris",
        },
    )
    assert api.status_code == 201, api.text
    cli = stack.cli(
        "posts",
        "create",
        "--clip",
        "src_1-c01",
        "--targets",
        "youtube:1",
        "--caption",
        "Money talk",
        "--at",
        "2030-01-01 09:00",
        "--tz",
        "Europe/Paris",
        "--json",
    )
    assert cli.exit_code == 0, cli.output
    assert _without_ids(json.loads(cli.stdout)) == _without_ids(api.json())

    post_id = api.json()["id"]
    shown = json.loads(stack.cli("posts", "show", post_id, "--json").stdout)
    assert shown == stack.api.get(f"/api/posts/{post_id}", headers=stack.auth).json()
    assert (
        json.loads(stack.cli("posts", "list", "--json").stdout)
        == stack.api.get("/api/posts", headers=stack.auth).json()
    )
    assert (
        json.loads(stack.cli("accounts", "list", "--json").stdout)
        == stack.api.get("/api/accounts", headers=stack.auth).json()
    )
    # ... and both are the use case's own result
    assert shown == service.show_post(stack.app, None, post_id)


def test_suggestions_are_shown_alike(stack: Stack) -> None:
    body = {"clip_id": "src_1-c01", "targets": [{"platform": "youtube", "account": "UC1"}]}
    api = stack.api.post("/api/posts", headers=stack.auth, json=body).json()
    cli = json.loads(stack.cli("posts", "create", "--clip", "src_1-c01", "--targets", "youtube:UC1", "--json").stdout)
    assert api["suggested"] == cli["suggested"] and "interest" in cli["suggested"]["hashtags"]


@pytest.mark.parametrize("extra, shown", [({"handle": "bob.bsky.social"}, "bob.bsky.social"), ({}, "did:plc:abc")])
def test_bluesky_handle_rule_is_the_same_in_the_cli_and_the_api(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, extra: dict[str, Any], shown: str
) -> None:
    def clients(platform: str) -> Any:
        return FakeBluesky(extra) if platform == "bluesky" else make_client(platform)

    monkeypatch.setattr("cliply.cli.accounts.app", lambda: wiring.cliply(stack.app.settings, clients=clients))
    r = stack.cli("accounts", "connect", "bluesky", input="typed.handle\napp-pass\n")
    assert r.exit_code == 0, r.output
    assert f"connected bluesky account {shown} " in r.stdout
    with TestClient(create_app(stack.app.settings, clients=clients)) as api:
        answer = api.post(
            "/api/accounts",
            headers=stack.auth,
            json={"platform": "bluesky", "handle": "typed.handle", "app_password": "app-pass"},
        )
    assert answer.status_code == 201 and answer.json()["handle"] == shown
    assert "app-pass" not in answer.text and "jwt-" not in answer.text


BAD_BODIES = [
    (
        "post",
        "/api/posts",
        {"clip_id": "src_1-c01", "caption": ["a", "list"], "targets": [{"platform": "youtube", "account_id": 1}]},
        "caption",
    ),
    (
        "post",
        "/api/posts",
        {"clip_id": "src_1-c01", "at": 1893456000, "targets": [{"platform": "youtube", "account_id": 1}]},
        "at",
    ),
    ("post", "/api/posts", {"clip_id": "src_1-c01", "targets": "youtube:1"}, "targets"),
    ("post", "/api/posts", {"clip_id": "src_1-c01", "targets": []}, "targets"),
    (
        "post",
        "/api/posts",
        {"clip_id": "src_1-c01", "targets": [{"platform": "myspace", "account_id": 1}]},
        "targets.0.platform",
    ),
    ("post", "/api/posts", {"clip_id": "src_1-c01", "targets": [{"platform": "youtube"}]}, "targets.0"),
    (
        "post",
        "/api/posts",
        {"clip_id": "src_1-c01", "targets": [{"platform": "youtube", "account_id": 1, "options": ["privacy"]}]},
        "targets.0.options",
    ),
    ("post", "/api/accounts", {"platform": "bluesky", "handle": ["bob"], "app_password": "x"}, "handle"),
    ("post", "/api/uploads", {"filename": 42}, "filename"),
]


@pytest.mark.parametrize("method, path, body, field", BAD_BODIES)
def test_wrong_types_are_422_naming_the_field(
    stack: Stack, method: str, path: str, body: dict[str, Any], field: str
) -> None:
    r = stack.api.request(method, path, headers=stack.auth, json=body)
    assert r.status_code == 422, r.text
    assert field in [f["field"] for f in r.json()["fields"]]


def test_edit_bodies_are_checked_too(stack: Stack) -> None:
    post = stack.api.post(
        "/api/posts",
        headers=stack.auth,
        json={
            "clip_id": "src_1-c01",
            "caption": "x",
            "targets": [{"platform": "youtube", "account_id": 1}],
            "at": "2030-01-01 09:00",
        },
    ).json()
    for body, field in (
        ({"captions": {"youtube": 5}}, "captions.youtube"),
        ({"captions": ["youtube"]}, "captions"),
        ({"at": 5}, "at"),
        ({"title": {"t": 1}}, "title"),
    ):
        r = stack.api.patch(f"/api/posts/{post['id']}", headers=stack.auth, json=body)
        assert r.status_code == 422 and field in [f["field"] for f in r.json()["fields"]], r.text
    assert stack.api.patch(f"/api/posts/{post['id']}", headers=stack.auth, content=b"[1]").status_code == 400
    assert stack.api.patch(f"/api/posts/{post['id']}", headers=stack.auth, content=b"{").status_code == 400
    ok = stack.api.patch(f"/api/posts/{post['id']}", headers=stack.auth, json={"caption": "y"})
    assert ok.status_code == 200 and ok.json()["targets"][0]["caption"] == "y"


def test_publish_now_and_retry_go_through_the_workspace_scope(stack: Stack) -> None:
    created = service.create_post(
        stack.app,
        None,
        clip_id="src_1-c01",
        caption="x",
        at="2030-01-01 09:00",
        drafts=service.drafts_for(service.parse_targets("youtube:1")),
    )
    now = stack.api.post(f"/api/posts/{created.post['id']}/publish-now", headers=stack.auth).json()
    assert now["made_due"] == 1 and now["targets"][0]["due_at"] < "2030"
    with pytest.raises(service.ServiceError, match="workspaces create"):  # never created: refused, not made
        service.publish_now(stack.app, "another-workspace", created.post["id"])
    usecases.create_workspace(stack.app, "another-workspace")
    with pytest.raises(service.NotFound):
        service.publish_now(stack.app, "another-workspace", created.post["id"])
    retry = stack.api.post(f"/api/targets/{created.post['targets'][0]['id']}/retry", headers=stack.auth)
    assert retry.status_code == 409 and "only failed targets" in retry.json()["error"]


def test_the_cli_imports_no_http_code_but_the_server() -> None:
    """The CLI shares the use cases, not the HTTP handlers: only `cliply serve` builds the app."""
    import ast

    root = Path(__file__).resolve().parent.parent / "cliply" / "cli"
    found = {}
    for path in root.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("cliply.http"):
                found[(path.name, node.module)] = sorted(a.name for a in node.names)
    assert found == {
        ("serving.py", "cliply.http.app"): ["build"],
        ("serving.py", "cliply.http.readiness"): ["run_checks"],
    }
