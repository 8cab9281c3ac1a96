"""Label mappings: every source label mapped, to a label or to null; mapping files checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.formats import ImportFailed
from pipeline.formats.build import build_result
from pipeline.formats.mapping import load_mapping
from pipeline.formats.source import SourceDocument, SourceEntity, SourceRelation

LABELS = Path(__file__).resolve().parents[2] / "schemas" / "labels.yaml"


def _doc(entities, relations=(), text="Anna Berg lebt in Bonn.") -> SourceDocument:
    return SourceDocument("d1", text, "in.jsonl", 1, offsets="codepoint", entities=list(entities), relations=list(relations))


def test_unmapped_labels_are_an_error_listing_all(tmp_path, make_options):
    mapping = tmp_path / "m.yaml"
    mapping.write_text("entities:\n  person: PER\nrelations: {}\n", encoding="utf-8")
    docs = [
        _doc(
            [SourceEntity("a", 0, 9, "person"), SourceEntity("b", 18, 22, "city"), SourceEntity("c", 10, 14, "verb")],
            [SourceRelation("r", "a", "b", "lives_in")],
        )
    ]
    with pytest.raises(ImportFailed, match=r"(?s)entity label 'city'.*entity label 'verb'.*relation label 'lives_in'"):
        build_result(docs, make_options("t", mapping))


def test_null_mapping_is_an_explicit_counted_drop(tmp_path, make_options):
    mapping = tmp_path / "m.yaml"
    mapping.write_text(
        "entities:\n  person: PER\n  city: GPE\n  verb: null\nrelations:\n  lives_in: {PER>GPE: located_in}\n  knows: null\n",
        encoding="utf-8",
    )
    docs = [
        _doc(
            [SourceEntity("a", 0, 9, "person"), SourceEntity("b", 18, 22, "city"), SourceEntity("c", 10, 14, "verb")],
            [
                SourceRelation("r1", "a", "b", "lives_in"),
                SourceRelation("r2", "a", "c", "lives_in"),
                SourceRelation("r3", "b", "a", "knows"),
            ],
        )
    ]
    result = build_result(docs, make_options("t", mapping))
    (record,) = result.records
    assert [(e.label, result.documents[0].text[e.start : e.end]) for e in record.entities] == [("PER", "Anna Berg"), ("GPE", "Bonn")]
    assert [(r.head, r.tail, r.label) for r in record.relations] == [("a", "b", "located_in")]
    dropped = result.stats["dropped_by_mapping"]
    assert dropped == {"entities": {"verb": 1}, "relations": {"knows": 1}, "relations_with_dropped_argument": {"lives_in": 1}}
    assert not result.problems


def test_typed_relation_mapping_needs_every_pair(tmp_path, make_options):
    mapping = tmp_path / "m.yaml"
    mapping.write_text("entities: {person: PER, city: GPE}\nrelations:\n  rel: {PER>GPE: located_in}\n", encoding="utf-8")
    docs = [_doc([SourceEntity("a", 0, 9, "person"), SourceEntity("b", 18, 22, "city")], [SourceRelation("r", "b", "a", "rel")])]
    with pytest.raises(ImportFailed, match=r"rel: GPE>PER"):
        build_result(docs, make_options("t", mapping))


def test_mapping_file_errors(tmp_path):
    bad_target = tmp_path / "bad.yaml"
    bad_target.write_text("entities: {person: PERSON}\nrelations: {x: friend_of}\n", encoding="utf-8")
    with pytest.raises(ImportFailed, match=r"entity types \['PERSON'\].*relation types \['friend_of'\]"):
        load_mapping(bad_target, LABELS)
    boolean = tmp_path / "bool.yaml"
    boolean.write_text("entities: {no: PER}\n", encoding="utf-8")
    with pytest.raises(ImportFailed, match="quote it"):
        load_mapping(boolean, LABELS)
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("entitys: {}\n", encoding="utf-8")
    with pytest.raises(ImportFailed, match="unknown keys"):
        load_mapping(unknown, LABELS)


def test_identity_mapping_rejects_foreign_labels(make_options):
    with pytest.raises(ImportFailed, match=r"(?s)no --mapping given.*entity label 'PERSON'"):
        build_result([_doc([SourceEntity("a", 0, 9, "PERSON")])], make_options("t"))


def test_shipped_mapping_files_load():
    for path in sorted((LABELS.parent / "mappings").glob("*.yaml")):
        mapping, _ = load_mapping(path, LABELS)
        assert mapping.entities, path
