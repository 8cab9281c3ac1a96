"""BIO in both directions: the encoder annotate publishes with, the decoder the importers read with."""

from __future__ import annotations

from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.core.bio import bio_spans, bio_tags, tagged_entities
from pipeline.core.spans import Entity

LABELS = ("PER", "ORG", "GPE")


def entity(id_: str, first: int, last: int, label: str) -> Entity:
    """An entity over tokens ``first..last`` of :func:`tokens` (token i is ``[2i, 2i + 1)``)."""
    return Entity(id_, 2 * first, 2 * last + 1, label, "gold")


def tokens(count: int) -> list[tuple[int, int]]:
    return [(2 * i, 2 * i + 1) for i in range(count)]


def decoded(tags: list[str]) -> list[tuple[int, int, str]]:
    spans, notes = bio_spans(tags)
    assert notes == []
    return [(s.first, s.last, s.label) for s in spans]


def test_bio_tags_follow_entities_and_outermost_wins():
    entities = [Entity("a", 13, 25, "PER", "gold"), Entity("b", 0, 2, "GPE", "gold"), Entity("c", 20, 25, "PER", "gold")]
    assert bio_tags([(0, 2), (2, 3), (3, 12), (13, 19), (20, 25)], entities) == ["B-GPE", "O", "O", "B-PER", "I-PER"]


def test_adjacent_entities_of_one_type_round_trip_as_two():
    entities = [entity("a", 0, 1, "PER"), entity("b", 2, 2, "PER"), entity("c", 3, 4, "ORG")]
    tags = bio_tags(tokens(6), entities)
    assert tags == ["B-PER", "I-PER", "B-PER", "B-ORG", "I-ORG", "O"]
    assert decoded(tags) == [(0, 1, "PER"), (2, 2, "PER"), (3, 4, "ORG")]


def test_a_nested_entity_round_trips_as_the_entity_around_it():
    outer, inner = entity("a", 0, 2, "ORG"), entity("b", 2, 2, "GPE")
    assert tagged_entities([inner, outer]) == [outer]
    assert decoded(bio_tags(tokens(3), [inner, outer])) == [(0, 2, "ORG")]


@st.composite
def entity_sets(draw: st.DrawFn) -> tuple[int, list[Entity]]:
    """Up to 12 tokens and entities over them, overlapping and nested ones included."""
    count = draw(st.integers(1, 12))
    entities = []
    for number in range(draw(st.integers(0, 6))):
        first = draw(st.integers(0, count - 1))
        last = draw(st.integers(first, count - 1))
        entities.append(entity(f"T{number}", first, last, draw(st.sampled_from(LABELS))))
    return count, entities


@settings(max_examples=200, deadline=None)
@given(entity_sets())
def test_decoding_the_encoded_tags_gives_the_tagged_entities(case):
    count, entities = case
    expected = [(e.start // 2, (e.end - 1) // 2, e.label) for e in tagged_entities(entities)]
    assert decoded(bio_tags(tokens(count), entities)) == expected


def test_iob1_continuations_start_an_entity_and_are_noted():
    spans, notes = bio_spans(["I-PER", "I-PER", "I-LOC", "O"])
    assert [(s.first, s.last, s.label) for s in spans] == [(0, 1, "PER"), (2, 2, "LOC")]
    assert notes == [
        "token 1: I-PER does not continue an entity of type PER; it starts one",
        "token 3: I-LOC does not continue an entity of type LOC; it starts one",
    ]


def test_bioes_and_bilou_tags_are_read():
    assert decoded(["S-ORG", "B-OTH", "E-OTH", "U-PER", "B-LOC", "I-LOC", "L-LOC", "_"]) == [
        (0, 0, "ORG"),
        (1, 2, "OTH"),
        (3, 3, "PER"),
        (4, 6, "LOC"),
    ]


def test_mixed_bio_and_iob1_input():
    spans, notes = bio_spans(["B-PER", "I-PER", "O", "I-LOC", "I-LOC", "B-LOC", "S-ORG", "B-OTH", "E-OTH", "_"])
    assert [(s.first, s.last, s.label) for s in spans] == [(0, 1, "PER"), (3, 4, "LOC"), (5, 5, "LOC"), (6, 6, "ORG"), (7, 8, "OTH")]
    assert len(notes) == 1 and "I-LOC" in notes[0]


def test_a_tag_that_is_not_bio_is_refused_with_its_position():
    with pytest.raises(ValueError, match=r"tag 'X-PER' at token 2 is not a BIO tag"):
        bio_spans(["O", "X-PER"])


@st.composite
def flat_entity_sets(draw: st.DrawFn) -> tuple[list[str], list[bool], list[tuple[int, int, str]]]:
    """Words, whether a space follows each, and non-overlapping entities as character offsets."""
    words = draw(st.lists(st.sampled_from(["Kim", "Jong", "Un", "in", "Seoul", ",", "US", "-", "Präsident"]), min_size=1, max_size=10))
    spaces = draw(st.lists(st.booleans(), min_size=len(words), max_size=len(words)))
    starts, position = [], 0
    for word, space in zip(words, spaces, strict=True):
        starts.append(position)
        position += len(word) + space
    entities, index = [], 0
    while index < len(words):
        if draw(st.booleans()):
            last = draw(st.integers(index, len(words) - 1))
            entities.append((starts[index], starts[last] + len(words[last]), draw(st.sampled_from(LABELS))))
            index = last + 1
        else:
            index += 1
    return words, spaces, entities


@cache
def vocab():
    from spacy.vocab import Vocab

    return Vocab()


@settings(max_examples=100, deadline=None)
@given(flat_entity_sets())
def test_the_encoder_agrees_with_spacy_on_non_overlapping_spans(case):
    from spacy.tokens import Doc
    from spacy.training import biluo_to_iob, offsets_to_biluo_tags

    words, spaces, offsets = case
    doc = Doc(vocab(), words=words, spaces=spaces)
    ours = bio_tags(
        [(t.idx, t.idx + len(t)) for t in doc], [Entity(f"T{n}", s, e, label, "gold") for n, (s, e, label) in enumerate(offsets)]
    )
    assert ours == biluo_to_iob(offsets_to_biluo_tags(doc, offsets))
