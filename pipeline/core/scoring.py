"""Scoring proposals: P/R/F1 per label and micro-averaged, leave-one-document-out on the gold
layer, and the score on a third-party corpus through a label map."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pipeline.core.proposals import Proposer, gazetteer
from pipeline.core.spans import AnnotationRecord


def prf(tp: int, fp: int, fn: int) -> dict[str, Any]:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"tp": tp, "fp": fp, "fn": fn, "precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4)}


def score(pairs: Iterable[tuple[set[tuple[Any, ...]], set[tuple[Any, ...]]]], labels: Sequence[str]) -> dict[str, Any]:
    """P/R/F1 per label and micro-averaged, from (gold, predicted) sets of tuples whose last item is the label."""
    counts = {label: [0, 0, 0] for label in labels}
    for gold, predicted in pairs:
        for item in predicted:
            counts.setdefault(item[-1], [0, 0, 0])[0 if item in gold else 1] += 1
        for item in gold - predicted:
            counts.setdefault(item[-1], [0, 0, 0])[2] += 1
    per_label = {
        label: prf(*counts[label])
        for label in sorted(counts, key=lambda name: (labels.index(name) if name in labels else len(labels), name))
    }
    total = [sum(c[i] for c in counts.values()) for i in range(3)]
    return {"per_label": per_label, "micro": prf(*total)}


def leave_one_document_out(
    gold: Sequence[AnnotationRecord], texts: Mapping[str, str], hand: Sequence[Mapping[str, Any]], schema: Any, language: str = "de"
) -> dict[str, Any]:
    """Each gold document annotated by a ruler built from the other gold documents plus the hand patterns."""
    entity_pairs, relation_pairs = [], []
    for record in gold:
        text = texts[record.doc_id]
        others = [r for r in gold if r.doc_id != record.doc_id]
        proposer = Proposer(list(gazetteer(others, texts, schema.entity_types)) + list(hand), schema, language)
        spans, relations = proposer.propose(text)
        entity_pairs.append(({(e.start, e.end, e.label) for e in record.entities}, set(spans)))
        by_id = {e.id: e for e in record.entities}
        gold_relations = {
            (by_id[r.head].start, by_id[r.head].end, by_id[r.tail].start, by_id[r.tail].end, r.label)
            for r in record.relations
            if r.head in by_id and r.tail in by_id
        }
        predicted = {(spans[h][0], spans[h][1], spans[t][0], spans[t][1], label) for h, t, label in relations}
        relation_pairs.append((gold_relations, predicted))
    result: dict[str, Any] = {
        "documents": len(gold),
        "entities": score(entity_pairs, list(schema.entity_types)),
        "relations": score(relation_pairs, list(schema.relation_names)),
    }
    if len(gold) < 2:
        result["note"] = (
            f"degenerate: {len(gold)} gold document(s), so the gazetteer built from the other documents is empty and these "
            "figures measure the hand-written patterns alone (whose authors know the seed text: optimistic); see external"
        )
    return result


@dataclass(frozen=True)
class Sentence:
    """One sentence of a third-party corpus as it is scored (offsets into ``text``, their labels)."""

    text: str
    entities: frozenset[tuple[int, int, str]]  # outer level, labels the mapping maps to ours (PER, ORG, LOC, OTH)
    ignored: tuple[tuple[int, int], ...]  # spans of either level mapped to null (part/deriv): predictions there are not counted
    inner: frozenset[tuple[int, int, str]]  # inner-level entities: an exact prediction of one is not counted


def evaluate_external(proposer: Proposer, sentences: Sequence[Sentence], label_map: Mapping[str, str | None]) -> dict[str, Any]:
    """P/R/F1 on a third-party corpus: our labels mapped into theirs, unmapped labels not counted."""
    predicted_all = proposer.entities([s.text for s in sentences])
    pairs = []
    for sentence, predicted in zip(sentences, predicted_all, strict=True):
        mapped = set()
        for start, end, label in predicted:
            theirs = label_map.get(label)
            if not theirs:
                continue
            if (start, end, theirs) in sentence.inner and (start, end, theirs) not in sentence.entities:
                continue
            if any(start < e and s < end for s, e in sentence.ignored):
                continue
            mapped.add((start, end, theirs))
        pairs.append((set(sentence.entities), mapped))
    labels = sorted({v for v in label_map.values() if v})
    result = score(pairs, labels)
    scored = set(labels)
    missing = sorted({e[2] for s in sentences for e in s.entities} - scored)
    result["unscored_gold_labels"] = missing
    return result
