"""``scan_jsonl`` turns every string it cannot pass on, and every line Python parses but other tools
do not, into a problem naming the file, the line and the JSON path."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from pipeline.core.problems import Severity
from pipeline.io.jsonl import MAX_DEPTH, LineMemo, scan_jsonl
from pipeline.io.schemas import load_json_schema

REPO = Path(__file__).resolve().parents[2]
DOCUMENT_SCHEMA = load_json_schema(REPO / "schemas" / "document.schema.json")


def scan(tmp_path: Path, *lines: str, memo: LineMemo | None = None, name: str = "docs.jsonl"):
    path = tmp_path / name
    path.write_bytes("".join(line + "\n" for line in lines).encode("utf-8"))
    return scan_jsonl(path, name, DOCUMENT_SCHEMA, "id", lambda data: data["id"], memo, normalised=("text",))


def test_a_lone_surrogate_rejects_the_line_naming_its_path_without_a_schema_check(tmp_path: Path):
    kept, problems = scan(tmp_path, '{"id": "n1", "text": "Gut."}', '{"id": "n\\ud800", "text": "a", "unknown": 1}')
    assert [line.summary for line in kept] == ["n1"]
    (problem,) = problems
    assert problem.format() == (
        "docs.jsonl:2: n\\ud800: lone-surrogate: at $.id: U+D800 (a lone surrogate: half of a UTF-16 pair, not a character; "
        "it cannot be encoded as UTF-8) at code point 1"
    )


def test_a_forbidden_character_in_a_key_is_named_by_the_path_of_the_key(tmp_path: Path):
    _, problems = scan(tmp_path, '{"id": "n1", "text": "a", "meta": {"tags": [{"k\\u0000": 1}]}}')
    assert [p.message for p in problems] == ['in a key at $.meta.tags[0]["k\\u0000"]: U+0000 NUL (a C0 control character) at code point 1']


def test_a_control_character_rejects_the_line_and_its_schema_problems_are_reported_too(tmp_path: Path):
    kept, problems = scan(tmp_path, '{"id": "n1", "text": "a", "title": "T\\u001b", "extra": 1}')
    assert kept == []
    assert [(p.kind, p.message.split(":")[0]) for p in problems] == [("control-character", "at $.title"), ("schema", "at $")]


def test_a_c1_control_unescaped_or_escaped_is_a_warning_and_the_line_is_kept(tmp_path: Path):
    kept, problems = scan(tmp_path, '{"id": "n1", "text": "\u0084Frieden\\u0093"}')
    assert [line.summary for line in kept] == ["n1"]
    assert [p.format() for p in problems] == [
        "docs.jsonl:1: n1: warning: c1-control: at $.text: U+0084 IND (a C1 control character; as a Windows-1252 byte it is '„': "
        "was the text decoded as Latin-1?) at code point 0; 1 more: U+0093 at 8"
    ]


def test_a_document_text_is_checked_normalised_so_crlf_passes_and_offsets_count_the_normalised_text(tmp_path: Path):
    kept, problems = scan(tmp_path, '{"id": "n1", "text": "a\\r\\nb"}', '{"id": "n2", "text": "a\\r\\nb\\u0000", "title": "x\\r"}')
    assert [line.summary for line in kept] == ["n1"]
    assert [p.message for p in problems] == [
        "at $.text: U+0000 NUL (a C0 control character) at code point 3",
        "at $.title: U+000D CR (a C0 control character) at code point 1",
    ]


def test_a_noncharacter_is_a_warning_the_line_is_kept_and_not_memoised(tmp_path: Path):
    line = '{"id": "n1", "text": "a\\uFFFE"}'
    memo = LineMemo(tmp_path / "memo.json", "key")
    kept, problems = scan(tmp_path, line, memo=memo)
    memo.save()
    assert [p.format() for p in problems] == [
        "docs.jsonl:1: n1: warning: noncharacter: at $.text: U+FFFE (a Unicode non-character) at code point 1"
    ]
    assert problems[0].severity is Severity.WARNING and [k.summary for k in kept] == ["n1"]
    assert scan(tmp_path, line, memo=LineMemo(tmp_path / "memo.json", "key")) == (kept, problems)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"id": "n1", "text": "a", "meta": {"x": NaN}}', "line is not JSON: NaN is not JSON"),
        ('{"id": "n1", "text": "a", "meta": {"x": -Infinity}}', "line is not JSON: -Infinity is not JSON"),
        ('{"id": "n1", "text": "a", "meta": {"x": 1e999}}', "line is not JSON: the number 1e999 is too large for a double"),
        ('{"id": "n1", "text": "a", "meta": {"x": ' + "7" * 5000 + "}}", "line has a number with more than 4300 digits"),
        ("[" * 100_000 + "]" * 100_000, f"line nests arrays or objects deeper than {MAX_DEPTH} levels"),
        (
            '{"id": "n1", "text": "a", "meta": {"x": ' + "[" * MAX_DEPTH + "]" * MAX_DEPTH + "}}",
            f"line nests arrays or objects deeper than {MAX_DEPTH} levels",
        ),
    ],
)
def test_json_that_only_python_reads_is_invalid_json(tmp_path: Path, line: str, message: str):
    assert [(p.kind, p.message) for p in scan(tmp_path, line)[1]] == [("invalid-json", message)]


def test_nesting_up_to_the_limit_is_read(tmp_path: Path):
    depth = MAX_DEPTH - 2
    kept, problems = scan(tmp_path, '{"id": "n1", "text": "a", "meta": {"x": ' + "[" * depth + "]" * depth + "}}")
    assert problems == [] and len(kept) == 1


def test_a_file_name_that_is_not_utf8_is_one_problem_showing_the_byte(tmp_path: Path):
    name = os.fsdecode(b"caf\xe9.jsonl")
    (tmp_path / name).write_text(json.dumps({"id": "n1", "text": "a"}) + "\n", encoding="utf-8")
    kept, problems = scan_jsonl(tmp_path / name, name, DOCUMENT_SCHEMA, "id", lambda data: data["id"])
    assert kept == [] and [p.format() for p in problems] == [
        "caf\\xe9.jsonl: -: invalid-utf8: the file name is not valid UTF-8; rename the file"
    ]


def test_the_short_json_escapes_of_control_characters_are_found(tmp_path: Path):
    _, problems = scan(tmp_path, '{"id": "n1", "text": "a", "title": "\\b", "url": "\\f", "date": "\\r"}')
    assert [p.message.split(": U+")[1][:7] for p in problems] == ["0008 BS", "000C FF", "000D CR"]
