"""Variant values per kind: parsing and validation of what a user typed (one-line ValueErrors), and how a variant
becomes a post target's caption, title and options."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from cliply.publishing.captions import Suggestion

KINDS = ("caption", "title", "hashtags", "caption_style", "thumbnail", "hook")
ARM_NAMES = ("A", "B", "C", "D")
_HASHTAG = re.compile(r"#[^\W_][\w]*", re.UNICODE)
_FRAME = re.compile(r"frame:\s*(\d+(?:\.\d+)?)\s*(%?)")
_IMAGE = re.compile(r"image:\s*(\d+)")


@dataclass(frozen=True)
class ClipFacts:
    """What validation needs to know about the clip."""

    duration_s: float
    suggestion: Suggestion
    images: int = 0  # uploaded thumbnail images


@dataclass(frozen=True)
class TargetText:
    caption: str
    title: str | None = None
    options: dict[str, Any] = field(default_factory=dict)


def parse_variants(kind: str, values: tuple[str, ...] | list[str], facts: ClipFacts) -> list[dict[str, Any]]:
    """2–4 distinct valid values → their variant dicts ({"caption": …}, {"hook_at_s": 12.0}, …)."""
    if kind not in KINDS:
        raise ValueError(f"unknown experiment kind {kind!r} (choose from {', '.join(KINDS)})")
    if not 2 <= len(values) <= len(ARM_NAMES):
        raise ValueError(f"an experiment needs 2 to {len(ARM_NAMES)} variants; got {len(values)}")
    parsed = [parse_variant(kind, str(v), facts) for v in values]
    if len({repr(sorted(p.items())) for p in parsed}) != len(parsed):
        raise ValueError("the variants must be distinct")
    return parsed


def parse_variant(kind: str, value: str, facts: ClipFacts) -> dict[str, Any]:
    text = value.strip()
    if not text:
        raise ValueError(f"empty {kind} variant")
    if kind in ("caption", "title"):
        return {kind: text}
    if kind == "hashtags":
        return {"hashtags": _hashtags(text)}
    if kind == "caption_style":
        from cliply.media.caption_styles import STYLES

        if text not in STYLES:
            raise ValueError(f"caption style {text!r} is unknown (choose from {', '.join(STYLES)})")
        return {"caption_style": text}
    if kind == "thumbnail":
        return {"thumbnail": _thumbnail(text, facts)}
    return {"hook_at_s": _seconds_in_clip(text, facts.duration_s, "hook")}


def cover_window(rule: object, start: float, end: float, half_s: float = 0.6) -> tuple[float, float]:
    """Where a new clip's cover frame is picked: the whole clip, or around the position a thumbnail experiment's
    winner chose when the workspace made it its default ("frame:40%" of the clip, or "frame:2.5" seconds into it;
    an uploaded image is no rule for other clips)."""
    m = _FRAME.fullmatch(str(rule or "").strip())
    if m is None or end <= start:
        return start, end
    value = float(m.group(1))
    at = min(max(start + ((end - start) * value / 100 if m.group(2) else value), start), end)
    return max(start, at - half_s), min(end, at + half_s)


def _hashtags(text: str) -> str:
    tags = text.replace(",", " ").split()
    bad = [t for t in tags if not _HASHTAG.fullmatch(t)]
    if bad:
        raise ValueError(f"hashtags variant {text!r}: {bad[0]!r} is not a hashtag (use e.g. '#money #savings')")
    return " ".join(tags)


def _thumbnail(text: str, facts: ClipFacts) -> str:
    if m := _FRAME.fullmatch(text):
        number, percent = float(m.group(1)), bool(m.group(2))
        if percent and number > 100:
            raise ValueError(f"thumbnail {text!r}: a percentage must be 0–100")
        if not percent:
            _seconds_in_clip(m.group(1), facts.duration_s, "thumbnail frame")
        return f"frame:{m.group(1)}{'%' if percent else ''}"
    if m := _IMAGE.fullmatch(text):
        if int(m.group(1)) >= facts.images:
            raise ValueError(f"thumbnail {text!r}: only {facts.images} image(s) were uploaded (image:0 is the first)")
        return f"image:{int(m.group(1))}"
    raise ValueError(f"bad thumbnail variant {text!r}: use frame:<seconds>, frame:<percent>% or image:<index>")


def _seconds_in_clip(text: str, duration_s: float, what: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        raise ValueError(f"bad {what} time {text!r}: give seconds into the clip, e.g. 4.5") from None
    if not 0 <= seconds < duration_s:
        raise ValueError(f"{what} time {seconds:g} s is outside the clip (0–{duration_s:g} s)")
    return seconds


def variant_value(kind: str, variant: dict[str, Any]) -> Any:
    """The value a winner records as the workspace default for its kind."""
    key = {"hook": "hook_at_s"}.get(kind, kind)
    return variant.get(key)


def strip_hashtags(text: str) -> str:
    return " ".join(w for w in text.split() if not _HASHTAG.fullmatch(w))


def target_text(kind: str, variant: dict[str, Any], suggestion: Suggestion) -> TargetText:
    """A new target's text for an arm; media options (thumbnail covers) are added by the caller."""
    default = suggestion.text()
    if kind == "caption":
        return TargetText(str(variant["caption"]))
    if kind == "title":
        return TargetText(default, title=str(variant["title"]))
    if kind == "hashtags":
        return TargetText(f"{suggestion.caption} {variant['hashtags']}".strip())
    if kind == "caption_style":
        return TargetText(default, options={"caption_style": variant["caption_style"]})
    return TargetText(default)


def applied_text(kind: str, variant: dict[str, Any], caption: str, title: str) -> tuple[str, str]:
    """An existing target's (caption, title) once the variant is applied: hashtags replace the caption's own."""
    if kind == "caption":
        return str(variant["caption"]), title
    if kind == "title":
        return caption, str(variant["title"])
    if kind == "hashtags":
        return f"{strip_hashtags(caption)} {variant['hashtags']}".strip(), title
    return caption, title
