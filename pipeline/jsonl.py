"""Reading JSONL input (seed documents, annotation layers) with every problem named by file:line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pipeline.model import Problem


def decode_utf8(data: bytes, path: str) -> tuple[str | None, Problem | None]:
    """Decode strictly; on failure a problem naming the byte offset and line of the bad byte."""
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        bad = data[error.start : error.end].hex(" ")
        return None, Problem(path, line, None, "invalid-utf8", f"invalid UTF-8 at byte offset {error.start} (bytes {bad}): {error.reason}")


def schema_problems(validator: Any, data: Any, path: str, line: int | None, doc_id: str | None) -> list[Problem]:
    """Every JSON Schema violation of ``data``, with its JSON path, in a stable order."""
    return [
        Problem(path, line, doc_id, "schema", f"at {error.json_path}: {error.message}")
        for error in sorted(validator.iter_errors(data), key=lambda e: (list(map(str, e.absolute_path)), e.message))
    ]


def read_jsonl(path: Path, display: str, validator: Any, id_key: str) -> tuple[list[tuple[int, dict[str, Any]]], list[Problem]]:
    """The lines of ``path`` that decode, parse and match the schema, as (line number, object).

    Blank lines are skipped; every other line that fails is a problem naming ``display:line`` and,
    when the object has one, its ``id_key`` value as the document.
    """
    raw, problem = decode_utf8(path.read_bytes(), display)
    if problem:
        return [], [problem]
    rows: list[tuple[int, dict[str, Any]]] = []
    problems: list[Problem] = []
    for number, line in enumerate(raw.removeprefix("\ufeff").split("\n"), start=1):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as error:
            problems.append(Problem(display, number, None, "invalid-json", f"line is not JSON: {error.msg} at column {error.colno}"))
            continue
        doc_id = data.get(id_key) if isinstance(data, dict) and isinstance(data.get(id_key), str) else None
        found = schema_problems(validator, data, display, number, doc_id)
        if found:
            problems.extend(found)
            continue
        rows.append((number, data))
    return rows, problems


def display_path(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` when inside it (as messages show it), else as given."""
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)
