"""Stage 2, annotate: apply the annotation layers to the ingested documents.

Reads every ``corpus/annotations/<layer>/*.jsonl`` record, checks it against the JSON Schema, the
label schema and its document (anchored by ``text_sha256``), picks one record per document by the
layer priority in ``params.yaml``, splits tokens at annotated boundaries (``US`` in
``US-Präsident``), derives BIO tags, assigns the deterministic split and builds every table that
``publish`` will ship. Problems are collected, never raised one at a time, so that ``validate``
reports all of them; a record with an error contributes nothing to the tables.
"""

from __future__ import annotations

import bisect
import fnmatch
import hashlib
import json
import logging
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.io import tables
from pipeline.io.jsonl import LineMemo, LineRef, display_path, line_ref, read_lines, scan_jsonl
from pipeline.io.interim import read_shard
from pipeline.core.problems import Problem, Severity
from pipeline.core.spans import AnnotationRecord, Entity, Relation, overlapping_pairs, record_from_json
from pipeline.io.problemlog import read_problems, write_problems
from pipeline.runtime.progress import progress
from pipeline.core.labels import LabelSchema
from pipeline.io.schemas import load_json_schema, load_label_schema
from pipeline.runtime.cache import ShardCache
from pipeline.runtime.fingerprint import code_fingerprint, digest
from pipeline.runtime.pool import parallel_map, workers_from
from pipeline.runtime.shards import clean_dir, group, part_name, shard_of

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DocumentInfo:
    doc_id: str
    text: str
    text_sha256: str
    path: str
    line: int | None
    raw_sha256: str | None = None


# --------------------------------------------------------------------------- reading layers


def layer_name(path: Path, annotations_dir: Path) -> str:
    """``gold`` for ``annotations/gold/x.jsonl``; the file stem for a file directly in the folder."""
    relative = path.relative_to(annotations_dir)
    return relative.parent.as_posix() if relative.parent != Path(".") else relative.stem


@dataclass(frozen=True)
class LayerLine:
    """Where one annotation record is: its layer and its line (no content; see :func:`load_records`)."""

    layer: str
    ref: LineRef

    def fingerprint(self) -> list[Any]:
        return [self.layer, *self.ref.fingerprint()]


def index_layers(
    annotations_dir: Path, validator: Any, root: Path | None = None, memo: LineMemo | None = None
) -> tuple[list[LayerLine], list[Problem], set[tuple[str, str]]]:
    """Where every structurally valid record of every layer is, every structural problem, and the
    (layer, entity id) pairs that some relation names but its own record does not define.

    Streams the files and keeps no record, so memory does not grow with the annotations.
    """
    root = root or Path.cwd()
    lines: list[LayerLine] = []
    problems: list[Problem] = []
    dangling: set[tuple[str, str]] = set()
    if not annotations_dir.exists():
        return lines, problems, dangling

    def summarise(data: dict[str, Any]) -> list[Any]:
        ids = {entity["id"] for entity in data.get("entities", [])}
        missing = {ref for relation in data.get("relations", []) for ref in (relation["head"], relation["tail"]) if ref not in ids}
        return [data["doc_id"], sorted(missing)]

    for path in sorted(annotations_dir.rglob("*.jsonl")):
        display = display_path(path, root)
        layer = layer_name(path, annotations_dir)
        found, found_problems = scan_jsonl(path, display, validator, "doc_id", summarise, memo)
        for line in found:
            doc_id, missing = line.summary
            lines.append(LayerLine(layer, line_ref(path, display, line, doc_id)))
            dangling.update((layer, ref) for ref in missing)
        problems.extend(found_problems)
    return lines, problems, dangling


def load_records(lines: Sequence[LayerLine]) -> list[AnnotationRecord]:
    """The records ``lines`` point to, in the same order."""
    return [
        record_from_json(data, layer=line.layer, path=line.ref.path, line=line.ref.line or 0)
        for line, data in zip(lines, read_lines([line.ref for line in lines]))
    ]


def read_layers(annotations_dir: Path, validator: Any, root: Path | None = None) -> tuple[list[AnnotationRecord], list[Problem]]:
    """All records of all layers, in file and line order, with every structural problem (for tools
    that want the records themselves: a small layer, not the whole corpus)."""
    lines, problems, _ = index_layers(annotations_dir, validator, root)
    return load_records(lines), problems


def entity_homes_for(wanted: set[tuple[str, str]], lines: Sequence[LayerLine]) -> dict[tuple[str, str], list[str]]:
    """For each wanted (layer, entity id), the documents whose records of that layer define it.

    Only needed to explain a relation whose argument is missing (rare), so it re-reads just the
    layers concerned instead of keeping every entity id of the corpus in memory.
    """
    homes: dict[tuple[str, str], list[str]] = defaultdict(list)
    layers = {layer for layer, _ in wanted}
    for record in load_records([line for line in lines if line.layer in layers]):
        for entity in record.entities:
            if (record.layer, entity.id) in wanted:
                homes[(record.layer, entity.id)].append(record.doc_id)
    return dict(homes)


# --------------------------------------------------------------------------- semantic checks


def check_record(
    record: AnnotationRecord,
    document: DocumentInfo | None,
    schema: LabelSchema,
    whitespace: Severity,
    entity_homes: dict[tuple[str, str], list[str]] | None = None,
) -> list[Problem]:
    """Every semantic problem of one record against its document and the label schema.

    ``entity_homes`` maps (layer, entity id) to the documents whose records define that id, so
    that a relation pointing into another document can say so.
    """

    def problem(kind: str, message: str, severity: Severity = Severity.ERROR) -> Problem:
        return Problem(record.path, record.line, record.doc_id, kind, message, severity)

    if document is None:
        return [problem("unknown-document", f"no ingested document has doc_id {record.doc_id!r}")]
    if record.text_sha256 != document.text_sha256 and record.text_sha256 == document.raw_sha256:
        return [
            problem(
                "hash-of-raw-text",
                "text_sha256 is the hash of the document's raw text before normalisation (BOM, CRLF/CR line "
                "endings or NFD): the corpus normalises every text to NFC with LF line endings and all offsets "
                "refer to that form; convert the offsets (the importers do) and anchor the record to "
                f"{document.text_sha256[:12]}…",
            )
        ]
    if record.text_sha256 != document.text_sha256:
        return [
            problem(
                "hash-mismatch",
                f"text_sha256 {record.text_sha256[:12]}… does not match the document text ({document.text_sha256[:12]}…): "
                "the text changed since it was annotated, or the offsets refer to a form other than the NFC, LF-only "
                "text; re-anchor the record instead of re-applying it",
            )
        ]
    found: list[Problem] = []
    text = document.text
    seen: dict[str, Entity] = {}
    for entity in record.entities:
        where = f"entity {entity.id} [{entity.start}, {entity.end})"
        if entity.id in seen:
            found.append(problem("duplicate-entity-id", f"entity id {entity.id!r} is used more than once"))
            continue
        seen[entity.id] = entity
        if entity.end > len(text):
            found.append(problem("offset-out-of-range", f"{where} ends after the text (length {len(text)})"))
            continue
        if entity.start >= entity.end:
            found.append(problem("empty-span", f"{where} has start >= end"))
            continue
        span = text[entity.start : entity.end]
        stored = record.span_texts.get(entity.id)
        if stored is not None and stored != span:
            found.append(problem("span-text-mismatch", f"{where} stores text {stored!r} but the document has {span!r} there"))
        if entity.label not in schema.entity_types:
            found.append(problem("unknown-label", f"{where} has label {entity.label!r}, not in the label schema {list(schema.entity_types)}"))
        if span != span.strip():
            found.append(problem("whitespace-span", f"{where} {span!r} has leading or trailing whitespace", whitespace))
    entities = {e.id: e for e in record.entities}
    if schema.overlap != "any":
        valid = [e for e in seen.values() if 0 <= e.start < e.end <= len(text)]
        for first, second in overlapping_pairs(valid):
            nested = first.start <= second.start and second.end <= first.end
            if schema.overlap == "nested" and nested:
                continue
            how = "nests" if nested else "overlaps"
            found.append(
                problem(
                    "overlapping-spans",
                    f"entity {second.id} [{second.start}, {second.end}) {how} entity {first.id} [{first.start}, {first.end}); "
                    f"the label schema allows overlap: {schema.overlap}",
                )
            )
    relation_ids: set[str] = set()
    seen_pairs: dict[tuple[str, str, str], str] = {}
    for relation in record.relations:
        where = f"relation {relation.id}"
        if relation.id in relation_ids:
            found.append(problem("duplicate-relation-id", f"relation id {relation.id!r} is used more than once"))
            continue
        relation_ids.add(relation.id)
        rtype = schema.relation(relation.label)
        if rtype is None:
            found.append(problem("unknown-relation-label", f"{where} has label {relation.label!r}, not in the label schema {list(schema.relation_names)}"))
        missing = [role for role, ref in (("head", relation.head), ("tail", relation.tail)) if ref not in entities]
        if missing:
            refs = ", ".join(f"{role} {getattr(relation, role)!r}" for role in missing)
            homes = sorted({d for role in missing for d in (entity_homes or {}).get((record.layer, getattr(relation, role)), []) if d != record.doc_id})
            elsewhere = f" (that id belongs to document(s) {', '.join(homes)}: relations link entities of one document)" if homes else ""
            found.append(problem("missing-argument", f"{where} refers to {refs}, not an entity of this record{elsewhere}"))
            continue
        if relation.head == relation.tail:
            found.append(problem("self-relation", f"{where} has the same entity {relation.head!r} as head and tail"))
            continue
        head, tail = entities[relation.head], entities[relation.tail]
        labels_known = head.label in schema.entity_types and tail.label in schema.entity_types
        if rtype is not None and labels_known and not rtype.allows(head.label, tail.label):
            found.append(
                problem(
                    "relation-type-violation",
                    f"{where} {relation.label}({head.label} {relation.head}, {tail.label} {relation.tail}) is not allowed: "
                    f"{relation.label} takes head {list(rtype.head)} and tail {list(rtype.tail)}",
                )
            )
        key = (relation.label, relation.head, relation.tail)
        if key in seen_pairs:
            found.append(problem("duplicate-relation", f"{where} repeats relation {seen_pairs[key]}"))
        elif rtype is not None and rtype.symmetric and (relation.label, relation.tail, relation.head) in seen_pairs:
            other = seen_pairs[(relation.label, relation.tail, relation.head)]
            found.append(problem("symmetric-duplicate", f"{where} repeats symmetric relation {other} with head and tail swapped"))
        else:
            seen_pairs[key] = relation.id
    return found


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
            problems.append(
                Problem(record.path, record.line, record.doc_id, "duplicate-record", f"layer {record.layer!r} already annotates this document at {first.path}:{first.line}")
            )
            continue
        by_layer[key] = record
    chosen: dict[str, AnnotationRecord] = {}
    for (layer, doc_id), record in sorted(by_layer.items(), key=lambda item: (rank(item[0][0]), item[0][1])):
        chosen.setdefault(doc_id, record)
    return chosen, problems


# --------------------------------------------------------------------------- tokens, sentences, BIO


def split_tokens(tokens: Sequence[tuple[int, int]], boundaries: Iterable[int]) -> list[tuple[int, int]]:
    """Cut tokens at every boundary strictly inside them (``US|-Präsident``)."""
    cuts = sorted(set(boundaries))
    result: list[tuple[int, int]] = []
    for start, end in tokens:
        left = bisect.bisect_right(cuts, start)
        right = bisect.bisect_left(cuts, end)
        position = start
        for cut in cuts[left:right]:
            result.append((position, cut))
            position = cut
        result.append((position, end))
    return result


HYPHENS = "-\u2010\u2011\u2012\u2013"


def hyphen_aware_cuts(text: str, boundaries: Iterable[int]) -> list[int]:
    """Entity boundaries plus a cut on the far side of a hyphen touching one, so that
    ``US-Präsident`` becomes ``US`` ``-`` ``Präsident`` and ``Nord-`` becomes ``Nord`` ``-``."""
    cuts = set(boundaries)
    for boundary in list(cuts):
        if text[boundary : boundary + 1] in HYPHENS and boundary + 1 <= len(text):
            cuts.add(boundary + 1)
        if boundary > 0 and text[boundary - 1 : boundary] in HYPHENS:
            cuts.add(boundary - 1)
    return sorted(cuts)


def tagged_entities(entities: Sequence[Entity]) -> list[Entity]:
    """The entities BIO can show: in order of start (longest first), each one that does not
    overlap any entity before it. Without overlaps that is all of them; a nested span loses to
    the span around it."""
    kept = []
    reach = -1
    for entity in sorted(entities, key=lambda e: (e.start, -(e.end - e.start), e.id)):
        if entity.start >= reach:
            kept.append(entity)
        reach = max(reach, entity.end)
    return kept


def bio_tags(tokens: Sequence[tuple[int, int]], entities: Sequence[Entity]) -> list[str]:
    """BIO tag per token for :func:`tagged_entities`; tokens are sorted and aligned."""
    tags = ["O"] * len(tokens)
    starts = [t[0] for t in tokens]
    for entity in tagged_entities(entities):
        first = bisect.bisect_left(starts, entity.start)
        last = bisect.bisect_left(starts, entity.end)
        for index in range(first, last):
            tags[index] = ("B-" if index == first else "I-") + entity.label
    return tags


def alignment_problems(record: AnnotationRecord, tokens: Sequence[tuple[int, int]], text: str, entities: Sequence[Entity]) -> list[Problem]:
    """Entities whose edges still do not fall on token edges (e.g. they start on whitespace)."""
    starts = {t[0] for t in tokens}
    ends = {t[1] for t in tokens}
    found = []
    for entity in entities:
        edges = [name for name, ok in (("start", entity.start in starts), ("end", entity.end in ends)) if not ok]
        if edges:
            found.append(
                Problem(
                    record.path,
                    record.line,
                    record.doc_id,
                    "unaligned-span",
                    f"entity {entity.id} [{entity.start}, {entity.end}) {text[entity.start:entity.end]!r}: its "
                    f"{' and '.join(edges)} does not fall on a token boundary",
                )
            )
    return found


def merge_sentences(sentences: list[dict[str, Any]], tokens: list[tuple[int, int, int]], entities: Sequence[Entity]) -> tuple[list[dict[str, Any]], list[int], list[Entity]]:
    """Join sentences that an entity crosses (the sentencizer must not cut a name in two).

    ``tokens`` are ``(start, end, sent_idx)``. Returns the new sentences, each token's new
    sentence index, and the entities that cross a paragraph (these cannot be joined).
    """
    starts = [t[0] for t in tokens]
    join_next = [False] * len(sentences)
    crossing = []
    for entity in entities:
        first = bisect.bisect_left(starts, entity.start)
        last = bisect.bisect_left(starts, entity.end) - 1
        if first > last or first >= len(tokens):
            continue
        a, b = tokens[first][2], tokens[last][2]
        if a == b:
            continue
        if sentences[a]["paragraph_idx"] != sentences[b]["paragraph_idx"]:
            crossing.append(entity)
            continue
        for index in range(a, b):
            join_next[index] = True
    new_index: list[int] = []
    merged: list[dict[str, Any]] = []
    for index, sentence in enumerate(sentences):
        if index > 0 and join_next[index - 1]:
            merged[-1] = dict(merged[-1], end=sentence["end"])
        else:
            merged.append(dict(sentence))
        new_index.append(len(merged) - 1)
    for index, sentence in enumerate(merged):
        sentence["sent_idx"] = index
    return merged, [new_index[t[2]] for t in tokens], crossing


def segment_for(
    text: str, tokens: Sequence[tuple[int, int, int]], sentences: list[dict[str, Any]], entities: Sequence[Entity]
) -> tuple[list[tuple[int, int, int]], list[dict[str, Any]], list[int], list[Entity]]:
    """Tokens cut at the entities' edges, sentences joined where an entity crosses them."""
    cuts = hyphen_aware_cuts(text, [edge for e in entities for edge in (e.start, e.end)])
    # Look up the few cuts among the many tokens, not the other way round.
    starts = [token[0] for token in tokens]
    cut_tokens = set()
    for cut in cuts:
        index = bisect.bisect_right(starts, cut) - 1
        if index >= 0 and tokens[index][0] < cut < tokens[index][1]:
            cut_tokens.add(index)
    refined: list[tuple[int, int, int]] = []
    done = 0
    for index in sorted(cut_tokens):
        start, end, sent_idx = tokens[index]
        refined.extend(tokens[done:index])
        refined.extend((piece[0], piece[1], sent_idx) for piece in split_tokens([(start, end)], cuts))
        done = index + 1
    refined.extend(tokens[done:])
    merged, token_sentences, crossing = merge_sentences(sentences, refined, entities)
    return refined, merged, token_sentences, crossing


def assign_split(doc_id: str, ratios: dict[str, float]) -> str:
    """The document's split from sha256(doc_id): stable whatever other documents exist."""
    value = int(hashlib.sha256(doc_id.encode("utf-8")).hexdigest()[:16], 16) / 2**64
    cumulative = 0.0
    names = list(ratios)
    for name in names:
        cumulative += ratios[name]
        if value < cumulative:
            return name
    return names[-1]


def check_ratios(ratios: dict[str, float]) -> None:
    if not ratios or any(not isinstance(v, (int, float)) or v < 0 for v in ratios.values()):
        raise ValueError(f"annotate.splits must map split names to non-negative ratios, got {ratios!r}")
    if abs(sum(ratios.values()) - 1.0) > 1e-9:
        raise ValueError(f"annotate.splits ratios must sum to 1, got {sum(ratios.values())} from {ratios!r}")


# --------------------------------------------------------------------------- views


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
            return {"id": entity.id, "start": entity.start - start, "end": entity.end - start, "text": text[entity.start : entity.end], "label": entity.label}

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


# --------------------------------------------------------------------------- the stage


@dataclass
class Result:
    tables: dict[str, pa.Table]
    problems: list[Problem]
    layers: dict[str, int]


def document_infos(documents: pa.Table) -> dict[str, DocumentInfo]:
    columns = ["doc_id", "text", "text_sha256", "path", "line", "raw_sha256"]
    return {row["doc_id"]: DocumentInfo(**row) for row in documents.select(columns).to_pylist()}


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

    ``entity_homes`` (see :func:`check_record`) defaults to the one ``records`` define.
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


def ner_view(tokens: pa.Table, split_of: dict[str, str], schema: LabelSchema) -> pa.Table:
    """The ``ner`` view, one row per sentence, built column-wise from the tokens table (sorted by
    document and token index, so each sentence is a contiguous run of rows)."""
    if tokens.num_rows == 0:
        return tables.NER.empty_table()
    doc_ids, sent_idx = tokens.column("doc_id").combine_chunks(), tokens.column("sent_idx").combine_chunks()
    changes = pc.or_(pc.not_equal(doc_ids[1:], doc_ids[:-1]), pc.not_equal(sent_idx[1:], sent_idx[:-1]))
    starts = np.concatenate([[0], np.flatnonzero(changes.to_numpy(zero_copy_only=False)) + 1]).astype(np.int32)
    offsets = pa.array(np.append(starts, tokens.num_rows).astype(np.int32))
    tags = tokens.column("ner_tag").combine_chunks()
    tag_ids = pc.index_in(tags, value_set=pa.array(schema.bio_labels))
    if tag_ids.null_count:
        raise ValueError(f"BIO tag(s) {sorted(set(pc.filter(tags, pc.is_null(tag_ids)).to_pylist()))} not derived from the label schema {list(schema.bio_labels)}")

    def lists(values: pa.Array) -> pa.ListArray:
        return pa.ListArray.from_arrays(offsets, values)

    first_doc, first_sent = doc_ids.take(starts), sent_idx.take(starts)
    return tables.sort_table(
        "ner",
        pa.table(
            {
                "id": pc.binary_join_element_wise(first_doc, pc.cast(first_sent, pa.string()), ":"),
                "doc_id": first_doc,
                "sent_idx": first_sent,
                "tokens": lists(tokens.column("text").combine_chunks()),
                "ner_tags": lists(tag_ids.cast(pa.int64())),
                "ner_labels": lists(tags),
                "token_starts": lists(tokens.column("start").combine_chunks()),
                "token_ends": lists(tokens.column("end").combine_chunks()),
                "split": pa.array([split_of[doc_id] for doc_id in first_doc.to_pylist()], pa.string()),
            },
            schema=tables.NER,
        ),
    )


def build_shard(
    documents: pa.Table,
    sentences: pa.Table,
    tokens: pa.Table,
    chosen: dict[str, AnnotationRecord],
    schema: LabelSchema,
    ratios: dict[str, float],
) -> Result:
    """The pure core for one shard: interim tables + chosen records → publishable tables."""
    check_ratios(ratios)
    docs = document_infos(documents)
    problems: list[Problem] = []
    sentences_by_doc: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in sentences.to_pylist():
        sentences_by_doc[row["doc_id"]].append(row)
    tokens_by_doc: dict[str, list[tuple[int, int, int]]] = defaultdict(list)
    for doc_id, sent_idx, start, end in zip(*(tokens.column(c).to_pylist() for c in ("doc_id", "sent_idx", "start", "end"))):
        tokens_by_doc[doc_id].append((start, end, sent_idx))

    rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
    token_columns: dict[str, list[Any]] = {name: [] for name in tables.TOKENS.names}
    layers: dict[str, int] = defaultdict(int)
    split_of: dict[str, str] = {}
    for doc_id in sorted(docs):
        document = docs[doc_id]
        text = document.text
        record = chosen.get(doc_id)
        entities = list(record.entities) if record else []
        relations = list(record.relations) if record else []
        refined, doc_sentences, token_sentences, crossing = segment_for(text, tokens_by_doc[doc_id], sentences_by_doc[doc_id], entities)
        spans = [(t[0], t[1]) for t in refined]
        if record:
            found = alignment_problems(record, spans, text, entities) + [
                Problem(record.path, record.line, doc_id, "entity-crosses-paragraph", f"entity {e.id} [{e.start}, {e.end}) spans a paragraph break")
                for e in crossing
            ]
            if found:
                # The record is rejected as a whole, like a record with any other error.
                problems.extend(found)
                record, entities, relations = None, [], []
                refined, doc_sentences, token_sentences, _ = segment_for(text, tokens_by_doc[doc_id], sentences_by_doc[doc_id], [])
                spans = [(t[0], t[1]) for t in refined]
            else:
                layers[record.layer] += 1
        tags = bio_tags(spans, entities)
        split = split_of[doc_id] = assign_split(doc_id, ratios)

        rows["sentences"].extend({**s, "doc_id": doc_id} for s in doc_sentences)
        token_columns["doc_id"].extend([doc_id] * len(spans))
        token_columns["sent_idx"].extend(token_sentences)
        token_columns["tok_idx"].extend(range(len(spans)))
        if spans:
            token_starts, token_ends = zip(*spans)
            token_columns["start"].extend(token_starts)
            token_columns["end"].extend(token_ends)
        token_columns["text"].extend(text[s:e] for s, e in spans)
        token_columns["ner_tag"].extend(tags)
        layer = record.layer if record else None
        rows["entities"].extend(
            {"doc_id": doc_id, "ent_id": e.id, "start": e.start, "end": e.end, "text": text[e.start : e.end], "label": e.label, "source": e.source, "layer": layer}
            for e in entities
        )
        rows["relations"].extend(
            {"doc_id": doc_id, "rel_id": r.id, "head": r.head, "tail": r.tail, "label": r.label, "source": r.source, "layer": layer}
            for r in relations
        )
        rows["re"].extend(relation_candidates(doc_id, text, split, doc_sentences, entities, relations, schema))

    documents_out = documents.drop_columns(["path", "line", "raw_sha256"]).append_column(
        "split", pa.array([split_of[d] for d in documents.column("doc_id").to_pylist()], pa.string())
    )
    tokens_out = tables.sort_table("tokens", pa.Table.from_pydict(token_columns, schema=tables.TOKENS))
    result_tables = {
        "documents": tables.sort_table("documents", documents_out.select(tables.DOCUMENTS.names).cast(tables.DOCUMENTS)),
        "tokens": tokens_out,
        "ner": ner_view(tokens_out, split_of, schema),
    }
    for name in ("sentences", "entities", "relations", "re"):
        result_tables[name] = tables.from_rows(name, rows[name])
    return Result(result_tables, problems, dict(sorted(layers.items())))


def dataset_info(params: dict[str, Any], schema: LabelSchema) -> dict[str, Any]:
    """What every published Parquet file carries in its schema metadata."""
    publish = params["publish"]
    return {"dataset": publish["dataset_name"], "version": str(publish["version"]), **schema.to_metadata()}


def hf_features(name: str, schema: LabelSchema) -> dict[str, Any] | None:
    """``datasets`` features for the training views, as ``datasets`` reads them from Parquet."""
    string = {"dtype": "string", "_type": "Value"}
    int64 = {"dtype": "int64", "_type": "Value"}
    if name == "ner":
        return {
            "id": string,
            "doc_id": string,
            "sent_idx": {"dtype": "int32", "_type": "Value"},
            "tokens": {"feature": string, "_type": "Sequence"},
            "ner_tags": {"feature": {"names": list(schema.bio_labels), "_type": "ClassLabel"}, "_type": "Sequence"},
            "ner_labels": {"feature": string, "_type": "Sequence"},
            "token_starts": {"feature": int64, "_type": "Sequence"},
            "token_ends": {"feature": int64, "_type": "Sequence"},
            "split": string,
        }
    return None




def shard_files(name: str, shard: int, table: pa.Table, splits: Sequence[str]) -> dict[str, pa.Table]:
    """Relative path → rows for one shard of one table; training views are split per ``split``."""
    if name not in tables.SPLIT_TABLES:
        return {f"{name}/part-{part_name(shard)}.parquet": table}
    files = {}
    for split in splits:
        part = table.filter(pc.equal(table.column("split"), split))
        if part.num_rows:
            files[f"{name}/{split}-{part_name(shard)}.parquet"] = part
    return files


@dataclass(frozen=True)
class ShardJob:
    shard: int
    ingest_dir: str
    staging: str
    lines: list[LayerLine]
    labels_path: str
    ratios: dict[str, float]
    info: dict[str, Any]
    priority: list[str]
    whitespace: str
    entity_homes: dict[tuple[str, str], list[str]]


BATCH_DOCUMENTS = 256


def build_in_batches(
    interim: dict[str, pa.Table], chosen: dict[str, AnnotationRecord], schema: LabelSchema, ratios: dict[str, float], batch: int = BATCH_DOCUMENTS
) -> Result:
    """:func:`build_shard` over at most ``batch`` documents at a time, then joined: the same
    tables, but a worker's Python objects (a few per token) exist for one batch, not the shard."""
    doc_ids = sorted(interim["documents"].column("doc_id").to_pylist())
    results = []
    for first in range(0, max(len(doc_ids), 1), batch):
        wanted = pa.array(doc_ids[first : first + batch], pa.string())
        part = {name: table.filter(pc.is_in(table.column("doc_id"), value_set=wanted)) for name, table in interim.items()}
        results.append(build_shard(part["documents"], part["sentences"], part["tokens"], chosen, schema, ratios))
    layers: Counter[str] = Counter()
    for result in results:
        layers.update(result.layers)
    return Result(
        {name: tables.sort_table(name, pa.concat_tables([r.tables[name] for r in results])) for name in results[0].tables},
        [problem for result in results for problem in result.problems],
        dict(sorted(layers.items())),
    )


def annotate_shard(job: ShardJob) -> tuple[int, str]:
    """Worker: check one shard's records against its documents, choose one per document, build
    the shard's publishable tables and write them with their metadata and the problems found."""
    schema = load_label_schema(job.labels_path)
    part = f"part-{part_name(job.shard)}.parquet"
    interim = read_shard(Path(job.ingest_dir), part)
    chosen, problems = check_and_select(
        load_records(job.lines),
        document_infos(interim["documents"]),
        schema,
        priority=job.priority,
        whitespace=Severity(job.whitespace),
        entity_homes=job.entity_homes,
    )
    result = build_in_batches(interim, chosen, schema, job.ratios)
    staging = Path(job.staging)
    for name, table in result.tables.items():
        metadata = tables.corpus_metadata({**job.info, "table": name})
        features = hf_features(name, schema)
        if features:
            metadata[b"huggingface"] = json.dumps({"info": {"features": features}}, sort_keys=True).encode()
        for relative, rows in shard_files(name, job.shard, tables.with_metadata(table, metadata), list(job.ratios)).items():
            tables.write_parquet(rows, staging / relative)
    write_problems(sorted(problems + result.problems, key=problem_order), staging / "problems" / f"{part_name(job.shard)}.jsonl")
    (staging / "layers").mkdir(parents=True, exist_ok=True)
    (staging / "layers" / f"{part_name(job.shard)}.json").write_text(json.dumps(result.layers, sort_keys=True), encoding="utf-8")
    return job.shard, job.staging


def problem_order(problem: Problem) -> tuple[str, int, str, str, str]:
    """File and line order (a file-level problem first), as the input is read."""
    return (problem.path, -1 if problem.line is None else problem.line, problem.doc_id or "", problem.kind, problem.message)


def run(params: dict[str, Any]) -> list[Problem]:
    """Index all layers, then check and build every shard (cached, parallel) into ``out_dir``.

    The main process keeps only where each record is (:class:`LayerLine`); a worker reads its
    shard's records and documents itself, so memory is bounded by a shard, not by the corpus.
    """
    section = params["annotate"]
    runtime = params["runtime"]
    ingest_dir = Path(params["ingest"]["out_dir"])
    out_dir = Path(section["out_dir"])
    labels_path = params["schemas"]["labels"]
    schema = load_label_schema(labels_path)
    check_ratios(section["splits"])
    annotation_schema = Path(params["schemas"]["annotation"])
    fingerprint = code_fingerprint(__name__)
    memo = LineMemo(Path(runtime["cache_dir"]) / "lines" / "annotate.json", digest(fingerprint, annotation_schema.read_text(encoding="utf-8")))
    lines, problems, dangling = index_layers(Path(section["annotations_dir"]), load_json_schema(annotation_schema), memo=memo)
    memo.save()
    homes = entity_homes_for(dangling, lines) if dangling else {}
    priority = list(section.get("layer_priority", ["gold", "*"]))
    whitespace = Severity(params["validate"].get("whitespace_spans", "error")).value
    ingest_keys = json.loads((ingest_dir / "shards.json").read_text(encoding="utf-8"))
    shards = sorted(int(part) for part in ingest_keys)
    by_shard = group(lines, lambda line: shard_of(line.ref.key, runtime["shards"]))
    # A record whose shard holds no document cannot match one: checked here, no tables to build.
    orphans = [line for shard, shard_lines in by_shard.items() if part_name(shard) not in ingest_keys for line in shard_lines]
    problems.extend(check_and_select(load_records(orphans), {}, schema, priority=priority, entity_homes=homes)[1])
    info = dataset_info(params, schema)
    cache = ShardCache(Path(runtime["cache_dir"]), "annotate")
    labels_sha = hashlib.sha256(Path(labels_path).read_bytes()).hexdigest()
    keys: dict[int, str] = {}
    todo = []
    for shard in shards:
        shard_lines = by_shard.get(shard, [])
        shard_homes = {key: homes[key] for key in sorted(homes) if any(line.layer == key[0] for line in shard_lines)}
        keys[shard] = digest(
            fingerprint, ingest_keys[part_name(shard)], info, labels_sha, section["splits"], priority, whitespace,
            sorted(shard_homes.items()), [line.fingerprint() for line in shard_lines],
        )
        if not cache.has(keys[shard]):
            job = ShardJob(shard, str(ingest_dir), str(cache.staging(keys[shard])), shard_lines, labels_path, dict(section["splits"]), info, priority, whitespace, shard_homes)
            todo.append(job)
    for shard, staging in progress(parallel_map(annotate_shard, todo, workers_from(params)), total=len(todo), description="annotate", minimum=2):
        cache.commit(keys[shard], Path(staging))
    clean_dir(out_dir)
    layers: Counter[str] = Counter()
    for shard in shards:
        cache.link_into(keys[shard], out_dir)
        problems.extend(read_problems(out_dir / "problems" / f"{part_name(shard)}.jsonl"))
        layers.update(json.loads((out_dir / "layers" / f"{part_name(shard)}.json").read_text(encoding="utf-8")))
    problems.sort(key=problem_order)
    (out_dir / "shards.json").write_text(json.dumps({part_name(s): k for s, k in keys.items()}, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    (out_dir / "layers.json").write_text(json.dumps(dict(sorted(layers.items())), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    write_problems(problems, out_dir / "problems.jsonl")
    cache.prune()
    log.info("annotate: %d records, %d shards (%d computed), %d problems", len(lines), len(shards), len(todo), len(problems))
    return problems


def main(params: dict[str, Any]) -> int:
    """The stage command: problems go to ``validate``, so annotate itself always succeeds."""
    run(params)
    return 0
