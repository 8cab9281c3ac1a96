"""What the format adapters share.

* :class:`SourceDocument` / :class:`SourceEntity` / :class:`SourceRelation`: what an adapter reads,
  still in the source's labels, ids and offset unit, with offsets into the *raw* source text.
* :func:`build_result` turns them into an :class:`ImportResult` (normalised
  :class:`~pipeline.core.spans.Document` s, :class:`~pipeline.core.spans.AnnotationRecord` s and every
  :class:`~pipeline.core.problems.Problem`): offsets become code points into ``normalise_text(text)``
  (UTF-16 → code points with the model functions, then raw → normalised with :class:`OffsetMap`),
  labels go through the :class:`LabelMapping`, and nothing is changed or dropped without being
  counted or reported.
* :func:`write_import`: documents to ``seeds/<name>.jsonl``, records to
  ``corpus/annotations/imported/<name>[-<layer>]/…jsonl``, a report to ``corpus/imported/<name>/``.
* :func:`load_published` / :class:`Corpus`: the published dataset, as every exporter reads it.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import logging
import os
import re
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import yaml

from pipeline.core.problems import Problem, Severity
from pipeline.core.spans import AnnotationRecord, Document, Entity, Relation, overlapping_pairs
from pipeline.core.text import BOM, normalise_text, text_sha256, utf16_to_codepoint
from pipeline.core.labels import LabelSchema
from pipeline.io.schemas import load_label_schema

log = logging.getLogger(__name__)

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
DOC_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")
MAX_DOC_ID = 200
MAX_ID = 64
OFFSET_UNITS = ("utf16", "codepoint")
#: Error kinds whose item is written anyway (``validate`` rejects it); every other error means the
#: item was skipped.
KEPT_INVALID = frozenset({"whitespace-span", "overlapping-spans", "relation-type-violation"})
MAIN_LAYER = ""
#: A paragraph break as ``pipeline.core.segment`` cuts paragraphs (kept equal by a test; not imported
#: from there to keep spaCy out of the importers).
PARAGRAPH_BREAK = re.compile(r"\n[ \t\u00a0]*\n\s*")


def _short(span: str, limit: int = 60) -> str:
    return span if len(span) <= limit else span[: limit - 10] + "…" + span[-9:]


class ImportFailed(Exception):
    """The input cannot be imported at all (unmapped labels, unreadable input): nothing is written."""


# --------------------------------------------------------------------------- ids


def sanitise_id(raw: str, *, doc: bool = False) -> str:
    """``raw`` with every character outside ``[A-Za-z0-9_.:-]`` replaced by ``_``; a document id
    also gets a leading ``x`` when it would not start with a letter or digit."""
    cleaned = re.sub(r"[^A-Za-z0-9_.:-]", "_", raw)
    if doc and not re.match(r"[A-Za-z0-9]", cleaned[:1]):
        cleaned = "x" + cleaned
    return cleaned


def check_name(name: str) -> str:
    """An import name becomes a file name, a layer and ``imported:<name>``: keep it plain."""
    if not NAME_PATTERN.match(name):
        raise ImportFailed(f"--name {name!r} must match {NAME_PATTERN.pattern} (letters, digits, '_', '.', '-')")
    return name


def make_doc_id(prefix: str, raw: str) -> str:
    """``prefix`` + the sanitised source id; an id longer than the schema allows keeps its first
    characters and ends in 12 hex digits of the sha256 of the full source id (stable, unique)."""
    doc_id = prefix + sanitise_id(raw)
    if not DOC_ID_PATTERN.match(doc_id):
        doc_id = sanitise_id(doc_id, doc=True)
    if len(doc_id) > MAX_DOC_ID:
        doc_id = doc_id[: MAX_DOC_ID - 13] + "-" + hashlib.sha256(raw.encode("utf-8")).hexdigest()[:12]
    return doc_id


class _IdMaker:
    """Unique ids inside one record: the source id when it is a valid id, else a sanitised or
    generated one (``T1``/``R1``...)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.used: set[str] = set()
        self.counter = 0

    def make(self, raw: str | None) -> str:
        candidate = sanitise_id(raw) if raw else None
        if candidate and len(candidate) > MAX_ID:
            candidate = candidate[: MAX_ID - 13] + "-" + hashlib.sha256(raw.encode("utf-8")).hexdigest()[:12]
        if candidate and candidate not in self.used:
            self.used.add(candidate)
            return candidate
        while True:
            self.counter += 1
            generated = f"{self.prefix}{self.counter}"
            if generated not in self.used:
                self.used.add(generated)
                return generated


# --------------------------------------------------------------------------- offsets


@lru_cache(maxsize=1)
def _maybe_chars() -> frozenset[str]:
    """Characters that can combine with the character before them under NFC (NFC_QC=Maybe):
    second characters of canonical compositions, plus Hangul medial vowels and final consonants.
    Computed once, on the first text that NFC changes."""
    maybe: set[str] = set()
    for code in range(0x110000):
        decomposition = unicodedata.decomposition(chr(code))
        if not decomposition or decomposition.startswith("<"):
            continue
        parts = decomposition.split()
        if len(parts) != 2:
            continue
        char = chr(code)
        if unicodedata.normalize("NFC", unicodedata.normalize("NFD", char)) != char:
            continue  # a composition exclusion: never produced by NFC
        maybe.add(chr(int(parts[1], 16)))
    maybe.update(chr(c) for c in range(0x1161, 0x1176))  # Hangul V jamo
    maybe.update(chr(c) for c in range(0x11A8, 0x11C3))  # Hangul T jamo
    return frozenset(maybe)


def _safe_start(char: str) -> bool:
    """True when NFC can never combine ``char`` with anything before it."""
    if unicodedata.combining(char) or char in _maybe_chars():
        return False
    first = unicodedata.normalize("NFD", char)[0]
    return not unicodedata.combining(first) and first not in _maybe_chars()


class OffsetMap:
    """Map code-point offsets into a raw text onto offsets into ``normalise_text(raw)``.

    ``normalise_text`` drops a leading BOM, turns CRLF/CR into LF and applies NFC. The raw text is
    cut into units that normalise independently (a BOM, a line break, a run of characters between
    two NFC-safe starters); an offset on a unit boundary maps exactly, an offset inside a unit that
    normalisation leaves unchanged maps linearly, and an offset inside a changed unit (between
    ``\\r`` and ``\\n``, between ``e`` and a combining accent that NFC composes) raises
    ``ValueError``: it has no counterpart in the normalised text.
    """

    def __init__(self, raw: str) -> None:
        self.raw = raw
        self.text = normalise_text(raw)
        self.identity = self.text == raw
        if self.identity:
            return
        # units: (raw_start, raw_end, normalised_start, normalised_end, changed)
        self._raw_starts: list[int] = []
        self._units: list[tuple[int, int, int, int, bool]] = []
        pieces: list[str] = []
        position = 0
        out = 0
        if raw.startswith(BOM):
            self._add(0, 1, 0, 0, True)
            position = 1
        run_start = position
        run: list[str] = []
        # Only texts that NFC changes need cutting into composition units; otherwise every run
        # between line breaks maps linearly.
        needs_nfc = not unicodedata.is_normalized("NFC", raw[position:].replace("\r", "\n"))

        def flush(end: int) -> None:
            nonlocal out, run_start
            if run_start >= end:
                return
            segment = "".join(run)
            normalised = unicodedata.normalize("NFC", segment)
            self._add(run_start, end, out, out + len(normalised), normalised != segment)
            pieces.append(normalised)
            out += len(normalised)
            run.clear()
            run_start = end

        index = position
        while index < len(raw):
            char = raw[index]
            if char == "\r":
                flush(index)
                width = 2 if raw[index + 1 : index + 2] == "\n" else 1
                self._add(index, index + width, out, out + 1, True)
                pieces.append("\n")
                out += 1
                index += width
                run_start = index
                continue
            if needs_nfc and run and _safe_start(char):
                flush(index)
            run.append(char)
            index += 1
        flush(len(raw))
        if "".join(pieces) != self.text:  # pragma: no cover - would be a bug in the unit rules
            raise ValueError("cannot map offsets onto the normalised text: normalisation crosses unit boundaries")

    def _add(self, raw_start: int, raw_end: int, start: int, end: int, changed: bool) -> None:
        self._raw_starts.append(raw_start)
        self._units.append((raw_start, raw_end, start, end, changed))

    def __call__(self, offset: int) -> int:
        if not 0 <= offset <= len(self.raw):
            raise ValueError(f"offset {offset} is outside the text (length {len(self.raw)})")
        if self.identity:
            return offset
        if offset == len(self.raw):
            return len(self.text)
        index = bisect.bisect_right(self._raw_starts, offset) - 1
        raw_start, raw_end, start, end, changed = self._units[index]
        if offset == raw_start:
            return start
        if not changed:
            return start + (offset - raw_start)
        what = "a line break" if self.raw[raw_start] == "\r" else "a character sequence that NFC normalisation changes"
        raise ValueError(f"offset {offset} falls inside {what} ({self.raw[raw_start:raw_end]!r} at {raw_start})")

    def map(self, offsets: Iterable[int]) -> list[int]:
        return [self(o) for o in offsets]


def raw_to_normalised(raw: str, offsets: Sequence[int]) -> list[int]:
    """Code-point offsets into ``raw`` → code-point offsets into ``normalise_text(raw)``."""
    return OffsetMap(raw).map(offsets)


def to_codepoints(raw: str, offsets: Sequence[int], unit: str) -> list[int]:
    """Offsets in ``unit`` (``utf16`` or ``codepoint``) into ``raw`` → code points into ``raw``."""
    if unit == "utf16":
        return utf16_to_codepoint(raw, offsets)
    if unit == "codepoint":
        for offset in offsets:
            if not 0 <= offset <= len(raw):
                raise ValueError(f"offset {offset} is outside the text (length {len(raw)})")
        return list(offsets)
    raise ValueError(f"unknown offset unit {unit!r}; use one of {OFFSET_UNITS}")


# --------------------------------------------------------------------------- label mapping


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


# --------------------------------------------------------------------------- what adapters read


@dataclass
class SourceEntity:
    """An entity as the source has it: its id, offsets into the raw text in the document's unit,
    its label, the layer (``""`` = main; ``"inner"`` for a second nesting level) and, when the
    source stores it, its own copy of the span text."""

    id: str | None
    start: int
    end: int
    label: str
    layer: str = MAIN_LAYER
    text: str | None = None
    meta: dict[str, Any] | None = None


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
    doc_id: str | None = None
    """Set by :func:`build_result` when the document was imported."""


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


# --------------------------------------------------------------------------- building the result


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
    lines += [f"  relation label {label!r} ({relation_labels[label]}×, first at {first_seen['r:' + label]})" for label in unmapped_relations]
    raise ImportFailed("\n".join(lines))


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
    for index, source in enumerate(documents, start=1):
        where = source.path if source.line is None else f"{source.path}:{source.line}"
        doc_id = make_doc_id(options.prefix, source.source_id if source.source_id is not None else f"{index:06d}")
        if not DOC_ID_PATTERN.match(doc_id) or len(doc_id) > MAX_DOC_ID:
            result.problems.append(Problem(source.path, source.line, doc_id, "bad-doc-id", f"document id {doc_id!r} does not match {DOC_ID_PATTERN.pattern} or is longer than {MAX_DOC_ID}"))
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
            "problems": dict(sorted(Counter(p.kind for p in result.problems).items())),
            "errors": sum(1 for p in result.problems if p.severity is Severity.ERROR),
        }


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
    mapping = options.mapping
    schema = options.schema
    stats.source_entities += len(source.entities)
    stats.source_relations += len(source.relations)

    # entities: offsets, text checks, mapping, whitespace
    makers: dict[str, _IdMaker] = defaultdict(lambda: _IdMaker("T"))
    kept: dict[tuple[str, str], Entity] = {}  # (layer, source id) → entity
    gone: dict[tuple[str, str], str] = {}  # (layer, source id) → why it is not kept
    by_layer: dict[str, list[Entity]] = defaultdict(list)
    entity_meta: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
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
        target = mapping.entity(label)
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
        by_layer[layer].append(entity)
        if source_entity.meta:
            entity_meta[layer][entity.id] = source_entity.meta

    # relations: arguments, mapping, self/duplicates, type constraints
    relation_makers: dict[str, _IdMaker] = defaultdict(lambda: _IdMaker("R"))
    relations_by_layer: dict[str, list[Relation]] = defaultdict(list)
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
            target = mapping.relation(source_relation.label, head.label, tail.label)
        except KeyError:
            unmapped_pairs[f"{source_relation.label}: {head.label}>{tail.label}"] += 1
            continue
        if target is None:
            stats.dropped_relations[source_relation.label] += 1
            continue
        if head.id == tail.id:
            problem("self-relation", f"{what} has the same entity {head.id} as head and tail; skipped", Severity.WARNING)
            continue
        rtype = schema.relation(target)
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
        relations_by_layer[layer].append(relation)

    # records, one per layer
    sha = text_sha256(text)
    layers = list(source.layers) + sorted(set(by_layer) - set(source.layers))
    for layer in layers:
        entities = sorted(by_layer.get(layer, []), key=lambda e: (e.start, e.end, e.id))
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
            relations=tuple(relations_by_layer.get(layer, [])),
            path=f"corpus/annotations/{layer_name}/{layer_name.rsplit('/', 1)[-1]}.jsonl",
            line=0,
            annotator=source.annotators.get(layer),
        )
        result.records.append(record)
        if entity_meta.get(layer):
            result.record_meta[(layer_name, doc_id)] = {"entities": entity_meta[layer]}


def refresh_stats(result: ImportResult) -> None:
    """Recount problems after an adapter added its own (parse problems, side-table problems)."""
    result.stats["problems"] = dict(sorted(Counter(p.kind for p in result.problems).items()))
    result.stats["errors"] = len(result.errors)


# --------------------------------------------------------------------------- reading helpers


def decode(data: bytes, path: str) -> str:
    """Strict UTF-8 (a BOM is kept: offsets may count it); ``ImportFailed`` naming the bad byte."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise ImportFailed(f"{path}:{line}: invalid UTF-8 at byte offset {error.start}: {error.reason}") from None


def iter_json_values(text: str, path: str) -> Iterator[tuple[int, Any]]:
    """Every JSON value in ``text`` with its line number: JSON Lines, but also one pretty-printed
    object, an array of objects, or several concatenated objects (doccano's examples use all)."""
    decoder = json.JSONDecoder()
    position = 0
    text = text.removeprefix(BOM)
    length = len(text)
    while True:
        while position < length and text[position] in " \t\r\n":
            position += 1
        if position >= length:
            return
        line = text.count("\n", 0, position) + 1
        try:
            value, end = decoder.raw_decode(text, position)
        except json.JSONDecodeError as error:
            raise ImportFailed(f"{path}:{error.lineno}: not JSON: {error.msg} at column {error.colno}") from None
        if isinstance(value, list) and position == 0 and all(isinstance(v, dict) for v in value):
            for item in value:
                yield line, item
        else:
            yield line, value
        position = end


def expand_paths(paths: Sequence[Path], suffixes: Sequence[str]) -> list[Path]:
    """Files as given, directories expanded to their files with one of ``suffixes`` (sorted)."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.is_file() and any(p.name.endswith(s) for s in suffixes)))
        elif path.exists():
            found.append(path)
        else:
            raise ImportFailed(f"{path}: no such file or directory")
    if not found:
        raise ImportFailed(f"no input files ({', '.join(suffixes)}) in {', '.join(map(str, paths))}")
    return found


def display(path: Path) -> str:
    """``path`` relative to the working directory when it is inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


# --------------------------------------------------------------------------- writing an import


def _atomic_write(path: Path, content: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(content, encoding="utf-8")
    os.replace(tmp, path)


def document_line(document: Document) -> dict[str, Any]:
    """The ``schemas/document.schema.json`` form of a document."""
    line: dict[str, Any] = {"id": document.doc_id, "text": document.text}
    for key in ("title", "date", "url"):
        value = getattr(document, key)
        if value is not None:
            line[key] = value
    if document.meta:
        line["meta"] = document.meta
    return line


def _existing_doc_ids(seeds_dir: Path, skip: Path) -> dict[str, str]:
    ids: dict[str, str] = {}
    if not seeds_dir.exists():
        return ids
    for path in sorted(seeds_dir.rglob("*")):
        if not path.is_file() or path.resolve() == skip.resolve():
            continue
        if path.suffix == ".txt":
            ids[path.stem] = str(path)
        elif path.suffix == ".jsonl":
            for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
                try:
                    data = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(data, dict) and isinstance(data.get("id"), str):
                    ids[data["id"]] = f"{path}:{number}"
    return ids


def write_import(
    result: ImportResult,
    *,
    seeds_dir: Path,
    annotations_dir: Path,
    reports_dir: Path,
    force: bool = False,
    info: dict[str, Any] | None = None,
) -> dict[str, Path]:
    """Write the documents, one JSONL file per annotation layer, side tables and a report.

    Refuses (``ImportFailed``) to overwrite an earlier import of the same name without ``force``
    and to add a document whose id another seed file already uses. With ``force`` the files of
    the earlier import (as its report lists them) are replaced.
    """
    name = result.name
    seeds_file = seeds_dir / f"{name}.jsonl"
    report_dir = reports_dir / name
    report_file = report_dir / "report.json"
    if seeds_file.exists() or report_file.exists():
        if not force:
            raise ImportFailed(f"{seeds_file} or {report_file} exists: an import named {name!r} was written before; pass --force to replace it")
        if report_file.exists():
            previous = json.loads(report_file.read_text(encoding="utf-8"))
            for relative in previous.get("files", {}).values():
                old = Path(relative)
                if old.exists() and old.is_file():
                    old.unlink()
    existing = _existing_doc_ids(seeds_dir, seeds_file) if result.documents else {}
    clashes = {d.doc_id: existing[d.doc_id] for d in result.documents if d.doc_id in existing}
    if clashes:
        listed = "\n".join(f"  {doc_id} (already in {where})" for doc_id, where in sorted(clashes.items())[:50])
        raise ImportFailed(f"{len(clashes)} imported document id(s) are already used by other seed files; choose another --name or --id-prefix:\n{listed}")

    texts = {d.doc_id: d.text for d in result.documents}
    files: dict[str, Path] = {"documents": seeds_file}
    _atomic_write(seeds_file, "".join(json.dumps(document_line(d), ensure_ascii=False) + "\n" for d in result.documents))
    for layer in result.layers:
        layer_dir = annotations_dir / layer
        layer_file = layer_dir / f"{layer.rsplit('/', 1)[-1]}.jsonl"
        lines = []
        for record in result.records_of(layer):
            data = record.to_json(texts[record.doc_id])
            meta = result.record_meta.get((layer, record.doc_id))
            if meta:
                data["meta"] = meta
            lines.append(json.dumps(data, ensure_ascii=False) + "\n")
        _atomic_write(layer_file, "".join(lines))
        files[f"layer:{layer}"] = layer_file
    for extra, rows in result.extras.items():
        extra_file = report_dir / f"{extra}.jsonl"
        _atomic_write(extra_file, "".join(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n" for row in rows))
        files[f"table:{extra}"] = extra_file
    problems_file = report_dir / "problems.jsonl"
    _atomic_write(problems_file, "".join(json.dumps(p.to_json(), ensure_ascii=False, sort_keys=True) + "\n" for p in result.problems))
    files["problems"] = problems_file
    report = {"name": name, **(info or {}), **result.stats, "files": {k: str(v) for k, v in files.items()}}
    _atomic_write(report_file, json.dumps(report, indent=2, ensure_ascii=False, sort_keys=True) + "\n")
    files["report"] = report_file
    return files


# --------------------------------------------------------------------------- the published corpus


@dataclass(frozen=True)
class Token:
    start: int
    end: int
    sent_idx: int
    tag: str


@dataclass(frozen=True)
class CorpusDocument:
    doc_id: str
    text: str
    split: str
    entities: tuple[Entity, ...]
    relations: tuple[Relation, ...]
    sentences: tuple[tuple[int, int], ...]
    tokens: tuple[Token, ...]
    title: str | None = None
    date: str | None = None
    url: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def sentence_tokens(self) -> list[list[Token]]:
        """Tokens grouped by sentence, in order."""
        groups: dict[int, list[Token]] = defaultdict(list)
        for token in self.tokens:
            groups[token.sent_idx].append(token)
        return [groups[i] for i in sorted(groups)]


@dataclass(frozen=True)
class Corpus:
    """The published dataset as exporters see it: documents with entities, relations, sentences
    and tagged tokens, plus the label schema it was published with."""

    documents: tuple[CorpusDocument, ...]
    entity_types: tuple[str, ...]
    relation_types: dict[str, dict[str, Any]]
    bio_labels: tuple[str, ...]
    splits: tuple[str, ...]
    root: Path | None = None

    def split(self, name: str) -> list[CorpusDocument]:
        return [d for d in self.documents if d.split == name]


SPLIT_ORDER = ("train", "dev", "validation", "test")


def order_splits(names: Iterable[str]) -> tuple[str, ...]:
    names = set(names)
    return tuple([s for s in SPLIT_ORDER if s in names] + sorted(names - set(SPLIT_ORDER)))


def corpus_from_tables(tables: dict[str, Any], label_schema: dict[str, Any], root: Path | None = None) -> Corpus:
    """Build a :class:`Corpus` from the published tables (pyarrow tables by name) and the label
    schema metadata (``LabelSchema.to_metadata()``, as stored in ``manifest.json``)."""
    by_doc: dict[str, dict[str, list[Any]]] = defaultdict(lambda: defaultdict(list))
    for row in tables["entities"].to_pylist():
        by_doc[row["doc_id"]]["entities"].append(Entity(row["ent_id"], row["start"], row["end"], row["label"], row["source"]))
    for row in tables["relations"].to_pylist():
        by_doc[row["doc_id"]]["relations"].append(Relation(row["rel_id"], row["head"], row["tail"], row["label"], row["source"]))
    for row in tables["sentences"].select(["doc_id", "sent_idx", "start", "end"]).to_pylist():
        by_doc[row["doc_id"]]["sentences"].append((row["sent_idx"], row["start"], row["end"]))
    columns = [tables["tokens"].column(c).to_pylist() for c in ("doc_id", "tok_idx", "start", "end", "sent_idx", "ner_tag")]
    for doc_id, tok_idx, start, end, sent_idx, tag in zip(*columns):
        by_doc[doc_id]["tokens"].append((tok_idx, Token(start, end, sent_idx, tag)))
    documents = []
    for row in tables["documents"].to_pylist():
        parts = by_doc.get(row["doc_id"], {})
        documents.append(
            CorpusDocument(
                doc_id=row["doc_id"],
                text=row["text"],
                split=row["split"],
                entities=tuple(sorted(parts.get("entities", []), key=lambda e: (e.start, e.end, e.id))),
                relations=tuple(sorted(parts.get("relations", []), key=lambda r: r.id)),
                sentences=tuple((s, e) for _, s, e in sorted(parts.get("sentences", []))),
                tokens=tuple(t for _, t in sorted(parts.get("tokens", []), key=lambda item: item[0])),
                title=row.get("title"),
                date=row.get("date"),
                url=row.get("url"),
                meta=json.loads(row["meta"]) if row.get("meta") else {},
            )
        )
    documents.sort(key=lambda d: d.doc_id)
    return Corpus(
        documents=tuple(documents),
        entity_types=tuple(label_schema["entity_types"]),
        relation_types=dict(label_schema.get("relation_types", {})),
        bio_labels=tuple(label_schema["bio_labels"]),
        splits=order_splits(d.split for d in documents),
        root=root,
    )


FLAT_TABLES = ("documents", "sentences", "tokens", "entities", "relations")


def load_published(published: Path) -> Corpus:
    """Read ``corpus/published`` (the flat tables, every shard, and ``manifest.json``)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    manifest_path = published / "manifest.json"
    if not manifest_path.exists():
        raise FileNotFoundError(f"{manifest_path} does not exist: build the dataset first (dvc repro)")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    tables = {}
    for name in FLAT_TABLES:
        files = sorted((published / name).glob("*.parquet"))
        if not files:
            raise FileNotFoundError(f"{published / name} holds no Parquet files")
        tables[name] = pa.concat_tables([pq.read_table(f) for f in files])
    return corpus_from_tables(tables, manifest["label_schema"], root=published)


@dataclass
class ExportOptions:
    offsets: str = "utf16"
