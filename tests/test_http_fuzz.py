"""Property: no body or path parameter of any route makes the service answer 500 (Hypothesis, fixed seed)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from cliply import wiring
from cliply.http.app import create_app
from cliply.settings import Settings
from tests.test_http import env_for
from tests.test_http_hardening import seed as seed_workspaces

FUZZ = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

INTS = st.one_of(st.integers(-(2**70), 2**70), st.sampled_from([0, 1, -1, 2**63 - 1, 2**63, 2**64, -(2**63) - 1]))
TEXT = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "now",
            "2031-01-01 09:00",
            "0001-01-01T00:00:00+05:00",
            "9999-12-31 23:59",
            "99999-01-01",
            "2020-01-01 00:00",
            "Europe/Paris",
            "A" * 5000,
            "../../etc/passwd",
            "\x00",
            "é",
            "youtube",
            "x",
            "@handle",
            "9" * 30,
        ]
    ),
)
SCALARS = st.one_of(st.none(), st.booleans(), INTS, st.floats(allow_nan=False), TEXT)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12,
)
PLATFORMS = st.sampled_from(["youtube", "x", "tiktok", "bluesky", "instagram", "nope", ""])
TARGET = st.fixed_dictionaries(
    {},
    optional={
        "platform": st.one_of(PLATFORMS, JSON),
        "account_id": st.one_of(INTS, TEXT, JSON),
        "account": st.one_of(TEXT, JSON),
        "caption": st.one_of(TEXT, JSON),
        "title": st.one_of(TEXT, JSON),
        "options": JSON,
    },
)
POST_BODY = st.fixed_dictionaries(
    {},
    optional={
        "clip_id": st.one_of(st.just("src_acme-c01"), TEXT, JSON),
        "caption": st.one_of(TEXT, JSON),
        "targets": st.one_of(st.lists(TARGET, max_size=3), JSON),
        "at": st.one_of(TEXT, JSON),
        "scheduled_at": st.one_of(TEXT, JSON),
        "timezone": st.one_of(TEXT, JSON),
    },
)
EDIT_BODY = st.fixed_dictionaries(
    {},
    optional={
        "caption": st.one_of(TEXT, JSON),
        "captions": st.one_of(st.dictionaries(PLATFORMS, TEXT, max_size=3), JSON),
        "title": st.one_of(TEXT, JSON),
        "at": st.one_of(TEXT, JSON),
        "timezone": st.one_of(TEXT, JSON),
    },
)
ACCOUNT_BODY = st.fixed_dictionaries(
    {}, optional={"platform": st.one_of(PLATFORMS, JSON), "handle": st.one_of(TEXT, JSON), "app_password": JSON}
)
UPLOAD_BODY = st.fixed_dictionaries(
    {}, optional={"filename": st.one_of(TEXT, JSON, st.just("a.mp4")), "content_type": st.one_of(TEXT, JSON)}
)
RAW = st.one_of(st.binary(max_size=64), st.sampled_from([b"[" * 5000, b'{"a":' * 5000, b"", b"null", b"1e999"]))
PATH_TEXT = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=60).map(lambda t: quote(t, safe=""))


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, str]]]:
    path = tmp_path_factory.mktemp("fuzz")
    app = wiring.cliply(Settings.from_env(env_for(path)))
    tokens, _ = seed_workspaces(app)
    with TestClient(create_app(app.settings, db=app.db, vault=app.vault), raise_server_exceptions=False) as client:
        yield client, {"Authorization": f"Bearer {tokens['acme']}"}
    app.db.dispose()


def _no_500(r: Any) -> None:
    assert r.status_code < 500, r.text
    if r.headers.get("content-type", "").startswith("application/json") and r.status_code >= 400:
        assert "error" in r.json()


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/posts", POST_BODY),
        ("POST", "/api/accounts", ACCOUNT_BODY),
        ("POST", "/api/uploads", UPLOAD_BODY),
        ("PATCH", "/api/posts/{post}", EDIT_BODY),
    ],
)
@seed(20261206)
@FUZZ
@given(data=st.data())
def test_bodies_never_500(
    api: tuple[TestClient, dict[str, str]], method: str, path: str, body: Any, data: st.DataObject
) -> None:
    client, auth = api
    if "{post}" in path:
        created = client.post(
            "/api/posts",
            headers=auth,
            json={
                "clip_id": "src_acme-c01",
                "caption": "c",
                "at": "2031-01-01 09:00",
                "targets": [{"platform": "youtube", "account_id": 1}],
            },
        )
        path = path.format(post=created.json()["id"])
    payload = data.draw(st.one_of(body, JSON))
    _no_500(client.request(method, path, headers=auth, content=json.dumps(payload).encode()))
    _no_500(client.request(method, path, headers=auth, content=data.draw(RAW)))


@seed(20261206)
@FUZZ
@given(text=PATH_TEXT, number=INTS, sig=TEXT, exp=st.one_of(TEXT, INTS.map(str)))
def test_path_parameters_never_500(
    api: tuple[TestClient, dict[str, str]], text: str, number: int, sig: str, exp: str
) -> None:
    client, auth = api
    for method, path in (
        ("GET", f"/api/posts/{text}"),
        ("POST", f"/api/posts/{text}/cancel"),
        ("POST", f"/api/posts/{text}/publish-now"),
        ("POST", f"/api/targets/{text}/retry"),
        ("DELETE", f"/api/accounts/{abs(number)}"),
        ("POST", f"/api/accounts/oauth/{text}"),
        ("GET", f"/oauth/{text}/callback"),
    ):
        _no_500(client.request(method, path, headers=auth))
    _no_500(client.get(f"/oauth/{text}/callback", params={"code": sig, "state": text}))
    _no_500(client.post(f"/oauth/{text}/confirm", data={"token": sig}))
    _no_500(client.get(f"/media/clips/{text}", params={"exp": exp, "sig": sig}))
    _no_500(client.put(f"/uploads/uploads/{text}", params={"exp": exp, "sig": sig}, content=b"x"))
    _no_500(client.get("/api/posts", headers=auth, params={"status": text}))
    _no_500(client.get("/api/accounts", headers=auth, params={"platform": text}))


def test_hypothesis_is_pinned_to_a_seed() -> None:
    assert FUZZ.derandomize and FUZZ.deadline is None and Path(__file__).name == "test_http_fuzz.py"
