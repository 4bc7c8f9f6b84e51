"""Decoding the tables users bring: UTF-8 (with or without a byte-order mark) and UTF-16/UTF-32 with one, as
spreadsheet programs write them ("CSV UTF-8", "Unicode text")."""

from __future__ import annotations

import codecs
from pathlib import Path

from headstart.errors import HeadstartError

# Longest first: the UTF-32 LE mark starts with the UTF-16 LE one.
BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le", "UTF-32"),
    (codecs.BOM_UTF32_BE, "utf-32-be", "UTF-32"),
    (codecs.BOM_UTF8, "utf-8", "UTF-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le", "UTF-16"),
    (codecs.BOM_UTF16_BE, "utf-16-be", "UTF-16"),
)
EXPECTED = "UTF-8, or UTF-16 with a byte-order mark"
FIX = "re-save it as UTF-8 (in Excel: 'CSV UTF-8'; in an editor: 'Save with encoding' UTF-8)"


def _bomless_utf16(raw: bytes) -> str | None:
    """``utf-16-le``/``utf-16-be`` when ``raw`` looks like mostly-ASCII UTF-16 written without a mark (every other
    byte a NUL), else None; such bytes are valid UTF-8 too, but decode to text full of NUL characters."""
    sample = raw[:4096]
    if len(sample) < 4 or len(sample) % 2 or b"\x00" not in sample:
        return None
    even, odd = sample[0::2], sample[1::2]
    if odd.count(0) >= 0.9 * len(odd) and even.count(0) <= 0.1 * len(even):
        return "utf-16-le"
    if even.count(0) >= 0.9 * len(even) and odd.count(0) <= 0.1 * len(odd):
        return "utf-16-be"
    return None


def decode_table(raw: bytes, path: Path, replace: bool = False) -> tuple[str, int]:
    """The text of a CSV/TSV/JSONL file and how many of its lines had undecodable bytes.

    A byte-order mark picks UTF-8, UTF-16 or UTF-32; without one the bytes are UTF-8 (or, when every other byte is
    NUL, UTF-16). Bytes that do not decode raise a HeadstartError naming the line and the fix, or, with ``replace``,
    are replaced by U+FFFD and the lines holding them counted.
    """
    encoding, name, skip, marked = "utf-8", "UTF-8", 0, False
    for bom, codec, label in BOMS:
        if raw.startswith(bom):
            encoding, name, skip, marked = codec, label, len(bom), True
            break
    else:
        guessed = _bomless_utf16(raw)
        if guessed:
            encoding, name = guessed, "UTF-16"
    body = raw[skip:]
    try:
        return body.decode(encoding), 0
    except UnicodeDecodeError as exc:
        if not replace:
            line = body.count(b"\n", 0, exc.start) + 1
            if name == "UTF-8":
                problem = f"line {line} has a byte that is not UTF-8 (0x{body[exc.start]:02x}); headstart reads {EXPECTED}"
            elif marked:
                problem = f"starts with a {name} byte-order mark but is not valid {name} ({exc.reason})"
            else:
                problem = f"looks like {name} without a byte-order mark but is not valid {name} ({exc.reason})"
            raise HeadstartError(f"{path} {problem}; {FIX}") from exc
    text = body.decode(encoding, errors="replace")
    return text, sum("\ufffd" in line for line in text.splitlines())
