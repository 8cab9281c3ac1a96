"""Building an import: source documents → normalised documents, annotation records and problems.

:func:`build_result` turns what an adapter read (:mod:`pipeline.formats.source`) into an
:class:`ImportResult`: offsets become code points into ``normalise_text(text)`` (the source's unit →
code points, then raw → normalised with :class:`~pipeline.core.text.OffsetMap`), labels go through
the :class:`~pipeline.formats.mapping.LabelMapping`, ids are made valid
(:mod:`pipeline.formats.ids`), and nothing is changed or dropped without being counted or reported.
One document is built in three steps: its entities, its relations, then one record per layer.

Checks: annotate's rules, the importer's policy
----------------------------------------------
Every check the importer shares with ``annotate`` is a rule of :mod:`pipeline.core.checks`, called
on the entity or relation as it will be written (the record's ids, code points into the
normalised text) with a :class:`~pipeline.core.checks.Site` naming the source file and line and
the new document id, so each problem kind has one message, made in one place, and validating the
written record would report the same text. The importer adds only where the item came from, in
parentheses and only what differs from the item itself (the source's id, label and offsets; the
layer unless it is the main one), and what it did with the item, after a semicolon::

    doc1.ann: b-doc1: overlapping-spans: entity T2 [5, 14) overlaps entity T1 [0, 9); the label schema allows overlap: none; kept: validate rejects it

An item the importer skips gets no id in the record: it is named by its source id, or ``#<n>``
(its position in the source document) when the source has none. A span text the source stores
(BRAT) is compared as a record's is: normalised, with the normalised text at the converted offsets.

:data:`POLICY` says per kind what the importer does with the item and how the problem counts
(the same table is in ``docs/formats.md``; a test keeps the three equal)::

    kind                        does      severity  message made by
    bad-doc-id                  skipped   error     importer (the whole document)
    duplicate-doc-id            skipped   error     importer (the whole document)
    empty-document              skipped   error     importer (the whole document)
    bad-offset                  skipped   error     importer (an offset the source's unit cannot convert)
    empty-span                  skipped   error     core.checks.range_problem
    span-text-mismatch          skipped   error     core.checks.span_text_problem
    entity-crosses-paragraph    skipped   error     core.checks.crosses_paragraph_problem
    whitespace-span             kept      error     core.checks.whitespace_problem
    whitespace-stripped         stripped  warning   core.checks.whitespace_problem (--strip-whitespace)
    whitespace-only-span        skipped   warning   core.checks.whitespace_problem (--strip-whitespace, nothing left)
    duplicate-entity            merged    warning   importer (same layer, span and label)
    overlapping-spans           kept      error     core.checks.overlap_problems (--overlaps error, the default)
    overlap-resolved            skipped   warning   core.checks.overlap_problems (--overlaps keep-longest|keep-first)
    missing-argument            skipped   error     core.checks.missing_argument_problem
    argument-skipped            skipped   warning   importer (the argument's own problem is reported)
    self-relation               kept      error     core.checks.self_relation_problem
    duplicate-relation-merged   merged    warning   core.checks.RelationRepeats (duplicate-relation)
    symmetric-duplicate-merged  merged    warning   core.checks.RelationRepeats (symmetric-duplicate)
    relation-type-violation     kept      error     core.checks.relation_type_problem

The rule behind it: a kind that ``annotate`` rejects is an error here too, unless the importer
repairs the item (merges an exact repeat, strips whitespace when asked to); a repair is reported
under a kind of its own, as a warning, and counted in the report (``changed``). An error item is
**skipped** when the source is broken there (its offsets, span or text say nothing clear, or its
argument is missing) and **kept** when it is a clear annotation that our label schema or
guidelines reject, so that ``validate`` rejects it until the mapping, the source or the options
are fixed. Nothing is skipped silently: every skipped item is a reported problem, counted by kind
in the report (items mapped to null are counted per label instead).

Overlaps and levels
-------------------
Every nesting level of a source document goes into the same record (GermEval's inner column,
HIPE's ``NE-NESTED``, MobIE's nested spans). An overlap the label schema does not allow (a
crossing one under ``overlap: nested``) is handled by ``--overlaps`` (:data:`ImportOptions.overlaps`):
``error`` (the default) keeps both and reports each pair, ``keep-longest`` and ``keep-first`` keep
one of the pair (:func:`pipeline.core.checks.resolve_overlaps`) and report the other as
``overlap-resolved``; a relation to a dropped entity is dropped too (``argument-skipped``).

The report counts every source span by level and source label (``stats["levels"]``): how many the
source had, how many were written, and why each other one is missing (:data:`DROP_REASONS`), so
that ``source == published + sum(dropped)`` holds per level and label. The level is the source's
(GermEval's and HIPE's columns) or, for a source without level columns, where the span nests among
the document's source spans (:func:`pipeline.core.spans.nesting`).

The module is over 400 lines because the policy and the three steps that apply it are one piece
and read best together.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pipeline.core.checks import (
    OVERLAP_POLICIES,
    RelationRepeats,
    Site,
    crosses_paragraph_problem,
    missing_argument_problem,
    overlap_problems,
    range_problem,
    relation_type_problem,
    resolve_overlaps,
    self_relation_problem,
    span_text_problem,
    where_entity,
    whitespace_problem,
)
from pipeline.core.labels import LabelSchema
from pipeline.core.problems import Problem, Severity
from pipeline.core.segment import PARAGRAPH_BREAK
from pipeline.core.spans import AnnotationRecord, Document, Entity, Relation, nesting
from pipeline.core.text import OffsetMap, normalise_text, text_sha256, to_codepoints
from pipeline.formats import ImportFailed
from pipeline.formats.ids import IdMaker, make_doc_id
from pipeline.formats.mapping import LabelMapping, check_mapping
from pipeline.formats.source import MAIN_LAYER, SourceDocument, SourceEntity, SourceRelation
from pipeline.io.schemas import IdRules, id_rules

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Policy:
    """What the importer does with an item that has a problem of one kind: ``skipped`` (not
    written), ``kept`` (written as it is: ``validate`` rejects it), ``merged`` into the item it
    repeats or ``stripped`` of its whitespace; and how the problem counts."""

    does: str
    severity: Severity


_E, _W = Severity.ERROR, Severity.WARNING
#: kind → policy, for every problem :func:`build_result` reports (see the module docstring).
POLICY: dict[str, Policy] = {
    "bad-doc-id": Policy("skipped", _E),
    "duplicate-doc-id": Policy("skipped", _E),
    "empty-document": Policy("skipped", _E),
    "bad-offset": Policy("skipped", _E),
    "empty-span": Policy("skipped", _E),
    "span-text-mismatch": Policy("skipped", _E),
    "entity-crosses-paragraph": Policy("skipped", _E),
    "whitespace-span": Policy("kept", _E),
    "whitespace-stripped": Policy("stripped", _W),
    "whitespace-only-span": Policy("skipped", _W),
    "duplicate-entity": Policy("merged", _W),
    "overlapping-spans": Policy("kept", _E),
    "overlap-resolved": Policy("skipped", _W),
    "missing-argument": Policy("skipped", _E),
    "argument-skipped": Policy("skipped", _W),
    "self-relation": Policy("kept", _E),
    "duplicate-relation-merged": Policy("merged", _W),
    "symmetric-duplicate-merged": Policy("merged", _W),
    "relation-type-violation": Policy("kept", _E),
}

#: Error kinds whose item is written anyway (``validate`` rejects it); every other error means the
#: item was skipped.
KEPT_INVALID = frozenset(kind for kind, policy in POLICY.items() if policy.does == "kept" and policy.severity is Severity.ERROR)

KEPT = "kept: validate rejects it"

#: Why a source span is not in the written record, as the report counts it per level and label.
DROP_REASONS = ("mapped-to-null", "broken-in-source", "whitespace-only", "merged-duplicate", "overlap-policy")
_GONE_REASON = {"error": "broken-in-source", "mapped-to-null": "mapped-to-null", "stripped-away": "whitespace-only"}


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
    overlaps: str = "error"
    """What to do with overlaps the label schema does not allow: one of
    :data:`pipeline.core.checks.OVERLAP_POLICIES` (``--overlaps``)."""
    tag_columns: int | None = None
    """CoNLL: how many tag columns end each token line (1: one level; 2: outer and inner; ``None``:
    2 for a file the CoNLL exporter wrote, else 1)."""
    avro_schema: Path | None = None
    """MobIE/SmartData: the ``.avsc`` that decides the Avro JSON encoding (default: the one beside the input)."""
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
    if options.overlaps not in OVERLAP_POLICIES:
        raise ImportFailed(f"--overlaps must be one of {list(OVERLAP_POLICIES)}, not {options.overlaps!r}")
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
        report = _Reporter(Site(source.path, source.line, doc_id), result.problems)
        if not rule.allows(doc_id):
            report.own("bad-doc-id", f"document id {doc_id!r} does not match {rule.pattern.pattern} or is longer than {rule.max_length}")
            continue
        if doc_id in seen_ids:
            report.own("duplicate-doc-id", f"document id already used at {seen_ids[doc_id]}; this document is skipped")
            continue
        seen_ids[doc_id] = where
        _build_document(source, doc_id, options, result, stats, unmapped_pairs, report)
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
    merged_relations: int = 0
    source_entities: int = 0
    source_relations: int = 0
    overlaps_resolved: Counter[str] = field(default_factory=Counter)
    levels: dict[int, dict[str, Counter[str]]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(Counter)))
    """source level → source label → ``source``, ``published`` and each of :data:`DROP_REASONS`."""

    def level_counts(self) -> dict[str, dict[str, dict[str, Any]]]:
        return {
            str(level): {
                label: {
                    "source": counts["source"],
                    "published": counts["published"],
                    "dropped": {reason: counts[reason] for reason in DROP_REASONS if counts[reason]},
                }
                for label, counts in sorted(labels.items())
            }
            for level, labels in sorted(self.levels.items())
        }

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
                "duplicate_relations_merged": self.merged_relations,
            },
            "overlaps_resolved": dict(sorted(self.overlaps_resolved.items())),
            "levels": self.level_counts(),
            **_problem_counts(result),
        }


def _problem_counts(result: ImportResult) -> dict[str, Any]:
    return {"problems": dict(sorted(Counter(p.kind for p in result.problems).items())), "errors": len(result.errors)}


@dataclass
class _Reporter:
    """The problems of the document being built: a core rule's problem with the importer's
    context and action (:meth:`rule`), or the importer's own (:meth:`own`); the severity is
    always :data:`POLICY`'s for the kind."""

    site: Site
    problems: list[Problem]

    def rule(self, found: Problem, context: str, action: str, kind: str | None = None) -> None:
        """``found`` (made by a :mod:`pipeline.core.checks` rule) as ``message (context); action``,
        under ``kind`` when the importer repaired the item (a kind of its own)."""
        kind = kind or found.kind
        where = f" ({context})" if context else ""
        self.problems.append(replace(found, kind=kind, message=f"{found.message}{where}; {action}", severity=POLICY[kind].severity))

    def own(self, kind: str, message: str) -> None:
        self.problems.append(self.site.problem(kind, message, POLICY[kind].severity))


def _layer_context(layer: str, options: ImportOptions) -> list[str]:
    return [] if layer == MAIN_LAYER else [f"layer {options.layer(layer)}"]


def _entity_context(source_entity: SourceEntity, entity: Entity, unit: str, options: ImportOptions) -> str:
    """Where ``entity`` came from, as far as it differs from the entity itself: the source's id,
    label and offsets (in the source's unit, into the raw text), and the layer."""
    parts = []
    if source_entity.id is not None and source_entity.id != entity.id:
        parts.append(f"id {source_entity.id!r}")
    if source_entity.label != entity.label:
        parts.append(f"label {source_entity.label!r}")
    if (source_entity.start, source_entity.end) != (entity.start, entity.end):
        parts.append(f"offsets [{source_entity.start}, {source_entity.end})" + ("" if unit == "codepoint" else f" in {unit} units"))
    found = [f"source {', '.join(parts)}"] if parts else []
    return "; ".join(found + _layer_context(source_entity.layer, options))


def _relation_context(source_relation: SourceRelation, relation: Relation, options: ImportOptions) -> str:
    """Where ``relation`` came from, as far as it differs: the source's id and label, and the layer."""
    parts = []
    if source_relation.id is not None and source_relation.id != relation.id:
        parts.append(f"id {source_relation.id!r}")
    if source_relation.label != relation.label:
        parts.append(f"label {source_relation.label!r}")
    found = [f"source {', '.join(parts)}"] if parts else []
    return "; ".join(found + _layer_context(source_relation.layer, options))


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
    origin: list[dict[str, Any]] = field(default_factory=list)
    """Per source entity: its ``level``, its source ``label`` and its ``outcome``: the entity it
    became, or why it is gone (a :attr:`gone` reason, ``merged-duplicate``)."""
    resolved: set[tuple[str, str]] = field(default_factory=set)
    """(layer, entity id) of entities dropped by the ``--overlaps`` policy."""


def source_levels(entities: list[SourceEntity]) -> list[int]:
    """The level of each source entity: the source's own, or (``level is None``) where its span
    nests among the source spans of its layer."""
    spans = [Entity(f"#{n}", e.start, e.end, e.label, "") for n, e in enumerate(entities)]
    by_layer: dict[str, list[Entity]] = defaultdict(list)
    for entity, span in zip(entities, spans, strict=True):
        if entity.level is None and entity.start < entity.end:
            by_layer[entity.layer].append(span)
    found: dict[str, int] = {}
    for layer_spans in by_layer.values():
        found.update({span_id: nested.level for span_id, nested in nesting(layer_spans).items()})
    return [e.level if e.level is not None else found.get(f"#{n}", 0) for n, e in enumerate(entities)]


def _build_document(
    source: SourceDocument,
    doc_id: str,
    options: ImportOptions,
    result: ImportResult,
    stats: _Stats,
    unmapped_pairs: Counter[str],
    report: _Reporter,
) -> None:
    text_map = OffsetMap(source.text)
    text = text_map.text
    if not text.strip():
        report.own("empty-document", "the document has no text after normalisation; it is skipped")
        # its spans still count, as broken in the source, so that source = published + dropped holds
        stats.source_entities += len(source.entities)
        stats.source_relations += len(source.relations)
        for level, entity in zip(source_levels(source.entities), source.entities, strict=True):
            stats.levels[level][entity.label]["source"] += 1
            stats.levels[level][entity.label]["broken-in-source"] += 1
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
    built.gone.update(dict.fromkeys(source.skipped, "error"))
    _build_entities(source, text_map, options, stats, built, report)
    _build_relations(source, options, stats, unmapped_pairs, built, report)
    _build_records(source, doc_id, text, options, result, built, report)
    _count_levels(source, built, stats)


def _build_entities(
    source: SourceDocument, text_map: OffsetMap, options: ImportOptions, stats: _Stats, built: _Built, report: _Reporter
) -> None:
    """Entities: offsets, span and span text, mapping, whitespace, paragraph breaks, duplicates."""
    text = text_map.text
    site = report.site
    makers: dict[str, IdMaker] = defaultdict(lambda: IdMaker("T", options.ids.item))
    kept, gone = built.kept, built.gone
    span_index: dict[tuple[str, int, int, str], Entity] = {}
    levels = source_levels(source.entities)
    for number, source_entity in enumerate(source.entities, start=1):
        layer = source_entity.layer
        name = source_entity.id if source_entity.id is not None else f"#{number}"
        key = (layer, name)
        origin = {"level": levels[number - 1], "label": source_entity.label, "outcome": "error"}
        built.origin.append(origin)
        try:
            raw_start, raw_end = to_codepoints(source.text, [source_entity.start, source_entity.end], source.offsets)
            start, end = text_map.map([raw_start, raw_end])
        except ValueError as error:
            what = f"entity {name} {source_entity.label!r} [{source_entity.start}, {source_entity.end}) ({source.offsets})"
            report.own("bad-offset", f"{what}: {error}; the entity is skipped")
            gone[key] = origin["outcome"] = "error"
            continue
        # named by the source until it is kept and gets the record's id
        candidate = Entity(id=name, start=start, end=end, label=source_entity.label, source=options.source)
        context = _entity_context(source_entity, candidate, source.offsets, options)
        # the source's copy of the span text, compared as a record's: normalised, on the normalised text
        stored = (
            None
            if source_entity.text is None or source_entity.text == source.text[raw_start:raw_end]
            else normalise_text(source_entity.text)
        )
        broken = range_problem(site, candidate, text) or span_text_problem(site, candidate, text, stored)
        if broken is not None:
            report.rule(broken, context, "the entity is skipped")
            gone[key] = origin["outcome"] = "error"
            continue
        target = options.mapping.entity(source_entity.label)
        if target is None:
            stats.dropped_entities[source_entity.label] += 1
            gone[key] = origin["outcome"] = "mapped-to-null"
            continue
        candidate = replace(candidate, label=target)
        context = _entity_context(source_entity, candidate, source.offsets, options)
        padded = whitespace_problem(site, candidate, text)
        unstripped = candidate
        if padded is not None and options.strip_whitespace:
            span = text[start:end]
            lead, trail = len(span) - len(span.lstrip()), len(span) - len(span.rstrip())
            if lead + trail >= len(span):
                report.rule(
                    padded,
                    context,
                    "it is only whitespace: nothing is left after --strip-whitespace, the entity is skipped",
                    kind="whitespace-only-span",
                )
                stats.whitespace_only += 1
                gone[key] = origin["outcome"] = "stripped-away"
                continue
            candidate = replace(candidate, start=start + lead, end=end - trail)
        span = text[candidate.start : candidate.end]
        if PARAGRAPH_BREAK.search(span):
            report.rule(
                crosses_paragraph_problem(site, candidate),
                "; ".join(filter(None, [context, f"text {_short(span)!r}"])),
                "the entity is skipped",
            )
            gone[key] = origin["outcome"] = "error"
            continue
        duplicate = span_index.get((layer, candidate.start, candidate.end, target))
        if duplicate is not None:
            repeat = site.problem("duplicate-entity", f"{where_entity(candidate)} has the same span and label as entity {duplicate.id}")
            report.rule(repeat, context, "merged into it")
            stats.merged_duplicates += 1
            kept[key] = duplicate
            origin["outcome"] = "merged-duplicate"
            continue
        entity = replace(candidate, id=makers[layer].make(source_entity.id))
        if padded is not None:
            # reported on the span as the source has it, under the record's id
            as_read = replace(unstripped, id=entity.id)
            padded = whitespace_problem(site, as_read, text) or padded
            context = _entity_context(source_entity, as_read, source.offsets, options)
            if options.strip_whitespace:
                report.rule(
                    padded, context, f"stripped to [{entity.start}, {entity.end}) {span!r} (--strip-whitespace)", kind="whitespace-stripped"
                )
                stats.stripped += 1
            else:
                report.rule(padded, context, f"{KEPT} (use --strip-whitespace to strip it)")
        span_index[(layer, entity.start, entity.end, target)] = entity
        kept[key] = origin["outcome"] = entity
        built.entities[layer].append(entity)
        if source_entity.meta:
            built.entity_meta[layer][entity.id] = source_entity.meta


def _build_relations(
    source: SourceDocument, options: ImportOptions, stats: _Stats, unmapped_pairs: Counter[str], built: _Built, report: _Reporter
) -> None:
    """Relations: arguments, mapping, self-relations, repeats (merged), type constraints."""
    site = report.site
    makers: dict[str, IdMaker] = defaultdict(lambda: IdMaker("R", options.ids.item))
    repeats: dict[str, RelationRepeats] = defaultdict(RelationRepeats)
    kept, gone = built.kept, built.gone
    known: dict[str, set[str]] = defaultdict(set)
    for layer, ref in (*kept, *gone):
        known[layer].add(ref)
    for number, source_relation in enumerate(source.relations, start=1):
        layer = source_relation.layer
        name = source_relation.id if source_relation.id is not None else f"#{number}"
        # named by the source (and its arguments by their source ids) until it is kept
        candidate = Relation(
            id=name, head=source_relation.head, tail=source_relation.tail, label=source_relation.label, source=options.source
        )
        keys = [(layer, source_relation.head), (layer, source_relation.tail)]
        missing = missing_argument_problem(site, candidate, known[layer])
        if missing is not None:
            report.rule(missing, _relation_context(source_relation, candidate, options), "the relation is skipped")
            continue
        reasons = [gone.get(k) for k in keys]
        if "mapped-to-null" in reasons:
            stats.relations_without_argument[source_relation.label] += 1
            continue
        if "error" in reasons or "stripped-away" in reasons:
            skipped = " and ".join(
                f"{role} {ref!r}"
                for role, ref, reason in zip(("head", "tail"), (candidate.head, candidate.tail), reasons, strict=True)
                if reason
            )
            report.own(
                "argument-skipped",
                f"relation {name} {source_relation.label!r}: its {skipped} was skipped (see that problem); the relation is skipped too",
            )
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
        candidate = replace(candidate, head=head.id, tail=tail.id, label=target)
        rtype = options.schema.relation(target)
        repeat = None if self_relation_problem(site, candidate) else repeats[layer].repeat(site, candidate, rtype)
        if repeat is not None:
            report.rule(repeat, _relation_context(source_relation, candidate, options), "merged into it", kind=f"{repeat.kind}-merged")
            stats.merged_relations += 1
            continue
        relation = replace(candidate, id=makers[layer].make(source_relation.id))
        context = _relation_context(source_relation, relation, options)
        self_relation = self_relation_problem(site, relation)
        if self_relation is not None:
            report.rule(self_relation, context, KEPT)
        else:
            repeats[layer].add(relation)
            violation = relation_type_problem(site, relation, head, tail, options.schema)
            if violation is not None:
                report.rule(violation, context, f"{KEPT} (map this pair to null or another type)")
        built.relations[layer].append(relation)


def _build_records(
    source: SourceDocument, doc_id: str, text: str, options: ImportOptions, result: ImportResult, built: _Built, report: _Reporter
) -> None:
    """One record per layer (the document's own layers even when empty), every nesting level in
    it, with overlap checks or the ``--overlaps`` policy; then the document's level counts."""
    sha = text_sha256(text)
    layers = list(source.layers) + sorted(set(built.entities) - set(source.layers))
    for layer in layers:
        entities = sorted(built.entities.get(layer, []), key=lambda e: (e.start, e.end, e.id))
        relations = list(built.relations.get(layer, []))
        context = "; ".join(_layer_context(layer, options))
        if options.overlaps == "error":
            for overlap in overlap_problems(report.site, entities, options.schema):
                report.rule(overlap, context, f"{KEPT} (or import with --overlaps keep-longest|keep-first)")
        else:
            entities, dropped = resolve_overlaps(entities, options.schema.overlap, options.overlaps)
            for entity, clash in dropped:
                (overlap,) = overlap_problems(report.site, [entity, clash], options.schema)
                report.rule(overlap, context, f"entity {entity.id} is dropped (--overlaps {options.overlaps})", kind="overlap-resolved")
                built.resolved.add((layer, entity.id))
            if dropped:
                gone_ids = {entity.id for entity, _ in dropped}
                for relation in [r for r in relations if r.head in gone_ids or r.tail in gone_ids]:
                    report.own(
                        "argument-skipped",
                        f"relation {relation.id} {relation.label!r}: an argument was dropped by --overlaps {options.overlaps}; "
                        "the relation is skipped too",
                    )
                relations = [r for r in relations if r.head not in gone_ids and r.tail not in gone_ids]
        layer_name = options.layer(layer)
        record = AnnotationRecord(
            doc_id=doc_id,
            text_sha256=sha,
            source=options.source,
            layer=layer_name,
            entities=tuple(entities),
            relations=tuple(relations),
            path=f"corpus/annotations/{layer_name}/{layer_name.rsplit('/', 1)[-1]}.jsonl",
            line=0,
            annotator=source.annotators.get(layer),
        )
        result.records.append(record)
        if built.entity_meta.get(layer):
            kept_ids = {e.id for e in entities}
            meta = {k: v for k, v in built.entity_meta[layer].items() if k in kept_ids}
            if meta:
                result.record_meta[(layer_name, doc_id)] = {"entities": meta}


def _count_levels(source: SourceDocument, built: _Built, stats: _Stats) -> None:
    """Each source entity of the document under its level and source label: ``source``, and
    ``published`` or the reason it is not (:data:`DROP_REASONS`)."""
    for origin, source_entity in zip(built.origin, source.entities, strict=True):
        counts = stats.levels[origin["level"]][origin["label"]]
        counts["source"] += 1
        outcome = origin["outcome"]
        if isinstance(outcome, Entity):
            if (source_entity.layer, outcome.id) in built.resolved:
                counts["overlap-policy"] += 1
                stats.overlaps_resolved[outcome.label] += 1
            else:
                counts["published"] += 1
        else:
            counts[_GONE_REASON.get(outcome, outcome)] += 1


def refresh_stats(result: ImportResult) -> None:
    """Recount problems after an adapter added its own (parse problems, side-table problems)."""
    result.stats.update(_problem_counts(result))
