"""ASS caption scripts: word-level highlight timing, grouping, silences and escaping."""

from __future__ import annotations

import itertools
import re

import pytest

from cliply.media.captions import CaptionStyle, build_ass, escape_ass_text
from cliply.media.types import Word

CLIP_START = 10.0
WORDS = [
    Word("So", 10.50, 10.70),
    Word("here's", 10.70, 11.05),
    Word("the", 11.05, 11.20),
    Word("thing", 11.20, 11.60),
    Word("about", 11.65, 11.90),
    Word("clips.", 11.90, 12.40),
    # 2.6 s of silence
    Word("Short", 15.00, 15.30),
    Word("is", 15.30, 15.45),
    Word("better", 15.45, 15.90),
]


def parse_events(ass: str) -> list[tuple[float, float, str]]:
    out = []
    for line in ass.splitlines():
        if line.startswith("Dialogue:"):
            _, start, end, _, _, _, _, _, _, text = line.split(",", 9)
            out.append((_secs(start), _secs(end), text))
    return out


def _secs(ts: str) -> float:
    h, m, s = ts.split(":")
    return int(h) * 3600 + int(m) * 60 + float(s)


def highlighted(text: str) -> str | None:
    m = re.search(r"\{\\1c&H[0-9A-F]+&[^}]*\}(.*?)\{\\r\}", text)
    return m.group(1) if m else None


def visible_words(text: str) -> list[str]:
    return re.sub(r"\{[^}]*\}", "", text).replace("\\N", " ").split()


def test_each_word_is_highlighted_exactly_during_its_own_time() -> None:
    ass = build_ass(WORDS, clip_start=CLIP_START, clip_end=17.0)
    events = parse_events(ass)
    for w in WORDS:
        spans = [(s, e) for s, e, text in events if highlighted(text) == w.word]
        assert spans, w
        assert min(s for s, _ in spans) == pytest.approx(w.start - CLIP_START, abs=0.006)
        assert max(e for _, e in spans) == pytest.approx(w.end - CLIP_START, abs=0.006)
        # contiguous: the highlight never blinks off inside the word
        assert sum(e - s for s, e in spans) == pytest.approx(w.end - w.start, abs=0.011)


def test_nothing_is_shown_before_the_first_word_or_in_long_silences() -> None:
    style = CaptionStyle(linger_s=0.25)
    events = parse_events(build_ass(WORDS, clip_start=CLIP_START, clip_end=17.0, style=style))
    assert min(s for s, _, _ in events) == pytest.approx(0.5, abs=0.006)
    for t in (0.0, 0.49, 2.7, 3.5, 4.99):
        assert not [ev for ev in events if ev[0] <= t < ev[1]], t
    # the group lingers briefly after its last word, then disappears
    assert [ev for ev in events if ev[0] <= 2.55 < ev[1]]
    # no two events overlap: one caption block at a time
    spans = sorted((s, e) for s, e, _ in events)
    assert all(b[0] >= a[1] - 1e-9 for a, b in itertools.pairwise(spans))


def test_groups_respect_line_and_word_limits() -> None:
    many = [Word(f"w{i}", 1.0 + i * 0.3, 1.25 + i * 0.3) for i in range(20)]
    style = CaptionStyle(words_per_line=2, max_lines=2)
    for _, _, text in parse_events(build_ass(many, clip_start=0.0, clip_end=10.0, style=style)):
        rows = re.sub(r"\{[^}]*\}", "", text).split("\\N")
        assert len(rows) <= 2
        assert all(len(r.split()) <= 2 for r in rows)


def test_words_outside_the_clip_are_dropped_and_times_are_clip_relative() -> None:
    events = parse_events(build_ass(WORDS, clip_start=11.0, clip_end=12.0))
    shown = {w for _, _, text in events for w in visible_words(text)}
    assert shown <= {"here's", "the", "thing", "about", "clips."}
    assert "Short" not in shown and "So" not in shown
    assert max(e for _, e, _ in events) <= 1.0 + 1e-9
    assert min(s for s, _, _ in events) == pytest.approx(0.0)


def test_special_characters_cannot_inject_tags_or_line_breaks() -> None:
    nasty = [Word("{\\fs200}big", 0.5, 1.0), Word("back\\Nslash", 1.0, 1.5), Word("new\nline", 1.5, 2.0)]
    ass = build_ass(nasty, clip_start=0.0, clip_end=3.0)
    assert "\\fs200" not in ass.replace("\\\u2060fs200", "")
    for _, _, text in parse_events(ass):
        body = re.sub(r"\{\\an5\\pos\(\d+,\d+\)\}", "", text)
        body = re.sub(r"\{\\1c&H[0-9A-F]+&\\fscx\d+\\fscy\d+\}|\{\\r\}", "", body)
        assert "{" not in body and "}" not in body, body
        assert "\\N" not in body.replace("\\\u2060N", "")  # the only real break would be between rows
        assert "\n" not in body
    assert escape_ass_text("a\nb") == "a b"
