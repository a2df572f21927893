"""Transcript serialisation (JSON) and captions (SRT, WebVTT) built from readable word-grouped cues."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta

import srt

from cliply.media.types import Transcript, Word

SENTENCE_END = (".", "?", "!", "…", "。", "？", "！")


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    text: str
    words: tuple[Word, ...]


def _cue(words: list[Word]) -> Cue:
    return Cue(words[0].start, words[-1].end, " ".join(w.word for w in words), tuple(words))


def caption_cues(t: Transcript, max_chars: int = 42, max_duration: float = 6.0, max_pause: float = 0.8) -> list[Cue]:
    """Group words into cues: close at sentence ends, break at pauses and before exceeding chars/duration."""
    cues: list[Cue] = []
    current: list[Word] = []
    for word in t.words:
        if current:
            chars = len(" ".join(w.word for w in current)) + 1 + len(word.word)
            too_long = chars > max_chars or word.end - current[0].start > max_duration
            if too_long or word.start - current[-1].end > max_pause:
                cues.append(_cue(current))
                current = []
        current.append(word)
        if word.word.endswith(SENTENCE_END):
            cues.append(_cue(current))
            current = []
    if current:
        cues.append(_cue(current))
    return cues


def to_srt(t: Transcript, max_chars: int = 42, max_duration: float = 6.0) -> str:
    subtitles = [
        srt.Subtitle(index=i, start=timedelta(seconds=c.start), end=timedelta(seconds=c.end), content=c.text)
        for i, c in enumerate(caption_cues(t, max_chars, max_duration), start=1)
    ]
    return srt.compose(subtitles)


def _vtt_time(seconds: float) -> str:
    # SRT and WebVTT timestamps differ only in the decimal separator.
    return srt.timedelta_to_srt_timestamp(timedelta(seconds=seconds)).replace(",", ".")


def _vtt_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_vtt(t: Transcript, max_chars: int = 42, max_duration: float = 6.0) -> str:
    blocks = [
        f"{i}\n{_vtt_time(c.start)} --> {_vtt_time(c.end)}\n{_vtt_escape(c.text)}\n"
        for i, c in enumerate(caption_cues(t, max_chars, max_duration), start=1)
    ]
    return "\n".join(["WEBVTT\n", *blocks])


def to_json(t: Transcript) -> str:
    return json.dumps(t.to_dict(), ensure_ascii=False)


def from_json(s: str) -> Transcript:
    return Transcript.from_dict(json.loads(s))
