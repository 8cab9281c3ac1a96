"""The label schema and the JSON Schemas, read from ``schemas/`` at run time.

No label list lives in code: every stage asks a :class:`LabelSchema` loaded from data.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator

import jsonschema
import yaml


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
            "relation_types": {
                r.name: {"head": list(r.head), "tail": list(r.tail), "symmetric": r.symmetric}
                for r in self.relation_types
            },
            "bio_labels": list(self.bio_labels),
        }


class JsonSchemaValidator:
    """Draft 2020-12 validation: jsonschema-rs decides (about 200x faster), and only for an
    invalid instance does the reference implementation enumerate the errors, so the messages
    stay those of ``jsonschema`` (paths like ``$.entities[0].start``)."""

    def __init__(self, schema: dict[str, Any]) -> None:
        import jsonschema_rs

        validator_class = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
        validator_class.check_schema(schema)
        self.reference = validator_class(schema)
        self.fast = jsonschema_rs.validator_for(schema)

    def iter_errors(self, instance: Any) -> Iterator[jsonschema.ValidationError]:
        if self.fast.is_valid(instance):
            return iter(())
        return self.reference.iter_errors(instance)


def load_json_schema(path: str | Path) -> JsonSchemaValidator:
    """A draft 2020-12 validator for the JSON Schema at ``path``."""
    with open(path, encoding="utf-8") as handle:
        return JsonSchemaValidator(json.load(handle))


def load_label_schema(path: str | Path, meta_schema: str | Path | None = None) -> LabelSchema:
    """Read ``labels.yaml``, check it against ``labels.schema.json`` and its own consistency."""
    path = Path(path)
    meta_schema = Path(meta_schema) if meta_schema else path.with_name("labels.schema.json")
    with open(path, encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    errors = sorted(load_json_schema(meta_schema).iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        error = errors[0]
        raise SchemaError(f"{path}: at {error.json_path}: {error.message}")
    entity_types = tuple(data["entity_types"])
    relation_types = []
    for name, spec in data["relation_types"].items():
        for role in ("head", "tail"):
            unknown = [t for t in spec[role] if t not in entity_types]
            if unknown:
                raise SchemaError(f"{path}: relation type {name!r} allows unknown {role} type(s) {unknown}")
        relation_types.append(
            RelationType(
                name=name,
                head=tuple(spec["head"]),
                tail=tuple(spec["tail"]),
                symmetric=bool(spec.get("symmetric", False)),
                description=spec["description"].strip(),
            )
        )
    descriptions = {name: spec["description"].strip() for name, spec in data["entity_types"].items()}
    return LabelSchema(
        schema_version=data["schema_version"],
        overlap=data.get("overlap", "none"),
        entity_types=entity_types,
        relation_types=tuple(relation_types),
        descriptions=descriptions,
        path=str(path),
    )


@lru_cache(maxsize=None)
def cached_label_schema(path: str) -> LabelSchema:
    return load_label_schema(path)
