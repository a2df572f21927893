"""safe_filename / safe_extension against hostile names."""

from __future__ import annotations

import pytest

from cliply.security.filenames import MAX_NAME_BYTES, safe_extension, safe_filename


def _is_single_component(name: str) -> bool:
    return (
        bool(name)
        and name not in (".", "..")
        and "/" not in name
        and "\\" not in name
        and "\x00" not in name
        and not name.startswith(".")
        and all(ord(c) >= 32 for c in name)
        and len(name.encode("utf-8")) <= MAX_NAME_BYTES
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\win.ini", "win.ini"),
        ("C:\\Users\\me\\Videos\\talk.MP4", "talk.mp4"),
        ("/abs/path/video.mp4", "video.mp4"),
        ("\x00evil.mp4", "evil.mp4"),
        ("evil\x00.mp4", "evil.mp4"),
        ("line\nbreak\t.mp4", "linebreak.mp4"),
        ("CON.mp4", "_CON.mp4"),
        ("con", "_con"),
        ("lpt1.txt", "_lpt1.txt"),
        ("aux.tar.gz", "_aux.tar.gz"),
        ("..", "upload"),
        (".", "upload"),
        ("....", "upload"),
        ("", "upload"),
        ("   ", "upload"),
        (".bashrc", "bashrc"),
        ("..hidden.mp4", "hidden.mp4"),
        ("-rf.mp4", "rf.mp4"),
        ("a..b.mp4", "a.b.mp4"),
        ("dir/..", "upload"),
        ("My Talk (final) v2.MOV", "My Talk (final) v2.mov"),
        ("ｅｖｉｌ．ｍｐ４", "evil.mp4"),  # fullwidth lookalikes fold to ASCII under NFKC
        ("a\u2215b.mp4", "a_b.mp4"),  # DIVISION SLASH
        ("‥／etc／passwd", "passwd"),  # two-dot leader and fullwidth solidus
        ("report\u202e4pm.exe", "report4pm.exe"),  # right-to-left override cannot disguise the extension
        ("zero\u200bwidth.mp4", "zerowidth.mp4"),
        ('what?<>:"|*.mp4', "what.mp4"),
        ("a?b*c.mp4", "a_b_c.mp4"),
        ("café.mp4", "café.mp4"),
    ],
)
def test_hostile_names(raw: str, expected: str) -> None:
    result = safe_filename(raw)
    assert result == expected
    assert _is_single_component(result)


def test_default_is_used_and_configurable() -> None:
    assert safe_filename("..", default="source") == "source"
    assert safe_filename("/", default="source") == "source"
    assert safe_filename(".mp4") == "mp4"  # a bare dotfile is a name, not an extension


def test_long_names_keep_extension() -> None:
    result = safe_filename("a" * 1000 + ".mp4")
    assert result.endswith(".mp4")
    assert len(result.encode()) <= MAX_NAME_BYTES
    multibyte = safe_filename("é" * 500 + ".webm")
    assert multibyte.endswith(".webm") and len(multibyte.encode()) <= MAX_NAME_BYTES
    multibyte.encode("utf-8").decode("utf-8")  # never cut inside a character


@pytest.mark.parametrize(
    "raw",
    [
        "../" * 50 + "x",
        "\\\\server\\share\\..\\..",
        "\x00" * 10,
        "/" * 10,
        "." * 300,
        "\u202e" * 5,
        "CON",
        "nul.",
        "ＣＯＮ.mp4",
        "com¹.mp4",
    ],
)
def test_never_usable_as_a_path(raw: str) -> None:
    result = safe_filename(raw)
    assert _is_single_component(result)
    assert result.split(".")[0].lower() not in {"con", "nul", "com¹"}


def test_safe_extension() -> None:
    allowed = {".mp4", "mov", ".MKV"}
    assert safe_extension("Talk.MP4", allowed) == ".mp4"
    assert safe_extension("../x/clip.mkv", allowed) == ".mkv"
    assert safe_extension("x.mov", allowed) == ".mov"
    for bad in ("x.exe", "x.mp4.exe", "noext", ".mp4", "x.mp4\x00.exe", "x.mp4/"):
        with pytest.raises(ValueError, match="not accepted"):
            safe_extension(bad, allowed)
