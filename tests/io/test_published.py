"""The reader of the published dataset."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.io import tables
from pipeline.io.published import Token, corpus_from_tables, load_published, order_splits

LABEL_SCHEMA = {
    "entity_types": ["PER", "GPE"],
    "relation_types": {"located_in": {"head": ["PER"], "tail": ["GPE"]}},
    "bio_labels": ["O", "B-PER", "I-PER", "B-GPE", "I-GPE"],
}
TEXT = "Anna lebt in Bonn."


def published_tables() -> dict:
    document = {
        "doc_id": "d1",
        "text": TEXT,
        "text_sha256": "0" * 64,
        "source": "s",
        "split": "dev",
        "title": "T",
        "date": None,
        "url": None,
        "meta": '{"k": 1}',
    }
    tokens = [("Anna", 0, "B-PER"), ("lebt", 5, "O"), ("in", 10, "O"), ("Bonn", 13, "B-GPE"), (".", 17, "O")]
    rows = {
        "documents": [document],
        "sentences": [{"doc_id": "d1", "sent_idx": 0, "start": 0, "end": 18, "paragraph_idx": 0}],
        "tokens": [
            {"doc_id": "d1", "sent_idx": 0, "tok_idx": i, "start": s, "end": s + len(t), "text": t, "ner_tag": tag}
            for i, (t, s, tag) in enumerate(tokens)
        ],
        "entities": [
            {"doc_id": "d1", "ent_id": "T2", "start": 13, "end": 17, "text": "Bonn", "label": "GPE", "source": "gold", "layer": "gold"},
            {"doc_id": "d1", "ent_id": "T1", "start": 0, "end": 4, "text": "Anna", "label": "PER", "source": "gold", "layer": "gold"},
        ],
        "relations": [
            {"doc_id": "d1", "rel_id": "R1", "head": "T1", "tail": "T2", "label": "located_in", "source": "gold", "layer": "gold"}
        ],
    }
    return {name: tables.from_rows(name, rows[name]) for name in tables.FLAT_TABLES}


def test_corpus_from_tables_groups_rows_by_document():
    corpus = corpus_from_tables(published_tables(), LABEL_SCHEMA)
    (document,) = corpus.documents
    assert [(e.id, e.label) for e in document.entities] == [("T1", "PER"), ("T2", "GPE")]
    assert [(r.head, r.tail, r.label) for r in document.relations] == [("T1", "T2", "located_in")]
    assert document.sentences == ((0, 18),)
    assert document.tokens[3] == Token(13, 17, 0, "B-GPE")
    assert (document.title, document.meta) == ("T", {"k": 1})
    assert corpus.splits == ("dev",) and corpus.split("dev") == [document]
    assert corpus.bio_labels == tuple(LABEL_SCHEMA["bio_labels"])


def test_splits_are_ordered_train_dev_test_then_by_name():
    assert order_splits(["test", "zeta", "train", "alpha", "dev"]) == ("train", "dev", "test", "alpha", "zeta")


def test_load_published_reads_every_shard_and_the_manifest(tmp_path: Path):
    for name, table in published_tables().items():
        tables.write_parquet(table, tmp_path / name / "part-000.parquet")
    (tmp_path / "manifest.json").write_text(json.dumps({"label_schema": LABEL_SCHEMA}), encoding="utf-8")
    corpus = load_published(tmp_path)
    assert [d.doc_id for d in corpus.documents] == ["d1"] and corpus.root == tmp_path


def test_load_published_needs_the_manifest(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match=r"manifest.json does not exist: build the dataset first \(dvc repro\)"):
        load_published(tmp_path)


def test_load_published_needs_every_flat_table(tmp_path: Path):
    (tmp_path / "manifest.json").write_text(json.dumps({"label_schema": LABEL_SCHEMA}), encoding="utf-8")
    with pytest.raises(FileNotFoundError, match="documents holds no Parquet files"):
        load_published(tmp_path)
