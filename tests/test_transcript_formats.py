"""Captions and JSON from a synthetic Transcript (no ASR needed)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import srt

from cliply.media.transcript_formats import caption_cues, from_json, to_json, to_srt, to_vtt
from cliply.media.types import Segment, Transcript, Word


def make_transcript(spec: list[tuple[str, float, float]]) -> Transcript:
    words = tuple(Word(w, s, e, 0.9) for w, s, e in spec)
    text = " ".join(w for w, _, _ in spec)
    seg = Segment(text, words[0].start, words[-1].end, words)
    return Transcript("en", text, (seg,), duration=words[-1].end + 1.0, engine="test", model="synthetic")


def even_words(text: str, start: float = 0.0, step: float = 0.4) -> list[tuple[str, float, float]]:
    return [
        (w, round(start + i * step, 3), round(start + i * step + step * 0.8, 3)) for i, w in enumerate(text.split())
    ]


@pytest.fixture
def transcript() -> Transcript:
    spec = even_words("Hello there. This is a fairly long caption line that must wrap before forty two chars")
    spec += even_words("After & a <pause> we continue!", start=12.0)
    return make_transcript(spec)


def test_json_round_trip(transcript: Transcript) -> None:
    assert from_json(to_json(transcript)) == transcript


def test_cues_break_on_sentence_end(transcript: Transcript) -> None:
    cues = caption_cues(transcript)
    assert cues[0].text == "Hello there."
    assert cues[-1].text.endswith("continue!")


@pytest.mark.parametrize(("max_chars", "max_duration"), [(42, 6.0), (20, 6.0), (42, 1.5)])
def test_cue_limits(transcript: Transcript, max_chars: int, max_duration: float) -> None:
    cues = caption_cues(transcript, max_chars=max_chars, max_duration=max_duration)
    assert [w for c in cues for w in c.words] == transcript.words
    for c in cues:
        assert len(c.text) <= max_chars
        assert c.end - c.start <= max_duration
        assert (c.start, c.end) == (c.words[0].start, c.words[-1].end)


def test_long_pause_splits_cue() -> None:
    t = make_transcript([("one", 0.0, 0.3), ("two", 0.35, 0.6), ("three", 2.0, 2.4), ("four", 2.45, 2.8)])
    assert [c.text for c in caption_cues(t)] == ["one two", "three four"]
    assert [c.text for c in caption_cues(t, max_pause=2.0)] == ["one two three four"]


def test_single_overlong_word_still_captioned() -> None:
    t = make_transcript([("supercalifragilisticexpialidocious", 0.0, 1.0), ("indeed", 1.1, 1.5)])
    assert [c.text for c in caption_cues(t, max_chars=10)] == ["supercalifragilisticexpialidocious", "indeed"]


def test_srt_parses_back_with_word_times(transcript: Transcript) -> None:
    cues = caption_cues(transcript)
    subs = list(srt.parse(to_srt(transcript)))
    assert [s.index for s in subs] == list(range(1, len(cues) + 1))
    for sub, cue in zip(subs, cues, strict=True):
        assert sub.content == cue.text
        assert sub.start == timedelta(seconds=cue.words[0].start)
        assert sub.end == timedelta(seconds=cue.words[-1].end)


def test_vtt_format(transcript: Transcript) -> None:
    vtt = to_vtt(transcript)
    assert vtt.startswith("WEBVTT\n\n")
    blocks = vtt.strip().split("\n\n")[1:]
    cues = caption_cues(transcript)
    assert len(blocks) == len(cues)
    stamp = re.compile(r"^(\d{2}):(\d{2}):(\d{2})\.(\d{3}) --> (\d{2}):(\d{2}):(\d{2})\.(\d{3})$")
    for block, cue in zip(blocks, cues, strict=True):
        _, timing, text = block.split("\n")
        m = stamp.match(timing)
        assert m, timing
        h, mi, s, ms = map(int, m.groups()[:4])
        assert h * 3600 + mi * 60 + s + ms / 1000 == pytest.approx(cue.start, abs=1e-3)
        assert "<" not in text and ">" not in text
    assert "&amp; a &lt;pause&gt;" in vtt


def test_empty_transcript() -> None:
    t = Transcript("en", "", (), duration=3.0)
    assert caption_cues(t) == []
    assert srt.parse(to_srt(t)) is not None and to_srt(t) == ""
    assert to_vtt(t).strip() == "WEBVTT"
    assert from_json(to_json(t)) == t
