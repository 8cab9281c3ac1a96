"""MobIE / SmartData JSON (DFKI): ``.jsonl``, ``.jsonl.gz``, ``.json``, ``.avrojson``.

Two encodings of the documents of ``mobie-document.avsc`` (DFKI's Avro schema of a
``de.dfki.lt.tap.Document``) are read, in any mix:

* plain JSON, as MobIE's JSONL has it: one object per line, union values unwrapped;
* the Avro JSON encoding, as SmartData v3 is distributed: objects pretty-printed over many lines,
  union values wrapped (``{"string": …}``, ``{"array": […]}``, named types by full name).

Objects may be separated by any whitespace. Which encoding an object is in is decided by the
schema (:mod:`pipeline.formats.avro_json`): an object that decodes as the Avro JSON encoding of a
``Document`` is one, any other is read as plain JSON. The schema is ``--avro-schema``
(:attr:`ImportOptions.avro_schema`), by default the one ``*.avsc`` file beside the input (where
DFKI ships it); without one, every object is read as plain JSON and a wrapped ``text`` is reported.
Entity types are read in either spelling: SmartData's ``LOCATION_CITY`` is MobIE's
``location-city`` (lower case, ``_`` as ``-``), and argument roles in lower case.

Read: ``id``, ``text``, ``date``, ``title``, ``uri`` and the source kind; entities from
``conceptMentions`` (``span`` in UTF-16 code units, ``type``); relations from the n-ary
``relationMentions`` (an event ``name`` with role-typed ``args``). Tokens, sentences, POS tags,
linking ids and snorkel probabilities are not imported.

n-ary → binary, configured under ``options.nary`` of the mapping file:

``rule: trigger-to-arguments`` (default)
    For each relation mention, one binary relation from its ``trigger`` argument (the role named
    by ``trigger_role``) to every other argument, labelled by ``label`` (a template over
    ``{name}``, the event type, and ``{role}``, the argument's role; default ``{role}``). The
    result then goes through the ``relations`` part of the mapping like any other label.
    A mention without a trigger yields no binary relation (reported as a warning).
``rule: none``
    No binary relations.

Either way every relation mention is also kept whole, one row per mention, in
``corpus/imported/<name>/nary_relations.jsonl`` (``keep_whole: false`` turns that off).

An argument whose ``conceptMention.id`` is not among the document's concept mentions is matched
to the concept mention with the same span and type; if there is none it is reported
(``unmatched-argument``, an error: an argument of the n-ary mention, not ``missing-argument``,
which the importer's checks report for a binary relation) and yields no binary relation.
"""

from __future__ import annotations

import contextlib
import gzip
import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pipeline.core.problems import Problem, Severity
from pipeline.core.text import OffsetMap, to_codepoints
from pipeline.formats import ImportFailed
from pipeline.formats.avro_json import AvroRecordType, NotAvroJson, json_values
from pipeline.formats.build import ImportOptions, ImportResult, build_result, refresh_stats
from pipeline.formats.ids import sanitise_id
from pipeline.formats.reading import decode, expand_paths
from pipeline.formats.source import SourceDocument, SourceEntity, SourceRelation
from pipeline.io.jsonl import display_path

DEFAULT_NARY = {"rule": "trigger-to-arguments", "trigger_role": "trigger", "label": "{role}", "keep_whole": True}
RULES = ("trigger-to-arguments", "none")


def nary_options(options: ImportOptions) -> dict[str, Any]:
    nary = {**DEFAULT_NARY, **(options.mapping.options.get("nary") or {})}
    if nary["rule"] not in RULES:
        raise ImportFailed(f"{options.mapping.path}: options.nary.rule {nary['rule']!r} is not one of {list(RULES)}")
    return nary


DOCUMENT_TYPE = "de.dfki.lt.tap.Document"


def _text(path: Path) -> str:
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return decode(data, display_path(path))


def type_name(value: Any) -> Any:
    """A MobIE/SmartData entity type in MobIE's spelling (``LOCATION_CITY`` → ``location-city``)."""
    return value.lower().replace("_", "-") if isinstance(value, str) else value


def document_schema(paths: Sequence[Path], options: ImportOptions) -> AvroRecordType | None:
    """The ``Document`` type of ``--avro-schema``, else of the one ``*.avsc`` beside the inputs."""
    path = options.avro_schema
    if path is None:
        folders = {(p if p.is_dir() else p.parent).resolve() for p in paths}
        found = sorted({a for folder in folders for a in folder.glob("*.avsc")})
        if len(found) > 1:
            raise ImportFailed(f"several Avro schemas beside the input ({', '.join(map(str, found))}); choose one with --avro-schema")
        path = found[0] if found else None
    if path is None:
        return None
    try:
        return AvroRecordType(Path(path), DOCUMENT_TYPE)
    except (OSError, ValueError) as error:
        raise ImportFailed(f"--avro-schema {path}: {error}") from None


def read(paths: Sequence[Path], options: ImportOptions) -> ImportResult:
    nary = nary_options(options)
    documents: list[SourceDocument] = []
    problems: list[Problem] = []
    mentions: list[tuple[SourceDocument, list[dict[str, Any]]]] = []
    schema = document_schema(paths, options)
    encodings: Counter[str] = Counter()
    for path in expand_paths(paths, (".jsonl", ".jsonl.gz", ".json", ".avrojson")):
        shown = display_path(path)
        values = json_values(_text(path))
        while options.limit is None or len(documents) < options.limit:
            try:
                number, data = next(values)
            except StopIteration:
                break
            except json.JSONDecodeError as error:
                raise ImportFailed(f"{shown}:{error.lineno}: not JSON: {error.msg} at column {error.colno}") from None
            encoding = "plain"
            if schema is not None and isinstance(data, dict):
                with contextlib.suppress(NotAvroJson):  # then it is plain JSON
                    data, encoding = schema.decode(data), "avro-json"
            if not isinstance(data, dict) or not isinstance(data.get("text"), str):
                wrapped = isinstance(data, dict) and isinstance(data.get("text"), dict)
                hint = (
                    " (its text is wrapped, as in the Avro JSON encoding: pass --avro-schema mobie-document.avsc)"
                    if wrapped and schema is None
                    else ""
                )
                problems.append(
                    Problem(shown, number, None, "missing-text", f"the object is not a MobIE document with a 'text'{hint}; skipped")
                )
                continue
            encodings[encoding] += 1
            document, found = _document(data, shown, number, nary)
            problems.extend(found)
            documents.append(document)
            mentions.append((document, data.get("relationMentions") or []))
    result = build_result(documents, options)
    result.problems[:0] = problems
    if nary["keep_whole"]:
        result.extras["nary_relations"] = _whole_table(mentions, result, options)
    result.stats["nary_relations"] = sum(len(m) for _, m in mentions)
    result.stats["encodings"] = dict(sorted(encodings.items()))
    result.stats["avro_schema"] = str(schema.path) if schema is not None else None
    result.stats["nary_rule"] = nary
    refresh_stats(result)
    return result


def _span(mention: dict[str, Any]) -> tuple[int, int]:
    return mention["span"]["start"], mention["span"]["end"]


def _concept(mention: dict[str, Any]) -> dict[str, Any]:
    """A concept mention with its type in MobIE's spelling (:func:`type_name`)."""
    return {**mention, "type": type_name(mention.get("type"))}


def _document(data: dict[str, Any], path: str, line: int, nary: dict[str, Any]) -> tuple[SourceDocument, list[Problem]]:
    source_id = str(data.get("id")) if data.get("id") is not None else None
    problems: list[Problem] = []
    concepts = [_concept(c) for c in data.get("conceptMentions") or [] if isinstance(c, dict)]
    by_id = {c["id"]: c for c in concepts}
    by_span_type = {(_span(c), c["type"]): c for c in concepts}
    entities = [SourceEntity(c["id"], *_span(c), c["type"]) for c in concepts]
    relations: list[SourceRelation] = []
    for mention in data.get("relationMentions") or []:
        args = []
        for arg in mention.get("args") or []:
            concept = _concept(arg.get("conceptMention") or {})
            target = by_id.get(concept.get("id"))
            if target is None and "span" in concept:
                target = by_span_type.get((_span(concept), concept.get("type")))
                if target is not None:
                    problems.append(
                        Problem(
                            path,
                            line,
                            source_id,
                            "argument-matched-by-span",
                            f"relation {mention.get('id')} argument {arg.get('role')!r}: concept id {concept.get('id')!r} is not in conceptMentions; matched {target['id']!r} by span and type",
                            Severity.WARNING,
                        )
                    )
            if target is None:
                problems.append(
                    Problem(
                        path,
                        line,
                        source_id,
                        "unmatched-argument",
                        f"relation {mention.get('id')} argument {arg.get('role')!r}: concept {concept.get('id')!r} {concept.get('type')!r} {concept.get('span')} matches no concept mention by id or by span and type; no binary relation for it",
                    )
                )
                continue
            role = arg.get("role")
            args.append((role.lower() if isinstance(role, str) else role, target))
        if nary["rule"] != "trigger-to-arguments":
            continue
        triggers = [concept for role, concept in args if role == nary["trigger_role"]]
        if len(triggers) != 1:
            problems.append(
                Problem(
                    path,
                    line,
                    source_id,
                    "no-single-trigger",
                    f"relation {mention.get('id')} {mention.get('name')!r} has {len(triggers)} {nary['trigger_role']!r} arguments; no binary relations (kept whole in the n-ary table)",
                    Severity.WARNING,
                )
            )
            continue
        trigger = triggers[0]
        for index, (role, concept) in enumerate((r, c) for r, c in args if r != nary["trigger_role"]):
            label = nary["label"].format(name=mention.get("name"), role=role)
            relations.append(SourceRelation(f"{sanitise_id(str(mention.get('id')))}.{index + 1}", trigger["id"], concept["id"], label))
    refids = data.get("refids") if isinstance(data.get("refids"), dict) else {}
    meta = {
        k: v
        for k, v in {
            "docType": data.get("docType"),
            "langCode": data.get("langCode"),
            "source": refids.get("source"),
            "fileName": refids.get("fileName"),
        }.items()
        if v is not None
    }
    return (
        SourceDocument(
            source_id=source_id,
            text=data["text"],
            path=path,
            line=line,
            offsets="utf16",
            entities=entities,
            relations=relations,
            title=data.get("title"),
            date=data.get("date"),
            url=data.get("uri"),
            meta=meta,
        ),
        problems,
    )


def _whole_table(
    mentions: list[tuple[SourceDocument, list[dict[str, Any]]]], result: ImportResult, options: ImportOptions
) -> list[dict[str, Any]]:
    """Every relation mention, whole: its event type and each argument's role, span (code points
    into the normalised text), text, MobIE type and, when the entity was imported, its id."""
    records = {r.doc_id: r for r in result.records_of(options.layer(""))}
    documents = {d.doc_id: d for d in result.documents}
    rows = []
    for document, doc_mentions in mentions:
        doc_id = document.doc_id
        if doc_id not in documents:
            continue
        offsets = OffsetMap(document.text)
        record = records.get(doc_id)
        by_span = {(e.start, e.end, e.label): e.id for e in record.entities} if record else {}
        for mention in doc_mentions:
            args = []
            for arg in mention.get("args") or []:
                concept = _concept(arg.get("conceptMention") or {})
                try:
                    start, end = offsets.map(to_codepoints(document.text, list(_span(concept)), "utf16"))
                except (KeyError, ValueError):
                    start = end = None
                args.append(
                    {
                        "role": arg.get("role"),
                        "type": concept.get("type"),
                        "start": start,
                        "end": end,
                        "text": offsets.text[start:end] if start is not None else None,
                        "entity_id": by_span.get((start, end, options.mapping.entities.get(concept.get("type"))))
                        if start is not None
                        else None,
                        "source_id": concept.get("id"),
                    }
                )
            rows.append({"doc_id": doc_id, "id": mention.get("id"), "name": mention.get("name"), "args": args})
    return rows
