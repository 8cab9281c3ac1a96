"""Label mappings: a source's labels → the labels of our label schema (``schemas/mappings/*.yaml``).

Every source label must be mapped, to a label or to null (an explicit, counted drop); an unmapped
label stops the import before anything is written (:func:`check_mapping`).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pipeline.core.labels import LabelSchema
from pipeline.formats import ImportFailed
from pipeline.formats.source import SourceDocument
from pipeline.io.schemas import load_label_schema

RelationTarget = str | None | dict[str, str | None]


@dataclass(frozen=True)
class LabelMapping:
    """Foreign labels → labels of the target label schema; ``None`` is an explicit drop.

    Relation values are a label, ``None``, or a table keyed by ``HEAD>TAIL`` (target entity
    labels, ``*`` for any) for relation types whose meaning depends on the argument types.
    ``identity`` mappings (no file) map every label of the target schema onto itself.
    """

    path: str | None
    label_schema: str
    entities: dict[str, str | None]
    relations: dict[str, RelationTarget]
    options: dict[str, Any] = field(default_factory=dict)
    identity: bool = False
    corpus: str | None = None

    def entity(self, label: str) -> str | None:
        """The target label; ``KeyError`` when the mapping does not mention ``label``."""
        return self.entities[label]

    def has_entity(self, label: str) -> bool:
        return label in self.entities

    def has_relation(self, label: str) -> bool:
        return label in self.relations

    def relation(self, label: str, head: str, tail: str) -> str | None:
        """The target relation label for ``label`` between target entity types ``head``/``tail``;
        ``KeyError`` when neither the label nor the pair is mapped."""
        target = self.relations[label]
        if not isinstance(target, dict):
            return target
        for key in (f"{head}>{tail}", f"{head}>*", f"*>{tail}", "*"):
            if key in target:
                return target[key]
        raise KeyError(f"{label} {head}>{tail}")


def _label_key(key: Any, path: str, section: str) -> str:
    if isinstance(key, bool) or key is None:
        raise ImportFailed(f"{path}: {section}: key {key!r} was read as a YAML boolean/null; quote it (e.g. 'no': ...)")
    return str(key)


def load_mapping(path: str | Path | None, default_schema: str | Path) -> tuple[LabelMapping, LabelSchema]:
    """Read a mapping file (``schemas/mappings/<corpus>.yaml``) and the label schema it maps onto.

    Every target label must exist in that schema; otherwise :class:`ImportFailed` lists them all.
    Without a file, the identity mapping onto ``default_schema`` is returned.
    """
    if path is None:
        schema = load_label_schema(default_schema)
        mapping = LabelMapping(
            path=None,
            label_schema=str(default_schema),
            entities={t: t for t in schema.entity_types},
            relations={r: r for r in schema.relation_names},
            identity=True,
        )
        return mapping, schema
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as error:
        raise ImportFailed(f"{path}: cannot read the mapping file: {error}") from None
    if not isinstance(data, dict):
        raise ImportFailed(f"{path}: a mapping file is a YAML mapping with 'entities' and 'relations'")
    unknown_keys = sorted(set(data) - {"corpus", "description", "label_schema", "entities", "relations", "options"})
    if unknown_keys:
        raise ImportFailed(f"{path}: unknown keys {unknown_keys}")
    schema_path = data.get("label_schema") or str(default_schema)
    schema = load_label_schema(schema_path)
    entities: dict[str, str | None] = {}
    for key, value in (data.get("entities") or {}).items():
        if value is not None and not isinstance(value, str):
            raise ImportFailed(f"{path}: entities: {key!r} must map to a label or null, not {value!r}")
        entities[_label_key(key, str(path), "entities")] = value
    relations: dict[str, RelationTarget] = {}
    for key, value in (data.get("relations") or {}).items():
        label = _label_key(key, str(path), "relations")
        if isinstance(value, dict):
            table: dict[str, str | None] = {}
            for pair, target in value.items():
                pair = str(pair)
                if pair != "*" and not re.fullmatch(r"[^>\s]+>[^>\s]+", pair):
                    raise ImportFailed(f"{path}: relations: {label}: key {pair!r} must be HEAD>TAIL or '*'")
                if target is not None and not isinstance(target, str):
                    raise ImportFailed(f"{path}: relations: {label}: {pair} must map to a label or null")
                table[pair] = target
            relations[label] = table
        elif value is None or isinstance(value, str):
            relations[label] = value
        else:
            raise ImportFailed(f"{path}: relations: {label!r} must map to a label, null or a HEAD>TAIL table")
    bad_entities = sorted({v for v in entities.values() if v is not None and v not in schema.entity_types})
    targets: set[str] = set()
    for value in relations.values():
        targets.update(v for v in (value.values() if isinstance(value, dict) else [value]) if v is not None)
    bad_relations = sorted(t for t in targets if t not in schema.relation_names)
    if bad_entities or bad_relations:
        raise ImportFailed(
            f"{path}: maps onto labels that {schema_path} does not define: "
            + "; ".join(
                part
                for part in (
                    f"entity types {bad_entities} (known: {list(schema.entity_types)})" if bad_entities else "",
                    f"relation types {bad_relations} (known: {list(schema.relation_names)})" if bad_relations else "",
                )
                if part
            )
        )
    options = data.get("options") or {}
    if not isinstance(options, dict):
        raise ImportFailed(f"{path}: options must be a mapping")
    return (
        LabelMapping(
            path=str(path),
            label_schema=str(schema_path),
            entities=entities,
            relations=relations,
            options=options,
            corpus=data.get("corpus"),
        ),
        schema,
    )


def _labels_in(documents: Sequence[SourceDocument]) -> tuple[Counter[str], Counter[str], dict[str, str]]:
    entity_labels: Counter[str] = Counter()
    relation_labels: Counter[str] = Counter()
    first_seen: dict[str, str] = {}
    for doc in documents:
        where = doc.path if doc.line is None else f"{doc.path}:{doc.line}"
        for entity in doc.entities:
            entity_labels[entity.label] += 1
            first_seen.setdefault(f"e:{entity.label}", where)
        for relation in doc.relations:
            relation_labels[relation.label] += 1
            first_seen.setdefault(f"r:{relation.label}", where)
    return entity_labels, relation_labels, first_seen


def check_mapping(documents: Sequence[SourceDocument], mapping: LabelMapping) -> None:
    """Every source label must be mapped (to a label or to null); otherwise list all that are not."""
    entity_labels, relation_labels, first_seen = _labels_in(documents)
    unmapped_entities = sorted(label for label in entity_labels if not mapping.has_entity(label))
    unmapped_relations = sorted(label for label in relation_labels if not mapping.has_relation(label))
    if not (unmapped_entities or unmapped_relations):
        return
    where = mapping.path or f"the identity mapping onto {mapping.label_schema} (no --mapping given)"
    lines = [f"labels not covered by {where}; map each to a label or to null:"]
    lines += [f"  entity label {label!r} ({entity_labels[label]}×, first at {first_seen['e:' + label]})" for label in unmapped_entities]
    lines += [
        f"  relation label {label!r} ({relation_labels[label]}×, first at {first_seen['r:' + label]})" for label in unmapped_relations
    ]
    raise ImportFailed("\n".join(lines))
