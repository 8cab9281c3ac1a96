"""Document text and offsets: the one normalisation and the one UTF-16 ⇄ code point conversion.

Offsets are half-open ``[start, end)`` in Python code points into the NFC-normalised, LF-only
document text that :func:`normalise_text` returns. Tools that count UTF-16 code units (doccano's
editor, MobIE, Java/JS) are converted at the edge with :func:`utf16_to_codepoint` and
:func:`codepoint_to_utf16`, nowhere else. Offsets into a raw (not yet normalised) text, as
imported corpora have them, are moved onto the normalised text with :class:`OffsetMap`.

Pure: imports nothing of the package and touches no files.
"""

from __future__ import annotations

import bisect
import hashlib
import unicodedata
from collections.abc import Iterable, Sequence
from functools import lru_cache

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
            raise ValueError(f"UTF-16 offset {offset} splits the surrogate pair of {text[index - 1]!r} at code point {index - 1}")
        result.append(index)
    return result


def _checked(text: str, offset: int, limit: int, unit: str = "offset") -> int:
    if not 0 <= offset <= limit:
        raise ValueError(f"{unit} {offset} is outside the text (length {limit})")
    return offset


# --------------------------------------------------------------------------- raw → normalised offsets

OFFSET_UNITS = ("utf16", "codepoint")


@lru_cache(maxsize=1)
def _maybe_chars() -> frozenset[str]:
    """Characters that can combine with the character before them under NFC (NFC_QC=Maybe):
    second characters of canonical compositions, plus Hangul medial vowels and final consonants.
    Computed once, on the first text that NFC changes."""
    maybe: set[str] = set()
    for code in range(0x110000):
        decomposition = unicodedata.decomposition(chr(code))
        if not decomposition or decomposition.startswith("<"):
            continue
        parts = decomposition.split()
        if len(parts) != 2:
            continue
        char = chr(code)
        if unicodedata.normalize("NFC", unicodedata.normalize("NFD", char)) != char:
            continue  # a composition exclusion: never produced by NFC
        maybe.add(chr(int(parts[1], 16)))
    maybe.update(chr(c) for c in range(0x1161, 0x1176))  # Hangul V jamo
    maybe.update(chr(c) for c in range(0x11A8, 0x11C3))  # Hangul T jamo
    return frozenset(maybe)


def _safe_start(char: str) -> bool:
    """True when NFC can never combine ``char`` with anything before it."""
    if unicodedata.combining(char) or char in _maybe_chars():
        return False
    first = unicodedata.normalize("NFD", char)[0]
    return not unicodedata.combining(first) and first not in _maybe_chars()


class OffsetMap:
    """Map code-point offsets into a raw text onto offsets into ``normalise_text(raw)``.

    ``normalise_text`` drops a leading BOM, turns CRLF/CR into LF and applies NFC. The raw text is
    cut into units that normalise independently (a BOM, a line break, a run of characters between
    two NFC-safe starters); an offset on a unit boundary maps exactly, an offset inside a unit that
    normalisation leaves unchanged maps linearly, and an offset inside a changed unit (between
    ``\\r`` and ``\\n``, between ``e`` and a combining accent that NFC composes) raises
    ``ValueError``: it has no counterpart in the normalised text.
    """

    def __init__(self, raw: str) -> None:
        self.raw = raw
        self.text = normalise_text(raw)
        self.identity = self.text == raw
        if self.identity:
            return
        # units: (raw_start, raw_end, normalised_start, normalised_end, changed)
        self._raw_starts: list[int] = []
        self._units: list[tuple[int, int, int, int, bool]] = []
        pieces: list[str] = []
        position = 0
        out = 0
        if raw.startswith(BOM):
            self._add(0, 1, 0, 0, True)
            position = 1
        run_start = position
        run: list[str] = []
        # Only texts that NFC changes need cutting into composition units; otherwise every run
        # between line breaks maps linearly.
        needs_nfc = not unicodedata.is_normalized("NFC", raw[position:].replace("\r", "\n"))

        def flush(end: int) -> None:
            nonlocal out, run_start
            if run_start >= end:
                return
            segment = "".join(run)
            normalised = unicodedata.normalize("NFC", segment)
            self._add(run_start, end, out, out + len(normalised), normalised != segment)
            pieces.append(normalised)
            out += len(normalised)
            run.clear()
            run_start = end

        index = position
        while index < len(raw):
            char = raw[index]
            if char == "\r":
                flush(index)
                width = 2 if raw[index + 1 : index + 2] == "\n" else 1
                self._add(index, index + width, out, out + 1, True)
                pieces.append("\n")
                out += 1
                index += width
                run_start = index
                continue
            if needs_nfc and run and _safe_start(char):
                flush(index)
            run.append(char)
            index += 1
        flush(len(raw))
        if "".join(pieces) != self.text:  # pragma: no cover - would be a bug in the unit rules
            raise ValueError("cannot map offsets onto the normalised text: normalisation crosses unit boundaries")

    def _add(self, raw_start: int, raw_end: int, start: int, end: int, changed: bool) -> None:
        self._raw_starts.append(raw_start)
        self._units.append((raw_start, raw_end, start, end, changed))

    def __call__(self, offset: int) -> int:
        _checked(self.raw, offset, len(self.raw))
        if self.identity:
            return offset
        if offset == len(self.raw):
            return len(self.text)
        index = bisect.bisect_right(self._raw_starts, offset) - 1
        raw_start, raw_end, start, _, changed = self._units[index]
        if offset == raw_start:
            return start
        if not changed:
            return start + (offset - raw_start)
        what = "a line break" if self.raw[raw_start] == "\r" else "a character sequence that NFC normalisation changes"
        raise ValueError(f"offset {offset} falls inside {what} ({self.raw[raw_start:raw_end]!r} at {raw_start})")

    def map(self, offsets: Iterable[int]) -> list[int]:
        return [self(o) for o in offsets]


def to_codepoints(raw: str, offsets: Sequence[int], unit: str) -> list[int]:
    """Offsets in ``unit`` (``utf16`` or ``codepoint``) into ``raw`` → code points into ``raw``."""
    if unit == "utf16":
        return utf16_to_codepoint(raw, offsets)
    if unit == "codepoint":
        return [_checked(raw, offset, len(raw)) for offset in offsets]
    raise ValueError(f"unknown offset unit {unit!r}; use one of {OFFSET_UNITS}")
