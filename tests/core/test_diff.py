"""The semantic diff of two datasets and the version bump it needs (pure)."""

from __future__ import annotations

import pytest

from pipeline.core.diff import DiffBuilder, bump_of, parse_version, render_markdown

DOC = {"doc_id": "a", "text_sha256": "1", "split": "train", "title": "T", "source": "seed"}
PER = {"doc_id": "a", "ent_id": "T1", "start": 0, "end": 4, "text": "Anna", "label": "PER", "source": "gold", "layer": "gold"}
ORG = {"doc_id": "a", "ent_id": "T2", "start": 10, "end": 13, "text": "ACME", "label": "ORG", "source": "gold", "layer": "gold"}
REL = {"doc_id": "a", "rel_id": "R1", "head": "T1", "tail": "T2", "label": "works_for", "source": "gold", "layer": "gold"}
TABLES = {"documents": {"doc_id": "string", "split": "string"}, "entities": {"doc_id": "string", "label": "string"}}
LABELS = {"entity_types": ["PER", "ORG"], "relation_types": {"works_for": {"head": ["PER"], "tail": ["ORG"]}}, "bio_labels": ["O"]}
SCHEMA = {"tables": TABLES, "labels": LABELS}


def diff_of(old: dict, new: dict, old_schema: dict = SCHEMA, new_schema: dict = SCHEMA) -> dict:
    builder = DiffBuilder()
    builder.add_shard(old, new)
    return builder.result(old_schema, new_schema, {}, "old", "new")


def test_nothing_changed_is_a_patch():
    same = {"documents": [DOC], "entities": [PER], "relations": [REL]}
    diff = diff_of(same, same)
    assert diff["bump"] == "patch"
    assert "no count changed" in render_markdown(diff)


def test_an_added_entity_a_relabelled_one_and_an_added_document_are_named_and_minor():
    new_doc = DOC | {"doc_id": "b"}
    diff = diff_of(
        {"documents": [DOC], "entities": [PER]},
        {"documents": [DOC, new_doc], "entities": [PER | {"label": "ORG"}, ORG, PER | {"doc_id": "b"}]},
    )
    assert diff["bump"] == "minor"
    assert diff["documents"]["added"]["items"] == ["b"]
    assert [e["ent_id"] for e in diff["entities"]["added"]["items"]] == ["T2"]
    assert diff["entities"]["relabelled"]["items"] == [{"doc_id": "a", "ent_id": "T1", "old": "PER", "new": "ORG"}]
    assert diff["entities"]["in_added_documents"] == 1
    assert diff["counts"]["entities_by_label"] == {"ORG": [0, 2], "PER": [1, 1]}
    assert diff["counts"]["documents_by_split"] == {"train": [1, 2]}


def test_a_moved_span_and_changed_relation_arguments():
    diff = diff_of(
        {"documents": [DOC], "entities": [PER, ORG], "relations": [REL]},
        {"documents": [DOC], "entities": [PER | {"end": 3}, ORG], "relations": [REL | {"tail": "T1", "label": "meets"}]},
    )
    assert diff["entities"]["moved"]["items"] == [{"doc_id": "a", "ent_id": "T1", "old": [0, 4], "new": [0, 3]}]
    assert diff["relations"]["arguments_changed"]["items"][0]["new"] == ["T1", "T1"]
    assert diff["relations"]["relabelled"]["count"] == 1


def test_text_metadata_and_split_changes_of_a_document():
    diff = diff_of({"documents": [DOC]}, {"documents": [DOC | {"text_sha256": "2", "title": "U", "split": "dev"}]})
    assert diff["documents"]["text_changed"]["items"] == ["a"]
    assert diff["documents"]["metadata_changed"]["items"] == [{"doc_id": "a", "columns": ["title"]}]
    assert diff["documents"]["split_changed"]["items"] == [{"doc_id": "a", "old": "train", "new": "dev"}]


@pytest.mark.parametrize(
    ("new_schema", "bump", "reason"),
    [
        ({"tables": TABLES | {"entities": {"doc_id": "string"}}, "labels": LABELS}, "major", "entities: columns removed: label"),
        ({"tables": TABLES | {"entities": {"doc_id": "string", "label": "int64"}}, "labels": LABELS}, "major", "columns retyped: label"),
        ({"tables": TABLES, "labels": LABELS | {"entity_types": ["PER"]}}, "major", "entity_types removed: ORG"),
        (
            {"tables": TABLES | {"entities": {"doc_id": "string", "label": "string", "level": "int32"}}, "labels": LABELS},
            "minor",
            "entities: columns added: level",
        ),
        ({"tables": TABLES, "labels": LABELS | {"entity_types": ["PER", "ORG", "LOC"]}}, "minor", "entity_types added: LOC"),
        ({"tables": TABLES, "labels": LABELS | {"entity_types": ["PER", "LOC", "ORG"]}}, "major", "entity_types renumbered"),
        ({"tables": TABLES, "labels": LABELS | {"entity_types": ["ORG", "PER"]}}, "major", "entity_types renumbered"),
    ],
)
def test_schema_changes_and_their_bump(new_schema: dict, bump: str, reason: str):
    same = {"documents": [DOC]}
    diff = diff_of(same, same, new_schema=new_schema)
    assert diff["bump"] == bump
    assert any(reason in line for line in diff["reasons"]), diff["reasons"]


def test_bumps_between_versions():
    assert [bump_of("0.1.0", v) for v in ("1.0.0", "0.2.0", "0.1.1", "0.1.0", "0.0.9")] == ["major", "minor", "patch", None, None]
    with pytest.raises(ValueError, match=r"version '01.2.3': expected MAJOR.MINOR.PATCH"):
        parse_version("01.2.3")


def test_an_entity_inserted_before_the_others_renumbers_no_one():
    """Layers number entities in span order: one inserted first shifts every id, and is still one addition."""
    first = {"doc_id": "a", "ent_id": "T1", "start": 0, "end": 3, "text": "Die", "label": "MISC", "source": "gold", "layer": "gold"}
    shifted = [PER | {"ent_id": "T2", "level": 1, "parent": "T1"}, ORG | {"ent_id": "T3"}]
    diff = diff_of(
        {"documents": [DOC], "entities": [PER | {"level": 0, "parent": None}, ORG], "relations": [REL]},
        {"documents": [DOC], "entities": [first, *shifted], "relations": [REL | {"head": "T2", "tail": "T3"}]},
    )
    assert [e["ent_id"] for e in diff["entities"]["added"]["items"]] == ["T1"]
    assert [diff["entities"][k]["count"] for k in ("removed", "relabelled", "moved", "changed")] == [0, 0, 0, 0]
    assert all(diff["relations"][k]["count"] == 0 for k in ("added", "removed", "relabelled", "arguments_changed", "changed"))


def test_a_relabelled_span_among_identical_spans_is_one_relabel():
    old = [PER, ORG]
    new = [PER, ORG | {"label": "GPE"}]
    diff = diff_of({"documents": [DOC], "entities": old}, {"documents": [DOC], "entities": new})
    assert diff["entities"]["relabelled"]["items"] == [{"doc_id": "a", "ent_id": "T2", "old": "ORG", "new": "GPE"}]
    assert diff["entities"]["added"]["count"] == diff["entities"]["removed"]["count"] == 0
