"""The published tables for the seed hold the gold layer exactly."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parent.parent
GOLD = REPO / "corpus" / "annotations" / "gold" / "seed.jsonl"


def gold_record() -> dict:
    (line,) = GOLD.read_text(encoding="utf-8").splitlines()
    return json.loads(line)


def test_published_entities_and_relations_equal_the_gold_layer(published: Path):
    record = gold_record()
    entities = pd.read_parquet(published / "entities")
    got = sorted(zip(entities.ent_id, entities.start, entities.end, entities.label, entities.text, strict=True))
    want = sorted((e["id"], e["start"], e["end"], e["label"], e["text"]) for e in record["entities"])
    assert got == want
    assert set(entities.source) == {"gold"} and set(entities.layer) == {"gold"}
    relations = pd.read_parquet(published / "relations")
    got = sorted(zip(relations.rel_id, relations["head"], relations["tail"], relations.label, strict=True))
    want = sorted((r["id"], r["head"], r["tail"], r["label"]) for r in record["relations"])
    assert got == want


def test_every_offset_slices_the_document_text(published: Path):
    documents = pd.read_parquet(published / "documents")
    texts = dict(zip(documents.doc_id, documents.text, strict=True))
    for table in ("tokens", "entities"):
        frame = pd.read_parquet(published / table)
        for doc_id, start, end, text in zip(frame.doc_id, frame.start, frame.end, frame.text, strict=True):
            assert texts[doc_id][start:end] == text
    sentences = pd.read_parquet(published / "sentences")
    for doc_id, start, end in zip(sentences.doc_id, sentences.start, sentences.end, strict=True):
        piece = texts[doc_id][start:end]
        assert piece and piece == piece.strip()


def test_bio_tags_agree_with_the_entity_table(published: Path):
    tokens = pd.read_parquet(published / "tokens").sort_values(["doc_id", "tok_idx"])
    entities = pd.read_parquet(published / "entities")
    from_tags = []
    current = None
    for row in tokens.itertuples():
        if row.ner_tag.startswith("B-"):
            current = [row.doc_id, row.start, row.end, row.ner_tag[2:]]
            from_tags.append(current)
        elif row.ner_tag.startswith("I-"):
            assert current is not None and current[3] == row.ner_tag[2:]
            current[2] = row.end
        else:
            current = None
    assert sorted(map(tuple, from_tags)) == sorted(zip(entities.doc_id, entities.start, entities.end, entities.label, strict=True))


def test_ner_view_matches_tokens(published: Path):
    ner = pd.concat([pd.read_parquet(p) for p in sorted((published / "ner").glob("*.parquet"))])
    tokens = pd.read_parquet(published / "tokens")
    assert sum(len(t) for t in ner.tokens) == len(tokens)
    names = json.loads((published / "manifest.json").read_text())["label_schema"]["bio_labels"]
    for tags, labels in zip(ner.ner_tags, ner.ner_labels, strict=True):
        assert [names[i] for i in tags] == list(labels)


def test_manifest_lists_every_file_with_its_hash(published: Path):
    import hashlib

    manifest = json.loads((published / "manifest.json").read_text())
    assert manifest["version"] == "0.1.0"
    for relative, info in manifest["files"].items():
        assert hashlib.sha256((published / relative).read_bytes()).hexdigest() == info["sha256"]
    assert manifest["rows"]["entities"] == len(gold_record()["entities"])
