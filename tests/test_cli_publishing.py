"""`cliply accounts|posts|keys|readyz` through click, plus `accounts connect` as a real process against a real
service and the platform sandbox."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select

from cliply.cli import main
from cliply.http.app import create_app
from cliply.platforms.models import Credentials
from cliply.publishing.captions import parse_every, parse_schedule, suggest
from cliply.publishing.service import parse_targets
from cliply.security.vault import KeyRing, TokenVault, generate_key
from cliply.settings import Settings
from cliply.store.accounts import AccountsRepo
from cliply.store.db import Database
from cliply.store.models_accounts import Account
from cliply.store.models_publishing import Post, PostTarget
from cliply.store.repo import WorkspaceScope, get_or_create_workspace
from tests.fixtures.sandbox import RunningSandbox
from tests.test_http import confirm, env_for, serve

TEXT = "Compound interest is the engine of wealth. Interest on interest grows your savings every year."


class Env:
    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.vars = env_for(tmp_path)
        for key, value in self.vars.items():
            monkeypatch.setenv(key, value)
        monkeypatch.delenv("CLIPLY_TOKEN_KEYS", raising=False)
        monkeypatch.delenv("CLIPLY_PUBLIC_BASE_URL", raising=False)
        self.settings = Settings.from_env()
        self.db = Database(self.settings.resolved_database_url)
        self.db.migrate()
        self.vault = TokenVault(KeyRing.from_env(home=self.settings.home))
        with self.db.session() as s:
            scope = WorkspaceScope(s, get_or_create_workspace(s, "default"))
            scope.add_source("src_1", "file", "/in/a.mp4", "a.mp4", status="ready")
            scope.replace_clips(
                "src_1", [{"start_s": i * 20.0, "end_s": i * 20.0 + 15, "text": TEXT} for i in range(3)]
            )

    def cli(self, *args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)

    def account(self, platform: str, external_id: str, ws: str = "default", **kw: Any) -> int:
        creds = Credentials(
            access_token="tok-" + external_id,
            refresh_token=kw.pop("refresh", "ref-" + external_id),
            account_id=external_id,
            **kw,
        )
        with self.db.session() as s:
            repo = AccountsRepo(WorkspaceScope(s, get_or_create_workspace(s, ws)), self.vault)
            return repo.connect(platform, creds, external_id).id

    def count(self, model: type) -> int:
        with self.db.session() as s:
            return s.scalar(select(func.count()).select_from(model)) or 0


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Env:
    return Env(tmp_path, monkeypatch)


def test_create_with_at_and_tz_stores_utc(env: Env) -> None:
    yt = env.account("youtube", "UC1")
    r = env.cli(
        "posts",
        "create",
        "--clip",
        "src_1-c01",
        "--targets",
        f"youtube:{yt}",
        "--at",
        "2030-12-01 09:00",
        "--tz",
        "Europe/Paris",
        "--caption",
        "Money talk",
        "--json",
    )
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["scheduled_at"] == "2030-12-01T08:00:00+00:00"
    with env.db.session() as s:
        post = s.get(Post, out["id"])
        assert post is not None and post.timezone == "Europe/Paris"
        assert post.scheduled_at == datetime(2030, 12, 1, 8, 0, tzinfo=UTC)
        target = s.scalars(select(PostTarget).where(PostTarget.post_id == post.id)).one()
        assert target.due_at == post.scheduled_at and target.caption == "Money talk"
    # summer time: Paris is UTC+2 in July
    r = env.cli(
        "posts",
        "create",
        "--clip",
        "src_1-c02",
        "--targets",
        f"youtube:{yt}",
        "--at",
        "2030-07-01 09:00",
        "--tz",
        "Europe/Paris",
        "--caption",
        "x",
        "--json",
    )
    assert json.loads(r.stdout)["scheduled_at"] == "2030-07-01T07:00:00+00:00"
    show = env.cli("posts", "show", out["id"])
    assert out["id"] in show.stdout and "youtube" in show.stdout and "scheduled" in show.stdout


def test_caption_over_limit_is_refused_with_the_platform_named(env: Env) -> None:
    yt, x = env.account("youtube", "UC1"), env.account("x", "x1")
    r = env.cli(
        "posts",
        "create",
        "--clip",
        "src_1-c01",
        "--targets",
        f"youtube:{yt},x:{x}",
        "--caption",
        "short",
        "--per-platform-caption",
        "x=" + "word " * 80,
    )
    assert r.exit_code == 2
    assert "rejected by x rules" in r.stderr and "280" in r.stderr
    assert env.count(Post) == 0 and env.count(PostTarget) == 0


def test_instagram_and_threads_need_a_public_media_url_at_creation(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    ig, th = env.account("instagram", "ig1"), env.account("threads", "th1")
    with env.db.session() as s:
        scope = WorkspaceScope(s, get_or_create_workspace(s, "default"))
        scope.add_source("src_2", "file", "/in/b.mp4", "b.mp4", status="ready")
        scope.replace_clips(
            "src_2", [{"start_s": 0.0, "end_s": 15.0, "text": TEXT, "media_key": "clips/src_2/src_2-c01.mp4"}]
        )
    args = ("posts", "create", "--clip", "src_2-c01", "--targets", f"instagram:{ig},threads:{th}", "--caption", "hi")
    # A local media store and no public base URL: Meta could never fetch the clip, so nothing is created.
    r = env.cli(*args)
    assert r.exit_code == 2 and "instagram and threads fetch the video from a public URL" in r.stderr
    assert "CLIPLY_PUBLIC_BASE_URL" in r.stderr and env.count(Post) == 0
    monkeypatch.setenv("CLIPLY_PUBLIC_BASE_URL", "https://cliply.example.org")
    r = env.cli(*args, "--json")
    assert r.exit_code == 0, r.output
    assert sorted(t["platform"] for t in json.loads(r.stdout)["targets"]) == ["instagram", "threads"]


def test_bad_input_is_a_clear_error(env: Env) -> None:
    yt = env.account("youtube", "UC1")
    r = env.cli("posts", "create", "--clip", "src_1-c01", "--targets", "youtube:")
    assert r.exit_code == 2 and "<platform>:<account id or handle>" in r.output
    r = env.cli("posts", "create", "--clip", "src_1-c01", "--targets", "youtube:@nobody", "--caption", "x")
    assert r.exit_code == 2 and "no youtube account @nobody" in r.stderr
    r = env.cli("posts", "create", "--clip", "src_1-c01", "--targets", "youtube:@UC1", "--caption", "x", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["targets"][0]["account_id"] == yt  # by handle
    assert env.cli("posts", "cancel", json.loads(r.stdout)["id"]).exit_code == 0
    r = env.cli("posts", "create", "--clip", "src_1-c01", "--targets", f"youtube:{yt}", "--tz", "Mars/Olympus")
    assert r.exit_code == 2 and "unknown time zone" in r.output
    r = env.cli("posts", "create", "--clip", "nope", "--targets", f"youtube:{yt}", "--caption", "x")
    assert r.exit_code == 2 and "no clip 'nope'" in r.stderr
    other = env.account("youtube", "UC-other", ws="other")
    r = env.cli("posts", "create", "--clip", "src_1-c01", "--targets", f"youtube:{other}", "--caption", "x")
    assert r.exit_code == 2 and "no youtube account" in r.stderr
    assert env.count(Post) == 1  # only the one made by handle above


def test_suggestion_when_no_caption(env: Env) -> None:
    yt = env.account("youtube", "UC1")
    r = env.cli("posts", "create", "--clip", "src_1-c01", "--targets", f"youtube:{yt}")
    assert r.exit_code == 0, r.output
    assert "using the suggestion: Compound interest is the engine of wealth." in r.stdout
    with env.db.session() as s:
        caption = s.scalars(select(PostTarget.caption)).one()
    assert "#interest" in caption


def test_bulk_spaces_posts_and_shows_progress(env: Env) -> None:
    yt, tt = env.account("youtube", "UC1"), env.account("tiktok", "tt1")
    r = env.cli(
        "posts",
        "bulk",
        "--clips",
        "src_1-c01,src_1-c02,src_1-c03",
        "--targets",
        f"youtube:{yt},tiktok:{tt}",
        "--at",
        "2030-12-01 09:00",
        "--tz",
        "Europe/Paris",
        "--every",
        "30m",
        "--caption",
        "Series",
        "--option",
        "tiktok.privacy=PUBLIC_TO_EVERYONE",
    )
    assert r.exit_code == 0, r.output
    assert "3/3" in r.stderr and "scheduling" in r.stderr  # tqdm's bar
    with env.db.session() as s:
        times = sorted(s.scalars(select(Post.scheduled_at)))
        assert s.scalar(select(func.count()).select_from(PostTarget)) == 6
    first = datetime(2030, 12, 1, 8, 0, tzinfo=UTC)
    assert times == [first, first + timedelta(minutes=30), first + timedelta(minutes=60)]


def test_bulk_is_all_or_nothing(env: Env) -> None:
    yt, tt = env.account("youtube", "UC1"), env.account("tiktok", "tt1")
    r = env.cli("posts", "bulk", "--clips", "src_1-c01,missing", "--targets", f"youtube:{yt}", "--caption", "x")
    assert r.exit_code == 2 and "nothing was scheduled" in r.stderr
    # TikTok direct posts need a privacy level chosen by the user: refused, named, nothing created
    r = env.cli(
        "posts", "bulk", "--clips", "src_1-c01,src_1-c02", "--targets", f"youtube:{yt},tiktok:{tt}", "--caption", "x"
    )
    assert r.exit_code == 2 and "rejected by tiktok rules" in r.stderr and "privacy" in r.stderr
    assert env.count(Post) == 0


def test_posts_list_cancel_retry(env: Env) -> None:
    yt = env.account("youtube", "UC1")
    out = json.loads(
        env.cli(
            "posts",
            "create",
            "--clip",
            "src_1-c01",
            "--targets",
            f"youtube:{yt}",
            "--caption",
            "x",
            "--at",
            "2030-01-01 00:00",
            "--json",
        ).stdout
    )
    assert out["id"] in env.cli("posts", "list").stdout
    r = env.cli("posts", "edit", out["id"], "--at", "2030-01-01 09:00", "--tz", "Asia/Tokyo", "--caption", "new")
    assert r.exit_code == 0, r.output
    with env.db.session() as s:
        post = s.get(Post, out["id"])
        assert post is not None and post.scheduled_at == datetime(2030, 1, 1, 0, 0, tzinfo=UTC)
        assert s.scalars(select(PostTarget.caption)).one() == "new"
    r = env.cli("posts", "cancel", out["id"])
    assert r.exit_code == 0 and "cancelled" in r.stdout
    r = env.cli("posts", "retry", out["targets"][0]["id"])
    assert r.exit_code == 1 and "only failed targets" in r.stderr
    assert env.cli("posts", "cancel", "post_nope").exit_code == 1
    r = env.cli("posts", "edit", out["id"], "--caption", "too late")
    assert r.exit_code == 2 and "only scheduled posts can be edited" in r.stderr


def test_accounts_list_shows_statuses(env: Env) -> None:
    now = datetime.now(UTC)
    env.account("youtube", "fine")
    env.account("tiktok", "soon", expires_at=now + timedelta(hours=1), refresh_expires_at=now + timedelta(days=3))
    env.account("x", "gone", expires_at=now - timedelta(days=2), refresh_expires_at=now - timedelta(days=1))
    dead = env.account("linkedin", "dead")
    broken = env.account("facebook", "broken")
    with env.db.session() as s:
        AccountsRepo(WorkspaceScope(s, get_or_create_workspace(s, "default")), env.vault).set_status(
            broken, "reauth_required", "token revoked by the user"
        )
    assert env.cli("accounts", "disconnect", str(dead)).exit_code == 0
    r = env.cli("accounts", "list")
    assert r.exit_code == 0
    lines = {line.split()[1]: line for line in r.stdout.splitlines()}
    assert " connected " in lines["youtube"]
    assert " expiring " in lines["tiktok"] and str((now + timedelta(days=3)).date()) in lines["tiktok"]
    assert " expired " in lines["x"]
    assert " disconnected " in lines["linkedin"]
    assert "reauth_required" in lines["facebook"] and "token revoked by the user" in lines["facebook"]
    assert "tok-" not in r.stdout and "ref-" not in r.stdout
    data = json.loads(env.cli("accounts", "list", "--json").stdout)
    assert {a["platform"]: a["status"] for a in data["accounts"]}["tiktok"] == "expiring"
    assert env.cli("accounts", "disconnect", "999").exit_code == 1


def test_keys_tokens_and_rotation(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    k1, k2 = generate_key(), generate_key()
    monkeypatch.setenv("CLIPLY_TOKEN_KEYS", f"k1:{k1}")
    env.vault = TokenVault(KeyRing.from_env())
    env.account("youtube", "UC1")
    r = env.cli("keys", "create-token", "ci")
    token = r.stdout.strip()
    assert r.exit_code == 0 and token.startswith("clp_")
    assert token[:8] in env.cli("keys", "list-tokens").stdout and token not in env.cli("keys", "list-tokens").stdout
    monkeypatch.setenv("CLIPLY_TOKEN_KEYS", f"k1:{k1},k2:{k2}")
    r = env.cli("keys", "rotate")
    assert r.exit_code == 0 and "with key 'k2'" in r.stdout
    with env.db.session() as s:
        account = s.scalars(select(Account)).one()
        assert account.access_token_enc.startswith("v1:k2:")
        repo = AccountsRepo(WorkspaceScope(s, get_or_create_workspace(s, "default")), TokenVault(KeyRing.from_env()))
        assert repo.credentials(account).access_token == "tok-UC1"
    assert env.cli("keys", "revoke-token", "1").exit_code == 0
    assert "revoked" in env.cli("keys", "list-tokens").stdout


def test_readyz_command(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    r = env.cli("readyz")  # publishing on and no daemon running: not ready, and it says why
    assert r.exit_code == 1 and json.loads(r.stdout)["checks"]["daemon"]["ok"] is False
    monkeypatch.setenv("CLIPLY_PUBLISHING_ENABLED", "0")  # a worker that does not publish needs no daemon
    r = env.cli("readyz")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["ok"] is True
    monkeypatch.setenv("CLIPLY_DATABASE_URL", "postgresql://u:pw@127.0.0.1:1/none")
    r = env.cli("readyz")
    assert r.exit_code == 1
    report = json.loads(r.stdout)
    assert report["checks"]["database"]["ok"] is False and report["checks"]["media_store"]["ok"] is True


def test_accounts_connect_waits_for_the_served_callback(
    env: Env, sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    platform_env = {
        "CLIPLY_TIKTOK_BASE_URL": sandbox.url("tiktok"),
        "CLIPLY_TIKTOK_CLIENT_ID": "cliply-tiktok",
        "CLIPLY_TIKTOK_CLIENT_SECRET": "sandbox-secret",
    }
    for key, value in platform_env.items():
        monkeypatch.setenv(key, value)
    # `cliply serve`, in-process: its settings are read at start, like the real command's (platform URLs included)
    with serve(create_app(Settings.from_env(), db=env.db)) as base:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cliply.cli", "accounts", "connect", "tiktok", "--timeout", "60"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "CLIPLY_PUBLIC_BASE_URL": base},
        )
        try:
            assert proc.stdout is not None
            lines = [proc.stdout.readline(), proc.stdout.readline()]
            assert f"{base}/oauth/tiktok/callback" in lines[0], lines
            authorize = lines[1].strip()
            assert authorize.startswith(sandbox.url("tiktok"))
            back = httpx.get(authorize)
            page = httpx.get(back.headers["location"])  # names the account and the workspace, stores nothing yet
            assert "tiktok" in page.text and "default" in page.text and env.count(Account) == 0
            done = confirm(base, page)
            assert done.status_code == 200 and "Connected" in done.text
            out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 0, err
    assert "connected tiktok account" in out
    assert "tiktok" in env.cli("accounts", "list").stdout


def test_drafting_helpers() -> None:
    s = suggest(TEXT)
    assert s.caption == "Compound interest is the engine of wealth."
    assert s.hashtags[0] == "interest" and 3 <= len(s.hashtags) <= 5
    assert suggest("").caption == "" and suggest(None).hashtags == ()
    long = suggest("word " * 100)
    assert len(long.caption) <= 150 and long.caption.endswith("…")
    assert parse_targets("youtube:1, tiktok:22") == [("youtube", 1), ("tiktok", 22)]
    assert parse_targets("x:@me") == [("x", "@me")]
    with pytest.raises(ValueError, match="bad target"):
        parse_targets("myspace:1")
    assert parse_every("30m") == 1800 and parse_every("2h") == 7200
    when, tz = parse_schedule("2026-03-29 03:30", "Europe/Paris")  # just after the spring-forward gap
    assert when == datetime(2026, 3, 29, 1, 30, tzinfo=UTC) and tz == "Europe/Paris"
    assert parse_schedule("2026-01-01T10:00:00+05:00", "UTC")[0] == datetime(2026, 1, 1, 5, 0, tzinfo=UTC)


def test_accounts_connect_bluesky_prompts_hidden(
    env: Env, sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.test_http import bluesky_account

    monkeypatch.setenv("CLIPLY_BLUESKY_BASE_URL", sandbox.url("bluesky"))
    bluesky_account(sandbox, "bob.test", "app-pass-9876")
    r = env.cli("accounts", "connect", "bluesky", input="bob.test\napp-pass-9876\n")
    assert r.exit_code == 0, r.output
    assert "connected bluesky account bob.test" in r.stdout
    assert "app-pass-9876" not in r.output  # hidden prompt: never echoed
    bad = env.cli("accounts", "connect", "bluesky", input="bob.test\nwrong-pass\n")
    assert bad.exit_code == 1 and "refused" in bad.stderr
