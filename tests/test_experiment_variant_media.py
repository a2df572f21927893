"""Experiment variant media on a clip made by the real pipeline (talk video → Whisper → highlights → render →
covers): thumbnail variants (a frame of the clip, an uploaded image) become every platform's cover at its exact size
and reach a real publish through post_covers only for posts of that clip; a hook variant is re-rendered to open on
the strong line and then play the whole clip, as a new clip row of the same workspace."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, replace
from io import BytesIO
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from PIL import Image

from cliply.experiments.variant_media import (
    TEASER_MAX_S,
    hook_clip,
    teaser_span,
    thumbnail_options,
)
from cliply.media.cover_upload import CoverRejected
from cliply.media.covers import COVER_SPECS
from cliply.media.probe import probe
from cliply.pipeline import (
    Services,
    load_transcript,
    materialize_clips,
    materialize_highlights,
    materialize_source,
    materialize_thumbnails,
    materialize_transcript,
)
from cliply.publishing.media_urls import MediaUrlSigner
from cliply.publishing.post_covers import cover_for
from cliply.sandbox.covers import cover_of
from cliply.security.vault import KeyRing, TokenVault, generate_key
from cliply.storage.media_store import LocalMediaStore
from cliply.store import WorkspaceScope, get_or_create_workspace
from cliply.store.models import Clip
from cliply.wiring import Cliply, cliply
from tests.fixtures.sandbox import RunningSandbox
from tests.helpers import make_services, pipeline_settings
from tests.test_publisher import MediaServer, World

SOURCE = "talk1"


@dataclass(frozen=True)
class Made:
    app: Cliply
    svc: Services
    workspace_id: int
    clips: list[str]


@pytest.fixture(scope="module")
def made(talk_video: Path, tmp_path_factory: pytest.TempPathFactory) -> Made:
    """Source, transcript, highlights, two rendered clips and their covers, through the pipeline stages."""
    svc = make_services(pipeline_settings(tmp_path_factory.mktemp("variants") / "home"))
    svc.store.put_file(f"uploads/{SOURCE}/talk.mp4", talk_video)
    with svc.db.session() as s:
        ws = get_or_create_workspace(s, "acme")
        scope = WorkspaceScope(s, ws)
        scope.add_source(SOURCE, "file", "talk.mp4", "talk.mp4", status="registered")
        scope.update_source(SOURCE, media_key=f"uploads/{SOURCE}/talk.mp4")
        workspace_id = ws.id
    assert materialize_source(svc, SOURCE).accepted
    materialize_transcript(svc, SOURCE)
    materialize_highlights(svc, SOURCE)
    clips = [o.clip_id for o in materialize_clips(svc, SOURCE)]
    materialize_thumbnails(svc, SOURCE)
    assert len(clips) == 2
    app = cliply(svc.settings, db=svc.db, media=svc.store)
    return Made(app, svc, workspace_id, clips)


@pytest.fixture
def world(made: Made, sandbox: RunningSandbox) -> Iterator[World]:
    """The publisher's test world on the pipeline's database and media store."""
    media = made.svc.store
    assert isinstance(media, LocalMediaStore)
    server = MediaServer(media)
    signer = MediaUrlSigner(media, base_url=server.base, secret=b"test-media-url-key")
    server.signer = signer
    vault = TokenVault(KeyRing.parse(f"k1:{generate_key()}"))
    w = World(sandbox, made.svc.db, vault, media, signer, server, made.workspace_id, made.clips[0])
    try:
        yield w
    finally:
        for c in w.clients:
            c.close()
        server.close()


def clip_row(made: Made, clip_id: str) -> Clip:
    with made.svc.db.reading() as s:
        row = s.get(Clip, clip_id)
        assert row is not None
        s.expunge(row)
        return row


def image_size(made: Made, key: str) -> tuple[int, int]:
    with Image.open(BytesIO(made.svc.store.get_bytes(key))) as img:
        assert img.format == "JPEG"
        return img.size


def assert_every_cover_exact(made: Made, options: dict[str, Any]) -> dict[str, Any]:
    key = options["cover_manifest"]
    assert key.startswith("experiments/exp-abc123/")
    manifest = json.loads(made.svc.store.get_bytes(key))
    assert set(manifest["covers"]) == set(COVER_SPECS)
    for name, entry in manifest["covers"].items():
        assert entry["key"].startswith("experiments/exp-abc123/")
        assert image_size(made, entry["key"]) == (COVER_SPECS[name].width, COVER_SPECS[name].height), name
        assert (entry["width"], entry["height"]) == (COVER_SPECS[name].width, COVER_SPECS[name].height)
    return manifest


def photo(size: tuple[int, int] = (1600, 1200), fmt: str = "PNG") -> bytes:
    rng = np.random.default_rng(7)
    arr = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    buf = BytesIO()
    Image.fromarray(arr).save(buf, format=fmt)
    return buf.getvalue()


# ---------------------------------------------------------------- thumbnails


def test_frame_variants_make_every_platform_cover_from_that_frame(made: Made) -> None:
    clip = clip_row(made, made.clips[0])
    seconds = thumbnail_options(
        made.app, made.workspace_id, clip.id, "frame:1.5", [], experiment_id="exp-abc123", arm="A"
    )
    assert seconds["cover_time_s"] == 1.5
    manifest = assert_every_cover_exact(made, seconds)
    assert manifest["clip_id"] == clip.id and manifest["workspace_id"] == made.workspace_id
    assert manifest["at_s"] == 1.5 and manifest["source_t_s"] == pytest.approx(clip.start_s + 1.5, abs=0.05)
    percent = thumbnail_options(
        made.app, made.workspace_id, clip.id, "frame:40%", [], experiment_id="exp-abc123", arm="B"
    )
    assert percent["cover_time_s"] == pytest.approx(0.4 * (clip.end_s - clip.start_s), abs=1e-3)
    assert percent["cover_manifest"] != seconds["cover_manifest"]
    assert_every_cover_exact(made, percent)


def test_an_image_variant_is_validated_and_cut_to_every_platform(made: Made) -> None:
    options = thumbnail_options(
        made.app, made.workspace_id, made.clips[0], "image:1", [b"unused", photo()], experiment_id="exp-abc123", arm="C"
    )
    assert "cover_time_s" not in options
    manifest = assert_every_cover_exact(made, options)
    assert manifest["custom"] is True and manifest["image"] == {"width": 1600, "height": 1200}
    for bad, why in [
        (b"GIF89a" + b"\0" * 64, "not a JPEG, PNG or WebP"),
        (photo()[:200], "cannot be decoded"),
        (photo((120, 120)), "at least 200 pixels"),
    ]:
        with pytest.raises(CoverRejected, match=why) as info:
            thumbnail_options(
                made.app, made.workspace_id, made.clips[0], "image:0", [bad], experiment_id="exp-abc123", arm="D"
            )
        assert "\n" not in str(info.value)
    assert not made.svc.store.exists("experiments/exp-abc123/D/covers.json")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("frame:999", "past the clip's end"),
        ("frame:100%", "past the clip's end"),
        ("image:2", "only 0 image"),
        ("first", "use frame:<seconds>"),
    ],
)
def test_bad_thumbnail_specs_are_refused_in_one_line(made: Made, spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        thumbnail_options(made.app, made.workspace_id, made.clips[0], spec, [], experiment_id="exp-abc123", arm="E")
    with pytest.raises(ValueError, match="arm"):
        thumbnail_options(made.app, made.workspace_id, made.clips[0], "frame:1", [], experiment_id="e", arm="../x")


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_the_variant_covers_are_published_for_that_clip_only(
    made: Made, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    options = thumbnail_options(
        made.app, made.workspace_id, made.clips[0], "frame:2", [], experiment_id="exp-abc123", arm="F"
    )
    manifest = json.loads(made.svc.store.get_bytes(options["cover_manifest"]))
    variant_yt = made.svc.store.get_bytes(manifest["covers"]["youtube"]["key"])
    own = json.loads(made.svc.store.get_bytes(f"thumbnails/{SOURCE}/{made.clips[0]}.covers.json"))
    own_yt = made.svc.store.get_bytes(own["covers"]["youtube"]["key"])
    assert sha(variant_yt) != sha(own_yt)

    # A real publish of a post of that clip: YouTube gets the variant's 1280×720 image.
    acct = world.connect("youtube", "yt-variant")
    _, [tid] = world.post(("youtube", acct, {"privacy": "public", **options}))
    [out] = world.run("youtube")
    assert out.state == "published", out.message
    cover = cover_of(world.sandbox.state, "youtube", world.target(tid).platform_post_id or "")
    assert cover is not None and cover["sha256"] == sha(variant_yt) and (cover["width"], cover["height"]) == (1280, 720)

    def chosen(w: World, platform: str, opts: dict[str, Any]) -> Any:
        post_id, _ = w.post((platform, w.connect(platform, f"{platform}-{len(opts)}"), opts))
        return cover_for(
            w.db, w.media, w.signer, workspace_id=w.workspace_id, post_id=post_id, platform=platform,
            video=Path("v.mp4"), options=opts,
        )  # fmt: skip

    # Instagram gets the variant's own 9:16 image (its frame time does not replace it) and its frame time.
    ig = chosen(world, "instagram", options)
    assert manifest["covers"]["instagram"]["key"].rsplit("/", 1)[-1] in ig.options["cover_url"]
    assert ig.cover_time_s == 2.0

    # Ignored (logged at info) for another clip's post, a key outside experiments/ and another workspace's manifest.
    caplog.set_level(logging.INFO, logger="cliply.publishing.post_covers")
    other = chosen(replace(world, clip_id=made.clips[1]), "youtube", options)
    assert other.thumbnail is not None and other.thumbnail.read_bytes() != variant_yt
    own_other = json.loads(made.svc.store.get_bytes(f"thumbnails/{SOURCE}/{made.clips[1]}.covers.json"))
    assert other.cover_time_s == own_other["at_s"]
    outside = f"thumbnails/{SOURCE}/{made.clips[0]}.covers.json"
    stray = chosen(world, "youtube", {"cover_manifest": outside.replace(made.clips[0], made.clips[1])})
    assert stray.thumbnail is not None and stray.thumbnail.read_bytes() == own_yt
    forged = {**manifest, "workspace_id": made.workspace_id + 1}
    made.svc.store.put_bytes("experiments/exp-abc123/G/covers.json", json.dumps(forged).encode())
    theirs = chosen(world, "youtube", {"cover_manifest": "experiments/exp-abc123/G/covers.json"})
    assert theirs.thumbnail is not None and theirs.thumbnail.read_bytes() == own_yt
    ignored = [r.getMessage() for r in caplog.records if "cover_manifest" in r.getMessage()]
    assert len(ignored) == 3 and all(r.levelno == logging.INFO for r in caplog.records if "ignored" in r.getMessage())
    assert "another clip" in ignored[0] and "not an experiment manifest" in ignored[1] and "workspace" in ignored[2]


# ---------------------------------------------------------------- hooks


def first_frame(path: Path, at: float = 0.0) -> np.ndarray:
    """The frame shown at `at` seconds, as a small gray image."""
    with av.open(str(path)) as c:
        for frame in c.decode(c.streams.video[0]):
            if frame.time is not None and frame.time + 1e-3 >= at:
                return frame.reformat(width=90, height=160, format="gray").to_ndarray().astype(np.float32)
    raise AssertionError(f"no frame at {at}s in {path}")


def nearest(frame: np.ndarray, video: Path, at: float) -> float:
    """Mean absolute gray difference (0-255) to the closest of `video`'s frames within ±2 frames (30 fps) of `at`."""
    return min(float(np.abs(frame - first_frame(video, at + k / 30)).mean()) for k in range(-2, 3))


def test_a_hook_clip_opens_on_the_line_then_plays_the_whole_clip(made: Made, tmp_path: Path) -> None:
    parent = clip_row(made, made.clips[0])
    length = parent.end_s - parent.start_s
    transcript = load_transcript(made.svc, SOURCE)
    hook_at = round(length * 0.6, 2)
    teaser = teaser_span(transcript, parent.start_s, parent.end_s, parent.start_s + hook_at)
    assert parent.start_s < teaser.start <= parent.start_s + hook_at + 1.0 and teaser.end - teaser.start >= 0.5
    assert teaser.end - teaser.start <= TEASER_MAX_S + 1e-6 and teaser.text
    starts = {round(w.start, 3) for w in transcript.words}
    ends = {round(w.end, 3) for w in transcript.words}
    assert round(teaser.start, 3) in starts and round(teaser.end, 3) in ends  # on word boundaries

    new_id = hook_clip(made.app, made.workspace_id, parent.id, hook_at, experiment_id="exp-abc123", arm="B")
    assert new_id == f"{parent.id}-abc123B" and len(new_id) <= 80
    row = clip_row(made, new_id)
    assert row.workspace_id == parent.workspace_id and row.source_id == parent.source_id
    assert (
        row.media_key and row.size_bytes and row.sha256 and row.duration_s and (row.width, row.height) == (1080, 1920)
    )
    video = tmp_path / "hook.mp4"
    video.write_bytes(made.svc.store.get_bytes(row.media_key))
    assert sha(video.read_bytes()) == row.sha256 and video.stat().st_size == row.size_bytes
    info = probe(video)
    assert info.duration == pytest.approx((teaser.end - teaser.start) + length, abs=0.25)
    assert info.has_audio

    # It opens on the hook moment of the source (the original clip at that time), not on the clip's own opening.
    original = tmp_path / "clip.mp4"
    original.write_bytes(made.svc.store.get_bytes(parent.media_key or ""))
    # Seeking and the fps filter may land one frame apart: the best of the frames within ±2 frames counts.
    opening = first_frame(video, 0.1)
    same = nearest(opening, original, teaser.start - parent.start_s + 0.1)
    other = float(np.abs(opening - first_frame(original, 0.1)).mean())
    assert same < 4.0 and same < other / 4, (same, other)
    # … and then plays the whole clip from its start.
    assert nearest(first_frame(video, teaser.end - teaser.start + 0.1), original, 0.1) < 4.0

    # Listed with the source's clips; the original is untouched; the covers follow the clip (frame time shifted).
    with made.svc.db.reading() as s:
        ids = [c.id for c in WorkspaceScope(s, get_or_create_workspace(s, "acme")).list_clips(SOURCE)]
    assert parent.id in ids and new_id in ids and clip_row(made, parent.id).sha256 == parent.sha256
    own = json.loads(made.svc.store.get_bytes(f"thumbnails/{SOURCE}/{parent.id}.covers.json"))
    copied = json.loads(made.svc.store.get_bytes(f"thumbnails/{SOURCE}/{new_id}.covers.json"))
    assert copied["at_s"] == pytest.approx(own["at_s"] + teaser.end - teaser.start, abs=1e-3)


def test_a_hook_outside_the_clip_is_refused_in_one_line(made: Made) -> None:
    parent = clip_row(made, made.clips[0])
    for bad in (-0.5, parent.end_s - parent.start_s + 1):
        with pytest.raises(ValueError, match="outside the clip") as info:
            hook_clip(made.app, made.workspace_id, parent.id, bad, experiment_id="exp-abc123", arm="X")
        assert "\n" not in str(info.value)
    with pytest.raises(LookupError):
        hook_clip(made.app, made.workspace_id + 1, parent.id, 1.0, experiment_id="exp-abc123", arm="X")
