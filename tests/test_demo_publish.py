"""`make demo`'s publishing half on a rendered clip: accounts connected through the real CLI and `cliply serve`
(OAuth consent in the sandbox → our callback; Bluesky with an app password), the post created with `cliply posts
create`, published by the Dagster `posts` asset on all nine sandbox platforms, accounts disconnected afterwards."""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from starlette.testclient import TestClient

from cliply.platforms import PLATFORMS
from cliply.sandbox.app import create_app
from cliply.sandbox.state import SandboxState
from cliply.settings import Settings
from cliply.storage.media_store import LocalMediaStore
from cliply.store.db import Database
from cliply.store.models_accounts import Account
from cliply.store.repo import WorkspaceScope, get_or_create_workspace
from tests.fixtures.media import REPO
from tests.helpers import pipeline_settings, settings_env

sys.path.insert(0, str(REPO / "scripts"))
from demo_publish import publish_demo


@pytest.fixture
def restored_environ() -> Iterator[None]:
    saved = dict(os.environ)  # publish_demo points this process at its sandbox, as the demo script wants
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_demo_publishes_the_best_clip_to_all_nine_sandbox_platforms(
    tmp_path: Path, small_clip: Path, monkeypatch: pytest.MonkeyPatch, restored_environ: None
) -> None:
    settings = pipeline_settings(tmp_path / "home")
    for key, value in settings_env(settings).items():
        monkeypatch.setenv(key, value)
    for key in ("CLIPLY_TOKEN_KEYS", "CLIPLY_MEDIA_URL_KEY", "CLIPLY_PUBLIC_BASE_URL"):
        monkeypatch.delenv(key, raising=False)  # the embedded defaults: key files under the home
    dagster_home = tmp_path / "dagster"
    dagster_home.mkdir()
    shutil.copyfile(REPO / "dagster.yaml", dagster_home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home))
    settings = Settings.from_env()
    db = Database(settings.resolved_database_url)
    db.migrate()
    LocalMediaStore(Path(settings.resolved_media_url)).put_file("clips/src_d/src_d-c01.mp4", small_clip)
    with db.session() as s:
        scope = WorkspaceScope(s, get_or_create_workspace(s, "default"))
        scope.add_source("src_d", "file", str(small_clip), "talk.mp4", status="ready")
        [clip] = scope.replace_clips(
            "src_d",
            [
                {
                    "rank": 1,
                    "start_s": 0.0,
                    "end_s": 4.0,
                    "duration_s": 4.0,
                    "media_key": "clips/src_d/src_d-c01.mp4",
                    "width": 1080,
                    "height": 1920,
                    "text": "Interest on interest grows savings.",
                }
            ],
        )
        clip_id = clip.id

    post = publish_demo(settings, clip_id, tmp_path)

    assert post["status"] == "posted", post
    targets = {t["platform"]: t for t in post["targets"]}
    assert sorted(targets) == sorted(PLATFORMS)
    for platform, t in targets.items():
        assert t["state"] == "published", platform
        if platform != "tiktok":  # the demo posts to TikTok privately (SELF_ONLY): private posts get no public id
            assert t["platform_post_id"] and t["url"].startswith("https://"), platform
        assert "#" in t["caption"]  # suggested from the clip's transcript (no caption was given)
        # What the demo prints: the sandbox's own record of the post, never a platform-looking URL.
        assert re.fullmatch(rf"http://127\.0\.0\.1:\d+/_sandbox/posts/{platform}/\S+", t["sandbox_url"]), platform
    with db.session() as s:
        accounts = list(s.query(Account))
    assert sorted(a.platform for a in accounts) == sorted(PLATFORMS)  # one per platform, through the CLI
    assert {a.status for a in accounts} == {"disconnected"}
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        partitions = instance.get_materialized_partitions(dg.AssetKey("posts"))
    assert {p.split("|")[-1] for p in partitions} == set(PLATFORMS)  # one posts partition per platform
    db.dispose()


def test_the_sandbox_serves_one_post_by_platform_and_id() -> None:
    state = SandboxState()
    state.record_post("bluesky", "did:plc:a", "at://did:plc:a/app.bsky.feed.post/3k", {"text": "hi"})
    state.record_post("tiktok", "demo-tiktok", "7300000000000000001", {"publish_id": "v_pub_1"})
    with TestClient(create_app(state)) as client:
        post = client.get("/_sandbox/posts/bluesky/at%3A%2F%2Fdid%3Aplc%3Aa%2Fapp.bsky.feed.post%2F3k").json()
        assert post["post_id"] == "at://did:plc:a/app.bsky.feed.post/3k" and post["payload"] == {"text": "hi"}
        assert client.get("/_sandbox/posts/tiktok/v_pub_1").json()["post_id"] == "7300000000000000001"
        missing = client.get("/_sandbox/posts/x/123")
        assert missing.status_code == 404 and "no x post" in missing.json()["error"]
