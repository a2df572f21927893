"""Workspaces are created explicitly (`cliply workspaces create`); a mistyped --workspace is refused instead of
silently making a new one, except the default workspace, created on first use. CLI input errors are one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select

from cliply.cli import main
from cliply.platforms.models import Credentials
from cliply.settings import Settings
from cliply.store.accounts import AccountsRepo
from cliply.store.db import Database
from cliply.store.models import Workspace
from cliply.store.repo import WorkspaceScope, get_or_create_workspace
from tests.test_http import env_for


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Database:
    for key, value in env_for(tmp_path).items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("CLIPLY_TOKEN_KEYS", raising=False)
    database = Database(Settings.from_env().resolved_database_url)
    database.migrate()
    return database


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def names(db: Database) -> list[str]:
    with db.session() as s:
        return sorted(s.scalars(select(Workspace.name)))


def one_line_error(r: Result, *needles: str) -> None:
    assert r.exit_code == 2, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in r.output, r.output
    assert all(n in lines[0] for n in needles), lines


def test_create_and_list(db: Database) -> None:
    r = cli("workspaces", "create", "acme", "--plan", "pro")
    assert r.exit_code == 0 and "created workspace acme" in r.stdout and "plan pro" in r.stdout
    one_line_error(cli("workspaces", "create", "acme"), "exists already")
    one_line_error(cli("workspaces", "create", "bad name"), "bad workspace name")
    one_line_error(cli("workspaces", "create", "x", "--plan", "no-such-plan"))
    listed = json.loads(cli("workspaces", "list", "--json").stdout)["workspaces"]
    assert [(w["name"], w["plan"]) for w in listed] == [("acme", "pro")]


@pytest.mark.parametrize(
    "args",
    [
        ("posts", "list"),
        ("accounts", "list"),
        ("keys", "create-token", "ci"),
        ("keys", "list-tokens"),
        ("posts", "show", "post_1"),
        ("ingest", "talk.mp4"),
        ("sources", "list"),
        ("clips",),
    ],
)
def test_an_unknown_workspace_is_refused_not_created(db: Database, args: tuple[str, ...]) -> None:
    r = cli(*args, "--workspace", "acmee")
    one_line_error(r, "no workspace 'acmee'", "cliply workspaces create acmee")
    assert "acmee" not in names(db)


def test_a_created_workspace_and_the_default_one_just_work(db: Database) -> None:
    assert cli("workspaces", "create", "acme").exit_code == 0
    assert cli("posts", "list", "--workspace", "acme").exit_code == 0
    assert cli("posts", "list").exit_code == 0  # the default workspace: created on first use
    assert names(db) == ["acme", "default"]


@pytest.fixture
def account(db: Database) -> int:
    with db.session() as s:
        scope = WorkspaceScope(s, get_or_create_workspace(s, "default"))
        scope.add_source("src_1", "file", "/in/a.mp4", "a.mp4", status="ready")
        scope.replace_clips("src_1", [{"start_s": 0.0, "end_s": 15.0, "text": "Hello there."}])
        settings = Settings.from_env()
        from cliply.wiring import build_vault

        repo = AccountsRepo(scope, build_vault(settings))
        return repo.connect("youtube", Credentials(access_token="t", account_id="UC1"), "UC1").id


@pytest.mark.parametrize(
    ("at", "tz", "needle"),
    [
        ("99999-01-01 00:00", "UTC", "bad time"),
        ("0001-01-01 00:00", "Asia/Tokyo", "outside the range"),
        ("9999-12-31 23:59", "America/New_York", "outside the range"),
        ("2020-01-01 09:00", "UTC", "in the past"),
        ("2031-01-01 09:00", "Z" * 5000, "unknown time zone"),
        ("2031-01-01 09:00", "../../etc/passwd", "time zone"),
    ],
)
def test_bad_times_are_one_line_errors(account: int, at: str, tz: str, needle: str) -> None:
    r = cli(
        "posts",
        "create",
        "--clip",
        "src_1-c01",
        "--targets",
        f"youtube:{account}",
        "--caption",
        "c",
        "--at",
        at,
        "--tz",
        tz,
    )
    one_line_error(r, needle)


def test_at_now_is_explicitly_now(account: int) -> None:
    r = cli(
        "posts",
        "create",
        "--clip",
        "src_1-c01",
        "--targets",
        f"youtube:{account}",
        "--caption",
        "c",
        "--at",
        "now",
        "--json",
    )
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["status"] == "scheduled"


@pytest.mark.parametrize("name", ["", "   ", "n" * 500])
def test_bad_token_names_are_one_line_errors(db: Database, name: str) -> None:
    one_line_error(cli("keys", "create-token", name), "name")
