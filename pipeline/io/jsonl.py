"""Reading JSONL input (seed documents, annotation layers) with every problem named by file:line.

Files are read line by line, never whole, so that a stage can index a corpus of any size in
bounded memory: :func:`scan_jsonl` checks every line and keeps only a small summary of it, the
stage keeps a :class:`LineRef` (where the line is and a hash of its bytes), and a worker later
re-reads exactly its lines with :func:`read_lines`. A :class:`LineMemo` spares re-parsing lines
that did not change since the last run.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from pipeline.core.problems import Problem
from pipeline.io import atomic

UTF8_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class LineRef:
    """Where one input line (or a whole one-document file) is, and what its bytes hash to."""

    file: str
    """The file as the process opens it."""
    path: str
    """The file as messages show it (relative to the project root)."""
    line: int | None
    offset: int
    length: int
    key: str
    """The id the line carries (``id`` of a document, ``doc_id`` of an annotation record)."""
    sha256: str
    """sha256 of the line's bytes: everything built from the line depends only on them."""

    def fingerprint(self) -> list[Any]:
        return [self.path, self.line, self.key, self.sha256]


def decode_utf8(data: bytes, path: str, base: int = 0, first_line: int = 1) -> tuple[str | None, Problem | None]:
    """Decode strictly; on failure a problem naming the byte offset and line of the bad byte.

    ``base`` and ``first_line`` place ``data`` inside its file when it is one line of it.
    """
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as error:
        line = first_line + data.count(b"\n", 0, error.start)
        bad = data[error.start : error.end].hex(" ")
        return None, Problem(path, line, None, "invalid-utf8", f"invalid UTF-8 at byte offset {base + error.start} (bytes {bad}): {error.reason}")


def schema_problems(validator: Any, data: Any, path: str, line: int | None, doc_id: str | None) -> list[Problem]:
    """Every JSON Schema violation of ``data``, with its JSON path, in a stable order."""
    return [
        Problem(path, line, doc_id, "schema", f"at {error.json_path}: {error.message}")
        for error in sorted(validator.iter_errors(data), key=lambda e: (list(map(str, e.absolute_path)), e.message))
    ]


@dataclass(frozen=True)
class ScannedLine:
    """A line that passed :func:`scan_jsonl`: where it is, its hash, and what the caller kept of it."""

    number: int
    offset: int
    length: int
    sha256: str
    summary: Any


class LineMemo:
    """What :func:`scan_jsonl` kept of lines already checked, by the sha256 of their bytes.

    Re-running a stage after a few lines changed then parses and validates only those lines
    (JSON parsing is most of the cost of indexing a large file). Stored as JSON under the
    pipeline's cache directory, valid only for the same ``key`` (hash of the schema and the code
    that summarises a line), and rewritten with just the lines seen in the last run.
    """

    def __init__(self, path: Path, key: str) -> None:
        self.path, self.key = path, key
        self.known: dict[str, Any] = {}
        self.seen: dict[str, Any] = {}
        if path.exists():
            try:
                stored = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                stored = {}
            if isinstance(stored, dict) and stored.get("key") == key:
                self.known = stored.get("lines", {})

    def get(self, sha256: str) -> Any:
        summary = self.known.get(sha256)
        if summary is not None:
            self.seen[sha256] = summary
        return summary

    def put(self, sha256: str, summary: Any) -> None:
        self.seen[sha256] = summary

    def save(self) -> None:
        atomic.write_text(self.path, json.dumps({"key": self.key, "lines": self.seen}, sort_keys=True))


def scan_jsonl(
    path: Path, display: str, validator: Any, id_key: str, summarise: Callable[[dict[str, Any]], Any], memo: LineMemo | None = None
) -> tuple[list[ScannedLine], list[Problem]]:
    """Every line of ``path`` that decodes, parses and matches the schema, with ``summarise(object)``
    (which must not be None), streaming the file; and every problem of the other lines.

    Blank lines are skipped; a failing line is a problem naming ``display:line`` and, when the
    object has one, its ``id_key`` value as the document. A file with invalid UTF-8 anywhere is
    rejected as a whole (one problem naming the byte offset), as it would be if decoded at once.
    A line whose hash ``memo`` knows is taken from there, not parsed again.
    """
    kept: list[ScannedLine] = []
    problems: list[Problem] = []
    offset = 0
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            start, offset = offset, offset + len(raw)
            sha256 = hashlib.sha256(raw).hexdigest()
            summary = memo.get(sha256) if memo is not None else None
            if summary is not None:
                kept.append(ScannedLine(number, start, len(raw), sha256, summary))
                continue
            text, problem = decode_utf8(raw, display, base=start, first_line=number)
            if problem:
                return [], [problem]
            if number == 1:
                text = text.removeprefix("\ufeff")
            text = text.removesuffix("\n").rstrip("\r")
            if not text.strip():
                continue
            try:
                data = json.loads(text)
            except json.JSONDecodeError as error:
                problems.append(Problem(display, number, None, "invalid-json", f"line is not JSON: {error.msg} at column {error.colno}"))
                continue
            doc_id = data.get(id_key) if isinstance(data, dict) and isinstance(data.get(id_key), str) else None
            found = schema_problems(validator, data, display, number, doc_id)
            if found:
                problems.extend(found)
                continue
            summary = summarise(data)
            if memo is not None:
                memo.put(sha256, summary)
            kept.append(ScannedLine(number, start, len(raw), sha256, summary))
    return kept, problems


def line_ref(path: Path, display: str, line: ScannedLine, key: str) -> LineRef:
    """Where a scanned line is (``key``: the id it carries), for a worker to read it back."""
    return LineRef(str(path), display, line.number, line.offset, line.length, key, line.sha256)


def read_lines(refs: list[LineRef]) -> list[dict[str, Any]]:
    """The objects on the lines ``refs`` point to (as :func:`scan_jsonl` checked them), in the same
    order; each file is opened once and read in offset order."""
    found: dict[int, dict[str, Any]] = {}
    by_file: dict[str, list[int]] = {}
    for index, ref in enumerate(refs):
        by_file.setdefault(ref.file, []).append(index)
    for file, indices in by_file.items():
        with open(file, "rb") as handle:
            for index in sorted(indices, key=lambda i: refs[i].offset):
                ref = refs[index]
                handle.seek(ref.offset)
                raw = handle.read(ref.length)
                if ref.offset == 0:
                    raw = raw.removeprefix(UTF8_BOM)
                found[index] = json.loads(raw.decode("utf-8"))
    return [found[index] for index in range(len(refs))]


def display_path(path: Path, root: Path | None = None) -> str:
    """``path`` relative to ``root`` (default: the working directory) when inside it (as messages
    show it), else as given."""
    try:
        return str(path.resolve().relative_to((Path.cwd() if root is None else root).resolve()))
    except ValueError:
        return str(path)
