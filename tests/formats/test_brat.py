"""BRAT standoff: T and R lines, unsupported kinds reported, CRLF texts, round trip."""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings

from pipeline.formats import ExportOptions, ImportFailed, brat

from .corpus_strategies import assert_same, build_corpus, corpora


def write_pair(folder: Path, stem: str, text: str, ann: str, newline: str = "\n") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{stem}.txt").write_bytes(text.replace("\n", newline).encode("utf-8"))
    (folder / f"{stem}.ann").write_text(ann, encoding="utf-8")
    return folder / f"{stem}.ann"


def test_entities_relations_and_unsupported_lines(tmp_path, make_options):
    ann = (
        "T1\tPER 0 5\tAngela\n"  # wrong stored text
        "T2\tPER 0 6\tAngela\n"
        "T3\tGPE 17 23\tBerlin\n"
        "T4\tLOC 24 28;33 37\tfoo bar\n"
        "R1\tlocated_in Arg1:T2 Arg2:T3\n"
        "R2\tlocated_in Arg1:T4 Arg2:T3\n"
        "E1\tMeet:T2 Agent:T3\n"
        "A1\tNegated E1\n"
        "#1\tAnnotatorNotes T2\tnote\n"
        "N1\tReference T3 Wikidata:Q64\tBerlin\n"
    )
    write_pair(tmp_path, "doc1", "Angela wohnt in  Berlin hier und dort.", ann)
    result = brat.read([tmp_path], make_options("b"))
    (document,) = result.documents
    (record,) = result.records
    assert document.doc_id == "b-doc1"
    assert [(document.text[e.start : e.end], e.label) for e in record.entities] == [("Angela", "PER"), ("Berlin", "GPE")]
    assert [(r.head, r.tail, r.label) for r in record.relations] == [("T2", "T3", "located_in")]
    assert Counter(p.kind for p in result.problems) == {
        "span-text-mismatch": 1,
        "discontinuous-span": 1,
        "argument-skipped": 1,
        "unsupported-annotation": 4,
    }


def test_stored_texts_and_arguments_are_checked_by_the_importers_rules(tmp_path, make_options):
    ann = (
        "T1\tPER 0 6;7 9\tAngela wo!\n"  # fragments across the line break, stored text wrong
        "T2\tPER 0 6;7 12\tAngela wohnt\n"  # fragments as brat writes them: one span
        "T3\tGPE 16 22\tBerlin\n"
        "T4\tLOC 23 27;32 36\tfoo bar\n"  # discontinuous: skipped by the adapter
        "R1\tlocated_in Arg1:T4 Arg2:T3\n"
        "R2\tlocated_in Arg1:T2 Arg2:T8\n"
    )
    write_pair(tmp_path, "doc1", "Angela\nwohnt in Berlin hier und dort.", ann)
    result = brat.read([tmp_path], make_options("b"))
    assert [(p.kind, p.message) for p in result.problems] == [
        ("discontinuous-span", "T4 LOC has a discontinuous span (23 27;32 36); not representable, skipped"),
        ("span-text-mismatch", "entity T1 [0, 9) stores text 'Angela wo!' but the document has 'Angela\\nwo' there; the entity is skipped"),
        ("argument-skipped", "relation R1 'located_in': its head 'T4' was skipped (see that problem); the relation is skipped too"),
        ("missing-argument", "relation R2 refers to tail 'T8', not an entity of this record; the relation is skipped"),
    ]
    assert [e.id for e in result.records[0].entities] == ["T2", "T3"]


def test_crlf_text_and_spans_across_lines(tmp_path, make_options):
    text = "Kim Jong\nUn trifft\nTrump."
    # offsets count the \r of each CRLF, as brat does for a CRLF file
    ann = "T1\tPER 0 8;10 12\tKim Jong Un\nT2\tPER 21 26\tTrump\n"
    write_pair(tmp_path, "crlf", text, ann, newline="\r\n")
    result = brat.read([tmp_path / "crlf.ann"], make_options("b"))
    (document,) = result.documents
    assert document.text == text
    assert [document.text[e.start : e.end] for e in result.records[0].entities] == ["Kim Jong\nUn", "Trump"]


def test_missing_text_file_is_refused(tmp_path, make_options):
    (tmp_path / "alone.ann").write_text("T1\tPER 0 1\tA\n", encoding="utf-8")
    with pytest.raises(ImportFailed, match=r"needs both alone.txt and alone.ann"):
        brat.read([tmp_path / "alone.ann"], make_options("b"))


@settings(max_examples=40, deadline=None)
@given(corpora())
def test_round_trip(make_options, specs):
    corpus = build_corpus(specs)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        brat.write(corpus, out, ExportOptions())
        assert (out / "annotation.conf").read_text(encoding="utf-8").startswith("[entities]\nPER\n")
        result = brat.read([out], make_options("rt", id_prefix=""))
    assert_same(corpus, result)
