"""Word-synced ASS captions: short groups of words, the spoken word highlighted for exactly its own time span."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from cliply.media.types import Word


@dataclass(frozen=True)
class CaptionStyle:
    font: str = "DejaVu Sans"
    size: int = 84  # px at PlayResY=1920; scaled with the canvas height
    colour: str = "#FFFFFF"
    highlight_colour: str = "#FFD400"
    outline_colour: str = "#000000"
    outline: float = 5.0
    shadow: float = 1.5
    bold: bool = True
    highlight_scale: int = 112  # % size of the spoken word: a small "pop"
    words_per_line: int = 3
    max_lines: int = 2
    position: float = 0.70  # vertical centre of the caption block, as a fraction of the height
    max_gap_s: float = 0.7  # a pause longer than this ends a group: silence shows nothing
    linger_s: float = 0.25  # keep the last group briefly after its last word, never into the next group


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


def _groups(words: list[tuple[float, float, str]], style: CaptionStyle) -> list[list[tuple[float, float, str]]]:
    per_group = max(1, style.words_per_line * style.max_lines)
    groups: list[list[tuple[float, float, str]]] = []
    for w in words:
        current = groups[-1] if groups else None
        if (
            current is None
            or len(current) >= per_group
            or w[0] - current[-1][1] > style.max_gap_s
            or current[-1][2].rstrip()[-1:] in {".", "?", "!"}
        ):
            groups.append([w])
        else:
            current.append(w)
    return groups


def build_ass(
    words: Sequence[Word],
    *,
    clip_start: float,
    clip_end: float,
    width: int = 1080,
    height: int = 1920,
    style: CaptionStyle = CaptionStyle(),
) -> str:
    """An ASS script for the clip [clip_start, clip_end] of the source; times in it are clip-relative."""
    duration = max(0.0, clip_end - clip_start)
    clipped: list[tuple[float, float, str]] = []
    for w in sorted(words, key=lambda w: w.start):
        text = escape_ass_text(w.word.strip())
        s, e = max(0.0, w.start - clip_start), min(duration, w.end - clip_start)
        if text and e > s:
            clipped.append((s, e, text))

    size = max(8, round(style.size * height / 1920))
    outline = style.outline * height / 1920
    x, y = width // 2, round(height * style.position)
    hi = _ass_colour(style.highlight_colour)
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
        f"Style: Caption,{style.font},{size},{_ass_colour(style.colour)},{hi},{_ass_colour(style.outline_colour)},"
        f"{_ass_colour(style.outline_colour, 0x80)},{-1 if style.bold else 0},0,0,0,100,100,0,0,1,"
        f"{outline:.1f},{style.shadow:.1f},5,40,40,0,1",
        "",
        "[Events]",
        "Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text",
    ]
    groups = _groups(clipped, style)
    for gi, group in enumerate(groups):
        show_start = group[0][0]
        next_start = groups[gi + 1][0][0] if gi + 1 < len(groups) else duration
        show_end = min(group[-1][1] + style.linger_s, max(group[-1][1], next_start), duration)
        cuts = sorted({show_start, show_end, *(t for w in group for t in w[:2] if show_start < t < show_end)})
        for a, b in itertools.pairwise(cuts):
            if _ass_time(a) == _ass_time(b):
                continue
            mid = (a + b) / 2
            active = max((i for i, w in enumerate(group) if w[0] <= mid < w[1]), default=None)
            parts = []
            for i, (_, _, text) in enumerate(group):
                if i == active:
                    s = style.highlight_scale
                    text = f"{{\\1c{hi}&\\fscx{s}\\fscy{s}}}{text}{{\\r}}"
                parts.append(text)
            rows = [" ".join(parts[i : i + style.words_per_line]) for i in range(0, len(parts), style.words_per_line)]
            body = f"{{\\an5\\pos({x},{y})}}" + "\\N".join(rows)
            lines.append(f"Dialogue: 0,{_ass_time(a)},{_ass_time(b)},Caption,,0,0,0,,{body}")
    return "\n".join(lines) + "\n"
