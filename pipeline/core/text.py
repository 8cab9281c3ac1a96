"""Document text and offsets: the one normalisation and the one UTF-16 ⇄ code point conversion.

Offsets are half-open ``[start, end)`` in Python code points into the NFC-normalised, LF-only
document text that :func:`normalise_text` returns. Tools that count UTF-16 code units (doccano's
editor, MobIE, Java/JS) are converted at the edge with :func:`utf16_to_codepoint` and
:func:`codepoint_to_utf16`, nowhere else.

Pure: imports nothing of the package and touches no files.
"""

from __future__ import annotations

import bisect
import hashlib
import unicodedata
from typing import Sequence

BOM = "\ufeff"


def normalise_text(raw: str) -> str:
    """Return ``raw`` without a leading BOM, with CRLF/CR turned into LF, in Unicode NFC.

    Every offset in the corpus refers to the text this function returns.
    """
    if raw.startswith(BOM):
        raw = raw[1:]
    text = raw.replace("\r\n", "\n").replace("\r", "\n")
    return unicodedata.normalize("NFC", text)


def text_sha256(text: str) -> str:
    """The anchor of an annotation record: sha256 of the normalised text encoded as UTF-8."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _utf16_prefix(text: str) -> list[int]:
    """``prefix[i]`` is the number of UTF-16 code units in ``text[:i]``."""
    prefix = [0] * (len(text) + 1)
    units = 0
    for index, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        prefix[index + 1] = units
    return prefix


def codepoint_to_utf16(text: str, offsets: Sequence[int]) -> list[int]:
    """Convert code-point offsets into ``text`` to UTF-16 code-unit offsets."""
    if text.isascii() or all(ord(c) <= 0xFFFF for c in text):
        return [_checked(text, o, len(text)) for o in offsets]
    prefix = _utf16_prefix(text)
    return [prefix[_checked(text, o, len(text))] for o in offsets]


def utf16_to_codepoint(text: str, offsets: Sequence[int]) -> list[int]:
    """Convert UTF-16 code-unit offsets into ``text`` to code-point offsets.

    Raises ``ValueError`` for an offset outside the text or one that points into the middle of a
    surrogate pair (which no editor can produce for well-formed text).
    """
    if all(ord(c) <= 0xFFFF for c in text):
        return [_checked(text, o, len(text)) for o in offsets]
    prefix = _utf16_prefix(text)
    result = []
    for offset in offsets:
        _checked(text, offset, prefix[-1], unit="UTF-16 offset")
        index = bisect.bisect_left(prefix, offset)
        if prefix[index] != offset:
            raise ValueError(
                f"UTF-16 offset {offset} splits the surrogate pair of {text[index - 1]!r} "
                f"at code point {index - 1}"
            )
        result.append(index)
    return result


def _checked(text: str, offset: int, limit: int, unit: str = "offset") -> int:
    if not 0 <= offset <= limit:
        raise ValueError(f"{unit} {offset} is outside the text (length {limit})")
    return offset
