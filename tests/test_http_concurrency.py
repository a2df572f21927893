"""Two workspaces using the API at once on SQLite (a real uvicorn server): no request fails with "database is
locked", and a slow request of one workspace does not hold up the other's."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cliply import wiring
from cliply.http.app import create_app
from cliply.platforms import make_client
from cliply.platforms.base import PlatformClient
from cliply.settings import Settings
from tests.test_http import env_for, serve
from tests.test_http_hardening import seed

SLOW = "please take your time"


class Gate:
    """Holds every validation of a SLOW caption until released; says when one is waiting."""

    def __init__(self) -> None:
        self.entered, self.release = threading.Event(), threading.Event()

    def clients(self, platform: str) -> PlatformClient:
        client = make_client(platform)
        validate = client.validate

        def slow_validate(post: Any) -> Any:
            if post.caption == SLOW:
                self.entered.set()
                assert self.release.wait(60), "never released"
            return validate(post)

        client.validate = slow_validate  # type: ignore[method-assign]
        return client


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, dict[str, str], dict[str, Any], Gate]]:
    gate = Gate()
    app = wiring.cliply(Settings.from_env(env_for(tmp_path)), clients=gate.clients)
    tokens, accounts = seed(app)
    with serve(create_app(app.settings, db=app.db, vault=app.vault, clients=gate.clients)) as base:
        yield base, tokens, accounts, gate
    gate.release.set()
    app.db.dispose()


def _post(base: str, token: str, ws: str, account: int, caption: str) -> httpx.Response:
    return httpx.post(
        f"{base}/api/posts",
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
        json={
            "clip_id": f"src_{ws}-c01",
            "caption": caption,
            "at": "2031-01-01 09:00",
            "targets": [{"platform": "youtube", "account_id": account}],
        },
    )


def test_a_slow_request_does_not_block_another_workspace(served: Any) -> None:
    base, tokens, accounts, gate = served
    slow: dict[str, httpx.Response] = {}
    thread = threading.Thread(
        target=lambda: slow.update(r=_post(base, tokens["acme"], "acme", accounts["acme"]["youtube"][0], SLOW))
    )
    thread.start()
    assert gate.entered.wait(30), "the slow request never started validating"
    # acme's request is mid-way (validating); globex reads and writes, and acme reads, all complete meanwhile
    other = _post(base, tokens["globex"], "globex", accounts["globex"]["youtube"][0], "quick")
    assert other.status_code == 201, other.text
    for ws in ("globex", "acme"):
        listed = httpx.get(f"{base}/api/posts", headers={"Authorization": f"Bearer {tokens[ws]}"}, timeout=30)
        assert listed.status_code == 200, listed.text
    assert thread.is_alive() and "r" not in slow  # the slow one is still waiting: nothing above waited for it
    gate.release.set()
    thread.join(60)
    assert slow["r"].status_code == 201, slow["r"].text


def test_concurrent_requests_of_two_workspaces_never_see_a_locked_database(served: Any) -> None:
    base, tokens, accounts, gate = served
    gate.release.set()
    results: list[httpx.Response] = []
    lock = threading.Lock()

    def work(i: int) -> None:
        ws = ("acme", "globex")[i % 2]
        auth = {"Authorization": f"Bearer {tokens[ws]}"}
        for n in range(4):
            got = [
                _post(base, tokens[ws], ws, accounts[ws]["youtube"][0], f"post {i}-{n}"),
                httpx.get(f"{base}/api/posts", headers=auth, timeout=60),
                httpx.get(f"{base}/api/accounts", headers=auth, timeout=60),
            ]
            with lock:
                results.extend(got)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(results) == 8 * 4 * 3
    failed = [r.text for r in results if r.status_code >= 500 or "locked" in r.text]
    assert failed == []
