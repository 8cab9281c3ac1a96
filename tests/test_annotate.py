from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.stages.annotate import (
    DocumentInfo,
    assign_split,
    bio_tags,
    check_ratios,
    check_record,
    hyphen_aware_cuts,
    merge_sentences,
    relation_candidates,
    select_records,
    split_tokens,
)
from pipeline.core.problems import Severity
from pipeline.core.spans import Entity, Relation, record_from_json
from pipeline.core.text import text_sha256
from pipeline.io.schemas import load_label_schema

REPO = Path(__file__).resolve().parent.parent
SCHEMA = load_label_schema(REPO / "schemas" / "labels.yaml")
TEXT = "US-Präsident Donald Trump trifft Kim Jong Un in Panmunjom."
DOC = DocumentInfo("d1", TEXT, text_sha256(TEXT), "seeds/d1.txt", None)


def span(text: str, occurrence: int = 0) -> tuple[int, int]:
    start = -1
    for _ in range(occurrence + 1):
        start = TEXT.index(text, start + 1)
    return start, start + len(text)


def record(entities, relations=(), **overrides):
    data = {"doc_id": "d1", "text_sha256": text_sha256(TEXT), "source": "gold", "entities": list(entities), "relations": list(relations)}
    data.update(overrides)
    return record_from_json(data, layer="gold", path="corpus/annotations/gold/x.jsonl", line=7)


def ent(id_, surface, label, **extra):
    start, end = span(surface)
    return {"id": id_, "start": start, "end": end, "label": label, **extra}


def kinds(rec, whitespace=Severity.ERROR):
    return [p.kind for p in check_record(rec, DOC, SCHEMA, whitespace)]


def test_a_correct_record_has_no_problems():
    rec = record(
        [ent("T1", "US", "GPE"), ent("T2", "Donald Trump", "PER", text="Donald Trump"), ent("T3", "Kim Jong Un", "PER"), ent("T4", "Panmunjom", "LOC")],
        [{"id": "R1", "head": "T2", "tail": "T1", "label": "head_of"}, {"id": "R2", "head": "T3", "tail": "T2", "label": "meets"}],
    )
    assert check_record(rec, DOC, SCHEMA, Severity.ERROR) == []


@pytest.mark.parametrize(
    ("entities", "relations", "expected"),
    [
        ([{"id": "T1", "start": 0, "end": 99, "label": "GPE"}], [], ["offset-out-of-range"]),
        ([{"id": "T1", "start": 5, "end": 5, "label": "GPE"}], [], ["empty-span"]),
        ([ent("T1", "US", "COUNTRY")], [], ["unknown-label"]),
        ([ent("T1", "US", "GPE", text="USA")], [], ["span-text-mismatch"]),
        ([ent("T1", "US", "GPE"), ent("T1", "Kim Jong Un", "PER")], [], ["duplicate-entity-id"]),
        ([ent("T1", "Donald Trump", "PER"), ent("T2", "Trump", "PER")], [], ["overlapping-spans"]),
        ([{"id": "T1", "start": 12, "end": 19, "label": "PER"}], [], ["whitespace-span"]),
        ([ent("T1", "US", "GPE")], [{"id": "R1", "head": "T9", "tail": "T1", "label": "head_of"}], ["missing-argument"]),
        ([ent("T1", "US", "GPE"), ent("T2", "Donald Trump", "PER")], [{"id": "R1", "head": "T1", "tail": "T2", "label": "head_of"}], ["relation-type-violation"]),
        ([ent("T1", "US", "GPE"), ent("T2", "Donald Trump", "PER")], [{"id": "R1", "head": "T2", "tail": "T1", "label": "allied_with"}], ["unknown-relation-label"]),
        ([ent("T2", "Donald Trump", "PER")], [{"id": "R1", "head": "T2", "tail": "T2", "label": "meets"}], ["self-relation"]),
        (
            [ent("T2", "Donald Trump", "PER"), ent("T3", "Kim Jong Un", "PER")],
            [{"id": "R1", "head": "T2", "tail": "T3", "label": "meets"}, {"id": "R2", "head": "T3", "tail": "T2", "label": "meets"}],
            ["symmetric-duplicate"],
        ),
        (
            [ent("T1", "US", "GPE"), ent("T2", "Donald Trump", "PER")],
            [{"id": "R1", "head": "T2", "tail": "T1", "label": "head_of"}, {"id": "R1", "head": "T2", "tail": "T1", "label": "works_for"}],
            ["duplicate-relation-id"],
        ),
        (
            [ent("T1", "US", "GPE"), ent("T2", "Donald Trump", "PER")],
            [{"id": "R1", "head": "T2", "tail": "T1", "label": "head_of"}, {"id": "R2", "head": "T2", "tail": "T1", "label": "head_of"}],
            ["duplicate-relation"],
        ),
    ],
)
def test_each_semantic_problem_is_found(entities, relations, expected):
    assert kinds(record(entities, relations)) == expected


def test_hash_mismatch_is_reported_and_nothing_else_is_checked():
    rec = record([{"id": "T1", "start": 0, "end": 999, "label": "NOPE"}], text_sha256="0" * 64)
    (problem,) = check_record(rec, DOC, SCHEMA, Severity.ERROR)
    assert problem.kind == "hash-mismatch"
    assert "re-anchor the record" in problem.message
    assert problem.format().startswith("corpus/annotations/gold/x.jsonl:7: d1: hash-mismatch: text_sha256 000000000000")


def test_unknown_document_is_reported():
    (problem,) = check_record(record([]), None, SCHEMA, Severity.ERROR)
    assert problem.kind == "unknown-document"


def test_whitespace_spans_can_be_downgraded_to_warnings():
    rec = record([{"id": "T1", "start": 12, "end": 19, "label": "PER"}])
    (problem,) = check_record(rec, DOC, SCHEMA, Severity.WARNING)
    assert problem.severity is Severity.WARNING


def test_tokens_are_split_at_annotated_boundaries_and_hyphens():
    cuts = hyphen_aware_cuts(TEXT, [0, 2])
    assert split_tokens([(0, 12), (13, 19)], cuts) == [(0, 2), (2, 3), (3, 12), (13, 19)]
    assert [TEXT[s:e] for s, e in split_tokens([(0, 12)], cuts)] == ["US", "-", "Präsident"]


def test_bio_tags_follow_entities_and_outermost_wins():
    tokens = [(0, 2), (2, 3), (3, 12), (13, 19), (20, 25)]
    entities = [Entity("a", 13, 25, "PER", "gold"), Entity("b", 0, 2, "GPE", "gold"), Entity("c", 20, 25, "PER", "gold")]
    assert bio_tags(tokens, entities) == ["B-GPE", "O", "O", "B-PER", "I-PER"]


def test_sentences_crossed_by_an_entity_are_joined():
    sentences = [
        {"doc_id": "d", "sent_idx": 0, "start": 0, "end": 5, "paragraph_idx": 0},
        {"doc_id": "d", "sent_idx": 1, "start": 6, "end": 10, "paragraph_idx": 0},
        {"doc_id": "d", "sent_idx": 2, "start": 12, "end": 20, "paragraph_idx": 1},
    ]
    tokens = [(0, 5, 0), (6, 10, 1), (12, 20, 2)]
    merged, token_sentences, crossing = merge_sentences(sentences, tokens, [Entity("e", 0, 10, "ORG", "gold")])
    assert [(s["start"], s["end"], s["sent_idx"]) for s in merged] == [(0, 10, 0), (12, 20, 1)]
    assert token_sentences == [0, 0, 1]
    assert crossing == []
    _, _, crossing = merge_sentences(sentences, tokens, [Entity("x", 6, 20, "ORG", "gold")])
    assert [e.id for e in crossing] == ["x"]


def test_split_is_stable_and_follows_ratios():
    ratios = {"train": 0.8, "dev": 0.1, "test": 0.1}
    splits = [assign_split(f"doc-{i}", ratios) for i in range(2000)]
    assert splits == [assign_split(f"doc-{i}", ratios) for i in range(2000)]
    share = splits.count("train") / len(splits)
    assert 0.75 < share < 0.85
    assert set(splits) == {"train", "dev", "test"}


def test_bad_split_ratios_are_rejected():
    with pytest.raises(ValueError, match="must sum to 1"):
        check_ratios({"train": 0.8, "test": 0.1})


def test_layer_priority_picks_one_record_per_document():
    gold = record([ent("T1", "US", "GPE")])
    other = record_from_json(
        {"doc_id": "d1", "text_sha256": text_sha256(TEXT), "source": "annotator:alice", "entities": []},
        layer="annotators/alice", path="corpus/annotations/annotators/alice/a.jsonl", line=1,
    )
    chosen, problems = select_records([other, gold], ["gold", "*"])
    assert chosen["d1"] is gold and problems == []
    chosen, _ = select_records([other, gold], ["annotators/*", "gold"])
    assert chosen["d1"] is other
    _, problems = select_records([gold, gold], ["gold"])
    assert [p.kind for p in problems] == ["duplicate-record"]


def test_relation_candidates_label_gold_pairs_and_propose_negatives():
    entities = [Entity("T1", *span("US"), "GPE", "gold"), Entity("T2", *span("Donald Trump"), "PER", "gold"), Entity("T3", *span("Kim Jong Un"), "PER", "gold")]
    relations = [Relation("R1", "T2", "T1", "head_of", "gold")]
    sentences = [{"start": 0, "end": len(TEXT), "sent_idx": 0}]
    rows = relation_candidates("d1", TEXT, "train", sentences, entities, relations, SCHEMA)
    labelled = {(r["head"]["id"], r["tail"]["id"]): r["label"] for r in rows}
    assert labelled[("T2", "T1")] == "head_of"
    assert labelled[("T2", "T3")] == "no_relation"
    assert ("T3", "T2") not in labelled  # meets is symmetric: one candidate per pair
    assert ("T3", "T1") in labelled
    row = next(r for r in rows if r["rel_id"] == "R1")
    assert row["text"][row["head"]["start"] : row["head"]["end"]] == "Donald Trump"


def test_building_in_batches_gives_the_tables_of_one_build():
    from pipeline.stages.annotate import build_in_batches, build_shard, check_and_select, document_infos
    from pipeline.stages.ingest import SourcedDocument, segment_documents
    from pipeline.core.spans import Document

    texts = {f"d{n}": f"{TEXT} Moon Jae In sprach in Seoul, Nummer {n}." for n in range(5)}
    sourced = [SourcedDocument(Document(doc_id, text, source="t"), "seeds/t.jsonl", n + 1, text_sha256(text)) for n, (doc_id, text) in enumerate(texts.items())]
    documents, sentences, tokens = segment_documents(sourced, "de")
    records = [
        record_from_json(
            {"doc_id": doc_id, "text_sha256": text_sha256(text), "source": "gold", "entities": [ent("T1", "Donald Trump", "PER"), ent("T2", "Kim Jong Un", "PER")], "relations": [{"id": "R1", "head": "T1", "tail": "T2", "label": "meets"}]},
            layer="gold", path="x.jsonl", line=n + 1,
        )
        for n, (doc_id, text) in enumerate(texts.items())
    ]
    chosen, problems = check_and_select(records, document_infos(documents), SCHEMA, priority=["gold"])
    assert problems == []
    ratios = {"train": 0.5, "dev": 0.25, "test": 0.25}
    whole = build_shard(documents, sentences, tokens, chosen, SCHEMA, ratios)
    batched = build_in_batches({"documents": documents, "sentences": sentences, "tokens": tokens}, chosen, SCHEMA, ratios, batch=2)
    assert set(batched.tables) == set(whole.tables)
    for name, table in whole.tables.items():
        assert batched.tables[name].equals(table), name
    assert batched.layers == whole.layers == {"gold": 5}
