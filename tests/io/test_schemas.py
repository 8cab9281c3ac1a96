"""Reading ``schemas/``: the table suites of ``expectations.yaml`` and the id rules the importers follow."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pipeline.core.labels import SchemaError
from pipeline.io.schemas import SCHEMAS_DIR, id_rules, load_suites


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



def test_id_rules_are_read_from_the_schemas():
    rules = id_rules()
    documents = json.loads((SCHEMAS_DIR / "document.schema.json").read_text(encoding="utf-8"))["properties"]["id"]
    items = json.loads((SCHEMAS_DIR / "annotation.schema.json").read_text(encoding="utf-8"))["$defs"]["id"]
    assert (rules.document.pattern.pattern, rules.document.max_length) == (documents["pattern"], documents["maxLength"])
    assert (rules.item.pattern.pattern, rules.item.max_length) == (items["pattern"], items["maxLength"])


def test_id_rules_need_a_pattern_and_a_length(tmp_path):
    folder = tmp_path / "schemas"
    shutil.copytree(SCHEMAS_DIR, folder)
    data = json.loads((folder / "annotation.schema.json").read_text(encoding="utf-8"))
    del data["$defs"]["id"]["maxLength"]
    (folder / "annotation.schema.json").write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(SchemaError, match=r"annotation.schema.json: /\$defs/id must be a string field with a pattern and a maxLength"):
        id_rules(folder)


def test_id_rules_are_read_once_per_folder():
    assert id_rules() is id_rules()
    assert id_rules(SCHEMAS_DIR) is id_rules(SCHEMAS_DIR)


def test_an_id_field_allows_what_its_pattern_and_length_allow():
    document = id_rules().document
    assert document.allows("news-1") and document.allows("a" * 200)
    assert not document.allows("-news") and not document.allows("a" * 201) and not document.allows("")
