"""The training views that ``publish`` ships beside the flat tables.

* ``ner`` (:func:`ner_view`): one row per sentence with its tokens, BIO tags (as ClassLabel ids
  and as strings) and token offsets, the shape token-classification trainers read, plus the BIO
  tags of nesting level 1 (``ner_tags_inner``) and every entity of every level as a token span
  (``spans``, from :func:`sentence_spans`).
* ``re`` (:func:`relation_candidates`): one row per entity pair that could hold a relation: every
  annotated relation, and every unannotated pair of one sentence whose types some relation type
  allows, labelled ``no_relation``, with the text window and both arguments' offsets in it.

Pure: in-memory rows and Arrow tables in, rows and Arrow tables out. The views' columns are
declared in :mod:`pipeline.core.features`; the Arrow schema of the ``ner`` table is handed in by
the caller (``pipeline.io.tables.NER``, derived from that declaration).
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.core.labels import LabelSchema
from pipeline.core.spans import Entity, Relation


def relation_candidates(
    doc_id: str,
    text: str,
    split: str,
    sentences: Sequence[dict[str, Any]],
    entities: Sequence[Entity],
    relations: Sequence[Relation],
    schema: LabelSchema,
) -> list[dict[str, Any]]:
    """The ``re`` view: every annotated relation, plus every unannotated same-sentence pair whose
    types some relation type allows, labelled ``no_relation``. Symmetric types are matched in
    either direction and proposed once per pair (in text order)."""
    sentence_starts = [s["start"] for s in sentences]

    def sentence_of(entity: Entity) -> int:
        return max(0, bisect.bisect_right(sentence_starts, entity.start) - 1)

    by_id = {e.id: e for e in entities}
    gold: dict[tuple[str, str], Relation] = {}
    for relation in relations:
        gold[(relation.head, relation.tail)] = relation
        rtype = schema.relation(relation.label)
        if rtype is not None and rtype.symmetric:
            gold.setdefault((relation.tail, relation.head), relation)

    rows: list[dict[str, Any]] = []
    emitted: set[frozenset[str] | tuple[str, str]] = set()

    def emit(head: Entity, tail: Entity, relation: Relation | None) -> None:
        first, last = sorted((sentence_of(head), sentence_of(tail)))
        start, end = sentences[first]["start"], sentences[last]["end"]

        def argument(entity: Entity) -> dict[str, Any]:
            return {
                "id": entity.id,
                "start": entity.start - start,
                "end": entity.end - start,
                "text": text[entity.start : entity.end],
                "label": entity.label,
            }

        rows.append(
            {
                "id": f"{doc_id}:{head.id}:{tail.id}",
                "doc_id": doc_id,
                "rel_id": relation.id if relation else None,
                "text": text[start:end],
                "window_start": start,
                "head": argument(head),
                "tail": argument(tail),
                "label": relation.label if relation else "no_relation",
                "split": split,
            }
        )

    for relation in relations:
        if relation.head in by_id and relation.tail in by_id:
            emit(by_id[relation.head], by_id[relation.tail], relation)
            emitted.add(frozenset((relation.head, relation.tail)))
    # Which relation types a (head label, tail label) pair can have, and whether all are symmetric.
    typing: dict[tuple[str, str], bool] = {}
    for head_label in schema.entity_types:
        for tail_label in schema.entity_types:
            directed = [r for r in schema.relation_types if head_label in r.head and tail_label in r.tail]
            if directed:
                typing[(head_label, tail_label)] = all(r.symmetric for r in directed)
    by_sentence: dict[int, list[Entity]] = defaultdict(list)
    for entity in sorted(entities, key=lambda e: (e.start, e.end, e.id)):
        by_sentence[sentence_of(entity)].append(entity)
    for members in by_sentence.values():
        for i, head in enumerate(members):
            for j, tail in enumerate(members):
                if i == j:
                    continue
                only_symmetric = typing.get((head.label, tail.label))
                if only_symmetric is None or (only_symmetric and j < i):
                    continue
                if frozenset((head.id, tail.id)) in emitted or (head.id, tail.id) in gold:
                    continue
                emit(head, tail, None)
    return rows


def sentence_spans(
    tokens: Sequence[tuple[int, int]], token_sentences: Sequence[int], entities: Sequence[Entity]
) -> dict[int, list[dict[str, Any]]]:
    """sent_idx → the ``spans`` of that sentence's ``ner`` row: every entity (all levels) as
    ``{start, end, label}`` in token indices of the sentence (end exclusive), ordered by start,
    longest first, then label. ``tokens`` are one document's (sorted, aligned to the entities)
    with each token's sentence."""
    starts = [t[0] for t in tokens]
    first_of: dict[int, int] = {}
    for index, sentence in enumerate(token_sentences):
        first_of.setdefault(sentence, index)
    found: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for entity in entities:
        first = bisect.bisect_left(starts, entity.start)
        last = bisect.bisect_left(starts, entity.end)
        sentence = token_sentences[first]
        offset = first_of[sentence]
        found[sentence].append({"start": first - offset, "end": last - offset, "label": entity.label})
    for spans in found.values():
        spans.sort(key=lambda span: (span["start"], -span["end"], span["label"]))
    return dict(found)


def ner_view(
    tokens: pa.Table,
    split_of: dict[str, str],
    schema: LabelSchema,
    table_schema: pa.Schema,
    inner_tags: pa.Array | None = None,
    spans: dict[tuple[str, int], list[dict[str, Any]]] | None = None,
) -> pa.Table:
    """The ``ner`` view (columns and types of ``table_schema``), one row per sentence, built
    column-wise from the tokens table. ``tokens`` must be sorted by document and token index, so
    that each sentence is a contiguous run of rows; the view's rows come in that order.
    ``inner_tags`` are the level-1 BIO tags of those token rows (default: all ``O``), ``spans``
    each sentence's ``spans`` by (doc_id, sent_idx) (:func:`sentence_spans`; default: none).

    ``ValueError`` names any tag that is not one of the label schema's BIO labels.
    """
    if tokens.num_rows == 0:
        return table_schema.empty_table()
    doc_ids, sent_idx = tokens.column("doc_id").combine_chunks(), tokens.column("sent_idx").combine_chunks()
    changes = pc.or_(pc.not_equal(doc_ids[1:], doc_ids[:-1]), pc.not_equal(sent_idx[1:], sent_idx[:-1]))
    starts = np.concatenate([[0], np.flatnonzero(changes.to_numpy(zero_copy_only=False)) + 1]).astype(np.int32)
    offsets = pa.array(np.append(starts, tokens.num_rows).astype(np.int32))
    tags = tokens.column("ner_tag").combine_chunks()
    tag_ids = _tag_ids(tags, schema)
    inner = pa.array(["O"] * tokens.num_rows, pa.string()) if inner_tags is None else inner_tags
    inner_ids = _tag_ids(inner, schema)

    def lists(values: pa.Array) -> pa.ListArray:
        return pa.ListArray.from_arrays(offsets, values)

    first_doc, first_sent = doc_ids.take(starts), sent_idx.take(starts)
    row_spans = [(spans or {}).get(key, []) for key in zip(first_doc.to_pylist(), first_sent.to_pylist(), strict=True)]
    return pa.table(
        {
            "id": pc.binary_join_element_wise(first_doc, pc.cast(first_sent, pa.string()), ":"),
            "doc_id": first_doc,
            "sent_idx": first_sent,
            "tokens": lists(tokens.column("text").combine_chunks()),
            "ner_tags": lists(tag_ids.cast(pa.int64())),
            "ner_labels": lists(tags),
            "token_starts": lists(tokens.column("start").combine_chunks()),
            "token_ends": lists(tokens.column("end").combine_chunks()),
            "ner_tags_inner": lists(inner_ids.cast(pa.int64())),
            "spans": pa.array(row_spans, table_schema.field("spans").type),
            "split": pa.array([split_of[doc_id] for doc_id in first_doc.to_pylist()], pa.string()),
        },
        schema=table_schema,
    )


def _tag_ids(tags: pa.Array, schema: LabelSchema) -> pa.Array:
    """Class ids of BIO tags; ``ValueError`` names any tag not among the schema's BIO labels."""
    tag_ids = pc.index_in(tags, value_set=pa.array(schema.bio_labels))
    if tag_ids.null_count:
        raise ValueError(
            f"BIO tag(s) {sorted(set(pc.filter(tags, pc.is_null(tag_ids)).to_pylist()))} not derived from the label schema {list(schema.bio_labels)}"
        )
    return tag_ids
