"""Fuzzing the JSONL reader of annotation layers: whatever a line holds, ``scan_jsonl`` and reading
the kept records back end in problems or records, never in an exception, and every problem can be
printed and written (no lone surrogate reaches a message)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from fuzz_strategies import byte_lines, ids, json_lines, json_values, strings, strings_in
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.core.characters import forbidden_characters
from pipeline.core.problems import Problem
from pipeline.core.spans import record_from_json
from pipeline.io.jsonl import LineMemo, line_ref, read_lines, scan_jsonl
from pipeline.io.problemlog import write_problems
from pipeline.io.schemas import load_json_schema

REPO = Path(__file__).resolve().parents[2]
ANNOTATION_SCHEMA = load_json_schema(REPO / "schemas" / "annotation.schema.json")

sources = st.sampled_from(["gold", "annotator:kim", "preannotation:spacy"]) | strings
entities = st.fixed_dictionaries(
    {"id": ids, "start": st.integers(-1, 40), "end": st.integers(-1, 40), "label": st.sampled_from(["PER", "ORG"]) | strings},
    optional={"text": strings, "source": sources},
)
relations = st.fixed_dictionaries({"id": ids, "head": ids, "tail": ids, "label": strings}, optional={"source": sources})
records = st.fixed_dictionaries(
    {"doc_id": ids, "text_sha256": st.just("0" * 64) | strings, "source": sources, "entities": st.lists(entities, max_size=3)},
    optional={
        "relations": st.lists(relations, max_size=2),
        "annotator": strings,
        "meta": st.dictionaries(strings, json_values, max_size=3),
    },
)


def summarise(data: dict[str, Any]) -> list[Any]:
    known = {entity["id"] for entity in data["entities"]}
    return [
        data["doc_id"],
        sorted({ref for relation in data.get("relations", []) for ref in (relation["head"], relation["tail"]) if ref not in known}),
    ]


def assert_reportable(problems: list[Problem], folder: Path) -> None:
    for problem in problems:
        assert isinstance(problem, Problem)
        problem.format().encode("utf-8")
    write_problems(problems, folder / "problems.jsonl")


def scan_and_read(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "layer.jsonl"
        path.write_bytes(data)
        memo = LineMemo(Path(folder) / "memo.json", "key")
        kept, problems = scan_jsonl(path, "layer.jsonl", ANNOTATION_SCHEMA, "doc_id", summarise, memo)
        assert_reportable(problems, Path(folder))
        refs = [line_ref(path, "layer.jsonl", line, line.summary[0]) for line in kept]
        for ref, data_read in zip(refs, read_lines(refs), strict=True):
            record = record_from_json(data_read, layer="gold", path=ref.path, line=ref.line or 0)
            json.dumps(record.to_json(), ensure_ascii=False).encode("utf-8")
            assert not any(found.error for value in strings_in(data_read) for found in forbidden_characters(value))
        memo.save()
        again = scan_jsonl(path, "layer.jsonl", ANNOTATION_SCHEMA, "doc_id", summarise, LineMemo(Path(folder) / "memo.json", "key"))
        assert again == (kept, problems)


@settings(max_examples=300, deadline=None)
@given(json_lines(records))
def test_any_json_per_line_of_a_layer_gives_problems_or_records_never_an_exception(data: bytes):
    scan_and_read(data)


@settings(max_examples=200, deadline=None)
@given(byte_lines())
def test_any_bytes_per_line_of_a_layer_give_problems_or_records_never_an_exception(data: bytes):
    scan_and_read(data)
