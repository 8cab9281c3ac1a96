"""Inter-annotator agreement: how far several annotators' records of the same documents agree.

Input: per document its normalised text, its segmenter tokens and one record per annotator layer
(offsets in code points on that same text). Output: the figures of ``corpus/reports/agreement.json``
(see :func:`measure`), a per-document table (worst first, for review) and the label confusion rows
``dvc plots`` draws.

Definitions (the tests check each against values computed by hand):

* **exact** entity match: same ``(start, end, label)``. For a pair ``(a, b)``, ``a`` is the reference:
  P = matches / |b|, R = matches / |a|, F1 = 2PR / (P + R), summed over the documents both annotate
  (micro). Two empty sides agree completely (P = R = F1 = 1); one empty side gives 0.
* **partial** match: overlapping spans with the same label; P = the share of ``b``'s entities that
  overlap one of ``a``'s with the same label, R the share of ``a``'s that one of ``b``'s overlaps.
* **relations**: a relation matches when its label and both arguments match exactly (the arguments of
  a symmetric relation in either order); P/R/F1 as for entities.
* **tokens**: the document's tokens are cut at every entity edge of every annotator of the
  document (:func:`pipeline.core.tokens.hyphen_aware_cuts`, as ``annotate`` cuts them), so that each
  annotator's entities are runs of whole tokens, and tagged BIO (:func:`pipeline.core.bio.bio_tags`).
  Cohen's κ per pair and Fleiss' κ come from statsmodels, Krippendorff's α (nominal) from the
  ``krippendorff`` package; Fleiss' κ needs the same raters for every item, so it is computed over
  the documents every annotator annotated, α over all (a missing annotator is a missing value).
  A coefficient that is undefined (every token has the same tag) is ``None``.
* **overall exact F1**: the mean over pairs of each pair's exact F1; its 95 % interval is the 2.5 and
  97.5 percentiles of that mean over ``resamples`` bootstrap resamples of the documents, drawn with
  a seeded generator (same input, same interval).
* **disagreements** of a document: the entities and relations (exact keys) that not every annotator
  of the document has.
* **confusion**: for every pair and every span ``(start, end)`` either annotator marked, the two
  labels (``(none)`` where one has no entity on exactly that span), in both directions.

Pure: touches no files. It is over 400 lines because every figure above counts the same keys on the
same tokens in one pass over the documents; split up, each part would recount them.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeline.core.bio import bio_tags
from pipeline.core.checks import DocumentInfo, check_record
from pipeline.core.labels import LabelSchema
from pipeline.core.problems import Problem, Severity
from pipeline.core.selection import duplicate_record
from pipeline.core.spans import AnnotationRecord
from pipeline.core.tokens import hyphen_aware_cuts, split_tokens

NONE_LABEL = "(none)"
DIGITS = 4

SpanKey = tuple[int, int, str]
RelationKey = tuple[SpanKey, SpanKey, str]


@dataclass(frozen=True)
class AnnotatedDocument:
    """One document as agreement sees it: its text, its segmenter tokens, one record per annotator layer."""

    doc_id: str
    text: str
    tokens: tuple[tuple[int, int], ...]
    records: Mapping[str, AnnotationRecord]


def annotator_of(layer: str) -> str:
    """The annotator a layer's records belong to: ``annotators/<user>`` for the per-project layers
    ``annotators/<user>/<project>`` that ``doccano pull`` writes, the layer itself otherwise."""
    parts = layer.split("/")
    return "/".join(parts[:2]) if parts[0] == "annotators" and len(parts) > 2 else layer


def group_documents(
    records: Sequence[AnnotationRecord],
    documents: Mapping[str, DocumentInfo],
    tokens: Mapping[str, Sequence[tuple[int, int]]],
    schema: LabelSchema,
    whitespace: Severity = Severity.ERROR,
    tolerated: frozenset[str] = frozenset(),
) -> tuple[list[AnnotatedDocument], list[Problem]]:
    """The annotator records grouped by document, each checked against its document and the label
    schema (:func:`~pipeline.core.checks.check_record`), and every problem found.

    Records are grouped by annotator (:func:`annotator_of`), not by layer: ``doccano pull`` writes one
    layer per user *and project*, and one person in two projects is still one annotator. A record
    with an error is not compared, and a second record of one layer for the same document is an
    error: the caller refuses to report figures while any error stands (nothing is dropped
    silently). When one annotator annotates a document in two layers (two projects), the layer whose
    name sorts first is compared and a warning names both. Documents come in ``doc_id`` order.
    Errors of a kind in ``tolerated`` are reported but keep the record (the review page shows a
    record with overlapping spans, for instance).
    """
    problems: list[Problem] = []
    grouped: dict[str, dict[str, AnnotationRecord]] = {}
    for record in sorted(records, key=lambda r: (r.layer, r.path, r.line)):
        found = check_record(record, documents.get(record.doc_id), schema, whitespace)
        problems.extend(found)
        if any(p.severity is Severity.ERROR and p.kind not in tolerated for p in found):
            continue
        layers = grouped.setdefault(record.doc_id, {})
        annotator = annotator_of(record.layer)
        first = layers.get(annotator)
        if first is not None and first.layer == record.layer:
            problems.append(duplicate_record(record, first))
            continue
        if first is not None:
            problems.append(
                Problem(
                    record.path,
                    record.line,
                    record.doc_id,
                    "annotator-in-two-layers",
                    f"{annotator!r} also annotates this document in layer {first.layer!r} ({first.path}:{first.line}); "
                    f"agreement compares that one, not layer {record.layer!r}",
                    Severity.WARNING,
                )
            )
            continue
        layers[annotator] = record
    result = [
        AnnotatedDocument(doc_id, documents[doc_id].text, tuple(tokens.get(doc_id, ())), layers)
        for doc_id, layers in sorted(grouped.items())
    ]
    return result, problems


def entity_keys(record: AnnotationRecord) -> set[SpanKey]:
    return {(e.start, e.end, e.label) for e in record.entities}


def relation_keys(record: AnnotationRecord, symmetric: frozenset[str] = frozenset()) -> set[RelationKey]:
    """``(head span, tail span, label)`` of every relation whose arguments the record defines; the
    arguments of a symmetric relation sorted, so that either order is the same relation."""
    spans = {e.id: (e.start, e.end, e.label) for e in record.entities}
    keys = set()
    for relation in record.relations:
        if relation.head not in spans or relation.tail not in spans:
            continue
        head, tail = spans[relation.head], spans[relation.tail]
        if relation.label in symmetric and tail < head:
            head, tail = tail, head
        keys.add((head, tail, relation.label))
    return keys


def prf(matched_b: int, size_b: int, matched_a: int, size_a: int) -> dict[str, float]:
    """P/R/F1 of ``b`` against reference ``a``: P = matched_b / size_b, R = matched_a / size_a.

    Unlike :func:`pipeline.core.scoring.prf` (proposals against gold), the two sides may match a
    different number of items (partial matching), and two empty sides agree (1.0), because
    agreement asks whether the annotators did the same, and doing nothing alike is agreeing.
    """
    if size_a == 0 and size_b == 0:
        return {"p": 1.0, "r": 1.0, "f1": 1.0}
    precision = matched_b / size_b if size_b else 0.0
    recall = matched_a / size_a if size_a else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"p": round(precision, DIGITS), "r": round(recall, DIGITS), "f1": round(f1, DIGITS)}


def _overlapping(key: SpanKey, others: set[SpanKey]) -> bool:
    return any(o[2] == key[2] and o[0] < key[1] and key[0] < o[1] for o in others)


def document_tokens(document: AnnotatedDocument) -> list[tuple[int, int]]:
    """The document's tokens cut at every entity edge of every one of its annotators."""
    edges = {edge for record in document.records.values() for e in record.entities for edge in (e.start, e.end)}
    return split_tokens(document.tokens, hyphen_aware_cuts(document.text, edges))


def document_tags(document: AnnotatedDocument) -> dict[str, list[str]]:
    """Layer → BIO tag per token of :func:`document_tokens` (the same tokens for every layer)."""
    tokens = document_tokens(document)
    return {layer: bio_tags(tokens, record.entities) for layer, record in document.records.items()}


def _round(value: float | None) -> float | None:
    if value is None or not np.isfinite(value):
        return None
    return round(float(value), DIGITS)


def cohen_kappa(first: Sequence[str], second: Sequence[str]) -> float | None:
    """Cohen's κ of two tag sequences (statsmodels); ``None`` where undefined (one tag only)."""
    from statsmodels.stats.inter_rater import cohens_kappa

    categories = sorted(set(first) | set(second))
    if len(categories) < 2:
        return None
    index = {c: i for i, c in enumerate(categories)}
    table = np.zeros((len(categories), len(categories)))
    for x, y in zip(first, second, strict=True):
        table[index[x], index[y]] += 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return _round(cohens_kappa(table).kappa)


def fleiss_kappa(items: Sequence[Sequence[str]]) -> float | None:
    """Fleiss' κ (statsmodels) of items each tagged by the same number of raters; ``None`` where undefined."""
    categories = sorted({tag for item in items for tag in item})
    if not items or len(categories) < 2 or len(items[0]) < 2:
        return None
    from statsmodels.stats.inter_rater import fleiss_kappa as fleiss  # seconds to import: only when needed

    index = {c: i for i, c in enumerate(categories)}
    table = np.zeros((len(items), len(categories)))
    for row, item in enumerate(items):
        for tag in item:
            table[row, index[tag]] += 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return _round(fleiss(table))


def krippendorff_alpha(rows: Sequence[Sequence[str | None]]) -> float | None:
    """Krippendorff's α, nominal (the ``krippendorff`` package); one row per rater, ``None`` = missing."""
    categories = sorted({tag for row in rows for tag in row if tag is not None})
    if len(rows) < 2 or len(categories) < 2:
        return None
    import krippendorff

    index = {c: i for i, c in enumerate(categories)}
    data = np.array([[np.nan if tag is None else index[tag] for tag in row] for row in rows], dtype=float)
    return _round(krippendorff.alpha(reliability_data=data, level_of_measurement="nominal"))


@dataclass
class _PairCounts:
    """What one pair of annotators did on one document (see :func:`measure`)."""

    exact: tuple[int, int, int]  # matches, |a|, |b|
    partial: tuple[int, int, int, int]  # b matched, |b|, a matched, |a|
    labels: dict[str, tuple[int, int, int]]
    relations: tuple[int, int, int]


def _pair_counts(a: AnnotationRecord, b: AnnotationRecord, symmetric: frozenset[str]) -> _PairCounts:
    ea, eb = entity_keys(a), entity_keys(b)
    labels = {}
    for label in {k[2] for k in ea | eb}:
        la, lb = {k for k in ea if k[2] == label}, {k for k in eb if k[2] == label}
        labels[label] = (len(la & lb), len(la), len(lb))
    ra, rb = relation_keys(a, symmetric), relation_keys(b, symmetric)
    return _PairCounts(
        exact=(len(ea & eb), len(ea), len(eb)),
        partial=(sum(_overlapping(k, ea) for k in eb), len(eb), sum(_overlapping(k, eb) for k in ea), len(ea)),
        labels=labels,
        relations=(len(ra & rb), len(ra), len(rb)),
    )


def _exact_f1(matches: float, size_a: float, size_b: float) -> float:
    return 1.0 if size_a + size_b == 0 else 2 * matches / (size_a + size_b)


def disagreements(document: AnnotatedDocument, symmetric: frozenset[str] = frozenset()) -> int:
    """Entities and relations (exact keys) that not every annotator of the document has."""
    entity_sets = [entity_keys(r) for r in document.records.values()]
    relation_sets = [relation_keys(r, symmetric) for r in document.records.values()]
    count = 0
    for sets in (entity_sets, relation_sets):
        if sets:
            count += len(set().union(*sets) - set.intersection(*sets))
    return count


def confusion_rows(a: AnnotationRecord, b: AnnotationRecord) -> list[dict[str, str]]:
    """The label pairs of one pair on one document, by exact span (see the module docstring)."""
    by_span_a: dict[tuple[int, int], list[str]] = {}
    by_span_b: dict[tuple[int, int], list[str]] = {}
    for record, target in ((a, by_span_a), (b, by_span_b)):
        for e in record.entities:
            target.setdefault((e.start, e.end), []).append(e.label)
    rows = []
    for span in sorted(set(by_span_a) | set(by_span_b)):
        for first in sorted(by_span_a.get(span, [NONE_LABEL])):
            for second in sorted(by_span_b.get(span, [NONE_LABEL])):
                rows.append({"first": first, "second": second})
                rows.append({"first": second, "second": first})
    return rows


@dataclass(frozen=True)
class Agreement:
    """The figures (``metrics``), the documents worst first (``documents``), the confusion rows."""

    metrics: dict[str, Any]
    documents: list[dict[str, Any]]
    confusion: list[dict[str, str]]


def _bootstrap(
    per_doc: Sequence[dict[tuple[str, str], tuple[int, int, int]]], pairs: Sequence[tuple[str, str]], resamples: int, seed: int
) -> list[float] | None:
    """The 95 % bootstrap interval of the mean pairwise exact F1 over documents (seeded)."""
    if not per_doc or not pairs or resamples < 1:
        return None
    counts = np.zeros((len(per_doc), len(pairs), 3))
    present = np.zeros((len(per_doc), len(pairs)))
    for d, doc in enumerate(per_doc):
        for p, pair in enumerate(pairs):
            if pair in doc:
                counts[d, p] = doc[pair]
                present[d, p] = 1
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(per_doc), size=(resamples, len(per_doc)))
    weights = np.stack([np.bincount(row, minlength=len(per_doc)) for row in draws]).astype(float)
    sums = np.einsum("bd,dpk->bpk", weights, counts)
    seen = weights @ present > 0
    sizes = sums[:, :, 1] + sums[:, :, 2]
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(sizes > 0, 2 * sums[:, :, 0] / np.where(sizes > 0, sizes, 1), 1.0)
    means = np.nansum(np.where(seen, f1, 0.0), axis=1) / np.maximum(seen.sum(axis=1), 1)
    low, high = np.quantile(means, [0.025, 0.975])
    return [round(float(low), DIGITS), round(float(high), DIGITS)]


def measure(
    documents: Sequence[AnnotatedDocument],
    *,
    labels: Sequence[str] = (),
    symmetric: frozenset[str] = frozenset(),
    resamples: int = 1000,
    seed: int = 0,
) -> Agreement:
    """Agreement over the documents that two or more layers annotate (the others are left out).

    ``labels`` orders the per-label figures (the label schema's order; others follow by name).
    """
    shared = sorted((d for d in documents if len(d.records) >= 2), key=lambda d: d.doc_id)
    annotators = sorted({layer for d in shared for layer in d.records})
    pairs = list(itertools.combinations(annotators, 2))
    totals: dict[tuple[str, str], dict[str, Any]] = {}
    per_doc_exact: list[dict[tuple[str, str], tuple[int, int, int]]] = []
    pair_tags: dict[tuple[str, str], tuple[list[str], list[str]]] = {pair: ([], []) for pair in pairs}
    full_items: list[list[str]] = []
    alpha_rows: dict[str, list[str | None]] = {layer: [] for layer in annotators}
    documents_out = []
    confusion: list[dict[str, str]] = []
    for document in shared:
        tags = document_tags(document)
        width = len(next(iter(tags.values())))
        for layer in annotators:
            alpha_rows[layer].extend(tags.get(layer, [None] * width))
        if len(tags) == len(annotators):
            full_items.extend([tags[layer][i] for layer in annotators] for i in range(width))
        exact_here: dict[tuple[str, str], tuple[int, int, int]] = {}
        for pair in pairs:
            a, b = (document.records.get(layer) for layer in pair)
            if a is None or b is None:
                continue
            counts = _pair_counts(a, b, symmetric)
            exact_here[pair] = counts.exact
            total = totals.setdefault(
                pair, {"documents": 0, "exact": [0, 0, 0], "partial": [0, 0, 0, 0], "labels": {}, "relations": [0, 0, 0]}
            )
            total["documents"] += 1
            for key in ("exact", "partial", "relations"):
                total[key] = [x + y for x, y in zip(total[key], getattr(counts, key), strict=True)]
            for label, values in counts.labels.items():
                total["labels"][label] = [x + y for x, y in zip(total["labels"].get(label, [0, 0, 0]), values, strict=True)]
            pair_tags[pair][0].extend(tags[pair[0]])
            pair_tags[pair][1].extend(tags[pair[1]])
            confusion.extend(confusion_rows(a, b))
        per_doc_exact.append(exact_here)
        f1s = [_exact_f1(*counts) for counts in exact_here.values()]
        documents_out.append(
            {
                "doc_id": document.doc_id,
                "annotators": sorted(document.records),
                "mean_exact_f1": round(sum(f1s) / len(f1s), DIGITS),
                "disagreements": disagreements(document, symmetric),
            }
        )

    order = {label: i for i, label in enumerate(labels)}
    pairs_out = []
    for pair in pairs:
        if pair not in totals:
            continue
        total = totals[pair]
        matches, size_a, size_b = total["exact"]
        per_label = {
            label: prf(values[0], values[2], values[0], values[1]) | {"a": values[1], "b": values[2]}
            for label, values in sorted(total["labels"].items(), key=lambda item: (order.get(item[0], len(order)), item[0]))
        }
        rel_matches, rel_a, rel_b = total["relations"]
        pairs_out.append(
            {
                "a": pair[0],
                "b": pair[1],
                "documents": total["documents"],
                "entities": {
                    "exact": prf(matches, size_b, matches, size_a) | {"a": size_a, "b": size_b, "matches": matches},
                    "partial": prf(*total["partial"]),
                    "per_label": per_label,
                },
                "relations": prf(rel_matches, rel_b, rel_matches, rel_a) | {"a": rel_a, "b": rel_b, "matches": rel_matches},
                "tokens": {"cohen_kappa": cohen_kappa(*pair_tags[pair]), "count": len(pair_tags[pair][0])},
            }
        )
    pair_f1s = [p["entities"]["exact"]["f1"] for p in pairs_out]
    overall = {
        "entities_exact_f1": round(sum(pair_f1s) / len(pair_f1s), DIGITS) if pair_f1s else None,
        "entities_exact_f1_ci95": _bootstrap(per_doc_exact, [(p["a"], p["b"]) for p in pairs_out], resamples, seed),
        "fleiss_kappa": fleiss_kappa(full_items),
        "fleiss_documents": sum(len(d.records) == len(annotators) for d in shared),
        "krippendorff_alpha": krippendorff_alpha(list(alpha_rows.values())),
        "tokens": len(next(iter(alpha_rows.values()), [])),
    }
    # the pairs again as a mapping: `dvc metrics show` shows mappings, not lists
    by_pair = {
        f"{p['a']} vs {p['b']}": {
            "entities_exact_f1": p["entities"]["exact"]["f1"],
            "entities_partial_f1": p["entities"]["partial"]["f1"],
            "relations_f1": p["relations"]["f1"],
            "cohen_kappa": p["tokens"]["cohen_kappa"],
        }
        for p in pairs_out
    }
    metrics = {"documents": len(shared), "annotators": annotators, "pairs": pairs_out, "overall": overall, "by_pair": by_pair}
    documents_out.sort(key=lambda d: (d["mean_exact_f1"], -d["disagreements"], d["doc_id"]))
    confusion.sort(key=lambda row: (row["first"], row["second"]))
    return Agreement(metrics=metrics, documents=documents_out, confusion=confusion)
