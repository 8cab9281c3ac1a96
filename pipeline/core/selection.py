"""One record per document: which annotation layer a document takes its annotations from.

Several layers may annotate the same document (gold, annotators, imports, pre-annotations); the
corpus publishes one record per document, chosen by ``annotate.layer_priority`` (fnmatch patterns,
first match wins). Only records without errors (see :mod:`pipeline.core.checks`) compete, so a
broken gold record lets the next layer's record through instead of leaving the document empty;
the broken record is reported either way.

Pure: touches no files.
"""

from __future__ import annotations

import fnmatch
from collections import defaultdict
from collections.abc import Sequence

from pipeline.core.checks import DocumentInfo, check_record
from pipeline.core.labels import LabelSchema
from pipeline.core.problems import Problem, Severity
from pipeline.core.spans import AnnotationRecord


def select_records(records: Sequence[AnnotationRecord], priority: Sequence[str]) -> tuple[dict[str, AnnotationRecord], list[Problem]]:
    """One record per document: the one from the first layer matching the priority patterns.

    Layers matching no pattern come last, alphabetically. Two records for the same document in
    the same layer are an error.
    """

    def rank(layer: str) -> tuple[int, str]:
        for index, pattern in enumerate(priority):
            if fnmatch.fnmatchcase(layer, pattern):
                return index, layer
        return len(priority), layer

    problems: list[Problem] = []
    by_layer: dict[tuple[str, str], AnnotationRecord] = {}
    for record in records:
        key = (record.layer, record.doc_id)
        if key in by_layer:
            first = by_layer[key]
            problems.append(duplicate_record(record, first))
            continue
        by_layer[key] = record
    chosen: dict[str, AnnotationRecord] = {}
    for (_, doc_id), record in sorted(by_layer.items(), key=lambda item: (rank(item[0][0]), item[0][1])):
        chosen.setdefault(doc_id, record)
    return chosen, problems


def check_and_select(
    records: Sequence[AnnotationRecord],
    docs: dict[str, DocumentInfo],
    schema: LabelSchema,
    *,
    priority: Sequence[str],
    whitespace: Severity = Severity.ERROR,
    entity_homes: dict[tuple[str, str], list[str]] | None = None,
) -> tuple[dict[str, AnnotationRecord], list[Problem]]:
    """Check every record of every layer; choose one valid record per document by priority.

    ``entity_homes`` (see :func:`~pipeline.core.checks.check_record`) defaults to the one ``records`` define.
    """
    problems: list[Problem] = []
    valid_records = []
    if entity_homes is None:
        entity_homes = defaultdict(list)
        for record in records:
            for entity in record.entities:
                entity_homes[(record.layer, entity.id)].append(record.doc_id)
    for record in records:
        found = check_record(record, docs.get(record.doc_id), schema, whitespace, entity_homes)
        problems.extend(found)
        if not any(p.severity is Severity.ERROR for p in found):
            valid_records.append(record)
    chosen, selection_problems = select_records(valid_records, priority)
    return chosen, problems + selection_problems


def duplicate_record(record: AnnotationRecord, first: AnnotationRecord) -> Problem:
    """The error for a second record of one layer for one document (``first`` is the one kept)."""
    return Problem(
        record.path,
        record.line,
        record.doc_id,
        "duplicate-record",
        f"layer {record.layer!r} already annotates this document at {first.path}:{first.line}",
    )
