"""Thumbnails and covers: the frame is picked from the un-captioned source (sharp, not black, not at a flash cut,
open eyes preferred), cut to every platform's cover size; the older rendered-clip path still works."""

from __future__ import annotations

import json
from io import BytesIO
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from cliply.media.captions import CaptionStyle
from cliply.media.covers import COVER_SPECS, Subject, draw_title, hook_title, make_covers
from cliply.media.ffmpeg import run_ffmpeg
from cliply.media.presets import PRESETS
from cliply.media.render import RenderRequest, render_clip
from cliply.media.thumbnails import (
    FACE_CHECKS,
    FACE_CHECKS_MAX,
    SCORE_WIDTH,
    Candidate,
    ThumbnailError,
    count_open_eyes,
    detect_face,
    make_preview,
    make_thumbnail,
    pick_source_frame,
    pick_thumbnail_time,
    score_candidates,
    sharpness,
    source_thumbnails,
)
from cliply.media.types import Word
from cliply.pipeline import materialize_thumbnails, thumbnail_keys
from cliply.store.repo import WorkspaceScope, get_or_create_workspace
from tests.helpers import make_services, pipeline_settings


@pytest.fixture(scope="module")
def mixed_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 s vertical clip: black 0–1 s, blurred 1–2.2 s, sharp 2.2–3.2 s, black 3.2–4 s."""
    out = tmp_path_factory.mktemp("thumb") / "mixed.mp4"
    size = "size=360x640:rate=25"
    graph = (
        f"color=black:{size}:d=1[a];testsrc2={size}:d=1.2,boxblur=12:2[b];testsrc2={size}:d=1[c];"
        f"color=black:{size}:d=0.8[d];[a][b][c][d]concat=n=4:v=1:a=0,format=yuv420p[v]"
    )
    run_ffmpeg(["-filter_complex", graph, "-map", "[v]", "-c:v", "libx264", "-preset", "ultrafast", str(out)])
    return out


def luma(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("L"), dtype=float)


def test_auto_pick_is_the_sharp_non_black_frame_and_deterministic(mixed_clip: Path, tmp_path: Path) -> None:
    t = pick_thumbnail_time(mixed_clip)
    assert 2.2 <= t < 3.2, t
    a = make_thumbnail(mixed_clip, tmp_path / "a.jpg")
    b = make_thumbnail(mixed_clip, tmp_path / "b.jpg")
    assert pick_thumbnail_time(mixed_clip) == t
    assert a.read_bytes() == b.read_bytes()
    with Image.open(a) as img:
        assert img.format == "JPEG" and img.size == (1080, 1920)
    assert luma(a).mean() > 40


def test_explicit_time_and_preview_size(mixed_clip: Path, tmp_path: Path) -> None:
    dark = make_thumbnail(mixed_clip, tmp_path / "dark.jpg", at=0.5, width=540, height=960)
    assert luma(dark).mean() < 10  # `at` is honoured even when it is a bad frame
    preview = make_preview(mixed_clip, tmp_path / "p.jpg")
    with Image.open(preview) as img:
        assert img.size == (270, 480)
    assert luma(preview).mean() > 40
    assert preview.stat().st_size < make_thumbnail(mixed_clip, tmp_path / "full.jpg").stat().st_size


def test_unreadable_clip_raises(tmp_path: Path) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all")
    with pytest.raises(ThumbnailError):
        make_thumbnail(bad, tmp_path / "x.jpg")


# ---------------------------------------------------------------- frames picked from the un-captioned source

MAGENTA = CaptionStyle(highlight_colour="#FF00FF")  # absent from the cockatoo footage, easy to count
CAPTION_WORDS = [Word("he", 8.00, 8.40), Word("was", 8.40, 8.80), Word("not", 8.80, 9.30), Word("ill", 9.3, 10.0)]


def magenta_count(img: Image.Image) -> int:
    rgb = np.asarray(img.convert("RGB"), dtype=int)
    return int(((rgb[..., 0] > 170) & (rgb[..., 1] < 90) & (rgb[..., 2] > 170)).sum())


def span_sharpness(video: Path, start: float, end: float) -> dict[float, float]:
    """Every frame of [start, end]: the same measurement the picker makes (centre 9:16 crop, SCORE_WIDTH gray)."""
    out: dict[float, float] = {}
    with av.open(str(video)) as c:
        stream = c.streams.video[0]
        w, h = stream.codec_context.width, stream.codec_context.height
        sw = min(SCORE_WIDTH, w) // 2 * 2
        sh = round(h * sw / w) // 2 * 2
        scale = w / sw
        crop_w = min(w, round(h * 9 / 16 / 2) * 2)
        x0 = round((w - crop_w) / 2)
        cols = slice(int(x0 / scale), int((x0 + crop_w) / scale))
        for frame in c.decode(stream):
            if frame.time is None or frame.time < start - 1e-3:
                continue
            if frame.time > end:
                break
            gray = frame.reformat(width=sw, height=sh, format="gray").to_ndarray()
            out[round(float(frame.time), 3)] = sharpness(np.ascontiguousarray(gray[:, cols]))
    return out


def test_picked_frame_is_sharper_than_the_median_frame_of_the_span(talk_video: Path) -> None:
    start, end = 2.0, 18.0
    picked = pick_source_frame(talk_video, start, end)
    assert start <= picked.t <= end
    assert picked.clip_t == pytest.approx(picked.t - start)
    every = span_sharpness(talk_video, start, end)
    assert len(every) > 300  # really the whole span, decoded frame by frame
    at_pick = every[min(every, key=lambda t: abs(t - picked.t))]
    assert at_pick > float(np.median(list(every.values()))), (at_pick, float(np.median(list(every.values()))))


def test_no_caption_pixels_although_the_clip_has_highlighted_captions(talk_video: Path, tmp_path: Path) -> None:
    rendered = tmp_path / "captioned.mp4"
    render_clip(
        RenderRequest(
            talk_video,
            rendered,
            7.0,
            13.0,
            CAPTION_WORDS,
            preset=PRESETS["universal"],
            x264_preset="ultrafast",
            style=MAGENTA,
        )
    )
    # Control: the old path (a frame of the captioned render) shows the highlight colour while a word is spoken.
    old = make_thumbnail(rendered, tmp_path / "old.jpg", at=1.2)
    with Image.open(old) as img:
        assert magenta_count(img) > 200
    _, images = source_thumbnails(talk_video, 7.0, 13.0)
    assert {"thumbnail", "preview"} | {f"cover_{n}" for n in COVER_SPECS} == set(images)
    for name, img in images.items():
        assert magenta_count(img) == 0, name


def test_every_platform_cover_has_its_exact_size_and_keeps_the_subject(tmp_path: Path) -> None:
    frame = np.full((1080, 1920, 3), 90, np.uint8)
    frame[500:600, 1750:1850] = (255, 0, 0)  # the subject, near the right edge of a 16:9 frame
    covers = make_covers(frame, Subject(1800.0, 550.0))
    assert set(covers) == set(COVER_SPECS) and {"youtube", "tiktok", "instagram", "pinterest"} <= set(covers)
    for name, img in covers.items():
        spec = COVER_SPECS[name]
        assert img.size == (spec.width, spec.height), name
        rgb = np.asarray(img, dtype=int)
        red = (rgb[..., 0] > 200) & (rgb[..., 1] < 60)
        assert red.sum() > 0.5 * 100 * 100 * (spec.height / 1080) ** 2, name  # the whole subject is inside
    centred = make_covers(frame, Subject(960.0, 540.0))
    assert (np.asarray(centred["tiktok"])[..., 0] > 200).sum() == 0  # a centre crop would have lost it


def flash_cut_video(path: Path) -> Path:
    """5 s, 25 fps, a keyframe every second: soft footage with a 3-frame flash cut of very sharp noise at 2.40 s."""
    rng = np.random.default_rng(7)
    w, h = 640, 360
    yy, xx = np.mgrid[0:h, 0:w]
    flash = (rng.random((h, w)) > 0.5).astype(np.uint8) * 255
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"g": "25", "keyint_min": "25", "sc_threshold": "0", "preset": "ultrafast"}
        for i in range(125):
            if i in (59, 60, 61):
                gray = flash
            else:
                phase = i / 10
                soft = 120 + 40 * np.sin(xx / 37 + phase) * np.cos(yy / 29 - phase)
                soft += 8 * np.sin(xx / 5.0 + yy / 7.0)  # a little detail so frames are not all alike
                gray = soft.clip(0, 255).astype(np.uint8)
            rgb = np.repeat(gray[..., None], 3, axis=2)
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def test_a_flash_cut_frame_is_not_chosen_although_it_is_the_sharpest(tmp_path: Path) -> None:
    video = flash_cut_video(tmp_path / "flash.mp4")
    picked = pick_source_frame(video, 0.0, 5.0)
    by_t = {round(c.t, 2): c for c in picked.candidates}
    assert 2.4 in by_t, sorted(by_t)  # the flash frame was a candidate …
    flash = by_t[2.4]
    assert flash.sharpness == max(c.sharpness for c in picked.candidates)  # … and the sharpest of all
    assert flash.transition
    assert not (2.3 <= picked.t <= 2.5), picked.t
    # Frames within one neighbour step of the cut are flagged too; ordinary frames are not.
    assert {round(c.t, 2) for c in picked.candidates if c.transition} == {2.2, 2.4, 2.6}


def test_open_eyes_are_preferred_with_the_detector_mocked() -> None:
    """The Haar eye cascade does not fire reliably on synthetic faces, so the detector is replaced here: closed-eye
    frames are the sharpest, open-eye frames alternate with them, and an open-eye frame must win."""
    box = (100.0, 80.0, 200.0, 200.0)
    candidates = [Candidate(t=0.2 * i, luma=120.0, sharpness=110.0 if i % 2 else 100.0) for i in range(8)]
    eyes = {round(c.t, 2): (0 if i % 2 else 2) for i, c in enumerate(candidates)}
    asked: list[float] = []

    def faces(c: Candidate) -> tuple[tuple[float, float, float, float] | None, int]:
        asked.append(c.t)
        return box, eyes[round(c.t, 2)]

    best = score_candidates(candidates, faces)
    assert eyes[round(best.t, 2)] == 2 and best.face == box
    assert len(asked) <= FACE_CHECKS_MAX
    # Without faces the sharpest wins, and only the first few are checked.
    plain = [Candidate(t=0.2 * i, luma=120.0, sharpness=110.0 if i % 2 else 100.0) for i in range(8)]
    asked.clear()

    def no_face(c: Candidate) -> tuple[tuple[float, float, float, float] | None, int]:
        asked.append(c.t)
        return None, 0

    best = score_candidates(plain, no_face)
    assert best.sharpness == 110.0 and len(asked) == FACE_CHECKS


def test_real_detectors_find_no_face_in_faceless_footage(talk_video: Path) -> None:
    picked = pick_source_frame(talk_video, 2.0, 8.0)
    assert picked.framing in ("center", "face")
    gray = np.zeros((200, 360), np.uint8)
    assert detect_face(gray, 1.0) is None
    assert count_open_eyes(np.zeros((720, 1280), np.uint8), (500.0, 200.0, 200.0, 200.0)) == 0


def test_hook_title_and_overlay() -> None:
    assert hook_title("He was not an ill disposed young man.  Unless to be rather cold hearted!") == (
        "He was not an ill disposed young man."
    )
    long = hook_title("word " * 40)
    assert len(long) <= 70 and long.endswith("…") and "  " not in long
    assert hook_title(None) == "" and hook_title("   ") == ""
    plain = Image.new("RGB", (1080, 1920), (60, 90, 120))
    titled = draw_title(plain, "Why every clip needs a hook")
    diff = np.abs(np.asarray(titled, dtype=int) - np.asarray(plain, dtype=int)).sum(axis=2) > 0
    ys = np.nonzero(diff)[0]
    assert ys.size > 5000 and ys.max() < 1920 * 0.5  # drawn, in the upper half (clear of the platform buttons)
    rgb = np.asarray(titled)
    assert (rgb[diff] > 240).all(axis=1).any() and (rgb[diff] < 15).all(axis=1).any()  # white fill, black outline
    assert draw_title(plain, "") is plain


def test_pipeline_stores_thumbnail_preview_and_every_cover_without_captions(talk_video: Path, tmp_path: Path) -> None:
    svc = make_services(pipeline_settings(tmp_path / "home"))
    rendered = tmp_path / "clip.mp4"
    render_clip(
        RenderRequest(
            talk_video,
            rendered,
            7.0,
            13.0,
            CAPTION_WORDS,
            preset=PRESETS["universal"],
            x264_preset="ultrafast",
            style=MAGENTA,
        )
    )
    svc.store.put_file("sources/s1/talk.mp4", talk_video)
    svc.store.put_file("clips/s1/s1-c01.mp4", rendered)
    with svc.db.session() as s:
        scope = WorkspaceScope(s, get_or_create_workspace(s, "default"))
        scope.add_source("s1", "file", str(talk_video), "talk.mp4", status="processing")
        scope.update_source("s1", media_key="sources/s1/talk.mp4")
        scope.replace_clips(
            "s1",
            [
                {
                    "id": "s1-c01",
                    "rank": 1,
                    "start_s": 7.0,
                    "end_s": 13.0,
                    "text": "He was not an ill disposed young man. Unless to be rather cold hearted.",
                    "media_key": "clips/s1/s1-c01.mp4",
                    "width": 1080,
                    "height": 1920,
                }
            ],
        )
    [made] = materialize_thumbnails(svc, "s1")
    keys = thumbnail_keys("s1", "s1-c01")
    assert made.key == keys["thumbnail"] and made.preview_key == keys["preview"]
    assert set(made.cover_keys) == set(COVER_SPECS)
    assert 0.0 <= made.at_s <= 6.0
    for name, key in [("thumbnail", made.key), ("preview", made.preview_key), *made.cover_keys.items()]:
        with Image.open(BytesIO(svc.store.get_bytes(key))) as img:
            expected = {"thumbnail": (1080, 1920), "preview": (270, 480)}.get(name)
            if expected is None:
                expected = (COVER_SPECS[name].width, COVER_SPECS[name].height)
            assert img.format == "JPEG" and img.size == expected, name
            assert magenta_count(img) == 0, name
    manifest = json.loads(svc.store.get_bytes(keys["manifest"]))
    assert manifest["at_s"] == pytest.approx(made.at_s, abs=1e-3) and manifest["title"] == ""  # title off by default
    assert {n: (c["width"], c["height"]) for n, c in manifest["covers"].items()} == {
        n: (c.width, c.height) for n, c in COVER_SPECS.items()
    }
    with svc.db.session() as s:
        scope = WorkspaceScope(s, get_or_create_workspace(s, "default"))
        [clip] = scope.list_clips("s1")
        assert clip.thumbnail_key == made.key
        source = scope.get_source("s1")
        assert source is not None and source.status == "ready"
    # With the overlay on, the hook sentence is drawn: the thumbnail's upper part changes, nothing else moves.
    [titled] = materialize_thumbnails(svc, "s1", title_overlay=True)
    assert titled.at_s == made.at_s
    assert json.loads(svc.store.get_bytes(keys["manifest"]))["title"] == "He was not an ill disposed young man."
