"""What an adapter reads: documents, entities and relations as the source has them.

Still in the source's labels, ids and offset unit, with offsets into the *raw* source text;
:func:`pipeline.formats.build.build_result` turns them into the corpus's documents and records.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: The layer of a source's annotations; another layer (one per annotator of a doccano export)
#: becomes layer ``imported/<name>-<layer>``. Nesting levels are not layers: every level of a
#: document goes into the same record (``SourceEntity.level``).
MAIN_LAYER = ""


@dataclass
class SourceEntity:
    """An entity as the source has it: its id, offsets into the raw text in the document's unit,
    its label, the layer (``""`` = main), the nesting level the source gives it (GermEval's
    inner column, HIPE's ``NE-NESTED``: 1; ``None``: the source has no level columns, and the
    level is where the span nests among the document's source spans) and, when the source stores
    it, its own copy of the span text."""

    id: str | None
    start: int
    end: int
    label: str
    layer: str = MAIN_LAYER
    text: str | None = None
    meta: dict[str, Any] | None = None
    level: int | None = None


@dataclass
class SourceRelation:
    id: str | None
    head: str
    tail: str
    label: str
    layer: str = MAIN_LAYER


@dataclass
class SourceDocument:
    source_id: str | None
    text: str
    path: str
    line: int | None
    offsets: str = "codepoint"
    entities: list[SourceEntity] = field(default_factory=list)
    relations: list[SourceRelation] = field(default_factory=list)
    title: str | None = None
    date: str | None = None
    url: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    layers: tuple[str, ...] = (MAIN_LAYER,)
    """Layers that get a record even when empty (other layers only when they hold entities)."""
    annotators: dict[str, str] = field(default_factory=dict)
    """Layer → annotator name, for sources with several annotators."""
    skipped: set[tuple[str, str]] = field(default_factory=set)
    """(layer, id) of entities the adapter could not read and reported (BRAT's discontinuous
    spans): a relation to one is skipped as ``argument-skipped``, not reported as ``missing-argument``."""
    doc_id: str | None = None
    """Set by :func:`build_result` when the document was imported."""
