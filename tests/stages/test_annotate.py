"""The annotate stage's build: interim tables + chosen records → publishable tables."""

from __future__ import annotations

from pathlib import Path

from pipeline.core.selection import check_and_select
from pipeline.core.spans import Document, record_from_json
from pipeline.core.text import text_sha256
from pipeline.io.schemas import load_label_schema
from pipeline.stages.annotate import build_in_batches, build_shard, document_infos
from pipeline.stages.ingest import SourcedDocument, segment_documents

REPO = Path(__file__).resolve().parents[2]
SCHEMA = load_label_schema(REPO / "schemas" / "labels.yaml")
TEXT = "US-Präsident Donald Trump trifft Kim Jong Un in Panmunjom."
RATIOS = {"train": 0.5, "dev": 0.25, "test": 0.25}


def ent(id_: str, text: str, surface: str, label: str) -> dict:
    start = text.index(surface)
    return {"id": id_, "start": start, "end": start + len(surface), "label": label}


def interim(texts: dict[str, str]):
    sourced = [SourcedDocument(Document(doc_id, text, source="t"), "seeds/t.jsonl", n + 1, text_sha256(text)) for n, (doc_id, text) in enumerate(texts.items())]
    return segment_documents(sourced, "de")


def gold(doc_id: str, text: str, entities, relations=(), line: int = 1):
    data = {"doc_id": doc_id, "text_sha256": text_sha256(text), "source": "gold", "entities": list(entities), "relations": list(relations)}
    return record_from_json(data, layer="gold", path="x.jsonl", line=line)


def test_building_in_batches_gives_the_tables_of_one_build():
    texts = {f"d{n}": f"{TEXT} Moon Jae In sprach in Seoul, Nummer {n}." for n in range(5)}
    documents, sentences, tokens = interim(texts)
    records = [
        gold(doc_id, text, [ent("T1", text, "Donald Trump", "PER"), ent("T2", text, "Kim Jong Un", "PER")], [{"id": "R1", "head": "T1", "tail": "T2", "label": "meets"}], n + 1)
        for n, (doc_id, text) in enumerate(texts.items())
    ]
    chosen, problems = check_and_select(records, document_infos(documents), SCHEMA, priority=["gold"])
    assert problems == []
    whole = build_shard(documents, sentences, tokens, chosen, SCHEMA, RATIOS)
    batched = build_in_batches({"documents": documents, "sentences": sentences, "tokens": tokens}, chosen, SCHEMA, RATIOS, batch=2)
    assert set(batched.tables) == set(whole.tables)
    for name, table in whole.tables.items():
        assert batched.tables[name].equals(table), name
    assert batched.layers == whole.layers == {"gold": 5}


def test_a_record_whose_entity_crosses_a_paragraph_contributes_nothing():
    text = "Kim Jong\n\nUn sprach in Seoul."
    documents, sentences, tokens = interim({"d1": text})
    record = gold("d1", text, [ent("T1", text, "Kim Jong\n\nUn", "PER"), ent("T2", text, "Seoul", "GPE")])
    result = build_shard(documents, sentences, tokens, {"d1": record}, SCHEMA, RATIOS)
    assert [p.kind for p in result.problems] == ["entity-crosses-paragraph"]
    assert result.tables["entities"].num_rows == 0 and result.layers == {}
    assert set(result.tables["tokens"].column("ner_tag").to_pylist()) == {"O"}
