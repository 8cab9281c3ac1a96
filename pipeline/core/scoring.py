"""Scoring proposals: P/R/F1 per label and micro-averaged, leave-one-document-out on the gold
layer, and the score on a third-party corpus through a label map."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pipeline.core.proposals import GazetteerProposer, Proposer, gazetteer_counts
from pipeline.core.spans import AnnotationRecord


def prf(tp: int, fp: int, fn: int) -> dict[str, Any]:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"tp": tp, "fp": fp, "fn": fn, "precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4)}


def tally(
    pairs: Iterable[tuple[set[tuple[Any, ...]], set[tuple[Any, ...]]]], counts: dict[str, list[int]] | None = None
) -> dict[str, list[int]]:
    """Label → [tp, fp, fn] from (gold, predicted) sets of tuples whose last item is the label,
    added to ``counts`` when given (so shards can be tallied apart and summed)."""
    counts = {} if counts is None else counts
    for gold, predicted in pairs:
        for item in predicted:
            counts.setdefault(item[-1], [0, 0, 0])[0 if item in gold else 1] += 1
        for item in gold - predicted:
            counts.setdefault(item[-1], [0, 0, 0])[2] += 1
    return counts


def add_tallies(total: dict[str, list[int]], part: Mapping[str, Sequence[int]]) -> dict[str, list[int]]:
    """``total`` plus ``part`` (label → [tp, fp, fn]), in place."""
    for label, values in part.items():
        into = total.setdefault(label, [0, 0, 0])
        for index in range(3):
            into[index] += values[index]
    return total


def summarise(tallied: Mapping[str, Sequence[int]], labels: Sequence[str]) -> dict[str, Any]:
    """P/R/F1 per label (``labels`` first, in their order; every label counted) and micro-averaged."""
    counts = {label: [0, 0, 0] for label in labels}
    add_tallies(counts, tallied)
    per_label = {
        label: prf(*counts[label])
        for label in sorted(counts, key=lambda name: (labels.index(name) if name in labels else len(labels), name))
    }
    total = [sum(c[i] for c in counts.values()) for i in range(3)]
    return {"per_label": per_label, "micro": prf(*total)}


def score(pairs: Iterable[tuple[set[tuple[Any, ...]], set[tuple[Any, ...]]]], labels: Sequence[str]) -> dict[str, Any]:
    """P/R/F1 per label and micro-averaged, from (gold, predicted) sets of tuples whose last item is the label."""
    return summarise(tally(pairs), labels)


def leave_one_out_tally(
    proposer: GazetteerProposer,
    records: Sequence[AnnotationRecord],
    text: str,
    doc: Any,
    entities: dict[str, list[int]],
    relations: dict[str, list[int]],
    token_matches: Sequence[tuple[int, int, int]] | None = None,
) -> None:
    """Add to ``entities``/``relations`` (label → [tp, fp, fn]) what the ruler built from every
    gold document but this one proposes for it, scored against each of its gold ``records``.

    ``proposer`` holds the gazetteer of all gold documents; this document's own counts are taken
    out of it (:meth:`GazetteerProposer.propose_without`), which is the ruler of the others.
    """
    spans, proposed = proposer.propose_without(doc, gazetteer_counts(records, {records[0].doc_id: text}), token_matches)
    predicted = {(spans[h][0], spans[h][1], spans[t][0], spans[t][1], label) for h, t, label in proposed}
    for record in records:
        tally([({(e.start, e.end, e.label) for e in record.entities}, set(spans))], entities)
        by_id = {e.id: e for e in record.entities}
        gold_relations = {
            (by_id[r.head].start, by_id[r.head].end, by_id[r.tail].start, by_id[r.tail].end, r.label)
            for r in record.relations
            if r.head in by_id and r.tail in by_id
        }
        tally([(gold_relations, predicted)], relations)


def leave_one_out_result(
    documents: int, entities: Mapping[str, Sequence[int]], relations: Mapping[str, Sequence[int]], schema: Any
) -> dict[str, Any]:
    """The ``gold_leave_one_document_out`` metrics from the summed tallies of ``documents`` gold records."""
    result: dict[str, Any] = {
        "documents": documents,
        "entities": summarise(entities, list(schema.entity_types)),
        "relations": summarise(relations, list(schema.relation_names)),
    }
    if documents < 2:
        result["note"] = (
            f"degenerate: {documents} gold document(s), so the gazetteer built from the other documents is empty and these "
            "figures measure the hand-written patterns alone (whose authors know the seed text: optimistic); see external"
        )
    return result


def leave_one_document_out(
    gold: Sequence[AnnotationRecord], texts: Mapping[str, str], hand: Sequence[Mapping[str, Any]], schema: Any, language: str = "de"
) -> dict[str, Any]:
    """Each gold document annotated by a ruler built from the other gold documents plus the hand patterns."""
    proposer = GazetteerProposer(hand, gazetteer_counts(gold, texts), schema, language)
    by_doc: dict[str, list[AnnotationRecord]] = {}
    for record in gold:
        by_doc.setdefault(record.doc_id, []).append(record)
    entities: dict[str, list[int]] = {}
    relations: dict[str, list[int]] = {}
    for doc_id, records in by_doc.items():
        leave_one_out_tally(proposer, records, texts[doc_id], proposer.nlp.make_doc(texts[doc_id]), entities, relations)
    return leave_one_out_result(len(gold), entities, relations, schema)


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
