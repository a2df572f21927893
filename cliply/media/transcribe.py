"""Speech to word-timed Transcript with openai-whisper or faster-whisper behind one small interface."""

from __future__ import annotations

import base64
import gzip
import json
import os
import tempfile
from collections.abc import Callable, Iterable
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from cliply.media.ffmpeg import ensure_ffmpeg_on_path, extract_audio
from cliply.media.probe import probe
from cliply.media.types import Segment, Transcript, Word

if TYPE_CHECKING:
    from cliply.settings import Settings

ProgressCallback = Callable[[float], None]
SAMPLE_RATE = 16000
OPENAI_ENGINE = "openai-whisper"
FASTER_ENGINE = "faster-whisper"
# Both engines skip speech-free stretches longer than this when a segment looks hallucinated.
HALLUCINATION_SILENCE_S = 2.0


class Transcriber(Protocol):
    def transcribe(self, media_path: Path, *, progress: ProgressCallback | None = None) -> Transcript: ...


# --- model location -------------------------------------------------------------------------------


MODEL_SETTING = "CLIPLY_WHISPER_MODEL"
HOW_TO_SET_MODEL = (
    f"set {MODEL_SETTING} to a local path to the Whisper weights (a faster-whisper model folder, "
    "or an openai-whisper .pt file)"
)


class NoAudioTrack(ValueError):
    """The media has no sound, so there is nothing to transcribe."""


class ModelUnavailable(FileNotFoundError, ValueError):
    """The Whisper weights are not on this machine and cannot be fetched; one line naming the setting to fix."""


def _looks_like_path(model: str) -> bool:
    return os.sep in model or "/" in model or model.startswith(("~", ".")) or model.endswith((".pt", ".bin"))


def resolve_model(model: str) -> str:
    """A model name passes through (loaded from the engine's cache, else downloaded); a path must exist."""
    if not model:
        raise ModelUnavailable(f"the Whisper model is empty; {HOW_TO_SET_MODEL}")
    path = Path(model).expanduser()
    if path.exists():
        return str(path.resolve())
    if _looks_like_path(model):
        raise ModelUnavailable(f"whisper model path does not exist: {model}; {HOW_TO_SET_MODEL}")
    return model


def _not_downloadable(model: str) -> ModelUnavailable:
    return ModelUnavailable(
        f"the Whisper model {model!r} is not on this machine and could not be downloaded "
        f"(offline, or not a known model name); {HOW_TO_SET_MODEL}"
    )


def _unloadable(model: str, exc: Exception) -> ModelUnavailable:
    detail = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
    return ModelUnavailable(f"the Whisper weights at {model} could not be loaded ({detail}); {HOW_TO_SET_MODEL}")


# --- raw segments -> Transcript -------------------------------------------------------------------


def clean_segments(
    raw: Iterable[tuple[str, float, float, Iterable[tuple[str, float, float, float | None]]]], duration: float
) -> tuple[Segment, ...]:
    """Strip words, drop empty ones and force times into [0, duration], non-overlapping and monotonic."""
    segments: list[Segment] = []
    last_end = 0.0
    for text, seg_start, seg_end, raw_words in raw:
        words: list[Word] = []
        for token, start, end, prob in raw_words:
            token = token.strip()
            if not token:
                continue
            start = min(max(float(start), last_end), duration)
            end = min(max(float(end), start), duration)
            words.append(Word(token, round(start, 3), round(end, 3), None if prob is None else round(float(prob), 4)))
            last_end = end
        text = text.strip() or " ".join(w.word for w in words)
        if not text:
            continue
        if words:
            start, end = words[0].start, words[-1].end
        else:
            start = min(max(float(seg_start), last_end), duration)
            end = min(max(float(seg_end), start), duration)
            last_end = end
        segments.append(Segment(text=text, start=round(start, 3), end=round(end, 3), words=tuple(words)))
    return tuple(segments)


def _build(language: str, segments: tuple[Segment, ...], duration: float, engine: str, model: str) -> Transcript:
    text = " ".join(s.text for s in segments)
    return Transcript(language, text, segments, round(duration, 3), engine=engine, model=model)


def _decoded(media_path: Path, tmp: str) -> Path:
    media_path = Path(media_path)
    if not media_path.is_file():
        raise FileNotFoundError(f"media file not found: {media_path}")
    if not probe(media_path).has_audio:  # ffmpeg would fail with "matches no streams"
        raise NoAudioTrack("no audio track: nothing to transcribe")
    # Both engines then see the same 16 kHz mono PCM whatever the container (video or audio).
    return extract_audio(media_path, Path(tmp) / "audio.wav", sample_rate=SAMPLE_RATE)


# --- openai-whisper -------------------------------------------------------------------------------


def alignment_heads_for(path: Path, n_layers: int, n_heads: int) -> bytes | None:
    """Word-timing heads for a local checkpoint: openai-whisper's own table by file name, else config.json."""
    import whisper

    known = whisper._ALIGNMENT_HEADS.get(path.stem)
    if known is not None:
        return known
    config = path.parent / "config.json"
    heads = json.loads(config.read_text()).get("alignment_heads") if config.is_file() else None
    if not heads:
        return None
    import numpy as np

    # Same encoding as whisper's table: a gzip'd (layers x heads) bool mask in base85.
    mask = np.zeros((n_layers, n_heads), dtype=bool)
    for layer, head in heads:
        mask[layer, head] = True
    return base64.b85encode(gzip.compress(mask.tobytes()))


@cache
def _load_openai(model: str, download: bool = True) -> Any:
    import whisper

    path = Path(model)
    if not path.exists() and not download:
        raise _not_downloadable(model)
    try:
        loaded = whisper.load_model(model, device="cpu")
    except Exception as exc:  # urllib, torch and checksum errors alike: the weights are unusable
        raise (_unloadable(model, exc) if path.exists() else _not_downloadable(model)) from exc
    if path.is_file():
        # load_model leaves the default "last half of decoder" heads for files it did not download.
        heads = alignment_heads_for(path, loaded.dims.n_text_layer, loaded.dims.n_text_head)
        if heads is not None:
            loaded.set_alignment_heads(heads)
    return loaded


class OpenAIWhisperEngine:
    engine = OPENAI_ENGINE

    def __init__(self, model: str, *, language: str | None = None, threads: int = 0, download: bool = True) -> None:
        self.model = resolve_model(model)
        self.language = language or None
        self.threads = threads
        self.download = download

    def load(self) -> Any:
        return _load_openai(self.model, self.download)

    def transcribe(self, media_path: Path, *, progress: ProgressCallback | None = None) -> Transcript:
        import torch
        import whisper

        ensure_ffmpeg_on_path()
        model = self.load()
        if self.threads > 0:
            torch.set_num_threads(self.threads)
        language = self.language or (None if model.is_multilingual else "en")
        if progress:
            progress(0.0)
        with tempfile.TemporaryDirectory(prefix="cliply-asr-") as tmp:
            audio = whisper.load_audio(str(_decoded(media_path, tmp)), sr=SAMPLE_RATE)
        duration = len(audio) / SAMPLE_RATE
        result = whisper.transcribe(
            model,
            audio,
            language=language,
            word_timestamps=True,
            condition_on_previous_text=False,
            hallucination_silence_threshold=HALLUCINATION_SILENCE_S,
            temperature=(0.0, 0.2, 0.4, 0.6, 0.8, 1.0),
            fp16=False,
            verbose=None,
        )
        raw = (
            (
                s["text"],
                s["start"],
                s["end"],
                ((w["word"], w["start"], w["end"], w.get("probability")) for w in s.get("words", [])),
            )
            for s in result["segments"]
        )
        segments = clean_segments(raw, duration)
        if progress:
            progress(1.0)
        return _build(result.get("language") or language or "", segments, duration, self.engine, self.model)


# --- faster-whisper -------------------------------------------------------------------------------


@cache
def _load_faster(
    model: str, compute_type: str, threads: int, download: bool = True, cache_dir: str | None = None
) -> Any:
    """Local weights, else the Hugging Face cache without touching the network, else (if allowed) a download."""
    from faster_whisper import WhisperModel

    def load(local_only: bool) -> Any:
        return WhisperModel(
            model,
            device="cpu",
            compute_type=compute_type,
            cpu_threads=threads,
            download_root=cache_dir,
            local_files_only=local_only,
        )

    try:
        return load(True)
    except Exception as exc:  # a folder without valid weights, or a name not in the cache
        if Path(model).exists():
            raise _unloadable(model, exc) from exc
        if not download:
            raise _not_downloadable(model) from exc
    try:
        return load(False)
    except Exception as exc:  # the hub's connection, DNS and lookup errors alike
        raise _not_downloadable(model) from exc


class FasterWhisperEngine:
    engine = FASTER_ENGINE

    def __init__(
        self,
        model: str,
        *,
        language: str | None = None,
        threads: int = 0,
        compute_type: str = "int8",
        beam_size: int = 1,
        download: bool = True,
        cache_dir: str | None = None,
    ) -> None:
        resolved = resolve_model(model)
        # Accept the CTranslate2 model.bin itself as well as its folder.
        if Path(resolved).is_file():
            resolved = str(Path(resolved).parent)
        self.model = resolved
        self.language = language or None
        self.threads = threads
        self.compute_type = compute_type
        self.beam_size = beam_size
        self.download = download
        self.cache_dir = cache_dir

    def load(self) -> Any:
        return _load_faster(self.model, self.compute_type, self.threads, self.download, self.cache_dir)

    def transcribe(self, media_path: Path, *, progress: ProgressCallback | None = None) -> Transcript:
        model = self.load()
        if progress:
            progress(0.0)
        with tempfile.TemporaryDirectory(prefix="cliply-asr-") as tmp:
            seg_iter, info = model.transcribe(
                str(_decoded(media_path, tmp)),
                language=self.language,
                beam_size=self.beam_size,
                word_timestamps=True,
                condition_on_previous_text=False,
                hallucination_silence_threshold=HALLUCINATION_SILENCE_S,
            )
            duration = float(info.duration)
            collected = []
            # The generator decodes lazily: each yielded segment is real progress.
            for seg in seg_iter:
                collected.append(seg)
                if progress and duration > 0:
                    progress(min(1.0, float(seg.end) / duration))
        raw = (
            (s.text, s.start, s.end, ((w.word, w.start, w.end, w.probability) for w in (s.words or [])))
            for s in collected
        )
        segments = clean_segments(raw, duration)
        if progress:
            progress(1.0)
        return _build(info.language or self.language or "", segments, duration, self.engine, self.model)


# --- factory --------------------------------------------------------------------------------------

ENGINES: dict[str, type[OpenAIWhisperEngine] | type[FasterWhisperEngine]] = {
    OPENAI_ENGINE: OpenAIWhisperEngine,
    FASTER_ENGINE: FasterWhisperEngine,
}


def make_transcriber(
    engine: str, model: str, *, language: str | None = None, threads: int = 0, download: bool = True
) -> Transcriber:
    """`download=False` keeps a model name offline: only weights already on this machine are used."""
    try:
        cls = ENGINES[engine]
    except KeyError:
        raise ValueError(f"unknown whisper engine {engine!r}; choose one of: {', '.join(ENGINES)}") from None
    return cls(model, language=language or None, threads=threads, download=download)


def transcriber_from_settings(settings: Settings) -> Transcriber:
    return make_transcriber(
        settings.whisper_engine,
        settings.whisper_model,
        language=settings.whisper_language or None,
        threads=settings.whisper_threads,
    )
