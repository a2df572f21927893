"""Plain data passed between media stages; JSON-friendly so every stage can persist its output."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Word:
    word: str
    start: float
    end: float
    probability: float | None = None


@dataclass(frozen=True)
class Segment:
    """A sentence-like unit as the ASR engine emitted it, with its words."""

    text: str
    start: float
    end: float
    words: tuple[Word, ...] = ()


@dataclass(frozen=True)
class Transcript:
    language: str
    text: str
    segments: tuple[Segment, ...]
    duration: float
    engine: str = ""
    model: str = ""

    @property
    def words(self) -> list[Word]:
        return [w for s in self.segments for w in s.words]

    def to_dict(self) -> dict[str, Any]:
        return {
            "language": self.language,
            "text": self.text,
            "duration": self.duration,
            "engine": self.engine,
            "model": self.model,
            "words": [asdict(w) for w in self.words],
            "segments": [
                {"text": s.text, "start": s.start, "end": s.end, "words": [asdict(w) for w in s.words]}
                for s in self.segments
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Transcript:
        segments = tuple(
            Segment(
                text=s["text"],
                start=float(s["start"]),
                end=float(s["end"]),
                words=tuple(Word(**w) for w in s.get("words", [])),
            )
            for s in data["segments"]
        )
        return cls(
            language=data["language"],
            text=data["text"],
            segments=segments,
            duration=float(data.get("duration", 0.0)),
            engine=data.get("engine", ""),
            model=data.get("model", ""),
        )


@dataclass(frozen=True)
class MediaInfo:
    """What a probe learns about a media file (PyAV; no ffprobe needed)."""

    duration: float
    format_name: str
    size_bytes: int
    video_codec: str | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    pix_fmt: str | None = None
    audio_codec: str | None = None
    sample_rate: int | None = None
    channels: int | None = None
    bit_rate: int | None = None
    faststart: bool | None = None

    @property
    def has_video(self) -> bool:
        return self.video_codec is not None

    @property
    def has_audio(self) -> bool:
        return self.audio_codec is not None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Highlight:
    """A ranked candidate clip: [start, end) in source seconds, snapped to word edges."""

    rank: int
    start: float
    end: float
    score: float
    text: str
    reasons: tuple[str, ...] = ()
    features: dict[str, float] = field(default_factory=dict)

    @property
    def duration(self) -> float:
        return self.end - self.start

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["reasons"] = list(self.reasons)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Highlight:
        return cls(
            rank=int(d["rank"]),
            start=float(d["start"]),
            end=float(d["end"]),
            score=float(d["score"]),
            text=d["text"],
            reasons=tuple(d.get("reasons", ())),
            features=dict(d.get("features", {})),
        )
