"""One typed settings object: every CLIPLY_* variable, validated with the variable's name, secrets masked."""

from __future__ import annotations

from pathlib import Path

import pytest

from cliply.platforms import PLATFORMS
from cliply.settings import Settings, SettingsError, describe, mask_url, unknown_variables, variables


def test_defaults_without_environment() -> None:
    s = Settings.from_env({})
    assert s.home == Path(".cliply")
    assert s.publish_linger_s == 60 and s.retention_days == 7
    assert all(s.publishes(p) for p in PLATFORMS)
    assert s.platform("tiktok").base_url == "" and s.platform("tiktok").timeout_s == 30


def test_values_are_typed_and_nested_per_platform() -> None:
    s = Settings.from_env(
        {
            "CLIPLY_RENDER_CRF": "28",
            "CLIPLY_ALLOW_PRIVATE_URLS": "yes",
            "CLIPLY_X_BASE_URL": "http://127.0.0.1:9/x/",
            "CLIPLY_X_TIMEOUT_S": "2.5",
            "CLIPLY_HOME": "/srv/cliply",
            "DAGSTER_HOME": "/srv/dagster",
        }
    )
    assert s.render_crf == 28 and s.allow_private_urls is True
    assert s.platform("x").base_url == "http://127.0.0.1:9/x" and s.platform("x").timeout_s == 2.5
    assert s.platform("youtube").base_url == ""
    assert s.resolved_dagster_home == Path("/srv/dagster")
    assert Settings.from_env({"CLIPLY_HOME": "/srv/cliply"}).resolved_dagster_home == Path("/srv/cliply/dagster")


def test_empty_value_means_default() -> None:
    assert Settings.from_env({"CLIPLY_PUBLISH_RUN_STALE_S": ""}).publish_run_stale_s == 1800


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"CLIPLY_RENDER_CRF": "abc"}, "CLIPLY_RENDER_CRF"),
        ({"CLIPLY_RENDER_CRF": "99"}, "CLIPLY_RENDER_CRF"),
        ({"CLIPLY_SMTP_PORT": "70000"}, "CLIPLY_SMTP_PORT"),
        ({"CLIPLY_TIKTOK_TIMEOUT_S": "-1"}, "CLIPLY_TIKTOK_TIMEOUT_S"),
        ({"CLIPLY_CAPTION_HIGHLIGHT": "red"}, "CLIPLY_CAPTION_HIGHLIGHT"),
        ({"CLIPLY_ALLOW_PRIVATE_URLS": "maybe"}, "CLIPLY_ALLOW_PRIVATE_URLS"),
    ],
)
def test_a_bad_value_names_its_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_env(env)
    message = str(info.value)
    assert message.startswith(f"{variable}: ") and "\n" not in message


def test_a_bad_secret_is_not_echoed() -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_env({"CLIPLY_SMTP_PORT": "x", "CLIPLY_SMTP_PASSWORD": "hunter2"})
    assert "hunter2" not in str(info.value)


def test_publishing_switch_typo_counts_as_off() -> None:
    s = Settings.from_env({"CLIPLY_PUBLISH_X": "nope", "CLIPLY_PUBLISH_TIKTOK": "0", "CLIPLY_PUBLISH_YOUTUBE": "on"})
    assert not s.publishes("x") and not s.publishes("tiktok") and s.publishes("youtube")
    assert not Settings.from_env({"CLIPLY_PUBLISHING_ENABLED": "of"}).publishes("youtube")


def test_describe_lists_every_variable_with_origin_and_masks_secrets() -> None:
    env = {
        "CLIPLY_DATABASE_URL": "postgresql+psycopg2://cliply:s3cret@db:5432/cliply",
        "CLIPLY_SMTP_PASSWORD": "hunter2",
        "CLIPLY_TIKTOK_CLIENT_SECRET": "tt-secret",
        "CLIPLY_WEBHOOK_URL": "https://hooks.example/T0/secret-path",
        "CLIPLY_MAX_CLIPS": "3",
    }
    rows = {r.variable: r for r in describe(Settings.from_env(env), env)}
    assert set(rows) == {v.name for v in variables()}
    assert {f"CLIPLY_{p.upper()}_CLIENT_SECRET" for p in PLATFORMS} <= set(rows)
    text = repr(list(rows.values()))
    for secret in ("s3cret", "hunter2", "tt-secret", "secret-path"):
        assert secret not in text
    assert rows["CLIPLY_DATABASE_URL"].value == "postgresql+psycopg2://cliply:***@db:5432/cliply"
    assert rows["CLIPLY_MAX_CLIPS"].value == "3" and rows["CLIPLY_MAX_CLIPS"].source == "environment"
    assert rows["CLIPLY_MAX_CLIPS"].default == "5"
    assert rows["CLIPLY_RENDER_CRF"].source == "default"
    assert rows["CLIPLY_SMTP_PASSWORD"].value == "********"


def test_mask_url_leaves_urls_without_password_alone() -> None:
    assert mask_url("sqlite:////tmp/a.db") == "sqlite:////tmp/a.db"
    assert mask_url("postgresql://u@h/db") == "postgresql://u@h/db"
    assert mask_url("postgresql://u:p@h/db") == "postgresql://u:***@h/db"


def test_unknown_variables_are_reported() -> None:
    env = {"CLIPLY_MAX_CLIPZ": "3", "CLIPLY_PUBLISH_TIKTOC": "0", "CLIPLY_MAX_CLIPS": "3", "PATH": "/bin"}
    assert unknown_variables(env) == ["CLIPLY_MAX_CLIPZ", "CLIPLY_PUBLISH_TIKTOC"]


def test_settings_are_frozen() -> None:
    s = Settings.from_env({})
    with pytest.raises(ValueError):
        s.max_clips = 9  # type: ignore[misc]


def test_readme_documents_every_variable() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    missing = []
    for var in variables():
        shown = var.name
        if var.platform:
            shown = shown.replace(f"_{var.platform.upper()}", "_<PLATFORM>", 1)
        if f"`{shown}`" not in readme:
            missing.append(shown)
    assert missing == []
