"""Analytics use cases against the real platform sandbox, on SQLite and PostgreSQL: tracking by URL (own account,
wrong account, unknown and lookalike hosts, short links through a 127.0.0.1 redirect server behind the egress
guard, duplicates, deleted posts), listing and removing, stats, leaderboards, CSV export and charts, and workspace
isolation of every one of them."""

from __future__ import annotations

import csv
import io
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from cliply import wiring
from cliply.analytics import links, service
from cliply.analytics.refresh import Refresher
from cliply.platforms import make_client
from cliply.sandbox.state import RecordedPost
from cliply.security.egress import dial_checked
from cliply.settings import Settings
from cliply.store.accounts import AccountsRepo
from cliply.store.models_analytics import TrackedPost
from cliply.store.repo import NotFound, WorkspaceScope, get_or_create_workspace
from cliply.usecases import ServiceError
from tests.fixtures.sandbox import RunningSandbox
from tests.test_http import env_for

PLATFORMS = ("youtube", "tiktok", "instagram", "facebook", "threads", "x", "linkedin", "pinterest", "bluesky")
PUBLIC_IP = "93.184.215.14"  # what the fake resolver answers for short-link hosts; dialled to the local server


@dataclass
class World:
    app: wiring.Cliply
    sandbox: RunningSandbox
    env: dict[str, str]

    def connect(self, platform: str, account_id: str, ws: str = "default", handle: str | None = None) -> int:
        self.sandbox.state.add_account(platform, account_id, account_id)  # `handle`: what Cliply stores
        client = make_client(platform, self.sandbox.config(platform))
        try:
            creds = self.sandbox.connect(client, account_id=account_id)
        finally:
            client.close()
        with self.app.db.session() as s:
            repo = AccountsRepo(WorkspaceScope(s, get_or_create_workspace(s, ws)), self.app.vault)
            return repo.connect(platform, creds, handle or account_id).id

    def seed(self, platform: str, account_id: str, age: timedelta = timedelta(hours=1), **kw: Any) -> RecordedPost:
        """A post published outside Cliply `age` ago (TikTok's reads lag a new video by up to 5 minutes)."""
        if (platform, account_id) not in self.sandbox.state.accounts:
            self.sandbox.state.add_account(platform, account_id, account_id)
        return self.sandbox.state.seed_post(platform, account_id, age=age, **kw)

    def tracked_count(self) -> int:
        with self.app.db.session() as s:
            return s.scalar(select(func.count()).select_from(TrackedPost)) or 0

    def requests(self) -> int:
        return sum(len(self.sandbox.state.requests_for(p)) for p in PLATFORMS)


def make_world(tmp_path: Path, sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch, db_url: str) -> World:
    env = {**env_for(tmp_path), "CLIPLY_DATABASE_URL": db_url, "CLIPLY_ALLOW_PRIVATE_URLS": "1"}
    for platform in PLATFORMS:
        env.update(sandbox.env(platform))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("CLIPLY_TOKEN_KEYS", raising=False)
    monkeypatch.delenv("CLIPLY_PUBLIC_BASE_URL", raising=False)
    settings = Settings.from_env()
    app = wiring.cliply(settings, clients=lambda p: make_client(p, sandbox.config(p)))
    app.db.migrate()
    return World(app, sandbox, env)


@pytest.fixture
def world(tmp_path: Path, sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch, db_url: str) -> Iterator[World]:
    w = make_world(tmp_path, sandbox, monkeypatch, db_url)
    yield w
    w.app.db.dispose()


@pytest.fixture
def sqlite_world(tmp_path: Path, sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    w = make_world(tmp_path, sandbox, monkeypatch, f"sqlite:///{tmp_path / 'cliply.db'}")
    yield w
    w.app.db.dispose()


# --- a short-link service on 127.0.0.1 ---


class Redirects(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _RedirectHandler)
        self.routes: dict[str, str] = {}  # path -> Location
        self.hits: list[str] = []

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _RedirectHandler(BaseHTTPRequestHandler):
    server: Redirects

    def do_GET(self) -> None:
        self.server.hits.append(self.path)
        target = self.server.routes.get(self.path)
        self.send_response(302 if target else 404)
        if target:
            self.send_header("Location", target)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def redirects(monkeypatch: pytest.MonkeyPatch) -> Iterator[Redirects]:
    """A redirect server that plays every short-link host: they resolve to a public address, which is dialled to
    127.0.0.1 (the egress still checks every address it is given, the redirect targets' included)."""
    server = Redirects()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_address[1]

    def resolver(host: str, port_: int, *args: Any) -> list[tuple[Any, ...]]:
        if host in ("vm.tiktok.com", "pin.it", "fb.watch", "www.tiktok.com"):
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (PUBLIC_IP, port_))]
        if host == "127.0.0.1":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port_))]
        raise OSError(f"no such host {host} in this test")

    def dial(ip: str, port_: int, timeout: float) -> socket.socket:
        return dial_checked("127.0.0.1", port, timeout) if ip == PUBLIC_IP else dial_checked(ip, port_, timeout)

    monkeypatch.setattr(links, "NETWORK", links.Network(resolver=resolver, dial=dial))
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


# --- tracking by URL ---


def test_track_own_post_reports_first_metrics_and_is_idempotent(world: World) -> None:
    account = world.connect("tiktok", "tt_alice")
    seeded = world.seed("tiktok", "tt_alice")
    url = seeded.payload["public_url"]

    first = service.track_url(world.app, None, url)
    assert first["created"] is True and first["message"] == "tracking started"
    assert (first["platform"], first["post_id"], first["account_id"]) == ("tiktok", seeded.post_id, account)
    assert first["account"] == "tt_alice" and first["origin"] == "url" and first["url"] == url
    assert first["fetched_at"] is not None and first["next_fetch_at"] is not None
    assert first["tier"] == "ultra_hot"
    assert isinstance(first["metrics"]["views"], int)
    # TikTok reports no saves, reach, impressions or watch time: "not available", never 0
    for metric in ("saves", "reach", "impressions", "watch_time_s"):
        assert first["metrics"][metric] == service.NOT_AVAILABLE
    assert first["freshness"]["fetched"].startswith("fetched ") and first["freshness"]["stale"] is False

    again = service.track_url(world.app, None, url + "?is_from_webapp=1")
    assert again["created"] is False and again["message"] == "already tracked" and again["id"] == first["id"]
    assert world.tracked_count() == 1


def test_a_post_of_an_account_the_workspace_has_not_connected_names_what_to_connect(world: World) -> None:
    world.connect("tiktok", "tt_alice")
    theirs = world.seed("tiktok", "tt_bob")
    with pytest.raises(ServiceError) as err:
        service.track_url(world.app, None, theirs.payload["public_url"])
    assert err.value.status == 409 and err.value.exit_code == 1
    assert "connect the TikTok account that posted this video: `cliply accounts connect tiktok`" in str(err.value)
    # no account of the platform at all
    x_post = world.seed("x", "x_carol")
    with pytest.raises(ServiceError, match=r"cliply accounts connect x`"):
        service.track_url(world.app, None, x_post.payload["public_url"])
    assert world.tracked_count() == 0


BAD_URLS = [
    "https://example.com/watch?v=dQw4w9WgXcQ",  # unknown host
    "https://youtube.com.evil.example/watch?v=dQw4w9WgXcQ",  # lookalike: a platform name as a subdomain
    "https://www.youtube.com.evil.example/shorts/dQw4w9WgXcQ",
    "https://evil-youtube.com/watch?v=dQw4w9WgXcQ",
    "https://www.xn--yutube-wqf.com/watch?v=dQw4w9WgXcQ",  # punycode of yоutube (Cyrillic о)
    "https://www.yоutube.com/watch?v=dQw4w9WgXcQ",  # the same, unencoded
    "https://www.tiktok.com.evil.example/@alice/video/7300000000000000001",
    "https://xn--tiktok-9ya.com/@alice/video/7300000000000000001",
    "https://vm.tiktok.com.evil.example/ZMabcdef/",
    "https://pin.it.evil.example/abc123",
    "https://www.youtube.com@evil.example/watch?v=dQw4w9WgXcQ",  # userinfo trick
    "ftp://www.youtube.com/watch?v=dQw4w9WgXcQ",
    "javascript:alert(1)",
    "not a url",
    "",
]


@pytest.mark.parametrize("url", BAD_URLS)
def test_unknown_and_lookalike_hosts_are_refused_before_any_request(sqlite_world: World, url: str) -> None:
    sqlite_world.connect("youtube", "yt_alice")
    before = sqlite_world.requests()
    with pytest.raises(ServiceError, match="not a post URL Cliply can track") as err:
        service.track_url(sqlite_world.app, None, url)
    assert err.value.status == 400 and err.value.exit_code == 2
    assert sqlite_world.requests() == before and sqlite_world.tracked_count() == 0


def test_short_link_is_followed_hop_by_hop_through_the_egress(world: World, redirects: Redirects) -> None:
    world.connect("tiktok", "tt_alice")
    seeded = world.seed("tiktok", "tt_alice")
    redirects.routes["/ZMshort1/"] = f"{redirects.base}/hop2"  # a private hop: allowed by the test setting
    redirects.routes["/hop2"] = seeded.payload["public_url"]  # never fetched: it names the post

    result = service.track_url(world.app, None, "http://vm.tiktok.com/ZMshort1/")
    assert result["created"] is True and result["post_id"] == seeded.post_id
    assert redirects.hits == ["/ZMshort1/", "/hop2"]
    again = service.track_url(world.app, None, "http://vm.tiktok.com/ZMshort1/")
    assert again["created"] is False and again["id"] == result["id"]


def test_short_link_to_a_private_address_is_refused(
    sqlite_world: World, redirects: Redirects, monkeypatch: pytest.MonkeyPatch
) -> None:
    sqlite_world.connect("tiktok", "tt_alice")
    app = wiring.cliply(
        sqlite_world.app.settings.model_copy(update={"allow_private_urls": False}),
        db=sqlite_world.app.db,
        clients=sqlite_world.app.clients,
    )
    redirects.routes["/ZMprivate/"] = f"{redirects.base}/internal"
    redirects.routes["/internal"] = "https://www.tiktok.com/@alice/video/7300000000000000001"
    with pytest.raises(ServiceError, match=r"refused.*blocked") as err:
        service.track_url(app, None, "http://vm.tiktok.com/ZMprivate/")
    assert err.value.status == 400
    assert redirects.hits == ["/ZMprivate/"]  # the private hop was never reached


def test_short_link_loops_and_dead_ends_are_refused(sqlite_world: World, redirects: Redirects) -> None:
    redirects.routes["/ZMloop/"] = "http://vm.tiktok.com/ZMloop/"
    with pytest.raises(ServiceError, match="redirects more than 5 times"):
        service.track_url(sqlite_world.app, None, "http://vm.tiktok.com/ZMloop/")
    assert len(redirects.hits) == 5
    redirects.routes["/abc123"] = f"{redirects.base}/landing"  # a page, not a pin
    with pytest.raises(ServiceError, match="does not lead to a pinterest post"):
        service.track_url(sqlite_world.app, None, "http://pin.it/abc123")
    assert sqlite_world.tracked_count() == 0


def test_deleted_post_is_marked_gone(world: World) -> None:
    world.connect("youtube", "yt_alice")
    seeded = world.seed("youtube", "yt_alice")
    tracked = service.track_url(world.app, None, seeded.payload["public_url"])
    assert world.sandbox.state.delete_post("youtube", seeded.post_id)
    Refresher(world.app).fetch_now([tracked["id"]])
    shown = service.show_tracked(world.app, None, tracked["id"])
    assert shown["status"] == "gone" and shown["freshness"]["gone"] is True
    assert shown["next_fetch_at"] is None
    assert [p["id"] for p in service.list_tracked(world.app, None, status="gone")] == [tracked["id"]]
    assert service.list_tracked(world.app, None, status="active") == []


# --- reading, reports and isolation ---


def _two_workspaces(world: World) -> dict[str, Any]:
    from cliply.usecases import create_workspace

    create_workspace(world.app, "globex")
    world.connect("tiktok", "tt_alice")
    world.connect("youtube", "yt_alice")
    world.connect("tiktok", "tt_gus", ws="globex")
    mine = service.track_url(world.app, None, world.seed("tiktok", "tt_alice").payload["public_url"])
    yt = service.track_url(world.app, None, world.seed("youtube", "yt_alice").payload["public_url"])
    theirs = service.track_url(world.app, "globex", world.seed("tiktok", "tt_gus").payload["public_url"])
    return {"mine": mine, "yt": yt, "theirs": theirs}


def test_every_query_stays_in_its_workspace(world: World) -> None:
    t = _two_workspaces(world)
    mine, theirs = t["mine"], t["theirs"]
    assert {p["id"] for p in service.list_tracked(world.app, None)} == {mine["id"], t["yt"]["id"]}
    assert [p["id"] for p in service.list_tracked(world.app, "globex")] == [theirs["id"]]
    for call in (
        lambda: service.show_tracked(world.app, None, theirs["id"]),
        lambda: service.remove_tracked(world.app, None, theirs["id"]),
        lambda: service.stats(world.app, None, post=theirs["id"]),
        lambda: service.stats(world.app, None, account=theirs["account_id"]),
        lambda: service.chart(world.app, None, "post", post=theirs["id"]),
        lambda: service.show_tracked(world.app, None, "not-a-number"),
    ):
        with pytest.raises(NotFound):
            call()
    board = service.leaderboard(world.app, "globex", "account", "7d")
    assert [r["account_id"] for r in board["rows"]] == [theirs["account_id"]]
    overview = service.stats(world.app, "globex")
    assert [r["tracked_post_id"] for r in overview["posts"]] == [theirs["id"]]
    rows = list(csv.DictReader(io.StringIO(service.export_csv(world.app, "globex"))))
    assert [int(r["tracked_post_id"]) for r in rows] == [theirs["id"]]
    assert service.remove_tracked(world.app, "globex", theirs["id"])["removed"] is True
    assert service.list_tracked(world.app, "globex") == [] and len(service.list_tracked(world.app, None)) == 2


def test_stats_leaderboard_and_charts(world: World) -> None:
    t = _two_workspaces(world)
    post = service.stats(world.app, None, post=t["mine"]["id"])
    assert post["kind"] == "post" and len(post["snapshots"]) == 1
    assert post["snapshots"][0]["saves"] == service.NOT_AVAILABLE
    assert set(post["derived"]) >= {"engagement_rate", "velocity_views_per_h", "totals"}
    assert post["forecast"]["points"] or post["forecast"]["reason"]  # one snapshot: says why there is none
    overview = service.stats(world.app, None, since="24h")
    assert {r["platform"] for r in overview["platforms"]} == {"tiktok", "youtube"}
    youtube = next(r for r in overview["posts"] if r["platform"] == "youtube")
    assert youtube["shares"] == service.NOT_AVAILABLE and isinstance(youtube["views"], int)
    account = service.stats(world.app, None, account=t["mine"]["account_id"])
    assert [r["tracked_post_id"] for r in account["posts"]] == [t["mine"]["id"]]
    board = service.leaderboard(world.app, None, "account", "7d")
    assert {r["account_id"] for r in board["rows"]} == {t["mine"]["account_id"], t["yt"]["account_id"]}
    assert service.leaderboard(world.app, None, "clip", "30d")["rows"] == []  # URL-tracked posts have no clip
    for kind in ("post", "platforms", "leaderboard"):
        png = service.chart(world.app, None, kind, post=t["mine"]["id"])
        assert png.startswith(b"\x89PNG\r\n\x1a\n")
    with pytest.raises(ServiceError, match="bad time window"):
        service.stats(world.app, None, since="yesterday")
    with pytest.raises(ServiceError, match="at most one"):
        service.stats(world.app, None, post=1, clip="c")
    with pytest.raises(NotFound):
        service.stats(world.app, None, clip="no-such-clip")


def test_csv_export_escapes_formulas(world: World) -> None:
    world.connect("tiktok", "tt_evil", handle='=HYPERLINK("http://evil.example","x")')
    world.connect("youtube", "yt_minus", handle="-2+3")
    service.track_url(world.app, None, world.seed("tiktok", "tt_evil").payload["public_url"])
    service.track_url(world.app, None, world.seed("youtube", "yt_minus").payload["public_url"])
    text = service.export_csv(world.app, None)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {r["account"] for r in rows} == {'\'=HYPERLINK("http://evil.example","x")', "'-2+3"}
    tiktok = next(r for r in rows if r["platform"] == "tiktok")
    assert tiktok["saves"] == "" and tiktok["views"] != ""  # not reported: an empty cell, never 0
