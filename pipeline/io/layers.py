"""The one reader of the annotation layers: ``<annotations_dir>/<layer>/*.jsonl``.

A layer is a folder of JSONL files (``gold``, ``annotators/anna``, ``imported/germeval``), one
record per line in the form of ``schemas/annotation.schema.json``. Each line is checked against
that JSON Schema as it is read (a structural problem names its file and line); the semantic
checks against the documents are :mod:`pipeline.core.checks`.

For a corpus of any size, :func:`index_layers` streams the files and keeps only where each record
is (:class:`LayerLine`), and :func:`load_records` later reads exactly the records a worker needs.
For a small layer, :func:`read_layers` returns the records themselves; :func:`read_matching_layers`
those of the layers matching fnmatch patterns (the annotators that ``agreement`` compares).
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.core.problems import Problem
from pipeline.core.spans import AnnotationRecord, record_from_json
from pipeline.io.jsonl import FileIndexes, LineMemo, LineRef, display_path, line_ref, read_lines, scan_jsonl


def layer_name(path: Path, annotations_dir: Path) -> str:
    """``gold`` for ``annotations/gold/x.jsonl``; the file stem for a file directly in the folder."""
    relative = path.relative_to(annotations_dir)
    return relative.parent.as_posix() if relative.parent != Path(".") else relative.stem


@dataclass(frozen=True)
class LayerLine:
    """Where one annotation record is: its layer and its line (no content; see :func:`load_records`)."""

    layer: str
    ref: LineRef

    def fingerprint(self) -> list[Any]:
        return [self.layer, *self.ref.fingerprint()]


def index_layers(
    annotations_dir: Path,
    validator: Any,
    root: Path | None = None,
    memo: LineMemo | None = None,
    patterns: Sequence[str] | None = None,
    indexes: FileIndexes | None = None,
) -> tuple[list[LayerLine], list[Problem], set[tuple[str, str]]]:
    """Where every structurally valid record of every layer is, every structural problem, and the
    (layer, entity id) pairs that some relation names but its own record does not define; only of
    the layers whose name matches one of ``patterns`` (fnmatch) when given (the others are not read).

    Streams the files and keeps no record, so memory does not grow with the annotations. With
    ``indexes`` (:func:`layer_indexes`), a file indexed before and unchanged since is not read.
    """
    root = root or Path.cwd()
    lines: list[LayerLine] = []
    problems: list[Problem] = []
    dangling: set[tuple[str, str]] = set()
    if not annotations_dir.exists():
        return lines, problems, dangling

    def summarise(data: dict[str, Any]) -> list[Any]:
        ids = {entity["id"] for entity in data.get("entities", [])}
        missing = {ref for relation in data.get("relations", []) for ref in (relation["head"], relation["tail"]) if ref not in ids}
        return [data["doc_id"], sorted(missing)]

    for path in sorted(annotations_dir.rglob("*.jsonl")):
        display = display_path(path, root)
        layer = layer_name(path, annotations_dir)
        if patterns is not None and not any(fnmatch.fnmatchcase(layer, pattern) for pattern in patterns):
            continue
        found, found_problems = scan_jsonl(path, display, validator, "doc_id", summarise, memo, indexes=indexes)
        for line in found:
            doc_id, missing = line.summary
            lines.append(LayerLine(layer, line_ref(path, display, line, doc_id)))
            if missing:
                dangling.update((layer, ref) for ref in missing)
        problems.extend(found_problems)
    return lines, problems, dangling


def layer_indexes(folder: Path, schema: Path, code: str) -> FileIndexes:
    """The :class:`~pipeline.io.jsonl.FileIndexes` of the layer files, the same for every stage that
    indexes them with this annotation ``schema`` and this module's ``code`` (its
    :func:`~pipeline.runtime.fingerprint.code_fingerprint`: the summary of a line is made here)."""
    return FileIndexes(folder, hashlib.sha256(json.dumps([schema.read_text(encoding="utf-8"), code]).encode("utf-8")).hexdigest())


def load_records(lines: Sequence[LayerLine]) -> list[AnnotationRecord]:
    """The records ``lines`` point to, in the same order."""
    return [
        record_from_json(data, layer=line.layer, path=line.ref.path, line=line.ref.line or 0)
        for line, data in zip(lines, read_lines([line.ref for line in lines]), strict=True)
    ]


def read_layers(annotations_dir: Path, validator: Any, root: Path | None = None) -> tuple[list[AnnotationRecord], list[Problem]]:
    """All records of all layers, in file and line order, with every structural problem (for tools
    that want the records themselves: a small layer, not the whole corpus)."""
    lines, problems, _ = index_layers(annotations_dir, validator, root)
    return load_records(lines), problems


def read_matching_layers(
    annotations_dir: Path, validator: Any, patterns: Sequence[str], root: Path | None = None
) -> tuple[list[AnnotationRecord], list[Problem]]:
    """The records of the layers whose name matches one of ``patterns``, with their structural problems."""
    lines, problems, _ = index_layers(annotations_dir, validator, root, patterns=patterns)
    return load_records(lines), problems


def entity_homes_for(wanted: set[tuple[str, str]], lines: Sequence[LayerLine]) -> dict[tuple[str, str], list[str]]:
    """For each wanted (layer, entity id), the documents whose records of that layer define it.

    Only needed to explain a relation whose argument is missing (rare), so it re-reads just the
    layers concerned instead of keeping every entity id of the corpus in memory.
    """
    homes: dict[tuple[str, str], list[str]] = defaultdict(list)
    layers = {layer for layer, _ in wanted}
    for record in load_records([line for line in lines if line.layer in layers]):
        for entity in record.entities:
            if (record.layer, entity.id) in wanted:
                homes[(record.layer, entity.id)].append(record.doc_id)
    return dict(homes)
