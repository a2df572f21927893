"""Offline highlight detection: rank sentence-aligned spans of a transcript by explainable features.

Candidates are contiguous runs of whole sentences, so every clip starts and ends on a sentence edge. Each
candidate gets normalised features (0..1) that are weighted into a 0–100 score; the score is a ranking
signal within one source, not a calibrated virality prediction. The best non-overlapping spans win.

Short sources: if all the speech together is shorter than `min_s` but at least SHORT_SOURCE_FLOOR_S long,
the whole speech becomes one candidate flagged `short_source`, so a short talk still yields a clip.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from cliply.media.audio_features import AudioEnergy
from cliply.media.types import Highlight, Transcript, Word

# Snapping: a little air around the words (peers use ≤0.35 s lead / ≤0.45 s tail); see _Snapper.
LEAD_S = 0.3
TAIL_S = 0.4
SENTENCE_PAUSE_S = 0.7
# An ASR segment end only counts as a sentence end if something else agrees (Whisper splits mid-sentence).
SEGMENT_BREAK_PAUSE_S = 0.3
LONG_PAUSE_S = 1.0
SHORT_SOURCE_FLOOR_S = 5.0
MATTR_WINDOW = 25
MAX_REASONS = 4

WEIGHTS: dict[str, float] = {
    "hook": 0.25,
    "completeness": 0.15,
    "fluency": 0.15,
    "energy": 0.15,
    "density": 0.10,
    "duration_fit": 0.10,
    "richness": 0.10,
}

_TERMINAL = (".", "?", "!", "…")
_ABBREVIATIONS = {
    "mr.",
    "mrs.",
    "ms.",
    "dr.",
    "st.",
    "jr.",
    "sr.",
    "vs.",
    "etc.",
    "e.g.",
    "i.e.",
    "prof.",
    "no.",
    "mt.",
}
# Openings that lean on context the viewer has not seen.
_WEAK_OPENERS = {
    "and",
    "but",
    "so",
    "or",
    "because",
    "then",
    "also",
    "which",
    "though",
    "although",
    "unless",
    "however",
    "plus",
    "he",
    "she",
    "it",
    "they",
    "them",
    "him",
    "her",
    "his",
    "its",
    "their",
    "this",
    "that",
    "these",
    "those",
    "yeah",
    "yes",
    "well",
    "okay",
    "ok",
    "right",
}
_TRIGGERS = {
    "secret",
    "secrets",
    "never",
    "why",
    "how",
    "mistake",
    "mistakes",
    "truth",
    "nobody",
    "wrong",
    "stop",
    "worst",
    "best",
    "biggest",
    "surprising",
    "crazy",
    "imagine",
    "warning",
    "important",
    "problem",
    "lesson",
    "actually",
    "wait",
    "always",
    "everyone",
    "nothing",
    "failed",
    "hack",
}
_TRIGGER_BIGRAMS = {("no", "way"), ("here's", "why"), ("the", "truth"), ("what", "if")}
_NUMBER_WORDS = {
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "twelve",
    "twenty",
    "fifty",
    "hundred",
    "thousand",
    "million",
    "billion",
    "percent",
    "dozen",
    "half",
}
_FILLERS = {"um", "uh", "umm", "uhm", "erm", "er", "ah", "hmm", "mm", "mhm"}
_FILLER_BIGRAMS = {("you", "know"), ("i", "mean"), ("sort", "of"), ("kind", "of")}
_NORMALISE_RE = re.compile(r"[^\w'’]+")
_PRONOUN_I = {"i", "i'm", "i've", "i'll", "i'd"}


@dataclass(frozen=True)
class Sentence:
    """Words [first, last] (inclusive indices into the transcript's word list) and how the sentence ended."""

    first: int
    last: int
    start: float
    end: float
    text: str
    ending: str  # "punct", "pause", "segment", "split" (forced, too long) or "end" (end of speech)


def _norm(token: str) -> str:
    return _NORMALISE_RE.sub("", token.lower()).replace("’", "'")


def _is_terminal(token: str) -> bool:
    t = token.strip().rstrip("\"'”’)]")
    if not t.endswith(_TERMINAL):
        return False
    low = t.lower()
    # "Mr." and initials like "J." end with a full stop but do not end a sentence.
    return not (low in _ABBREVIATIONS or (len(low) == 2 and low[0].isalpha() and low[1] == "."))


def _join(words: Sequence[Word]) -> str:
    parts: list[str] = []
    for w in words:
        t = w.word.strip()
        # Whisper emits word continuations ("ill", "-disposed") and clitics as separate tokens.
        if parts and (t[:1] in {",", ".", "?", "!", ";", ":"} or (len(t) > 1 and t[0] in "-'’")):
            parts[-1] += t
        else:
            parts.append(t)
    return " ".join(parts)


def _words_with_segment_ends(transcript: Transcript) -> tuple[list[Word], set[int]]:
    words: list[Word] = []
    seg_ends: set[int] = set()
    for seg in transcript.segments:
        kept = [w for w in seg.words if w.word.strip() and w.end >= w.start]
        words.extend(kept)
        if kept:
            seg_ends.add(len(words) - 1)
    return words, seg_ends


def _gap_after(words: Sequence[Word], i: int) -> float:
    return max(0.0, words[i + 1].start - words[i].end) if i + 1 < len(words) else float("inf")


def _split_long(words: Sequence[Word], first: int, last: int, max_len: float) -> list[tuple[int, int]]:
    """Cut an over-long sentence at its widest pause (commas preferred) until every piece fits."""
    if words[last].end - words[first].start <= max_len or first == last:
        return [(first, last)]
    best = max(
        range(first, last),
        key=lambda k: (
            _gap_after(words, k) + (0.5 if words[k].word.rstrip().endswith((",", ";", ":")) else 0.0),
            -abs((words[k].end - words[first].start) - (words[last].end - words[k + 1].start)),
        ),
    )
    return _split_long(words, first, best, max_len) + _split_long(words, best + 1, last, max_len)


def build_sentences(transcript: Transcript, *, max_len_s: float | None = None) -> list[Sentence]:
    """Group words into sentences: terminal punctuation, a pause ≥ SENTENCE_PAUSE_S, or a corroborated segment end.

    A segment end alone is not enough because Whisper cuts segments mid-sentence ("prudently in | his power");
    it counts when a short pause or a capitalised next word agrees, or when the transcript has no punctuation.
    Sentences longer than `max_len_s` are split at their widest internal pause.
    """
    words, seg_ends = _words_with_segment_ends(transcript)
    if not words:
        return []
    punctuated = any(_is_terminal(w.word) for w in words)
    spans: list[tuple[int, int, str]] = []
    first = 0
    for i, w in enumerate(words):
        if i == len(words) - 1:
            ending = "punct" if _is_terminal(w.word) else "end"
        elif _is_terminal(w.word):
            ending = "punct"
        elif _gap_after(words, i) >= SENTENCE_PAUSE_S:
            ending = "pause"
        elif i in seg_ends and (
            not punctuated
            or _gap_after(words, i) >= SEGMENT_BREAK_PAUSE_S
            or (words[i + 1].word.strip()[:1].isupper() and _norm(words[i + 1].word) not in _PRONOUN_I)
        ):
            ending = "segment"
        else:
            continue
        spans.append((first, i, ending))
        first = i + 1
    sentences: list[Sentence] = []
    for a, b, ending in spans:
        pieces = [(a, b)] if max_len_s is None else _split_long(words, a, b, max_len_s)
        for k, (pa, pb) in enumerate(pieces):
            kind = ending if k == len(pieces) - 1 else "split"
            text = _join(words[pa : pb + 1])
            sentences.append(Sentence(pa, pb, float(words[pa].start), float(words[pb].end), text, kind))
    return sentences


class _Snapper:
    """Clip edges in the silence around words: start = word start − lead, end = word end + tail.

    Lead takes at most half of the gap before a word and tail only what lead leaves, so the clip ending before a
    gap and the clip starting after it can never overlap, and no edge ever cuts into a word.
    """

    def __init__(self, words: Sequence[Word], duration: float) -> None:
        self.words = words
        self.duration = max(duration, words[-1].end)

    def _lead(self, i: int) -> float:
        if i == 0:
            return min(LEAD_S, self.words[0].start)
        return min(LEAD_S, _gap_after(self.words, i - 1) / 2)

    def start(self, i: int) -> float:
        return max(0.0, self.words[i].start - self._lead(i))

    def end(self, i: int) -> float:
        if i == len(self.words) - 1:
            tail = min(TAIL_S, self.duration - self.words[i].end)
        else:
            tail = min(TAIL_S, _gap_after(self.words, i) - self._lead(i + 1))
        return self.words[i].end + max(0.0, tail)


def _mattr_windows(tokens: Sequence[str]) -> np.ndarray:
    """Type-token ratio of every MATTR_WINDOW-word window (moving-average TTR is length-independent)."""
    n = len(tokens)
    if n < MATTR_WINDOW:
        return np.zeros(0)
    counts = Counter(tokens[:MATTR_WINDOW])
    out = [len(counts) / MATTR_WINDOW]
    for p in range(1, n - MATTR_WINDOW + 1):
        gone = tokens[p - 1]
        counts[gone] -= 1
        if not counts[gone]:
            del counts[gone]
        counts[tokens[p + MATTR_WINDOW - 1]] += 1
        out.append(len(counts) / MATTR_WINDOW)
    return np.asarray(out)


def _filler_flags(tokens: Sequence[str], raw: Sequence[Word]) -> np.ndarray:
    flags = np.zeros(len(tokens))
    for i, t in enumerate(tokens):
        if t in _FILLERS:
            flags[i] = 1.0
        elif t == "like" and (raw[i].word.rstrip().endswith(",") or (i and raw[i - 1].word.rstrip().endswith(","))):
            flags[i] = 1.0  # ", like," is filler; "I like it" is not
        elif i and (tokens[i - 1], t) in _FILLER_BIGRAMS:
            flags[i] = 1.0
    return flags


def _hook(
    sentence_tokens: Sequence[str], sentence_text: str, prev: Sentence | None, words: Sequence[Word]
) -> tuple[float, list[str], list[str]]:
    """Strength of the opening sentence, with positive reasons and caveats."""
    value, reasons, caveats = 0.35, [], []
    text = sentence_text.rstrip("\"'”’) ")
    if text.endswith("?"):
        value += 0.35
        reasons.append("opens with a question")
    elif text.endswith("!"):
        value += 0.15
        reasons.append("opens with an exclamation")
    if any(any(c.isdigit() for c in t) or t in _NUMBER_WORDS for t in sentence_tokens):
        value += 0.15
        reasons.append("opens with a number")
    hits = sorted(
        {t for t in sentence_tokens if t in _TRIGGERS}
        | {" ".join(b) for b in pairwise(sentence_tokens) if b in _TRIGGER_BIGRAMS}
    )
    if hits:
        value += min(0.3, 0.15 * len(hits))
        reasons.append("hook words: " + ", ".join(hits[:3]))
    if sentence_tokens and sentence_tokens[0] in _WEAK_OPENERS:
        value -= 0.4
        caveats.append(f"opens on '{sentence_tokens[0]}' (needs earlier context)")
    if prev is not None and _is_terminal(words[prev.last].word) and words[prev.last].word.rstrip().endswith("?"):
        value -= 0.25
        caveats.append("opens on the answer to an earlier question")
    return float(np.clip(value, 0.0, 1.0)), reasons, caveats


def _duration_fit(duration: float, min_s: float, max_s: float) -> float:
    """1.0 inside the preferred 25–45 s (or the middle half of a window that excludes it), 0.4 at the edges."""
    lo, hi = max(min_s, 25.0), min(max_s, 45.0)
    if lo > hi:
        lo, hi = min_s + 0.25 * (max_s - min_s), min_s + 0.75 * (max_s - min_s)
    if lo <= duration <= hi:
        return 1.0
    if duration < lo:
        return 0.4 + 0.6 * max(0.0, duration - min_s) / max(lo - min_s, 1e-9)
    return 0.4 + 0.6 * max(0.0, max_s - duration) / max(max_s - hi, 1e-9)


_COMPLETENESS = {"punct": 1.0, "end": 0.7, "pause": 0.7, "segment": 0.5, "split": 0.2}


@dataclass(frozen=True)
class _Candidate:
    start: float
    end: float
    first_sentence: int
    last_sentence: int
    short_source: bool = False


def _weights(weights: Mapping[str, float] | None) -> dict[str, float]:
    """WEIGHTS with the given values (e.g. a workspace's learned weights); unknown keys or negatives refused."""
    if weights is None:
        return dict(WEIGHTS)
    unknown = sorted(set(weights) - set(WEIGHTS))
    if unknown:
        raise ValueError(f"unknown highlight feature weights: {', '.join(unknown)}")
    merged = {k: float(weights.get(k, v)) for k, v in WEIGHTS.items()}
    if any(not v >= 0 for v in merged.values()) or sum(merged.values()) <= 0:
        raise ValueError("highlight feature weights must be non-negative with a positive total")
    return merged


def _validate(min_s: float, max_s: float, max_clips: int) -> None:
    if not (min_s > 0 and max_s > 0):
        raise ValueError(f"clip lengths must be positive (min_s={min_s}, max_s={max_s})")
    if min_s > max_s:
        raise ValueError(f"min_s ({min_s}) is greater than max_s ({max_s})")
    if max_clips <= 0:
        raise ValueError(f"max_clips must be positive (got {max_clips})")


def _candidates(sentences: Sequence[Sentence], snap: _Snapper, min_s: float, max_s: float) -> list[_Candidate]:
    out: list[_Candidate] = []
    for i, first in enumerate(sentences):
        start = snap.start(first.first)
        for j in range(i, len(sentences)):
            end = snap.end(sentences[j].last)
            if end - start > max_s:
                break
            if end - start >= min_s:
                out.append(_Candidate(start, end, i, j))
    if not out:
        start, end = snap.start(sentences[0].first), snap.end(sentences[-1].last)
        if SHORT_SOURCE_FLOOR_S <= end - start < min_s:
            out.append(_Candidate(start, end, 0, len(sentences) - 1, short_source=True))
    return out


class _Scorer:
    """Per-word prefix sums so each candidate is scored in O(1) apart from its first sentence's hook."""

    def __init__(
        self,
        words: Sequence[Word],
        sentences: Sequence[Sentence],
        energy: AudioEnergy | None,
        min_s: float,
        max_s: float,
        weights: Mapping[str, float] = WEIGHTS,
    ) -> None:
        self.words, self.sentences, self.energy = words, sentences, energy
        self.weights = weights
        self.min_s, self.max_s = min_s, max_s
        self.tokens = [_norm(w.word) for w in words]
        self.filler_cum = np.concatenate(([0.0], np.cumsum(_filler_flags(self.tokens, words))))
        lulls = [g if g >= LONG_PAUSE_S else 0.0 for g in (_gap_after(words, k) for k in range(len(words) - 1))]
        self.lull_cum = np.concatenate(([0.0], np.cumsum(lulls)))
        self.mattr_cum = np.concatenate(([0.0], np.cumsum(_mattr_windows(self.tokens))))
        self.hooks: dict[int, tuple[float, list[str], list[str]]] = {}
        if energy is not None:
            self.source_db = energy.mean_db(0.0, energy.duration)
            self.median_db = energy.median_db

    def _hook_for(self, s: int) -> tuple[float, list[str], list[str]]:
        if s not in self.hooks:
            sent = self.sentences[s]
            self.hooks[s] = _hook(
                self.tokens[sent.first : sent.last + 1], sent.text, self.sentences[s - 1] if s else None, self.words
            )
        return self.hooks[s]

    def _mattr(self, f: int, last: int) -> float:
        n = last - f + 1
        if n >= MATTR_WINDOW:
            hi = last - MATTR_WINDOW + 2  # windows starting at f .. last-W+1
            return float((self.mattr_cum[hi] - self.mattr_cum[f]) / (hi - f))
        return len(set(self.tokens[f : last + 1])) / n

    def score(self, c: _Candidate) -> tuple[float, dict[str, float], tuple[str, ...]]:
        first, last = self.sentences[c.first_sentence], self.sentences[c.last_sentence]
        f, lw = first.first, last.last
        n_words = lw - f + 1
        duration = c.end - c.start
        speech_s = max(self.words[lw].end - self.words[f].start, 0.5)
        wps = n_words / speech_s
        filler_ratio = float(self.filler_cum[lw + 1] - self.filler_cum[f]) / n_words
        lull_frac = float(self.lull_cum[lw] - self.lull_cum[f]) / max(duration, 1e-9)
        mattr = self._mattr(f, lw)
        hook, hook_reasons, caveats = self._hook_for(c.first_sentence)

        values = {
            "hook": hook,
            "completeness": _COMPLETENESS[last.ending],
            "density": float(np.clip((wps - 1.0) / 1.8, 0.0, 1.0)),
            "fluency": float(np.clip(1.0 - 6.0 * filler_ratio - 2.0 * lull_frac, 0.0, 1.0)),
            "duration_fit": min(1.0, duration / self.min_s)
            if c.short_source
            else _duration_fit(duration, self.min_s, self.max_s),
            "richness": float(np.clip((mattr - 0.55) / 0.35, 0.0, 1.0)),
        }
        extra = {
            "words_per_s": wps,
            "filler_ratio": filler_ratio,
            "mattr": mattr,
            "short_source": float(c.short_source),
            "sentences": float(c.last_sentence - c.first_sentence + 1),
        }
        energy_delta = 0.0
        if self.energy is not None:
            # Mean is compared with the source's own mean level (like with like); peaks with its median level.
            energy_delta = self.energy.mean_db(c.start, c.end) - self.source_db
            peak_delta = self.energy.peak_db(c.start, c.end) - self.median_db
            values["energy"] = float(
                0.75 * np.clip(0.5 + energy_delta / 8.0, 0.0, 1.0) + 0.25 * np.clip(peak_delta / 12.0, 0.0, 1.0)
            )
            extra |= {"energy_delta_db": energy_delta, "peak_delta_db": peak_delta}

        w = self.weights
        total_w = sum(w[k] for k in values)
        score = round(100.0 * sum(w[k] * v for k, v in values.items()) / total_w, 2) if total_w > 0 else 0.0

        ranked: list[tuple[float, str]] = [(w["hook"] * hook, r) for r in hook_reasons]
        if values["completeness"] == 1.0:
            ranked.append((w["completeness"], "complete thought"))
        if values.get("energy", 0.0) >= 0.6 and energy_delta >= 1.0:
            ranked.append((w["energy"] * values["energy"], f"high vocal energy ({energy_delta:+.1f} dB)"))
        if values["fluency"] >= 0.9:
            ranked.append((w["fluency"] * values["fluency"] * 0.9, "fluent, few fillers or long pauses"))
        if values["density"] >= 0.75:
            ranked.append((w["density"] * values["density"], f"brisk delivery ({wps:.1f} words/s)"))
        if values["duration_fit"] == 1.0 and not c.short_source:
            ranked.append((w["duration_fit"] * 0.9, f"good length ({duration:.0f} s)"))
        if values["richness"] >= 0.7:
            ranked.append((w["richness"] * values["richness"], "varied vocabulary"))
        ranked.sort(key=lambda t: -t[0])  # stable, so equal contributions keep the order above
        reasons = [r for _, r in ranked[:MAX_REASONS]] + caveats
        if c.short_source:
            reasons.append("short source: the whole talk is one clip")
        features = {k: round(float(v), 4) for k, v in (values | extra).items()}  # plain floats: features go to JSON
        return score, features, tuple(reasons)


def find_highlights(
    transcript: Transcript,
    *,
    energy: AudioEnergy | None = None,
    min_s: float = 15.0,
    max_s: float = 60.0,
    max_clips: int = 5,
    weights: Mapping[str, float] | None = None,
) -> list[Highlight]:
    """Best non-overlapping sentence-aligned spans of `min_s`..`max_s` seconds, rank 1 first.

    `weights`: the feature weights (default WEIGHTS; a workspace's learned ones); they rank candidates and reasons.
    Deterministic: equal scores are ordered by start time. Raises ValueError for invalid settings.
    """
    _validate(min_s, max_s, max_clips)
    chosen_weights = _weights(weights)
    sentences = build_sentences(transcript, max_len_s=max(max_s - LEAD_S - TAIL_S, 0.1))
    if not sentences:
        return []
    words, _ = _words_with_segment_ends(transcript)
    snap = _Snapper(words, transcript.duration)
    scorer = _Scorer(words, sentences, energy, min_s, max_s, chosen_weights)
    scored = []
    for c in _candidates(sentences, snap, min_s, max_s):
        score, features, reasons = scorer.score(c)
        scored.append((score, c, features, reasons))
    scored.sort(key=lambda t: (-t[0], t[1].start, t[1].end))

    chosen: list[tuple[float, _Candidate, dict[str, float], tuple[str, ...]]] = []
    for item in scored:
        c = item[1]
        if all(c.end <= o.start or c.start >= o.end for _, o, _, _ in chosen):
            chosen.append(item)
            if len(chosen) == max_clips:
                break
    return [
        Highlight(
            rank=rank,
            start=float(c.start),
            end=float(c.end),
            score=float(score),
            text=_join(words[sentences[c.first_sentence].first : sentences[c.last_sentence].last + 1]),
            reasons=reasons,
            features=features,
        )
        for rank, (score, c, features, reasons) in enumerate(chosen, start=1)
    ]
