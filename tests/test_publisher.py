"""The publisher against the platform sandbox over real HTTP, with the real platform clients, the real ledger and
limits, on SQLite and (where it matters most) PostgreSQL. "Exactly once" is always checked on the sandbox's own
record of accepted posts."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import httpx
import pytest
from sqlalchemy import select, update

from cliply.platforms import make_client
from cliply.platforms.base import PlatformClient
from cliply.platforms.models import VideoPost
from cliply.platforms.tiktok import TikTokClient
from cliply.publishing import ledger
from cliply.publishing.limits import LimitRule
from cliply.publishing.media_urls import MediaUrlSigner
from cliply.publishing.publisher import Publisher, TargetOutcome, publish_due
from cliply.publishing.switches import PublishSwitches
from cliply.security.vault import KeyRing, TokenVault, generate_key
from cliply.storage.media_store import LocalMediaStore, MediaStore, S3MediaStore
from cliply.store import Database, WorkspaceScope, get_or_create_workspace
from cliply.store.accounts import AccountsRepo
from cliply.store.models_accounts import Account
from cliply.store.models_publishing import Post, PostTarget
from tests.fixtures.s3 import S3Server, s3_client_for
from tests.fixtures.sandbox import RunningSandbox

CLIP_KEY = "clips/src1/clip-01.mp4"
TIKTOK = {"privacy": "PUBLIC_TO_EVERYONE"}
INIT = "/tiktok/v2/post/publish/video/init/"
VIDEO_LIST = "/tiktok/v2/video/list/"
TOKEN = "/tiktok/v2/oauth/token/"
WORKER = "worker-test"


class MediaServer:
    """The HTTP service's /media route in miniature: serves a stored object only for a valid signed URL."""

    def __init__(self, media: LocalMediaStore) -> None:
        self.media = media
        self.signer: MediaUrlSigner | None = None
        self.served: list[str] = []
        self.refused: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                url = urlparse(self.path)
                q = parse_qs(url.query)
                key = unquote(url.path.removeprefix("/media/"))
                ok = (
                    outer.signer is not None
                    and url.path.startswith("/media/")
                    and outer.signer.verify(key, q.get("exp", [""])[0], q.get("sig", [""])[0])
                )
                body = outer.media.get_bytes(key) if ok else b"forbidden"
                (outer.served if ok else outer.refused).append(key)
                self.send_response(200 if ok else 403)
                self.send_header("Content-Type", "video/mp4" if ok else "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class World:
    sandbox: RunningSandbox
    db: Database
    vault: TokenVault
    media: MediaStore
    signer: MediaUrlSigner
    server: MediaServer
    workspace_id: int
    clip_id: str
    configs: dict[str, dict[str, Any]] = field(default_factory=dict)
    clients: list[PlatformClient] = field(default_factory=list)
    sleeps: list[float] = field(default_factory=list)

    def client(self, platform: str) -> PlatformClient:
        c = make_client(platform, self.sandbox.config(platform, **self.configs.get(platform, {})))
        self.clients.append(c)
        return c

    def connect(self, platform: str, account_id: str) -> int:
        creds = self.sandbox.connect(self.client(platform), account_id=account_id)
        with self.db.session() as s:
            repo = AccountsRepo(self.scope(s), self.vault)
            return repo.connect(platform, creds, handle=account_id).id

    def scope(self, session: Any) -> WorkspaceScope:
        return WorkspaceScope(session, get_or_create_workspace(session, "acme"))

    def post(
        self, *targets: tuple[str, int, dict[str, Any]], caption: str = "Big moment", at: datetime | None = None
    ) -> tuple[str, list[str]]:
        with self.db.session() as s:
            post = ledger.create_post(
                self.scope(s),
                clip_id=self.clip_id,
                caption=caption,
                timezone="Europe/Berlin",
                scheduled_at=at or datetime.now(UTC) - timedelta(seconds=1),
                targets=[ledger.TargetSpec(p, a, options=o) for p, a, o in targets],
            )
            by_account = {(t.platform, t.account_id): t.id for t in ledger.list_targets(self.scope(s), post.id)}
            return post.id, [by_account[(p, a)] for p, a, _ in targets]  # in the order given

    def run(
        self, platform: str, *, now: datetime | None = None, worker_id: str = WORKER, **kw: Any
    ) -> list[TargetOutcome]:
        kw.setdefault("switches", PublishSwitches.all_on())
        return publish_due(
            platform,
            db=self.db,
            vault=self.vault,
            media=self.media,
            clients=self.client,
            now=now,
            worker_id=worker_id,
            signer=self.signer,
            backoff_s=0.01,
            sleep=self.sleeps.append,
            **kw,
        )

    def target(self, target_id: str) -> PostTarget:
        with self.db.session() as s:
            return s.get(PostTarget, target_id)

    def post_status(self, post_id: str) -> str:
        with self.db.session() as s:
            return s.get(Post, post_id).status

    def calls(self, platform: str, method: str, path: str) -> int:
        return sum(1 for r in self.sandbox.state.requests_for(platform) if r.method == method and r.path == path)


def _world(
    db_url: str, sandbox: RunningSandbox, small_clip: Path, tmp_path: Path, store: MediaStore | None = None
) -> Iterator[World]:
    db = Database(db_url)
    db.migrate()
    local = LocalMediaStore(tmp_path / "media")
    media = store or local
    media.put_file(CLIP_KEY, small_clip)
    server = MediaServer(local)
    signer = MediaUrlSigner(media, base_url=server.base, secret=b"test-media-url-key")
    server.signer = signer
    with db.session() as s:
        ws = get_or_create_workspace(s, "acme")
        scope = WorkspaceScope(s, ws)
        scope.add_source("src1", "file", "file:///in.mp4", "in.mp4", status="ready")
        clip = scope.replace_clips("src1", [{"start_s": 0.0, "end_s": 4.0, "media_key": CLIP_KEY}])[0]
        ws_id, clip_id = ws.id, clip.id
    vault = TokenVault(KeyRing.parse(f"k1:{generate_key()}"))
    world = World(sandbox, db, vault, media, signer, server, ws_id, clip_id)
    try:
        yield world
    finally:
        for c in world.clients:
            c.close()
        server.close()
        db.dispose()


@pytest.fixture
def world(sandbox: RunningSandbox, small_clip: Path, tmp_path: Path) -> Iterator[World]:
    """SQLite: for the scenarios whose database behaviour the two-backend tests already cover."""
    yield from _world(f"sqlite:///{tmp_path / 'cliply.db'}", sandbox, small_clip, tmp_path)


@pytest.fixture
def both(db_url: str, sandbox: RunningSandbox, small_clip: Path, tmp_path: Path) -> Iterator[World]:
    yield from _world(db_url, sandbox, small_clip, tmp_path)


def _posts(w: World, platform: str) -> list[str]:
    return [p.post_id for p in w.sandbox.state.posts_for(platform)]


# ---- fan-out ----------------------------------------------------------------------------------------------------


def test_one_post_to_several_accounts_and_platforms_publishes_exactly_once_each(both: World) -> None:
    w = both
    a, b = w.connect("tiktok", "tt-a"), w.connect("tiktok", "tt-b")
    ig = w.connect("instagram", "ig-1")
    post_id, targets = w.post(("tiktok", a, TIKTOK), ("tiktok", b, TIKTOK), ("instagram", ig, {}))

    tiktok = w.run("tiktok")
    assert sorted(o.state for o in tiktok) == ["published", "published"]
    assert w.post_status(post_id) == "processing"  # instagram still due
    insta = w.run("instagram")
    assert [o.state for o in insta] == ["published"]

    assert {p.account_id for p in w.sandbox.state.posts_for("tiktok")} == {"tt-a", "tt-b"}
    assert len(_posts(w, "tiktok")) == 2 and len(_posts(w, "instagram")) == 1
    for tid in targets:
        t = w.target(tid)
        assert t.state == "published" and t.attempts == 1 and t.platform_post_id
    assert {w.target(t).platform_post_id for t in targets} == {*_posts(w, "tiktok"), *_posts(w, "instagram")}
    assert w.post_status(post_id) == "posted"
    # Instagram pulled the clip through a signed URL of our media route.
    assert w.server.served == [CLIP_KEY] and w.server.refused == []

    # Another tick claims nothing and posts nothing.
    assert w.run("tiktok") == [] and w.run("instagram") == []
    assert len(w.sandbox.state.posts_for()) == 3


def test_a_failing_platform_does_not_block_the_others(world: World) -> None:
    w = world
    tt, ig = w.connect("tiktok", "tt-a"), w.connect("instagram", "ig-1")
    post_id, (t_tt, t_ig) = w.post(("tiktok", tt, TIKTOK), ("instagram", ig, {}))
    w.sandbox.fault("tiktok", "content_rejected", "init", times=-1)

    [out_tt] = w.run("tiktok")
    [out_ig] = w.run("instagram")
    assert (out_tt.state, out_tt.error_class) == ("failed", "content_rejected")
    assert out_ig.state == "published"
    assert w.target(t_tt).state == "failed" and w.target(t_tt).error_message
    assert w.target(t_ig).state == "published"
    assert _posts(w, "tiktok") == [] and len(_posts(w, "instagram")) == 1
    assert w.post_status(post_id) == "partial"


# ---- classified failures ------------------------------------------------------------------------------------------


def test_a_5xx_burst_is_retried_with_backoff_and_posts_once(world: World) -> None:
    w = world
    acct = w.connect("tiktok", "tt-a")
    _, [tid] = w.post(("tiktok", acct, TIKTOK))
    w.sandbox.fault("tiktok", "error", "init", times=2, status=503)

    [out] = w.run("tiktok")
    assert out.state == "published"
    assert w.calls("tiktok", "POST", INIT) == 3
    assert len(w.sleeps) == 2 and all(s > 0 for s in w.sleeps)  # two backoffs between three tries
    assert len(_posts(w, "tiktok")) == 1 and w.target(tid).attempts == 1


def test_a_429_waits_until_retry_at_then_publishes_once(world: World) -> None:
    w = world
    acct = w.connect("tiktok", "tt-a")
    _, [tid] = w.post(("tiktok", acct, TIKTOK))
    w.sandbox.fault("tiktok", "rate_limit", "init", retry_after_s=120)

    [out] = w.run("tiktok")
    assert out.state == "waiting" and out.error_class == "rate" and out.until is not None
    t = w.target(tid)
    assert (t.state, t.wait_reason) == ("waiting", "rate")
    assert t.due_at > datetime.now(UTC) + timedelta(seconds=100)  # the platform's Retry-After, not a guess
    assert w.run("tiktok") == []  # not due yet: nothing claimed, nothing sent
    assert _posts(w, "tiktok") == []

    [later] = w.run("tiktok", now=t.due_at + timedelta(seconds=1))
    assert later.state == "published"
    assert len(_posts(w, "tiktok")) == 1 and w.calls("tiktok", "POST", INIT) == 2


def test_a_lost_create_response_is_reconciled_to_exactly_one_post(both: World) -> None:
    w = both
    w.configs["tiktok"] = {"upload_timeout_s": 0.5}
    acct = w.connect("tiktok", "tt-a")
    _, [tid] = w.post(("tiktok", acct, TIKTOK))
    # The final chunk commits the post on TikTok's side, then the answer never arrives in time.
    w.sandbox.fault("tiktok", "lost_response", "upload", delay_s=1.5)

    [out] = w.run("tiktok")
    assert out.state == "published" and out.reconciled
    t = w.target(tid)
    assert t.state == "published" and t.handle.get("publish_id")  # the handle was saved before reconciling
    assert len(_posts(w, "tiktok")) == 1 and w.calls("tiktok", "POST", INIT) == 1
    assert w.sandbox.state.wait_idle()
    assert w.run("tiktok", now=datetime.now(UTC) + timedelta(hours=1)) == []
    assert len(_posts(w, "tiktok")) == 1


def test_a_lost_init_response_is_unknown_then_reconciled_and_published_once(world: World) -> None:
    w = world
    w.configs["tiktok"] = {"timeout_s": 0.5}
    acct = w.connect("tiktok", "tt-a")
    _, [tid] = w.post(("tiktok", acct, TIKTOK))
    w.sandbox.fault("tiktok", "lost_response", "init", delay_s=1.5)

    [out] = w.run("tiktok")
    # The init may have happened and there is no publish_id to ask about: unknown until the next tick reconciles.
    assert out.state == "unknown_outcome"
    assert w.target(tid).state == "unknown_outcome"
    assert w.sandbox.state.wait_idle()

    assert w.run("tiktok", now=datetime.now(UTC) + timedelta(seconds=1)) == []  # reconciled on its back-off
    [again] = w.run("tiktok", now=datetime.now(UTC) + timedelta(seconds=61))
    assert again.state == "published" and not again.reconciled
    assert len(_posts(w, "tiktok")) == 1
    assert w.calls("tiktok", "POST", VIDEO_LIST) >= 2  # asked "did it post?" before creating again
    assert w.target(tid).attempts == 2


def test_an_expired_token_mid_publish_is_refreshed_once_then_published(world: World) -> None:
    w = world
    acct = w.connect("tiktok", "tt-a")
    _, [tid] = w.post(("tiktok", acct, TIKTOK))
    with w.db.session() as s:
        before = s.get(Account, acct).access_token_enc
    tokens_before = w.calls("tiktok", "POST", TOKEN)
    w.sandbox.fault("tiktok", "expired_token", "init")

    [out] = w.run("tiktok")
    assert out.state == "published"
    assert w.calls("tiktok", "POST", TOKEN) == tokens_before + 1  # exactly one refresh
    with w.db.session() as s:
        account = s.get(Account, acct)
        assert account.access_token_enc != before and account.status == "connected"
        fresh = AccountsRepo(w.scope(s), w.vault).credentials(account)
    assert w.sandbox.state.bearer("tiktok", fresh.access_token) is not None  # the rotated pair was stored
    assert len(_posts(w, "tiktok")) == 1 and w.target(tid).attempts == 1


def test_a_token_about_to_expire_is_refreshed_before_publishing(world: World) -> None:
    w = world
    a, b = w.connect("tiktok", "tt-a"), w.connect("tiktok", "tt-b")
    with w.db.session() as s:
        s.execute(update(Account).values(expires_at=datetime.now(UTC) + timedelta(minutes=2)))
    tokens_before = w.calls("tiktok", "POST", TOKEN)
    w.post(("tiktok", a, TIKTOK), ("tiktok", b, TIKTOK))
    w.post(("tiktok", a, TIKTOK), caption="Second clip, same account")

    outcomes = w.run("tiktok")
    assert [o.state for o in outcomes] == ["published"] * 3
    # One refresh per account even with two targets of tt-a running concurrently (rotating refresh tokens).
    assert w.calls("tiktok", "POST", TOKEN) == tokens_before + 2
    assert len(_posts(w, "tiktok")) == 3


def test_reconnect_needed_fails_the_target_and_flags_the_account(world: World) -> None:
    w = world
    acct = w.connect("tiktok", "tt-a")
    _, [tid] = w.post(("tiktok", acct, TIKTOK))
    w.sandbox.fault("tiktok", "expired_token", "init", times=2)  # the refreshed token is refused as well

    [out] = w.run("tiktok")
    assert (out.state, out.error_class) == ("failed", "auth_reconnect")
    with w.db.session() as s:
        assert s.get(Account, acct).status == "reauth_required"
    assert (w.target(tid).state, w.target(tid).error_class) == ("failed", "auth_reconnect")
    assert _posts(w, "tiktok") == []


def test_our_quota_rule_defers_to_the_next_window_without_causing_429s(world: World) -> None:
    w = world
    acct = w.connect("tiktok", "tt-a")
    rules = {"tiktok": (LimitRule("posts_day", "account", 1, window_s=86400.0),)}
    now = datetime.now(UTC)
    _, [first] = w.post(("tiktok", acct, TIKTOK))
    _, [second] = w.post(("tiktok", acct, TIKTOK), caption="Another one")

    outcomes = {o.target_id: o for o in w.run("tiktok", now=now, limit_rules=rules, concurrency=1)}
    assert outcomes[first].state == "published"
    assert (outcomes[second].state, outcomes[second].error_class) == ("waiting", "quota")
    t = w.target(second)
    assert (t.state, t.wait_reason, t.attempts) == ("waiting", "quota", 0)
    # The window frees when the first use ages out; that use is stamped at its call, a moment after the claim.
    assert timedelta(days=1) <= t.due_at - now < timedelta(days=1, minutes=1)
    assert w.calls("tiktok", "POST", INIT) == 1

    [later] = w.run("tiktok", now=t.due_at + timedelta(seconds=1), limit_rules=rules)
    assert later.state == "published" and len(_posts(w, "tiktok")) == 2
    assert [r for r in w.sandbox.state.requests if r.status == 429] == []


# ---- crash recovery -----------------------------------------------------------------------------------------------


def _claim_and_attempt(w: World, tid: str) -> None:
    """A worker claims the target and commits mark_attempt, then dies (its lease is left to expire)."""
    with w.db.session() as s:
        [claimed] = ledger.claim_due(s, "tiktok", now=datetime.now(UTC), limit=10, worker_id="dead-worker")
        assert claimed.id == tid
    with w.db.session() as s:
        ledger.mark_attempt(s, tid, "dead-worker", lease_s=60)


def test_a_crash_before_the_platform_call_is_reconciled_then_published_once(both: World) -> None:
    w = both
    acct = w.connect("tiktok", "tt-a")
    _, [tid] = w.post(("tiktok", acct, TIKTOK))
    _claim_and_attempt(w, tid)

    assert w.run("tiktok") == []  # still leased to the dead worker
    [out] = w.run("tiktok", now=datetime.now(UTC) + timedelta(seconds=61))
    assert out.state == "published" and not out.reconciled
    paths = [r.path for r in w.sandbox.state.requests_for("tiktok") if r.path in (VIDEO_LIST, INIT)]
    assert paths == [VIDEO_LIST, INIT]  # "did it post?" first, then the one create
    assert len(_posts(w, "tiktok")) == 1 and w.target(tid).attempts == 2


def test_a_crash_after_the_platform_accepted_is_reconciled_without_a_duplicate(both: World) -> None:
    w = both
    acct = w.connect("tiktok", "tt-a")
    _, [tid] = w.post(("tiktok", acct, TIKTOK), caption="Crash after accept")
    _claim_and_attempt(w, tid)
    # The dead worker's publish went through; it died before mark_published.
    with w.db.session() as s:
        creds = AccountsRepo(w.scope(s), w.vault).credentials(s.get(Account, acct))
    clip = w.media.local_path(CLIP_KEY)
    assert clip is not None
    accepted = w.client("tiktok").publish(
        creds, VideoPost(clip, caption="Crash after accept", privacy="PUBLIC_TO_EVERYONE", idempotency_key=tid)
    )

    [out] = w.run("tiktok", now=datetime.now(UTC) + timedelta(seconds=61))
    assert out.state == "published" and out.reconciled and out.post_id == accepted.post_id
    assert _posts(w, "tiktok") == [accepted.post_id] and w.calls("tiktok", "POST", INIT) == 1
    t = w.target(tid)
    assert t.state == "published" and t.platform_post_id == accepted.post_id and not t.recovering


# ---- switches and media URLs ----------------------------------------------------------------------------------------


def test_switches_off_publish_nothing_and_leave_targets_scheduled(world: World) -> None:
    w = world
    tt, ig = w.connect("tiktok", "tt-a"), w.connect("instagram", "ig-1")
    post_id, (t_tt, t_ig) = w.post(("tiktok", tt, TIKTOK), ("instagram", ig, {}))
    requests_before = len(w.sandbox.state.requests)

    master_off = PublishSwitches.from_env({"CLIPLY_PUBLISHING_ENABLED": "0"})
    assert w.run("tiktok", switches=master_off) == [] and w.run("instagram", switches=master_off) == []
    assert len(w.sandbox.state.requests) == requests_before
    assert w.target(t_tt).state == w.target(t_ig).state == "scheduled"

    tiktok_off = PublishSwitches.from_env({"CLIPLY_PUBLISH_TIKTOK": "0"})
    assert w.run("tiktok", switches=tiktok_off) == []
    assert [o.state for o in w.run("instagram", switches=tiktok_off)] == ["published"]
    assert w.target(t_tt).state == "scheduled" and _posts(w, "tiktok") == []
    assert w.post_status(post_id) == "processing"

    [out] = w.run("tiktok", switches=PublishSwitches.from_env({}))  # back on: picked up
    assert out.state == "published" and w.post_status(post_id) == "posted"


def test_switch_parsing() -> None:
    assert PublishSwitches.from_env({}).allows("youtube")
    assert not PublishSwitches.from_env({"CLIPLY_PUBLISHING_ENABLED": "false"}).allows("youtube")
    s = PublishSwitches.from_env({"CLIPLY_PUBLISH_X": "0", "CLIPLY_PUBLISH_YOUTUBE": "1"})
    assert not s.allows("x") and s.allows("youtube") and s.allows("tiktok")
    assert not PublishSwitches.from_env({"CLIPLY_PUBLISH_X": "nope"}).allows("x")  # a typo never publishes


def test_signed_media_urls_verify_only_the_key_and_time_they_were_made_for(tmp_path: Path) -> None:
    media = LocalMediaStore(tmp_path / "m")
    media.put_bytes("clips/a.mp4", b"....ftyp")
    signer = MediaUrlSigner(media, base_url="https://cliply.example/", secret=b"k" * 32)
    url = urlparse(signer.url_for("clips/a.mp4", now=1_000_000))
    assert url.netloc == "cliply.example" and url.path == "/media/clips/a.mp4"
    q = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert int(q["exp"]) == 1_000_000 + 86400
    assert signer.verify("clips/a.mp4", q["exp"], q["sig"], now=1_000_000)
    assert not signer.verify("clips/a.mp4", q["exp"], q["sig"], now=1_000_000 + 86401)  # expired
    assert not signer.verify("clips/b.mp4", q["exp"], q["sig"], now=1_000_000)  # another object
    assert not signer.verify("clips/a.mp4", str(int(q["exp"]) + 1), q["sig"], now=1_000_000)  # stretched expiry
    other = MediaUrlSigner(media, base_url="https://cliply.example", secret=b"x" * 32)
    assert not other.verify("clips/a.mp4", q["exp"], q["sig"], now=1_000_000)
    assert not signer.verify("../etc/passwd", q["exp"], q["sig"], now=1_000_000)


def test_signer_from_env_creates_one_private_key_file(tmp_path: Path) -> None:
    media = LocalMediaStore(tmp_path / "m")
    env = {"CLIPLY_PUBLIC_BASE_URL": "https://c.example"}
    a = MediaUrlSigner.from_env(media, env, home=tmp_path / "home")
    b = MediaUrlSigner.from_env(media, env, home=tmp_path / "home")
    assert a.secret == b.secret and len(a.secret) == 32
    assert (tmp_path / "home" / "media-url-key").stat().st_mode & 0o777 == 0o600
    with pytest.raises(ValueError):
        MediaUrlSigner.from_env(media, {}, home=tmp_path / "home").url_for("clips/a.mp4")


def test_the_media_route_refuses_unsigned_and_tampered_urls(world: World) -> None:
    w = world
    good = w.signer.url_for(CLIP_KEY)
    assert httpx.get(good).status_code == 200
    assert httpx.get(f"{w.server.base}/media/{CLIP_KEY}").status_code == 403
    assert httpx.get(good.replace("sig=", "sig=0")).status_code == 403
    with w.db.session() as s:
        assert s.scalars(select(PostTarget)).all() == []


def test_instagram_lost_publish_response_is_reconciled_through_the_container(world: World) -> None:
    w = world
    w.configs["instagram"] = {"timeout_s": 0.5}
    acct = w.connect("instagram", "ig-1")
    _, [tid] = w.post(("instagram", acct, {}), caption="Reel with a lost answer")
    w.sandbox.fault("instagram", "lost_response", "publish", delay_s=1.5)

    [out] = w.run("instagram")
    assert out.state == "published" and out.reconciled
    t = w.target(tid)
    assert t.handle.get("container_id") and t.platform_post_id == _posts(w, "instagram")[0]
    assert len(_posts(w, "instagram")) == 1
    assert w.sandbox.state.wait_idle()


def test_a_pull_platform_without_a_public_media_url_fails_as_config(world: World) -> None:
    w = world
    w.signer = MediaUrlSigner(w.media, base_url="", secret=b"k" * 32)  # local store, no CLIPLY_PUBLIC_BASE_URL
    acct = w.connect("instagram", "ig-1")
    _, [tid] = w.post(("instagram", acct, {}))
    [out] = w.run("instagram")
    assert (out.state, out.error_class) == ("failed", "config") and "CLIPLY_PUBLIC_BASE_URL" in out.message
    assert w.target(tid).state == "failed" and _posts(w, "instagram") == []


def test_a_missing_clip_file_fails_before_any_attempt(world: World) -> None:
    w = world
    acct = w.connect("tiktok", "tt-a")
    _, [tid] = w.post(("tiktok", acct, TIKTOK))
    w.media.delete(CLIP_KEY)
    [out] = w.run("tiktok")
    assert (out.state, out.error_class) == ("failed", "config")
    t = w.target(tid)
    assert (t.state, t.attempts) == ("failed", 0) and w.calls("tiktok", "POST", INIT) == 0


def test_a_job_whose_lease_ran_out_before_it_started_is_skipped_untouched(world: World) -> None:
    w = world
    acct = w.connect("tiktok", "tt-a")
    long_ago = datetime.now(UTC) - timedelta(minutes=20)
    _, [tid] = w.post(("tiktok", acct, TIKTOK), at=long_ago - timedelta(minutes=1))
    # Claimed with a lease that has already expired by the time the job starts (it queued behind slow ones).
    [out] = w.run("tiktok", now=long_ago, lease_s=60)
    assert out.state == "skipped"
    t = w.target(tid)
    assert (t.state, t.attempts, t.claimed_by) == ("claimed", 0, WORKER)  # left for the next claimer
    assert w.calls("tiktok", "POST", INIT) == 0
    [again] = w.run("tiktok")
    assert again.state == "published" and len(_posts(w, "tiktok")) == 1


def test_an_s3_store_gives_pull_platforms_a_presigned_url_and_push_platforms_the_bytes(
    sandbox: RunningSandbox, small_clip: Path, tmp_path: Path, moto_s3: S3Server
) -> None:
    store = S3MediaStore(moto_s3.bucket, f"pub-{tmp_path.name}", client=s3_client_for(moto_s3))
    for w in _world(f"sqlite:///{tmp_path / 'cliply.db'}", sandbox, small_clip, tmp_path, store=store):
        tt, ig = w.connect("tiktok", "tt-a"), w.connect("instagram", "ig-1")
        post_id, _ = w.post(("tiktok", tt, TIKTOK), ("instagram", ig, {}))
        assert [o.state for o in w.run("tiktok")] == ["published"]  # downloaded to a temp file and pushed
        assert [o.state for o in w.run("instagram")] == ["published"]  # Meta pulled the presigned S3 URL
        assert w.server.served == []  # the local /media route was not involved
        assert len(_posts(w, "tiktok")) == len(_posts(w, "instagram")) == 1
        assert w.post_status(post_id) == "posted"


def test_a_failed_reconciliation_never_creates_and_is_retried_next_tick(world: World) -> None:
    w = world
    acct = w.connect("tiktok", "tt-a")
    _, [tid] = w.post(("tiktok", acct, TIKTOK))
    _claim_and_attempt(w, tid)
    w.sandbox.fault("tiktok", "error", "video_list", status=500)

    [out] = w.run("tiktok", now=datetime.now(UTC) + timedelta(seconds=61))
    assert out.state == "unknown_outcome" and "reconciliation failed" in out.message
    assert w.calls("tiktok", "POST", INIT) == 0  # could not tell whether it posted, so it did not create
    [again] = w.run("tiktok", now=datetime.now(UTC) + timedelta(seconds=61 + 61))
    assert again.state == "published" and len(_posts(w, "tiktok")) == 1


def test_two_workers_ticking_at_once_publish_each_target_once(both: World) -> None:
    w = both
    accounts = [w.connect("tiktok", f"tt-{i}") for i in range(4)]
    _, targets = w.post(*[("tiktok", a, TIKTOK) for a in accounts])
    results: dict[str, list[TargetOutcome]] = {}
    start = threading.Barrier(2)

    def tick(worker: str) -> None:
        start.wait()
        results[worker] = w.run("tiktok", worker_id=worker, concurrency=2)

    threads = [threading.Thread(target=tick, args=(f"worker-{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    handled = [o.target_id for outcomes in results.values() for o in outcomes]
    assert sorted(handled) == sorted(targets)  # every target claimed by exactly one worker
    assert all(o.state == "published" for outcomes in results.values() for o in outcomes)
    assert len(_posts(w, "tiktok")) == 4 and w.calls("tiktok", "POST", INIT) == 4


# ---- a lingering run (what a Dagster run does) --------------------------------------------------------------------


def test_a_lingering_run_publishes_targets_as_they_fall_due_then_stops_when_idle(world: World) -> None:
    w = world
    accounts = [w.connect("tiktok", f"tt-{i}") for i in range(3)]
    now = datetime.now(UTC)
    posts = [
        w.post(("tiktok", a, TIKTOK), at=now + timedelta(seconds=delay))
        for a, delay in zip(accounts, (-1, 1.5, 3.0), strict=True)
    ]
    seen: list[tuple[str, float]] = []
    began = time.monotonic()

    outcomes = w.run(
        "tiktok",
        linger_s=2.0,
        poll_s=0.1,
        max_run_s=60,
        on_outcome=lambda o: seen.append((o.target_id, time.monotonic() - began)),
    )
    took = time.monotonic() - began
    assert [o.state for o in outcomes] == ["published"] * 3
    assert [tid for tid, _ in seen] == [tids[0] for _, tids in posts]  # in due order, each reported as it settled
    for _, [tid] in posts:
        t = w.target(tid)
        assert t.attempt_started_at >= t.due_at  # never before its time
        assert (t.attempt_started_at - t.due_at).total_seconds() < 1.5  # claimed within a few polls of falling due
    assert 3.0 + 2.0 <= took < 30  # idle for linger_s after the last one, then it returned by itself
    assert len(_posts(w, "tiktok")) == 3


def test_a_lingering_run_stops_at_max_run_s_and_leaves_later_targets_for_the_next_run(world: World) -> None:
    w = world
    acct = w.connect("tiktok", "tt-a")
    _, [later] = w.post(("tiktok", acct, TIKTOK), at=datetime.now(UTC) + timedelta(seconds=30))
    began = time.monotonic()
    assert w.run("tiktok", linger_s=120, poll_s=0.1, max_run_s=1.0) == []
    assert time.monotonic() - began < 15
    assert w.target(later).state == "scheduled" and w.calls("tiktok", "POST", INIT) == 0


def test_a_lingering_run_does_not_hammer_a_target_it_could_not_reconcile(world: World) -> None:
    w = world
    acct = w.connect("tiktok", "tt-a")
    _, [tid] = w.post(("tiktok", acct, TIKTOK))
    _claim_and_attempt(w, tid)  # a crashed attempt: the target must be reconciled before anything else
    w.sandbox.fault("tiktok", "error", "video_list", status=500, times=-1)
    with w.db.session() as s:  # the dead worker's lease has run out
        s.execute(
            update(PostTarget)
            .where(PostTarget.id == tid)
            .values(claimed_until=datetime.now(UTC) - timedelta(seconds=1))
        )

    outcomes = w.run("tiktok", linger_s=1.5, poll_s=0.1, max_run_s=60)
    assert [o.state for o in outcomes] == ["unknown_outcome"]  # tried once in this run, left for a later pass
    assert w.calls("tiktok", "POST", VIDEO_LIST) <= 2 and w.calls("tiktok", "POST", INIT) == 0


def test_a_run_never_holds_more_leases_than_it_has_workers(world: World) -> None:
    w = world
    accounts = [w.connect("tiktok", f"tt-{i}") for i in range(5)]
    _, targets = w.post(*[("tiktok", a, TIKTOK) for a in accounts])
    leased: list[int] = []

    def count_leases(_: TargetOutcome) -> None:
        with w.db.session() as s:
            leased.append(len(list(s.scalars(select(PostTarget.id).where(PostTarget.claimed_by == WORKER)))))

    outcomes = w.run("tiktok", concurrency=2, on_outcome=count_leases)
    assert sorted(o.target_id for o in outcomes) == sorted(targets)
    assert max(leased) <= 2  # the rest waited unclaimed (no lease ticking away in a queue)
    assert len(_posts(w, "tiktok")) == 5


# ---- ids the platform assigns later ---------------------------------------------------------------------------------


def test_a_tiktok_id_assigned_after_moderation_is_backfilled_later(
    both: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = both
    w.configs["tiktok"] = {"poll_interval_s": 0.05, "poll_timeout_s": 1.0}
    real = TikTokClient._result

    def still_moderating(
        self: TikTokClient, publish_id: str, data: dict[str, Any], *, private: bool, final: bool, handle: str = ""
    ) -> Any:
        # While the publish call waits, moderation never ends; a later lookup sees the public id.
        if not final:
            data = {**data, "publicaly_available_post_id": []}
        return real(self, publish_id, data, private=private, final=final, handle=handle)

    monkeypatch.setattr(TikTokClient, "_result", still_moderating)
    acct = w.connect("tiktok", "tt-a")
    _, [tid] = w.post(("tiktok", acct, TIKTOK))
    [out] = w.run("tiktok")
    assert (out.state, out.post_id) == ("published", "")
    t = w.target(tid)
    assert not t.platform_post_id and t.handle["publish_status"] == "processing" and t.handle["publish_id"]

    publisher = Publisher(
        db=w.db, vault=w.vault, media=w.media, clients=w.client, signer=w.signer, switches=PublishSwitches.all_on()
    )
    [filled] = publisher.backfill_post_ids("tiktok")
    t = w.target(tid)
    assert t.platform_post_id == filled.post_id == _posts(w, "tiktok")[0] and t.url == filled.url
    assert t.state == "published" and "publish_status" not in t.handle
    assert publisher.backfill_post_ids("tiktok") == []  # nothing left to ask about
    assert len(_posts(w, "tiktok")) == 1 and w.calls("tiktok", "POST", INIT) == 1


def test_reconciliation_never_hands_a_post_owned_by_another_target_to_a_second_one(world: World) -> None:
    w = world
    acct = w.connect("tiktok", "tt-a")
    # The same clip and caption scheduled twice on one account: the first publishes normally.
    _, [first] = w.post(("tiktok", acct, TIKTOK), caption="Same words twice")
    [out] = w.run("tiktok")
    assert out.state == "published"
    # The second crashed before its init reached TikTok (no publish_id): only caption matching could answer, and
    # the one matching post already belongs to the first target.
    _, [second] = w.post(("tiktok", acct, TIKTOK), caption="Same words twice")
    _claim_and_attempt(w, second)
    with w.db.session() as s:
        s.execute(
            update(PostTarget)
            .where(PostTarget.id == second)
            .values(claimed_until=datetime.now(UTC) - timedelta(seconds=1))
        )

    [again] = w.run("tiktok")
    assert again.target_id == second and again.state == "published" and not again.reconciled
    assert again.post_id != w.target(first).platform_post_id
    assert len(_posts(w, "tiktok")) == 2
