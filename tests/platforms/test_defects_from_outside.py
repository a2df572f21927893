"""Defects reported from outside, each reproduced end to end against the sandbox behaving as the platform documents:
Instagram's code exchange in Business Login's `data` array shape, a YouTube upload rejected as a duplicate, and a
lost answer to YouTube's final upload chunk."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from cliply.store.models_accounts import Account
from tests.fixtures.sandbox import RunningSandbox
from tests.test_http import World as HttpWorld
from tests.test_http import world as http_world  # noqa: F401  (the fixture)
from tests.test_publisher import World, _world

UPLOAD_TIMEOUT_S = 2.0


@pytest.fixture
def publishing(sandbox: RunningSandbox, small_clip: Path, tmp_path: Path) -> Iterator[World]:
    yield from _world(f"sqlite:///{tmp_path / 'cliply.db'}", sandbox, small_clip, tmp_path)


@pytest.mark.parametrize("shape", [{}, {"token_response": "flat", "permissions_as": "list"}], ids=["data", "flat"])
def test_instagram_account_connects_through_the_callback_whatever_the_token_shape(
    http_world: HttpWorld,
    sandbox: RunningSandbox,
    shape: dict[str, str],
) -> None:
    sandbox.state.add_account("instagram", "ig-callback", **shape)
    browser = httpx.Client()  # keeps the cookie the start sets
    start = browser.get(f"{http_world.base}/oauth/instagram/start", headers=http_world.auth("acme"))
    consent = httpx.get(start.headers["location"] + "&sandbox_account=ig-callback")
    page = browser.get(consent.headers["location"], timeout=30)
    assert page.status_code == 200, page.text  # was 502 "instagram refused the authorisation (transient)"
    with http_world.db.session() as s:
        account = s.scalars(select(Account).where(Account.platform == "instagram")).one()
        assert account.external_id == "ig-callback"


def test_youtube_upload_rejected_as_duplicate_fails_the_target_and_is_never_published(publishing: World) -> None:
    w = publishing
    w.sandbox.state.add_account("youtube", "yt-dup", reject_duplicates=True)
    acct = w.connect("youtube", "yt-dup")
    _, [first] = w.post(("youtube", acct, {}), caption="Same clip")
    [out] = w.run("youtube")
    assert out.state == "published"

    _, [second] = w.post(("youtube", acct, {}), caption="Same clip again")
    [out] = w.run("youtube")
    t = w.target(second)
    assert out.state == "failed" and t.state == "failed"
    assert t.error_class == "duplicate" and "duplicate" in (t.error_message or "")
    assert not t.platform_post_id and t.published_at is None
    # The upload itself was accepted: the channel holds both videos, the second one rejected.
    assert len(w.sandbox.state.posts_for("youtube")) == 2
    assert w.target(first).state == "published"


def test_lost_answer_to_youtube_final_chunk_is_reconciled_within_the_upload_timeout(publishing: World) -> None:
    w = publishing
    w.configs["youtube"] = {"upload_timeout_s": UPLOAD_TIMEOUT_S}
    acct = w.connect("youtube", "yt-lost")
    _, [tid] = w.post(("youtube", acct, {}), caption="Lost final answer")
    # The final chunk creates the video, then its answer is held far past the client's upload timeout.
    w.sandbox.fault("youtube", "lost_response", "publish", delay_s=UPLOAD_TIMEOUT_S * 3)

    started = time.monotonic()
    [out] = w.run("youtube")
    elapsed = time.monotonic() - started
    assert out.state == "published" and out.reconciled  # unknown outcome → found through the session
    assert elapsed < UPLOAD_TIMEOUT_S * 3  # bounded by the setting, not a 300 s default
    [video] = w.sandbox.state.posts_for("youtube")
    assert w.target(tid).platform_post_id == video.post_id
    assert w.sandbox.state.wait_idle()
    size = w.sandbox.state.posts_for("youtube")[0].payload["size"]
    final = [
        r
        for r in w.sandbox.state.requests_for("youtube")
        if r.method == "PUT" and r.headers.get("content-range", "").endswith(f"-{size - 1}/{size}")
    ]
    assert len(final) == 1  # sent once: never replayed by the HTTP library
