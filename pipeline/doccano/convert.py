"""Pure conversion between the corpus span model and doccano examples: no I/O, no network.

The doccano side is the JSONL line of a *RelationExtraction* import/export (spans and relations
in the shape of :mod:`pipeline.doccano.shape`)::

    {"text": ..., "doc_id": ..., "text_sha256": ..., "corpus_ids": {...},
     "entities": [{"id", "start_offset", "end_offset", "label"}],
     "relations": [{"id", "from_id", "to_id", "type"}]}

* Offsets on the doccano side are UTF-16 code units, the units of doccano's web editor (with its
  default ``grapheme_mode`` off); on our side they are code points into the NFC, LF-only text.
  The only conversion is :func:`pipeline.core.text.codepoint_to_utf16` / :func:`utf16_to_codepoint`.
* Every line carries the same metadata keys (:data:`META_KEYS`); doccano fails a whole import when a
  key is missing on one line.
* doccano renumbers entity and relation ids to its database ids. Our ids travel in the example
  metadata (``corpus_ids``) and are mapped back by a stable key: an entity by ``(start, end, label)``
  in code points (then by ``(start, end)`` alone if the label was changed), a relation by
  ``(head id, label, tail id)``. Spans and relations that were not pushed get ids derived from
  their content (``E<start>-<end>``, ``R<hash>``), so that pulling twice yields the same ids.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pipeline.core.spans import AnnotationRecord
from pipeline.core.text import normalise_text, text_sha256, utf16_to_codepoint
from pipeline.doccano import shape

META_DOC_ID = "doc_id"
META_SHA = "text_sha256"
META_IDS = "corpus_ids"
META_KEYS = (META_DOC_ID, META_SHA, META_IDS)
"""The metadata keys of every pushed example, in this order, on every line."""

SpanKey = tuple[int, int, str]
"""``(start, end, label)`` of a span, in the units of the side it comes from."""
RelationKey = tuple[SpanKey, str, SpanKey]
"""``(head span, label, tail span)``: a relation independent of any id."""


class ConversionError(ValueError):
    """A document or record cannot be expressed on the other side."""


class UnknownLabelError(ConversionError):
    """doccano holds a span or relation label that the label schema does not define."""


@dataclass(frozen=True)
class Labels:
    """The entity and relation labels of the label schema (what doccano may hold)."""

    entities: frozenset[str]
    relations: frozenset[str]

    @classmethod
    def of(cls, schema: Any) -> Labels:
        return cls(frozenset(schema.entity_types), frozenset(schema.relation_names))


# --------------------------------------------------------------------------- corpus → doccano


def to_doccano(doc_id: str, text: str, record: AnnotationRecord | None) -> dict[str, Any]:
    """The doccano import line of one document and its annotation record (or none).

    ``text`` must already be normalised (ingest does it): doccano stores whatever it gets, and the
    offsets and ``text_sha256`` refer to the normalised form.
    """
    if normalise_text(text) != text:
        raise ConversionError(f"document {doc_id!r}: text is not normalised (NFC, LF-only, no BOM); ingest it first")
    sha = text_sha256(text)
    if record is not None and record.text_sha256 != sha:
        raise ConversionError(f"document {doc_id!r}: the record's text_sha256 does not match the document text")
    entities = sorted(record.entities, key=lambda e: (e.start, e.end, e.label, e.id)) if record else []
    relations = sorted(record.relations, key=lambda r: (r.head, r.tail, r.label, r.id)) if record else []
    local = {entity.id: index for index, entity in enumerate(entities, start=1)}
    for relation in relations:
        if relation.head not in local or relation.tail not in local:
            raise ConversionError(f"document {doc_id!r}: relation {relation.id} refers to an entity the record does not have")
    doccano_entities, doccano_relations = shape.annotations(
        text,
        [(local[e.id], e.start, e.end, e.label) for e in entities],
        [(index, local[r.head], local[r.tail], r.label) for index, r in enumerate(relations, start=1)],
    )
    return {
        "text": text,
        META_DOC_ID: doc_id,
        META_SHA: sha,
        META_IDS: corpus_ids(entities, relations),
        "entities": doccano_entities,
        "relations": doccano_relations,
    }


def corpus_ids(entities: Iterable[Any], relations: Iterable[Any]) -> dict[str, list[list[Any]]]:
    """Our ids, keyed by content: ``[start, end, label, id]`` (code points) and ``[head, label, tail, id]``."""
    return {
        "entities": [[e.start, e.end, e.label, e.id] for e in entities],
        "relations": [[r.head, r.label, r.tail, r.id] for r in relations],
    }


def label_state(line: Mapping[str, Any]) -> tuple[frozenset[SpanKey], frozenset[RelationKey]]:
    """What a doccano line annotates, without any id: to compare what is there with what should be."""
    spans = {e["id"]: (e["start_offset"], e["end_offset"], e["label"]) for e in line.get("entities", [])}
    relations = frozenset(
        (spans[r["from_id"]], r["type"], spans[r["to_id"]])
        for r in line.get("relations", [])
        if r["from_id"] in spans and r["to_id"] in spans
    )
    return frozenset(spans.values()), relations


# --------------------------------------------------------------------------- doccano → corpus


@dataclass(frozen=True)
class Skipped:
    """A doccano example that was not imported, and why (reported, never fatal)."""

    doc_id: str | None
    example_id: int | None
    kind: str
    message: str

    def format(self) -> str:
        where = self.doc_id if self.doc_id is not None else f"example {self.example_id}"
        return f"{where}: {self.kind}: {self.message}"


@dataclass(frozen=True)
class BadSpan:
    """A span of an imported example whose offsets are no positions in the text (e.g. they split a
    surrogate pair: doccano's API stores any integer). The rest of the example is imported; this span
    (and any relation using it) is not, and the pull reports it as an error."""

    doc_id: str
    example_id: int | None
    span_id: int
    label: str
    start: int  # UTF-16 units, as doccano holds them
    end: int
    problem: str
    context: str
    relations: tuple[int, ...] = ()

    def format(self, username: str, project: str) -> str:
        dropped = f" (and relation(s) {', '.join(map(str, self.relations))} using it)" if self.relations else ""
        return (
            f"{self.doc_id}: example {self.example_id}: span {self.span_id} ({self.label}, UTF-16 offsets {self.start}-{self.end}) "
            f"{self.problem}; text around it: {self.context!r}; not imported{dropped}: re-draw the span in doccano "
            f"(user '{username}', project '{project}') so that it covers whole characters, then pull again"
        )


@dataclass
class Pulled:
    record: dict[str, Any] | None = None
    skipped: Skipped | None = None
    labels_seen: set[str] = field(default_factory=set)
    bad_spans: list[BadSpan] = field(default_factory=list)


def _context(text: str, start: int, end: int, width: int = 12) -> str:
    """The text around UTF-16 offsets ``start``-``end`` (a cut surrogate shows as U+FFFD)."""
    units = text.encode("utf-16-le", "surrogatepass")
    low, high = max(0, min(start, end) - width), min(len(units) // 2, max(start, end) + width)
    return units[2 * low : 2 * high].decode("utf-16-le", "replace")


def _problem(error: ValueError) -> str:
    """What is wrong with an offset, in words that fit after "span N (…)"."""
    message = str(error)
    if "splits the surrogate pair" in message:
        return "splits a surrogate pair: " + message
    return "is not inside the text: " + message


def from_doccano(
    line: Mapping[str, Any],
    *,
    username: str,
    project: str,
    labels: Labels,
    expected_sha: Mapping[str, str] | None = None,
) -> Pulled:
    """One user's annotations of one exported example as an annotation record (schema shape).

    ``expected_sha`` (doc_id → text_sha256 of the corpus) also reports documents whose corpus
    text changed since they were pushed. A label outside the schema raises
    :class:`UnknownLabelError`: that is a project set-up problem, not one document's.
    """
    example_id = line.get("id")
    doc_id = line.get(META_DOC_ID)
    if not isinstance(doc_id, str) or not doc_id:
        return Pulled(skipped=Skipped(None, example_id, "no-doc-id", "the example has no doc_id metadata (not pushed by the pipeline)"))
    text = line.get("text")
    pushed_sha = line.get(META_SHA)
    if not isinstance(text, str) or text_sha256(text) != pushed_sha:
        return Pulled(
            skipped=Skipped(
                doc_id,
                example_id,
                "hash-mismatch",
                "the text in doccano no longer matches the text_sha256 it was pushed with (edited in doccano); "
                "its annotations are not imported: restore the text in doccano or push the document again as a new example",
            )
        )
    if expected_sha is not None:
        corpus_sha = expected_sha.get(doc_id)
        if corpus_sha is None:
            return Pulled(skipped=Skipped(doc_id, example_id, "unknown-document", "no ingested document has this doc_id"))
        if corpus_sha != pushed_sha:
            return Pulled(
                skipped=Skipped(
                    doc_id,
                    example_id,
                    "hash-mismatch",
                    "the corpus text changed since this example was pushed; not imported (re-push the document)",
                )
            )
    entities_in = list(line.get("entities") or [])
    relations_in = list(line.get("relations") or [])
    for entity in entities_in:
        if entity["label"] not in labels.entities:
            raise UnknownLabelError(f"span label {entity['label']!r} (document {doc_id}, example {example_id})")
    for relation in relations_in:
        if relation["type"] not in labels.relations:
            raise UnknownLabelError(f"relation label {relation['type']!r} (document {doc_id}, example {example_id})")
    spans: list[tuple[int, int, int, str]] = []
    bad: list[tuple[Mapping[str, Any], str]] = []
    for entity in entities_in:
        try:
            start, end = utf16_to_codepoint(text, [entity["start_offset"], entity["end_offset"]])
        except ValueError as error:
            bad.append((entity, _problem(error)))
            continue
        spans.append((entity["id"], start, end, entity["label"]))
    bad_ids = {entity["id"] for entity, _ in bad}
    bad_spans = [
        BadSpan(
            doc_id=doc_id,
            example_id=example_id,
            span_id=entity["id"],
            label=entity["label"],
            start=entity["start_offset"],
            end=entity["end_offset"],
            problem=problem,
            context=_context(text, entity["start_offset"], entity["end_offset"]),
            relations=tuple(sorted(r["id"] for r in relations_in if {r["from_id"], r["to_id"]} & {entity["id"]})),
        )
        for entity, problem in bad
    ]
    relations_in = [r for r in relations_in if not bad_ids & {r["from_id"], r["to_id"]}]
    ids = line.get(META_IDS) or {}
    entity_ids = map_entity_ids(spans, ids.get("entities") or [])
    entities_out = sorted(
        (
            {"id": entity_ids[db_id], "start": start, "end": end, "label": label, "text": text[start:end]}
            for db_id, start, end, label in spans
        ),
        key=lambda e: (e["start"], e["end"], e["label"], e["id"]),
    )
    position = {e["id"]: index for index, e in enumerate(entities_out)}
    triples = []
    for relation in relations_in:
        head, tail = entity_ids.get(relation["from_id"]), entity_ids.get(relation["to_id"])
        if head is None or tail is None:
            return Pulled(
                skipped=Skipped(doc_id, example_id, "dangling-relation", f"relation {relation['id']} links a span this user does not have")
            )
        triples.append((relation["id"], head, relation["type"], tail))
    relation_ids = map_relation_ids(triples, ids.get("relations") or [])
    relations_out = sorted(
        ({"id": relation_ids[db_id], "head": head, "tail": tail, "label": label} for db_id, head, label, tail in triples),
        key=lambda r: (position[r["head"]], position[r["tail"]], r["label"], r["id"]),
    )
    record = {
        "doc_id": doc_id,
        "text_sha256": pushed_sha,
        "source": f"annotator:{username}",
        "annotator": username,
        "entities": entities_out,
        "relations": relations_out,
        "meta": {"doccano": {"project": project, "example_id": example_id}},
    }
    return Pulled(record=record, bad_spans=bad_spans)


def map_entity_ids(spans: Sequence[tuple[int, int, int, str]], pushed: Sequence[Sequence[Any]]) -> dict[int, str]:
    """doccano span id → our entity id, for ``(db_id, start, end, label)`` spans in code points.

    1. same ``(start, end, label)`` as a pushed entity: its id;
    2. same ``(start, end)`` as exactly one pushed entity not yet matched (label changed): its id;
    3. otherwise ``E<start>-<end>`` (plus ``-<label>``, then ``-<db id>`` if still taken).
    """
    exact: dict[SpanKey, list[str]] = {}
    by_offsets: dict[tuple[int, int], list[str]] = {}
    for start, end, label, our_id in pushed:
        exact.setdefault((start, end, label), []).append(our_id)
        by_offsets.setdefault((start, end), []).append(our_id)
    reserved = {entry[3] for entry in pushed}
    taken: set[str] = set()
    result: dict[int, str] = {}
    ordered = sorted(spans, key=lambda s: (s[1], s[2], s[3], s[0]))
    for db_id, start, end, label in ordered:
        our_id = next((i for i in exact.get((start, end, label), []) if i not in taken), None)
        if our_id is not None:
            result[db_id] = our_id
            taken.add(our_id)
    for db_id, start, end, _label in ordered:
        if db_id in result:
            continue
        candidates = [i for i in by_offsets.get((start, end), []) if i not in taken]
        if len(candidates) == 1:
            result[db_id] = candidates[0]
            taken.add(candidates[0])
    for db_id, start, end, label in ordered:
        if db_id in result:
            continue
        for candidate in (f"E{start}-{end}", f"E{start}-{end}-{label}", f"E{start}-{end}-{label}-{db_id}"):
            if candidate not in taken and candidate not in reserved:
                break
        result[db_id] = candidate
        taken.add(candidate)
    return result


def map_relation_ids(triples: Sequence[tuple[int, str, str, str]], pushed: Sequence[Sequence[Any]]) -> dict[int, str]:
    """doccano relation id → our relation id, for ``(db_id, head, label, tail)`` in our entity ids."""
    known: dict[tuple[str, str, str], list[str]] = {}
    for head, label, tail, our_id in pushed:
        known.setdefault((head, label, tail), []).append(our_id)
    reserved = {entry[3] for entry in pushed}
    taken: set[str] = set()
    result: dict[int, str] = {}
    for db_id, head, label, tail in sorted(triples, key=lambda t: (t[1], t[2], t[3], t[0])):
        our_id = next((i for i in known.get((head, label, tail), []) if i not in taken), None)
        if our_id is None:
            digest = hashlib.sha256(f"{head}\t{label}\t{tail}".encode()).hexdigest()[:12]
            our_id = f"R{digest}"
            if our_id in taken or our_id in reserved:
                our_id = f"R{digest}-{db_id}"
        result[db_id] = our_id
        taken.add(our_id)
    return result
