"""The clip encoder's speed tuning keeps the picture: same quality against a lossless encode as x264's own preset.

Real camera footage (the cockatoo clip from the shared media) is cropped and scaled to the 1080×1920 clip size the
way a render does it, encoded losslessly as the reference, then with the tuned encoder arguments and with the plain
preset. Quality is compared by SSIM and PSNR against the reference, and by file size.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from cliply.media.ffmpeg import ffmpeg_exe, run_ffmpeg
from cliply.media.presets import PRESETS
from cliply.media.render import _encoder_args

SSIM_TOLERANCE = 0.002  # far below a visible difference (~0.01)
PSNR_TOLERANCE_DB = 0.1
SIZE_TOLERANCE = 0.10
GEOMETRY = "crop=404:720:438:0,scale=1080:1920:flags=bicubic,setsar=1,fps=30,format=yuv420p"


def untuned(args: list[str]) -> list[str]:
    """The same arguments with the tuning pair removed: x264's plain preset."""
    i = args.index("-x264-params")
    return args[:i] + args[i + 2 :]


def quality(encoded: Path, reference: Path) -> tuple[float, float]:
    """(SSIM, PSNR in dB) of `encoded` against `reference`, over all frames."""
    graph = "[0:v][1:v]ssim;[0:v][1:v]psnr"
    cmd = [ffmpeg_exe(), "-hide_banner", "-i", str(encoded), "-i", str(reference), "-lavfi", graph, "-f", "null", "-"]
    log = subprocess.run(cmd, capture_output=True, text=True, check=True).stderr
    ssim = re.search(r"SSIM .*All:([0-9.]+)", log)
    psnr = re.search(r"PSNR .*average:([0-9.]+|inf)", log)
    assert ssim and psnr, log[-2000:]
    return float(ssim.group(1)), float(psnr.group(1))


@pytest.fixture(scope="module")
def encodes(tmp_path_factory: pytest.TempPathFactory, shared_media: Path) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("encoder")
    source = shared_media / "media" / "cockatoo.mp4"
    head = ["-i", str(source), "-t", "6", "-vf", GEOMETRY, "-an"]
    out = {"reference": tmp / "reference.mkv", "tuned": tmp / "tuned.mp4", "plain": tmp / "plain.mp4"}
    run_ffmpeg([*head, "-c:v", "libx264", "-preset", "ultrafast", "-qp", "0", str(out["reference"])])
    tuned = _encoder_args(PRESETS["universal"], "veryfast", 23)
    video_only = tuned[: tuned.index("-c:a")]
    run_ffmpeg([*head, *video_only, str(out["tuned"])])
    run_ffmpeg([*head, *untuned(video_only), str(out["plain"])])
    return out


def test_tuning_applies_to_the_default_preset_only() -> None:
    universal = PRESETS["universal"]
    assert "-x264-params" in _encoder_args(universal, "veryfast", 23)
    for other in ("ultrafast", "faster", "medium", "slow"):
        assert "-x264-params" not in _encoder_args(universal, other, 23)


def test_tuned_encode_keeps_the_plain_presets_quality(encodes: dict[str, Path]) -> None:
    ssim_tuned, psnr_tuned = quality(encodes["tuned"], encodes["reference"])
    ssim_plain, psnr_plain = quality(encodes["plain"], encodes["reference"])
    size_tuned, size_plain = encodes["tuned"].stat().st_size, encodes["plain"].stat().st_size
    print(
        f"\nSSIM {ssim_tuned:.5f} vs {ssim_plain:.5f}, PSNR {psnr_tuned:.3f} vs {psnr_plain:.3f} dB, "
        f"size {size_tuned} vs {size_plain} bytes"
    )
    assert ssim_tuned >= ssim_plain - SSIM_TOLERANCE
    assert psnr_tuned >= psnr_plain - PSNR_TOLERANCE_DB
    assert size_tuned <= size_plain * (1 + SIZE_TOLERANCE)
