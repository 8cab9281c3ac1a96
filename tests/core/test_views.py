"""The training views: relation candidates (``re``) and sentences of tagged tokens (``ner``)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from pipeline.core.spans import Entity, Relation
from pipeline.core.views import ner_view, relation_candidates
from pipeline.io import tables
from pipeline.io.schemas import load_label_schema

REPO = Path(__file__).resolve().parents[2]
SCHEMA = load_label_schema(REPO / "schemas" / "labels.yaml")
TEXT = "US-Präsident Donald Trump trifft Kim Jong Un in Panmunjom."


def span(text: str) -> tuple[int, int]:
    start = TEXT.index(text)
    return start, start + len(text)


def test_relation_candidates_label_gold_pairs_and_propose_negatives():
    entities = [
        Entity("T1", *span("US"), "GPE", "gold"),
        Entity("T2", *span("Donald Trump"), "PER", "gold"),
        Entity("T3", *span("Kim Jong Un"), "PER", "gold"),
    ]
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


def test_entities_of_different_sentences_are_no_candidates():
    entities = [Entity("T1", *span("Donald Trump"), "PER", "gold"), Entity("T2", *span("Kim Jong Un"), "PER", "gold")]
    sentences = [{"start": 0, "end": 26, "sent_idx": 0}, {"start": 26, "end": len(TEXT), "sent_idx": 1}]
    assert relation_candidates("d1", TEXT, "train", sentences, entities, [], SCHEMA) == []


def token_table(rows: list[tuple[str, int, int, str]]) -> pa.Table:
    """Tokens ``(doc_id, sent_idx, tok_idx, tag)``, each token one character long."""
    return pa.Table.from_pylist(
        [{"doc_id": d, "sent_idx": s, "tok_idx": t, "start": t, "end": t + 1, "text": f"w{t}", "ner_tag": tag} for d, s, t, tag in rows],
        schema=tables.TOKENS,
    )


def test_ner_view_has_one_row_per_sentence_with_class_label_ids():
    tokens = token_table([("a", 0, 0, "B-PER"), ("a", 0, 1, "I-PER"), ("a", 1, 2, "O"), ("b", 0, 0, "B-GPE")])
    view = ner_view(tokens, {"a": "train", "b": "test"}, SCHEMA, tables.NER)
    assert view.schema == tables.NER
    rows = view.to_pylist()
    assert [(r["id"], r["tokens"], r["ner_labels"], r["split"]) for r in rows] == [
        ("a:0", ["w0", "w1"], ["B-PER", "I-PER"], "train"),
        ("a:1", ["w2"], ["O"], "train"),
        ("b:0", ["w0"], ["B-GPE"], "test"),
    ]
    assert rows[0]["ner_tags"] == [SCHEMA.bio_labels.index("B-PER"), SCHEMA.bio_labels.index("I-PER")]


def test_ner_view_refuses_a_tag_outside_the_label_schema():
    with pytest.raises(ValueError, match=r"BIO tag\(s\) \['B-COUNTRY'\] not derived from the label schema"):
        ner_view(token_table([("a", 0, 0, "B-COUNTRY")]), {"a": "train"}, SCHEMA, tables.NER)


def test_ner_view_of_no_tokens_is_empty():
    assert ner_view(token_table([]), {}, SCHEMA, tables.NER).num_rows == 0
