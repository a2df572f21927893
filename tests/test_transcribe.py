"""Both ASR engines on real speech (LibriVox) with real tiny.en weights: text accuracy and word timing."""

from __future__ import annotations

import base64
import gzip
import re
from difflib import SequenceMatcher
from pathlib import Path
from typing import Any

import jiwer
import numpy as np
import pytest

from cliply.media.transcribe import (
    FasterWhisperEngine,
    ModelUnavailable,
    NoAudioTrack,
    OpenAIWhisperEngine,
    Transcriber,
    alignment_heads_for,
    clean_segments,
    make_transcriber,
    transcriber_from_settings,
)
from cliply.media.types import Transcript
from cliply.settings import Settings
from tests.fixtures.media import FASTER_TINY_EN, OPENAI_TINY_EN, librivox_segments, reference_text

pytestmark = pytest.mark.slow

MODELS = {"openai-whisper": OPENAI_TINY_EN, "faster-whisper": FASTER_TINY_EN}
MAX_WER = 0.15
MAX_START_ERROR_S = 0.5


def normalize_tokens(text: str) -> list[str]:
    """Lowercase, hyphens to spaces, no punctuation, Mr → mister (the reference spells titles out)."""
    text = re.sub(r"[-‐–—]", " ", text.lower())
    text = re.sub(r"[^\w\s']", "", text)
    return ["mister" if tok == "mr" else tok for tok in text.split()]


def word_error_rate(reference: str, hypothesis: str) -> float:
    return jiwer.wer(" ".join(normalize_tokens(reference)), " ".join(normalize_tokens(hypothesis)))


@pytest.fixture(scope="module", params=list(MODELS))
def transcriber(request: pytest.FixtureRequest, shared_media: Path) -> Transcriber:
    return make_transcriber(request.param, str(MODELS[request.param]))


@pytest.fixture(scope="module")
def progress_log() -> dict[str, list[float]]:
    return {}


@pytest.fixture(scope="module")
def joined_transcript(transcriber: Transcriber, joined_audio: Path, progress_log: dict[str, list[float]]) -> Transcript:
    seen: list[float] = []
    transcript = transcriber.transcribe(joined_audio, progress=seen.append)
    progress_log[transcript.engine] = seen
    return transcript


def test_wer_on_librivox(joined_transcript: Transcript) -> None:
    wer = word_error_rate(reference_text(), joined_transcript.text)
    print(f"\n{joined_transcript.engine}: WER {wer:.2%} — {joined_transcript.text}")
    assert wer <= MAX_WER
    assert joined_transcript.language == "en"


def test_words_are_monotonic_and_in_range(joined_transcript: Transcript) -> None:
    words = joined_transcript.words
    assert joined_transcript.duration == pytest.approx(24.73, abs=0.05)
    assert len(words) >= 0.8 * len(normalize_tokens(reference_text()))
    previous_end = 0.0
    for w in words:
        assert w.word == w.word.strip() and w.word
        assert 0.0 <= w.start <= w.end <= joined_transcript.duration
        assert w.start >= previous_end
        previous_end = w.end
    for seg in joined_transcript.segments:
        assert seg.start <= seg.end
        if seg.words:
            assert (seg.start, seg.end) == (seg.words[0].start, seg.words[-1].end)


def sentence_starts(transcript: Transcript, sentences: list[str]) -> list[float]:
    """Align reference tokens to hypothesis tokens; each sentence starts at its first token's (interpolated) time."""
    ref: list[str] = []
    first_index: list[int] = []
    for sentence in sentences:
        first_index.append(len(ref))
        ref += normalize_tokens(sentence)
    hyp: list[str] = []
    hyp_time: list[float] = []
    for w in transcript.words:
        for tok in normalize_tokens(w.word):
            hyp.append(tok)
            hyp_time.append(w.start)
    matcher = SequenceMatcher(None, ref, hyp, autojunk=False)
    ref_idx: list[int] = []
    times: list[float] = []
    for block in matcher.get_matching_blocks():
        for k in range(block.size):
            ref_idx.append(block.a + k)
            times.append(hyp_time[block.b + k])
    assert len(ref_idx) >= 0.8 * len(ref), "too few reference words matched the transcript"
    return [float(np.interp(i, ref_idx, times)) for i in first_index]


def test_sentence_start_times(joined_transcript: Transcript) -> None:
    truth = librivox_segments()
    starts = sentence_starts(joined_transcript, [s.text for s in truth])
    errors = [abs(got - s.start) for got, s in zip(starts, truth, strict=True)]
    print(f"\n{joined_transcript.engine}: sentence start errors (s) {[round(e, 2) for e in errors]}")
    assert max(errors) <= MAX_START_ERROR_S


def test_progress_reported(joined_transcript: Transcript, progress_log: dict[str, list[float]]) -> None:
    seen = progress_log[joined_transcript.engine]
    assert seen[0] == 0.0 and seen[-1] == 1.0
    assert all(isinstance(p, float) and 0.0 <= p <= 1.0 for p in seen)
    assert seen == sorted(seen)


def test_video_input(transcriber: Transcriber, talk_video: Path) -> None:
    transcript = transcriber.transcribe(talk_video)
    wer = word_error_rate(reference_text(), transcript.text)
    print(f"\n{transcript.engine} on mp4: WER {wer:.2%}")
    assert wer <= MAX_WER
    assert transcript.duration == pytest.approx(24.73, abs=0.2)
    assert transcript.words[-1].end <= transcript.duration


def test_factory_and_settings() -> None:
    settings = Settings.from_env(
        {
            "CLIPLY_WHISPER_ENGINE": "openai-whisper",
            "CLIPLY_WHISPER_MODEL": str(OPENAI_TINY_EN),
            "CLIPLY_WHISPER_THREADS": "1",
        }
    )
    engine = transcriber_from_settings(settings)
    assert isinstance(engine, OpenAIWhisperEngine) and engine.threads == 1 and engine.language is None
    faster = make_transcriber("faster-whisper", str(FASTER_TINY_EN / "model.bin"), language="en")
    assert isinstance(faster, FasterWhisperEngine)
    assert Path(faster.model) == FASTER_TINY_EN.resolve() and faster.language == "en"
    # A bare name is left for the library to download; nothing is loaded before the first transcribe.
    assert make_transcriber("faster-whisper", "tiny.en").model == "tiny.en"


def test_unknown_engine() -> None:
    with pytest.raises(ValueError, match=r"whisper\.cpp.*openai-whisper, faster-whisper"):
        make_transcriber("whisper.cpp", "tiny.en")


@pytest.mark.parametrize("engine", list(MODELS))
@pytest.mark.parametrize("model", ["missing/tiny.en.pt", "./nope", "~/no-such-model-dir", "weights.bin"])
def test_missing_model_path(engine: str, model: str) -> None:
    with pytest.raises(FileNotFoundError, match="whisper model path does not exist"):
        make_transcriber(engine, model)


def _explains_the_setting(message: str) -> None:
    assert "\n" not in message and "Errno" not in message
    assert "set CLIPLY_WHISPER_MODEL to a local path to the Whisper weights" in message


def test_missing_model_path_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable) as exc:
        make_transcriber("faster-whisper", str(tmp_path / "models" / "tiny.en"))
    _explains_the_setting(str(exc.value))
    assert isinstance(exc.value, ValueError)  # the CLI shows it as one line, exit 2


def test_model_name_stays_offline_when_downloads_are_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub

    calls: list[bool] = []
    real = huggingface_hub.snapshot_download

    def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append(bool(kwargs.get("local_files_only")))
        return real(*args, **kwargs)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", spy)
    engine = FasterWhisperEngine("tiny.en", download=False, cache_dir=str(tmp_path / "hf"))
    with pytest.raises(ModelUnavailable) as exc:
        engine.load()
    assert calls == [True], "only the local cache was looked at: no download was attempted"
    assert "'tiny.en' is not on this machine" in str(exc.value)
    _explains_the_setting(str(exc.value))
    with pytest.raises(ModelUnavailable):
        OpenAIWhisperEngine("tiny.en", download=False).load()


def test_unreachable_hub_is_explained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub

    calls: list[bool] = []

    def offline(*args: object, **kwargs: object) -> str:
        calls.append(bool(kwargs.get("local_files_only")))
        raise OSError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", offline)
    with pytest.raises(ModelUnavailable) as exc:
        FasterWhisperEngine("base.en", cache_dir=str(tmp_path / "hf")).load()
    assert calls == [True, False], "the cache first, then one download attempt"
    _explains_the_setting(str(exc.value))


def test_folder_without_weights_is_explained(tmp_path: Path) -> None:
    (tmp_path / "weights").mkdir()
    with pytest.raises(ModelUnavailable) as exc:
        FasterWhisperEngine(str(tmp_path / "weights")).load()
    assert "could not be loaded" in str(exc.value)
    _explains_the_setting(str(exc.value))


@pytest.mark.parametrize("model", ["/nonexistent/whisper-weights", "no-such-whisper-size"])
def test_transcribe_cli_explains_missing_weights_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model: str
) -> None:
    from click.testing import CliRunner

    from cliply.cli import main

    monkeypatch.setenv("CLIPLY_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CLIPLY_WHISPER_ENGINE", "faster-whisper")
    monkeypatch.setenv("CLIPLY_WHISPER_MODEL", model)  # an unknown size fails before any network use
    result = CliRunner().invoke(main, ["transcribe", str(FASTER_TINY_EN / "config.json")])
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: ") and "CLIPLY_WHISPER_MODEL" in line
    _explains_the_setting(line)


@pytest.mark.parametrize("engine", list(MODELS))
def test_silent_video_says_there_is_no_audio(tmp_path: Path, engine: str) -> None:
    from tests.helpers import make_video

    video = make_video(tmp_path / "silent.mp4", seconds=2)
    with pytest.raises(NoAudioTrack, match="no audio track: nothing to transcribe"):
        make_transcriber(engine, str(MODELS[engine])).transcribe(video)


def test_missing_media(tmp_path: Path) -> None:
    engine = make_transcriber("faster-whisper", str(FASTER_TINY_EN))
    with pytest.raises(FileNotFoundError, match="media file not found"):
        engine.transcribe(tmp_path / "nothing.mp4")


def _mask(dump: bytes) -> np.ndarray:
    return np.frombuffer(gzip.decompress(base64.b85decode(dump)), dtype=bool)


def test_alignment_heads_for_local_checkpoints(tmp_path: Path) -> None:
    import whisper

    expected = _mask(whisper._ALIGNMENT_HEADS["tiny.en"])
    assert alignment_heads_for(OPENAI_TINY_EN, 4, 6) == whisper._ALIGNMENT_HEADS["tiny.en"]
    # An unknown file name falls back to the CTranslate2-style config.json next to it.
    (tmp_path / "config.json").write_text((FASTER_TINY_EN / "config.json").read_text())
    from_config = alignment_heads_for(tmp_path / "my-finetune.pt", 4, 6)
    assert from_config is not None and np.array_equal(_mask(from_config), expected)
    (tmp_path / "config.json").unlink()
    assert alignment_heads_for(tmp_path / "my-finetune.pt", 4, 6) is None


def test_openai_engine_loads_tiny_en_heads(shared_media: Path) -> None:
    import whisper

    model = OpenAIWhisperEngine(str(OPENAI_TINY_EN)).load()  # cached: same object the tests used
    loaded = model.alignment_heads.to_dense().numpy().ravel()
    assert np.array_equal(loaded, _mask(whisper._ALIGNMENT_HEADS["tiny.en"]))


def test_clean_segments_repairs_engine_output() -> None:
    raw = [
        (" Hi there. ", 0.0, 1.0, [(" Hi", -0.2, 0.4, 0.9), (" ", 0.4, 0.5, 0.1), (" there.", 0.3, 0.2, None)]),
        ("  ", 1.0, 1.5, []),
        (" Late", 9.0, 12.0, [(" Late", 9.5, 12.0, 0.5)]),
    ]
    segments = clean_segments(raw, duration=10.0)
    assert [s.text for s in segments] == ["Hi there.", "Late"]
    words = [w for s in segments for w in s.words]
    assert [(w.word, w.start, w.end) for w in words] == [("Hi", 0.0, 0.4), ("there.", 0.4, 0.4), ("Late", 9.5, 10.0)]
    assert (segments[1].start, segments[1].end) == (9.5, 10.0)
