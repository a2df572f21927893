"""One-pass clip rendering on the real talk video: format envelope, burned and timed captions, edge cases."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from cliply.media.captions import CaptionStyle
from cliply.media.ffmpeg import run_ffmpeg
from cliply.media.presets import PRESETS, Preset, check_clip
from cliply.media.reframe import CropPlan
from cliply.media.render import RenderError, RenderRequest, escape_filter_value, render_clip, transcode_for
from cliply.media.types import Word

START, END = 7.0, 13.0
# Clip-relative timing: first word at 1.0 s, a 1.5 s pause between 3.0 and 4.5 s.
WORDS = [
    Word("he", 8.00, 8.40),
    Word("was", 8.40, 8.80),
    Word("not", 8.80, 9.30),
    Word("an", 9.30, 9.60),
    Word("ill", 9.60, 10.00),
    Word("disposed", 11.50, 12.20),
    Word("man", 12.20, 12.80),
]
MAGENTA = CaptionStyle(highlight_colour="#FF00FF")  # absent from the cockatoo footage, easy to count
BAND = (0.60, 0.80)  # caption block is centred at 70% of the height


def magenta_pixels(clip: Path, times: list[float]) -> dict[float, tuple[int, float]]:
    """(count, mean x) of highlight-coloured pixels in the caption band at each time."""
    out: dict[float, tuple[int, float]] = {}
    pending = sorted(times)
    with av.open(str(clip)) as c:
        for frame in c.decode(video=0):
            if not pending:
                break
            if frame.time is not None and frame.time + 1e-3 >= pending[0]:
                rgb = frame.to_ndarray(format="rgb24").astype(int)
                h = rgb.shape[0]
                band = rgb[int(h * BAND[0]) : int(h * BAND[1])]
                mask = (band[..., 0] > 170) & (band[..., 1] < 90) & (band[..., 2] > 170)
                xs = np.nonzero(mask)[1]
                out[pending.pop(0)] = (int(mask.sum()), float(xs.mean()) if xs.size else -1.0)
    assert not pending, f"frames not reached: {pending}"
    return out


@pytest.fixture(scope="module")
def rendered(talk_video: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("render") / "clip.mp4"
    seen: list[float] = []
    req = RenderRequest(
        talk_video, out, START, END, WORDS, None, PRESETS["universal"], x264_preset="ultrafast", style=MAGENTA
    )
    render_clip(req, progress=seen.append)
    assert seen and seen[-1] == 1.0
    return out


def test_clip_fits_the_universal_envelope(rendered: Path) -> None:
    from cliply.media.probe import probe

    info = probe(rendered)
    assert (info.width, info.height, info.video_codec, info.pix_fmt) == (1080, 1920, "h264", "yuv420p")
    assert (info.audio_codec, info.sample_rate, info.channels) == ("aac", 48000, 2)
    assert info.faststart is True
    assert info.fps == pytest.approx(30.0)
    assert info.duration == pytest.approx(END - START, abs=0.15)
    assert check_clip(info, PRESETS["universal"]) == []


def test_captions_are_burned_in_at_the_word_times(rendered: Path) -> None:
    # Each check sits 0.3 s or less from a caption edge, so captions shifted by >= 0.5 s fail at least one of them.
    silent = [0.5, 0.75, 3.55, 4.25]  # before the first word; inside the pause (after the 0.25 s linger)
    spoken = [1.2, 1.6, 2.05, 4.75, 5.5]  # mid "he", "was", "not"; just after "disposed" starts; "man"
    counts = magenta_pixels(rendered, silent + spoken)
    for t in silent:
        assert counts[t][0] < 30, (t, counts[t])
    for t in spoken:
        assert counts[t][0] > 400, (t, counts[t])
    # the highlight moves along the line with the spoken word
    assert counts[1.2][1] < counts[1.6][1] < counts[2.05][1]


def test_silent_source_gets_aac_and_a_panning_crop_renders(tmp_path: Path) -> None:
    src = tmp_path / "silent.mp4"
    run_ffmpeg(
        [
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=640x360:rate=25",
            "-t",
            "4",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            str(src),
        ]
    )
    small = Preset("small", 270, 480, 30, 1.0, 60.0, 50_000_000)
    plan = CropPlan(640, 360, 202, 360, [(0.0, 0.0), (2.5, 438.0)], "face")
    info = render_clip(RenderRequest(src, tmp_path / "out.mp4", 0.5, 3.5, [], plan, small, x264_preset="ultrafast"))
    assert info.audio_codec == "aac" and info.channels == 2
    assert (info.width, info.height) == (270, 480)
    assert info.duration == pytest.approx(3.0, abs=0.15)


def test_transcode_to_a_stricter_preset(rendered: Path, tmp_path: Path) -> None:
    info = transcode_for(PRESETS["x"], rendered, tmp_path / "x.mp4", x264_preset="ultrafast")
    assert (info.width, info.height) == (720, 1280)
    assert check_clip(info, PRESETS["x"]) == []


def test_missing_and_corrupt_sources_raise_clear_errors(tmp_path: Path) -> None:
    req = RenderRequest(tmp_path / "nope.mp4", tmp_path / "o.mp4", 0.0, 3.0, [], None, PRESETS["universal"])
    with pytest.raises(RenderError, match="not found"):
        render_clip(req)
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40)
    with pytest.raises(RenderError, match="not a readable video"):
        render_clip(RenderRequest(bad, tmp_path / "o.mp4", 0.0, 3.0, [], None, PRESETS["universal"]))


def test_filter_values_are_escaped_for_the_graph() -> None:
    assert escape_filter_value("/tmp/it's, a: [dir]/c.ass") == "/tmp/it\\\\\\'s\\, a\\\\: \\[dir\\]/c.ass"


def test_render_into_a_path_with_graph_special_characters(talk_video: Path, tmp_path: Path) -> None:
    out_dir = tmp_path / "it's, a: [dir]; ok"
    out_dir.mkdir()
    req = RenderRequest(
        talk_video,
        out_dir / "c.mp4",
        8.0,
        11.0,
        WORDS,
        None,
        Preset("s", 270, 480, 30, 1, 60, 10**9),
        x264_preset="ultrafast",
        style=MAGENTA,
    )
    # captions.ass lives in a temp dir; point TMPDIR at the awkward folder so its path is the hard one
    import tempfile

    old = tempfile.tempdir
    tempfile.tempdir = str(out_dir)
    try:
        info = render_clip(req)
    finally:
        tempfile.tempdir = old
    assert info.duration == pytest.approx(3.0, abs=0.15)
    assert magenta_pixels(out_dir / "c.mp4", [0.2])[0.2][0] > 20  # "he" burned in from the awkward path
