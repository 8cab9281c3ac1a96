"""Reading ``schemas/``: the label schema (``labels.yaml``, checked against ``labels.schema.json``),
the JSON Schemas of the inputs and the rules for ids that they state, and the table suites
(``expectations.yaml``).

No label list lives in code: every stage asks a :class:`~pipeline.core.labels.LabelSchema` loaded here.
No id pattern lives in code either: the importers ask :func:`id_rules`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from pipeline.core.labels import DEFAULT_OVERLAP, LabelSchema, RelationType, SchemaError
from pipeline.io.tables import SCHEMAS


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
        overlap=data.get("overlap", DEFAULT_OVERLAP),
        entity_types=entity_types,
        relation_types=tuple(relation_types),
        descriptions=descriptions,
        path=str(path),
    )


def load_suites(path: str | Path, values: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The table suites of ``expectations.yaml`` (table → ``[{"type", "kwargs"}]``), every ``$``
    placeholder filled in from ``values`` (see :func:`pipeline.core.derived_columns.substitutions`).

    A ValueError names an unknown placeholder or a table that is not one of the published tables.
    """
    path = Path(path)
    with open(path, encoding="utf-8") as handle:
        suites = yaml.safe_load(handle)
    unknown = sorted(set(suites) - set(SCHEMAS))
    if unknown:
        raise ValueError(f"{path}: unknown table(s) {unknown}; the tables are {list(SCHEMAS)}")

    def fill(value: Any) -> Any:
        if isinstance(value, str) and value.startswith("$"):
            if value not in values:
                raise ValueError(f"{path}: unknown placeholder {value!r}; known: {sorted(values)}")
            return values[value]
        return value

    return {
        table: [{"type": spec["type"], "kwargs": {k: fill(v) for k, v in spec.get("kwargs", {}).items()}} for spec in specs]
        for table, specs in suites.items()
    }


#: The repository's ``schemas/`` folder (the package is used from a checkout, beside it).
SCHEMAS_DIR = Path(__file__).resolve().parents[2] / "schemas"


@dataclass(frozen=True)
class IdField:
    """What a JSON Schema allows for an id field: a pattern and a length range."""

    pattern: re.Pattern[str]
    min_length: int
    max_length: int

    def allows(self, value: str) -> bool:
        # JSON Schema's ``pattern`` matches anywhere unless anchored, as ``re.search`` does.
        return self.min_length <= len(value) <= self.max_length and self.pattern.search(value) is not None


@dataclass(frozen=True)
class IdRules:
    """The id fields of the input schemas, which importers must produce ids for."""

    document: IdField
    """``document.schema.json``: a document's ``id`` (its ``doc_id`` after ingest)."""
    item: IdField
    """``annotation.schema.json``: an entity's or relation's ``id`` inside a record."""


def _id_field(path: Path, pointer: str) -> IdField:
    with open(path, encoding="utf-8") as handle:
        node: Any = json.load(handle)
    for part in pointer.strip("/").split("/"):
        node = node.get(part) if isinstance(node, dict) else None
    if not isinstance(node, dict) or not isinstance(node.get("pattern"), str) or not isinstance(node.get("maxLength"), int):
        raise SchemaError(f"{path}: {pointer} must be a string field with a pattern and a maxLength (importers make ids that fit them)")
    return IdField(pattern=re.compile(node["pattern"]), min_length=int(node.get("minLength", 0)), max_length=node["maxLength"])


@cache
def id_rules(schemas_dir: Path = SCHEMAS_DIR) -> IdRules:
    """The id rules of ``document.schema.json`` and ``annotation.schema.json`` in ``schemas_dir``,
    read once per folder."""
    return IdRules(
        document=_id_field(schemas_dir / "document.schema.json", "/properties/id"),
        item=_id_field(schemas_dir / "annotation.schema.json", "/$defs/id"),
    )
