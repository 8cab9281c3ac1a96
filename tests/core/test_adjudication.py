"""Adjudication: exact agreement of at least K annotators is accepted with provenance; the rest are conflicts."""

from __future__ import annotations

import pytest

from pipeline.core.adjudication import adjudicate
from pipeline.core.agreement import AnnotatedDocument
from pipeline.core.spans import AnnotationRecord, Entity, Relation

TEXT = "Anna trifft Bob in Rom."
TOKENS = ((0, 4), (5, 11), (12, 15), (16, 18), (19, 22), (22, 23))
ANNA, BOB, ROM, BOB_ORG = (0, 4, "PER"), (12, 15, "PER"), (19, 22, "GPE"), (12, 15, "ORG")


def record(layer: str, spans, relations=()) -> AnnotationRecord:
    entities = tuple(Entity(f"T{i}", s, e, label, f"annotator:{layer}") for i, (s, e, label) in enumerate(spans, start=1))
    rels = tuple(Relation(f"R{i}", f"T{h}", f"T{t}", label, "x") for i, (h, t, label) in enumerate(relations, start=1))
    return AnnotationRecord("d1", "0" * 64, f"annotator:{layer}", layer, entities, rels, f"{layer}.jsonl", 1)


def run(*records: AnnotationRecord, min_agree: int = 2, overlap: str = "none"):
    document = AnnotatedDocument("d1", TEXT, TOKENS, {r.layer: r for r in records})
    return adjudicate([document], min_agree, source="adjudicated:min-agree-2", layer="adjudicated", overlap=overlap)


def test_what_two_of_three_agree_on_is_accepted_with_who_agreed():
    result = run(
        record("a", [ANNA, BOB, ROM], [(1, 2, "meets")]),
        record("b", [ANNA, BOB_ORG, ROM], [(1, 2, "meets")]),
        record("c", [ANNA, BOB]),
    )
    (adjudicated,) = result.records
    assert [(e.start, e.end, e.label, e.agreed_by) for e in adjudicated.entities] == [
        (0, 4, "PER", ("a", "b", "c")),
        (12, 15, "PER", ("a", "c")),
        (19, 22, "GPE", ("a", "b")),
    ]
    assert adjudicated.relations == ()  # a's meets(Anna, Bob:PER) and b's meets(Anna, Bob:ORG) differ
    data = adjudicated.to_json(TEXT)
    assert data["entities"][1] == {"id": "T2", "start": 12, "end": 15, "label": "PER", "text": "Bob", "agreed_by": ["a", "c"]}
    relation, entity = result.conflicts  # in order of start: the relation starts at Anna
    assert entity == {
        "doc_id": "d1",
        "id": "C2",
        "kind": "entity",
        "start": 12,
        "end": 15,
        "text": "Bob",
        "candidates": [
            {"start": 12, "end": 15, "label": "ORG", "text": "Bob", "annotators": ["b"], "accepted": False},
            {"start": 12, "end": 15, "label": "PER", "text": "Bob", "annotators": ["a", "c"], "accepted": True},
        ],
        "without": [],
        "annotators": ["a", "b", "c"],
    }
    assert relation["kind"] == "relation"
    assert [(c["label"], c["tail"]["label"], c["annotators"]) for c in relation["candidates"]] == [
        ("meets", "ORG", ["b"]),
        ("meets", "PER", ["a"]),
    ]
    assert relation["without"] == ["c"]


def test_a_relation_enough_annotators_agree_on_is_accepted_with_its_arguments():
    result = run(record("a", [ANNA, BOB], [(1, 2, "meets")]), record("b", [ANNA, BOB], [(1, 2, "meets")]))
    (adjudicated,) = result.records
    assert [(r.head, r.tail, r.label, r.agreed_by) for r in adjudicated.relations] == [("T1", "T2", "meets", ("a", "b"))]
    assert result.conflicts == []


def test_overlapping_readings_both_agreed_on_are_a_conflict_not_a_decision():
    result = run(record("a", [ANNA]), record("b", [ANNA]), record("c", [(0, 3, "PER")]), record("d", [(0, 3, "PER")]))
    assert result.records[0].entities == ()
    (conflict,) = result.conflicts
    assert [(c["end"], c["annotators"], c["accepted"]) for c in conflict["candidates"]] == [
        (3, ["c", "d"], False),
        (4, ["a", "b"], False),
    ]
    assert run(record("a", [ANNA]), record("b", [ANNA]), record("c", [(0, 3, "PER")]), record("d", [(0, 3, "PER")]), overlap="any").records[0].entities  # fmt: skip


def test_a_span_only_one_annotator_drew_names_the_others_as_without():
    result = run(record("a", [ANNA, ROM]), record("b", [ANNA]))
    (conflict,) = result.conflicts
    assert (conflict["text"], conflict["without"]) == ("Rom", ["b"])


def test_documents_with_fewer_annotators_than_k_get_no_record():
    assert run(record("a", [ANNA]), record("b", [ANNA]), min_agree=3).records == []


def test_k_below_one_is_refused():
    with pytest.raises(ValueError, match="min_agree must be at least 1, got 0"):
        run(record("a", [ANNA]), min_agree=0)


def test_under_overlap_nested_agreed_nested_spans_are_accepted_and_crossing_ones_are_a_conflict():
    bob_in_rom, bob_trifft = (12, 22, "LOC"), (5, 15, "MISC")  # "Bob in Rom" holds "Bob"; "trifft Bob" crosses "Bob in Rom"
    nested = run(record("a", [BOB, bob_in_rom]), record("b", [BOB, bob_in_rom]), overlap="nested")
    assert [(e.start, e.end) for e in nested.records[0].entities] == [(12, 15), (12, 22)]
    crossing = run(record("a", [bob_in_rom]), record("b", [bob_in_rom]), record("c", [bob_trifft]), record("d", [bob_trifft]), overlap="nested")  # fmt: skip
    assert crossing.records[0].entities == ()
    assert crossing.conflicts
