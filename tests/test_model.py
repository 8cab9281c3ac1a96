from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.core.problems import Problem, Severity
from pipeline.core.spans import Entity, overlapping_pairs
from pipeline.core.text import codepoint_to_utf16, normalise_text, text_sha256, utf16_to_codepoint


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


def test_problem_format_names_file_line_document():
    problem = Problem("corpus/annotations/gold/a.jsonl", 3, "doc-1", "unknown-label", "entity T1 has label 'FOO'")
    assert problem.format() == "corpus/annotations/gold/a.jsonl:3: doc-1: unknown-label: entity T1 has label 'FOO'"
    assert Problem.from_json(problem.to_json()) == problem
    warning = Problem("x.jsonl", None, None, "whitespace-span", "m", Severity.WARNING)
    assert warning.format() == "x.jsonl: -: warning: whitespace-span: m"


def test_overlapping_pairs_finds_nested_and_crossing_but_not_adjacent():
    a = Entity("a", 0, 10, "ORG", "gold")
    b = Entity("b", 2, 4, "GPE", "gold")
    c = Entity("c", 8, 12, "PER", "gold")
    d = Entity("d", 12, 14, "PER", "gold")
    pairs = {(x.id, y.id) for x, y in overlapping_pairs([d, c, b, a])}
    assert pairs == {("a", "b"), ("a", "c")}
