"""Building an import: annotate's rules on entities and relations, and the importer's policy per kind."""

from __future__ import annotations

import json
import re
from pathlib import Path

from pipeline.core.checks import DocumentInfo, check_record
from pipeline.core.problems import Severity
from pipeline.core.spans import record_from_json
from pipeline.core.text import text_sha256
from pipeline.formats import brat, build, doccano
from pipeline.formats.build import KEPT_INVALID, POLICY, build_result
from pipeline.formats.source import SourceDocument, SourceEntity, SourceRelation

REPO = Path(__file__).resolve().parents[2]


def _doc(entities, relations=(), text="Anna Berg lebt in Bonn.", **kwargs) -> SourceDocument:
    return SourceDocument(
        "d1", text, "in.jsonl", 1, offsets=kwargs.pop("offsets", "codepoint"), entities=list(entities), relations=list(relations), **kwargs
    )


def _messages(result) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for problem in result.problems:
        found.setdefault(problem.kind, []).append(problem.message)
    return found


def test_whitespace_spans_are_kept_as_errors_or_stripped_as_warnings(make_options):
    docs = [_doc([SourceEntity("a", 0, 10, "PER"), SourceEntity("b", 17, 22, "GPE"), SourceEntity("c", 14, 15, "LOC")])]
    kept = build_result(docs, make_options("t"))
    assert sorted(p.kind for p in kept.errors) == ["whitespace-span", "whitespace-span", "whitespace-span"]
    assert _messages(kept)["whitespace-span"][0] == (
        "entity a [0, 10) 'Anna Berg ' has leading or trailing whitespace; kept: validate rejects it (use --strip-whitespace to strip it)"
    )
    assert {kept.documents[0].text[e.start : e.end] for e in kept.records[0].entities} == {"Anna Berg ", " Bonn", " "}
    stripped = build_result(docs, make_options("t", strip_whitespace=True))
    assert not stripped.errors
    assert {stripped.documents[0].text[e.start : e.end] for e in stripped.records[0].entities} == {"Anna Berg", "Bonn"}
    assert _messages(stripped) == {
        "whitespace-stripped": [
            "entity a [0, 10) 'Anna Berg ' has leading or trailing whitespace; stripped to [0, 9) 'Anna Berg' (--strip-whitespace)",
            "entity b [17, 22) ' Bonn' has leading or trailing whitespace; stripped to [18, 22) 'Bonn' (--strip-whitespace)",
        ],
        "whitespace-only-span": [
            "entity c [14, 15) ' ' has leading or trailing whitespace; it is only whitespace: nothing is left after --strip-whitespace, the entity is skipped"
        ],
    }
    assert stripped.stats["changed"] == {
        "whitespace_stripped": 2,
        "whitespace_only_skipped": 1,
        "duplicate_entities_merged": 0,
        "duplicate_relations_merged": 0,
    }


def test_broken_spans_are_skipped_and_clear_ones_kept(make_options):
    docs = [
        _doc(
            [
                SourceEntity("a", 0, 9, "PER"),
                SourceEntity("dup", 0, 9, "PER"),
                SourceEntity("b", 5, 14, "LOC"),
                SourceEntity("far", 18, 99, "GPE"),
                SourceEntity("text", 18, 22, "GPE", text="Köln"),
                SourceEntity(None, 3, 3, "PER"),
            ],
            [
                SourceRelation("r1", "a", "nobody", "meets"),
                SourceRelation("r2", "dup", "b", "located_in"),
                SourceRelation("r3", "b", "far", "meets"),
            ],
        )
    ]
    result = build_result(docs, make_options("t"))
    assert _messages(result) == {
        "duplicate-entity": ["entity dup [0, 9) has the same span and label as entity a; merged into it"],
        "bad-offset": ["entity far 'GPE' [18, 99) (codepoint): offset 99 is outside the text (length 23); the entity is skipped"],
        "span-text-mismatch": ["entity text [18, 22) stores text 'Köln' but the document has 'Bonn' there; the entity is skipped"],
        "empty-span": ["entity #6 [3, 3) has start >= end; the entity is skipped"],
        "missing-argument": ["relation r1 refers to tail 'nobody', not an entity of this record; the relation is skipped"],
        "argument-skipped": ["relation r3 'meets': its tail 'far' was skipped (see that problem); the relation is skipped too"],
        "overlapping-spans": [
            "entity b [5, 14) overlaps entity a [0, 9); the label schema allows overlap: nested; "
            "kept: validate rejects it (or import with --overlaps keep-longest|keep-first)"
        ],
    }
    (record,) = result.records
    assert [e.id for e in record.entities] == ["a", "b"]
    assert [(r.head, r.tail) for r in record.relations] == [("a", "b")]  # the duplicate was merged into a


def test_entities_across_a_paragraph_are_skipped(make_options):
    docs = [_doc([SourceEntity("a", 0, 10, "PER"), SourceEntity("b", 6, 11, "PER")], text="Anna\n\nBerg lebt hier.")]
    result = build_result(docs, make_options("t"))
    assert [p.kind for p in result.errors] == ["entity-crosses-paragraph", "whitespace-span"]
    assert result.errors[0].message == "entity a [0, 10) spans a paragraph break (text 'Anna\\n\\nBerg'); the entity is skipped"
    assert [e.id for e in result.records[0].entities] == ["b"]


def test_repeated_relations_are_merged_self_relations_and_type_violations_kept(make_options):
    entities = [SourceEntity("a", 0, 4, "PER"), SourceEntity("c", 12, 16, "PER"), SourceEntity("b", 20, 24, "GPE")]
    relations = [
        SourceRelation("r1", "a", "b", "located_in"),
        SourceRelation("r2", "a", "b", "located_in"),
        SourceRelation("r3", "a", "a", "meets"),
        SourceRelation("r4", "b", "a", "located_in"),
        SourceRelation("r5", "a", "c", "meets"),
        SourceRelation("r6", "c", "a", "meets"),
    ]
    result = build_result([_doc(entities, relations, text="Anna trifft Berg in Bonn.")], make_options("t"))
    assert _messages(result) == {
        "duplicate-relation-merged": ["relation r2 repeats relation r1; merged into it"],
        "self-relation": ["relation r3 has the same entity 'a' as head and tail; kept: validate rejects it"],
        "relation-type-violation": [
            "relation r4 located_in(GPE b, PER a) is not allowed: located_in takes head ['PER', 'ORG', 'LOC', 'EVENT'] and tail ['LOC', 'GPE']; "
            "kept: validate rejects it (map this pair to null or another type)"
        ],
        "symmetric-duplicate-merged": ["relation r6 repeats symmetric relation r5 with head and tail swapped; merged into it"],
    }
    assert [p.kind for p in result.errors] == ["self-relation", "relation-type-violation"]
    assert [r.id for r in result.records[0].relations] == ["r1", "r3", "r4", "r5"]
    assert result.stats["changed"]["duplicate_relations_merged"] == 2


def test_the_context_names_what_the_source_has_differently(tmp_path, make_options):
    mapping = tmp_path / "m.yaml"
    mapping.write_text("entities: {person: PER, city: GPE}\nrelations: {lives_in: located_in}\n", encoding="utf-8")
    text = "😀 Anna Berg lebt in Bonn."  # the emoji is two UTF-16 units
    entities = [
        SourceEntity("p1", 3, 12, "person"),
        SourceEntity("c1", 20, 25, "city", layer="inner"),  # ' Bonn', in a second layer (an annotator's)
        SourceEntity("c2", 21, 25, "city", layer="inner"),
        SourceEntity("c3", 8, 22, "city", layer="inner"),  # 'Berg lebt in B': crosses c1
    ]
    relations = [SourceRelation("x", "p1", "nobody", "lives_in")]
    result = build_result([_doc(entities, relations, text=text, offsets="utf16")], make_options("t", mapping))
    assert _messages(result) == {
        "missing-argument": ["relation x refers to tail 'nobody', not an entity of this record; the relation is skipped"],
        "whitespace-span": [
            "entity c1 [19, 24) ' Bonn' has leading or trailing whitespace (source label 'city', offsets [20, 25) in utf16 units; layer imported/t-inner); "
            "kept: validate rejects it (use --strip-whitespace to strip it)"
        ],
        "overlapping-spans": [
            "entity c1 [19, 24) overlaps entity c3 [7, 21); the label schema allows overlap: nested (layer imported/t-inner); "
            "kept: validate rejects it (or import with --overlaps keep-longest|keep-first)",
            "entity c2 [20, 24) overlaps entity c3 [7, 21); the label schema allows overlap: nested (layer imported/t-inner); "
            "kept: validate rejects it (or import with --overlaps keep-longest|keep-first)",
        ],
    }


def test_a_stored_span_text_is_compared_after_normalisation(make_options):
    nfd = "Jose\u0301 lebt in Bonn."  # José in NFD: NFC makes it one code point shorter
    same = SourceEntity("a", 0, 5, "PER", text="Jos\u00e9")  # the source stores the NFC form of its NFD span
    other = SourceEntity("b", 14, 18, "GPE", text="Köln")
    result = build_result([_doc([same, other], text=nfd)], make_options("t"))
    assert _messages(result) == {
        "span-text-mismatch": [
            "entity b [13, 17) stores text 'Köln' but the document has 'Bonn' there (source offsets [14, 18)); the entity is skipped"
        ]
    }
    assert [e.id for e in result.records[0].entities] == ["a"]


def test_every_reported_kind_has_the_severity_of_its_policy(make_options):
    entities = [
        SourceEntity("a", 0, 10, "PER"),
        SourceEntity("b", 5, 14, "LOC"),
        SourceEntity("c", 0, 0, "PER"),
        SourceEntity("d", 0, 10, "PER"),
    ]
    relations = [SourceRelation("r1", "a", "a", "meets"), SourceRelation("r2", "a", "c", "meets"), SourceRelation("r3", "a", "x", "meets")]
    result = build_result([_doc(entities, relations), _doc([])], make_options("t"))
    assert {p.kind for p in result.problems} >= {
        "whitespace-span",
        "overlapping-spans",
        "empty-span",
        "self-relation",
        "argument-skipped",
        "missing-argument",
        "duplicate-doc-id",
    }
    for problem in result.problems:
        assert problem.severity is POLICY[problem.kind].severity, problem
    assert {"whitespace-span", "overlapping-spans", "self-relation", "relation-type-violation"} == KEPT_INVALID


def _table(lines: list[str]) -> dict[str, tuple[str, Severity]]:
    return {kind: (does, Severity(severity)) for kind, does, severity in lines}


def test_the_policy_table_is_the_same_in_the_docstring_docs_and_code():
    policy = {kind: (p.does, p.severity) for kind, p in POLICY.items()}
    docstring = re.findall(r"^    ([a-z-]+) +(skipped|kept|merged|stripped) +(error|warning) ", build.__doc__, re.M)
    assert _table(docstring) == policy
    docs = (REPO / "docs" / "formats.md").read_text(encoding="utf-8")
    rows = re.findall(r"^  \| `([a-z-]+)` \| (skipped|kept|merged|stripped) \| (error|warning) \|", docs, re.M)
    assert _table(rows) == policy
    # a kind annotate rejects is a warning here only as a repair of its own (another kind)
    assert {kind for kind, (_, severity) in policy.items() if severity is Severity.WARNING}.isdisjoint(
        {
            "empty-span",
            "span-text-mismatch",
            "whitespace-span",
            "overlapping-spans",
            "missing-argument",
            "self-relation",
            "duplicate-relation",
            "symmetric-duplicate",
            "relation-type-violation",
            "entity-crosses-paragraph",
        }
    )


# --------------------------------------------------------------------------- the same message as annotate


def _checked(result, record, schema):
    """What annotate's rules report for ``record`` as the import wrote it (through its JSON form)."""
    (document,) = result.documents
    written = record_from_json(record.to_json(document.text), layer=record.layer, path=record.path, line=1)
    info = DocumentInfo(document.doc_id, document.text, document.text_sha256, "seeds/x.jsonl", 1)
    return check_record(written, info, schema, Severity.ERROR)


def _record(doc_id, text, entities, relations=()):
    """A record of layer ``gold`` as annotate reads it (entities with ``text`` store their span text)."""
    data = {"doc_id": doc_id, "text_sha256": text_sha256(text), "source": "gold", "entities": entities, "relations": list(relations)}
    return record_from_json(data, layer="gold", path="gold.jsonl", line=1)


def test_brat_import_and_annotate_report_kept_items_with_the_same_message(tmp_path, make_options):
    text = "Angela Merkel trifft Macron in Paris."
    ann = (
        "T1\tPER 0 13\tAngela Merkel\n"
        "T2\tPER 7 20\tMerkel trifft\n"  # crosses T1
        "T3\tPER 21 27\tMacron\n"
        "T4\tGPE 31 36\tParis\n"
        "R1\tlocated_in Arg1:T4 Arg2:T1\n"  # GPE is no head of located_in
        "R2\tmeets Arg1:T3 Arg2:T3\n"
    )
    (tmp_path / "doc1.txt").write_text(text, encoding="utf-8")
    (tmp_path / "doc1.ann").write_text(ann, encoding="utf-8")
    options = make_options("b")
    result = brat.read([tmp_path], options)
    (record,) = result.records
    annotate = _checked(result, record, options.schema)
    assert sorted(p.kind for p in annotate) == ["overlapping-spans", "relation-type-violation", "self-relation"]
    imported = {p.kind: p.message for p in result.problems}
    for problem in annotate:
        assert imported[problem.kind].startswith(problem.message + "; kept: validate rejects it"), (imported[problem.kind], problem.message)
        assert problem.kind in KEPT_INVALID


def test_brat_import_and_annotate_report_skipped_items_with_the_same_message(tmp_path, make_options):
    text = "Angela Merkel trifft Macron in Paris."
    ann = "T1\tPER 0 13\tAngela Merkl\nT2\tPER 21 21\t\nT3\tGPE 31 36\tParis\nR1\tmeets Arg1:T3 Arg2:T9\n"
    (tmp_path / "doc1.txt").write_text(text, encoding="utf-8")
    (tmp_path / "doc1.ann").write_text(ann, encoding="utf-8")
    options = make_options("b")
    result = brat.read([tmp_path], options)
    imported = {p.kind: p.message for p in result.problems}
    assert sorted(imported) == ["empty-span", "missing-argument", "span-text-mismatch"]
    # the record as the source has it, checked by annotate's rules
    (document,) = result.documents
    equivalent = _record(
        document.doc_id,
        document.text,
        [
            {"id": "T1", "start": 0, "end": 13, "label": "PER", "text": "Angela Merkl"},
            {"id": "T2", "start": 21, "end": 21, "label": "PER"},
            {"id": "T3", "start": 31, "end": 36, "label": "GPE"},
        ],
        [{"id": "R1", "head": "T3", "tail": "T9", "label": "meets"}],
    )
    info = DocumentInfo(document.doc_id, document.text, document.text_sha256, "seeds/x.jsonl", 1)
    annotate = {p.kind: p.message for p in check_record(equivalent, info, options.schema, Severity.ERROR)}
    assert sorted(annotate) == sorted(imported)
    for kind, message in annotate.items():
        assert imported[kind] in (f"{message}; the entity is skipped", f"{message}; the relation is skipped"), (imported[kind], message)


def test_doccano_import_and_annotate_give_the_same_message_before_the_context(tmp_path, make_options):
    mapping = tmp_path / "m.yaml"
    mapping.write_text("entities: {PERSON: PER, CITY: GPE}\nrelations: {born_in: located_in}\n", encoding="utf-8")
    row = {
        "id": 7,
        "text": "😀 Anna und Berg in Rom",
        "entities": [
            {"id": 1, "start_offset": 3, "end_offset": 7, "label": "PERSON"},
            {"id": 2, "start_offset": 5, "end_offset": 16, "label": "PERSON"},
            {"id": 3, "start_offset": 20, "end_offset": 23, "label": "CITY"},
        ],
        "relations": [{"id": 5, "from_id": 3, "to_id": 1, "type": "born_in"}],
    }
    path = tmp_path / "a.jsonl"
    path.write_text(json.dumps(row) + "\n", encoding="utf-8")
    options = make_options("dc", mapping)
    result = doccano.read([path], options)
    (record,) = result.records
    annotate = {p.kind: p.message for p in _checked(result, record, options.schema)}
    imported = {p.kind: p.message for p in result.problems}
    assert sorted(annotate) == sorted(imported) == ["overlapping-spans", "relation-type-violation"]
    assert (
        imported["overlapping-spans"]
        == f"{annotate['overlapping-spans']}; kept: validate rejects it (or import with --overlaps keep-longest|keep-first)"
    )
    assert imported["relation-type-violation"] == (
        f"{annotate['relation-type-violation']} (source label 'born_in'); kept: validate rejects it (map this pair to null or another type)"
    )


def test_the_spans_of_an_empty_document_are_counted_as_dropped(make_options):
    result = build_result([_doc([SourceEntity("a", 0, 1, "PER")], text=" \n ")], make_options("t"))
    assert "empty-document" in _messages(result)
    assert result.stats["levels"]["0"]["PER"] == {"source": 1, "published": 0, "dropped": {"broken-in-source": 1}}
