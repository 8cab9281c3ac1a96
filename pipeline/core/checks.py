"""The one rule set for an annotation record: its anchor, its entities, its relations.

:func:`check_record` checks a record against its document and the label schema and returns every
:class:`~pipeline.core.problems.Problem` (it never raises and never stops at the first one), so
that ``validate`` can report them all; ``annotate`` drops a record with any error, the doccano
client refuses to push one. It is composed of small rules, each over one entity or relation (or
the entities of one layer) and each returning its problems, so that a caller that builds records
itself applies the same rule with the same kind and message and decides per item what to skip
(the importers do: :mod:`pipeline.formats.build`). It is a little over 400 lines because the rule set is
kept whole in one place rather than split across modules that would each hold half a rule:

* :func:`anchor_problem`: the record's ``text_sha256`` against its document
  (``unknown-document``, ``hash-of-raw-text``, ``hash-mismatch``);
* :func:`span_problems`: one entity against the text and the label schema, made of
  :func:`range_problem` (``offset-out-of-range``, ``empty-span``), :func:`span_text_problem`
  (``span-text-mismatch``), :func:`label_problem` (``unknown-label``) and
  :func:`whitespace_problem` (``whitespace-span``);
* :func:`overlap_problems`: the entities of one record against the schema's ``overlap``
  (:func:`overlap_allowed`); :func:`resolve_overlaps` keeps one of each pair it rejects (an
  importer's ``--overlaps`` policy);
* :func:`relation_label_problem`, :func:`missing_argument_problem`, :func:`self_relation_problem`,
  :func:`relation_type_problem` and :class:`RelationRepeats` (``duplicate-relation``,
  ``symmetric-duplicate``): one relation;
* :func:`duplicate_id_problem`: an entity or relation id used twice.

Every rule takes a :class:`Site`, where the annotations were read (file, line, document), which
every problem names. After re-tokenising, :func:`alignment_problems` and
:func:`crosses_paragraph_problem` report entities that still cannot be shown as whole tokens of
one paragraph.

Pure: touches no files.
"""

from __future__ import annotations

from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass

from pipeline.core.labels import LabelSchema, RelationType
from pipeline.core.problems import Problem, Severity
from pipeline.core.spans import AnnotationRecord, Entity, Relation, overlapping_pairs


@dataclass(frozen=True)
class DocumentInfo:
    """The ingested document a record is checked against (``raw_sha256``: the hash of its text
    before normalisation, when that differs, to explain a record anchored to the raw text)."""

    doc_id: str
    text: str
    text_sha256: str
    path: str
    line: int | None
    raw_sha256: str | None = None


@dataclass(frozen=True)
class Site:
    """Where checked annotations were read: the file, the line and the document every problem names."""

    path: str
    line: int | None
    doc_id: str | None

    @classmethod
    def of(cls, record: AnnotationRecord) -> Site:
        return cls(record.path, record.line, record.doc_id)

    def problem(self, kind: str, message: str, severity: Severity = Severity.ERROR) -> Problem:
        return Problem(self.path, self.line, self.doc_id, kind, message, severity)


def where_entity(entity: Entity) -> str:
    """How messages name an entity: ``entity T1 [0, 2)``."""
    return f"entity {entity.id} [{entity.start}, {entity.end})"


# --------------------------------------------------------------------------- anchor


def anchor_problem(site: Site, text_sha256: str, document: DocumentInfo | None) -> Problem | None:
    """Why annotations anchored by ``text_sha256`` cannot be applied to ``document`` (``None``:
    there is no such document), or ``None`` when they can. Nothing else is worth checking then."""
    if document is None:
        return site.problem("unknown-document", f"no ingested document has doc_id {site.doc_id!r}")
    if text_sha256 != document.text_sha256 and text_sha256 == document.raw_sha256:
        return site.problem(
            "hash-of-raw-text",
            "text_sha256 is the hash of the document's raw text before normalisation (BOM, CRLF/CR line "
            "endings or NFD): the corpus normalises every text to NFC with LF line endings and all offsets "
            "refer to that form; convert the offsets (the importers do) and anchor the record to "
            f"{document.text_sha256[:12]}…",
        )
    if text_sha256 != document.text_sha256:
        return site.problem(
            "hash-mismatch",
            f"text_sha256 {text_sha256[:12]}… does not match the document text ({document.text_sha256[:12]}…): "
            "the text changed since it was annotated, or the offsets refer to a form other than the NFC, LF-only "
            "text; re-anchor the record instead of re-applying it",
        )
    return None


# --------------------------------------------------------------------------- entities


def duplicate_id_problem(site: Site, what: str, id_: str) -> Problem:
    """``what`` (``entity`` or ``relation``) id ``id_`` was already used in the same record."""
    return site.problem(f"duplicate-{what}-id", f"{what} id {id_!r} is used more than once")


def in_text(entity: Entity, text: str) -> bool:
    """Whether the entity is a non-empty span inside ``text`` (what :func:`span_problems` requires first)."""
    return 0 <= entity.start < entity.end <= len(text)


def range_problem(site: Site, entity: Entity, text: str) -> Problem | None:
    """``offset-out-of-range`` or ``empty-span`` when the entity is not a non-empty span inside
    ``text``; nothing else about it can be checked then."""
    if entity.end > len(text):
        return site.problem("offset-out-of-range", f"{where_entity(entity)} ends after the text (length {len(text)})")
    if entity.start >= entity.end:
        return site.problem("empty-span", f"{where_entity(entity)} has start >= end")
    return None


def span_text_problem(site: Site, entity: Entity, text: str, stored_text: str | None) -> Problem | None:
    """``span-text-mismatch`` when the span text a record (or a source) stores differs from the
    document text at the entity's offsets (``None``: nothing stored, nothing to compare)."""
    span = text[entity.start : entity.end]
    if stored_text is None or stored_text == span:
        return None
    return site.problem("span-text-mismatch", f"{where_entity(entity)} stores text {stored_text!r} but the document has {span!r} there")


def label_problem(site: Site, entity: Entity, schema: LabelSchema) -> Problem | None:
    """``unknown-label`` unless the label schema defines the entity's label."""
    if entity.label in schema.entity_types:
        return None
    return site.problem(
        "unknown-label", f"{where_entity(entity)} has label {entity.label!r}, not in the label schema {list(schema.entity_types)}"
    )


def whitespace_problem(site: Site, entity: Entity, text: str, severity: Severity = Severity.ERROR) -> Problem | None:
    """``whitespace-span`` (with ``severity``: ``validate.whitespace_spans``) when the span has
    leading or trailing whitespace."""
    span = text[entity.start : entity.end]
    if span == span.strip():
        return None
    # A layer pulled from doccano is generated: an edit of the file would be overwritten by the next pull.
    fix = (
        "; the span was drawn in doccano: fix the span in doccano and pull again (the next pull overwrites this file)"
        if entity.source.startswith("annotator:")
        else ""
    )
    return site.problem("whitespace-span", f"{where_entity(entity)} {span!r} has leading or trailing whitespace{fix}", severity)


def span_problems(
    site: Site, entity: Entity, text: str, schema: LabelSchema, whitespace: Severity = Severity.ERROR, stored_text: str | None = None
) -> list[Problem]:
    """One entity against the text and the label schema.

    A span outside the text or empty is reported alone (:func:`range_problem`: nothing else can
    be checked); otherwise the span text the record stores (``stored_text``), the label and
    surrounding whitespace (reported with severity ``whitespace``: ``validate.whitespace_spans``).
    """
    out_of_range = range_problem(site, entity, text)
    if out_of_range is not None:
        return [out_of_range]
    found = [
        span_text_problem(site, entity, text, stored_text),
        label_problem(site, entity, schema),
        whitespace_problem(site, entity, text, whitespace),
    ]
    return [p for p in found if p is not None]


def overlap_allowed(first: Entity, second: Entity, overlap: str) -> bool:
    """Whether two overlapping entities (``first`` as :func:`overlapping_pairs` orders them) may
    both stand under the schema's ``overlap``: ``any`` always, ``nested`` when ``second`` lies
    inside ``first``, ``none`` never."""
    if overlap == "any":
        return True
    return overlap == "nested" and first.start <= second.start and second.end <= first.end


def overlap_problems(site: Site, entities: Sequence[Entity], schema: LabelSchema) -> list[Problem]:
    """Pairs of ``entities`` (all inside the text, see :func:`in_text`) that overlap or nest
    where the label schema's ``overlap`` (``none``, ``nested`` or ``any``) does not allow it."""
    if schema.overlap == "any":
        return []
    found = []
    for first, second in overlapping_pairs(entities):
        if overlap_allowed(first, second, schema.overlap):
            continue
        how = "nests in" if first.start <= second.start and second.end <= first.end else "overlaps"
        found.append(
            site.problem(
                "overlapping-spans",
                f"entity {second.id} [{second.start}, {second.end}) {how} entity {first.id} [{first.start}, {first.end}); "
                f"the label schema allows overlap: {schema.overlap}",
            )
        )
    return found


OVERLAP_POLICIES = ("error", "keep-longest", "keep-first")
"""What an importer does with overlaps the label schema does not allow (``--overlaps``): report
each as an error and keep both (``error``), or keep one of each pair: the longer (``keep-longest``;
equal lengths: the earlier) or the earlier in the text (``keep-first``; same start: the longer)."""


def resolve_overlaps(entities: Sequence[Entity], overlap: str, policy: str) -> tuple[list[Entity], list[tuple[Entity, Entity]]]:
    """The entities kept under ``policy`` (one of :data:`OVERLAP_POLICIES` but ``error``) and, for
    each one dropped, ``(dropped, the kept entity it overlaps)``. Greedy in the policy's order: an
    entity is kept unless it overlaps a kept one in a way ``overlap`` does not allow."""
    if policy not in OVERLAP_POLICIES[1:]:
        raise ValueError(f"overlap policy {policy!r} is not one of {list(OVERLAP_POLICIES[1:])}")
    if policy == "keep-longest":
        order = sorted(entities, key=lambda e: (-(e.end - e.start), e.start, e.id))
    else:
        order = sorted(entities, key=lambda e: (e.start, -e.end, e.id))
    kept: list[Entity] = []
    dropped: list[tuple[Entity, Entity]] = []
    for entity in order:
        clash = None
        for other in kept:
            if other.start < entity.end and entity.start < other.end:
                first, second = sorted((other, entity), key=lambda e: (e.start, -e.end, e.id))
                if not overlap_allowed(first, second, overlap):
                    clash = other
                    break
        if clash is None:
            kept.append(entity)
        else:
            dropped.append((entity, clash))
    return sorted(kept, key=lambda e: (e.start, e.end, e.id)), dropped


# --------------------------------------------------------------------------- relations


def relation_label_problem(site: Site, relation: Relation, schema: LabelSchema) -> Problem | None:
    """``unknown-relation-label`` unless the label schema defines the relation's label."""
    if schema.relation(relation.label) is not None:
        return None
    return site.problem(
        "unknown-relation-label",
        f"relation {relation.id} has label {relation.label!r}, not in the label schema {list(schema.relation_names)}",
    )


def missing_argument_problem(
    site: Site, relation: Relation, entities: Container[str], homes: Mapping[str, Sequence[str]] | None = None
) -> Problem | None:
    """``missing-argument`` when head or tail is not one of ``entities`` (the ids of the same
    record's entities, e.g. a mapping id → entity). ``homes`` maps such an id to the documents
    whose records (of the same layer) define it, so that a relation pointing into another
    document can say so."""
    missing = [role for role, ref in (("head", relation.head), ("tail", relation.tail)) if ref not in entities]
    if not missing:
        return None
    refs = ", ".join(f"{role} {getattr(relation, role)!r}" for role in missing)
    elsewhere_docs = sorted({d for role in missing for d in (homes or {}).get(getattr(relation, role), []) if d != site.doc_id})
    elsewhere = (
        f" (that id belongs to document(s) {', '.join(elsewhere_docs)}: relations link entities of one document)" if elsewhere_docs else ""
    )
    return site.problem("missing-argument", f"relation {relation.id} refers to {refs}, not an entity of this record{elsewhere}")


def self_relation_problem(site: Site, relation: Relation) -> Problem | None:
    """``self-relation`` when head and tail are the same entity."""
    if relation.head != relation.tail:
        return None
    return site.problem("self-relation", f"relation {relation.id} has the same entity {relation.head!r} as head and tail")


def relation_type_problem(site: Site, relation: Relation, head: Entity, tail: Entity, schema: LabelSchema) -> Problem | None:
    """``relation-type-violation`` when the relation type does not allow its arguments' labels
    (not checked for an unknown relation label or an unknown entity label: those are reported)."""
    rtype = schema.relation(relation.label)
    labels_known = head.label in schema.entity_types and tail.label in schema.entity_types
    if rtype is None or not labels_known or rtype.allows(head.label, tail.label):
        return None
    return site.problem(
        "relation-type-violation",
        f"relation {relation.id} {relation.label}({head.label} {relation.head}, {tail.label} {relation.tail}) is not allowed: "
        f"{relation.label} takes head {list(rtype.head)} and tail {list(rtype.tail)}",
    )


class RelationRepeats:
    """The relations of one record seen so far, to find one that repeats another: the same label,
    head and tail, or (for a symmetric type) head and tail swapped."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str, str], str] = {}

    def repeat(self, site: Site, relation: Relation, rtype: RelationType | None) -> Problem | None:
        """``duplicate-relation`` or ``symmetric-duplicate`` when ``relation`` repeats one seen
        before; ``relation`` is not remembered (see :meth:`add`)."""
        key = (relation.label, relation.head, relation.tail)
        if key in self._seen:
            return site.problem("duplicate-relation", f"relation {relation.id} repeats relation {self._seen[key]}")
        swapped = (relation.label, relation.tail, relation.head)
        if rtype is not None and rtype.symmetric and swapped in self._seen:
            return site.problem(
                "symmetric-duplicate", f"relation {relation.id} repeats symmetric relation {self._seen[swapped]} with head and tail swapped"
            )
        return None

    def add(self, relation: Relation) -> None:
        """Remember ``relation`` (its label, head and tail) as seen."""
        self._seen[(relation.label, relation.head, relation.tail)] = relation.id

    def problem(self, site: Site, relation: Relation, rtype: RelationType | None) -> Problem | None:
        """The repeat problem of ``relation``, or ``None`` after remembering it as new."""
        found = self.repeat(site, relation, rtype)
        if found is None:
            self.add(relation)
        return found


# --------------------------------------------------------------------------- the record


def check_record(
    record: AnnotationRecord,
    document: DocumentInfo | None,
    schema: LabelSchema,
    whitespace: Severity,
    entity_homes: dict[tuple[str, str], list[str]] | None = None,
) -> list[Problem]:
    """Every semantic problem of one record against its document and the label schema.

    ``entity_homes`` maps (layer, entity id) to the documents whose records define that id, so
    that a relation pointing into another document can say so.
    """
    site = Site.of(record)
    anchor = anchor_problem(site, record.text_sha256, document)
    if anchor is not None:
        return [anchor]
    assert document is not None
    found: list[Problem] = []
    text = document.text
    seen: dict[str, Entity] = {}
    for entity in record.entities:
        if entity.id in seen:
            found.append(duplicate_id_problem(site, "entity", entity.id))
            continue
        seen[entity.id] = entity
        found.extend(span_problems(site, entity, text, schema, whitespace, record.span_texts.get(entity.id)))
    found.extend(overlap_problems(site, [e for e in seen.values() if in_text(e, text)], schema))
    entities = {e.id: e for e in record.entities}
    relation_ids: set[str] = set()
    repeats = RelationRepeats()
    for relation in record.relations:
        if relation.id in relation_ids:
            found.append(duplicate_id_problem(site, "relation", relation.id))
            continue
        relation_ids.add(relation.id)
        homes = {ref: entity_homes.get((record.layer, ref), []) for ref in (relation.head, relation.tail)} if entity_homes else None
        problems = [relation_label_problem(site, relation, schema)]
        missing = missing_argument_problem(site, relation, entities, homes)
        problems.append(missing)
        if missing is None:
            self_relation = self_relation_problem(site, relation)
            problems.append(self_relation)
            if self_relation is None:
                head, tail = entities[relation.head], entities[relation.tail]
                problems.append(relation_type_problem(site, relation, head, tail, schema))
                problems.append(repeats.problem(site, relation, schema.relation(relation.label)))
        found.extend(p for p in problems if p is not None)
    return found


# --------------------------------------------------------------------------- after re-tokenising


def alignment_problems(record: AnnotationRecord, tokens: Sequence[tuple[int, int]], text: str, entities: Sequence[Entity]) -> list[Problem]:
    """Entities whose edges still do not fall on token edges (e.g. they start on whitespace)."""
    site = Site.of(record)
    starts = {t[0] for t in tokens}
    ends = {t[1] for t in tokens}
    found = []
    for entity in entities:
        edges = [name for name, ok in (("start", entity.start in starts), ("end", entity.end in ends)) if not ok]
        if edges:
            found.append(
                site.problem(
                    "unaligned-span",
                    f"{where_entity(entity)} {text[entity.start : entity.end]!r}: its "
                    f"{' and '.join(edges)} does not fall on a token boundary",
                )
            )
    return found


def crosses_paragraph_problem(site: Site, entity: Entity) -> Problem:
    """An entity that spans a paragraph break: sentences of one paragraph can be joined around an
    entity, paragraphs cannot."""
    return site.problem("entity-crosses-paragraph", f"{where_entity(entity)} spans a paragraph break")
