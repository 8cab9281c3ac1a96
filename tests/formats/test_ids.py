"""Ids of imported documents, entities and relations follow the rules of ``schemas/``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.formats import ImportFailed
from pipeline.formats.build import build_result
from pipeline.formats.ids import IdMaker, check_name, make_doc_id, sanitise_id
from pipeline.formats.source import SourceDocument, SourceEntity
from pipeline.io.schemas import SCHEMAS_DIR, id_rules

DOCUMENT = id_rules().document
ITEM = id_rules().item


def changed_schemas(tmp_path: Path, document: dict | None = None, item: dict | None = None) -> Path:
    """A copy of ``schemas/`` whose document id field and record-local id field are updated."""
    folder = tmp_path / "schemas"
    folder.mkdir()
    for name, pointer, change in (
        ("document.schema.json", ("properties", "id"), document),
        ("annotation.schema.json", ("$defs", "id"), item),
    ):
        data = json.loads((SCHEMAS_DIR / name).read_text(encoding="utf-8"))
        data[pointer[0]][pointer[1]].update(change or {})
        (folder / name).write_text(json.dumps(data), encoding="utf-8")
    return folder


def test_a_source_id_is_sanitised():
    assert make_doc_id("x-", "c/55d6", DOCUMENT) == "x-c_55d6"


def test_a_long_document_id_is_shortened_with_a_hash():
    long = make_doc_id("mobie-", "https://example.org/" + "a" * 300, DOCUMENT)
    assert len(long) == 200 and long.startswith("mobie-https:__example.org_aaa")


def test_a_document_id_starts_with_a_letter_or_digit():
    assert make_doc_id("", "_odd", DOCUMENT) == "x_odd"


def test_a_document_id_used_twice_is_skipped(make_options):
    docs = [SourceDocument("d1", "Anna Berg.", "in.jsonl", 1), SourceDocument("d1", "Anna Berg.", "in.jsonl", 2)]
    result = build_result(docs, make_options("t"))
    assert [d.doc_id for d in result.documents] == ["t-d1"]
    assert [p.kind for p in result.errors] == ["duplicate-doc-id"]


def test_entity_ids_are_kept_sanitised_or_generated():
    maker = IdMaker("T", ITEM)
    assert [maker.make("e1"), maker.make("a b"), maker.make("a b"), maker.make(None)] == ["e1", "a_b", "T1", "T2"]


def test_a_long_entity_id_is_shortened_with_a_hash():
    made = IdMaker("T", ITEM).make("x" * 100)
    assert len(made) == 64 and made.startswith("x" * 51 + "-")


def test_sanitise_id_replaces_foreign_characters():
    assert sanitise_id("ä/b c") == "__b_c"
    assert sanitise_id("-a", doc=True) == "x-a"


def test_import_names_are_plain():
    assert check_name("mobie-dev.1") == "mobie-dev.1"
    with pytest.raises(ImportFailed, match=r"--name 'a/b' must match"):
        check_name("a/b")


def test_a_changed_document_id_pattern_changes_what_is_accepted(tmp_path, make_options):
    docs = [SourceDocument("Abc", "Anna Berg.", "in.jsonl", 1)]
    assert [d.doc_id for d in build_result(docs, make_options("t")).documents] == ["t-Abc"]
    lowercase = id_rules(changed_schemas(tmp_path, document={"pattern": "^[a-z0-9][a-z0-9_.:-]*$"}))
    result = build_result(docs, make_options("t", ids=lowercase))
    assert not result.documents
    assert [p.message for p in result.errors] == ["document id 't-Abc' does not match ^[a-z0-9][a-z0-9_.:-]*$ or is longer than 200"]


def test_a_changed_document_id_length_changes_where_ids_are_shortened(tmp_path, make_options):
    short = id_rules(changed_schemas(tmp_path, document={"maxLength": 20}))
    (document,) = build_result([SourceDocument("a" * 30, "Anna Berg.", "in.jsonl", 1)], make_options("t", ids=short)).documents
    assert len(document.doc_id) == 20 and document.doc_id.startswith("t-aaaaa")


def test_a_changed_item_id_pattern_changes_which_source_ids_are_kept(tmp_path, make_options):
    docs = [SourceDocument("d1", "Anna Berg.", "in.jsonl", 1, entities=[SourceEntity("e.1", 0, 9, "PER")])]
    assert [e.id for e in build_result(docs, make_options("t")).records[0].entities] == ["e.1"]
    no_dots = id_rules(changed_schemas(tmp_path, item={"pattern": "^[A-Za-z0-9_:-]+$"}))
    assert [e.id for e in build_result(docs, make_options("t", ids=no_dots)).records[0].entities] == ["T1"]
