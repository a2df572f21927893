"""The layouts rendered by ffmpeg: a fill crop that cuts (a step, never a pan across), fit (the whole frame over a
blurred copy of itself) and split (two crops stacked), on a colour-coded source; and the demo's sample footage, whose
framing follows a real face."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from cliply.media.ffmpeg import run_ffmpeg
from cliply.media.presets import Preset
from cliply.media.reframe import CropPlan, plan_framing
from cliply.media.render import RenderError, RenderRequest, render_clip
from cliply.samples import build_talk_video, portrait_face_box
from tests.fixtures.media import SHARED, require_shared

pytestmark = pytest.mark.integration  # renders with ffmpeg

SMALL = Preset("small", 270, 480, 30, 1.0, 60.0, 50_000_000)


@pytest.fixture(scope="module")
def red_blue(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """640×360, 3 s: the left half red, the right half blue, with a tone."""
    src = tmp_path_factory.mktemp("rb") / "rb.mp4"
    run_ffmpeg(
        [
            "-f", "lavfi", "-i", "color=c=red:s=320x360:r=25:d=3",
            "-f", "lavfi", "-i", "color=c=blue:s=320x360:r=25:d=3",
            "-f", "lavfi", "-i", "sine=frequency=440:duration=3",
            "-filter_complex", "[0:v][1:v]hstack=inputs=2,format=yuv420p[v]",
            "-map", "[v]", "-map", "2:a", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", str(src),
        ]
    )  # fmt: skip
    return src


def frames(path: Path) -> list[tuple[float, np.ndarray]]:
    with av.open(str(path)) as c:
        return [(float(f.time), f.to_ndarray(format="rgb24").astype(int)) for f in c.decode(video=0)]


def redness(rgb: np.ndarray) -> float:
    """Share of red pixels minus share of blue ones: +1 all red, -1 all blue."""
    red = (rgb[..., 0] > 150) & (rgb[..., 2] < 100)
    blue = (rgb[..., 2] > 150) & (rgb[..., 0] < 100)
    return float(red.mean() - blue.mean())


def test_fill_crop_cuts_in_one_frame(red_blue: Path, tmp_path: Path) -> None:
    plan = CropPlan(640, 360, 202, 360, [(0.0, 20.0), (1.5, 60.0), (1.5, 420.0), (3.0, 420.0)], "speaker")
    out = tmp_path / "cut.mp4"
    render_clip(RenderRequest(red_blue, out, 0.0, 3.0, [], plan, SMALL, x264_preset="ultrafast"))
    seen = frames(out)
    assert len(seen) >= 80
    for t, rgb in seen:
        r = redness(rgb)
        if t < 1.5 - 0.04:
            assert r > 0.95, (t, r)  # the red half, panning slowly inside it
        elif t > 1.5 + 0.04:
            assert r < -0.95, (t, r)  # the blue half: switched at once, never a frame in between
        else:
            assert abs(r) > 0.95, (t, r)


def test_fit_shows_the_whole_frame_over_a_blurred_copy(red_blue: Path, tmp_path: Path) -> None:
    out = tmp_path / "fit.mp4"
    info = render_clip(RenderRequest(red_blue, out, 0.0, 2.0, [], None, SMALL, x264_preset="ultrafast", layout="fit"))
    assert (info.width, info.height) == (270, 480)
    _, rgb = frames(out)[10]
    band = rgb[240 - 60 : 240 + 60]  # the 16:9 frame, 270×152, centred
    assert redness(band[:, 10:120]) > 0.9 and redness(band[:, 150:260]) < -0.9  # both halves, sharp and whole
    top = rgb[10:140]
    assert top.mean() > 40, "background must be the blurred copy, not black"
    # Blurred: the red→blue edge of the background is a gradient, not a step.
    row = top[60, :, 0]
    assert np.count_nonzero((row > 60) & (row < 200)) > 15


def test_split_stacks_two_crops(red_blue: Path, tmp_path: Path) -> None:
    top = CropPlan(640, 360, 288, 256, [(0.0, 10.0)], "face", 50)
    bottom = CropPlan(640, 360, 288, 256, [(0.0, 340.0)], "face", 50)
    out = tmp_path / "split.mp4"
    req = RenderRequest(
        red_blue, out, 0.0, 2.0, [], None, SMALL, x264_preset="ultrafast", layout="split", panels=(top, bottom)
    )
    info = render_clip(req)
    assert (info.width, info.height) == (270, 480)
    _, rgb = frames(out)[10]
    assert redness(rgb[:236]) > 0.95 and redness(rgb[244:]) < -0.95


def test_unknown_layout_is_refused(red_blue: Path, tmp_path: Path) -> None:
    with pytest.raises(RenderError, match="layout"):
        render_clip(RenderRequest(red_blue, tmp_path / "x.mp4", 0.0, 1.0, [], None, SMALL, layout="mosaic"))


def test_demo_footage_has_a_real_face_the_crop_follows(tmp_path: Path) -> None:
    require_shared()
    talk = build_talk_video(SHARED / "media", tmp_path / "talk.mp4", size="640x360", footage="portrait")
    plan = plan_framing(talk, 4.0, 16.0, layout="auto")
    assert plan.method == "face" and plan.layout == "fill"
    hits = []
    for t in np.arange(0.0, 12.0, 0.1):
        x, _, w, _ = portrait_face_box(640, 360, 4.0 + float(t))
        left = plan.crop.x_at(float(t))
        hits.append(left <= x and x + w <= left + plan.crop.crop_w)
    assert sum(hits) / len(hits) >= 0.95
    assert plan.crop.keyframes[-1][1] - plan.crop.keyframes[0][1] > 100  # the portrait moved and the crop with it
