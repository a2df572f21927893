"""The HTTP service on a real uvicorn server (127.0.0.1), with the platform sandbox as every platform."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import func, select
from starlette.applications import Starlette

from cliply.http.app import create_app
from cliply.platforms import make_client
from cliply.platforms.models import Credentials
from cliply.publishing.media_urls import MediaUrlSigner
from cliply.security.vault import KeyRing, TokenVault
from cliply.settings import Settings
from cliply.storage.media_store import LocalMediaStore
from cliply.store.accounts import AccountsRepo
from cliply.store.db import Database
from cliply.store.models_accounts import Account
from cliply.store.models_publishing import Post, PostTarget
from cliply.store.repo import WorkspaceScope, get_or_create_workspace
from tests.fixtures.sandbox import RunningSandbox


@contextmanager
def serve(app: Starlette) -> Iterator[str]:
    """Run `app` with uvicorn in a thread on a free port; yields its base URL."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the service did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


@dataclass
class World:
    base: str
    db: Database
    vault: TokenVault
    tokens: dict[str, str]  # workspace → API token
    clips: dict[str, str]  # workspace → clip id
    settings: Settings

    def auth(self, ws: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[ws]}"}

    def in_scope(self, ws: str, fn: Callable[[WorkspaceScope], Any]) -> Any:
        with self.db.session() as s:
            return fn(WorkspaceScope(s, get_or_create_workspace(s, ws)))

    def account(self, ws: str, platform: str, external_id: str, **creds: Any) -> int:
        c = Credentials(
            access_token=f"secret-access-{external_id}",
            refresh_token=f"secret-refresh-{external_id}",
            account_id=external_id,
            **creds,
        )
        return self.in_scope(ws, lambda sc: AccountsRepo(sc, self.vault).connect(platform, c, f"@{external_id}").id)

    def count(self, model: type) -> int:
        with self.db.session() as s:
            return s.scalar(select(func.count()).select_from(model)) or 0


def confirm(base: str, page: httpx.Response, decision: str = "connect") -> httpx.Response:
    """Answer a confirmation page the way its form does (the person who consented clicks a button)."""
    assert page.status_code == 200 and "Confirm the connection" in page.text, page.text
    action = re.search(r"action='([^']+)'", page.text)
    token = re.search(r"name='token' value='([^']+)'", page.text)
    assert action and token
    return httpx.post(base + action.group(1), data={"token": token.group(1), "decision": decision}, timeout=30)


def env_for(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "media").mkdir(exist_ok=True)
    (tmp_path / "dagster").mkdir(exist_ok=True)
    return {
        "CLIPLY_HOME": str(tmp_path / "home"),
        "CLIPLY_DATABASE_URL": f"sqlite:///{tmp_path / 'app.db'}",
        "CLIPLY_MEDIA_URL": str(tmp_path / "media"),
        "DAGSTER_HOME": str(tmp_path / "dagster"),
    }


def seed(db: Database, vault: TokenVault) -> tuple[dict[str, str], dict[str, str]]:
    tokens, clips = {}, {}
    with db.session() as s:
        for ws in ("acme", "globex"):
            scope = WorkspaceScope(s, get_or_create_workspace(s, ws))
            scope.add_source(f"src_{ws}", "file", f"/in/{ws}.mp4", f"{ws}.mp4", status="ready")
            text = "Compound interest is the engine of wealth. Interest on interest grows your savings every year."
            clips[ws] = scope.replace_clips(f"src_{ws}", [{"start_s": 0.0, "end_s": 20.0, "text": text}])[0].id
            tokens[ws] = AccountsRepo(scope, vault).create_api_token("tests")
    return tokens, clips


@pytest.fixture
def world(tmp_path: Path, sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch, db_url: str) -> Iterator[World]:
    for key, value in env_for(tmp_path).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("CLIPLY_DATABASE_URL", db_url)  # sqlite and postgresql
    monkeypatch.delenv("CLIPLY_TOKEN_KEYS", raising=False)
    settings = Settings.from_env()
    db = Database(settings.resolved_database_url)
    db.migrate()
    vault = TokenVault(KeyRing.from_env(home=settings.home))
    tokens, clips = seed(db, vault)
    app = create_app(settings, db=db, vault=vault, clients=lambda p: make_client(p, sandbox.config(p)))
    with serve(app) as base:
        yield World(base, db, vault, tokens, clips, settings)
    db.dispose()


def test_health_and_ready(world: World) -> None:
    assert httpx.get(f"{world.base}/healthz").json() == {"ok": True}
    r = httpx.get(f"{world.base}/readyz", timeout=60)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["ok"] is True
    assert set(body["checks"]) == {"config", "database", "media_store", "dagster", "token_keys"}
    assert all(c == {"ok": True} for c in body["checks"].values())  # no details without a token
    detailed = httpx.get(f"{world.base}/readyz", headers=world.auth("acme"), timeout=60).json()
    assert all(c["ok"] and c["detail"] for c in detailed["checks"].values())


def test_readyz_names_the_broken_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in env_for(tmp_path).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("CLIPLY_DATABASE_URL", "postgresql://cliply:hunter2@127.0.0.1:1/nowhere")
    with serve(create_app(Settings.from_env())) as base:
        r = httpx.get(f"{base}/readyz", timeout=60)
    assert r.status_code == 503
    checks = r.json()["checks"]
    assert checks["database"] == {"ok": False}
    assert checks["config"]["ok"] and checks["media_store"]["ok"] and checks["dagster"]["ok"]
    assert "hunter2" not in r.text and "127.0.0.1" not in r.text


OAUTH_PLATFORMS = ("youtube", "tiktok", "instagram", "facebook", "threads", "x", "linkedin", "pinterest")


@pytest.mark.parametrize("platform", OAUTH_PLATFORMS)
def test_oauth_connect_every_platform(world: World, sandbox: RunningSandbox, platform: str) -> None:
    browser = httpx.Client()  # keeps the cookie the start sets, like the browser that started the flow
    start = browser.get(f"{world.base}/oauth/{platform}/start", headers=world.auth("acme"))
    assert start.status_code == 302 and start.headers["location"].startswith(sandbox.url(platform))
    back = httpx.get(start.headers["location"])
    page = browser.get(back.headers["location"], timeout=30)
    assert page.status_code == 200, page.text
    with world.db.session() as s:
        account = s.scalars(select(Account).where(Account.platform == platform)).one()
        assert account.external_id and account.access_token_enc.startswith("v1:")


def test_oauth_connect_end_to_end(world: World, sandbox: RunningSandbox) -> None:
    browser = httpx.Client()
    start = browser.get(f"{world.base}/oauth/tiktok/start", headers=world.auth("acme"))
    assert start.status_code == 302
    authorize = start.headers["location"]
    assert authorize.startswith(sandbox.url("tiktok"))
    assert "code_challenge=" in authorize and "state=" in authorize
    back = httpx.get(authorize)  # the sandbox plays the user consenting and redirects to our callback
    assert back.status_code in (302, 303)
    callback = back.headers["location"]
    assert callback.startswith(f"{world.base}/oauth/tiktok/callback?")
    page = browser.get(callback)
    assert page.status_code == 200, page.text
    assert "Connected" in page.text and "acme" in page.text  # names the workspace

    with world.db.session() as s:
        account = s.scalars(select(Account).where(Account.platform == "tiktok")).one()
        ws_id = get_or_create_workspace(s, "acme").id
        assert account.workspace_id == ws_id
        assert account.access_token_enc.startswith("v1:")
        creds = AccountsRepo(WorkspaceScope(s, get_or_create_workspace(s, "acme")), world.vault).credentials(account)
    assert creds.access_token and creds.access_token not in account.access_token_enc
    assert creds.refresh_token and creds.refresh_token not in (account.refresh_token_enc or "")

    listed = httpx.get(f"{world.base}/api/accounts", headers=world.auth("acme"))
    assert [a["platform"] for a in listed.json()["accounts"]] == ["tiktok"]
    assert listed.json()["accounts"][0]["status"] == "connected"
    assert creds.access_token not in listed.text and creds.refresh_token not in listed.text
    # the state is single-use; the other workspace sees nothing
    assert browser.get(callback).status_code == 400
    assert httpx.get(f"{world.base}/api/accounts", headers=world.auth("globex")).json() == {"accounts": []}


def test_oauth_start_requires_a_token(world: World) -> None:
    assert httpx.get(f"{world.base}/oauth/tiktok/start").status_code == 401
    r = httpx.post(f"{world.base}/api/accounts/oauth/youtube", headers=world.auth("acme"))
    assert r.status_code == 200 and "authorization_url" in r.json()
    bad = httpx.get(f"{world.base}/oauth/tiktok/callback", params={"code": "x", "state": "forged" * 4})
    assert bad.status_code == 400


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer wrong", "Basic abc", "Bearer clp_not-a-real-token"])
def test_bad_tokens_are_401(world: World, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    for method, path in (("GET", "/api/posts"), ("GET", "/api/accounts"), ("POST", "/api/uploads")):
        r = httpx.request(method, f"{world.base}{path}", headers=headers)
        assert r.status_code == 401, (method, path, r.text)
        assert r.headers["www-authenticate"] == "Bearer"


def test_revoked_token_is_401(world: World) -> None:
    assert httpx.get(f"{world.base}/api/posts", headers=world.auth("acme")).status_code == 200

    def revoke(scope: WorkspaceScope) -> None:
        repo = AccountsRepo(scope, world.vault)
        repo.revoke_api_token(repo.list_api_tokens()[0].id)

    world.in_scope("acme", revoke)
    assert httpx.get(f"{world.base}/api/posts", headers=world.auth("acme")).status_code == 401


def _create(world: World, ws: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{world.base}/api/posts", headers=world.auth(ws), json=body, timeout=30)


def test_workspace_isolation(world: World) -> None:
    a_yt = world.account("acme", "youtube", "UC-acme")
    b_yt = world.account("globex", "youtube", "UC-globex")
    r = _create(
        world,
        "acme",
        {
            "clip_id": world.clips["acme"],
            "caption": "hello",
            "targets": [{"platform": "youtube", "account_id": a_yt}],
            "at": "2030-01-01 10:00",
            "timezone": "UTC",
        },
    )
    assert r.status_code == 201, r.text
    post = r.json()
    target_id = post["targets"][0]["id"]
    b, base = world.auth("globex"), world.base

    assert httpx.get(f"{base}/api/posts", headers=b).json() == {"posts": []}
    assert httpx.get(f"{base}/api/posts/{post['id']}", headers=b).status_code == 404
    assert httpx.post(f"{base}/api/posts/{post['id']}/cancel", headers=b).status_code == 404
    assert httpx.post(f"{base}/api/posts/{post['id']}/publish-now", headers=b).status_code == 404
    assert httpx.post(f"{base}/api/targets/{target_id}/retry", headers=b).status_code == 404
    assert httpx.patch(f"{base}/api/posts/{post['id']}", headers=b, json={"caption": "pwned"}).status_code == 404
    assert [a["id"] for a in httpx.get(f"{base}/api/accounts", headers=b).json()["accounts"]] == [b_yt]
    assert httpx.delete(f"{base}/api/accounts/{a_yt}", headers=b).status_code == 404
    # B cannot post A's clip, nor its own clip to A's account
    assert (
        _create(
            world,
            "globex",
            {"clip_id": world.clips["acme"], "caption": "x", "targets": [{"platform": "youtube", "account_id": b_yt}]},
        ).status_code
        == 404
    )
    assert (
        _create(
            world,
            "globex",
            {
                "clip_id": world.clips["globex"],
                "caption": "x",
                "targets": [{"platform": "youtube", "account_id": a_yt}],
            },
        ).status_code
        == 404
    )
    assert world.count(Post) == 1

    mine = httpx.get(f"{base}/api/posts/{post['id']}", headers=world.auth("acme"))
    assert mine.status_code == 200 and mine.json()["status"] == "scheduled"
    assert mine.json()["targets"][0]["caption"] == "hello"
    with world.db.session() as s:
        assert s.get(Account, a_yt).status == "connected"  # type: ignore[union-attr]
    # A itself can act on its own post
    assert (
        httpx.post(f"{base}/api/posts/{post['id']}/cancel", headers=world.auth("acme")).json()["status"] == "cancelled"
    )


def test_caption_over_a_platform_limit_creates_nothing(world: World) -> None:
    yt = world.account("acme", "youtube", "UC-acme")
    x = world.account("acme", "x", "x-acme")
    r = _create(
        world,
        "acme",
        {
            "clip_id": world.clips["acme"],
            "caption": "word " * 80,  # 400 chars > X's 280
            "targets": [{"platform": "youtube", "account_id": yt}, {"platform": "x", "account_id": x}],
        },
    )
    assert r.status_code == 422, r.text
    assert r.json()["platforms"] == ["x"]
    assert "x" in r.json()["error"]
    assert world.count(Post) == 0 and world.count(PostTarget) == 0


def test_post_lifecycle_and_suggestions(world: World) -> None:
    yt = world.account("acme", "youtube", "UC-acme")
    r = _create(
        world,
        "acme",
        {
            "clip_id": world.clips["acme"],
            "targets": [{"platform": "youtube", "account_id": yt}],
            "at": "2030-12-01 09:00",
            "timezone": "Europe/Paris",
        },
    )
    assert r.status_code == 201, r.text
    post = r.json()
    assert post["scheduled_at"] == "2030-12-01T08:00:00+00:00" and post["timezone"] == "Europe/Paris"
    assert post["suggested"]["caption"].startswith("Compound interest is the engine of wealth")
    assert 3 <= len(post["suggested"]["hashtags"]) <= 5 and "interest" in post["suggested"]["hashtags"]
    assert "#interest" in post["targets"][0]["caption"]

    now = httpx.post(f"{world.base}/api/posts/{post['id']}/publish-now", headers=world.auth("acme")).json()
    assert now["made_due"] == 1
    assert datetime.fromisoformat(now["targets"][0]["due_at"]) <= datetime.now(UTC) + timedelta(seconds=1)
    # a scheduled target cannot be "retried"
    retry = httpx.post(f"{world.base}/api/targets/{post['targets'][0]['id']}/retry", headers=world.auth("acme"))
    assert retry.status_code == 409
    listed = httpx.get(f"{world.base}/api/posts", headers=world.auth("acme")).json()["posts"]
    assert [p["id"] for p in listed] == [post["id"]]


def bluesky_account(sandbox: RunningSandbox, handle: str, password: str) -> str:
    resp = httpx.post(
        f"{sandbox.url('bluesky')}/xrpc/com.atproto.server.createAccount", json={"handle": handle, "password": password}
    )
    assert resp.status_code == 200, resp.text
    return str(resp.json()["did"])


def test_bluesky_app_password_connect(world: World, sandbox: RunningSandbox) -> None:
    did = bluesky_account(sandbox, "alice.test", "pw-very-secret")
    url, auth = f"{world.base}/api/accounts", world.auth("acme")
    wrong = httpx.post(
        url, headers=auth, json={"platform": "bluesky", "handle": "alice.test", "app_password": "pw-wrong-secret"}
    )
    assert wrong.status_code == 400 and "pw-wrong-secret" not in wrong.text
    r = httpx.post(
        url, headers=auth, json={"platform": "bluesky", "handle": "alice.test", "app_password": "pw-very-secret"}
    )
    assert r.status_code == 201, r.text
    assert r.json()["external_id"] == did and r.json()["handle"] == "alice.test"
    assert "pw-very-secret" not in r.text and "jwt" not in r.text.lower()
    with world.db.session() as s:
        row = s.scalars(select(Account).where(Account.platform == "bluesky")).one()
        assert row.access_token_enc.startswith("v1:") and "pw-very-secret" not in str(row.extra)
    r = httpx.post(f"{world.base}/api/accounts", headers=world.auth("acme"), json={"platform": "youtube"})
    assert r.status_code == 400 and "OAuth" in r.json()["error"]


def test_local_upload_and_signed_media(world: World, tmp_path: Path) -> None:
    from tests.helpers import make_video

    video = make_video(tmp_path / "talk.mp4", seconds=1).read_bytes()
    r = httpx.post(f"{world.base}/api/uploads", headers=world.auth("acme"), json={"filename": "talk.mp4"})
    assert r.status_code == 201, r.text
    up = r.json()
    assert up["key"].startswith("uploads/ws") and up["method"] == "PUT"
    tampered = up["url"].replace("sig=", "sig=0")
    assert httpx.put(tampered, content=b"x").status_code == 403
    put = httpx.put(up["url"], content=video)
    assert put.status_code == 201, put.text
    assert put.json()["status"] == "registered"  # the upload became a source of the token's workspace
    assert world.in_scope("acme", lambda sc: sc.get_source(put.json()["source_id"]) is not None)
    assert world.in_scope("globex", lambda sc: sc.get_source(put.json()["source_id"]) is None)
    assert httpx.put(up["url"], content=video).status_code == 403  # single use
    media = LocalMediaStore(Path(world.settings.resolved_media_url))
    assert media.get_bytes(up["key"]) == video

    signer = MediaUrlSigner.from_env(media, {"CLIPLY_PUBLIC_BASE_URL": world.base}, home=world.settings.home)
    url = signer.url_for(up["key"])
    got = httpx.get(url)
    assert got.status_code == 200 and got.content == video
    assert httpx.get(url.replace(up["key"], "uploads/other.mp4")).status_code == 403
    expired = signer.url_for(up["key"], now=time.time() - 2 * 86400)
    assert httpx.get(expired).status_code == 403


def test_an_upload_that_is_not_a_video_is_a_rejected_source(world: World) -> None:
    up = httpx.post(f"{world.base}/api/uploads", headers=world.auth("acme"), json={"filename": "a.mp4"}).json()
    put = httpx.put(up["url"], content=b"\x00not-a-video")
    assert put.status_code == 422 and put.json()["code"], put.text
    assert httpx.put(up["url"], content=b"\x00not-a-video").status_code == 403


def test_edit_before_start(world: World) -> None:
    yt, x = world.account("acme", "youtube", "UC-acme"), world.account("acme", "x", "x-acme")
    post = _create(
        world,
        "acme",
        {
            "clip_id": world.clips["acme"],
            "caption": "first",
            "targets": [{"platform": "youtube", "account_id": yt}, {"platform": "x", "account_id": x}],
            "at": "2030-05-01 12:00",
            "timezone": "America/New_York",
        },
    ).json()
    url, auth = f"{world.base}/api/posts/{post['id']}", world.auth("acme")
    too_long = httpx.patch(url, headers=auth, json={"captions": {"x": "word " * 80}})
    assert too_long.status_code == 422 and too_long.json()["platforms"] == ["x"]
    r = httpx.patch(url, headers=auth, json={"captions": {"x": "short for x"}, "at": "2030-05-02 08:30"})
    assert r.status_code == 200, r.text
    edited = r.json()
    assert edited["scheduled_at"] == "2030-05-02T12:30:00+00:00" and edited["timezone"] == "America/New_York"
    by_platform = {t["platform"]: t for t in edited["targets"]}
    assert by_platform["x"]["caption"] == "short for x" and by_platform["youtube"]["caption"] == "first"
    assert all(t["due_at"] == "2030-05-02T12:30:00+00:00" for t in edited["targets"])
    assert httpx.post(f"{url}/cancel", headers=auth).status_code == 200
    assert httpx.patch(url, headers=auth, json={"caption": "late"}).status_code == 409


def test_s3_upload_is_a_presigned_put(world: World, moto_s3: Any) -> None:
    from cliply.storage.media_store import S3MediaStore
    from tests.fixtures.s3 import s3_client_for

    store = S3MediaStore(moto_s3.bucket, "svc", client=s3_client_for(moto_s3))
    app = create_app(world.settings, db=world.db, vault=world.vault, media=store)
    with serve(app) as base:
        r = httpx.post(
            f"{base}/api/uploads",
            headers=world.auth("acme"),
            json={"filename": "a.mov", "content_type": "video/quicktime"},
        )
        assert r.status_code == 201, r.text
        up = r.json()
        assert up["url"].startswith(moto_s3.endpoint_url) and "X-Amz-Signature" in up["url"]
        put = httpx.put(up["url"], content=b"mov-bytes", headers=up["headers"])
        assert put.status_code == 200, put.text
        assert store.get_bytes(up["key"]) == b"mov-bytes"
        # the local signed-media route is not served for an S3 store (it presigns instead)
        assert httpx.get(f"{base}/media/{up['key']}?exp=9999999999&sig=00").status_code == 403
        bad = httpx.post(f"{base}/api/uploads", headers=world.auth("acme"), json={"filename": "x.exe"})
        assert bad.status_code == 400


def test_readyz_names_an_unwritable_media_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cliply.http.readiness import run_checks

    for key, value in env_for(tmp_path).items():
        monkeypatch.setenv(key, value)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the media folder should be")
    monkeypatch.setenv("CLIPLY_MEDIA_URL", str(blocker / "media"))
    db = Database(Settings.from_env().resolved_database_url)
    assert run_checks()["checks"]["database"]["detail"].endswith("run migrations")  # an empty database
    db.migrate()
    db.dispose()
    report = run_checks()
    assert report["ok"] is False
    assert report["checks"]["media_store"]["ok"] is False
    assert report["checks"]["database"]["ok"] and report["checks"]["config"]["ok"]


def test_expired_oauth_state_is_refused_with_a_page(world: World) -> None:
    def begin(scope: WorkspaceScope) -> None:
        AccountsRepo(scope, world.vault).begin_oauth(
            "x", "s" * 32, "v" * 64, f"{world.base}/oauth/x/callback", ttl_s=-1
        )

    world.in_scope("acme", begin)
    r = httpx.get(f"{world.base}/oauth/x/callback", params={"code": "c", "state": "s" * 32})
    assert r.status_code == 400 and "text/html" in r.headers["content-type"] and "expired" in r.text
    assert world.count(Account) == 0
