"""Agreement figures against values computed by hand on tiny layers (the arithmetic is in each test)."""

from __future__ import annotations

import pytest

from pipeline.core.agreement import AnnotatedDocument, measure
from pipeline.core.spans import AnnotationRecord, Entity, Relation

TEXT = "Anna trifft Bob in Rom."
TOKENS = ((0, 4), (5, 11), (12, 15), (16, 18), (19, 22), (22, 23))
ANNA, BOB, ROM = (0, 4, "PER"), (12, 15, "PER"), (19, 22, "GPE")


def record(layer: str, spans, relations=(), doc_id: str = "d1") -> AnnotationRecord:
    entities = tuple(Entity(f"T{i}", s, e, label, "gold") for i, (s, e, label) in enumerate(spans, start=1))
    rels = tuple(Relation(f"R{i}", f"T{h}", f"T{t}", label, "gold") for i, (h, t, label) in enumerate(relations, start=1))
    return AnnotationRecord(doc_id, "0" * 64, "gold", layer, entities, rels, f"{layer}.jsonl", 1)


def doc(*records: AnnotationRecord, doc_id: str = "d1") -> AnnotatedDocument:
    return AnnotatedDocument(doc_id, TEXT, TOKENS, {r.layer: r for r in records})


def only_pair(result):
    (pair,) = result.metrics["pairs"]
    return pair


def test_perfect_agreement_is_one_everywhere():
    spans, rels = [ANNA, BOB, ROM], [(1, 2, "meets")]
    result = measure([doc(record("a", spans, rels), record("b", spans, rels))], labels=["PER", "GPE"])
    pair = only_pair(result)
    assert pair["entities"]["exact"] | {} == {"p": 1.0, "r": 1.0, "f1": 1.0, "a": 3, "b": 3, "matches": 3}
    assert pair["entities"]["partial"] == {"p": 1.0, "r": 1.0, "f1": 1.0}
    assert list(pair["entities"]["per_label"]) == ["PER", "GPE"]
    assert pair["relations"]["f1"] == 1.0
    assert pair["tokens"]["cohen_kappa"] == 1.0
    overall = result.metrics["overall"]
    assert overall == overall | {
        "entities_exact_f1": 1.0,
        "entities_exact_f1_ci95": [1.0, 1.0],
        "fleiss_kappa": 1.0,
        "krippendorff_alpha": 1.0,
    }
    assert result.documents == [{"doc_id": "d1", "annotators": ["a", "b"], "mean_exact_f1": 1.0, "disagreements": 0}]


def test_total_disagreement():
    # tags a: B-PER O O O O O; b: O O B-ORG O O O (6 tokens)
    result = measure([doc(record("a", [ANNA]), record("b", [(12, 15, "ORG")]))])
    pair = only_pair(result)
    assert pair["entities"]["exact"]["f1"] == 0.0
    assert pair["entities"]["partial"] == {"p": 0.0, "r": 0.0, "f1": 0.0}
    # Cohen: po = 4/6, pe = (5/6)(5/6) = 25/36 → κ = (24/36 − 25/36) / (11/36) = −1/11
    assert pair["tokens"]["cohen_kappa"] == pytest.approx(-1 / 11, abs=1e-4)
    overall = result.metrics["overall"]
    # Fleiss: P̄ = 4/6; p = (1/12, 1/12, 10/12) → Pe = 102/144 → κ = (4/6 − 102/144) / (42/144) = −1/7
    assert overall["fleiss_kappa"] == pytest.approx(-1 / 7, abs=1e-4)
    # Krippendorff: o_OO = 8, four off-diagonal coincidences; n = 12, n_O = 10, n_B-PER = n_B-ORG = 1
    # Do = 4/12, De = 2·(10 + 10 + 1) / (12·11) = 42/132 → α = 1 − (1/3)/(42/132) = −1/21
    assert overall["krippendorff_alpha"] == pytest.approx(-1 / 21, abs=1e-4)
    assert result.documents[0]["disagreements"] == 2
    assert {"first": "PER", "second": "(none)"} in result.confusion
    assert {"first": "(none)", "second": "ORG"} in result.confusion


def test_one_label_swapped():
    result = measure([doc(record("a", [ANNA, BOB]), record("b", [ANNA, (12, 15, "ORG")]))], labels=["PER", "ORG"])
    pair = only_pair(result)
    assert pair["entities"]["exact"] | {} == {"p": 0.5, "r": 0.5, "f1": 0.5, "a": 2, "b": 2, "matches": 1}
    assert pair["entities"]["partial"]["f1"] == 0.5
    # PER: a has 2, b has 1, one match → P = 1, R = 1/2, F1 = 2/3; ORG: only b has it → 0
    assert pair["entities"]["per_label"]["PER"] == {"p": 1.0, "r": 0.5, "f1": 0.6667, "a": 2, "b": 1}
    assert pair["entities"]["per_label"]["ORG"]["f1"] == 0.0
    # po = 5/6; pe = (2/6)(1/6) + (4/6)(4/6) = 1/2 → κ = (5/6 − 1/2) / (1/2) = 2/3
    assert pair["tokens"]["cohen_kappa"] == pytest.approx(2 / 3, abs=1e-4)
    assert result.documents[0] == {"doc_id": "d1", "annotators": ["a", "b"], "mean_exact_f1": 0.5, "disagreements": 2}
    overall = result.metrics["overall"]
    # Fleiss: P̄ = 5/6; p = (B-PER 3/12, B-ORG 1/12, O 8/12) → Pe = 74/144 → κ = (120 − 74) / (144 − 74) = 46/70
    assert overall["fleiss_kappa"] == pytest.approx(46 / 70, abs=1e-4)
    # Krippendorff: Do = 2/12; n = (O 8, B-PER 3, B-ORG 1), De = 2·(24 + 8 + 3) / 132 → α = 1 − 22/70 = 48/70
    assert overall["krippendorff_alpha"] == pytest.approx(48 / 70, abs=1e-4)
    assert result.confusion.count({"first": "PER", "second": "ORG"}) == 1
    assert result.confusion.count({"first": "ORG", "second": "PER"}) == 1
    assert result.confusion.count({"first": "PER", "second": "PER"}) == 2


def test_a_span_shifted_by_one_character_matches_only_partially():
    result = measure([doc(record("a", [ANNA]), record("b", [(0, 3, "PER")]))])
    pair = only_pair(result)
    assert pair["entities"]["exact"]["f1"] == 0.0
    assert pair["entities"]["partial"] == {"p": 1.0, "r": 1.0, "f1": 1.0}
    # tokens cut at 3: Ann|a|trifft|Bob|in|Rom|. ; a: B I O O O O O, b: B O O O O O O
    # po = 6/7; pe = (1/7)(1/7) + (5/7)(6/7) = 31/49 → κ = (42/49 − 31/49) / (18/49) = 11/18
    assert pair["tokens"]["cohen_kappa"] == pytest.approx(11 / 18, abs=1e-4)
    assert pair["tokens"]["count"] == 7
    overall = result.metrics["overall"]
    # Fleiss: P̄ = 6/7; p = (B 2/14, I 1/14, O 11/14) → Pe = 126/196 → κ = (168 − 126) / (196 − 126) = 42/70
    assert overall["fleiss_kappa"] == pytest.approx(42 / 70, abs=1e-4)
    # Krippendorff: Do = 2/14; n = (B 2, I 1, O 11), De = 2·(2 + 22 + 11) / 182 → α = 1 − 26/70 = 44/70
    assert overall["krippendorff_alpha"] == pytest.approx(44 / 70, abs=1e-4)


def test_a_missing_relation():
    result = measure([doc(record("a", [ANNA, BOB], [(1, 2, "meets")]), record("b", [ANNA, BOB]))])
    pair = only_pair(result)
    assert pair["entities"]["exact"]["f1"] == 1.0
    assert pair["relations"] | {} == {"p": 0.0, "r": 0.0, "f1": 0.0, "a": 1, "b": 0, "matches": 0}
    assert result.documents[0]["disagreements"] == 1


def test_a_symmetric_relation_matches_in_either_order():
    a = record("a", [ANNA, BOB], [(1, 2, "meets")])
    b = record("b", [ANNA, BOB], [(2, 1, "meets")])
    assert only_pair(measure([doc(a, b)], symmetric=frozenset({"meets"})))["relations"]["f1"] == 1.0
    assert only_pair(measure([doc(a, b)]))["relations"]["f1"] == 0.0


def test_documents_with_one_annotator_are_left_out():
    result = measure([doc(record("a", [ANNA]))])
    assert result.metrics["documents"] == 0
    assert result.metrics["pairs"] == []
    assert result.metrics["overall"]["entities_exact_f1"] is None
    assert result.metrics["overall"]["entities_exact_f1_ci95"] is None


def test_the_bootstrap_interval_is_over_documents_and_seeded():
    # d1 perfect (F1 1), d2 total disagreement (F1 0): micro F1 = 2·1 / (2 + 2) = 0.5; resampled means
    # are 0, 0.5 or 1 (p = 1/4, 1/2, 1/4), so the 2.5 and 97.5 percentiles are 0 and 1
    docs = [
        doc(record("a", [ANNA], doc_id="d1"), record("b", [ANNA], doc_id="d1"), doc_id="d1"),
        doc(record("a", [ANNA], doc_id="d2"), record("b", [BOB], doc_id="d2"), doc_id="d2"),
    ]
    first = measure(docs, seed=7)
    assert first.metrics["overall"]["entities_exact_f1"] == 0.5
    assert first.metrics["overall"]["entities_exact_f1_ci95"] == [0.0, 1.0]
    assert measure(docs, seed=7).metrics == first.metrics
    assert [d["doc_id"] for d in first.documents] == ["d2", "d1"]  # worst first


def test_fleiss_uses_the_documents_every_annotator_annotated():
    d1 = doc(record("a", [ANNA]), record("b", [ANNA]), record("c", [ANNA]))
    d2 = doc(record("a", [BOB], doc_id="d2"), record("b", [BOB], doc_id="d2"), doc_id="d2")
    result = measure([d1, d2])
    overall = result.metrics["overall"]
    assert overall["fleiss_documents"] == 1
    assert overall["fleiss_kappa"] == 1.0
    assert overall["krippendorff_alpha"] == 1.0  # c's missing d2 is a missing value, not a disagreement
    assert [(p["a"], p["b"], p["documents"]) for p in result.metrics["pairs"]] == [("a", "b", 2), ("a", "c", 1), ("b", "c", 1)]


def test_one_annotator_in_two_projects_is_one_annotator():
    from pipeline.core.agreement import annotator_of, group_documents
    from pipeline.core.checks import DocumentInfo
    from pipeline.core.labels import LabelSchema

    schema = LabelSchema("1", "none", ("PER", "GPE"), (), {}, "labels.yaml")
    assert annotator_of("annotators/anna/german-news") == "annotators/anna"
    assert annotator_of("annotators/anna") == "annotators/anna"
    assert annotator_of("gold") == "gold"
    records = [
        record("annotators/anna/p2", [ROM]),
        record("annotators/anna/p1", [ANNA]),
        record("annotators/ben/p1", [ANNA]),
    ]
    documents = {"d1": DocumentInfo("d1", TEXT, "0" * 64, "seed", None)}
    grouped, problems = group_documents(records, documents, {"d1": TOKENS}, schema)
    (document,) = grouped
    assert sorted(document.records) == ["annotators/anna", "annotators/ben"]
    assert document.records["annotators/anna"].layer == "annotators/anna/p1"
    (warning,) = [p for p in problems if p.kind == "annotator-in-two-layers"]
    assert "annotators/anna/p1" in warning.message and warning.severity.value == "warning"
