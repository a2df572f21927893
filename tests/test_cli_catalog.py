"""`cliply clips`, `cliply sources [remove|prune]`, `cliply --version` and `accounts list` for a disconnected
account, through click on a temp home (no Dagster, no renders)."""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select

from cliply.cli import main
from cliply.platforms.models import Credentials
from cliply.security.vault import KeyRing, TokenVault
from cliply.settings import Settings
from cliply.storage.media_store import LocalMediaStore
from cliply.store.accounts import AccountsRepo
from cliply.store.db import Database
from cliply.store.models import Clip, Source, Transcript
from cliply.store.models_publishing import Post, PostTarget
from cliply.store.repo import WorkspaceScope, get_or_create_workspace
from tests.helpers import seed_rendered_clips


class World:
    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        for key, value in {
            "CLIPLY_HOME": str(tmp_path / "home"),
            "CLIPLY_MEDIA_URL": str(tmp_path / "media"),
            "CLIPLY_DATABASE_URL": f"sqlite:///{tmp_path / 'app.db'}",
        }.items():
            monkeypatch.setenv(key, value)
        monkeypatch.delenv("CLIPLY_TOKEN_KEYS", raising=False)
        self.settings = Settings.from_env()
        self.db = Database(self.settings.resolved_database_url)
        self.db.migrate()
        self.store = LocalMediaStore(tmp_path / "media")
        clip = tmp_path / "clip.mp4"
        clip.write_bytes(b"\x00\x00\x00\x18ftypmp42 not really a video")
        self.clip_ids, _ = seed_rendered_clips(self.db, self.store, clip, 2, source_id="src_a")
        self._source_media("src_a")

    def _source_media(self, source_id: str) -> None:
        """The source's video, transcript and highlights as the pipeline stores them."""
        self.store.put_bytes(f"sources/{source_id}/source.mp4", b"video")
        self.store.put_bytes(f"transcripts/{source_id}/transcript.json", b"{}")
        self.store.put_bytes(f"highlights/{source_id}/highlights.json", b"[]")
        with self.db.session() as s:
            scope = WorkspaceScope(s, get_or_create_workspace(s, "default"))
            scope.update_source(source_id, media_key=f"sources/{source_id}/source.mp4", duration_s=93.5)
            scope.save_transcript(source_id, json_key=f"transcripts/{source_id}/transcript.json", word_count=3)

    def add_rejected(self, source_id: str, workspace: str = "default") -> None:
        self.store.put_bytes(f"sources/{source_id}/source.mp4", b"junk")
        with self.db.session() as s:
            scope = WorkspaceScope(s, get_or_create_workspace(s, workspace))
            scope.add_source(source_id, "file", "/in/junk.mp4", "junk.mp4", status="rejected")
            scope.update_source(
                source_id,
                media_key=f"sources/{source_id}/source.mp4",
                reject_code="not_a_video",
                reject_reason="not a video",
            )

    def account(self, platform: str) -> int:
        vault = TokenVault(KeyRing.from_env(home=self.settings.home))
        creds = Credentials(access_token="tok", refresh_token="ref", account_id="acct-" + platform)
        with self.db.session() as s:
            repo = AccountsRepo(WorkspaceScope(s, get_or_create_workspace(s, "default")), vault)
            return repo.connect(platform, creds, "acct-" + platform).id

    def count(self, model: type) -> int:
        with self.db.session() as s:
            return s.scalar(select(func.count()).select_from(model)) or 0


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> World:
    return World(tmp_path, monkeypatch)


def test_clips_lists_rank_score_duration_and_media_with_a_header(world: World) -> None:
    r = cli("clips")
    assert r.exit_code == 0, r.output
    header, *rows = r.stdout.splitlines()
    assert header.split() == ["ID", "RANK", "SCORE", "DURATION", "PATH", "THUMBNAIL"]
    assert [row.split()[0] for row in rows] == world.clip_ids
    first = rows[0].split()
    assert first[1] == "1" and first[3] == "4.0s"
    assert first[4].endswith("clips/src_a/c1.mp4") and first[5].endswith("thumbnails/src_a/c1.jpg")
    data = json.loads(cli("clips", "--source", "src_a", "--json").stdout)["clips"]
    assert [c["rank"] for c in data] == [1, 2] and data[0]["duration_s"] == 4.0
    missing = cli("clips", "--source", "src_nope")
    assert missing.exit_code == 2 and missing.stderr.startswith("error: no source 'src_nope'")
    assert cli("clips", "--workspace", "nowhere").exit_code == 2  # an unknown workspace is named, not created


def test_sources_lists_duration_and_clip_count_with_a_header(world: World) -> None:
    world.add_rejected("src_bad")
    r = cli("sources")
    assert r.exit_code == 0, r.output
    header, *rows = r.stdout.splitlines()
    assert header.split() == ["ID", "STATUS", "ORIGIN", "DURATION", "CLIPS", "NAME"]
    cells = {row.split()[0]: row.split() for row in rows}
    assert cells["src_a"][1:5] == ["ready", "file", "93.5s", "2"]
    assert cells["src_bad"][1:5] == ["rejected", "file", "-", "0"] and "not_a_video" in r.stdout
    assert cli("sources", "list").stdout == r.stdout
    data = json.loads(cli("sources", "--json").stdout)["sources"]
    assert {s["id"]: s["clips"] for s in data} == {"src_a": 2, "src_bad": 0}


def test_remove_deletes_rows_and_media_but_not_while_a_post_is_scheduled(world: World) -> None:
    yt = world.account("youtube")
    post = json.loads(
        cli(
            "posts",
            "create",
            "--clip",
            world.clip_ids[0],
            "--targets",
            f"youtube:{yt}",
            "--at",
            "2030-12-01 09:00",
            "--caption",
            "Talk",
            "--json",
        ).stdout
    )
    refused = cli("sources", "remove", "src_a")
    assert refused.exit_code == 1
    assert f"scheduled post '{post['id']}'" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
    assert world.count(Clip) == 2 and world.store.list("clips/src_a/")

    assert cli("posts", "cancel", post["id"]).exit_code == 0
    r = cli("sources", "remove", "src_a")
    assert r.exit_code == 0, r.output
    assert r.stdout.strip() == "removed source src_a: 2 clip(s), 1 finished post(s), 7 media file(s)"
    assert [world.count(m) for m in (Source, Transcript, Clip, Post, PostTarget)] == [0, 0, 0, 0, 0]
    assert world.store.list("") == []
    again = cli("sources", "remove", "src_a")
    assert again.exit_code == 1 and "no source 'src_a'" in again.stderr


def test_prune_removes_only_rejected_sources_of_the_workspace(world: World) -> None:
    world.add_rejected("src_bad")
    world.add_rejected("src_other", workspace="acme")
    r = cli("sources", "prune")
    assert r.exit_code == 0, r.output
    assert "removed rejected source src_bad (1 media file(s))" in r.stdout
    assert r.stdout.strip().endswith("1 rejected source(s) removed")
    assert not world.store.exists("sources/src_bad/source.mp4")
    assert world.store.exists("sources/src_other/source.mp4") and world.store.exists("sources/src_a/source.mp4")
    assert world.count(Source) == 2
    assert "1 rejected source(s) removed" in cli("sources", "prune", "--workspace", "acme").stdout


def test_version_comes_from_the_installed_package() -> None:
    r = cli("--version")
    assert r.exit_code == 0 and r.stdout.strip() == f"cliply {version('cliply')}"


def test_accounts_list_shows_no_expiry_for_a_disconnected_account(world: World) -> None:
    gone, kept = world.account("linkedin"), world.account("x")
    assert cli("accounts", "disconnect", str(gone)).exit_code == 0
    lines = {line.split()[1]: line for line in cli("accounts", "list").stdout.splitlines()}
    assert " disconnected " in lines["linkedin"] and "expires" not in lines["linkedin"]
    assert f"{kept:>4}" in lines["x"] and "expires" in lines["x"]
