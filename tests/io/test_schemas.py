"""Reading the table suites of ``schemas/expectations.yaml``."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.io.schemas import load_suites


def suites_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "expectations.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_placeholders_are_filled_in(tmp_path: Path):
    path = suites_file(tmp_path, "documents:\n  - {type: ExpectColumnValuesToBeInSet, kwargs: {column: split, value_set: $splits}}\n")
    assert load_suites(path, {"$splits": ["train"]}) == {
        "documents": [{"type": "ExpectColumnValuesToBeInSet", "kwargs": {"column": "split", "value_set": ["train"]}}]
    }


def test_an_unknown_placeholder_is_named(tmp_path: Path):
    path = suites_file(tmp_path, "documents:\n  - {type: ExpectColumnValuesToBeInSet, kwargs: {column: split, value_set: $split}}\n")
    with pytest.raises(ValueError, match=r"expectations.yaml: unknown placeholder '\$split'; known: \['\$splits'\]"):
        load_suites(path, {"$splits": ["train"]})


def test_a_table_that_is_not_published_is_named(tmp_path: Path):
    path = suites_file(tmp_path, "document:\n  - {type: ExpectColumnValuesToNotBeNull, kwargs: {column: doc_id}}\n")
    with pytest.raises(ValueError, match=r"expectations.yaml: unknown table\(s\) \['document'\]; the tables are \['documents', "):
        load_suites(path, {})
