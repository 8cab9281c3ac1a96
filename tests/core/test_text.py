"""The text rules of ``pipeline.core.text``: normalisation, its hash, UTF-16 ⇄ code points, raw → normalised
offsets (OffsetMap) and offset units."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.core.text import (
    OffsetMap,
    codepoint_to_utf16,
    normalise_text,
    text_sha256,
    to_codepoints,
    utf16_to_codepoint,
)

# --------------------------------------------------------------------------- raw → normalised offsets


def test_offset_map_bom_crlf_and_nfd():
    raw = "\ufeffCafe\u0301\r\nJos\u00e9\rX"
    mapped = OffsetMap(raw)
    assert mapped.text == normalise_text(raw) == "Café\nJosé\nX"
    assert mapped(1) == 0  # after the BOM
    assert mapped(4) == 3  # before the NFD é
    assert mapped(6) == 4  # after the composed é
    assert mapped(8) == 5  # after \r\n
    assert [mapped(o) for o in (12, 13, 14)] == [9, 10, 11]


def test_offset_map_rejects_an_offset_inside_a_line_break():
    with pytest.raises(ValueError, match=r"offset 7 falls inside a line break \('\\r\\n' at 6\)"):
        OffsetMap("\ufeffCafe\u0301\r\nX")(7)


def test_offset_map_rejects_an_offset_inside_a_composed_character():
    with pytest.raises(ValueError, match="offset 4 falls inside a character sequence that NFC normalisation changes"):
        OffsetMap("Cafe\u0301")(4)


def test_offset_map_rejects_an_offset_outside_the_text():
    with pytest.raises(ValueError, match=r"offset 6 is outside the text \(length 5\)"):
        OffsetMap("Cafe\u0301")(6)


def test_offset_map_identity():
    assert OffsetMap("plain text").map([0, 5, 10]) == [0, 5, 10]


def test_offset_map_hangul():
    raw = "\u1100\u1161\u11a8 x"  # conjoining jamo compose into one syllable
    assert OffsetMap(raw).map([0, 3, 4, 5]) == [0, 1, 2, 3]


def test_nfc_helper_is_consistent_with_unicodedata():
    # the composition-unit rule treats U+212B (Angstrom sign → Å) as a safe starter
    assert OffsetMap("\u212b").text == unicodedata.normalize("NFC", "\u212b")


ALPHABET = st.sampled_from(
    [
        "a",
        "e",
        "\u0301",
        "\u0327",
        "\u0323",
        "\r",
        "\n",
        "\r\n",
        " ",
        "\u1100",
        "\u1161",
        "\u11a8",
        "\ufeff",
        "😀",
        "\u212b",
        "A\u030a",
        "ß",
    ]
)


@settings(max_examples=200, deadline=None)
@given(st.lists(ALPHABET, max_size=12))
def test_offset_map_agrees_with_normalising_prefixes(pieces):
    """Every offset the map accepts equals the length of the normalised prefix, and the prefix
    normalises to a prefix of the normalised text."""
    raw = "".join(pieces)
    mapped = OffsetMap(raw)
    assert mapped(0) == 0 and mapped(len(raw)) == len(mapped.text)
    for offset in range(len(raw) + 1):
        try:
            target = mapped(offset)
        except ValueError:
            continue
        assert mapped.text.startswith(normalise_text(raw[:offset])) or raw[:offset] == "\ufeff"
        if raw[:offset] != "\ufeff" and not raw[:offset].endswith("\r"):
            assert target == len(normalise_text(raw[:offset]))


def test_utf16_offsets_become_code_points():
    assert to_codepoints("😀 Kim", [3, 6], "utf16") == [2, 5]


def test_codepoint_offsets_are_checked_and_kept():
    assert to_codepoints("😀 Kim", [2, 5], "codepoint") == [2, 5]
    with pytest.raises(ValueError, match=r"offset 9 is outside the text \(length 5\)"):
        to_codepoints("😀 Kim", [9], "codepoint")


def test_a_utf16_offset_inside_a_surrogate_pair_is_rejected():
    with pytest.raises(ValueError, match="surrogate pair"):
        to_codepoints("😀 Kim", [1], "utf16")


def test_an_unknown_offset_unit_is_rejected():
    with pytest.raises(ValueError, match=r"unknown offset unit 'bytes'; use one of \('utf16', 'codepoint'\)"):
        to_codepoints("😀 Kim", [1], "bytes")


def test_normalise_strips_bom_and_unifies_line_endings():
    assert normalise_text("\ufeffa\r\nb\rc\n") == "a\nb\nc\n"


def test_normalise_composes_nfd_umlauts():
    nfd = unicodedata.normalize("NFD", "Südkorea")
    assert len(nfd) == 9
    assert normalise_text(nfd) == "Südkorea"


def test_sha256_is_of_the_utf8_text():
    assert text_sha256("a") == "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"


def test_utf16_offsets_after_emoji_shift_by_one_per_astral_character():
    text = "🙂 Kim trifft 🇰🇷 Moon"
    kim = text.index("Kim")
    moon = text.index("Moon")
    assert codepoint_to_utf16(text, [kim, moon]) == [kim + 1, moon + 3]
    assert utf16_to_codepoint(text, [kim + 1, moon + 3]) == [kim, moon]


def test_utf16_offset_inside_surrogate_pair_is_rejected():
    with pytest.raises(ValueError, match="splits the surrogate pair"):
        utf16_to_codepoint("a🙂b", [2])


def test_offset_outside_text_is_rejected():
    with pytest.raises(ValueError, match="outside the text"):
        codepoint_to_utf16("abc", [4])


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=0, max_size=40), st.data())
def test_utf16_round_trip(text, data):
    offsets = data.draw(st.lists(st.integers(0, len(text)), max_size=6))
    units = codepoint_to_utf16(text, offsets)
    assert units == [len(text[:o].encode("utf-16-le")) // 2 for o in offsets]
    assert utf16_to_codepoint(text, units) == offsets
