"""Per-platform renditions against the platform sandbox: the main render where it fits, one cached rendition where it
does not, one stricter rendition and one retry after a format rejection (never for other errors), the renditions
asset, and a post's own caption style re-rendered from the source. Footage is generated with ffmpeg lavfi and kept
small; the settings side of caption styles is in tests/test_caption_style_settings.py."""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import httpx
import pytest
from sqlalchemy import update

from cliply.media.ffmpeg import run_ffmpeg
from cliply.media.probe import probe
from cliply.media.types import Segment, Transcript, Word
from cliply.pipeline import reframe_plan_key, transcript_keys
from cliply.platforms.base import PlatformClient
from cliply.publishing.publisher import TargetOutcome, publish_due
from cliply.publishing.renditions import ClipMedia, RenditionError, Renditions, rendition_key, strict_preset
from cliply.publishing.switches import PublishSwitches
from cliply.storage.media_store import LocalMediaStore
from cliply.store.accounts import AccountsRepo
from cliply.store.models import Source
from tests.fixtures.sandbox import RunningSandbox
from tests.helpers import run_threads
from tests.test_publisher import CLIP_KEY, TIKTOK, World, _world

INIT = "/tiktok/v2/post/publish/video/init/"


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def encode(dst: Path, *, seconds: float, size: str, rate: int = 30) -> Path:
    run_ffmpeg(
        [
            "-f",
            "lavfi",
            "-i",
            f"testsrc2=size={size}:rate={rate}:duration={seconds}",
            "-f",
            "lavfi",
            "-i",
            f"sine=frequency=330:duration={seconds}",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-shortest",
            "-movflags",
            "+faststart",
            str(dst),
        ]
    )
    return dst


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """61 s of 9:16 at 360×640 30 fps: fits every preset but Bluesky's 60 s."""
    return encode(tmp_path_factory.mktemp("long") / "long.mp4", seconds=61, size="360x640")


@pytest.fixture
def world(sandbox: RunningSandbox, small_clip: Path, tmp_path: Path) -> Iterator[World]:
    yield from _world(f"sqlite:///{tmp_path / 'cliply.db'}", sandbox, small_clip, tmp_path)


class Received:
    """Records the file each platform client was handed to publish (its sha256), per platform."""

    def __init__(self, w: World) -> None:
        self.w = w
        self.files: dict[str, list[str]] = defaultdict(list)
        self.keys: dict[str, list[str]] = defaultdict(list)

    def __call__(self, platform: str) -> PlatformClient:
        client = self.w.client(platform)
        publish = client.publish

        def recording(creds: Any, post: Any, progress: Any = None) -> Any:
            self.files[platform].append(sha(post.video))
            return publish(creds, post, progress=progress)

        client.publish = recording  # type: ignore[method-assign]
        return client


def renditions_for(tmp_path: Path, w: World) -> Renditions:
    return Renditions(w.media, lock_dir=tmp_path / "locks", x264_preset="ultrafast")


def run(w: World, platform: str, rend: Renditions, received: Received | None = None) -> list[TargetOutcome]:
    return publish_due(
        platform,
        db=w.db,
        vault=w.vault,
        media=w.media,
        clients=received or w.client,
        worker_id="worker-test",
        signer=w.signer,
        backoff_s=0.01,
        sleep=w.sleeps.append,
        switches=PublishSwitches.all_on(),
        renditions=rend,
    )


def uploaded(w: World, platform: str, digest: str) -> bool:
    """The sandbox received a request whose raw body is exactly that file."""
    return any(r.body_sha256 == digest for r in w.sandbox.state.requests_for(platform))


def connect_bluesky(w: World, handle: str = "alice.test") -> int:
    """Bluesky connects with an app password, not OAuth: create the sandbox account, log in, store it."""
    resp = httpx.post(
        f"{w.sandbox.url('bluesky')}/xrpc/com.atproto.server.createAccount",
        json={"handle": handle, "password": "app-pass-1234"},
    )
    assert resp.status_code == 200, resp.text
    creds = w.client("bluesky").login(handle, "app-pass-1234")  # type: ignore[attr-defined]
    with w.db.session() as s:
        return AccountsRepo(w.scope(s), w.vault).connect("bluesky", creds, handle=handle).id


def clip_media(w: World) -> ClipMedia:
    return ClipMedia(key=CLIP_KEY, source_id="src1", clip_id=w.clip_id)


def stored(w: World, key: str) -> Path:
    path = w.media.local_path(key)
    assert path is not None and path.is_file(), key
    return path


# ---- the main render where it fits, a rendition where it does not ------------------------------------------------


def test_a_clip_too_big_for_one_platform_gets_one_rendition_there_and_the_original_elsewhere(
    world: World, small_clip: Path, tmp_path: Path
) -> None:
    w = world
    x, yt, tt = w.connect("x", "x-1"), w.connect("youtube", "yt-1"), w.connect("tiktok", "tt-1")
    w.post(("x", x, {}), ("youtube", yt, {}), ("tiktok", tt, TIKTOK))
    rend, got = renditions_for(tmp_path, w), Received(w)

    for platform in ("x", "youtube", "tiktok"):
        assert [o.state for o in run(w, platform, rend, got)] == ["published"], platform

    # 1080×1920 is over X's 720×1280: one rendition, for X only.
    assert rend.made == 1
    x_file = stored(w, rendition_key(clip_media(w), "x"))
    info = probe(x_file)
    assert (info.width, info.height, info.video_codec, info.pix_fmt) == (720, 1280, "h264", "yuv420p")
    assert got.files["x"] == [sha(x_file)]
    main = sha(small_clip)
    assert got.files["youtube"] == [main] and got.files["tiktok"] == [main]
    # What the sandbox itself received: YouTube's stored video and TikTok's upload are the main render.
    [yt_post] = w.sandbox.state.posts_for("youtube")
    assert yt_post.payload["sha256"] == main
    assert uploaded(w, "tiktok", main) and not uploaded(w, "tiktok", sha(x_file))
    stamp = json.loads(w.media.get_bytes(rendition_key(clip_media(w), "x")[:-4] + ".json"))
    assert any("exceeds 720x1280" in r for r in stamp["reasons"])


def test_a_clip_too_long_for_one_platform_is_trimmed_for_it_only(
    sandbox: RunningSandbox, long_clip: Path, tmp_path: Path
) -> None:
    for w in _world(f"sqlite:///{tmp_path / 'cliply.db'}", sandbox, long_clip, tmp_path):
        bsky, yt = connect_bluesky(w), w.connect("youtube", "yt-1")
        w.post(("bluesky", bsky, {}), ("youtube", yt, {}))
        rend, got = renditions_for(tmp_path, w), Received(w)
        assert [o.state for o in run(w, "bluesky", rend, got)] == ["published"]
        assert [o.state for o in run(w, "youtube", rend, got)] == ["published"]

        assert rend.made == 1
        short = stored(w, rendition_key(clip_media(w), "bluesky"))
        assert probe(short).duration <= 60.05 < probe(long_clip).duration
        assert got.files["bluesky"] == [sha(short)] and uploaded(w, "bluesky", sha(short))
        assert got.files["youtube"] == [sha(long_clip)]
        assert w.sandbox.state.posts_for("youtube")[0].payload["sha256"] == sha(long_clip)


def test_the_rendition_is_cached_and_reused_by_later_targets_and_runs(world: World, tmp_path: Path) -> None:
    w = world
    a, b = w.connect("x", "x-a"), w.connect("x", "x-b")
    w.post(("x", a, {}), ("x", b, {}), caption="one")
    rend = renditions_for(tmp_path, w)
    assert sorted(o.state for o in run(w, "x", rend)) == ["published", "published"]
    assert rend.made == 1
    # A later post in a new run (a new publisher) reuses the stored rendition.
    w.post(("x", a, {}), caption="two")
    later = renditions_for(tmp_path, w)
    assert [o.state for o in run(w, "x", later)] == ["published"]
    assert later.made == 0
    assert len(w.sandbox.state.posts_for("x")) == 3


def test_concurrent_publishers_render_a_rendition_once(world: World, small_clip: Path, tmp_path: Path) -> None:
    w = world
    # Two publishers (own instances, one lock directory) with two threads each, all asking at once.
    publishers = [renditions_for(tmp_path, w), renditions_for(tmp_path, w)]
    keys: list[str] = []
    run_threads(4, lambda i: keys.append(publishers[i % 2].choose(clip_media(w), "x", small_clip).key))
    assert sum(p.made for p in publishers) == 1
    assert set(keys) == {rendition_key(clip_media(w), "x")}


def test_a_new_render_of_the_clip_makes_a_new_rendition(world: World, tmp_path: Path) -> None:
    w = world
    rend = renditions_for(tmp_path, w)
    clip = clip_media(w)
    main = stored(w, CLIP_KEY)
    rend.choose(clip, "x", main)
    rend.choose(clip, "x", main)
    assert rend.made == 1
    rend.choose(ClipMedia(CLIP_KEY, "src1", w.clip_id, sha256="another-render"), "x", main)
    assert rend.made == 2


# ---- format rejections: one stricter rendition, one retry ----------------------------------------------------------


def test_a_format_rejection_makes_one_strict_rendition_and_retries_once(world: World, tmp_path: Path) -> None:
    w = world
    tt = w.connect("tiktok", "tt-1")
    _, [target] = w.post(("tiktok", tt, TIKTOK))
    w.sandbox.fault("tiktok", "format_rejected", "init")
    rend, got = renditions_for(tmp_path, w), Received(w)

    [out] = run(w, "tiktok", rend, got)
    assert out.state == "published", out
    assert rend.made == 1
    strict = stored(w, rendition_key(clip_media(w), "tiktok", "strict"))
    info = probe(strict)
    assert (info.video_codec, info.pix_fmt, round(info.fps or 0)) == ("h264", "yuv420p", 30)
    assert info.size_bytes < strict_preset("tiktok").max_bytes and info.duration <= 60.05
    assert w.calls("tiktok", "POST", INIT) == 2  # the refused try and the one retry
    assert len(got.files["tiktok"]) == 2 and got.files["tiktok"][1] == sha(strict)
    assert uploaded(w, "tiktok", sha(strict))
    assert len(w.sandbox.state.posts_for("tiktok")) == 1
    assert w.target(target).state == "published"


def test_a_pull_platform_fetches_the_strict_rendition_after_a_processing_rejection(
    world: World, tmp_path: Path
) -> None:
    """Instagram's container ends in ERROR 2207026 (unsupported format): the retry's container pulls the rendition."""
    w = world
    ig = w.connect("instagram", "ig-1")
    w.post(("instagram", ig, {}))
    w.sandbox.fault("instagram", "processing_failed", "processing")
    rend = renditions_for(tmp_path, w)
    [out] = run(w, "instagram", rend)
    assert out.state == "published", out
    assert rend.made == 1
    strict_key = rendition_key(clip_media(w), "instagram", "strict")
    assert w.server.served == [CLIP_KEY, strict_key]
    assert len(w.sandbox.state.posts_for("instagram")) == 1


def test_a_second_format_rejection_fails_the_target_with_the_platforms_reason(world: World, tmp_path: Path) -> None:
    w = world
    tt = w.connect("tiktok", "tt-1")
    _, [target] = w.post(("tiktok", tt, TIKTOK))
    w.sandbox.fault("tiktok", "format_rejected", "init", times=3)
    rend = renditions_for(tmp_path, w)
    [out] = run(w, "tiktok", rend)
    assert (out.state, out.error_class) == ("failed", "content_rejected")
    assert "file_format_check_failed" in out.message
    assert rend.made == 1 and w.calls("tiktok", "POST", INIT) == 2
    assert w.target(target).state == "failed" and w.sandbox.state.posts_for("tiktok") == []


@pytest.mark.parametrize(
    ("kind", "state"),
    [
        ("content_rejected", "failed"),  # spam_risk_text: the caption, not the file
        ("error", "waiting"),  # transient 500s past the in-run retries
        ("rate_limit", "waiting"),
        ("expired_token", "failed"),
    ],
)
def test_other_error_classes_never_make_a_rendition(world: World, tmp_path: Path, kind: str, state: str) -> None:
    w = world
    tt = w.connect("tiktok", "tt-1")
    w.post(("tiktok", tt, TIKTOK))
    w.sandbox.fault("tiktok", kind, "init", times=-1)
    rend = renditions_for(tmp_path, w)
    [out] = run(w, "tiktok", rend)
    assert out.state == state, out
    assert rend.made == 0
    assert not w.media.list("renditions/")


# ---- the asset ----------------------------------------------------------------------------------------------------


def test_the_renditions_asset_materialises_per_source(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cliply_assets.media import renditions
    from cliply_resources import DatabaseResource, MediaStoreResource, SettingsResource

    w = world
    w.connect("x", "x-1")
    w.connect("youtube", "yt-1")
    monkeypatch.setenv("CLIPLY_HOME", str(tmp_path / "home"))
    assert isinstance(w.media, LocalMediaStore)
    media_root = w.media.root
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("sources", ["src1"])
        result = dg.materialize(
            [renditions],
            partition_key="src1",
            instance=instance,
            resources={
                "settings": SettingsResource(render_preset="ultrafast"),
                "database": DatabaseResource(url=str(w.db.engine.url)),
                "media_store": MediaStoreResource(url=str(media_root)),
            },
        )
    assert result.success
    [event] = result.asset_materializations_for_node("renditions")
    meta: dict[str, Any] = {k: v.value for k, v in event.metadata.items()}
    assert meta["num_renditions"] == 1 and meta["made_now"] == 1 and meta["platforms"] == "x, youtube"
    per_clip = meta["renditions"][w.clip_id]
    assert per_clip["youtube"] == "main render"
    assert per_clip["x"]["key"] == rendition_key(clip_media(w), "x") and per_clip["x"]["size_bytes"] > 0
    assert any("720x1280" in why for why in per_clip["x"]["why"])
    assert w.media.exists(per_clip["x"]["key"])


# ---- a post's own caption style ------------------------------------------------------------------------------------


def test_a_post_style_rerenders_from_the_source_with_the_same_framing_and_words(world: World, tmp_path: Path) -> None:
    w = world
    source = encode(tmp_path / "talk.mp4", seconds=6, size="640x360")
    w.media.put_file("sources/src1/original.mp4", source)
    with w.db.session() as s:
        s.execute(update(Source).where(Source.id == "src1").values(media_key="sources/src1/original.mp4"))
    words = (Word("hello", 0.5, 1.0), Word("world", 1.1, 1.6), Word("again", 2.0, 2.5))
    transcript = Transcript("en", "hello world again", (Segment("hello world again", 0.5, 2.5, words),), 6.0)
    w.media.put_bytes(transcript_keys("src1")["json"], json.dumps(transcript.to_dict()).encode())
    plan = {"src_w": 640, "src_h": 360, "crop_w": 202, "crop_h": 360, "keyframes": [[0.0, 40.0]], "method": "face"}
    w.media.put_bytes(reframe_plan_key("src1", w.clip_id), json.dumps(plan).encode())

    yt, tt = w.connect("youtube", "yt-1"), w.connect("tiktok", "tt-1")
    w.post(("youtube", yt, {"caption_style": "boxed"}), ("tiktok", tt, TIKTOK))
    rend, got = renditions_for(tmp_path, w), Received(w)
    assert [o.state for o in run(w, "youtube", rend, got)] == ["published"]
    assert [o.state for o in run(w, "tiktok", rend, got)] == ["published"]

    styled = stored(w, rendition_key(clip_media(w), "youtube", "style-boxed"))
    info = probe(styled)
    assert (info.width, info.height) == (1080, 1920) and abs(info.duration - 4.0) < 0.2  # the clip's 0–4 s span
    assert w.sandbox.state.posts_for("youtube")[0].payload["sha256"] == sha(styled)
    assert got.files["tiktok"] == [sha(stored(w, CLIP_KEY))]  # no style asked: the main render
    assert rend.made == 1
    # The style option chose the file; it was not sent to the platform as an option.
    assert "caption_style" not in json.dumps(w.sandbox.state.posts_for("youtube")[0].payload)


def test_a_recut_clip_is_published_as_cut_when_a_post_asks_for_a_style(world: World, tmp_path: Path) -> None:
    """A hook variant's re-cut opens on a teaser its span alone cannot reproduce: restyling it would lose the hook."""
    rend = renditions_for(tmp_path, world)
    recut = ClipMedia(key=CLIP_KEY, source_id="src1", clip_id=world.clip_id, start_s=0.0, end_s=4.0, recut=True)
    choice = rend.choose(recut, "youtube", stored(world, CLIP_KEY), caption_style="boxed")
    assert choice.key == CLIP_KEY and choice.main and rend.made == 0
    with pytest.raises(RenditionError, match="source span"):  # the same request on an ordinary clip re-renders
        rend.choose(clip_media(world), "youtube", stored(world, CLIP_KEY), caption_style="boxed")
