"""Reading an adapter's input files: strict UTF-8, JSON values in any layout, folders expanded.

Every failure is an :class:`~pipeline.formats.ImportFailed` naming the file (and line); file
names are shown as :func:`pipeline.io.jsonl.display_path` shows them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from pipeline.core.text import BOM
from pipeline.formats import ImportFailed
from pipeline.io.jsonl import decode_utf8


def decode(data: bytes, path: str) -> str:
    """Strict UTF-8 (a BOM is kept: offsets may count it); ``ImportFailed`` naming the bad byte."""
    text, problem = decode_utf8(data, path)
    if problem is not None:
        raise ImportFailed(f"{problem.path}:{problem.line}: {problem.message}")
    return text


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
