"""The span model shared by every stage, importer and exporter.

A document is text plus standoff layers. Offsets are half-open ``[start, end)`` in Python code
points into the NFC-normalised, LF-only document text. Tools that count UTF-16 code units
(doccano's editor, MobIE, Java/JS) are converted at the edge with :func:`utf16_to_codepoint` and
:func:`codepoint_to_utf16`, nowhere else.

This module imports nothing from the rest of the package.
"""

from __future__ import annotations

import bisect
import hashlib
import unicodedata
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Iterable, Sequence

BOM = "\ufeff"


def normalise_text(raw: str) -> str:
    """Return ``raw`` without a leading BOM, with CRLF/CR turned into LF, in Unicode NFC.

    Every offset in the corpus refers to the text this function returns.
    """
    if raw.startswith(BOM):
        raw = raw[1:]
    text = raw.replace("\r\n", "\n").replace("\r", "\n")
    return unicodedata.normalize("NFC", text)


def text_sha256(text: str) -> str:
    """The anchor of an annotation record: sha256 of the normalised text encoded as UTF-8."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _utf16_prefix(text: str) -> list[int]:
    """``prefix[i]`` is the number of UTF-16 code units in ``text[:i]``."""
    prefix = [0] * (len(text) + 1)
    units = 0
    for index, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        prefix[index + 1] = units
    return prefix


def codepoint_to_utf16(text: str, offsets: Sequence[int]) -> list[int]:
    """Convert code-point offsets into ``text`` to UTF-16 code-unit offsets."""
    if text.isascii() or all(ord(c) <= 0xFFFF for c in text):
        return [_checked(text, o, len(text)) for o in offsets]
    prefix = _utf16_prefix(text)
    return [prefix[_checked(text, o, len(text))] for o in offsets]


def utf16_to_codepoint(text: str, offsets: Sequence[int]) -> list[int]:
    """Convert UTF-16 code-unit offsets into ``text`` to code-point offsets.

    Raises ``ValueError`` for an offset outside the text or one that points into the middle of a
    surrogate pair (which no editor can produce for well-formed text).
    """
    if all(ord(c) <= 0xFFFF for c in text):
        return [_checked(text, o, len(text)) for o in offsets]
    prefix = _utf16_prefix(text)
    result = []
    for offset in offsets:
        _checked(text, offset, prefix[-1], unit="UTF-16 offset")
        index = bisect.bisect_left(prefix, offset)
        if prefix[index] != offset:
            raise ValueError(
                f"UTF-16 offset {offset} splits the surrogate pair of {text[index - 1]!r} "
                f"at code point {index - 1}"
            )
        result.append(index)
    return result


def _checked(text: str, offset: int, limit: int, unit: str = "offset") -> int:
    if not 0 <= offset <= limit:
        raise ValueError(f"{unit} {offset} is outside the text (length {limit})")
    return offset


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, order=True)
class Problem:
    """One finding of any stage: what is wrong, and exactly where it came from."""

    path: str
    line: int | None
    doc_id: str | None
    kind: str
    message: str
    severity: Severity = Severity.ERROR

    def format(self) -> str:
        """``path:line: doc_id: problem``, the form printed to stderr."""
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        doc = self.doc_id if self.doc_id is not None else "-"
        prefix = "" if self.severity is Severity.ERROR else "warning: "
        return f"{where}: {doc}: {prefix}{self.kind}: {self.message}"

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "line": self.line,
            "doc_id": self.doc_id,
            "kind": self.kind,
            "message": self.message,
            "severity": self.severity.value,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Problem":
        return cls(
            path=data["path"],
            line=data.get("line"),
            doc_id=data.get("doc_id"),
            kind=data["kind"],
            message=data["message"],
            severity=Severity(data.get("severity", "error")),
        )


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

    def text_in(self, document_text: str) -> str:
        return document_text[self.start : self.end]


@dataclass(frozen=True)
class Relation:
    id: str
    head: str
    tail: str
    label: str
    source: str


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
            for r in self.relations
        ]
        return record


def _entity_json(entity: Entity, record_source: str, document_text: str | None) -> dict[str, Any]:
    data: dict[str, Any] = {"id": entity.id, "start": entity.start, "end": entity.end, "label": entity.label}
    if document_text is not None:
        data["text"] = entity.text_in(document_text)
    if entity.source != record_source:
        data["source"] = entity.source
    return data


def record_from_json(data: dict[str, Any], *, layer: str, path: str, line: int) -> AnnotationRecord:
    """Build a record from JSON already checked against ``annotation.schema.json``."""
    source = data["source"]
    entities = tuple(
        Entity(id=e["id"], start=e["start"], end=e["end"], label=e["label"], source=e.get("source", source))
        for e in data.get("entities", [])
    )
    relations = tuple(
        Relation(id=r["id"], head=r["head"], tail=r["tail"], label=r["label"], source=r.get("source", source))
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
    """Pairs of entities whose spans share at least one code point (nested included)."""
    ordered = sorted(entities, key=lambda e: (e.start, e.end, e.id))
    pairs: list[tuple[Entity, Entity]] = []
    open_spans: list[Entity] = []
    for entity in ordered:
        open_spans = [o for o in open_spans if o.end > entity.start]
        pairs.extend((o, entity) for o in open_spans)
        open_spans.append(entity)
    return pairs
