"""Render one vertical clip in a single ffmpeg pass: seek, framing (fill: a crop that pans and cuts; fit: the whole
frame over a blurred copy of itself; split: two crops stacked), scale, burned captions, fps, loudness-normalised AAC,
H.264 High yuv420p with faststart."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cliply.media.caption_styles import style_named
from cliply.media.captions import CaptionStyle, build_ass
from cliply.media.ffmpeg import FFmpegError, ProgressCallback, run_ffmpeg
from cliply.media.fonts import fonts_dir as packaged_fonts_dir
from cliply.media.presets import Preset
from cliply.media.probe import ProbeError, probe
from cliply.media.reframe import CropPlan, crop_x_expression
from cliply.media.types import MediaInfo, Word

AUDIO_RATE = 48000
AUDIO_BITRATE = "128k"
LOUDNORM = "loudnorm=I=-14:TP=-1.5:LRA=11"


class RenderError(RuntimeError):
    """The clip could not be rendered; the message says why in plain words."""


@dataclass(frozen=True)
class RenderRequest:
    source: Path
    output: Path
    start: float
    end: float
    words: Sequence[Word] = ()
    crop: CropPlan | None = None  # None: static centre crop to the preset's aspect
    preset: Preset | None = None
    x264_preset: str = "veryfast"
    crf: int = 23
    loudnorm: bool = True
    captions: bool = True
    style: CaptionStyle = field(default_factory=CaptionStyle)
    fonts_dir: Path | None = None  # None: the packaged caption fonts
    caption_style: str | None = None  # a preset name ("highlight", "pop", "boxed", "lower_third"); overrides `style`
    platforms: tuple[str, ...] | None = None  # targets whose unsafe zones captions avoid; None: all vertical ones
    layout: str = "fill"  # fill (the crop), fit (whole frame over a blurred copy) or split (`panels` stacked)
    panels: tuple[CropPlan, ...] = ()  # split: the top and bottom windows (each a crop plan at the panel's aspect)

    @property
    def resolved_style(self) -> CaptionStyle:
        return style_named(self.caption_style) if self.caption_style else self.style

    @property
    def duration(self) -> float:
        return self.end - self.start


def escape_filter_value(value: str) -> str:
    """Quote a string as one filter option value inside a filtergraph (two escaping levels: option, then graph)."""
    level1 = value.replace("\\", "\\\\").replace("'", "\\'").replace(":", "\\:")
    return "".join("\\" + c if c in "\\'[],;" else c for c in level1)


def _source_info(source: Path) -> MediaInfo:
    if not Path(source).is_file():
        raise RenderError(f"source video not found: {source}")
    try:
        info = probe(source)
    except ProbeError as exc:
        raise RenderError(f"source is not a readable video ({source}): {exc}") from exc
    if not info.has_video or not info.width or not info.height:
        raise RenderError(f"source has no video stream: {source}")
    return info


def _geometry_filters(plan: CropPlan | None, info: MediaInfo, preset: Preset) -> list[str]:
    w, h = preset.width, preset.height
    assert info.width and info.height
    if plan is None:
        crop_w = min(info.width, round(info.height * preset.aspect / 2) * 2)
        plan = CropPlan(info.width, info.height, crop_w, info.height, [(0.0, (info.width - crop_w) / 2)], "center")
    if plan.method == "none" or plan.crop_w >= info.width:
        # Already narrower than the target: letterbox rather than distort.
        return [f"scale={w}:{h}:force_original_aspect_ratio=decrease:flags=bicubic", f"pad={w}:{h}:(ow-iw)/2:(oh-ih)/2"]
    return [
        f"crop=w={plan.crop_w}:h={plan.crop_h}:x='{crop_x_expression(plan)}':y={plan.top}",
        f"scale={w}:{h}:flags=bicubic",
    ]


FIT_BLUR_SCALE = 8  # the fit layout's background is blurred at 1/8 of the output size, then scaled up
FIT_BLUR_RADIUS = 6


def fit_graph(w: int, h: int) -> str:
    """The fit layout from one input: the whole frame scaled to the output width, centred over a blurred, scaled-up
    copy of itself (blurred at low resolution: cheap)."""
    bw, bh = w // FIT_BLUR_SCALE // 2 * 2, h // FIT_BLUR_SCALE // 2 * 2
    return (
        f"split=2[bgsrc][fgsrc];"
        f"[bgsrc]scale={bw}:{bh}:force_original_aspect_ratio=increase:flags=fast_bilinear,crop={bw}:{bh},"
        f"boxblur={FIT_BLUR_RADIUS}:2,scale={w}:{h}:flags=bilinear[bg];"
        f"[fgsrc]scale={w}:-2:flags=bicubic[fg];"
        f"[bg][fg]overlay=x=0:y=(H-h)/2"
    )


def split_graph(panels: Sequence[CropPlan], w: int, h: int) -> str:
    """The split layout: each panel's crop (panning or cutting like a fill crop) scaled to w × h/len(panels),
    stacked top to bottom."""
    n = len(panels)
    ph = h // n // 2 * 2
    heights = [ph] * (n - 1) + [h - ph * (n - 1)]
    parts = [f"split={n}" + "".join(f"[p{i}]" for i in range(n))]
    for i, (p, hh) in enumerate(zip(panels, heights, strict=True)):
        parts.append(
            f"[p{i}]crop=w={p.crop_w}:h={p.crop_h}:x='{crop_x_expression(p)}':y={p.top},"
            f"scale={w}:{hh}:flags=bicubic[s{i}]"
        )
    parts.append("".join(f"[s{i}]" for i in range(n)) + f"vstack=inputs={n}")
    return ";".join(parts)


def _geometry_graph(req: RenderRequest, info: MediaInfo, preset: Preset) -> str:
    """The framing part of the graph, starting from the video input and open at its end (filters append with ,)."""
    assert info.width and info.height
    narrow = info.width / info.height <= preset.aspect + 1e-3
    if req.layout == "fit" and not narrow:
        return fit_graph(preset.width, preset.height)
    if req.layout == "split" and len(req.panels) >= 2 and not narrow:
        return split_graph(req.panels, preset.width, preset.height)
    return ",".join(_geometry_filters(req.crop, info, preset))


def _encoder_args(preset: Preset, x264_preset: str, crf: int) -> list[str]:
    kbps = preset.max_video_kbps
    # For veryfast, sub-pixel refinement by SAD instead of SATD (subme 2 → 1). On a 1080×1920 captioned clip this
    # takes 23 % less CPU for the same picture (SSIM -0.0002, PSNR -0.01 dB against a lossless encode).
    tuning = ["-x264-params", "subme=1"] if x264_preset == "veryfast" else []
    return [
        "-c:v",
        "libx264",
        "-preset",
        x264_preset,
        *tuning,
        "-crf",
        str(crf),
        "-profile:v",
        "high",
        "-pix_fmt",
        "yuv420p",
        # Closed 2-second GOPs and a VBV cap: what the platform specs ask for.
        "-g",
        str(preset.fps * 2),
        "-keyint_min",
        str(preset.fps * 2),
        "-sc_threshold",
        "0",
        "-maxrate",
        f"{kbps}k",
        "-bufsize",
        f"{kbps * 2}k",
        "-c:a",
        "aac",
        "-b:a",
        AUDIO_BITRATE,
        "-ar",
        str(AUDIO_RATE),
        "-ac",
        "2",
        "-movflags",
        "+faststart",
    ]


def build_ffmpeg_args(req: RenderRequest, ass_path: Path | None) -> list[str]:
    """ffmpeg arguments (no binary) for `req`; `ass_path` is the caption script, or None for no captions."""
    from cliply.media.presets import PRESETS

    preset = req.preset or PRESETS["universal"]
    info = _source_info(req.source)
    if req.duration <= 0:
        raise RenderError(f"empty clip: start {req.start} >= end {req.end}")
    if info.duration and req.start >= info.duration:
        raise RenderError(f"clip starts at {req.start:.2f}s but the source is only {info.duration:.2f}s long")

    if req.layout not in ("fill", "fit", "split"):
        raise RenderError(f"unknown layout {req.layout!r}: use fill, fit or split")
    vf = [_geometry_graph(req, info, preset), "setsar=1"]
    if ass_path is not None:
        sub = f"subtitles=filename={escape_filter_value(str(ass_path))}"
        sub += f":fontsdir={escape_filter_value(str(req.fonts_dir or packaged_fonts_dir()))}"
        vf.append(sub)
    vf += [f"fps={preset.fps}", "format=yuv420p"]
    audio_in = "[0:a:0]" if info.has_audio else "[1:a:0]"
    af = ([LOUDNORM] if req.loudnorm and info.has_audio else []) + [f"aresample={AUDIO_RATE}"]
    graph = f"[0:v:0]{','.join(vf)}[v];{audio_in}{','.join(af)}[a]"

    args = ["-ss", f"{req.start:.3f}", "-i", str(req.source)]
    if not info.has_audio:
        # Every platform expects an audio track; give silent sources a silent AAC one.
        args += ["-f", "lavfi", "-i", f"anullsrc=r={AUDIO_RATE}:cl=stereo"]
    args += ["-filter_complex", graph, "-map", "[v]", "-map", "[a]", "-t", f"{req.duration:.3f}"]
    args += _encoder_args(preset, req.x264_preset, req.crf)
    args += ["-map_metadata", "-1", str(req.output)]
    return args


def render_clip(req: RenderRequest, *, progress: ProgressCallback | None = None) -> MediaInfo:
    """Render `req` to `req.output` in one ffmpeg run and return the probe of the result."""
    from cliply.media.presets import PRESETS

    preset = req.preset or PRESETS["universal"]
    Path(req.output).parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="cliply-render-") as tmp:
        ass_path = None
        if req.captions and req.words:
            ass_path = Path(tmp) / "captions.ass"
            ass_path.write_text(
                build_ass(
                    req.words,
                    clip_start=req.start,
                    clip_end=req.end,
                    width=preset.width,
                    height=preset.height,
                    style=req.resolved_style,
                    platforms=req.platforms,
                ),
                encoding="utf-8",
            )
        args = build_ffmpeg_args(req, ass_path)
        try:
            run_ffmpeg(args, duration=req.duration, progress=progress)
        except FFmpegError as exc:
            raise RenderError(f"rendering {req.source} [{req.start:.2f}-{req.end:.2f}s] failed: {exc}") from exc
    return probe(req.output)


def transcode_for(
    preset: Preset,
    src: Path,
    dst: Path,
    *,
    x264_preset: str = "veryfast",
    crf: int = 23,
    progress: ProgressCallback | None = None,
) -> MediaInfo:
    """Re-encode an existing clip into a stricter preset (e.g. X's 720×1280), keeping the aspect (padding if needed)."""
    info = _source_info(src)
    w, h = preset.width, preset.height
    vf = (
        f"scale={w}:{h}:force_original_aspect_ratio=decrease:flags=bicubic,pad={w}:{h}:(ow-iw)/2:(oh-ih)/2,"
        f"setsar=1,fps={preset.fps},format=yuv420p"
    )
    args = ["-i", str(src)]
    if not info.has_audio:
        args += ["-f", "lavfi", "-i", f"anullsrc=r={AUDIO_RATE}:cl=stereo"]
    args += [
        "-map",
        "0:v:0",
        "-map",
        "0:a:0" if info.has_audio else "1:a:0",
        "-vf",
        vf,
        "-t",
        f"{min(info.duration, preset.max_duration_s):.3f}",
    ]
    args += [*_encoder_args(preset, x264_preset, crf), "-map_metadata", "-1", str(dst)]
    Path(dst).parent.mkdir(parents=True, exist_ok=True)
    try:
        run_ffmpeg(args, duration=info.duration, progress=progress)
    except FFmpegError as exc:
        raise RenderError(f"transcoding {src} for {preset.name} failed: {exc}") from exc
    return probe(dst)
