"""`cliply config` lists every setting with its origin, masking secrets; a bad CLIPLY_* value is one line, exit 2,
for any command; `--debug` adds the traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from cliply.cli import main
from cliply.settings import variables


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in [v.name for v in variables()]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CLIPLY_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CLIPLY_DATABASE_URL", f"sqlite:///{tmp_path / 'app.db'}")
    return monkeypatch


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_config_lists_every_variable_with_its_origin(env: pytest.MonkeyPatch) -> None:
    env.setenv("CLIPLY_MAX_CLIPS", "3")
    r = cli("config")
    assert r.exit_code == 0, r.output
    lines = {line.split()[0]: line.split() for line in r.stdout.splitlines()[1:]}
    assert set(lines) == {v.name for v in variables()}
    assert lines["CLIPLY_MAX_CLIPS"][1:4] == ["3", "environment", "5"]
    assert lines["CLIPLY_RENDER_CRF"][1:4] == ["23", "default", "23"]


def test_config_masks_secrets_and_url_passwords(env: pytest.MonkeyPatch) -> None:
    env.setenv("CLIPLY_SMTP_PASSWORD", "hunter2-smtp")
    env.setenv("CLIPLY_TIKTOK_CLIENT_SECRET", "tiktok-secret-value")
    env.setenv("CLIPLY_DATABASE_URL", "postgresql://cliply:db-pass-123@127.0.0.1:5432/cliply")
    for args in (("config",), ("config", "--json")):
        r = cli(*args)
        assert r.exit_code == 0, r.output
        for secret in ("hunter2-smtp", "tiktok-secret-value", "db-pass-123"):
            assert secret not in r.output
    rows = {row["variable"]: row for row in json.loads(r.stdout)["settings"]}
    assert rows["CLIPLY_SMTP_PASSWORD"]["value"] == "********"
    assert rows["CLIPLY_SMTP_PASSWORD"]["source"] == "environment"
    assert rows["CLIPLY_DATABASE_URL"]["value"] == "postgresql://cliply:***@127.0.0.1:5432/cliply"
    assert rows["CLIPLY_WEBHOOK_URL"] == {**rows["CLIPLY_WEBHOOK_URL"], "value": "", "source": "default"}


def test_config_warns_about_unknown_variables(env: pytest.MonkeyPatch) -> None:
    env.setenv("CLIPLY_MAX_CLIP", "3")  # a typo of CLIPLY_MAX_CLIPS
    r = cli("config", "--json")
    assert r.exit_code == 0
    assert "CLIPLY_MAX_CLIP is not a Cliply setting" in r.stderr
    assert json.loads(r.stdout)["unknown"] == ["CLIPLY_MAX_CLIP"]


@pytest.mark.parametrize("args", [("config",), ("posts", "list"), ("accounts", "list"), ("sources",)])
def test_a_bad_value_is_one_line_naming_the_variable(env: pytest.MonkeyPatch, args: tuple[str, ...]) -> None:
    env.setenv("CLIPLY_MAX_CLIPS", "many")
    r = cli(*args)
    assert r.exit_code == 2
    assert r.stderr.startswith("error: CLIPLY_MAX_CLIPS") and len(r.stderr.strip().splitlines()) == 1
    assert "Traceback" not in r.output


def test_debug_shows_the_traceback(env: pytest.MonkeyPatch) -> None:
    env.setenv("CLIPLY_SMTP_PORT", "not-a-port")
    r = cli("--debug", "posts", "list")
    assert r.exit_code == 2
    assert "Traceback" in r.stderr and r.stderr.strip().splitlines()[-1].startswith("error: CLIPLY_SMTP_PORT")


def test_expected_failures_are_one_line_and_faults_exit_1(env: pytest.MonkeyPatch) -> None:
    r = cli("posts", "show", "post_nope")
    assert r.exit_code == 1 and r.stderr.strip() == "error: no post 'post_nope' in this workspace"
    r = cli("accounts", "connect", "myspace", "--no-wait")
    assert r.exit_code == 2 and r.stderr.startswith("error: unknown platform 'myspace'")
