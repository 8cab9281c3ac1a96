"""The one rule set for a record: each problem kind found, with its message, by check_record and its rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.core.checks import (
    DocumentInfo,
    RelationRepeats,
    Site,
    alignment_problems,
    check_record,
    crosses_paragraph_problem,
    label_problem,
    missing_argument_problem,
    range_problem,
    span_problems,
    span_text_problem,
    whitespace_problem,
)
from pipeline.core.problems import Severity
from pipeline.core.spans import Entity, Relation, record_from_json
from pipeline.core.text import text_sha256
from pipeline.io.schemas import load_label_schema

REPO = Path(__file__).resolve().parents[2]
SCHEMA = load_label_schema(REPO / "schemas" / "labels.yaml")
TEXT = "US-Präsident Donald Trump trifft Kim Jong Un in Panmunjom."
DOC = DocumentInfo("d1", TEXT, text_sha256(TEXT), "seeds/d1.txt", None)
SITE = Site("corpus/annotations/gold/x.jsonl", 7, "d1")


def span(text: str) -> tuple[int, int]:
    start = TEXT.index(text)
    return start, start + len(text)


def record(entities, relations=(), **overrides):
    data = {"doc_id": "d1", "text_sha256": text_sha256(TEXT), "source": "gold", "entities": list(entities), "relations": list(relations)}
    data.update(overrides)
    return record_from_json(data, layer="gold", path="corpus/annotations/gold/x.jsonl", line=7)


def ent(id_, surface, label, **extra):
    start, end = span(surface)
    return {"id": id_, "start": start, "end": end, "label": label, **extra}


def kinds(rec, whitespace=Severity.ERROR):
    return [p.kind for p in check_record(rec, DOC, SCHEMA, whitespace)]


def test_a_correct_record_has_no_problems():
    rec = record(
        [
            ent("T1", "US", "GPE"),
            ent("T2", "Donald Trump", "PER", text="Donald Trump"),
            ent("T3", "Kim Jong Un", "PER"),
            ent("T4", "Panmunjom", "LOC"),
        ],
        [{"id": "R1", "head": "T2", "tail": "T1", "label": "head_of"}, {"id": "R2", "head": "T3", "tail": "T2", "label": "meets"}],
    )
    assert check_record(rec, DOC, SCHEMA, Severity.ERROR) == []


@pytest.mark.parametrize(
    ("entities", "relations", "expected"),
    [
        ([{"id": "T1", "start": 0, "end": 99, "label": "GPE"}], [], ["offset-out-of-range"]),
        ([{"id": "T1", "start": 5, "end": 5, "label": "GPE"}], [], ["empty-span"]),
        ([ent("T1", "US", "COUNTRY")], [], ["unknown-label"]),
        ([ent("T1", "US", "GPE", text="USA")], [], ["span-text-mismatch"]),
        ([ent("T1", "US", "GPE"), ent("T1", "Kim Jong Un", "PER")], [], ["duplicate-entity-id"]),
        ([ent("T1", "Donald Trump", "PER"), ent("T2", "Trump", "PER")], [], []),  # nested: allowed by the schema
        ([ent("T1", "Donald Trump", "PER"), ent("T2", "Trump trifft", "PER")], [], ["overlapping-spans"]),  # crossing
        ([{"id": "T1", "start": 12, "end": 19, "label": "PER"}], [], ["whitespace-span"]),
        ([ent("T1", "US", "GPE")], [{"id": "R1", "head": "T9", "tail": "T1", "label": "head_of"}], ["missing-argument"]),
        (
            [ent("T1", "US", "GPE"), ent("T2", "Donald Trump", "PER")],
            [{"id": "R1", "head": "T1", "tail": "T2", "label": "head_of"}],
            ["relation-type-violation"],
        ),
        (
            [ent("T1", "US", "GPE"), ent("T2", "Donald Trump", "PER")],
            [{"id": "R1", "head": "T2", "tail": "T1", "label": "allied_with"}],
            ["unknown-relation-label"],
        ),
        ([ent("T2", "Donald Trump", "PER")], [{"id": "R1", "head": "T2", "tail": "T2", "label": "meets"}], ["self-relation"]),
        (
            [ent("T2", "Donald Trump", "PER"), ent("T3", "Kim Jong Un", "PER")],
            [{"id": "R1", "head": "T2", "tail": "T3", "label": "meets"}, {"id": "R2", "head": "T3", "tail": "T2", "label": "meets"}],
            ["symmetric-duplicate"],
        ),
        (
            [ent("T1", "US", "GPE"), ent("T2", "Donald Trump", "PER")],
            [{"id": "R1", "head": "T2", "tail": "T1", "label": "head_of"}, {"id": "R1", "head": "T2", "tail": "T1", "label": "works_for"}],
            ["duplicate-relation-id"],
        ),
        (
            [ent("T1", "US", "GPE"), ent("T2", "Donald Trump", "PER")],
            [{"id": "R1", "head": "T2", "tail": "T1", "label": "head_of"}, {"id": "R2", "head": "T2", "tail": "T1", "label": "head_of"}],
            ["duplicate-relation"],
        ),
    ],
)
def test_each_semantic_problem_is_found(entities, relations, expected):
    assert kinds(record(entities, relations)) == expected


def test_messages_name_the_entity_and_the_schema():
    (problem,) = check_record(record([ent("T1", "US", "COUNTRY")]), DOC, SCHEMA, Severity.ERROR)
    assert problem.format() == (
        "corpus/annotations/gold/x.jsonl:7: d1: unknown-label: entity T1 [0, 2) has label 'COUNTRY', "
        f"not in the label schema {list(SCHEMA.entity_types)}"
    )


def test_hash_mismatch_is_reported_and_nothing_else_is_checked():
    rec = record([{"id": "T1", "start": 0, "end": 999, "label": "NOPE"}], text_sha256="0" * 64)
    (problem,) = check_record(rec, DOC, SCHEMA, Severity.ERROR)
    assert problem.kind == "hash-mismatch"
    assert "re-anchor the record" in problem.message
    assert problem.format().startswith("corpus/annotations/gold/x.jsonl:7: d1: hash-mismatch: text_sha256 000000000000")


def test_a_record_anchored_to_the_raw_text_is_told_so():
    raw = DocumentInfo("d1", TEXT, text_sha256(TEXT), "seeds/d1.txt", None, raw_sha256="f" * 64)
    (problem,) = check_record(record([], text_sha256="f" * 64), raw, SCHEMA, Severity.ERROR)
    assert problem.kind == "hash-of-raw-text"


def test_unknown_document_is_reported():
    (problem,) = check_record(record([]), None, SCHEMA, Severity.ERROR)
    assert problem.kind == "unknown-document"


def test_whitespace_spans_can_be_downgraded_to_warnings():
    rec = record([{"id": "T1", "start": 12, "end": 19, "label": "PER"}])
    (problem,) = check_record(rec, DOC, SCHEMA, Severity.WARNING)
    assert problem.severity is Severity.WARNING


def test_a_relation_into_another_document_names_that_document():
    rec = record([ent("T1", "US", "GPE")], [{"id": "R1", "head": "T9", "tail": "T1", "label": "head_of"}])
    (problem,) = check_record(rec, DOC, SCHEMA, Severity.ERROR, {("gold", "T9"): ["d2", "d1"]})
    assert (
        problem.message
        == "relation R1 refers to head 'T9', not an entity of this record (that id belongs to document(s) d2: relations link entities of one document)"
    )


def test_span_rule_reports_an_out_of_range_span_alone():
    problems = span_problems(SITE, Entity("T1", 50, 99, "NOPE", "gold"), TEXT, SCHEMA, stored_text="x")
    assert [p.kind for p in problems] == ["offset-out-of-range"]


def test_missing_argument_rule_is_silent_when_both_arguments_exist():
    entities = {"T1": Entity("T1", 0, 2, "GPE", "gold"), "T2": Entity("T2", 13, 25, "PER", "gold")}
    assert missing_argument_problem(SITE, Relation("R1", "T2", "T1", "head_of", "gold"), entities) is None


def test_relation_repeats_remember_new_relations_only():
    repeats = RelationRepeats()
    meets = SCHEMA.relation("meets")
    assert repeats.problem(SITE, Relation("R1", "T2", "T3", "meets", "gold"), meets) is None
    assert repeats.problem(SITE, Relation("R2", "T3", "T2", "meets", "gold"), meets).kind == "symmetric-duplicate"
    assert repeats.problem(SITE, Relation("R3", "T3", "T2", "meets", "gold"), meets).kind == "symmetric-duplicate"


def test_a_repeat_is_found_without_remembering_the_relation_until_it_is_added():
    repeats = RelationRepeats()
    located = SCHEMA.relation("located_in")
    first, again = Relation("R1", "T2", "T4", "located_in", "gold"), Relation("R2", "T2", "T4", "located_in", "gold")
    assert repeats.repeat(SITE, first, located) is None
    assert repeats.repeat(SITE, again, located) is None  # R1 was only looked up
    repeats.add(first)
    assert repeats.repeat(SITE, again, located).message == "relation R2 repeats relation R1"


def test_span_problems_are_its_small_rules_in_order():
    padded = Entity("T1", 12, 19, "PERSON", "gold")  # ' Donald', unknown label
    site_problems = [
        range_problem(SITE, padded, TEXT),
        span_text_problem(SITE, padded, TEXT, "Donald"),
        label_problem(SITE, padded, SCHEMA),
        whitespace_problem(SITE, padded, TEXT),
    ]
    assert span_problems(SITE, padded, TEXT, SCHEMA, stored_text="Donald") == site_problems[1:]
    assert [p.kind for p in site_problems[1:]] == ["span-text-mismatch", "unknown-label", "whitespace-span"]
    empty = Entity("T2", 5, 5, "PER", "gold")
    assert span_problems(SITE, empty, TEXT, SCHEMA, stored_text="x") == [range_problem(SITE, empty, TEXT)]


def test_an_entity_edge_inside_a_token_is_unaligned():
    rec = record([ent("T1", "Donald Trump", "PER")])
    (problem,) = alignment_problems(rec, [(12, 19), (20, 25)], TEXT, rec.entities)
    assert problem.kind == "unaligned-span"
    assert problem.message == "entity T1 [13, 25) 'Donald Trump': its start does not fall on a token boundary"


def test_an_entity_across_a_paragraph_is_reported_with_its_span():
    problem = crosses_paragraph_problem(SITE, Entity("T1", 3, 9, "ORG", "gold"))
    assert problem.format() == "corpus/annotations/gold/x.jsonl:7: d1: entity-crosses-paragraph: entity T1 [3, 9) spans a paragraph break"


def test_a_span_nested_at_the_same_start_is_named_as_nested():
    from pipeline.core.checks import Site, overlap_problems
    from pipeline.core.labels import LabelSchema
    from pipeline.core.spans import Entity

    outer, inner = Entity("T1", 0, 10, "ORG", "gold"), Entity("T2", 0, 4, "GPE", "gold")
    schema = LabelSchema("1", "none", ("ORG", "GPE"), (), {}, "labels.yaml")
    (problem,) = overlap_problems(Site("a.jsonl", 1, "d"), [inner, outer], schema)
    assert problem.message == "entity T2 [0, 4) nests in entity T1 [0, 10); the label schema allows overlap: none"
    nested = LabelSchema("1", "nested", ("ORG", "GPE"), (), {}, "labels.yaml")
    assert overlap_problems(Site("a.jsonl", 1, "d"), [inner, outer], nested) == []
