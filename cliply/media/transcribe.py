"""Speech to word-timed Transcript with openai-whisper or faster-whisper behind one small interface."""

from __future__ import annotations

import base64
import gzip
import json
import os
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Iterator
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from cliply.media.ffmpeg import FFmpegError, ensure_ffmpeg_on_path, ffmpeg_exe
from cliply.media.probe import probe
from cliply.media.types import MediaInfo, Segment, Transcript, Word

if TYPE_CHECKING:
    from cliply.settings import Settings

ProgressCallback = Callable[[float], None]
SAMPLE_RATE = 16000
OPENAI_ENGINE = "openai-whisper"
FASTER_ENGINE = "faster-whisper"
# Both engines skip speech-free stretches longer than this when a segment looks hallucinated.
HALLUCINATION_SILENCE_S = 2.0
# The audio reaches the model in chunks of about this length, cut at the quietest moment near each chunk's end, so
# memory stays flat however long the source is (a whole 2-hour file decoded to float32 and turned into one log-mel
# spectrogram took gigabytes). Whisper reads 30 s windows anyway, so a cut in a pause costs little accuracy.
CHUNK_S = 120.0
# Decoded PCM is read from ffmpeg in blocks of this length.
BLOCK_S = 10.0


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


RawSegment = tuple[str, float, float, list[tuple[str, float, float, float | None]]]


def _checked(media_path: Path) -> MediaInfo:
    media_path = Path(media_path)
    if not media_path.is_file():
        raise FileNotFoundError(f"media file not found: {media_path}")
    info = probe(media_path)
    if not info.has_audio:  # ffmpeg would fail with "matches no streams"
        raise NoAudioTrack("no audio track: nothing to transcribe")
    return info


def pcm_blocks(media_path: Path, *, block_s: float = BLOCK_S) -> Iterator[np.ndarray]:
    """The first audio stream as 16 kHz mono float32 in blocks of `block_s`, decoded by ffmpeg as it is read.

    Both engines see the same PCM whatever the container (video or audio); only one block is held at a time.
    """
    args = ["-nostdin", "-v", "error", "-i", str(media_path), "-vn", "-map", "0:a:0", "-ac", "1"]
    args += ["-ar", str(SAMPLE_RATE), "-f", "s16le", "-"]
    block_bytes = max(2, int(block_s * SAMPLE_RATE) * 2)
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen([ffmpeg_exe(), *args], stdout=subprocess.PIPE, stderr=log)
        assert proc.stdout is not None
        try:
            pending = b""
            while data := proc.stdout.read(block_bytes):
                data = pending + data
                usable = len(data) - len(data) % 2
                pending = data[usable:]
                if usable:
                    yield np.frombuffer(data[:usable], dtype="<i2").astype(np.float32) / 32768.0
        except BaseException:  # a consumer that stops early must not leave ffmpeg running
            proc.kill()
            raise
        finally:
            proc.stdout.close()
            returncode = proc.wait()
        if returncode != 0:
            log.seek(0)
            raise FFmpegError(args, returncode, log.read().decode(errors="replace"))


def quietest_cut(samples: np.ndarray, lo: int, hi: int, *, hop: int = 320, smooth: int = 25) -> int:
    """Sample index in [lo, hi) at the centre of the quietest ~0.5 s (`smooth` hops of `hop` samples)."""
    lo, hi = max(0, lo), min(len(samples), hi)
    n = (hi - lo) // hop
    if n <= 0:
        return hi
    power = np.square(samples[lo : lo + n * hop].reshape(n, hop), dtype=np.float64).mean(axis=1)
    k = max(1, min(smooth, n))
    level = np.convolve(power, np.ones(k) / k, mode="same")
    return lo + int(np.argmin(level)) * hop + hop // 2


def audio_chunks(blocks: Iterable[np.ndarray], *, chunk_s: float = CHUNK_S) -> Iterator[tuple[float, np.ndarray]]:
    """(offset in seconds, samples) chunks of about `chunk_s`, each cut in the quietest moment of its last stretch.

    A cut is searched in the last min(30 s, chunk/4) of a chunk and made only once `tail` more audio has arrived
    (min(60 s, chunk/2)), so the last chunk is never a sliver the model would hallucinate on. At most one chunk plus
    that tail and a block are in memory.
    """
    if chunk_s <= 0:
        raise ValueError("chunk_s must be positive")
    chunk = int(chunk_s * SAMPLE_RATE)
    search = int(min(30.0, chunk_s / 4) * SAMPLE_RATE)
    tail = int(min(60.0, chunk_s / 2) * SAMPLE_RATE)
    pending: list[np.ndarray] = []
    size = 0
    offset = 0
    for block in blocks:
        pending.append(block)
        size += len(block)
        if size < chunk + tail:
            continue
        samples = np.concatenate(pending)
        cut = quietest_cut(samples, chunk - search, chunk)
        pending, size = [samples[cut:].copy()], len(samples) - cut
        yield offset / SAMPLE_RATE, samples[:cut]
        offset += cut
        del samples
    if size:
        yield offset / SAMPLE_RATE, np.concatenate(pending)


def transcribe_chunked(
    media_path: Path,
    run: Callable[[np.ndarray, str | None], tuple[list[RawSegment], str | None]],
    *,
    language: str | None,
    chunk_s: float,
    progress: ProgressCallback | None,
) -> tuple[tuple[Segment, ...], float, str | None]:
    """Feed the model one chunk at a time and shift its times by the chunk's offset: (segments, duration, language).

    The language found in the first chunk is kept for the rest, so a long talk is not re-detected chunk by chunk.
    """
    expected = _checked(media_path).duration
    raw: list[RawSegment] = []
    duration = 0.0
    for offset, samples in audio_chunks(pcm_blocks(media_path), chunk_s=chunk_s):
        segments, found = run(samples, language)
        language = language or found
        for text, start, end, words in segments:
            shifted = [(w, ws + offset, we + offset, p) for w, ws, we, p in words]
            raw.append((text, start + offset, end + offset, shifted))
        duration = offset + len(samples) / SAMPLE_RATE
        if progress and expected > 0:
            progress(min(1.0, duration / expected))
    return clean_segments(raw, duration), duration, language


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

    def __init__(
        self,
        model: str,
        *,
        language: str | None = None,
        threads: int = 0,
        download: bool = True,
        chunk_s: float = CHUNK_S,
    ) -> None:
        self.model = resolve_model(model)
        self.language = language or None
        self.threads = threads
        self.download = download
        self.chunk_s = chunk_s

    def load(self) -> Any:
        return _load_openai(self.model, self.download)

    def transcribe(self, media_path: Path, *, progress: ProgressCallback | None = None) -> Transcript:
        import torch
        import whisper

        ensure_ffmpeg_on_path()
        model = self.load()
        if self.threads > 0:
            torch.set_num_threads(self.threads)

        def run(audio: np.ndarray, language: str | None) -> tuple[list[RawSegment], str | None]:
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
            segments: list[RawSegment] = [
                (
                    s["text"],
                    s["start"],
                    s["end"],
                    [(w["word"], w["start"], w["end"], w.get("probability")) for w in s.get("words", [])],
                )
                for s in result["segments"]
            ]
            return segments, result.get("language") or language

        language = self.language or (None if model.is_multilingual else "en")
        if progress:
            progress(0.0)
        segments, duration, language = transcribe_chunked(
            media_path, run, language=language, chunk_s=self.chunk_s, progress=progress
        )
        if progress:
            progress(1.0)
        return _build(language or "", segments, duration, self.engine, self.model)


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
        chunk_s: float = CHUNK_S,
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
        self.chunk_s = chunk_s

    def load(self) -> Any:
        return _load_faster(self.model, self.compute_type, self.threads, self.download, self.cache_dir)

    def transcribe(self, media_path: Path, *, progress: ProgressCallback | None = None) -> Transcript:
        model = self.load()

        def run(audio: np.ndarray, language: str | None) -> tuple[list[RawSegment], str | None]:
            seg_iter, info = model.transcribe(
                audio,
                language=language,
                beam_size=self.beam_size,
                word_timestamps=True,
                condition_on_previous_text=False,
                hallucination_silence_threshold=HALLUCINATION_SILENCE_S,
            )
            # The generator decodes lazily; collecting it runs the model over this chunk.
            segments: list[RawSegment] = [
                (s.text, s.start, s.end, [(w.word, w.start, w.end, w.probability) for w in (s.words or [])])
                for s in seg_iter
            ]
            return segments, info.language or language

        if progress:
            progress(0.0)
        segments, duration, language = transcribe_chunked(
            media_path, run, language=self.language, chunk_s=self.chunk_s, progress=progress
        )
        if progress:
            progress(1.0)
        return _build(language or "", segments, duration, self.engine, self.model)


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
