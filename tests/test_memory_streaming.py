"""Transcription streams its audio: memory stays flat as the source gets longer, and chunking keeps the words.

Peak memory is measured in fresh subprocesses (VmHWM of the process that transcribes) on real speech: the LibriVox
reading looped to a few minutes. The chunked transcript is compared with a one-chunk transcript of the same audio.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Callable
from difflib import SequenceMatcher
from pathlib import Path

import numpy as np
import pytest

from cliply.media.ffmpeg import FFmpegError, run_ffmpeg
from cliply.media.transcribe import (
    SAMPLE_RATE,
    FasterWhisperEngine,
    OpenAIWhisperEngine,
    Transcriber,
    audio_chunks,
    pcm_blocks,
    quietest_cut,
)
from tests.fixtures.media import (
    FASTER_TINY_EN,
    OPENAI_TINY_EN,
    build_joined_audio,
    librivox_segments,
    reference_text,
)
from tests.test_transcribe import MAX_START_ERROR_S, normalize_tokens, sentence_starts, word_error_rate

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
# Two more minutes of audio transcribed in one piece cost ~110 MB with faster-whisper tiny (decoded float32 samples
# plus the whole file's STFT and log-mel); streamed in chunks they must cost less than this.
MAX_GROWTH_MB = 40
# The same one-piece measurement must see the growth, or the probe proves nothing.
MIN_UNCHUNKED_GROWTH_MB = 60
# Word times next to a cut may move by this much (tiny.en's own word timing is looser than that).
TIMESTAMP_TOLERANCE_S = 0.4
TALK_S = 24.73  # the LibriVox reading once


def tone(seconds: float, freq: float = 440.0, level: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return (level * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def blocks_of(samples: np.ndarray, block_s: float = 1.0) -> list[np.ndarray]:
    n = int(block_s * SAMPLE_RATE)
    return [samples[i : i + n] for i in range(0, len(samples), n)]


# --------------------------------------------------------------------------- chunking itself


def test_chunks_are_cut_in_the_pause_and_cover_every_sample() -> None:
    # Sound, a 0.8 s pause at 16.5 s (inside the search stretch of a 20 s chunk), sound to 45 s.
    audio = np.concatenate([tone(16.5), np.zeros(int(0.8 * SAMPLE_RATE), np.float32), tone(27.7)])
    chunks = list(audio_chunks(blocks_of(audio), chunk_s=20))
    assert len(chunks) >= 2
    first_offset, first = chunks[0]
    assert first_offset == 0.0
    cut_s = len(first) / SAMPLE_RATE
    assert 16.5 <= cut_s <= 17.3, f"cut at {cut_s:.2f} s, not in the pause"
    position = 0
    for offset, samples in chunks:
        assert offset == pytest.approx(position / SAMPLE_RATE)
        position += len(samples)
    assert position == len(audio)
    np.testing.assert_array_equal(np.concatenate([c for _, c in chunks]), audio)
    # The last chunk is never a sliver.
    assert len(chunks[-1][1]) / SAMPLE_RATE >= 10


def test_short_audio_is_one_chunk() -> None:
    audio = tone(25.0)
    chunks = list(audio_chunks(blocks_of(audio), chunk_s=20))
    assert len(chunks) == 1 and len(chunks[0][1]) == len(audio)


def test_quietest_cut_finds_the_quiet_hop() -> None:
    audio = tone(10.0)
    audio[int(6.0 * SAMPLE_RATE) : int(6.6 * SAMPLE_RATE)] = 0.0
    cut = quietest_cut(audio, 4 * SAMPLE_RATE, 9 * SAMPLE_RATE)
    assert 6.0 <= cut / SAMPLE_RATE <= 6.6


def test_pcm_blocks_equal_a_whole_decode(tmp_path: Path, shared_media: Path) -> None:
    joined = build_joined_audio(tmp_path / "joined.wav")
    raw = tmp_path / "whole.raw"
    run_ffmpeg(["-i", str(joined), "-ac", "1", "-ar", str(SAMPLE_RATE), "-f", "s16le", str(raw)])
    whole = np.fromfile(raw, dtype="<i2").astype(np.float32) / 32768.0
    blocks = list(pcm_blocks(joined, block_s=1.5))
    assert len(blocks) > 10
    assert max(len(b) for b in blocks) <= int(1.5 * SAMPLE_RATE)
    np.testing.assert_array_equal(np.concatenate(blocks), whole)


def test_pcm_blocks_report_a_broken_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 100)
    with pytest.raises(FFmpegError):
        list(pcm_blocks(broken))


# --------------------------------------------------------------------------- chunked transcripts on real speech

ENGINES: dict[str, Callable[[float], Transcriber]] = {
    "faster-whisper": lambda chunk_s: FasterWhisperEngine(str(FASTER_TINY_EN), chunk_s=chunk_s),
    "openai-whisper": lambda chunk_s: OpenAIWhisperEngine(str(OPENAI_TINY_EN), chunk_s=chunk_s),
}


@pytest.fixture(scope="module")
def twice_read(tmp_path_factory: pytest.TempPathFactory, shared_media: Path) -> Path:
    return build_joined_audio(tmp_path_factory.mktemp("speech") / "twice.wav", repeats=2)


@pytest.mark.parametrize("engine", list(ENGINES))
def test_chunked_words_match_one_piece(engine: str, twice_read: Path) -> None:
    # 49.5 s of speech in ~16 s chunks: at least two boundaries, each at a pause the audio chose.
    chunk_s = 16.0
    offsets = [o for o, _ in audio_chunks(pcm_blocks(twice_read), chunk_s=chunk_s)]
    assert len(offsets) >= 3, offsets
    whole = ENGINES[engine](600.0).transcribe(twice_read)
    seen: list[float] = []
    chunked = ENGINES[engine](chunk_s).transcribe(twice_read, progress=seen.append)
    assert seen[0] == 0.0 and seen[-1] == 1.0 and seen == sorted(seen) and len(seen) >= len(offsets)
    assert chunked.duration == pytest.approx(whole.duration, abs=0.01)

    reference = " ".join([reference_text()] * 2)
    wer_whole, wer_chunked = word_error_rate(reference, whole.text), word_error_rate(reference, chunked.text)
    cuts = [round(o, 2) for o in offsets[1:]]
    print(f"\n{engine}: cuts at {cuts} s; WER one piece {wer_whole:.2%}, chunked {wer_chunked:.2%}")
    assert wer_chunked <= max(0.15, wer_whole + 0.02)

    a = [(tok, w.start) for w in whole.words for tok in normalize_tokens(w.word)]
    b = [(tok, w.start) for w in chunked.words for tok in normalize_tokens(w.word)]
    matcher = SequenceMatcher(None, [t for t, _ in a], [t for t, _ in b], autojunk=False)
    pairs = [(a[m.a + k][1], b[m.b + k][1]) for m in matcher.get_matching_blocks() for k in range(m.size)]
    assert len(pairs) >= 0.95 * len(a), "chunking lost or changed words"
    # Against the ground truth, sentence starts are as good as the one-piece transcript is required to be.
    once = librivox_segments()
    truth = [s.start for s in once] + [s.start + TALK_S for s in once]
    starts = sentence_starts(chunked, [s.text for s in once] * 2)
    errors = [abs(got - want) for got, want in zip(starts, truth, strict=True)]
    print(f"{engine}: sentence start errors (s) {[round(e, 2) for e in errors]}")
    assert max(errors) <= MAX_START_ERROR_S
    # The words either side of every cut are there, at the same times.
    for cut in offsets[1:]:
        near = [(x, y) for x, y in pairs if abs(x - cut) <= 3.0]
        around = [t for _, t in a if abs(t - cut) <= 3.0]
        assert len(near) >= len(around) - 1, f"words lost around the cut at {cut:.2f} s"
        assert all(abs(x - y) <= TIMESTAMP_TOLERANCE_S for x, y in near), f"times moved around the cut at {cut:.2f}"
    previous = 0.0
    for w in chunked.words:
        assert previous <= w.start <= w.end <= chunked.duration
        previous = w.end


# --------------------------------------------------------------------------- memory does not grow with duration

PEAK_SCRIPT = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from cliply.media.transcribe import FasterWhisperEngine

    model, media, chunk_s = sys.argv[1], Path(sys.argv[2]), float(sys.argv[3])
    transcript = FasterWhisperEngine(model, chunk_s=chunk_s).transcribe(media)
    assert transcript.words, "no words"
    peak = next(line for line in open("/proc/self/status") if line.startswith("VmHWM"))
    print(int(peak.split()[1]) // 1024)
    """
)


def peak_mb(media: Path, chunk_s: float) -> int:
    proc = subprocess.run(
        [sys.executable, "-c", PEAK_SCRIPT, str(FASTER_TINY_EN), str(media), str(chunk_s)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return int(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def talks(tmp_path_factory: pytest.TempPathFactory, shared_media: Path) -> dict[int, Path]:
    tmp = tmp_path_factory.mktemp("talks")
    once = build_joined_audio(tmp / "once.wav")
    out = {}
    for minutes in (2, 4):
        dst = tmp / f"talk{minutes}.m4a"
        run_ffmpeg(
            ["-stream_loop", "-1", "-i", str(once), "-t", str(minutes * 60), "-c:a", "aac", "-b:a", "64k", str(dst)]
        )
        out[minutes] = dst
    return out


def test_transcription_memory_does_not_grow_with_duration(talks: dict[int, Path]) -> None:
    short, long = peak_mb(talks[2], 30.0), peak_mb(talks[4], 30.0)
    # Control: the same 4 minutes in one piece, as every source was handled before.
    one_piece = peak_mb(talks[4], 3600.0)
    print(f"\npeak RSS: 2 min {short} MB, 4 min {long} MB (30 s chunks); 4 min in one piece {one_piece} MB")
    assert one_piece - short >= MIN_UNCHUNKED_GROWTH_MB, "the probe does not see a whole-file decode"
    assert long - short <= MAX_GROWTH_MB
