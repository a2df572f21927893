"""The HTTP service under hostile or careless input: the token is checked before any body is read, bodies are capped,
malformed input is a 4xx with field messages (never a 500), posts are bounded, schedule times in the past are
refused, and /readyz tells details only to a token holder."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient

from cliply import wiring
from cliply.http.app import create_app
from cliply.platforms import make_client
from cliply.platforms.base import PlatformClient
from cliply.platforms.models import Credentials
from cliply.settings import Settings
from cliply.store.accounts import AccountsRepo
from cliply.store.models_accounts import ApiToken
from cliply.store.models_publishing import Post
from cliply.usecases import create_workspace, workspace_scope
from tests.test_http import env_for

TEXT = "Compound interest is the engine of wealth. Interest on interest grows your savings every year."


@dataclass
class Harness:
    app: wiring.Cliply
    api: TestClient
    tokens: dict[str, str]
    accounts: dict[str, dict[str, list[int]]]  # workspace → platform → account ids
    built: list[str] = field(default_factory=list)  # platforms whose client was built, in order

    def auth(self, ws: str = "acme") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[ws]}"}

    def post(self, ws: str = "acme", **body: Any) -> Any:
        body.setdefault("clip_id", f"src_{ws}-c01")
        body.setdefault("targets", [{"platform": "youtube", "account_id": self.accounts[ws]["youtube"][0]}])
        return self.api.post("/api/posts", headers=self.auth(ws), json=body)

    def count(self, model: type) -> int:
        with self.app.db.reading() as s:
            return s.scalar(select(func.count()).select_from(model)) or 0


def seed(
    app: wiring.Cliply, names: tuple[str, ...] = ("acme", "globex"), per_platform: int = 1
) -> tuple[dict[str, str], dict[str, dict[str, list[int]]]]:
    tokens: dict[str, str] = {}
    accounts: dict[str, dict[str, list[int]]] = {}
    for ws in names:
        create_workspace(app, ws)
        with workspace_scope(app, ws) as scope:
            scope.add_source(f"src_{ws}", "file", f"/in/{ws}.mp4", f"{ws}.mp4", status="ready")
            scope.replace_clips(f"src_{ws}", [{"start_s": 0.0, "end_s": 15.0, "text": TEXT}])
            repo = AccountsRepo(scope, app.vault)
            accounts[ws] = {
                p: [
                    repo.connect(p, Credentials(access_token="t", account_id=f"{ws}-{p}-{i}"), f"{ws}-{p}-{i}").id
                    for i in range(per_platform)
                ]
                for p in ("youtube", "x")
            }
            tokens[ws] = repo.create_api_token("tests")
    return tokens, accounts


def build(tmp_path: Path, extra: dict[str, str] | None = None, per_platform: int = 1) -> Harness:
    settings = Settings.from_env({**env_for(tmp_path), **(extra or {})})
    built: list[str] = []

    def clients(platform: str) -> PlatformClient:
        built.append(platform)
        return make_client(platform)

    app = wiring.cliply(settings, clients=clients)
    tokens, accounts = seed(app, per_platform=per_platform)
    api = TestClient(create_app(settings, db=app.db, vault=app.vault, clients=clients))
    return Harness(app, api, tokens, accounts, built)


@pytest.fixture
def h(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    env = {**env_for(tmp_path), "CLIPLY_HTTP_MAX_BODY_BYTES": "8192", "CLIPLY_MAX_TARGETS_PER_POST": "6"}
    for key, value in env.items():  # the readiness checks read the environment, as `cliply serve` does
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("CLIPLY_TOKEN_KEYS", raising=False)
    harness = build(tmp_path, env, per_platform=4)
    with harness.api:
        yield harness
    harness.app.db.dispose()


# --- 1. authenticate first, cap bodies ---


def test_an_unauthenticated_body_is_never_read(h: Harness) -> None:
    consumed: list[int] = []

    def body() -> Iterator[bytes]:
        for i in range(64):
            consumed.append(i)
            yield b"x" * 65536

    r = h.api.post("/api/posts", content=body())
    assert r.status_code == 401 and r.json() == {"error": "missing or invalid API token"}
    assert consumed == []


@pytest.mark.parametrize("payload", [{"targets": "nope", "at": 5}, {"clip_id": ["x"]}, "not json {"])
def test_an_unauthenticated_caller_gets_401_and_no_validation_details(h: Harness, payload: Any) -> None:
    content = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
    for path in ("/api/posts", "/api/accounts", "/api/uploads"):
        for headers in ({}, {"Authorization": "Bearer clp_wrong"}):
            r = h.api.post(path, content=content, headers=headers)
            assert r.status_code == 401 and set(r.json()) == {"error"}, (path, r.text)


def test_bodies_past_the_cap_are_413(h: Harness) -> None:
    big = json.dumps({"clip_id": "x" * 9000, "targets": []}).encode()
    assert h.api.post("/api/posts", headers=h.auth(), content=big).status_code == 413  # Content-Length
    chunked = h.api.post("/api/posts", headers=h.auth(), content=iter([big[:5000], big[5000:]]))  # no length
    assert chunked.status_code == 413
    lying = h.api.post("/api/posts", headers={**h.auth(), "Content-Length": "99999999999999999999999"}, content=b"{}")
    assert lying.status_code in (400, 413)


# --- 2. one request cannot stall the others ---


def test_targets_per_post_are_capped(h: Harness) -> None:
    targets = [{"platform": p, "account_id": a} for p in ("youtube", "x") for a in h.accounts["acme"][p]]
    r = h.post(caption="hello", targets=targets)  # 8 > CLIPLY_MAX_TARGETS_PER_POST=6
    assert r.status_code == 422 and "CLIPLY_MAX_TARGETS_PER_POST" in r.json()["error"]
    assert h.count(Post) == 0


def test_one_client_per_platform_validates_a_post(h: Harness) -> None:
    targets = [{"platform": p, "account_id": a} for p in ("youtube", "x") for a in h.accounts["acme"][p][:3]]
    h.built.clear()
    r = h.post(caption="hello", targets=targets)
    assert r.status_code == 201, r.text
    assert sorted(h.built) == ["x", "youtube"]


def test_token_use_is_recorded_at_most_once_a_minute(h: Harness) -> None:
    def last_used() -> Any:
        with h.app.db.reading() as s:
            return s.scalars(select(ApiToken.last_used_at).order_by(ApiToken.id)).first()

    assert last_used() is None
    assert h.api.get("/api/posts", headers=h.auth()).status_code == 200
    first = last_used()
    assert first is not None
    assert h.api.get("/api/accounts", headers=h.auth()).status_code == 200
    assert last_used() == first


def test_sqlite_runs_in_wal_with_a_short_busy_timeout(h: Harness) -> None:
    with h.app.db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL


# --- 3. malformed input is never a 500 ---

BAD_BODIES = [
    {"caption": ["a", "b"]},
    {"caption": 42},
    {"at": 1893456000},
    {"timezone": 3},
    {"timezone": "A" * 5000},
    {"at": "0001-01-01T00:00:00+05:00"},
    {"at": "0001-01-01 00:00", "timezone": "Asia/Tokyo"},
    {"at": "9999-12-31 23:59", "timezone": "America/New_York"},
    {"at": "99999-01-01 00:00"},
    {"targets": [{"platform": "youtube", "account_id": 2**70}]},
    {"targets": [{"platform": "youtube", "account": "9" * 40}]},
    {"targets": [{"platform": "youtube", "account_id": -1}]},
    {"timezone": "Europe/\x00Paris"},
    {"timezone": "../../../../etc/passwd"},
    {"at": True},
]


@pytest.mark.parametrize("bad", BAD_BODIES, ids=range(len(BAD_BODIES)))
def test_malformed_post_bodies_are_4xx(h: Harness, bad: dict[str, Any]) -> None:
    r = h.post(**{"caption": "hello", **bad})
    assert r.status_code in (400, 404, 422), r.text
    assert "error" in r.json()


def test_malformed_edits_and_paths_are_4xx(h: Harness) -> None:
    post = h.post(caption="hello", at="2031-01-01 09:00").json()
    for bad in BAD_BODIES[:9]:  # the ones about fields an edit has
        r = h.api.patch(f"/api/posts/{post['id']}", headers=h.auth(), json=bad)
        assert r.status_code in (400, 422), (bad, r.text)
    assert h.api.delete(f"/api/accounts/{2**80}", headers=h.auth()).status_code == 404
    assert h.api.get(f"/api/posts/{'9' * 5000}", headers=h.auth()).status_code == 404
    assert h.api.post("/api/targets/%F0%9F%92%A5/retry", headers=h.auth()).status_code == 404


@pytest.mark.parametrize("raw", [b"[" * 100_000, b'{"a":' * 100_000, b"1" * 4000, b"\xff\xfe"])
def test_deep_or_odd_json_is_400(h: Harness, raw: bytes) -> None:
    big = build_cap_free(h)
    r = big.post("/api/posts", headers=h.auth(), content=raw)
    assert r.status_code == 400, r.text


def build_cap_free(h: Harness) -> TestClient:
    """The same service with a cap big enough for deeply nested input."""
    settings = h.app.settings.model_copy(update={"http_max_body_bytes": 10**6})
    return TestClient(create_app(settings, db=h.app.db, vault=h.app.vault))


@pytest.mark.parametrize("sig", ["é", "ü" * 64, "%00", "\u202e", "0" * 64])
def test_non_ascii_signatures_are_403(h: Harness, sig: str) -> None:
    for method, path in (("GET", "/media/clips/a.mp4"), ("PUT", "/uploads/uploads/ws1/a.mp4")):
        r = h.api.request(method, path, params={"exp": "9999999999", "sig": sig}, content=b"")
        assert r.status_code == 403, (method, r.text)
    r = h.api.get("/media/clips/a.mp4", params={"exp": "9" * 5000, "sig": "x"})
    assert r.status_code == 403


# --- 5. schedule times in the past; /readyz ---


def test_a_time_in_the_past_is_refused_unless_now_is_said(h: Harness) -> None:
    r = h.post(caption="hello", at="2020-01-01 09:00", timezone="Europe/Paris")
    assert r.status_code == 400 and "in the past" in r.json()["error"] and "now" in r.json()["error"]
    assert h.count(Post) == 0
    assert h.post(caption="hello", at="now").status_code == 201
    assert h.post(caption="hello").status_code == 201  # no `at` still means now
    post = h.post(caption="hello", at="2031-01-01 09:00").json()
    late = h.api.patch(f"/api/posts/{post['id']}", headers=h.auth(), json={"at": "2021-01-01 09:00"})
    assert late.status_code == 400 and "in the past" in late.json()["error"]


def test_readyz_tells_details_only_to_a_token_holder(h: Harness) -> None:
    anonymous = h.api.get("/readyz")
    assert anonymous.status_code == 200
    assert all(check == {"ok": True} for check in anonymous.json()["checks"].values())
    assert str(h.app.settings.home) not in anonymous.text and "sqlite" not in anonymous.text
    detailed = h.api.get("/readyz", headers=h.auth())
    assert "sqlite" in detailed.json()["checks"]["database"]["detail"]
    assert h.api.get("/readyz", headers={"Authorization": "Bearer clp_wrong"}).json() == anonymous.json()


def test_readyz_is_not_ready_when_the_token_keys_are_gone(h: Harness) -> None:
    from cliply.http.readiness import run_checks
    from cliply.security.vault import KEY_FILE_NAME, generate_key

    settings = h.app.settings
    assert run_checks(settings)["checks"]["token_keys"]["ok"] is True
    replaced = settings.model_copy(update={"token_keys": type(settings.token_keys)(f"other:{generate_key()}")})
    report = run_checks(replaced)
    assert report["ok"] is False and "cannot decrypt" in report["checks"]["token_keys"]["detail"]
    key_file = settings.home / KEY_FILE_NAME
    key_file.unlink()
    report = run_checks(settings)
    assert report["ok"] is False and "missing" in report["checks"]["token_keys"]["detail"]
    assert not key_file.exists()  # a readiness check never makes a new (useless) key
