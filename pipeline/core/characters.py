"""Forbidden characters: the one rule for characters no document text or string field of the input
may contain (lone surrogates, control characters, non-characters), with messages that name them.

Pure: imports nothing of the package and touches no files.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

FORBIDDEN = re.compile(
    r"[\ud800-\udfff\x00-\x08\x0b-\x1f\x7f-\x9f\ufdd0-\ufdef"
    + "".join(f"\\U{plane:04X}FFFE\\U{plane:04X}FFFF" for plane in range(17))
    + "]"
)
"""One character of the classes :func:`forbidden_characters` reports."""

SHOWN = 6
"""How many offsets of each class :class:`ForbiddenCharacters` keeps (a text mis-decoded from
UTF-16 has a NUL in every other code point)."""

_C0 = [
    "NUL",
    "SOH",
    "STX",
    "ETX",
    "EOT",
    "ENQ",
    "ACK",
    "BEL",
    "BS",
    "HT",
    "LF",
    "VT",
    "FF",
    "CR",
    "SO",
    "SI",
    "DLE",
    "DC1",
    "DC2",
    "DC3",
    "DC4",
    "NAK",
    "SYN",
    "ETB",
    "CAN",
    "EM",
    "SUB",
    "ESC",
    "FS",
    "GS",
    "RS",
    "US",
]
_C1 = [
    "PAD",
    "HOP",
    "BPH",
    "NBH",
    "IND",
    "NEL",
    "SSA",
    "ESA",
    "HTS",
    "HTJ",
    "VTS",
    "PLD",
    "PLU",
    "RI",
    "SS2",
    "SS3",
    "DCS",
    "PU1",
    "PU2",
    "STS",
    "CCH",
    "MW",
    "SPA",
    "EPA",
    "SOS",
    "SGC",
    "SCI",
    "CSI",
    "ST",
    "OSC",
    "PM",
    "APC",
]


@dataclass(frozen=True)
class ForbiddenCharacters:
    """The characters of one class found in a string: which, where, and whether that is an error."""

    kind: str
    """``lone-surrogate``, ``control-character``, ``c1-control`` or ``noncharacter`` (the problem kind)."""
    error: bool
    """False: a warning (C1 controls but NEL, and non-characters)."""
    count: int
    """How many characters of the class the string has."""
    found: tuple[tuple[int, str], ...]
    """(code-point offset, character) of the first :data:`SHOWN` of them, in text order."""

    @property
    def offsets(self) -> tuple[int, ...]:
        return tuple(offset for offset, _ in self.found)

    @property
    def message(self) -> str:
        """``U+0000 NUL (a C0 control character) at code point 5``, then the others briefly."""
        offset, char = self.found[0]
        first = f"{describe_character(char)} at code point {offset}"
        if self.count == 1:
            return first
        others = ", ".join(f"U+{ord(c):04X} at {o}" for o, c in self.found[1:])
        rest = ", …" if self.count > len(self.found) else ""
        return f"{first}; {self.count - 1} more: {others}{rest}"


def describe_character(char: str) -> str:
    """``U+XXXX``, the character's name or abbreviation, and its class, for a message."""
    code = ord(char)
    if 0xD800 <= code <= 0xDFFF:
        return f"U+{code:04X} (a lone surrogate: half of a UTF-16 pair, not a character; it cannot be encoded as UTF-8)"
    if code < 0x20:
        return f"U+{code:04X} {_C0[code]} (a C0 control character)"
    if code == 0x7F:
        return "U+007F DEL (a control character)"
    if code <= 0x9F:
        try:
            meant = bytes([code]).decode("cp1252")
        except UnicodeDecodeError:
            hint = ""
        else:
            hint = f"; as a Windows-1252 byte it is {meant!r}: was the text decoded as Latin-1?"
        return f"U+{code:04X} {_C1[code - 0x80]} (a C1 control character{hint})"
    if 0xFDD0 <= code <= 0xFDEF or code & 0xFFFE == 0xFFFE:
        return f"U+{code:04X} (a Unicode non-character)"
    return f"U+{code:04X} {unicodedata.name(char, '(unnamed)')}"


KINDS = {"lone-surrogate": True, "control-character": True, "c1-control": False, "noncharacter": False}
"""Each class of forbidden character, errors first, and whether it is an error (else a warning)."""


def _kind(char: str) -> str:
    code = ord(char)
    if 0xD800 <= code <= 0xDFFF:
        return "lone-surrogate"
    if code < 0x20 or code in (0x7F, 0x85):
        return "control-character"
    if code <= 0x9F:
        return "c1-control"
    return "noncharacter"


def forbidden_characters(value: str) -> list[ForbiddenCharacters]:
    """The characters ``value`` may not contain, one entry per class present, errors first.

    The rule for every document text and every string field of the input (ids, titles, metadata,
    annotation records), checked where input enters (``io.jsonl``, the ingest stage):

    - **lone surrogates** U+D800–U+DFFF (error): half of a UTF-16 pair, not a character. A JSON
      escape such as ``"\\ud800"`` yields one; it cannot be encoded as UTF-8, so no file, table
      or hash can hold it.
    - **control characters** (error): NUL and the other C0 controls U+0000–U+001F except TAB
      (U+0009) and LF (U+000A), DEL (U+007F) and NEL (U+0085). PostgreSQL (doccano) cannot store
      NUL, C strings end at it, and VT, FF, FS, GS, RS and NEL are line breaks for
      ``str.splitlines`` and break line-based formats.
    - **other C1 controls** U+0080–U+009F (warning, kind ``c1-control``): UTF-8 and every store
      can hold them, and in German news text they are nearly always Windows-1252 punctuation
      decoded as Latin-1 (U+0096 for –, U+0084 for „): real corpora have them (GermEval 2014), so
      the document is kept and the message names the character that was probably meant.
    - **non-characters** U+FDD0–U+FDEF and the last two code points of every plane
      (U+xxFFFE, U+xxFFFF) (warning): valid scalar values that UTF-8 and every store can hold, but
      reserved for a program's internal use and not meant in interchanged text; the document is kept.

    A document text is checked as :func:`normalise_text` returns it, so CR (turned into LF) is
    never reported there and the offsets are code points into the text every span refers to;
    other strings are checked as given, where CR is a control character like any other.
    """
    if FORBIDDEN.search(value) is None:
        return []
    counts: dict[str, int] = {}
    found: dict[str, list[tuple[int, str]]] = {}
    for match in FORBIDDEN.finditer(value):
        char = match.group()
        kind = _kind(char)
        counts[kind] = counts.get(kind, 0) + 1
        shown = found.setdefault(kind, [])
        if len(shown) < SHOWN:
            shown.append((match.start(), char))
    return [ForbiddenCharacters(kind, error, counts[kind], tuple(found[kind])) for kind, error in KINDS.items() if kind in counts]


def escape_forbidden(value: str) -> str:
    """``value`` with each forbidden character written as a Python escape (``\\x00``, ``\\ud800``),
    so that a message can show a bad id or file name."""
    return FORBIDDEN.sub(lambda match: match.group().encode("unicode_escape").decode("ascii"), value)
