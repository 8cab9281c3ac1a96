"""Reading ``schemas/``: the JSON Schemas (fast validation), the label schema, the table suites of
``expectations.yaml`` and the id rules the importers follow."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.core.labels import SchemaError
from pipeline.io.schemas import SCHEMAS_DIR, id_rules, load_json_schema, load_label_schema, load_suites

REPO = Path(__file__).resolve().parents[2]
ANNOTATION = REPO / "schemas" / "annotation.schema.json"


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


values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 50) | st.sampled_from(["gold", "alice", "T1", "PER", "a" * 64, "0" * 64, ""]),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["id", "start", "end", "label", "text", "source"]), inner, max_size=4)
    ),
    max_leaves=12,
)
records = st.fixed_dictionaries(
    {
        "doc_id": st.sampled_from(["d1", "", 5]),
        "text_sha256": st.sampled_from(["0" * 64, "xyz"]),
        "source": st.sampled_from(["gold", "annotator:anna", "anna"]),
    },
    optional={
        "entities": st.lists(
            st.dictionaries(st.sampled_from(["id", "start", "end", "label", "text", "extra"]), values, max_size=5), max_size=3
        ),
        "relations": values,
    },
)


@settings(max_examples=300, deadline=None)
@given(records)
def test_fast_validation_agrees_with_the_reference_implementation(record):
    validator = load_json_schema(ANNOTATION)
    reference = jsonschema.Draft202012Validator(json.loads(ANNOTATION.read_text()))
    assert bool(list(validator.iter_errors(record))) == bool(list(reference.iter_errors(record)))


def test_label_schema_rejects_a_relation_with_an_unknown_type(tmp_path: Path):
    text = (REPO / "schemas" / "labels.yaml").read_text().replace("head: [PER]", "head: [PERSON]", 1)
    (tmp_path / "labels.yaml").write_text(text)
    with pytest.raises(SchemaError, match=r"relation type 'head_of' allows unknown head type\(s\) \['PERSON'\]"):
        load_label_schema(tmp_path / "labels.yaml", REPO / "schemas" / "labels.schema.json")


def test_label_schema_shape_is_checked(tmp_path: Path):
    (tmp_path / "labels.yaml").write_text("schema_version: '1'\nentity_types: {PER: {description: p}}\nrelation_types: {}\n")
    with pytest.raises(SchemaError, match=r"at \$.schema_version: '1' does not match"):
        load_label_schema(tmp_path / "labels.yaml", REPO / "schemas" / "labels.schema.json")


def test_bio_labels_come_from_the_schema():
    schema = load_label_schema(REPO / "schemas" / "labels.yaml")
    assert schema.bio_labels[:3] == ("O", "B-PER", "I-PER")
    assert len(schema.bio_labels) == 1 + 2 * len(schema.entity_types)
