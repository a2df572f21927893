"""Crop planning: salient-subject tracking on real footage without faces, tracking on a self-drawn moving face,
and the crop expression (pans and cuts)."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from cliply.media.ffmpeg import run_ffmpeg
from cliply.media.reframe import MAX_PAN_FRACTION_PER_S, CropPlan, crop_x_expression, plan_crop

W, H, FPS = 1280, 720, 25
FACE_S = 80  # half-width of the drawn face; the Haar cascade finds it from ~60 at this size


def face_x(t: float) -> float:
    """Ground truth: still for 1 s, then a steady move right (≈113 px/s), then still again."""
    return 300 + 680 * float(np.clip((t - 1.0) / 6.0, 0.0, 1.0))


def draw_face(img: np.ndarray, cx: int, cy: int, s: int) -> None:
    """A cartoon frontal face: skin oval, hair, brows, eyes with pupils, nose and mouth."""
    cv2.ellipse(img, (cx, cy), (s, int(s * 1.3)), 0, 0, 360, (150, 180, 220), -1)
    ey = cy - int(s * 0.25)
    for dx in (-int(s * 0.42), int(s * 0.42)):
        cv2.ellipse(img, (cx + dx, ey), (int(s * 0.22), int(s * 0.11)), 0, 0, 360, (255, 255, 255), -1)
        cv2.circle(img, (cx + dx, ey), int(s * 0.09), (30, 20, 20), -1)
        cv2.line(
            img,
            (cx + dx - int(s * 0.25), ey - int(s * 0.25)),
            (cx + dx + int(s * 0.25), ey - int(s * 0.28)),
            (40, 40, 60),
            max(2, s // 12),
        )
    cv2.ellipse(img, (cx, cy + int(s * 0.2)), (int(s * 0.1), int(s * 0.22)), 0, 0, 360, (120, 150, 190), -1)
    cv2.ellipse(img, (cx, cy + int(s * 0.62)), (int(s * 0.35), int(s * 0.1)), 0, 0, 360, (60, 60, 150), -1)
    cv2.ellipse(img, (cx, cy - int(s * 1.05)), (int(s * 1.05), int(s * 0.5)), 0, 180, 360, (30, 40, 60), -1)


@pytest.fixture(scope="module")
def moving_face_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("face") / "face.mp4"
    rng = np.random.default_rng(7)
    background = rng.integers(70, 110, (H, W, 3), dtype=np.uint8)  # textured, not flat
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=FPS, options={"preset": "ultrafast", "crf": "26"})
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        for i in range(9 * FPS):
            img = background.copy()
            draw_face(img, round(face_x(i / FPS)), H // 2, FACE_S)
            frame = av.VideoFrame.from_ndarray(img, format="bgr24")
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def eval_expression(expr: str, t: float) -> float:
    """Evaluate the ffmpeg expression subset crop_x_expression emits (if, lt, arithmetic on t)."""
    assert re.fullmatch(r"[0-9t+\-*/().,ifl ]*", expr), expr
    py = expr.replace("if(", "_if(").replace("lt(", "_lt(")
    return float(eval(py, {"_if": lambda c, a, b: a if c else b, "_lt": lambda a, b: a < b, "t": t}))


def test_real_footage_without_faces_follows_the_moving_subject(talk_video: Path) -> None:
    plan = plan_crop(talk_video, 3.0, 9.0)
    assert plan.method == "saliency"  # the cockatoo: no face, but a moving subject
    assert (plan.src_w, plan.src_h, plan.crop_h) == (1280, 720, 720)
    assert plan.crop_w == 404 and plan.crop_w % 2 == 0
    assert all(0 <= x <= plan.src_w - plan.crop_w for _, x in plan.keyframes)
    vmax = MAX_PAN_FRACTION_PER_S * plan.crop_w
    for (t0, x0), (t1, x1) in itertools.pairwise(plan.keyframes):
        assert t1 == t0 or abs(x1 - x0) / (t1 - t0) <= vmax + 1e-6


def test_centre_crop_expression_is_a_constant() -> None:
    plan = CropPlan(1280, 720, 404, 720, [(0.0, 438.0)], "center")
    assert crop_x_expression(plan) == "438"


def test_crop_follows_a_moving_face(moving_face_video: Path) -> None:
    start, end = 0.5, 8.5  # a clip that does not start at 0: keyframes must be clip-relative
    plan = plan_crop(moving_face_video, start, end, sample_fps=4.0)
    assert plan.method == "face"
    xs = [x for _, x in plan.keyframes]
    ts = [t for t, _ in plan.keyframes]
    assert ts[0] == 0.0 and ts[-1] == pytest.approx(end - start, abs=0.3)
    assert all(0 <= x <= plan.src_w - plan.crop_w for x in xs)
    assert len(plan.keyframes) <= 12, plan.keyframes  # simplified, and no jitter
    assert all(b >= a - 1 for a, b in itertools.pairwise(xs)), "the face only moves right; so must the crop"
    vmax = MAX_PAN_FRACTION_PER_S * plan.crop_w
    for (t0, x0), (t1, x1) in zip(plan.keyframes, plan.keyframes[1:], strict=False):
        assert abs(x1 - x0) / (t1 - t0) <= vmax + 1e-6
    # The whole face stays inside the crop window, from start to end.
    for t in np.arange(0.0, end - start, 0.1):
        cx = face_x(start + t)
        left = plan.x_at(t)
        assert left <= cx - FACE_S and cx + FACE_S <= left + plan.crop_w, (t, cx, left)
    assert xs[-1] - xs[0] > 500  # it really panned


def test_expression_matches_the_plan() -> None:
    plan = CropPlan(1280, 720, 404, 720, [(0.0, 100.0), (1.5, 100.0), (4.0, 600.0), (6.0, 650.0)], "face")
    expr = crop_x_expression(plan)
    for t in np.arange(-0.5, 7.0, 0.25):
        assert eval_expression(expr, float(t)) == pytest.approx(plan.x_at(float(t)), abs=0.05), t
    assert len(expr) < 200


def test_expression_switches_at_a_cut() -> None:
    plan = CropPlan(1280, 720, 404, 720, [(0.0, 100.0), (2.0, 160.0), (2.0, 800.0), (5.0, 800.0)], "speaker")
    assert plan.cuts == [2.0]
    expr = crop_x_expression(plan)
    for t in (0.0, 1.0, 1.96, 1.999, 2.0, 2.04, 4.0, 6.0):
        assert eval_expression(expr, t) == pytest.approx(plan.x_at(t), abs=0.05), t
    assert plan.x_at(1.999) == pytest.approx(160.0, abs=0.1) and plan.x_at(2.0) == 800.0


def test_already_vertical_source_is_not_cropped(tmp_path: Path) -> None:
    src = tmp_path / "vertical.mp4"
    run_ffmpeg(
        [
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=360x640:rate=25",
            "-t",
            "1",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            str(src),
        ]
    )
    plan = plan_crop(src, 0.0, 1.0)
    assert plan.method == "none"
    assert (plan.crop_w, plan.crop_h) == (360, 640)
