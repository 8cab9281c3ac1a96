"""The span model shared by every stage, importer and exporter.

A document is text plus standoff layers: :class:`Entity` spans (half-open ``[start, end)`` in code
points into the normalised text, see :mod:`pipeline.core.text`) and :class:`Relation` s between
them, one :class:`AnnotationRecord` per document and layer, anchored to the text by its sha256.

Pure: touches no files.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pipeline.core.text import text_sha256


@dataclass(frozen=True)
class Document:
    """A normalised document. ``source`` names where it came from (file, or file#id)."""

    doc_id: str
    text: str
    source: str
    title: str | None = None
    date: str | None = None
    url: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def text_sha256(self) -> str:
        return text_sha256(self.text)


@dataclass(frozen=True)
class Entity:
    id: str
    start: int
    end: int
    label: str
    source: str
    agreed_by: tuple[str, ...] = ()  # adjudication provenance: the annotator layers that drew exactly this

    def text_in(self, document_text: str) -> str:
        return document_text[self.start : self.end]


@dataclass(frozen=True)
class Relation:
    id: str
    head: str
    tail: str
    label: str
    source: str
    agreed_by: tuple[str, ...] = ()  # adjudication provenance: the annotator layers that drew exactly this


@dataclass(frozen=True)
class AnnotationRecord:
    """One document's annotations from one layer, anchored to the text by ``text_sha256``.

    ``path`` and ``line`` say where the record was read, so that every problem can name them.
    """

    doc_id: str
    text_sha256: str
    source: str
    layer: str
    entities: tuple[Entity, ...]
    relations: tuple[Relation, ...]
    path: str
    line: int
    annotator: str | None = None
    span_texts: dict[str, str] = field(default_factory=dict)

    def to_json(self, document_text: str | None = None) -> dict[str, Any]:
        """The JSONL form of ``schemas/annotation.schema.json``; adds span texts when given the text."""
        record: dict[str, Any] = {"doc_id": self.doc_id, "text_sha256": self.text_sha256, "source": self.source}
        if self.annotator is not None:
            record["annotator"] = self.annotator
        record["entities"] = [_entity_json(e, self.source, document_text) for e in self.entities]
        record["relations"] = [
            {"id": r.id, "head": r.head, "tail": r.tail, "label": r.label}
            | ({} if r.source == self.source else {"source": r.source})
            | ({"agreed_by": list(r.agreed_by)} if r.agreed_by else {})
            for r in self.relations
        ]
        return record


def _entity_json(entity: Entity, record_source: str, document_text: str | None) -> dict[str, Any]:
    data: dict[str, Any] = {"id": entity.id, "start": entity.start, "end": entity.end, "label": entity.label}
    if document_text is not None:
        data["text"] = entity.text_in(document_text)
    if entity.source != record_source:
        data["source"] = entity.source
    if entity.agreed_by:
        data["agreed_by"] = list(entity.agreed_by)
    return data


def record_from_json(data: dict[str, Any], *, layer: str, path: str, line: int) -> AnnotationRecord:
    """Build a record from JSON already checked against ``annotation.schema.json``."""
    source = data["source"]
    entities = tuple(
        Entity(
            id=e["id"],
            start=e["start"],
            end=e["end"],
            label=e["label"],
            source=e.get("source", source),
            agreed_by=tuple(e.get("agreed_by", ())),
        )
        for e in data.get("entities", [])
    )
    relations = tuple(
        Relation(
            id=r["id"],
            head=r["head"],
            tail=r["tail"],
            label=r["label"],
            source=r.get("source", source),
            agreed_by=tuple(r.get("agreed_by", ())),
        )
        for r in data.get("relations", [])
    )
    span_texts = {e["id"]: e["text"] for e in data.get("entities", []) if "text" in e}
    return AnnotationRecord(
        doc_id=data["doc_id"],
        text_sha256=data["text_sha256"],
        source=source,
        layer=layer,
        entities=entities,
        relations=relations,
        path=path,
        line=line,
        annotator=data.get("annotator"),
        span_texts=span_texts,
    )


def overlapping_pairs(entities: Iterable[Entity]) -> list[tuple[Entity, Entity]]:
    """Pairs ``(first, second)`` of entities whose spans share at least one code point (nested
    included), ``first`` starting earlier — or, at the same start, the longer one, so that a
    nested span always comes second, inside ``first``."""
    ordered = sorted(entities, key=lambda e: (e.start, -e.end, e.id))
    pairs: list[tuple[Entity, Entity]] = []
    open_spans: list[Entity] = []
    for entity in ordered:
        open_spans = [o for o in open_spans if o.end > entity.start]
        pairs.extend((o, entity) for o in open_spans)
        open_spans.append(entity)
    return pairs


@dataclass(frozen=True)
class Nesting:
    """Where an entity sits among the entities of its record: ``level`` 0 is outermost, 1 inside a
    level-0 entity, …; ``parent`` is the id of the smallest entity that encloses it (``None`` at
    level 0)."""

    level: int
    parent: str | None


def nesting(entities: Iterable[Entity]) -> dict[str, Nesting]:
    """Entity id → its :class:`Nesting`, the one rule for ``entities.level`` and ``entities.parent``.

    An entity encloses another when ``start <= other.start`` and ``other.end <= end``. Of two
    identical spans the one first in ``(start, -end, id)`` order encloses the other, so that the
    levels of a chain of repeats are 0, 1, 2, …. The parent is the smallest enclosing entity (ties:
    the one latest in that order, the innermost); the level is the parent's plus one. Spans that
    cross without enclosing each other (only under ``overlap: any``) do not change each other's
    level.
    """
    ordered = sorted(entities, key=lambda e: (e.start, -e.end, e.id))
    found: dict[str, Nesting] = {}
    open_spans: list[Entity] = []
    for entity in ordered:
        open_spans = [o for o in open_spans if o.end > entity.start]
        parent: Entity | None = None
        for candidate in open_spans:  # in sort order: a later candidate of the same length is innermost
            if candidate.end >= entity.end and (parent is None or candidate.end - candidate.start <= parent.end - parent.start):
                parent = candidate
        found[entity.id] = Nesting(0, None) if parent is None else Nesting(found[parent.id].level + 1, parent.id)
        open_spans.append(entity)
    return found
