"""Caption style presets rendered for real: each style's words at their times, nothing under platform buttons,
emphasis on numbers, the packaged font, preview frames."""

from __future__ import annotations

import io
import re
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from cliply.media.caption_styles import (
    SAFE_ZONES,
    STYLES,
    Insets,
    is_emphasis,
    style_named,
    unsafe_insets,
)
from cliply.media.captions import build_ass, preview_frame
from cliply.media.ffmpeg import run_ffmpeg
from cliply.media.fonts import FAMILY, fonts_dir, text_width
from cliply.media.presets import Preset
from cliply.media.render import RenderRequest, build_ffmpeg_args, render_clip
from cliply.media.types import Word

W, H = 540, 960
SMALL = Preset("small", W, H, 30, 1.0, 60.0, 10**9)
BG = (0x2B, 0x34, 0x40)
# Clip-relative times (the clip starts at 0): a pause from 2.4 to 3.8 s, then a sentence, then a word too wide to fit.
WORDS = [
    Word("Mississippi", 0.50, 1.10),
    Word("is", 1.10, 1.40),
    Word("42", 1.40, 1.90),
    Word("miles", 1.90, 2.40),
    Word("wide.", 3.80, 4.40),
    Word("incomprehensibilities", 4.60, 5.40),
]
SILENT = [0.25, 3.2]
YELLOW = ((170, 256), (170, 256), (0, 100))  # highlight / emphasis yellow #FFD400
GREEN = ((40, 130), (180, 256), (40, 140))  # highlight style's emphasis green #4CE65A


def colour_mask(rgb: np.ndarray, rng: tuple[tuple[int, int], ...]) -> np.ndarray:
    m = np.ones(rgb.shape[:2], bool)
    for c, (lo, hi) in enumerate(rng):
        m &= (rgb[..., c] >= lo) & (rgb[..., c] < hi)
    return m


def caption_mask(rgb: np.ndarray) -> np.ndarray:
    """Anything that is not the plain background: glyphs, outline, shadow, box."""
    return np.abs(rgb.astype(int) - np.array(BG)).max(axis=2) > 24


def bright_mask(rgb: np.ndarray) -> np.ndarray:
    """Glyph fill only (white, yellow or green text), not the dark outline or box."""
    return rgb.max(axis=2) > 150


def extent(mask: np.ndarray) -> float:
    xs = np.nonzero(mask)[1]
    return float(xs.max() - xs.min() + 1) if xs.size else 0.0


def frames_at(clip: Path, times: list[float]) -> dict[float, np.ndarray]:
    out: dict[float, np.ndarray] = {}
    pending = sorted(times)
    with av.open(str(clip)) as c:
        for frame in c.decode(video=0):
            if not pending:
                break
            if frame.time is not None and frame.time + 1e-3 >= pending[0]:
                out[pending.pop(0)] = frame.to_ndarray(format="rgb24")
    assert not pending, f"frames not reached: {pending}"
    return out


@pytest.fixture(scope="module")
def footage(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = tmp_path_factory.mktemp("styles") / "plain.mp4"
    run_ffmpeg(
        [
            *("-f", "lavfi", "-i", f"color=c=0x2B3440:s={W}x{H}:r=30:d=6.5", "-f", "lavfi", "-i", "sine=f=220:d=6.5"),
            *("-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", str(src)),
        ]
    )
    return src


@pytest.fixture(scope="module")
def renders(footage: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = {}
    d = tmp_path_factory.mktemp("styled")
    for name in STYLES:
        clip = d / f"{name}.mp4"
        req = RenderRequest(footage, clip, 0.0, 6.0, WORDS, None, SMALL, x264_preset="ultrafast", caption_style=name)
        render_clip(req)
        out[name] = clip
    return out


def size_px(name: str) -> float:
    return max(8, round(STYLES[name].size * H / 1920))


def spoken(t: float) -> Word:
    return next(w for w in WORDS if w.start <= t < w.end)


PROBES = [0.8, 1.25, 1.65, 2.15, 4.1]  # mid "Mississippi", "is", "42", "miles", "wide."
# the widest row on screen: "Mississippi is 42" over "miles", then "wide." alone
GROUP = {t: ("wide." if t > 3 else "Mississippi is 42") for t in PROBES}
LINE = {t: ("wide." if t > 3 else "Mississippi is 42 miles") for t in PROBES}


def close(measured: float, expected: float) -> bool:
    return abs(measured - expected) <= 0.12 * expected + 4


def test_highlight_shows_each_word_highlighted_at_its_time(renders: dict[str, Path]) -> None:
    frames = frames_at(renders["highlight"], SILENT + PROBES)
    for t in SILENT:
        assert caption_mask(frames[t]).sum() == 0, t
    centres = []
    for t in PROBES:
        rgb = frames[t]
        w = spoken(t)
        yellow = colour_mask(rgb, YELLOW)
        expected = text_width(w.word, size_px("highlight")) * 1.12
        assert close(extent(yellow), expected), (t, w.word, extent(yellow), expected)
        assert close(extent(bright_mask(rgb)), text_width(GROUP[t], size_px("highlight"))), (t, GROUP[t])
        centres.append(float(np.nonzero(yellow)[1].mean()))
    # the highlight moves along the row with the spoken word
    assert centres[0] < centres[1] < centres[2]


def test_pop_shows_one_enlarged_word_at_a_time(renders: dict[str, Path]) -> None:
    frames = frames_at(renders["pop"], SILENT + PROBES)
    for t in SILENT:
        assert caption_mask(frames[t]).sum() == 0, t
    for t in PROBES:
        w = spoken(t)
        expected = text_width(w.word, size_px("pop")) * STYLES["pop"].highlight_scale / 100
        got = extent(bright_mask(frames[t]))
        assert close(got, expected), (t, w.word, got, expected)


@pytest.mark.parametrize("name", ["boxed", "lower_third"])
def test_line_styles_show_the_line_being_spoken(renders: dict[str, Path], name: str) -> None:
    frames = frames_at(renders[name], SILENT + PROBES)
    for t in SILENT:
        assert caption_mask(frames[t]).sum() == 0, t
    for t in PROBES:
        got = extent(bright_mask(frames[t]))
        expected = text_width(LINE[t], size_px(name), bold=STYLES[name].bold)
        assert close(got, expected), (name, t, LINE[t], got, expected)


def test_boxed_draws_a_semi_opaque_box_and_lower_third_sits_low(renders: dict[str, Path]) -> None:
    rgb = frames_at(renders["boxed"], [1.65])[1.65].astype(int)
    box = (np.abs(rgb - np.array(BG)).max(axis=2) > 8) & (rgb.max(axis=2) < BG[2] - 8)
    ys, xs = np.nonzero(box)
    assert box.sum() > 2000
    inside = rgb[ys, xs]
    # darker than the background but not black: the footage shows through the box
    assert 4 < inside.max(axis=1).mean() < BG[2] - 8
    low = frames_at(renders["lower_third"], [1.65])[1.65]
    hi = frames_at(renders["highlight"], [1.65])[1.65]
    assert np.nonzero(caption_mask(low))[0].mean() > np.nonzero(caption_mask(hi))[0].mean()


def test_nothing_is_drawn_inside_any_platform_unsafe_zone(renders: dict[str, Path]) -> None:
    ins = unsafe_insets(width=W, height=H)
    times = [0.8, 1.25, 1.65, 2.15, 4.1, 4.7, 5.0, 5.3]
    for name, clip in renders.items():
        for t, rgb in frames_at(clip, times).items():
            m = caption_mask(rgb)
            assert m.sum() > 0, (name, t)
            ys, xs = np.nonzero(m)
            assert ys.min() >= ins.top and ys.max() < H - ins.bottom, (name, t, ys.min(), ys.max())
            assert xs.min() >= ins.left and xs.max() < W - ins.right, (name, t, xs.min(), xs.max())


def test_unsafe_zone_is_the_union_of_the_target_platforms() -> None:
    assert unsafe_insets(["tiktok"]) == SAFE_ZONES["tiktok"]
    both = unsafe_insets(["tiktok", "youtube"])
    assert both.bottom == max(SAFE_ZONES["tiktok"].bottom, SAFE_ZONES["youtube"].bottom)
    assert both.right == max(SAFE_ZONES["tiktok"].right, SAFE_ZONES["youtube"].right)
    assert unsafe_insets() == unsafe_insets(["tiktok", "instagram", "youtube", "facebook"])
    assert unsafe_insets(["bluesky"]) == Insets(0, 0, 60, 60)
    assert unsafe_insets(["tiktok"], width=540, height=960) == Insets(75, 240, 30, 70)
    # the caption moves with the targets: lower_third sits right above the band of the chosen platforms
    ys = {}
    for targets in (["youtube"], ["tiktok"]):
        ass = build_ass(WORDS, clip_start=0.0, clip_end=6.0, style=STYLES["lower_third"], platforms=targets)
        m = re.search(r"\\pos\((\d+),(\d+)\)", ass)
        assert m
        ys[targets[0]] = int(m.group(2))
    assert ys["youtube"] > ys["tiktok"]


def test_emphasis_colours_numbers_in_every_style_but_lower_third(renders: dict[str, Path]) -> None:
    # at 1.25 s "is" is spoken and "42" is on screen (one word at a time for pop: check at 1.65 s)
    colours = {"highlight": (GREEN, 1.25), "pop": (YELLOW, 1.65), "boxed": (YELLOW, 1.25)}
    for name, (rng, t) in colours.items():
        rgb = frames_at(renders[name], [t, 4.1])
        em = colour_mask(rgb[t], rng)
        assert em.sum() > 30, name
        assert close(extent(em), text_width("42", size_px(name)) * (1.18 if name == "pop" else 1.0)), name
        assert colour_mask(rgb[4.1], rng).sum() < 5, name  # "wide." is not emphasised
    low = frames_at(renders["lower_third"], [1.25])[1.25]
    assert colour_mask(low, YELLOW).sum() + colour_mask(low, GREEN).sum() < 5
    assert is_emphasis("42") and is_emphasis("$10") and is_emphasis("90%") and is_emphasis("NEVER")
    assert is_emphasis("never") and not is_emphasis("hello") and not is_emphasis("I") and not is_emphasis("x2y")


def test_the_packaged_font_is_named_and_its_folder_given_to_libass(footage: Path, tmp_path: Path) -> None:
    folder = fonts_dir()
    faces = {p.name for p in folder.glob("*.ttf")}
    assert {"SourceSansPro-Bold.ttf", "SourceSansPro-Regular.ttf"} <= faces
    from PIL import ImageFont

    assert ImageFont.truetype(str(folder / "SourceSansPro-Bold.ttf"), 20).getname() == (FAMILY, "Bold")
    assert (folder / "LICENSE.txt").read_text().count("SIL Open Font License") >= 1
    for name in STYLES:
        ass = build_ass(WORDS, clip_start=0.0, clip_end=6.0, style=style_named(name))
        assert re.search(rf"^Style: Caption,{FAMILY},", ass, re.M), name
    args = build_ffmpeg_args(
        RenderRequest(footage, tmp_path / "o.mp4", 0.0, 2.0, WORDS, None, SMALL), tmp_path / "c.ass"
    )
    graph = args[args.index("-filter_complex") + 1]
    assert f"fontsdir={folder}" in graph.replace("\\", "")


def test_caption_style_by_name_and_unknown_names() -> None:
    assert RenderRequest(Path("a"), Path("b"), 0, 1, caption_style="pop").resolved_style == STYLES["pop"]
    assert RenderRequest(Path("a"), Path("b"), 0, 1).resolved_style == STYLES["highlight"]
    assert style_named("Lower-Third") == STYLES["lower_third"]
    with pytest.raises(ValueError, match="highlight, pop, boxed, lower_third"):
        style_named("comic-sans")


@pytest.mark.parametrize("name", list(STYLES))
def test_preview_frame_is_a_png_with_the_caption(name: str) -> None:
    png = preview_frame(name, WORDS, (W, H), at=1.65)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    img = Image.open(io.BytesIO(png)).convert("RGB")
    assert img.size == (W, H)
    m = caption_mask(np.asarray(img))
    assert m.sum() > 200
    ins = unsafe_insets(width=W, height=H)
    ys, xs = np.nonzero(m)
    assert ys.min() >= ins.top and ys.max() < H - ins.bottom and xs.max() < W - ins.right
