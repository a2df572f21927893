"""Real-time factor of both ASR engines on the same ~75 s of LibriVox speech, measured in one run.

Usage: .venv/bin/python bench/transcribe_rtf.py [--repeats 3] [--threads 0]
Model paths: CLIPLY_WHISPER_MODEL_OPENAI (a .pt) and CLIPLY_WHISPER_MODEL_FASTER (a CTranslate2 folder);
defaults are the tiny.en weights in ../shared/models beside the repo.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cliply.media.ffmpeg import run_ffmpeg  # noqa: E402
from cliply.media.transcribe import make_transcriber  # noqa: E402
from tests.fixtures.media import build_joined_audio, reference_text  # noqa: E402
from tests.test_transcribe import word_error_rate  # noqa: E402

SHARED_MODELS = REPO.parent / "shared" / "models"
ENGINES = {
    "openai-whisper": os.environ.get(
        "CLIPLY_WHISPER_MODEL_OPENAI", str(SHARED_MODELS / "openai-whisper" / "tiny.en.pt")
    ),
    "faster-whisper": os.environ.get("CLIPLY_WHISPER_MODEL_FASTER", str(SHARED_MODELS / "faster-whisper-tiny.en")),
}


def build_audio(tmp: Path, repeats: int) -> Path:
    joined = build_joined_audio(tmp / "joined.wav")
    out = tmp / f"joined_x{repeats}.wav"
    run_ffmpeg(["-stream_loop", str(repeats - 1), "-i", str(joined), "-c", "copy", str(out)])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="times the 24.7 s LibriVox audio is looped")
    parser.add_argument("--threads", type=int, default=0, help="ASR threads (0 = all cores)")
    args = parser.parse_args()

    reference = " ".join([reference_text()] * args.repeats)
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="cliply-bench-") as tmp:
        audio = build_audio(Path(tmp), args.repeats)
        for engine, model in ENGINES.items():
            transcriber = make_transcriber(engine, model, threads=args.threads)
            t0 = time.perf_counter()
            # load() includes importing the engine's library (torch for openai-whisper).
            transcriber.load()  # type: ignore[attr-defined]
            load_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            transcript = transcriber.transcribe(audio)
            transcribe_s = time.perf_counter() - t0
            results[engine] = {
                "load_s": load_s,
                "transcribe_s": transcribe_s,
                "rtf": transcribe_s / transcript.duration,
                "wer": word_error_rate(reference, transcript.text),
                "audio_s": transcript.duration,
                "words": len(transcript.words),
            }

    print(f"audio: {results['faster-whisper']['audio_s']:.2f} s (LibriVox x{args.repeats}), threads={args.threads}")
    print(f"{'engine':<16}{'load s':>9}{'transcribe s':>14}{'RTF':>8}{'WER':>8}{'words':>7}")
    for engine, r in results.items():
        print(
            f"{engine:<16}{r['load_s']:>9.2f}{r['transcribe_s']:>14.2f}{r['rtf']:>8.3f}{r['wer']:>8.2%}{r['words']:>7.0f}"
        )
    ratio = results["openai-whisper"]["transcribe_s"] / results["faster-whisper"]["transcribe_s"]
    print(f"openai/faster transcribe-time ratio: {ratio:.2f}x (same audio, same run)")


if __name__ == "__main__":
    main()
