"""The label schema: entity types, relation types with their allowed head and tail types, overlap.

Data, not code: loaded from ``schemas/labels.yaml`` by :func:`pipeline.io.schemas.load_label_schema`;
no label list lives anywhere else. Pure: touches no files.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

OVERLAPS = ("none", "nested", "any")
"""What ``overlap`` in ``labels.yaml`` may say: no two spans of a record overlap (``none``); one may
lie inside another, sharing a boundary or not (``nested``); any two may overlap, crossing too (``any``)."""

DEFAULT_OVERLAP = "nested"
"""The value when ``labels.yaml`` names none: news NER is nested (GermEval 2014's inner level,
HIPE-2022's nested column, MobIE's stops and streets inside longer names), crossing spans are not."""


class SchemaError(ValueError):
    """The label schema or a JSON Schema file is itself invalid."""


@dataclass(frozen=True)
class RelationType:
    name: str
    head: tuple[str, ...]
    tail: tuple[str, ...]
    symmetric: bool
    description: str

    def allows(self, head_label: str, tail_label: str) -> bool:
        if head_label in self.head and tail_label in self.tail:
            return True
        return self.symmetric and tail_label in self.head and head_label in self.tail


@dataclass(frozen=True)
class LabelSchema:
    schema_version: str
    overlap: str
    entity_types: tuple[str, ...]
    relation_types: tuple[RelationType, ...]
    descriptions: dict[str, str]
    path: str

    def __post_init__(self) -> None:
        if self.overlap not in OVERLAPS:
            raise SchemaError(f"{self.path}: overlap {self.overlap!r} is not one of {list(OVERLAPS)}")

    @property
    def relation_names(self) -> tuple[str, ...]:
        return tuple(r.name for r in self.relation_types)

    def relation(self, name: str) -> RelationType | None:
        return next((r for r in self.relation_types if r.name == name), None)

    @property
    def bio_labels(self) -> tuple[str, ...]:
        """``O`` then ``B-X``, ``I-X`` for each entity type in schema order: the ClassLabel names."""
        return ("O",) + tuple(f"{prefix}-{t}" for t in self.entity_types for prefix in ("B", "I"))

    def to_metadata(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "entity_types": list(self.entity_types),
            "relation_types": {r.name: {"head": list(r.head), "tail": list(r.tail), "symmetric": r.symmetric} for r in self.relation_types},
            "bio_labels": list(self.bio_labels),
        }
