"""Word-synced ASS captions in a named style: short groups of words (or one word at a time), the spoken word
highlighted for exactly its own time span, emphasis on numbers and key words, kept inside every target platform's
safe area."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from cliply.media.caption_styles import CaptionStyle, Insets, is_emphasis, unsafe_insets
from cliply.media.fonts import text_width
from cliply.media.types import Word

__all__ = ["CaptionStyle", "build_ass", "caption_layout", "escape_ass_text"]


DEFAULT_CAPTION_STYLE = CaptionStyle()


def _ass_colour(hex_rgb: str, alpha: int = 0) -> str:
    h = hex_rgb.lstrip("#")
    if len(h) != 6:
        raise ValueError(f"colour must be #RRGGBB, got {hex_rgb!r}")
    r, g, b = h[0:2], h[2:4], h[4:6]
    return f"&H{alpha:02X}{b}{g}{r}".upper()


def _ass_time(t: float) -> str:
    cs = max(0, round(t * 100))
    h, rem = divmod(cs, 360000)
    m, rem = divmod(rem, 6000)
    s, cs = divmod(rem, 100)
    return f"{h}:{m:02d}:{s:02d}.{cs:02d}"


def escape_ass_text(text: str) -> str:
    """Make a word inert in an ASS Dialogue line: no override blocks, no \\N/\\h escapes, no line breaks."""
    text = " ".join(text.split())  # newlines/tabs → single spaces
    # Braces open/close override blocks and libass has no reliable escape for them: show parentheses instead.
    text = text.replace("{", "(").replace("}", ")")
    # A word joiner after each backslash stops libass reading "\N", "\h", "\n" as escapes; it renders as nothing.
    return text.replace("\\", "\\\u2060")


@dataclass(frozen=True)
class _W:
    start: float
    end: float
    text: str  # escaped for ASS
    raw: str  # as spoken, for measuring and emphasis


@dataclass(frozen=True)
class CaptionLayout:
    """Pixel geometry of one caption style on one canvas: font size, padding and the safe area it must stay in."""

    size: int
    outline: float
    pad: float  # outline/box padding + shadow around the text
    insets: Insets
    width: int
    height: int

    @property
    def safe_width(self) -> float:
        return self.width - self.insets.left - self.insets.right - 2 * self.pad


def caption_layout(
    style: CaptionStyle, width: int, height: int, platforms: Sequence[str] | None = None
) -> CaptionLayout:
    size = max(8, round(style.size * height / 1920))
    outline = style.outline * height / 1920
    shadow = style.shadow * height / 1920
    pad = outline + shadow + 4
    return CaptionLayout(size, outline, pad, unsafe_insets(platforms, width=width, height=height), width, height)


def _row_width(words: Sequence[_W], style: CaptionStyle, lay: CaptionLayout) -> float:
    text = " ".join(w.raw for w in words)
    return text_width(text, lay.size, bold=style.bold) * style.max_scale / 100


def _groups(words: list[_W], style: CaptionStyle) -> list[list[list[_W]]]:
    """Groups of rows: at most words_per_line words a row and max_lines rows a group; a long pause or the end of a
    sentence starts a new group. A row too wide for the safe area is shrunk to fit, never moved."""
    per_group = 1 if style.one_word else max(1, style.words_per_line * style.max_lines)
    flat: list[list[_W]] = []
    for w in words:
        current = flat[-1] if flat else None
        if (
            current is None
            or len(current) >= per_group
            or w.start - current[-1].end > style.max_gap_s
            or current[-1].raw.rstrip()[-1:] in {".", "?", "!"}
        ):
            flat.append([w])
        else:
            current.append(w)
    n = 1 if style.one_word else max(1, style.words_per_line)
    return [[g[i : i + n] for i in range(0, len(g), n)] for g in flat]


def build_ass(
    words: Sequence[Word],
    *,
    clip_start: float,
    clip_end: float,
    width: int = 1080,
    height: int = 1920,
    style: CaptionStyle = DEFAULT_CAPTION_STYLE,
    platforms: Sequence[str] | None = None,
) -> str:
    """An ASS script for the clip [clip_start, clip_end] of the source; times in it are clip-relative.

    `platforms`: the targets whose unsafe zones the captions must avoid (default: every vertical platform).
    """
    duration = max(0.0, clip_end - clip_start)
    clipped: list[_W] = []
    for w in sorted(words, key=lambda w: w.start):
        raw = " ".join(w.word.split())
        text = escape_ass_text(raw)
        s, e = max(0.0, w.start - clip_start), min(duration, w.end - clip_start)
        if text and e > s:
            clipped.append(_W(s, e, text, raw))

    lay = caption_layout(style, width, height, platforms)
    ins = lay.insets
    hi = _ass_colour(style.highlight_colour) if style.highlight_colour else None
    emph = _ass_colour(style.emphasis_colour) if style.emphasis_colour else None
    if style.box:
        # BorderStyle 4 (libass): one box per line in BackColour, padded by the outline width; the outline itself is
        # transparent, so coloured words never split the box into overlapping pieces.
        border_style, outline_c, back_c = 4, "&HFF000000", _ass_colour(style.box_colour, style.box_alpha)
    else:
        border_style = 1
        outline_c, back_c = _ass_colour(style.outline_colour), _ass_colour(style.outline_colour, 0x80)
    lines = [
        "[Script Info]",
        "ScriptType: v4.00+",
        f"PlayResX: {width}",
        f"PlayResY: {height}",
        "WrapStyle: 2",
        "ScaledBorderAndShadow: yes",
        "YCbCr Matrix: TV.709",
        "",
        "[V4+ Styles]",
        "Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, Italic, "
        "Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, "
        "MarginL, MarginR, MarginV, Encoding",
        "",
        "[Events]",
        "Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text",
    ]

    def style_line(name: str, size: int, outline: float) -> str:
        return (
            f"Style: {name},{style.font},{size},{_ass_colour(style.colour)},{hi or _ass_colour(style.colour)},"
            f"{outline_c},{back_c},{-1 if style.bold else 0},0,0,0,100,100,0,0,{border_style},"
            f"{outline:.1f},{style.shadow * height / 1920:.1f},5,{ins.left},{ins.right},0,1"
        )

    fits: set[int] = set()
    events: list[str] = []
    groups = _groups(clipped, style)
    for gi, rows in enumerate(groups):
        group = [w for row in rows for w in row]
        show_start = group[0].start
        next_start = groups[gi + 1][0][0].start if gi + 1 < len(groups) else duration
        show_end = min(group[-1].end + style.linger_s, max(group[-1].end, next_start), duration)

        widest = max(_row_width(row, style, lay) for row in rows)
        fit = min(1.0, lay.safe_width / widest) if widest > 0 else 1.0  # shrink only a word too wide to fit
        f = round(100 * fit)
        block_w = widest * fit + 2 * lay.pad
        block_h = len(rows) * lay.size * style.max_scale / 100 * fit + 2 * lay.pad
        x = min(max(width / 2, ins.left + block_w / 2), width - ins.right - block_w / 2)
        y = min(max(height * style.position, ins.top + block_h / 2), height - ins.bottom - block_h / 2)
        prefix = f"{{\\an5\\pos({round(x)},{round(y)})}}"
        reset = "{\\r}"
        # A row too wide for the safe area is drawn in a smaller copy of the style (CaptionNN: NN % of the size).
        name = "Caption" if f >= 100 else f"Caption{f}"
        if f < 100:
            fits.add(f)

        def body(active: int | None, rows: list[list[_W]] = rows, reset: str = reset) -> str:
            i = 0
            out_rows: list[str] = []
            for row in rows:
                parts: list[str] = []
                for w in row:
                    text = w.text
                    if i == active and hi:
                        s = style.highlight_scale
                        text = f"{{\\1c{hi}&\\fscx{s}\\fscy{s}}}{text}{reset}"
                    elif emph and is_emphasis(w.raw):
                        text = f"{{\\c{emph}&}}{text}{reset}"
                    parts.append(text)
                    i += 1
                out_rows.append(" ".join(parts))
            return "\\N".join(out_rows)

        if style.one_word:
            s = style.highlight_scale
            grow = f"{{\\t(0,{min(120, round((group[0].end - show_start) * 500))},\\fscx{s}\\fscy{s})}}"
            text = prefix + grow + body(None)
            events.append(f"Dialogue: 0,{_ass_time(show_start)},{_ass_time(show_end)},{name},,0,0,0,,{text}")
            continue
        if not hi:
            text = prefix + body(None)
            events.append(f"Dialogue: 0,{_ass_time(show_start)},{_ass_time(show_end)},{name},,0,0,0,,{text}")
            continue
        cuts = sorted(
            {show_start, show_end, *(t for w in group for t in (w.start, w.end) if show_start < t < show_end)}
        )
        for a, b in itertools.pairwise(cuts):
            if _ass_time(a) == _ass_time(b):
                continue
            mid = (a + b) / 2
            active = max((i for i, w in enumerate(group) if w.start <= mid < w.end), default=None)
            events.append(f"Dialogue: 0,{_ass_time(a)},{_ass_time(b)},{name},,0,0,0,,{prefix}{body(active)}")
    styles = [style_line("Caption", lay.size, lay.outline)]
    styles += [
        style_line(f"Caption{f}", max(8, round(lay.size * f / 100)), lay.outline * f / 100) for f in sorted(fits)
    ]
    at = lines.index("[Events]") - 1
    return "\n".join([*lines[:at], *styles, *lines[at:], *events]) + "\n"


def preview_frame(
    style: CaptionStyle | str,
    words: Sequence[Word],
    size: tuple[int, int] = (1080, 1920),
    *,
    at: float | None = None,
    platforms: Sequence[str] | None = None,
) -> bytes:
    """A PNG of one frame with the caption as it looks at `at` (default: the middle of the first word), on a plain
    dark background, drawn by libass with the packaged fonts exactly as in a render."""
    import tempfile
    from pathlib import Path

    from cliply.media.caption_styles import style_named
    from cliply.media.ffmpeg import run_ffmpeg
    from cliply.media.fonts import fonts_dir
    from cliply.media.render import escape_filter_value

    chosen = style_named(style) if isinstance(style, str) else style
    width, height = size
    if at is None:
        first = min(words, key=lambda w: w.start) if words else None
        at = (first.start + first.end) / 2 if first else 0.0
    start = min([at, *(w.start for w in words)])
    with tempfile.TemporaryDirectory(prefix="cliply-preview-") as tmp:
        ass, png = Path(tmp) / "preview.ass", Path(tmp) / "preview.png"
        script = build_ass(
            words, clip_start=start, clip_end=at + 1.0, width=width, height=height, style=chosen, platforms=platforms
        )
        ass.write_text(script, encoding="utf-8")
        vf = f"subtitles=filename={escape_filter_value(str(ass))}:fontsdir={escape_filter_value(str(fonts_dir()))}"
        run_ffmpeg(
            [
                *("-f", "lavfi", "-i", f"color=c=0x2B3440:s={width}x{height}:r=30:d={at - start + 0.5:.3f}"),
                *("-vf", vf, "-ss", f"{at - start:.3f}", "-frames:v", "1", "-f", "image2", "-c:v", "png", str(png)),
            ]
        )
        return png.read_bytes()
