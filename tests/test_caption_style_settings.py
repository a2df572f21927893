"""Caption style per workspace (CLI, REST, the clips stage's resolution) and per post (validated at creation), and
which platform errors count as format rejections. No rendering here: see tests/test_renditions.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cliply.media.caption_styles import style_named
from cliply.pipeline import _caption_style
from cliply.platforms.base import PlatformClient
from cliply.platforms.errors import ErrorClass, PlatformError, is_format_rejection
from cliply.publishing.captions import CaptionRejected, TargetDraft, check_drafts
from cliply.settings import Settings


def test_format_rejections_are_recognised_from_each_platforms_codes() -> None:
    def err(platform: str, code: str, cls: ErrorClass = ErrorClass.CONTENT_REJECTED) -> PlatformError:
        return PlatformError(platform, cls, "refused", code=code)

    for platform, code in [
        ("tiktok", "file_format_check_failed"),
        ("tiktok", "duration_check_failed"),
        ("youtube", "codec"),
        ("instagram", "352/2207026"),
        ("instagram", "2207026"),
        ("facebook", "352"),
        ("x", "InvalidMedia"),
    ]:
        assert is_format_rejection(err(platform, code)), (platform, code)
    for platform, code in [
        ("tiktok", "spam_risk_text"),
        ("tiktok", "validation"),
        ("youtube", "invalidVideoMetadata"),
        ("instagram", "2207057"),
        ("x", "duplicate"),
    ]:
        assert not is_format_rejection(err(platform, code)), (platform, code)
    assert not is_format_rejection(err("tiktok", "file_format_check_failed", ErrorClass.TRANSIENT))


def test_the_workspace_style_wins_over_the_setting(tmp_path: Path) -> None:
    s = Settings(home=tmp_path, caption_style="highlight")
    assert _caption_style(s) == style_named("highlight")
    assert _caption_style(s, "boxed") == style_named("boxed")
    assert _caption_style(s, None) == style_named("highlight")


def test_workspace_caption_style_from_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cliply.cli import main as cli

    monkeypatch.setenv("CLIPLY_HOME", str(tmp_path))
    monkeypatch.setenv("CLIPLY_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    runner = CliRunner()
    shown = runner.invoke(cli, ["workspaces", "caption-style", "--json"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["caption_style"] is None
    set_ = runner.invoke(cli, ["workspaces", "caption-style", "pop", "--json"])
    assert set_.exit_code == 0, set_.output
    assert json.loads(set_.output)["caption_style"] == "pop"
    again = runner.invoke(cli, ["workspaces", "caption-style"])
    assert "caption style pop" in again.output
    bad = runner.invoke(cli, ["workspaces", "caption-style", "comic-sans"])
    assert bad.exit_code == 2
    cleared = runner.invoke(cli, ["workspaces", "caption-style", "--clear", "--json"])
    assert json.loads(cleared.output)["caption_style"] is None
    missing = runner.invoke(cli, ["workspaces", "caption-style", "pop", "--workspace", "nobody"])
    assert missing.exit_code != 0 and "no workspace" in missing.output


def test_a_post_style_must_name_a_preset() -> None:
    def clients(platform: str) -> PlatformClient:
        from cliply.platforms import make_client

        return make_client(platform)

    check_drafts([TargetDraft("youtube", 1, "fine", "t", {"caption_style": "boxed"})], clients)
    with pytest.raises(CaptionRejected) as refused:
        check_drafts([TargetDraft("youtube", 1, "fine", "t", {"caption_style": "wobbly"})], clients)
    assert refused.value.platforms == ["youtube"] and "caption_style" in str(refused.value)


def test_workspace_caption_style_over_rest(tmp_path: Path) -> None:
    from starlette.testclient import TestClient

    from cliply import wiring
    from cliply.http.app import create_app
    from tests.test_http import env_for
    from tests.test_http_hardening import seed as seed_workspaces

    app = wiring.cliply(Settings.from_env(env_for(tmp_path)))
    tokens, _ = seed_workspaces(app)
    acme, globex = ({"Authorization": f"Bearer {tokens[w]}"} for w in ("acme", "globex"))
    try:
        with TestClient(create_app(app.settings, db=app.db, vault=app.vault)) as http:
            assert http.get("/api/workspace").status_code == 401
            r = http.patch("/api/workspace", json={"caption_style": "lower_third"}, headers=acme)
            assert r.status_code == 200, r.text
            assert r.json()["caption_style"] == "lower_third" and r.json()["name"] == "acme"
            assert http.get("/api/workspace", headers=acme).json()["effective_caption_style"] == "lower_third"
            assert http.get("/api/workspace", headers=globex).json()["caption_style"] is None  # per workspace
            bad = http.patch("/api/workspace", json={"caption_style": "wobbly"}, headers=acme)
            assert bad.status_code == 422 and "caption_style" in bad.text
            r = http.patch("/api/workspace", json={"caption_style": None}, headers=acme)
            assert r.json()["caption_style"] is None
    finally:
        app.db.dispose()
