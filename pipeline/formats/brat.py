"""BRAT standoff: ``<doc>.txt`` + ``<doc>.ann`` (import and export).

Import reads ``T`` lines (``T1<TAB>Label start end<TAB>text``; offsets are code points into the
``.txt`` as stored, so a CRLF file is remapped onto the normalised text) and ``R`` lines
(``R1<TAB>Label Arg1:T1 Arg2:T2``). The stored span text is checked against the ``.txt`` and a
relation's arguments against the ``T`` lines by the importer's checks (:mod:`pipeline.formats.build`).
A span brat split at line breaks (fragments separated only by whitespace with a line break) is
read as one span; other discontinuous spans (``0 5;9 12``) cannot be represented and are
reported. Every other line kind
(``E`` events, ``A``/``M`` attributes, ``N`` normalisations, ``*`` equivalences, ``#`` notes) is
reported as unsupported, one warning per line. The document id is the file stem.

Export writes ``<split>/<doc_id>.txt`` and ``.ann`` per document (entity ids ``T<n>`` and relation
ids ``R<n>`` are kept when they have that form, otherwise renumbered) and an ``annotation.conf``
declaring the label schema so that brat can display the collection.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pipeline.core.problems import Problem, Severity
from pipeline.formats import ExportOptions, ImportFailed
from pipeline.formats.build import ImportOptions, ImportResult, build_result, refresh_stats
from pipeline.formats.reading import decode, expand_paths
from pipeline.formats.source import MAIN_LAYER, SourceDocument, SourceEntity, SourceRelation
from pipeline.io.jsonl import display_path
from pipeline.io.published import Corpus

T_LINE = re.compile(r"^(T\d+)\t(\S+) (\d+ \d+(?:;\d+ \d+)*)\t(.*)$")
R_LINE = re.compile(r"^(R\d+)\t(\S+) Arg1:(\S+) Arg2:(\S+)\s*$")
UNSUPPORTED = {"E": "event", "A": "attribute", "M": "attribute", "N": "normalisation", "*": "equivalence", "#": "note"}


def read(paths: Sequence[Path], options: ImportOptions) -> ImportResult:
    documents: list[SourceDocument] = []
    problems: list[Problem] = []
    pairs = dict.fromkeys(path.with_suffix(".ann") for path in expand_paths(paths, (".ann",)))
    for ann in pairs:
        txt = ann.with_suffix(".txt")
        if not ann.exists() or not txt.exists():
            raise ImportFailed(f"{ann}: brat needs both {txt.name} and {ann.name}")
        documents.append(_document(txt, ann, problems))
    result = build_result(documents, options)
    result.problems[:0] = problems
    refresh_stats(result)
    return result


def _document(txt: Path, ann: Path, problems: list[Problem]) -> SourceDocument:
    shown = display_path(ann)
    text = decode(txt.read_bytes(), display_path(txt))
    entities: list[SourceEntity] = []
    relations: list[SourceRelation] = []
    discontinuous: set[tuple[str, str]] = set()
    for number, line in enumerate(decode(ann.read_bytes(), shown).split("\n"), start=1):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        if match := T_LINE.match(line):
            entity_id, label, fragments, span_text = match.groups()
            pieces = [tuple(map(int, f.split())) for f in fragments.split(";")]
            gaps = [text[a[1] : b[0]] for a, b in itertools.pairwise(pieces)]
            if any(gap.strip() or "\n" not in gap or a[1] > b[0] for gap, (a, b) in zip(gaps, itertools.pairwise(pieces), strict=True)):
                problems.append(
                    Problem(
                        shown,
                        number,
                        txt.stem,
                        "discontinuous-span",
                        f"{entity_id} {label} has a discontinuous span ({fragments}); not representable, skipped",
                    )
                )
                discontinuous.add((MAIN_LAYER, entity_id))
                continue
            # brat stores a span across line breaks as fragments joined by a space: one span here,
            # whose stored text is checked (by the importer's checks) only when the fragments do not read so
            joined = " ".join(text[a:b] for a, b in pieces) if len(pieces) > 1 else None
            entities.append(SourceEntity(entity_id, pieces[0][0], pieces[-1][1], label, text=None if joined == span_text else span_text))
        elif match := R_LINE.match(line):
            relation_id, label, head, tail = match.groups()
            relations.append(SourceRelation(relation_id, head, tail, label))
        elif line[:1] in UNSUPPORTED or line[:1] in "TR":
            kind = UNSUPPORTED.get(line[:1], "malformed")
            problems.append(
                Problem(shown, number, txt.stem, "unsupported-annotation", f"{kind} line not imported: {line[:80]!r}", Severity.WARNING)
            )
        else:
            problems.append(
                Problem(
                    shown, number, txt.stem, "unsupported-annotation", f"unknown line kind not imported: {line[:80]!r}", Severity.WARNING
                )
            )
    return SourceDocument(
        source_id=txt.stem,
        text=text,
        path=shown,
        line=None,
        offsets="codepoint",
        entities=entities,
        relations=relations,
        skipped=discontinuous,
    )


# --------------------------------------------------------------------------- export


def _ids(values: Sequence[str], prefix: str) -> dict[str, str]:
    if all(re.fullmatch(rf"{prefix}\d+", v) for v in values) and len(set(values)) == len(values):
        return {v: v for v in values}
    return {v: f"{prefix}{index}" for index, v in enumerate(values, start=1)}


def annotation_conf(corpus: Corpus) -> str:
    entities = "\n".join(corpus.entity_types)
    relations = "\n".join(
        f"{name}\tArg1:{'|'.join(spec['head'])}, Arg2:{'|'.join(spec['tail'])}" for name, spec in corpus.relation_types.items()
    )
    return f"[entities]\n{entities}\n\n[relations]\n{relations}\n<OVERLAP>\tArg1:<ENTITY>, Arg2:<ENTITY>, <OVL-TYPE>:<ANY>\n\n[events]\n\n[attributes]\n"


def write(corpus: Corpus, out: Path, options: ExportOptions) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "annotation.conf"]
    written[0].write_text(annotation_conf(corpus), encoding="utf-8")
    for doc in corpus.documents:
        folder = out / doc.split
        folder.mkdir(parents=True, exist_ok=True)
        txt = folder / f"{doc.doc_id}.txt"
        ann = folder / f"{doc.doc_id}.ann"
        with open(txt, "w", encoding="utf-8", newline="") as handle:
            handle.write(doc.text)
        with open(ann, "w", encoding="utf-8", newline="") as handle:
            handle.write(_ann(doc))
        written += [txt, ann]
    return written


def _fragments(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """A span as brat stores it: split at line breaks (with the whitespace around them left out)."""
    fragments = []
    for match in re.finditer(r"[^\n]+", text[start:end]):
        piece = match.group()
        a = start + match.start() + (len(piece) - len(piece.lstrip()))
        b = start + match.end() - (len(piece) - len(piece.rstrip()))
        if a < b:
            fragments.append((a, b))
    return fragments or [(start, end)]


def _ann(doc: Any) -> str:
    entity_ids = _ids([e.id for e in doc.entities], "T")
    relation_ids = _ids([r.id for r in doc.relations], "R")
    lines = []
    for entity in doc.entities:
        fragments = _fragments(doc.text, entity.start, entity.end)
        offsets = ";".join(f"{a} {b}" for a, b in fragments)
        span = " ".join(doc.text[a:b] for a, b in fragments)
        lines.append(f"{entity_ids[entity.id]}\t{entity.label} {offsets}\t{span}\n")
    for relation in doc.relations:
        lines.append(f"{relation_ids[relation.id]}\t{relation.label} Arg1:{entity_ids[relation.head]} Arg2:{entity_ids[relation.tail]}\n")
    return "".join(lines)
