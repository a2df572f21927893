"""Highlight detection: rules proven on synthetic word-timed transcripts, plus one real Whisper transcript."""

from __future__ import annotations

import random
from collections.abc import Sequence
from itertools import pairwise

import numpy as np
import pytest

from cliply.media.audio_features import AudioEnergy, compute_energy
from cliply.media.highlights import LEAD_S, TAIL_S, build_sentences, find_highlights
from cliply.media.types import Highlight, Segment, Transcript, Word
from tests.fixtures.media import FASTER_TINY_EN, librivox_segments

WORD_S = 0.3
WORD_GAP_S = 0.05
SENTENCE_GAP_S = 0.4

# The same five body sentences follow each test opening, so only the opening differs between spans.
BODY = [
    "The first draft took most of the spring to write and test.",
    "We moved the meetings to the morning so the afternoons stayed quiet.",
    "Reviews happened on Fridays with the whole group around one table.",
    "By the summer the backlog had shrunk to a handful of small tickets.",
    "The last release went out on a calm Tuesday without any drama.",
]


def build(script: Sequence[str | float], *, t0: float = 0.5, tail_s: float = 1.0) -> Transcript:
    """One segment per sentence; a float in the script is extra silence in seconds."""
    t, segments = t0, []
    for item in script:
        if isinstance(item, float):
            t += item
            continue
        words = []
        for token in item.split():
            words.append(Word(token, round(t, 3), round(t + WORD_S, 3)))
            t += WORD_S + WORD_GAP_S
        t += SENTENCE_GAP_S - WORD_GAP_S
        segments.append(Segment(item, words[0].start, words[-1].end, tuple(words)))
    end = segments[-1].end if segments else 0.0
    return Transcript("en", " ".join(s.text for s in segments), tuple(segments), end + tail_s)


def block_length(opening: str) -> float:
    words = build([opening, *BODY]).words
    return words[-1].end - words[0].start


def window_for_whole_blocks(opening: str) -> dict[str, float]:
    """A window that only whole blocks fit (dropping a sentence makes a span too short)."""
    length = block_length(opening)
    return {"min_s": length - 0.5, "max_s": length + LEAD_S + TAIL_S + 0.1}


def words_inside(t: Transcript, h: Highlight) -> list[Word]:
    return [w for w in t.words if w.start >= h.start and w.end <= h.end]


def assert_non_overlapping(hs: Sequence[Highlight]) -> None:
    spans = sorted((h.start, h.end) for h in hs)
    for (_, a_end), (b_start, _) in pairwise(spans):
        assert a_end <= b_start


def assert_ranked(hs: Sequence[Highlight]) -> None:
    assert [h.rank for h in hs] == list(range(1, len(hs) + 1))
    assert all(a.score >= b.score for a, b in pairwise(hs))
    assert all(0.0 <= h.score <= 100.0 for h in hs)
    assert all(h.reasons for h in hs)


def random_talk(seed: int, n_sentences: int = 70) -> Transcript:
    rng = random.Random(seed)
    vocab = [
        "river",
        "market",
        "engine",
        "window",
        "garden",
        "system",
        "budget",
        "coffee",
        "morning",
        "signal",
        "ticket",
        "bridge",
        "question",
        "answer",
        "design",
        "number",
        "paper",
        "camera",
        "travel",
        "winter",
    ]
    glue = ["the", "a", "of", "to", "in", "with", "for", "on", "about", "from"]
    script: list[str | float] = []
    for _ in range(n_sentences):
        n = rng.randint(5, 16)
        tokens = [rng.choice(vocab if k % 2 else glue) for k in range(n)]
        end = rng.choice([".", ".", ".", "?", "!"])
        script.append(" ".join(tokens).capitalize() + end)
        if rng.random() < 0.15:
            script.append(rng.choice([0.8, 1.5]))
    return build(script)


# --- structural rules ------------------------------------------------------------------------------


@pytest.mark.parametrize(("min_s", "max_s"), [(15.0, 60.0), (15.0, 30.0), (8.0, 12.0)])
def test_clips_are_ranked_non_overlapping_whole_sentences_within_the_window(min_s: float, max_s: float) -> None:
    t = random_talk(seed=7)
    hs = find_highlights(t, min_s=min_s, max_s=max_s, max_clips=5)
    assert len(hs) == 5
    assert_ranked(hs)
    assert_non_overlapping(hs)
    words = t.words
    for h in hs:
        assert min_s <= h.duration <= max_s
        inside = words_inside(t, h)
        first, last = inside[0], inside[-1]
        i, j = words.index(first), words.index(last)
        # Edges sit in the silence around the words, within the lead/tail allowance.
        assert first.start - LEAD_S - 1e-9 <= h.start <= first.start
        assert last.end <= h.end <= last.end + TAIL_S + 1e-9
        assert i == 0 or words[i - 1].end <= h.start
        assert j == len(words) - 1 or h.end <= words[j + 1].start
        assert not any(w.start < h.start < w.end or w.start < h.end < w.end for w in words)
        # Sentences are the unit: a clip opens on a capitalised sentence start and ends on terminal punctuation.
        assert first.word[0].isupper() and (i == 0 or words[i - 1].word[-1] in ".?!")
        assert last.word[-1] in ".?!"
        assert h.text.split() == [w.word for w in inside]


def test_max_clips_limits_the_result() -> None:
    t = random_talk(seed=3)
    assert len(find_highlights(t, min_s=10, max_s=20, max_clips=2)) == 2
    assert len(find_highlights(t, min_s=10, max_s=20, max_clips=1)) == 1


def test_result_is_deterministic_and_ties_go_to_the_earlier_span() -> None:
    t = random_talk(seed=11)
    assert find_highlights(t, min_s=10, max_s=25) == find_highlights(t, min_s=10, max_s=25)
    opening = "Our small team shipped the new release well ahead of the plan."
    twins = build([opening, *BODY, 20.0, opening, *BODY])
    hs = find_highlights(twins, **window_for_whole_blocks(opening))
    assert len(hs) == 2
    assert hs[0].score == hs[1].score
    assert hs[0].start < hs[1].start


# --- scoring features -------------------------------------------------------------------------------


def test_a_question_hook_outranks_a_flat_opening_of_the_same_length() -> None:
    flat = "The weather stayed mild along the coast for most of the week."
    question = "Why do so many smart people never finish the projects they start?"
    assert len(flat.split()) == len(question.split())
    # The hook block comes second, so winning a tie by start time cannot make this test pass.
    t = build([flat, *BODY, 20.0, question, *BODY])
    hs = find_highlights(t, **window_for_whole_blocks(flat))
    assert len(hs) == 2
    assert hs[0].duration == pytest.approx(hs[1].duration)
    assert hs[0].text.startswith("Why")
    assert hs[0].score > hs[1].score
    assert hs[0].features["hook"] > hs[1].features["hook"]
    assert "opens with a question" in hs[0].reasons


def test_opening_on_a_conjunction_is_penalised() -> None:
    dangling = "And the team shipped the new release well ahead of the plan."
    standalone = "The small team shipped the new release well ahead of the plan."
    assert len(dangling.split()) == len(standalone.split())
    t = build([dangling, *BODY, 20.0, standalone, *BODY])
    hs = find_highlights(t, **window_for_whole_blocks(dangling))
    assert len(hs) == 2
    assert hs[0].text.startswith("The small team")
    assert hs[0].score > hs[1].score
    assert hs[1].features["hook"] < hs[0].features["hook"]
    assert any("opens on 'and'" in r for r in hs[1].reasons)


def test_louder_delivery_raises_a_span_score() -> None:
    opening = "Our small team shipped the new release well ahead of the plan."
    t = build([opening, *BODY, 20.0, opening, *BODY])
    window = window_for_whole_blocks(opening)
    quiet_first = find_highlights(t, **window)
    first_block_end = quiet_first[0].end if quiet_first[0].start < quiet_first[1].start else quiet_first[1].end

    hop = 0.05
    times = np.arange(int(t.duration / hop) + 1) * hop
    speech = np.zeros_like(times, dtype=bool)
    for w in t.words:
        speech |= (times >= w.start) & (times < w.end)
    level = np.where(times < first_block_end, -30.0, -22.0)  # second block 8 dB louder
    energy = AudioEnergy(hop_s=hop, rms_db=np.where(speech, level, -80.0))

    hs = find_highlights(t, energy=energy, **window)
    assert len(hs) == 2
    loud, quiet = hs
    assert loud.start > quiet.start  # the later, louder block now wins
    assert loud.score > quiet.score
    assert loud.features["energy"] > quiet.features["energy"]
    assert loud.features["energy_delta_db"] > 0 > quiet.features["energy_delta_db"]
    assert any(r.startswith("high vocal energy (+") for r in loud.reasons)
    # Without energy the two identical blocks tie.
    assert quiet_first[0].score == quiet_first[1].score


# --- sentence building and edge cases --------------------------------------------------------------


def test_sentences_ignore_mid_sentence_segment_cuts_and_abbreviations() -> None:
    whole = build(["Mr. Brown said the plan would work if we waited until spring.", "Nobody believed him."])
    # Cut the first sentence into two segments with no pause between, like Whisper's "prudently in | his power".
    first, second = whole.segments
    cut = [w.word for w in first.words].index("until")
    parts = (
        Segment("a", first.start, first.words[cut - 1].end, first.words[:cut]),
        Segment("b", first.words[cut].start, first.end, first.words[cut:]),
    )
    assert parts[1].words[0].start - parts[0].words[-1].end < 0.3
    sentences = build_sentences(Transcript("en", whole.text, (*parts, second), whole.duration))
    assert [s.text for s in sentences] == [
        "Mr. Brown said the plan would work if we waited until spring.",
        "Nobody believed him.",
    ]


def test_a_long_pause_ends_a_sentence_even_without_punctuation() -> None:
    seg = Segment(
        "we tried it then it failed",
        0.0,
        4.0,
        (
            Word("we", 0.0, 0.3),
            Word("tried", 0.35, 0.7),
            Word("it", 0.75, 1.0),
            Word("then", 2.0, 2.3),
            Word("it", 2.35, 2.6),
            Word("failed", 2.65, 3.0),
        ),
    )
    t = Transcript("en", seg.text, (seg,), 4.0)
    assert [s.text for s in build_sentences(t)] == ["we tried it", "then it failed"]


def test_unpunctuated_monologue_longer_than_the_window_still_yields_clips() -> None:
    rng = random.Random(5)
    t0, words = 0.0, []
    vocab = ["we", "can", "see", "the", "river", "from", "here", "today"]
    for _ in range(300):  # ~105 s, one segment, no punctuation, no long pauses
        words.append(Word(rng.choice(vocab), t0, t0 + 0.3))
        t0 += 0.3 + rng.choice([0.05, 0.05, 0.1, 0.4])
    t = Transcript("en", "", (Segment("", 0.0, t0, tuple(words)),), t0 + 0.5)
    hs = find_highlights(t, min_s=15, max_s=30, max_clips=3)
    assert len(hs) == 3
    assert_non_overlapping(hs)
    assert all(15 <= h.duration <= 30 for h in hs)


def test_short_source_yields_one_whole_speech_clip() -> None:
    t = build(["Here is the one thing I learned this year.", "Ship small changes every single day."])
    words = t.words
    speech = words[-1].end - words[0].start
    assert 5.0 <= speech < 15.0
    hs = find_highlights(t, min_s=15, max_s=60)
    assert len(hs) == 1
    h = hs[0]
    assert h.features["short_source"] == 1.0
    assert h.start <= words[0].start and h.end >= words[-1].end
    assert any("short source" in r for r in h.reasons)
    # With a window it fits, the same talk is an ordinary candidate.
    assert find_highlights(t, min_s=5, max_s=60)[0].features["short_source"] == 0.0


def test_speech_below_the_hard_floor_yields_nothing() -> None:
    t = build(["Hello there friends."])
    assert find_highlights(t, min_s=15, max_s=60) == []


def test_empty_transcripts_yield_nothing() -> None:
    assert find_highlights(Transcript("en", "", (), 0.0)) == []
    assert find_highlights(Transcript("en", "", (Segment("", 0.0, 1.0, ()),), 1.0)) == []


@pytest.mark.parametrize(
    "kwargs",
    [{"min_s": 30, "max_s": 20}, {"min_s": 0, "max_s": 20}, {"min_s": 5, "max_s": -1}, {"max_clips": 0}],
)
def test_invalid_settings_raise(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        find_highlights(build(BODY), **kwargs)  # type: ignore[arg-type]


# --- real speech -----------------------------------------------------------------------------------


@pytest.mark.slow
def test_real_transcript_clips_start_and_end_at_sentence_boundaries(joined_audio) -> None:
    from faster_whisper import WhisperModel

    model = WhisperModel(str(FASTER_TINY_EN), device="cpu", compute_type="int8")
    raw, info = model.transcribe(str(joined_audio), language="en", word_timestamps=True, beam_size=1)
    segments = tuple(
        Segment(
            s.text.strip(),
            float(s.start),
            float(s.end),
            tuple(Word(w.word.strip(), float(w.start), float(w.end), float(w.probability)) for w in s.words),
        )
        for s in raw
    )
    t = Transcript("en", " ".join(s.text for s in segments), segments, float(info.duration))
    assert len(t.words) > 40

    truth = librivox_segments()
    boundaries = sorted({0.0, *(s.start for s in truth), *(s.end for s in truth)})
    for energy in (None, compute_energy(joined_audio)):
        hs = find_highlights(t, energy=energy, min_s=5, max_s=15)
        assert len(hs) >= 2
        assert_ranked(hs)
        assert_non_overlapping(hs)
        assert all(("energy" in h.features) == (energy is not None) for h in hs)
        for h in hs:
            assert 5 <= h.duration <= 15
            assert min(abs(h.start - b) for b in boundaries) <= 0.6, (h.start, h.text)
            assert min(abs(h.end - b) for b in boundaries) <= 0.6, (h.end, h.text)
