"""What the adapters share: offset mapping, label mapping, ids, writer."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.formats import EXPORTERS, IMPORTERS, exporter, importer
from pipeline.formats.common import (
    PARAGRAPH_BREAK,
    ImportFailed,
    OffsetMap,
    SourceDocument,
    SourceEntity,
    SourceRelation,
    build_result,
    iter_json_values,
    load_mapping,
    make_doc_id,
    raw_to_normalised,
    to_codepoints,
    write_import,
)
from pipeline.core.text import normalise_text

LABELS = Path(__file__).resolve().parents[2] / "schemas" / "labels.yaml"


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
    with pytest.raises(ValueError, match="inside a line break"):
        mapped(7)
    with pytest.raises(ValueError, match="NFC normalisation changes"):
        mapped(5)
    with pytest.raises(ValueError, match="outside the text"):
        mapped(len(raw) + 1)


def test_offset_map_identity_and_hangul():
    assert raw_to_normalised("plain text", [0, 5, 10]) == [0, 5, 10]
    raw = "\u1100\u1161\u11a8 x"  # conjoining jamo compose into one syllable
    assert raw_to_normalised(raw, [0, 3, 4, 5]) == [0, 1, 2, 3]


ALPHABET = st.sampled_from(["a", "e", "\u0301", "\u0327", "\u0323", "\r", "\n", "\r\n", " ", "\u1100", "\u1161", "\u11a8", "\ufeff", "😀", "\u212b", "A\u030a", "ß"])


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


def test_utf16_and_codepoint_units():
    text = "😀 Kim"
    assert to_codepoints(text, [3, 6], "utf16") == [2, 5]
    assert to_codepoints(text, [2, 5], "codepoint") == [2, 5]
    with pytest.raises(ValueError, match="surrogate pair"):
        to_codepoints(text, [1], "utf16")
    with pytest.raises(ValueError, match="unknown offset unit"):
        to_codepoints(text, [1], "bytes")


def test_paragraph_break_matches_the_segmenter():
    from pipeline.core.segment import PARAGRAPH_BREAK as SEGMENTER

    assert PARAGRAPH_BREAK.pattern == SEGMENTER.pattern


# --------------------------------------------------------------------------- label mapping


def _doc(entities, relations=(), text="Anna Berg lebt in Bonn.") -> SourceDocument:
    return SourceDocument("d1", text, "in.jsonl", 1, offsets="codepoint", entities=list(entities), relations=list(relations))


def test_unmapped_labels_are_an_error_listing_all(tmp_path, make_options):
    mapping = tmp_path / "m.yaml"
    mapping.write_text("entities:\n  person: PER\nrelations: {}\n", encoding="utf-8")
    docs = [
        _doc([SourceEntity("a", 0, 9, "person"), SourceEntity("b", 18, 22, "city"), SourceEntity("c", 10, 14, "verb")], [SourceRelation("r", "a", "b", "lives_in")])
    ]
    with pytest.raises(ImportFailed, match=r"(?s)entity label 'city'.*entity label 'verb'.*relation label 'lives_in'"):
        build_result(docs, make_options("t", mapping))


def test_null_mapping_is_an_explicit_counted_drop(tmp_path, make_options):
    mapping = tmp_path / "m.yaml"
    mapping.write_text("entities:\n  person: PER\n  city: GPE\n  verb: null\nrelations:\n  lives_in: {PER>GPE: located_in}\n  knows: null\n", encoding="utf-8")
    docs = [
        _doc(
            [SourceEntity("a", 0, 9, "person"), SourceEntity("b", 18, 22, "city"), SourceEntity("c", 10, 14, "verb")],
            [SourceRelation("r1", "a", "b", "lives_in"), SourceRelation("r2", "a", "c", "lives_in"), SourceRelation("r3", "b", "a", "knows")],
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


# --------------------------------------------------------------------------- checks while building


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


def test_document_ids(make_options):
    assert make_doc_id("x-", "c/55d6") == "x-c_55d6"
    long = make_doc_id("mobie-", "https://example.org/" + "a" * 300)
    assert len(long) == 200 and long.startswith("mobie-https:__example.org_aaa")
    assert make_doc_id("", "_odd") == "x_odd"
    docs = [_doc([]), _doc([])]
    result = build_result(docs, make_options("t"))
    assert [d.doc_id for d in result.documents] == ["t-d1"]
    assert [p.kind for p in result.errors] == ["duplicate-doc-id"]


def test_iter_json_values_reads_jsonl_pretty_and_arrays():
    assert [v for _, v in iter_json_values('{"a": 1}\n{"a": 2}\n', "x")] == [{"a": 1}, {"a": 2}]
    assert [(line, v) for line, v in iter_json_values('{\n  "a": 1\n}\n\n{"a": 2}', "x")] == [(1, {"a": 1}), (5, {"a": 2})]
    assert [v for _, v in iter_json_values('[{"a": 1}, {"a": 2}]', "x")] == [{"a": 1}, {"a": 2}]
    with pytest.raises(ImportFailed, match="x:2: not JSON"):
        list(iter_json_values('{"a": 1}\n{oops}', "x"))


# --------------------------------------------------------------------------- writer


def test_write_import_layout_and_refusals(tmp_path, make_options):
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "t-d1.txt").write_text("clash", encoding="utf-8")
    text = "Anna Berg lebt in Bonn.\r\n"
    docs = [
        SourceDocument("d1", text, "in.jsonl", 1, offsets="codepoint", entities=[SourceEntity("a", 0, 9, "PER"), SourceEntity("i", 5, 9, "PER", layer="inner")]),
        SourceDocument("d2", "Nichts.", "in.jsonl", 2),
    ]
    result = build_result(docs, make_options("t"))
    dirs = dict(seeds_dir=seeds, annotations_dir=tmp_path / "annotations", reports_dir=tmp_path / "imported")
    with pytest.raises(ImportFailed, match="t-d1 .already in"):
        write_import(result, **dirs)
    (seeds / "t-d1.txt").unlink()
    files = write_import(result, **dirs)
    lines = [json.loads(line) for line in (seeds / "t.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [d["id"] for d in lines] == ["t-d1", "t-d2"]
    assert lines[0]["text"] == "Anna Berg lebt in Bonn.\n"  # normalised
    main = [json.loads(line) for line in (tmp_path / "annotations/imported/t/t.jsonl").read_text(encoding="utf-8").splitlines()]
    inner = [json.loads(line) for line in (tmp_path / "annotations/imported/t-inner/t-inner.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["doc_id"] for r in main] == ["t-d1", "t-d2"] and [r["doc_id"] for r in inner] == ["t-d1"]
    assert main[0]["source"] == "imported:t" and main[0]["entities"][0]["text"] == "Anna Berg"
    assert inner[0]["entities"][0]["text"] == "Berg"
    report = json.loads(files["report"].read_text(encoding="utf-8"))
    assert report["layers"]["imported/t-inner"]["entities"] == 1
    with pytest.raises(ImportFailed, match="--force"):
        write_import(result, **dirs)
    write_import(result, **dirs, force=True)


def test_written_records_validate_against_the_annotation_schema(tmp_path, make_options):
    from pipeline.io.layers import read_layers
    from pipeline.io.schemas import load_json_schema

    docs = [SourceDocument("d1", "Anna Berg lebt in Bonn.", "in.jsonl", 1, entities=[SourceEntity("a", 0, 9, "PER", meta={"nel": "Q1"})])]
    result = build_result(docs, make_options("t"))
    write_import(result, seeds_dir=tmp_path / "seeds", annotations_dir=tmp_path / "annotations", reports_dir=tmp_path / "imported")
    records, problems = read_layers(tmp_path / "annotations", load_json_schema(LABELS.parent / "annotation.schema.json"), root=tmp_path)
    assert not problems and [r.layer for r in records] == ["imported/t"]
    documents = load_json_schema(LABELS.parent / "document.schema.json")
    for line in (tmp_path / "seeds" / "t.jsonl").read_text(encoding="utf-8").splitlines():
        assert not list(documents.iter_errors(json.loads(line)))


def test_registries_resolve():
    for name in IMPORTERS:
        assert callable(importer(name))
    for name in EXPORTERS:
        assert callable(exporter(name))
    with pytest.raises(ValueError, match="known: brat"):
        importer("xml")


def test_nfc_helper_is_consistent_with_unicodedata():
    # the composition-unit rule treats U+212B (Angstrom sign → Å) as a safe starter
    assert OffsetMap("\u212b").text == unicodedata.normalize("NFC", "\u212b")
