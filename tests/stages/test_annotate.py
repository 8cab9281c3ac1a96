"""The annotate stage's build: interim tables + chosen records → publishable tables."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from stage_helpers import corpus, for_stage, params_for

from pipeline.core.selection import check_and_select
from pipeline.core.spans import Document, record_from_json
from pipeline.core.text import text_sha256
from pipeline.io import tables
from pipeline.io.schemas import load_label_schema
from pipeline.runtime.shards import shard_of
from pipeline.stages import annotate, ingest
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
    sourced = [
        SourcedDocument(Document(doc_id, text, source="t"), "seeds/t.jsonl", n + 1, text_sha256(text))
        for n, (doc_id, text) in enumerate(texts.items())
    ]
    return segment_documents(sourced, "de")


def gold(doc_id: str, text: str, entities, relations=(), line: int = 1):
    data = {"doc_id": doc_id, "text_sha256": text_sha256(text), "source": "gold", "entities": list(entities), "relations": list(relations)}
    return record_from_json(data, layer="gold", path="x.jsonl", line=line)


def test_building_in_batches_gives_the_tables_of_one_build(tmp_path: Path):
    texts = {f"d{n}": f"{TEXT} Moon Jae In sprach in Seoul, Nummer {n}." for n in range(5)}
    documents, sentences, tokens = interim(texts)
    records = [
        gold(
            doc_id,
            text,
            [ent("T1", text, "Donald Trump", "PER"), ent("T2", text, "Kim Jong Un", "PER")],
            [{"id": "R1", "head": "T1", "tail": "T2", "label": "meets"}],
            n + 1,
        )
        for n, (doc_id, text) in enumerate(texts.items())
    ]
    chosen, problems = check_and_select(records, document_infos(documents), SCHEMA, priority=["gold"])
    assert problems == []
    whole = build_shard(documents, sentences, tokens, chosen, SCHEMA, RATIOS)
    batched = build_in_batches({"documents": documents, "sentences": sentences, "tokens": tokens}, chosen, SCHEMA, RATIOS, batch=2)
    assert set(batched.tables) == set(whole.tables)
    for name, table in whole.tables.items():
        assert batched.tables[name].equals(table), name
        # and the same bytes written, though the batches' rows come in several chunks
        tables.write_parquet(table, tmp_path / f"{name}-whole.parquet")
        tables.write_parquet(batched.tables[name], tmp_path / f"{name}-batched.parquet")
        assert (tmp_path / f"{name}-whole.parquet").read_bytes() == (tmp_path / f"{name}-batched.parquet").read_bytes(), name
    assert batched.layer_of == whole.layer_of and sorted(whole.layer_of.values()) == ["gold"] * 5


def test_building_in_batches_refuses_interim_tables_out_of_doc_id_order():
    texts = {f"d{n}": f"{TEXT} Nummer {n}." for n in range(3)}
    documents, sentences, tokens = interim(texts)
    shuffled = tokens.take([*range(tokens.num_rows // 2, tokens.num_rows), *range(tokens.num_rows // 2)])
    with pytest.raises(ValueError, match="interim tokens table is not in doc_id order"):
        build_in_batches({"documents": documents, "sentences": sentences, "tokens": shuffled}, {}, SCHEMA, RATIOS, batch=2)


def test_a_record_whose_entity_crosses_a_paragraph_contributes_nothing():
    text = "Kim Jong\n\nUn sprach in Seoul."
    documents, sentences, tokens = interim({"d1": text})
    record = gold("d1", text, [ent("T1", text, "Kim Jong\n\nUn", "PER"), ent("T2", text, "Seoul", "GPE")])
    result = build_shard(documents, sentences, tokens, {"d1": record}, SCHEMA, RATIOS)
    assert [p.kind for p in result.problems] == ["entity-crosses-paragraph"]
    assert result.tables["entities"].num_rows == 0 and result.layer_of == {}
    assert set(result.tables["tokens"].column("ner_tag").to_pylist()) == {"O"}


def test_records_are_checked_in_the_shard_of_their_document_wherever_that_is(tmp_path: Path):
    """A record for a document that was never ingested is reported both when its shard holds
    other documents (checked by a worker) and when it holds none (checked by the main process),
    and a relation into another document names that document even across shards."""
    root = tmp_path / "r"
    corpus(root, 3)
    params = params_for(root, tmp_path / "cache", 2, shards=8)
    used = {shard_of(f"doc-{n:03d}", 8) for n in range(3)}
    in_used = next(f"ghost-{n}" for n in range(100) if shard_of(f"ghost-{n}", 8) in used)
    in_empty = next(f"ghost-{n}" for n in range(100) if shard_of(f"ghost-{n}", 8) not in used)
    layer = root / "annotations" / "gold" / "g.jsonl"
    records = [json.loads(line) for line in layer.read_text().splitlines()]
    away = next(n for n in (1, 2) if shard_of(f"doc-{n:03d}", 8) != shard_of("doc-000", 8))
    records[away]["entities"][0]["id"] = "T9"
    records[0]["relations"] = [{"id": "R1", "head": "T1", "tail": "T9", "label": "meets"}]
    ghosts = [{**records[1], "doc_id": ghost} for ghost in (in_used, in_empty)]
    layer.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records + ghosts))
    assert ingest.run(for_stage(params, "ingest")) == []
    problems = annotate.run(for_stage(params, "annotate"))
    assert [(p.line, p.doc_id, p.kind) for p in problems] == [
        (1, "doc-000", "missing-argument"),
        (4, in_used, "unknown-document"),
        (5, in_empty, "unknown-document"),
    ]
    assert f"belongs to document(s) doc-{away:03d}" in problems[0].message
