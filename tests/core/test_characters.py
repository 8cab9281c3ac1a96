"""Forbidden characters (``pipeline.core.characters``)."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.core.characters import SHOWN, escape_forbidden, forbidden_characters
from pipeline.core.text import normalise_text


def kinds(value: str) -> list[tuple[str, bool, tuple[int, ...]]]:
    return [(found.kind, found.error, found.offsets) for found in forbidden_characters(value)]


def test_ordinary_text_has_no_forbidden_characters():
    assert forbidden_characters("Kim\ttraf\nMoon in Panmunjom: „Frieden“ 🙂 \u2028 \ufeff \ufffd \u00a0") == []


def test_a_lone_surrogate_is_an_error_naming_the_code_point_and_its_offset():
    (found,) = forbidden_characters("a\ud800b")
    assert (found.kind, found.error, found.offsets) == ("lone-surrogate", True, (1,))
    assert (
        found.message == "U+D800 (a lone surrogate: half of a UTF-16 pair, not a character; it cannot be encoded as UTF-8) at code point 1"
    )


@pytest.mark.parametrize("code", [c for c in range(0x20) if c not in (0x09, 0x0A)])
def test_every_c0_control_but_tab_and_lf_is_an_error(code: int):
    assert kinds(f"ab{chr(code)}") == [("control-character", True, (2,))]


def test_nul_is_named_in_the_message():
    (found,) = forbidden_characters("x\x00")
    assert found.message == "U+0000 NUL (a C0 control character) at code point 1"


@pytest.mark.parametrize("code", [0x7F, 0x85])
def test_del_and_nel_are_errors(code: int):
    assert kinds(chr(code)) == [("control-character", True, (0,))]


@pytest.mark.parametrize("code", [c for c in range(0x80, 0xA0) if c != 0x85])
def test_every_other_c1_control_is_a_warning(code: int):
    assert kinds(chr(code)) == [("c1-control", False, (0,))]


def test_a_c1_control_names_the_windows_1252_character_it_probably_was():
    (found,) = forbidden_characters("\x96Frieden\x93")
    assert found.message.startswith(
        "U+0096 SPA (a C1 control character; as a Windows-1252 byte it is '–': was the text decoded as Latin-1?) at code point 0"
    )


@pytest.mark.parametrize("code", [0xFDD0, 0xFDEF, 0xFFFE, 0xFFFF, 0x1FFFE, 0x1FFFF, 0x10FFFE, 0x10FFFF])
def test_noncharacters_are_warnings(code: int):
    (found,) = forbidden_characters(f"a{chr(code)}")
    assert (found.kind, found.error, found.offsets) == ("noncharacter", False, (1,))
    assert found.message == f"U+{code:04X} (a Unicode non-character) at code point 1"


@pytest.mark.parametrize("code", [0x09, 0x0A, 0x20, 0x7E, 0xA0, 0xD7FF, 0xE000, 0xFDCF, 0xFDF0, 0xFFFD, 0x1FFFD, 0x20000])
def test_the_neighbours_of_each_class_are_allowed(code: int):
    assert forbidden_characters(chr(code)) == []


def test_one_entry_per_class_errors_first_counting_all_and_keeping_the_first_offsets():
    value = "\ufffe" + "\x00" * (SHOWN + 2) + "\udc00\x96"
    found = forbidden_characters(value)
    assert [(f.kind, f.count) for f in found] == [
        ("lone-surrogate", 1),
        ("control-character", SHOWN + 2),
        ("c1-control", 1),
        ("noncharacter", 1),
    ]
    assert found[1].offsets == tuple(range(1, SHOWN + 1))
    assert found[1].message.endswith(f"; {SHOWN + 1} more: U+0000 at 2, U+0000 at 3, U+0000 at 4, U+0000 at 5, U+0000 at 6, …")


def test_cr_is_a_control_character_that_normalisation_removes_from_a_document_text():
    assert kinds("a\r\nb\rc") == [("control-character", True, (1, 4))]
    assert forbidden_characters(normalise_text("a\r\nb\rc")) == []


def test_offsets_of_a_normalised_text_are_those_of_the_text_spans_refer_to():
    assert kinds(normalise_text("\ufeffa\r\nu\u0308\x00")) == [("control-character", True, (3,))]


def test_escape_forbidden_writes_each_forbidden_character_as_an_escape():
    assert escape_forbidden("id\x00\ud800\ufffe\tä") == "id\\x00\\ud800\\ufffe\tä"


def reference_kind(char: str) -> str | None:
    """The classes by Unicode's own definitions (general category; non-character arithmetic)."""
    code, category = ord(char), unicodedata.category(char)
    if category == "Cs":
        return "lone-surrogate"
    if category == "Cc" and char not in "\t\n":
        return "control-character" if code < 0x80 or char == "\x85" else "c1-control"
    if 0xFDD0 <= code <= 0xFDEF or code % 0x10000 in (0xFFFE, 0xFFFF):
        return "noncharacter"
    return None


@settings(max_examples=300, deadline=None)
@given(
    st.text(
        alphabet=st.characters(exclude_categories=()) | st.sampled_from("\x00\t\n\r\x7f\x9f\ud800\ufdd0\uffff\U0010fffe"), max_size=SHOWN
    )
)
def test_forbidden_characters_agrees_with_the_unicode_definitions(value: str):
    expected: dict[str, list[int]] = {}
    for offset, char in enumerate(value):
        kind = reference_kind(char)
        if kind:
            expected.setdefault(kind, []).append(offset)
    found = {f.kind: list(f.offsets) for f in forbidden_characters(value)}
    assert found == expected
    assert all(f.error == (f.kind in ("lone-surrogate", "control-character")) for f in forbidden_characters(value))
