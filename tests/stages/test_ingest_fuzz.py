"""Fuzzing the seed reader: whatever ``seeds/`` holds, indexing, loading and segmenting it end in
problems or interim tables, never in an exception; every problem can be printed and written, and
no document with a forbidden character (other than a warned non-character) gets through."""

from __future__ import annotations

import tempfile
from pathlib import Path

from fuzz_strategies import byte_lines, ids, json_lines, json_values, strings, strings_in
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.core.characters import forbidden_characters
from pipeline.core.problems import Problem
from pipeline.io import tables
from pipeline.io.problemlog import write_problems
from pipeline.stages.ingest import index_seeds, load_seeds, segment_documents

REPO = Path(__file__).resolve().parents[2]
SCHEMA = REPO / "schemas" / "document.schema.json"

optional_strings = st.none() | strings
seed_lines = st.fixed_dictionaries(
    {"id": ids, "text": strings},
    optional={
        "title": optional_strings,
        "date": optional_strings,
        "url": optional_strings,
        "meta": st.dictionaries(strings, json_values, max_size=3),
    },
)


def ingest(seeds: Path) -> None:
    refs, problems = index_seeds(seeds, SCHEMA, root=seeds.parent)
    for problem in problems:
        assert isinstance(problem, Problem)
        problem.format().encode("utf-8")
    write_problems(problems, seeds.parent / "problems.jsonl")
    documents = load_seeds(refs)
    for item in documents:
        document = item.document
        strings_kept = [
            document.doc_id,
            document.text,
            document.title or "",
            document.url or "",
            document.date or "",
            *strings_in(document.meta),
        ]
        assert not any(found.error for value in strings_kept for found in forbidden_characters(value))
    for name, table in zip(("documents", "sentences", "tokens"), segment_documents(documents, "de"), strict=True):
        tables.write_parquet(table, seeds.parent / f"{name}.parquet")


def ingest_jsonl(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        seeds = Path(folder) / "seeds"
        seeds.mkdir()
        (seeds / "news.jsonl").write_bytes(data)
        ingest(seeds)


@settings(max_examples=150, deadline=None)
@given(json_lines(seed_lines))
def test_any_json_per_line_of_a_seed_file_gives_problems_or_tables_never_an_exception(data: bytes):
    ingest_jsonl(data)


@settings(max_examples=100, deadline=None)
@given(byte_lines())
def test_any_bytes_per_line_of_a_seed_file_give_problems_or_tables_never_an_exception(data: bytes):
    ingest_jsonl(data)


@settings(max_examples=80, deadline=None)
@given(st.binary(max_size=60) | strings.map(lambda text: text.encode("utf-8", "surrogatepass")))
def test_any_seed_txt_gives_problems_or_tables_never_an_exception(data: bytes):
    with tempfile.TemporaryDirectory() as folder:
        seeds = Path(folder) / "seeds"
        seeds.mkdir()
        (seeds / "doc.txt").write_bytes(data)
        ingest(seeds)
