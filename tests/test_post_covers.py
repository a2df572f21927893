"""The clip's chosen cover reaches every platform that takes one, through a real publish (publisher → real client →
sandbox over HTTP): YouTube thumbnails.set, TikTok video_cover_timestamp_ms, Instagram cover_url (a signed URL the
sandbox pulls) or thumb_offset, Facebook /{video}/thumbnails, Pinterest cover_image_data. A failed thumbnail never
fails a published video, and a missing cover never blocks publishing."""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from cliply.media.covers import COVER_SPECS, Subject, cover_key, jpeg_bytes, make_covers, manifest_key
from cliply.pipeline import thumbnail_keys
from cliply.platforms.models import VideoPost
from cliply.platforms.youtube import YouTubeClient
from cliply.publishing.post_covers import NO_COVER, cover_for
from cliply.sandbox.covers import cover_of
from cliply.sandbox.pinterest import boards_of
from cliply.storage.media_store import LocalMediaStore, MediaStore
from cliply.store.models_publishing import Post
from tests.fixtures.sandbox import RunningSandbox
from tests.test_publisher import World, _world

SOURCE = "src1"
AT_S = 1.6


@pytest.fixture
def world(sandbox: RunningSandbox, small_clip: Path, tmp_path: Path) -> Iterator[World]:
    yield from _world(f"sqlite:///{tmp_path / 'cliply.db'}", sandbox, small_clip, tmp_path)


def store_covers(media: MediaStore, clip_id: str, *, at_s: float = AT_S) -> dict[str, bytes]:
    """Covers as the thumbnail stage writes them (pipeline.thumbnail_keys, covers.json), from a textured frame."""
    rng = np.random.default_rng(3)
    frame = rng.integers(0, 255, (1080, 1920, 3), dtype=np.uint8)
    images = make_covers(frame, Subject(960, 540))
    keys = thumbnail_keys(SOURCE, clip_id)
    out: dict[str, bytes] = {}
    for name, img in images.items():
        out[name] = jpeg_bytes(img)
        media.put_bytes(keys[f"cover_{name}"], out[name], content_type="image/jpeg")
    manifest = {
        "at_s": at_s,
        "covers": {
            n: {"key": keys[f"cover_{n}"], "width": COVER_SPECS[n].width, "height": COVER_SPECS[n].height}
            for n in images
        },
    }
    media.put_bytes(keys["manifest"], json.dumps(manifest).encode(), content_type="application/json")
    return out


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def publish_one(w: World, platform: str, account: str, options: dict[str, Any]) -> tuple[Any, dict[str, Any] | None]:
    acct = w.connect(platform, account)
    _, [tid] = w.post((platform, acct, options))
    [out] = w.run(platform)
    assert out.state == "published", (out.error_class, out.message)
    post_id = w.target(tid).platform_post_id
    assert post_id
    return out, cover_of(w.sandbox.state, platform, post_id)


def test_the_manifest_keys_match_what_the_thumbnail_stage_writes() -> None:
    keys = thumbnail_keys("s", "c")
    assert manifest_key("s", "c") == keys["manifest"]
    assert all(cover_key("s", "c", n) == keys[f"cover_{n}"] for n in COVER_SPECS)


def test_youtube_gets_its_1280x720_cover_through_thumbnails_set(world: World) -> None:
    covers = store_covers(world.media, world.clip_id)
    _, cover = publish_one(world, "youtube", "yt-a", {"privacy": "public"})
    assert cover is not None and cover["via"] == "thumbnails.set"
    assert cover["sha256"] == sha(covers["youtube"]) and (cover["width"], cover["height"]) == (1280, 720)
    assert world.calls("youtube", "POST", "/youtube/upload/youtube/v3/thumbnails/set") == 1


def test_a_refused_youtube_thumbnail_does_not_fail_the_published_video(world: World, small_clip: Path) -> None:
    store_covers(world.media, world.clip_id)
    world.sandbox.state.add_account("youtube", "yt-unverified", thumbnails_forbidden=True)
    _, cover = publish_one(world, "youtube", "yt-unverified", {"privacy": "public"})
    assert cover is None and len(world.sandbox.state.posts_for("youtube")) == 1
    # The client reports it as a warning in the result's raw.
    client = world.client("youtube")
    assert isinstance(client, YouTubeClient)
    creds = world.sandbox.connect(client, account_id="yt-unverified")
    thumb = world.media.local_path(cover_key(SOURCE, world.clip_id, "youtube"))
    result = client.publish(creds, VideoPost(video=small_clip, title="t", caption="c", thumbnail=thumb))
    assert result.status in ("published", "processing")
    assert any("thumbnail failed" in w for w in result.raw["warnings"]), result.raw


def test_a_youtube_thumbnail_server_error_does_not_fail_the_post(world: World) -> None:
    store_covers(world.media, world.clip_id)
    world.sandbox.fault("youtube", "error", "thumbnail", times=-1, status=503)
    out, cover = publish_one(world, "youtube", "yt-b", {"privacy": "public"})
    assert out.state == "published" and cover is None
    assert len(world.sandbox.state.posts_for("youtube")) == 1  # never re-uploaded because of the thumbnail


def test_tiktok_gets_the_cover_frame_time(world: World) -> None:
    store_covers(world.media, world.clip_id, at_s=2.25)
    _, cover = publish_one(world, "tiktok", "tt-a", {"privacy": "PUBLIC_TO_EVERYONE"})
    assert cover == {"kind": "frame", "at_ms": 2250, "via": "video_cover_timestamp_ms"}


def test_instagram_pulls_its_cover_through_a_signed_url(world: World) -> None:
    covers = store_covers(world.media, world.clip_id)
    _, cover = publish_one(world, "instagram", "ig-1", {})
    assert cover is not None and cover["via"] == "cover_url"
    assert cover["sha256"] == sha(covers["instagram"]) and (cover["width"], cover["height"]) == (1080, 1920)
    assert cover_key(SOURCE, world.clip_id, "instagram") in world.server.served


def test_instagram_with_a_user_chosen_frame_gets_thumb_offset_instead(world: World) -> None:
    store_covers(world.media, world.clip_id)
    _, cover = publish_one(world, "instagram", "ig-2", {"cover_time_s": 0.5})
    assert cover == {"kind": "frame", "at_ms": 500, "via": "thumb_offset"}
    assert not any("cover" in k for k in world.server.served)


def test_facebook_reel_gets_its_cover_image(world: World) -> None:
    covers = store_covers(world.media, world.clip_id)
    _, cover = publish_one(world, "facebook", "fb-1", {})
    assert cover is not None and cover["via"] == "thumbnails"
    assert cover["sha256"] == sha(covers["facebook"]) and (cover["width"], cover["height"]) == (1080, 1920)


def test_pinterest_gets_its_2_3_cover_image(world: World) -> None:
    covers = store_covers(world.media, world.clip_id)
    board = boards_of(world.sandbox.state, "pin-1")[0]["id"]
    _, cover = publish_one(world, "pinterest", "pin-1", {"board_id": board, "title": "A pin"})
    assert cover is not None and cover["via"] == "cover_image_data"
    assert cover["sha256"] == sha(covers["pinterest"]) and (cover["width"], cover["height"]) == (1000, 1500)


def test_cover_false_sends_none(world: World) -> None:
    store_covers(world.media, world.clip_id)
    _, cover = publish_one(world, "tiktok", "tt-b", {"privacy": "PUBLIC_TO_EVERYONE", "cover": False})
    assert cover is None


def test_a_clip_without_covers_publishes_without_one(world: World, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="cliply.publishing.post_covers"):
        _, cover = publish_one(world, "youtube", "yt-c", {"privacy": "public"})
    assert cover is None
    assert world.calls("youtube", "POST", "/youtube/upload/youtube/v3/thumbnails/set") == 0
    assert any("no covers" in r.getMessage() for r in caplog.records)


def test_a_missing_cover_image_or_broken_manifest_never_blocks(world: World, tmp_path: Path) -> None:
    store_covers(world.media, world.clip_id)
    world.media.delete(cover_key(SOURCE, world.clip_id, "facebook"))
    _, cover = publish_one(world, "facebook", "fb-2", {})
    assert cover is None
    world.media.put_bytes(manifest_key(SOURCE, world.clip_id), b"{not json")
    with world.db.session() as s:
        post_id = s.scalars(select(Post.id)).first()
    assert post_id
    got = cover_for(
        world.db,
        world.media,
        world.signer,
        workspace_id=world.workspace_id,
        post_id=post_id,
        platform="youtube",
        video=tmp_path / "v.mp4",
        options={},
    )
    assert got == NO_COVER


def test_another_workspaces_post_gets_no_cover(world: World, tmp_path: Path) -> None:
    store_covers(world.media, world.clip_id)
    acct = world.connect("tiktok", "tt-c")
    post_id, _ = world.post(("tiktok", acct, {"privacy": "PUBLIC_TO_EVERYONE"}))
    mine = cover_for(
        world.db,
        world.media,
        world.signer,
        workspace_id=world.workspace_id,
        post_id=post_id,
        platform="tiktok",
        video=tmp_path / "v.mp4",
        options={},
    )
    theirs = cover_for(
        world.db,
        world.media,
        world.signer,
        workspace_id=world.workspace_id + 1,
        post_id=post_id,
        platform="tiktok",
        video=tmp_path / "v.mp4",
        options={},
    )
    assert mine.cover_time_s == AT_S and theirs == NO_COVER


@pytest.mark.parametrize("platform", ["x", "bluesky", "threads", "linkedin"])
def test_platforms_without_a_video_cover_get_nothing(world: World, platform: str, tmp_path: Path) -> None:
    store_covers(world.media, world.clip_id)
    acct = world.connect("tiktok", f"tt-{platform}")
    post_id, _ = world.post(("tiktok", acct, {"privacy": "PUBLIC_TO_EVERYONE"}))
    got = cover_for(
        world.db,
        world.media,
        world.signer,
        workspace_id=world.workspace_id,
        post_id=post_id,
        platform=platform,
        video=tmp_path / "v.mp4",
        options={},
    )
    assert got == NO_COVER


class _RemoteLike(LocalMediaStore):
    """A store that cannot be read in place (as S3): the publisher works on downloaded copies."""

    def local_path(self, key: str) -> Path | None:
        return None


def test_a_remote_store_cover_is_downloaded_for_the_upload_and_removed_after(
    sandbox: RunningSandbox, small_clip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", None)
    worlds: Generator[World, None, None] = _world(  # type: ignore[assignment]
        f"sqlite:///{tmp_path / 'c.db'}", sandbox, small_clip, tmp_path, store=_RemoteLike(tmp_path / "r")
    )
    w = next(worlds)
    try:
        covers = store_covers(w.media, w.clip_id)
        _, cover = publish_one(w, "facebook", "fb-r", {})
        assert cover is not None and cover["sha256"] == sha(covers["facebook"])
        assert list((tmp_path / "tmp").glob("cliply-publish-*")) == []  # video and cover copies are gone
    finally:
        worlds.close()
