"""Building an import: the checks on entities and relations while source documents are built."""

from __future__ import annotations

from pipeline.formats.build import build_result
from pipeline.formats.source import SourceDocument, SourceEntity, SourceRelation


def _doc(entities, relations=(), text="Anna Berg lebt in Bonn.") -> SourceDocument:
    return SourceDocument("d1", text, "in.jsonl", 1, offsets="codepoint", entities=list(entities), relations=list(relations))


def test_whitespace_spans_are_reported_or_stripped(make_options):
    docs = [_doc([SourceEntity("a", 0, 10, "PER"), SourceEntity("b", 17, 22, "GPE"), SourceEntity("c", 14, 15, "LOC")])]
    kept = build_result(docs, make_options("t"))
    assert sorted(p.kind for p in kept.errors) == ["whitespace-span", "whitespace-span", "whitespace-span"]
    assert {kept.documents[0].text[e.start : e.end] for e in kept.records[0].entities} == {"Anna Berg ", " Bonn", " "}
    stripped = build_result(docs, make_options("t", strip_whitespace=True))
    assert not stripped.errors
    assert {stripped.documents[0].text[e.start : e.end] for e in stripped.records[0].entities} == {"Anna Berg", "Bonn"}
    assert stripped.stats["changed"] == {"whitespace_stripped": 2, "whitespace_only_skipped": 1, "duplicate_entities_merged": 0}


def test_bad_offsets_overlaps_duplicates_and_missing_arguments(make_options):
    docs = [
        _doc(
            [
                SourceEntity("a", 0, 9, "PER"),
                SourceEntity("dup", 0, 9, "PER"),
                SourceEntity("b", 5, 14, "LOC"),
                SourceEntity("far", 18, 99, "GPE"),
                SourceEntity("text", 18, 22, "GPE", text="Köln"),
            ],
            [SourceRelation("r1", "a", "nobody", "meets"), SourceRelation("r2", "dup", "b", "located_in")],
        )
    ]
    result = build_result(docs, make_options("t"))
    kinds = sorted(p.kind for p in result.problems)
    assert kinds == ["bad-offset", "duplicate-entity", "missing-argument", "overlapping-spans", "span-text-mismatch"]
    (record,) = result.records
    assert [e.id for e in record.entities] == ["a", "b"]
    assert [(r.head, r.tail) for r in record.relations] == [("a", "b")]  # the duplicate was merged into a


def test_entities_across_a_paragraph_are_skipped(make_options):
    docs = [_doc([SourceEntity("a", 0, 10, "PER"), SourceEntity("b", 6, 11, "PER")], text="Anna\n\nBerg lebt hier.")]
    result = build_result(docs, make_options("t"))
    assert [p.kind for p in result.errors] == ["entity-crosses-paragraph", "whitespace-span"]
    assert [e.id for e in result.records[0].entities] == ["b"]
