"""Reading JSONL input (seed documents, annotation layers) with every problem named by file:line.

Files are read line by line, never whole, so that a stage can index a corpus of any size in
bounded memory: :func:`scan_jsonl` checks every line and keeps only a small summary of it, the
stage keeps a :class:`LineRef` (where the line is and a hash of its bytes), and a worker later
re-reads exactly its lines with :func:`read_lines`. A :class:`LineMemo` spares re-parsing lines
that did not change since the last run; :class:`FileIndexes` spares reading a file that did not
change at all since a stage scanned it. The module is over 400 lines because the scan loop and
the two memos that let it skip work (by line, by file) share its records and must agree exactly.

No input raises: undecodable bytes, lines that are not JSON (or JSON that Python reads but no
other tool does: NaN, Infinity, numbers too large for a double or with more digits than Python
converts, nesting deeper than :data:`MAX_DEPTH`), file names and strings with characters no text
may contain (:func:`pipeline.core.characters.forbidden_characters`: lone surrogates, control characters,
non-characters) each become a :class:`~pipeline.core.problems.Problem` naming the file and line.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import sys
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.core.characters import FORBIDDEN, ForbiddenCharacters, escape_forbidden, forbidden_characters
from pipeline.core.problems import Problem, Severity
from pipeline.core.text import normalise_text
from pipeline.io import atomic
from pipeline.io.memo import Memo, file_identity

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
        return None, Problem(
            path, line, None, "invalid-utf8", f"invalid UTF-8 at byte offset {base + error.start} (bytes {bad}): {error.reason}"
        )


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


class LineMemo(Memo):
    """What :func:`scan_jsonl` kept of lines already checked, by the sha256 of their bytes.

    Re-running a stage after a few lines changed then parses and validates only those lines
    (JSON parsing is most of the cost of indexing a large file); valid only for the same ``key``
    (hash of the schema and the code that summarises a line).
    """

    def worth_rewriting(self) -> bool:
        """Only when the entries used differ from the stored ones by more than 1 %: after a few
        edits the next run parses those few lines again, rather than this one rewriting them all."""
        changed = sum(1 for key in self.seen if key not in self.known) + sum(1 for key in self.known if key not in self.seen)
        return changed > len(self.seen) // 100


class FileIndexes:
    """What :func:`scan_jsonl` found in whole files (its lines and problems), kept by each file's
    identity (:func:`~pipeline.io.memo.file_identity`: device, inode, size, mtime) and the sha256
    of its bytes: a stage or run that scans a file no one changed since, with the same ``salt``
    (the schema and the code that summarise a line), takes both from here without reading it, and
    of a file that only grew by whole lines (appended documents or records) it reads only the new
    lines, after checking that the old bytes hash as before. annotate and preannotate both index
    the gold layer; the second reads one small file instead of hashing every line again.

    One JSON file per input file under ``folder``; a missing, unreadable or foreign one is a miss
    (the file is scanned), so losing it costs a scan, never a wrong index.
    """

    def __init__(self, folder: Path, salt: str) -> None:
        self.folder, self.salt = folder, salt

    def _entry(self, path: Path) -> Path:
        name = hashlib.sha256(os.fsencode(path.resolve())).hexdigest()[:32]
        return self.folder / f"{name}.json"

    def _head(self, path: Path) -> Path:
        return self._entry(path).with_suffix(".head.json")

    def get(self, path: Path, display: str, identity: str) -> tuple[dict[str, Any], FileScan | None] | None:
        """The stored scan of ``path`` as ``display`` names it, if one was made with this salt and
        the file is as it was then (``identity``, its :func:`~pipeline.io.memo.file_identity`: the
        scan is None) or only grew by whole lines since (the scan so far, to go on from). A small
        head file says which, so that a file edited in place costs no parsing of its stored lines."""
        try:
            head = json.loads(self._head(path).read_text(encoding="utf-8"))
            if not isinstance(head, dict) or [head.get("salt"), head.get("display")] != [self.salt, display]:
                return None
            grown = None if head["identity"] == identity else _grown_from(path, head)
            if head["identity"] != identity and grown is None:
                return None
            stored = json.loads(self._entry(path).read_text(encoding="utf-8"))
        except (OSError, ValueError, KeyError, TypeError):
            return None
        # the entry must be the one the head was written with (another run may have replaced one of them)
        if not isinstance(stored, dict) or any(stored.get(key) != head[key] for key in ("salt", "display", "identity", "sha256", "size")):
            return None
        return stored, grown

    def put(self, path: Path, display: str, identity: str, scanned: FileScan, kept: list[ScannedLine], problems: list[Problem]) -> None:
        head = {
            "salt": self.salt,
            "display": display,
            "identity": identity,
            "size": scanned.size,
            "sha256": scanned.hasher.hexdigest(),
            "read": scanned.lines,
            "last": [kept[-1].offset, kept[-1].length, kept[-1].sha256] if kept else None,
        }
        entry = {
            **head,
            "lines": [[line.number, line.offset, line.length, line.sha256, line.summary] for line in kept],
            "problems": [problem.to_json() for problem in problems],
        }
        atomic.write_text(self._entry(path), json.dumps(entry, ensure_ascii=False, separators=(",", ":")))
        atomic.write_text(self._head(path), json.dumps(head, ensure_ascii=False, separators=(",", ":")))


@dataclass
class FileScan:
    """How far a scan has read a file: bytes, lines, and the sha256 of those bytes so far."""

    size: int = 0
    lines: int = 0
    hasher: Any = field(default_factory=hashlib.sha256)


def _grown_from(path: Path, stored: dict[str, Any]) -> FileScan | None:
    """Where to go on scanning ``path`` if it is the stored file (a :class:`FileIndexes` head) with
    whole lines appended: its first ``size`` bytes hash as they did and end a line (else None: scan it all)."""
    size = stored.get("size")
    if not isinstance(size, int) or size <= 0 or os.path.getsize(path) <= size:
        return None
    scan = FileScan(size, stored["read"])
    with open(path, "rb") as handle:
        if stored["last"]:  # the last line kept must be where it was: an edit before it moved it
            offset, length, sha256 = stored["last"]
            handle.seek(offset)
            if hashlib.sha256(handle.read(length)).hexdigest() != sha256:
                return None
            handle.seek(0)
        left = size
        while left:
            chunk = handle.read(min(left, 1 << 20))
            if not chunk:
                return None
            scan.hasher.update(chunk)
            left -= len(chunk)
            last = chunk[-1:]
    return scan if last == b"\n" and scan.hasher.hexdigest() == stored["sha256"] else None


class _NotJson(ValueError):
    """JSON that Python's parser accepts but the JSON standard (and most tools) does not."""


def _no_constant(name: str) -> Any:
    raise _NotJson(f"{name} is not JSON")


def _finite_float(literal: str) -> float:
    value = float(literal)
    if math.isinf(value):
        raise _NotJson(f"the number {literal[:40]} is too large for a double")
    return value


_DECODER = json.JSONDecoder(parse_constant=_no_constant, parse_float=_finite_float)

MAX_DEPTH = 100
"""Deepest nesting of arrays and objects a line may have. Python's parser, ``json.dumps`` and the
schema validator recurse, and a line that parses in one place can overflow the stack in a worker
that reads it deeper in its call stack; no input needs more than a few levels."""


def _depth(data: Any) -> int:
    deepest, stack = 0, [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, (dict, list)):
            deepest = max(deepest, depth)
            stack.extend((item, depth + 1) for item in (value.values() if isinstance(value, dict) else value))
    return deepest


def parse_json_line(text: str) -> tuple[Any, str | None]:
    """The JSON value of one line, or None and why it is not one the pipeline can read."""
    try:
        data = _DECODER.decode(text)
    except json.JSONDecodeError as error:
        return None, f"line is not JSON: {error.msg} at column {error.colno}"
    except _NotJson as error:
        return None, f"line is not JSON: {error}"
    except ValueError:  # int() refuses to convert a literal with more digits than this limit
        return None, f"line has a number with more than {sys.get_int_max_str_digits()} digits"
    except RecursionError:
        return None, f"line nests arrays or objects deeper than {MAX_DEPTH} levels"
    if text.count("[") + text.count("{") > MAX_DEPTH and _depth(data) > MAX_DEPTH:
        return None, f"line nests arrays or objects deeper than {MAX_DEPTH} levels"
    return data, None


def character_problem(found: ForbiddenCharacters, where: str, path: str, line: int | None, doc_id: str | None) -> Problem:
    """The problem for forbidden characters ``found`` in the string ``where`` names."""
    return Problem(path, line, doc_id, found.kind, f"{where}: {found.message}", Severity.ERROR if found.error else Severity.WARNING)


def path_problems(display: str) -> list[Problem]:
    """Problems of a file name: bytes that are not UTF-8 (which Python holds as lone surrogates),
    control characters and non-characters, as for any string; the name is shown with them escaped."""
    try:
        shown = escape_forbidden(os.fsencode(display).decode("utf-8", "backslashreplace"))
    except UnicodeEncodeError:  # a surrogate that no file system byte stands for
        shown = escape_forbidden(display)
    problems = []
    for found in forbidden_characters(display):
        if found.kind == "lone-surrogate":
            problems.append(Problem(shown, None, None, "invalid-utf8", "the file name is not valid UTF-8; rename the file"))
        else:
            problems.append(character_problem(found, "the file name", shown, None, None))
    return problems


# An escape that may stand for a forbidden character: \b, \f, \r or a \u escape of one of the
# classes (false positives only cost a closer look; a supplementary character is a surrogate pair).
_SUSPECT_ESCAPE = re.compile(r"\\(?:[bfr]|u(?:d[89a-f]|00[01]|007f|00[89]|fd[de]|fff[ef]))", re.IGNORECASE)


def _strings(data: Any) -> Iterator[tuple[str, str, bool]]:
    """(JSON path, string, whether it is a key) for every string in ``data``, in document order,
    without recursion (the parser accepts deeper nesting than a recursive walk could follow)."""
    stack: list[tuple[str, Any, bool]] = [("$", data, False)]
    while stack:
        where, value, is_key = stack.pop()
        if isinstance(value, str):
            yield where, value, is_key
        elif isinstance(value, dict):
            for key, item in reversed(value.items()):
                member = f"{where}.{key}" if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key) else f"{where}[{json.dumps(key)}]"
                stack.append((member, item, False))
                stack.append((member, key, True))
        elif isinstance(value, list):
            stack.extend((f"{where}[{index}]", value[index], False) for index in range(len(value) - 1, -1, -1))


def value_problems(data: Any, path: str, line: int | None, doc_id: str | None, normalised: Collection[str] = ()) -> list[Problem]:
    """A problem per string of ``data`` (keys included) and class of forbidden character in it,
    named by its JSON path. The top-level fields ``normalised`` are document texts: they are
    checked as :func:`~pipeline.core.text.normalise_text` returns them (no CR; offsets into the
    text that spans refer to)."""
    texts = {f"$.{key}" for key in normalised}
    problems = []
    for where, value, is_key in _strings(data):
        found = forbidden_characters(value)
        if found and not is_key and where in texts:
            found = forbidden_characters(normalise_text(value))
        label = f"in a key at {where}" if is_key else f"at {where}"
        problems.extend(character_problem(item, label, path, line, doc_id) for item in found)
    return problems


def scan_jsonl(
    path: Path,
    display: str,
    validator: Any,
    id_key: str,
    summarise: Callable[[dict[str, Any]], Any],
    memo: LineMemo | None = None,
    normalised: Collection[str] = (),
    indexes: FileIndexes | None = None,
) -> tuple[list[ScannedLine], list[Problem]]:
    """Every line of ``path`` that decodes, parses and matches the schema, with ``summarise(object)``
    (which must not be None), streaming the file; and every problem of the other lines.

    Blank lines are skipped; a failing line is a problem naming ``display:line`` and, when the
    object has one, its ``id_key`` value as the document. A file with invalid UTF-8 anywhere (or in
    its name) is rejected as a whole (one problem naming the byte offset), as it would be if decoded
    at once. A line with a forbidden character in any string (:func:`value_problems`; the top-level
    fields ``normalised`` are checked as normalised document texts) is rejected, unless all of them
    are non-characters (a warning; the line is kept but not memoised, so the warning is repeated on
    every run); one with a lone surrogate is not checked against the schema (the validator cannot
    take it). A line whose hash ``memo`` knows is taken from there, not parsed again; a file that
    ``indexes`` knows unchanged is not read at all.
    """
    kept: list[ScannedLine] = []
    problems = path_problems(display)
    if any(problem.severity is Severity.ERROR for problem in problems):
        return [], problems
    identity = file_identity(path) if indexes is not None else ""
    scanned = FileScan()
    found = indexes.get(path, display, identity) if indexes is not None else None
    if found is not None:
        stored, grown = found
        kept = [ScannedLine(*line) for line in stored["lines"]]
        problems = [Problem.from_json(problem) for problem in stored["problems"]]
        if grown is None:
            return kept, problems
        scanned = grown
        if memo is not None:
            memo.retain(line.sha256 for line in kept)
    with open(path, "rb") as handle:
        handle.seek(scanned.size)
        for number, raw in enumerate(handle, start=scanned.lines + 1):
            start = scanned.size
            scanned.size, scanned.lines = start + len(raw), number
            if indexes is not None:
                scanned.hasher.update(raw)
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
            data, not_json = parse_json_line(text)
            if not_json:
                problems.append(Problem(display, number, None, "invalid-json", not_json))
                continue
            doc_id = data.get(id_key) if isinstance(data, dict) and isinstance(data.get(id_key), str) else None
            found: list[Problem] = []
            if FORBIDDEN.search(text) or _SUSPECT_ESCAPE.search(text):
                if doc_id is not None and any(found.error for found in forbidden_characters(doc_id)):
                    doc_id = escape_forbidden(doc_id)
                found = value_problems(data, display, number, doc_id, normalised)
                if any(problem.kind == "lone-surrogate" for problem in found):
                    problems.extend(found)
                    continue
            found += schema_problems(validator, data, display, number, doc_id)
            problems.extend(found)
            if any(problem.severity is Severity.ERROR for problem in found):
                continue
            summary = summarise(data)
            if memo is not None and not found:
                memo.put(sha256, summary)
            kept.append(ScannedLine(number, start, len(raw), sha256, summary))
    if indexes is not None and file_identity(path) == identity:  # not changed while it was read
        indexes.put(path, display, identity, scanned, kept, problems)
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
