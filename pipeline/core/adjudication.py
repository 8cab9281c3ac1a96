"""Adjudication: what enough annotators agree on is accepted, everything else is a conflict for a curator.

Per document annotated by at least ``min_agree`` annotator layers (:class:`~pipeline.core.agreement.AnnotatedDocument`):

* an entity ``(start, end, label)`` that at least ``min_agree`` layers drew exactly is **accepted**,
  with ``agreed_by`` (those layers) as provenance; so is a relation (label and both arguments exact,
  a symmetric relation's arguments in either order) — its arguments are then accepted too;
* accepted entities that overlap each other where the label schema's ``overlap`` does not allow it
  (crossing spans under ``nested``, any overlap under ``none``: two groups of annotators agreeing on
  different readings) are not accepted: that is a conflict, not a decision;
* everything else is a **conflict**: overlapping entity candidates grouped into one conflict
  (each candidate with its label, text and annotators, accepted ones shown for context), and
  relation candidates grouped by their pair of arguments; ``without`` names the annotators of the
  document who drew none of the candidates. Who said what, so that a curator can decide.

Documents fewer than ``min_agree`` layers annotate get no adjudicated record (their annotator
record still competes in ``annotate.layer_priority``).

Pure: touches no files.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pipeline.core.agreement import AnnotatedDocument, RelationKey, SpanKey, entity_keys, relation_keys
from pipeline.core.checks import overlap_allowed
from pipeline.core.spans import AnnotationRecord, Entity, Relation, overlapping_pairs


@dataclass(frozen=True)
class Adjudication:
    """The adjudicated records (one per document) and the conflicts (``conflicts.jsonl`` lines)."""

    records: list[AnnotationRecord]
    conflicts: list[dict[str, Any]]


def _span(key: SpanKey, text: str) -> dict[str, Any]:
    return {"start": key[0], "end": key[1], "label": key[2], "text": text[key[0] : key[1]]}


def _clusters(keys: Sequence[SpanKey]) -> list[list[SpanKey]]:
    """Groups of spans connected by overlap (labels ignored), in order of start."""
    groups: list[list[SpanKey]] = []
    reach = -1
    for key in sorted(keys):
        if groups and key[0] < reach:
            groups[-1].append(key)
        else:
            groups.append([key])
        reach = max(reach, key[1])
    return groups


def adjudicate_document(
    document: AnnotatedDocument, min_agree: int, *, source: str, layer: str, overlap: str, symmetric: frozenset[str] = frozenset()
) -> tuple[AnnotationRecord, list[dict[str, Any]]]:
    """The accepted record of one document and its conflicts (see the module docstring)."""
    text = document.text
    annotators = sorted(document.records)
    drawn: dict[SpanKey, list[str]] = {}
    related: dict[RelationKey, list[str]] = {}
    for name in annotators:
        record = document.records[name]
        for key in sorted(entity_keys(record)):
            drawn.setdefault(key, []).append(name)
        for rel in sorted(relation_keys(record, symmetric)):
            related.setdefault(rel, []).append(name)
    accepted = {key for key, names in drawn.items() if len(names) >= min_agree}
    if overlap != "any":
        entities = [Entity(f"{k[0]}:{k[1]}:{k[2]}", k[0], k[1], k[2], source) for k in sorted(accepted)]
        for first, second in overlapping_pairs(entities):
            if not overlap_allowed(first, second, overlap):
                accepted -= {(first.start, first.end, first.label), (second.start, second.end, second.label)}
    accepted_relations = {rel for rel, names in related.items() if len(names) >= min_agree and rel[0] in accepted and rel[1] in accepted}

    ids = {key: f"T{n}" for n, key in enumerate(sorted(accepted), start=1)}
    record = AnnotationRecord(
        doc_id=document.doc_id,
        text_sha256=next(iter(document.records.values())).text_sha256,
        source=source,
        layer=layer,
        entities=tuple(Entity(ids[k], k[0], k[1], k[2], source, tuple(drawn[k])) for k in sorted(accepted)),
        relations=tuple(
            Relation(f"R{n}", ids[rel[0]], ids[rel[1]], rel[2], source, tuple(related[rel]))
            for n, rel in enumerate(sorted(accepted_relations), start=1)
        ),
        path="",
        line=0,
    )

    conflicts: list[dict[str, Any]] = []
    open_keys = [key for key in drawn if key not in accepted]
    for cluster in _clusters(open_keys):
        low, high = min(k[0] for k in cluster), max(k[1] for k in cluster)
        context = [k for k in accepted if k[0] < high and low < k[1]]
        candidates = sorted(set(cluster) | set(context))
        named = {name for key in candidates for name in drawn[key]}
        conflicts.append(
            {
                "kind": "entity",
                "start": low,
                "end": high,
                "text": text[low:high],
                "candidates": [_span(key, text) | {"annotators": drawn[key], "accepted": key in accepted} for key in candidates],
                "without": [name for name in annotators if name not in named],
            }
        )
    # relation candidates between the same two spans (offsets; their labels may differ) are one conflict
    by_arguments: dict[tuple[tuple[int, int], ...], list[RelationKey]] = {}
    for rel in related:
        by_arguments.setdefault(tuple(sorted(((rel[0][0], rel[0][1]), (rel[1][0], rel[1][1])))), []).append(rel)
    for arguments, rels in sorted(by_arguments.items()):
        if all(rel in accepted_relations for rel in rels):
            continue
        named = {name for rel in rels for name in related[rel]}
        low, high = min(s for s, _ in arguments), max(e for _, e in arguments)
        conflicts.append(
            {
                "kind": "relation",
                "start": low,
                "end": high,
                "text": text[low:high],
                "candidates": [
                    {
                        "label": rel[2],
                        "head": _span(rel[0], text),
                        "tail": _span(rel[1], text),
                        "annotators": related[rel],
                        "accepted": rel in accepted_relations,
                    }
                    for rel in sorted(rels)
                ],
                "without": [name for name in annotators if name not in named],
            }
        )
    conflicts.sort(key=lambda c: (c["start"], c["end"], c["kind"]))
    for n, conflict in enumerate(conflicts, start=1):
        conflict.update({"doc_id": document.doc_id, "id": f"C{n}", "annotators": annotators})
    return record, [{"doc_id": c.pop("doc_id"), "id": c.pop("id"), **c} for c in conflicts]


def adjudicate(
    documents: Sequence[AnnotatedDocument],
    min_agree: int,
    *,
    source: str,
    layer: str,
    overlap: str,
    symmetric: frozenset[str] = frozenset(),
) -> Adjudication:
    """Every document at least ``min_agree`` layers annotate, in ``doc_id`` order."""
    if min_agree < 1:
        raise ValueError(f"min_agree must be at least 1, got {min_agree}")
    records, conflicts = [], []
    for document in sorted(documents, key=lambda d: d.doc_id):
        if len(document.records) < min_agree:
            continue
        record, found = adjudicate_document(document, min_agree, source=source, layer=layer, overlap=overlap, symmetric=symmetric)
        records.append(record)
        conflicts.extend(found)
    return Adjudication(records, conflicts)
