"""Streaming JSONL reading: lines are checked once, located, and read back exactly."""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.jsonl import line_ref, read_jsonl, read_lines, scan_jsonl
from pipeline.schema import load_json_schema

REPO = Path(__file__).resolve().parent.parent
DOCUMENT_SCHEMA = load_json_schema(REPO / "schemas" / "document.schema.json")


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_located_lines_read_back_to_the_objects_checked(tmp_path: Path):
    lines = [{"id": "a", "text": "Kim 🙂 traf Moon."}, {"id": "b", "text": "Süd\u0301korea"}]
    data = b"\xef\xbb\xbf" + json.dumps(lines[0], ensure_ascii=False).encode() + b"\r\n\r\n" + json.dumps(lines[1], ensure_ascii=False).encode()
    path = write(tmp_path / "docs.jsonl", data)
    refs, problems = scan_jsonl(path, "docs.jsonl", DOCUMENT_SCHEMA, "id", line_ref(path, "docs.jsonl", "id"))
    assert problems == []
    assert [(ref.line, ref.key) for ref in refs] == [(1, "a"), (3, "b")]
    assert read_lines(list(reversed(refs))) == list(reversed(lines))
    assert read_jsonl(path, "docs.jsonl", DOCUMENT_SCHEMA, "id") == ([(1, lines[0]), (3, lines[1])], [])


def test_a_changed_line_changes_only_its_hash(tmp_path: Path):
    first = [{"id": "a", "text": "Eins."}, {"id": "b", "text": "Zwei."}]
    second = [{"id": "a", "text": "Eins."}, {"id": "b", "text": "Zwei!"}]
    hashes = []
    for lines in (first, second):
        path = write(tmp_path / "docs.jsonl", "".join(json.dumps(line) + "\n" for line in lines).encode())
        refs, _ = scan_jsonl(path, "docs.jsonl", DOCUMENT_SCHEMA, "id", line_ref(path, "docs.jsonl", "id"))
        hashes.append([ref.sha256 for ref in refs])
    assert hashes[0][0] == hashes[1][0] and hashes[0][1] != hashes[1][1]


def test_invalid_utf8_on_a_later_line_rejects_the_file_with_its_byte_offset(tmp_path: Path):
    good = json.dumps({"id": "a", "text": "Gut."}).encode() + b"\n"
    bad = b'{"id": "b", "text": "Sch\xf6n"}\n'
    path = write(tmp_path / "docs.jsonl", good + bad)
    refs, problems = scan_jsonl(path, "docs.jsonl", DOCUMENT_SCHEMA, "id", line_ref(path, "docs.jsonl", "id"))
    assert refs == []
    (problem,) = problems
    assert (problem.line, problem.kind) == (2, "invalid-utf8")
    offset = len(good) + bad.index(b"\xf6")
    assert f"byte offset {offset} (bytes f6)" in problem.message
