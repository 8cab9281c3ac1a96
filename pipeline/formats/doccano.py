"""doccano JSONL: import (every export shape doccano has written) and export (relation shape).

Shapes read, one JSON object per document (JSON Lines, or pretty-printed/concatenated objects):

* current (sequence labelling with relations, doccano >= 1.6):
  ``{"text", "entities": [{"id", "start_offset", "end_offset", "label"}], "relations": [{"id",
  "from_id", "to_id", "type"}]}``
* older sequence labelling: ``{"text", "label" | "labels": [[start, end, label], ...]}``
* doccano 1.x with annotators: ``{"id", "text", "annotations": [{"label", "start_offset",
  "end_offset", "user"}]}`` (labels may be the project's integer label ids: map them in the
  mapping file). With several users, each user's spans become their own layer
  (``imported/<name>-user-<id>``) unless ``--user`` picks one.

Offsets are UTF-16 code units by default (what doccano's editor writes); ``--offsets codepoint``
reads them as code points. The export's spans and relations are written by
:mod:`pipeline.doccano.shape`, the same writer that push uses (a pure module: no client, no server). The document id is ``meta.doc_id`` (written by our exporter), else the
example ``id``, else the record's position in the file.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pipeline.core.problems import Problem
from pipeline.doccano import shape
from pipeline.formats import ExportOptions
from pipeline.formats.build import ImportOptions, ImportResult, build_result, refresh_stats
from pipeline.formats.reading import decode, expand_paths, iter_json_values
from pipeline.formats.source import SourceDocument, SourceEntity, SourceRelation
from pipeline.io.jsonl import display_path
from pipeline.io.published import Corpus


def read(paths: Sequence[Path], options: ImportOptions) -> ImportResult:
    files = expand_paths(paths, (".jsonl", ".json"))
    values: list[tuple[str, int, str, Any]] = []
    for path in files:
        shown = display_path(path)
        for number, (line, value) in enumerate(iter_json_values(decode(path.read_bytes(), shown), shown), start=1):
            fallback_id = f"{path.stem}-{number:06d}" if len(files) > 1 else f"{number:06d}"
            values.append((shown, line, fallback_id, value))
    # Annotators are decided over the whole import: with several, each gets a layer everywhere.
    users = sorted(
        {
            str(a["user"])
            for *_, value in values
            if isinstance(value, dict)
            for a in _spans_of(value)
            if isinstance(a, dict) and a.get("user") is not None
        }
    )
    documents: list[SourceDocument] = []
    problems: list[Problem] = []
    skipped_users: Counter[str] = Counter()
    for shown, line, fallback_id, value in values:
        parsed = _parse(value, shown, line, fallback_id, options, users, skipped_users)
        if isinstance(parsed, Problem):
            problems.append(parsed)
        else:
            documents.append(parsed)
    result = build_result(documents, options)
    result.problems[:0] = problems
    result.stats["annotators"] = users
    if skipped_users:
        result.stats["skipped_other_users"] = dict(sorted(skipped_users.items()))
    refresh_stats(result)
    return result


def _spans_of(value: dict[str, Any]) -> list[Any]:
    for key in ("entities", "annotations"):
        if isinstance(value.get(key), list):
            return value[key]
    return []


def _parse(
    value: Any, path: str, line: int, fallback_id: str, options: ImportOptions, users: list[str], skipped_users: Counter[str]
) -> SourceDocument | Problem:
    if not isinstance(value, dict):
        return Problem(path, line, None, "not-an-object", f"expected a JSON object per document, got {type(value).__name__}")
    meta = dict(value["meta"]) if isinstance(value.get("meta"), dict) else {}
    source_id = meta.pop("doc_id", None)
    meta.pop("split", None)
    if source_id is None and value.get("id") is not None:
        source_id = str(value["id"])
    if "id" in value:
        meta["doccano_id"] = value["id"]
    if value.get("Comments"):
        meta["comments"] = value["Comments"]
    text = value.get("text", value.get("data"))
    if not isinstance(text, str):
        return Problem(path, line, source_id, "missing-text", "the record has no 'text' string; it is skipped")

    raw_entities: list[dict[str, Any]] = []
    if isinstance(value.get("entities"), list) or isinstance(value.get("annotations"), list):
        raw_entities = [e for e in _spans_of(value) if isinstance(e, dict)]
    else:
        spans = value.get("labels", value.get("label", []))
        if not isinstance(spans, list):
            return Problem(path, line, source_id, "bad-labels", "'label(s)' must be a list of [start, end, label]")
        for item in spans:
            if isinstance(item, (list, tuple)) and len(item) >= 3:
                raw_entities.append({"start_offset": item[0], "end_offset": item[1], "label": item[2]})
            else:
                return Problem(
                    path,
                    line,
                    source_id,
                    "unsupported-labels",
                    f"label {item!r} is not a span [start, end, label] (text classification is not imported); the record is skipped",
                )
    for entity in raw_entities:
        if (
            not all(isinstance(entity.get(k), int) and not isinstance(entity.get(k), bool) for k in ("start_offset", "end_offset"))
            or entity.get("label") is None
        ):
            return Problem(
                path,
                line,
                source_id,
                "bad-entity",
                f"entity {entity!r} needs integer start_offset/end_offset and a label; the record is skipped",
            )

    def layer_of(entity: dict[str, Any]) -> str | None:
        """The entity's layer; ``None`` when ``--user`` excludes it."""
        user = str(entity["user"]) if entity.get("user") is not None else None
        if options.user is not None:
            return "" if user in (options.user, None) else None
        if len(users) > 1 and user is not None:
            return f"user-{user}"
        return ""

    annotators: dict[str, str] = {}
    if options.user is not None:
        annotators[""] = f"doccano-user-{options.user}"
    elif len(users) > 1:
        annotators = {f"user-{u}": f"doccano-user-{u}" for u in users}
    elif users:
        annotators[""] = f"doccano-user-{users[0]}"
    present = {layer_of(e) for e in raw_entities} - {None}
    if (options.user is not None or len(users) > 1) and any(e.get("user") is not None for e in raw_entities):
        # only who annotated this document gets a record: an empty record would claim "no entities"
        layers: tuple[str, ...] = tuple(sorted(present))
    else:
        layers = ("",)

    entities: list[SourceEntity] = []
    entity_layer: dict[str, str] = {}
    for number, entity in enumerate(raw_entities, start=1):
        layer = layer_of(entity)
        if layer is None:
            skipped_users[str(entity["user"])] += 1
            continue
        entity_id = f"T{entity['id']}" if entity.get("id") is not None else f"T{number}"
        entity_layer[entity_id] = layer
        entities.append(SourceEntity(entity_id, entity["start_offset"], entity["end_offset"], str(entity["label"]), layer))
    relations: list[SourceRelation] = []
    for number, relation in enumerate(value.get("relations") or [], start=1):
        if not isinstance(relation, dict) or relation.get("from_id") is None or relation.get("to_id") is None:
            return Problem(
                path, line, source_id, "bad-relation", f"relation {relation!r} needs from_id, to_id and type; the record is skipped"
            )
        head, tail = f"T{relation['from_id']}", f"T{relation['to_id']}"
        label = relation.get("type", relation.get("label"))
        relation_id = f"R{relation['id']}" if relation.get("id") is not None else f"R{number}"
        relations.append(SourceRelation(relation_id, head, tail, str(label), entity_layer.get(head, "")))
    return SourceDocument(
        source_id=source_id if source_id is not None else fallback_id,
        text=text,
        path=path,
        line=line,
        offsets=options.offsets,
        entities=entities,
        relations=relations,
        meta=meta,
        layers=layers,
        annotators=annotators,
    )


# --------------------------------------------------------------------------- export


def write(corpus: Corpus, out: Path, options: ExportOptions) -> list[Path]:
    """One ``<split>.jsonl`` per split in doccano's relation-extraction shape. Entity ids are
    numbered 1..n in text order per document (an id ``T<n>`` keeps its number); offsets are
    UTF-16 code units unless ``options.offsets`` is ``codepoint``. ``meta`` carries ``doc_id``,
    ``split`` and the document's title, date and url."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for split in corpus.splits:
        path = out / f"{split}.jsonl"
        with open(path, "w", encoding="utf-8") as handle:
            for doc in corpus.split(split):
                handle.write(json.dumps(_line(doc, options), ensure_ascii=False) + "\n")
        written.append(path)
    return written


def _numbered(ids: Sequence[str], prefix: str) -> dict[str, int]:
    """``T3`` → 3 when every id has that form and the numbers are unique; else 1..n in order."""
    numbers = {}
    for value in ids:
        if value.startswith(prefix) and value[len(prefix) :].isdigit():
            numbers[value] = int(value[len(prefix) :])
    if len(numbers) == len(ids) and len(set(numbers.values())) == len(ids):
        return numbers
    return {value: index for index, value in enumerate(ids, start=1)}


def _line(doc: Any, options: ExportOptions) -> dict[str, Any]:
    entity_ids = _numbered([e.id for e in doc.entities], "T")
    relation_ids = _numbered([r.id for r in doc.relations], "R")
    entities, relations = shape.annotations(
        doc.text,
        [(entity_ids[e.id], e.start, e.end, e.label) for e in doc.entities],
        [(relation_ids[r.id], entity_ids[r.head], entity_ids[r.tail], r.label) for r in doc.relations],
        utf16=options.offsets == "utf16",
    )
    meta: dict[str, Any] = {"doc_id": doc.doc_id, "split": doc.split}
    for key in ("title", "date", "url"):
        if getattr(doc, key) is not None:
            meta[key] = getattr(doc, key)
    return {"text": doc.text, "entities": entities, "relations": relations, "meta": meta}
