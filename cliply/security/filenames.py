"""Turn untrusted upload/download names into a single safe path component."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

MAX_NAME_BYTES = 200  # well under the 255-byte limit of common filesystems, leaving room for suffixes
MAX_EXT_CHARS = 10

# Windows device names are reserved with any extension ("CON.mp4" opens the console there).
_RESERVED = {"con", "prn", "aux", "nul", "conin$", "conout$"} | {
    f"{d}{i}" for d in ("com", "lpt") for i in "0123456789¹²³"
}
# Includes slash lookalikes NFKC leaves alone (division slash, fraction slash, big solidus, box diagonal).
_UNSAFE_CHARS = re.compile(r'[<>:"/\\|?*\x00-\x1f\x7f\u2215\u2044\u29f8\u2571]')
_EXT_RE = re.compile(rf"^[a-z0-9]{{1,{MAX_EXT_CHARS}}}$")


def _strip_controls(text: str) -> str:
    # Cc: control, Cf: format (bidi overrides that fake extensions, zero-width joiners), Cs/Co/Cn: junk.
    return "".join(ch for ch in text if unicodedata.category(ch) not in {"Cc", "Cf", "Cs", "Co", "Cn"})


def _truncate_utf8(text: str, max_bytes: int) -> str:
    return text.encode("utf-8")[:max_bytes].decode("utf-8", "ignore")


def _split_ext(name: str) -> tuple[str, str]:
    stem, dot, ext = name.rpartition(".")
    if dot and stem and _EXT_RE.match(ext.lower()):
        return stem, "." + ext.lower()
    return name, ""


def safe_filename(name: str, *, default: str = "upload") -> str:
    """A name that is one plain file name component: no directories, no dots-only, no device names.

    The extension (if it looks like one) is kept and lower-cased; the stem is cut to fit MAX_NAME_BYTES.
    """
    text = unicodedata.normalize("NFKC", str(name or ""))
    text = _strip_controls(text)
    # Only the last path component counts, whichever separator the client used.
    text = re.split(r"[/\\]", text)[-1]
    text = _UNSAFE_CHARS.sub("_", text)
    text = re.sub(r"\s+", " ", text).strip(" .")
    text = text.lstrip(".-_ ")  # no hidden files, no option-looking names
    text = re.sub(r"\.{2,}", ".", text)
    stem, ext = _split_ext(text)
    stem = stem.strip(" ._")
    if not stem:
        stem = default
    if stem.split(".", 1)[0].strip().lower() in _RESERVED:
        stem = f"_{stem}"
    stem = _truncate_utf8(stem, MAX_NAME_BYTES - len(ext)).rstrip(" .") or default
    result = stem + ext
    # Belt and braces: the result must be exactly one ordinary component.
    if result in (".", "..") or "/" in result or "\\" in result or "\x00" in result:
        return default
    return result


def safe_extension(name: str, allowed: Iterable[str]) -> str:
    """The lower-cased extension of `name` (with the dot) if it is in `allowed`, else ValueError."""
    allowed_set = {a.lower() if a.startswith(".") else f".{a.lower()}" for a in allowed}
    _, ext = _split_ext(safe_filename(name))
    if not ext or ext not in allowed_set:
        shown = ext or "no extension"
        raise ValueError(f"file type {shown} is not accepted; allowed: {', '.join(sorted(allowed_set))}")
    return ext
