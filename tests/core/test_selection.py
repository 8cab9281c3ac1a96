"""One record per document by layer priority; only records without errors compete."""

from __future__ import annotations

from pathlib import Path

from pipeline.core.checks import DocumentInfo
from pipeline.core.selection import check_and_select, select_records
from pipeline.core.spans import record_from_json
from pipeline.core.text import text_sha256
from pipeline.io.schemas import load_label_schema

REPO = Path(__file__).resolve().parents[2]
SCHEMA = load_label_schema(REPO / "schemas" / "labels.yaml")
TEXT = "US-Präsident Donald Trump trifft Kim Jong Un in Panmunjom."
DOCS = {"d1": DocumentInfo("d1", TEXT, text_sha256(TEXT), "seeds/d1.txt", None)}


def record(layer: str, entities=(), line: int = 1):
    data = {"doc_id": "d1", "text_sha256": text_sha256(TEXT), "source": "gold", "entities": list(entities), "relations": []}
    return record_from_json(data, layer=layer, path=f"corpus/annotations/{layer}/x.jsonl", line=line)


def test_the_first_matching_priority_pattern_wins():
    gold, alice = record("gold"), record("annotators/alice")
    assert select_records([alice, gold], ["gold", "*"])[0]["d1"] is gold
    assert select_records([alice, gold], ["annotators/*", "gold"])[0]["d1"] is alice


def test_layers_matching_no_pattern_come_last_alphabetically():
    chosen, _ = select_records([record("zeta"), record("alpha")], ["gold"])
    assert chosen["d1"].layer == "alpha"


def test_two_records_of_one_layer_for_one_document_are_an_error():
    first, second = record("gold", line=1), record("gold", line=2)
    chosen, problems = select_records([first, second], ["gold"])
    assert chosen["d1"] is first
    assert [p.format() for p in problems] == [
        "corpus/annotations/gold/x.jsonl:2: d1: duplicate-record: layer 'gold' already annotates this document at corpus/annotations/gold/x.jsonl:1"
    ]


def test_a_record_with_an_error_does_not_compete():
    broken = record("gold", [{"id": "T1", "start": 0, "end": 2, "label": "COUNTRY"}])
    imported = record("imported/x", [{"id": "T1", "start": 0, "end": 2, "label": "GPE"}])
    chosen, problems = check_and_select([broken, imported], DOCS, SCHEMA, priority=["gold", "*"])
    assert chosen["d1"] is imported
    assert [p.kind for p in problems] == ["unknown-label"]
