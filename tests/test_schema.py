from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.core.labels import SchemaError
from pipeline.io.schemas import load_json_schema, load_label_schema

REPO = Path(__file__).resolve().parent.parent
ANNOTATION = REPO / "schemas" / "annotation.schema.json"

values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 50) | st.sampled_from(["gold", "alice", "T1", "PER", "a" * 64, "0" * 64, ""]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["id", "start", "end", "label", "text", "source"]), inner, max_size=4),
    max_leaves=12,
)
records = st.fixed_dictionaries(
    {"doc_id": st.sampled_from(["d1", "", 5]), "text_sha256": st.sampled_from(["0" * 64, "xyz"]), "source": st.sampled_from(["gold", "annotator:anna", "anna"])},
    optional={"entities": st.lists(st.dictionaries(st.sampled_from(["id", "start", "end", "label", "text", "extra"]), values, max_size=5), max_size=3), "relations": values},
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
