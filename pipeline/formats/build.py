"""Building an import: source documents → normalised documents, annotation records and problems.

:func:`build_result` turns what an adapter read (:mod:`pipeline.formats.source`) into an
:class:`ImportResult`: offsets become code points into ``normalise_text(text)`` (the source's unit →
code points, then raw → normalised with :class:`~pipeline.core.text.OffsetMap`), labels go through
the :class:`~pipeline.formats.mapping.LabelMapping`, ids are made valid
(:mod:`pipeline.formats.ids`), and nothing is changed or dropped without being counted or reported.
One document is built in three steps: its entities, its relations, then one record per layer.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from pipeline.core.labels import LabelSchema
from pipeline.core.problems import Problem, Severity
from pipeline.core.segment import PARAGRAPH_BREAK
from pipeline.core.spans import AnnotationRecord, Document, Entity, Relation, overlapping_pairs
from pipeline.core.text import OffsetMap, text_sha256, to_codepoints
from pipeline.formats import ImportFailed
from pipeline.formats.ids import IdMaker, make_doc_id
from pipeline.formats.mapping import LabelMapping, check_mapping
from pipeline.formats.source import MAIN_LAYER, SourceDocument
from pipeline.io.schemas import IdRules, id_rules

log = logging.getLogger(__name__)

#: Error kinds whose item is written anyway (``validate`` rejects it); every other error means the
#: item was skipped.
KEPT_INVALID = frozenset({"whitespace-span", "overlapping-spans", "relation-type-violation"})


def _short(span: str, limit: int = 60) -> str:
    return span if len(span) <= limit else span[: limit - 10] + "…" + span[-9:]


@dataclass
class ImportOptions:
    name: str
    mapping: LabelMapping
    schema: LabelSchema
    offsets: str = "utf16"
    id_prefix: str | None = None
    strip_whitespace: bool = False
    user: str | None = None
    limit: int | None = None
    ids: IdRules = field(default_factory=id_rules)
    """What a valid document, entity and relation id is (from ``schemas/``)."""

    @property
    def prefix(self) -> str:
        return f"{self.name}-" if self.id_prefix is None else self.id_prefix

    @property
    def source(self) -> str:
        return f"imported:{self.name}"

    def layer(self, sublayer: str) -> str:
        return f"imported/{self.name}" if sublayer == MAIN_LAYER else f"imported/{self.name}-{sublayer}"


@dataclass
class ImportResult:
    """What an import produced: documents, annotation records, problems, counts and side tables."""

    name: str
    documents: list[Document] = field(default_factory=list)
    records: list[AnnotationRecord] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)
    record_meta: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    extras: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity is Severity.ERROR]

    def records_of(self, layer: str) -> list[AnnotationRecord]:
        return [r for r in self.records if r.layer == layer]

    @property
    def layers(self) -> list[str]:
        return sorted({r.layer for r in self.records})


def build_result(documents: Iterable[SourceDocument], options: ImportOptions) -> ImportResult:
    """Normalise, convert, map and check ``documents``; see the module docstring."""
    documents = list(documents)
    if options.limit is not None:
        documents = documents[: options.limit]
    check_mapping(documents, options.mapping)
    result = ImportResult(name=options.name)
    stats = _Stats()
    seen_ids: dict[str, str] = {}
    unmapped_pairs: Counter[str] = Counter()
    rule = options.ids.document
    for index, source in enumerate(documents, start=1):
        where = source.path if source.line is None else f"{source.path}:{source.line}"
        doc_id = make_doc_id(options.prefix, source.source_id if source.source_id is not None else f"{index:06d}", rule)
        if not rule.allows(doc_id):
            result.problems.append(Problem(source.path, source.line, doc_id, "bad-doc-id", f"document id {doc_id!r} does not match {rule.pattern.pattern} or is longer than {rule.max_length}"))
            continue
        if doc_id in seen_ids:
            result.problems.append(Problem(source.path, source.line, doc_id, "duplicate-doc-id", f"document id already used at {seen_ids[doc_id]}; this document is skipped"))
            continue
        seen_ids[doc_id] = where
        _build_document(source, doc_id, options, result, stats, unmapped_pairs)
    if unmapped_pairs:
        where = options.mapping.path or "the identity mapping"
        raise ImportFailed(
            f"relation argument types not covered by {where}; add HEAD>TAIL keys (or '*') for:\n"
            + "\n".join(f"  {pair} ({count}×)" for pair, count in sorted(unmapped_pairs.items()))
        )
    result.stats = stats.as_dict(result)
    dropped = result.stats["dropped_by_mapping"]
    for what, counts in dropped.items():
        if counts:
            log.info("import %s: dropped by the mapping (null), %s: %s", options.name, what.replace("_", " "), counts)
    return result


@dataclass
class _Stats:
    dropped_entities: Counter[str] = field(default_factory=Counter)
    dropped_relations: Counter[str] = field(default_factory=Counter)
    relations_without_argument: Counter[str] = field(default_factory=Counter)
    stripped: int = 0
    whitespace_only: int = 0
    merged_duplicates: int = 0
    source_entities: int = 0
    source_relations: int = 0

    def as_dict(self, result: ImportResult) -> dict[str, Any]:
        layers: dict[str, dict[str, int]] = {}
        for record in result.records:
            entry = layers.setdefault(record.layer, {"records": 0, "entities": 0, "relations": 0})
            entry["records"] += 1
            entry["entities"] += len(record.entities)
            entry["relations"] += len(record.relations)
        return {
            "documents": len(result.documents),
            "source_entities": self.source_entities,
            "source_relations": self.source_relations,
            "layers": dict(sorted(layers.items())),
            "dropped_by_mapping": {
                "entities": dict(sorted(self.dropped_entities.items())),
                "relations": dict(sorted(self.dropped_relations.items())),
                "relations_with_dropped_argument": dict(sorted(self.relations_without_argument.items())),
            },
            "changed": {
                "whitespace_stripped": self.stripped,
                "whitespace_only_skipped": self.whitespace_only,
                "duplicate_entities_merged": self.merged_duplicates,
            },
            **_problem_counts(result),
        }


def _problem_counts(result: ImportResult) -> dict[str, Any]:
    return {"problems": dict(sorted(Counter(p.kind for p in result.problems).items())), "errors": len(result.errors)}


#: ``report(kind, message, severity=ERROR)``: one problem of the document being built.
_Report = Callable[..., None]


@dataclass
class _Built:
    """One document's entities and relations by layer, as far as they are built."""

    kept: dict[tuple[str, str], Entity] = field(default_factory=dict)
    """(layer, source id) → the entity it became."""
    gone: dict[tuple[str, str], str] = field(default_factory=dict)
    """(layer, source id) → why it is not kept: ``error``, ``mapped-to-null`` or ``stripped-away``."""
    entities: dict[str, list[Entity]] = field(default_factory=lambda: defaultdict(list))
    entity_meta: dict[str, dict[str, dict[str, Any]]] = field(default_factory=lambda: defaultdict(dict))
    relations: dict[str, list[Relation]] = field(default_factory=lambda: defaultdict(list))


def _build_document(
    source: SourceDocument,
    doc_id: str,
    options: ImportOptions,
    result: ImportResult,
    stats: _Stats,
    unmapped_pairs: Counter[str],
) -> None:
    def problem(kind: str, message: str, severity: Severity = Severity.ERROR) -> None:
        result.problems.append(Problem(source.path, source.line, doc_id, kind, message, severity))

    text_map = OffsetMap(source.text)
    text = text_map.text
    if not text.strip():
        problem("empty-document", "the document has no text after normalisation; it is skipped")
        return
    source.doc_id = doc_id
    origin = Path(source.path).name + (f":{source.line}" if source.line is not None else "")
    result.documents.append(
        Document(
            doc_id=doc_id,
            text=text,
            source=origin,
            title=source.title,
            date=source.date,
            url=source.url,
            # where the document came from, kept in the seeds (ingest names the seed file instead)
            meta={**source.meta, "imported_from": f"{options.source} {origin}"},
        )
    )
    stats.source_entities += len(source.entities)
    stats.source_relations += len(source.relations)
    built = _Built()
    _build_entities(source, text_map, options, stats, built, problem)
    _build_relations(source, options, stats, unmapped_pairs, built, problem)
    _build_records(source, doc_id, text, options, result, built, problem)


def _build_entities(source: SourceDocument, text_map: OffsetMap, options: ImportOptions, stats: _Stats, built: _Built, problem: _Report) -> None:
    """Entities: offsets, text checks, mapping, whitespace, paragraph breaks, duplicates."""
    text = text_map.text
    makers: dict[str, IdMaker] = defaultdict(lambda: IdMaker("T", options.ids.item))
    kept, gone = built.kept, built.gone
    span_index: dict[tuple[str, int, int, str], Entity] = {}
    for number, source_entity in enumerate(source.entities, start=1):
        layer = source_entity.layer
        key = (layer, source_entity.id if source_entity.id is not None else f"#{number}")
        label = source_entity.label
        what = f"entity {source_entity.id or number} {label!r} [{source_entity.start}, {source_entity.end})"
        try:
            raw_start, raw_end = to_codepoints(source.text, [source_entity.start, source_entity.end], source.offsets)
            start, end = text_map.map([raw_start, raw_end])
        except ValueError as error:
            problem("bad-offset", f"{what} ({source.offsets}): {error}; the entity is skipped")
            gone[key] = "error"
            continue
        if source_entity.text is not None and source.text[raw_start:raw_end] != source_entity.text:
            problem("span-text-mismatch", f"{what}: the source says {source_entity.text!r} but the text has {source.text[raw_start:raw_end]!r} there; the entity is skipped")
            gone[key] = "error"
            continue
        target = options.mapping.entity(label)
        if target is None:
            stats.dropped_entities[label] += 1
            gone[key] = "mapped-to-null"
            continue
        if start >= end:
            problem("empty-span", f"{what} is empty; the entity is skipped")
            gone[key] = "error"
            continue
        span = text[start:end]
        padded = span != span.strip()
        if padded and options.strip_whitespace:
            lead = len(span) - len(span.lstrip())
            trail = len(span) - len(span.rstrip())
            if lead + trail >= len(span):
                problem("whitespace-only-span", f"{what} {span!r} is only whitespace; nothing is left after --strip-whitespace, the entity is skipped", Severity.WARNING)
                stats.whitespace_only += 1
                gone[key] = "stripped-away"
                continue
            start, end = start + lead, end - trail
        if PARAGRAPH_BREAK.search(text[start:end]):
            problem("entity-crosses-paragraph", f"{what} {_short(text[start:end])!r} spans a paragraph break (a blank line), which no entity of the corpus may do; the entity is skipped")
            gone[key] = "error"
            continue
        if padded and options.strip_whitespace:
            problem("whitespace-stripped", f"{what} {span!r} → {span.strip()!r} (--strip-whitespace)", Severity.WARNING)
            stats.stripped += 1
        elif padded:
            problem("whitespace-span", f"{what} {span!r} has leading or trailing whitespace; kept as is (validate rejects it; use --strip-whitespace to strip it)")
        duplicate = span_index.get((layer, start, end, target))
        if duplicate is not None:
            problem("duplicate-entity", f"{what} repeats entity {duplicate.id} (same span and label); merged into it", Severity.WARNING)
            stats.merged_duplicates += 1
            kept[key] = duplicate
            continue
        entity = Entity(id=makers[layer].make(source_entity.id), start=start, end=end, label=target, source=options.source)
        span_index[(layer, start, end, target)] = entity
        kept[key] = entity
        built.entities[layer].append(entity)
        if source_entity.meta:
            built.entity_meta[layer][entity.id] = source_entity.meta


def _build_relations(source: SourceDocument, options: ImportOptions, stats: _Stats, unmapped_pairs: Counter[str], built: _Built, problem: _Report) -> None:
    """Relations: arguments, mapping, self-relations and duplicates, type constraints."""
    relation_makers: dict[str, IdMaker] = defaultdict(lambda: IdMaker("R", options.ids.item))
    kept, gone = built.kept, built.gone
    seen_relations: dict[tuple[str, str, str, str], str] = {}
    for number, source_relation in enumerate(source.relations, start=1):
        layer = source_relation.layer
        what = f"relation {source_relation.id or number} {source_relation.label!r}"
        keys = [(layer, source_relation.head), (layer, source_relation.tail)]
        reasons = [gone.get(k) for k in keys]
        if any(k not in kept and k not in gone for k in keys):
            missing = [k[1] for k in keys if k not in kept and k not in gone]
            problem("missing-argument", f"{what} refers to {missing}, not an entity of this document (layer {options.layer(layer)}); the relation is skipped")
            continue
        if "mapped-to-null" in reasons:
            stats.relations_without_argument[source_relation.label] += 1
            continue
        if "error" in reasons or "stripped-away" in reasons:
            problem("argument-skipped", f"{what}: an argument was skipped (see the problem above); the relation is skipped too", Severity.WARNING)
            continue
        head, tail = kept[keys[0]], kept[keys[1]]
        try:
            target = options.mapping.relation(source_relation.label, head.label, tail.label)
        except KeyError:
            unmapped_pairs[f"{source_relation.label}: {head.label}>{tail.label}"] += 1
            continue
        if target is None:
            stats.dropped_relations[source_relation.label] += 1
            continue
        if head.id == tail.id:
            problem("self-relation", f"{what} has the same entity {head.id} as head and tail; skipped", Severity.WARNING)
            continue
        rtype = options.schema.relation(target)
        key = (layer, target, head.id, tail.id)
        reverse = (layer, target, tail.id, head.id)
        if key in seen_relations or (rtype is not None and rtype.symmetric and reverse in seen_relations):
            other = seen_relations.get(key) or seen_relations[reverse]
            problem("duplicate-relation", f"{what} repeats relation {other} ({target}); skipped", Severity.WARNING)
            continue
        relation = Relation(id=relation_makers[layer].make(source_relation.id), head=head.id, tail=tail.id, label=target, source=options.source)
        seen_relations[key] = relation.id
        if rtype is not None and not rtype.allows(head.label, tail.label):
            problem(
                "relation-type-violation",
                f"{what} → {target}({head.label} {head.id}, {tail.label} {tail.id}) is not allowed: {target} takes head "
                f"{list(rtype.head)} and tail {list(rtype.tail)}; kept (validate rejects it; map this pair to null or another type)",
            )
        built.relations[layer].append(relation)


def _build_records(source: SourceDocument, doc_id: str, text: str, options: ImportOptions, result: ImportResult, built: _Built, problem: _Report) -> None:
    """One record per layer (the document's own layers even when empty), with overlap checks."""
    schema = options.schema
    sha = text_sha256(text)
    layers = list(source.layers) + sorted(set(built.entities) - set(source.layers))
    for layer in layers:
        entities = sorted(built.entities.get(layer, []), key=lambda e: (e.start, e.end, e.id))
        if schema.overlap != "any":
            for first, second in overlapping_pairs(entities):
                nested = first.start <= second.start and second.end <= first.end
                if schema.overlap == "nested" and nested:
                    continue
                problem(
                    "overlapping-spans",
                    f"entity {second.id} [{second.start}, {second.end}) {'nests in' if nested else 'overlaps'} entity {first.id} "
                    f"[{first.start}, {first.end}) in layer {options.layer(layer)}; the label schema allows overlap: {schema.overlap}",
                )
        layer_name = options.layer(layer)
        record = AnnotationRecord(
            doc_id=doc_id,
            text_sha256=sha,
            source=options.source,
            layer=layer_name,
            entities=tuple(entities),
            relations=tuple(built.relations.get(layer, [])),
            path=f"corpus/annotations/{layer_name}/{layer_name.rsplit('/', 1)[-1]}.jsonl",
            line=0,
            annotator=source.annotators.get(layer),
        )
        result.records.append(record)
        if built.entity_meta.get(layer):
            result.record_meta[(layer_name, doc_id)] = {"entities": built.entity_meta[layer]}


def refresh_stats(result: ImportResult) -> None:
    """Recount problems after an adapter added its own (parse problems, side-table problems)."""
    result.stats.update(_problem_counts(result))
