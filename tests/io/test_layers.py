"""The one reader of the annotation layers: layer names, where records are, and the records."""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.io.layers import entity_homes_for, index_layers, layer_name, load_records, read_layers
from pipeline.io.schemas import load_json_schema

REPO = Path(__file__).resolve().parents[2]
VALIDATOR = load_json_schema(REPO / "schemas" / "annotation.schema.json")
SHA = "0" * 64


def line(doc_id: str, entities=(), relations=()) -> str:
    return (
        json.dumps({"doc_id": doc_id, "text_sha256": SHA, "source": "gold", "entities": list(entities), "relations": list(relations)})
        + "\n"
    )


def layer(root: Path, relative: str, *lines: str) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(lines), encoding="utf-8")
    return path


def test_the_layer_is_the_folder_or_the_stem_of_a_file_at_the_top(tmp_path: Path):
    assert layer_name(tmp_path / "annotators" / "anna" / "p.jsonl", tmp_path) == "annotators/anna"
    assert layer_name(tmp_path / "preannotations.jsonl", tmp_path) == "preannotations"


def test_records_come_in_file_and_line_order_with_their_layer_and_line(tmp_path: Path):
    layer(tmp_path, "gold/b.jsonl", line("d2"))
    layer(tmp_path, "gold/a.jsonl", line("d1"), "\n", line("d3"))
    records, problems = read_layers(tmp_path, VALIDATOR, root=tmp_path)
    assert problems == []
    assert [(r.layer, r.doc_id, r.path, r.line) for r in records] == [
        ("gold", "d1", "gold/a.jsonl", 1),
        ("gold", "d3", "gold/a.jsonl", 3),
        ("gold", "d2", "gold/b.jsonl", 1),
    ]


def test_a_structurally_invalid_line_is_a_problem_and_no_record(tmp_path: Path):
    layer(tmp_path, "gold/a.jsonl", line("d1"), json.dumps({"doc_id": "d2"}) + "\n")
    records, problems = read_layers(tmp_path, VALIDATOR, root=tmp_path)
    assert [r.doc_id for r in records] == ["d1"]
    assert problems and {(p.path, p.line) for p in problems} == {("gold/a.jsonl", 2)}


def test_a_missing_folder_has_no_records(tmp_path: Path):
    assert index_layers(tmp_path / "nothing", VALIDATOR) == ([], [], set())


def test_the_index_names_relation_arguments_a_record_does_not_define(tmp_path: Path):
    entity = {"id": "T1", "start": 0, "end": 2, "label": "GPE"}
    layer(tmp_path, "gold/a.jsonl", line("d1", [entity], [{"id": "R1", "head": "T9", "tail": "T1", "label": "head_of"}]))
    lines, _, dangling = index_layers(tmp_path, VALIDATOR, root=tmp_path)
    assert dangling == {("gold", "T9")}
    assert [r.doc_id for r in load_records(lines)] == ["d1"]


def test_entity_homes_name_the_documents_that_define_an_id(tmp_path: Path):
    entity = {"id": "T9", "start": 0, "end": 2, "label": "GPE"}
    layer(tmp_path, "gold/a.jsonl", line("d1"), line("d2", [entity]))
    layer(tmp_path, "other/a.jsonl", line("d3", [entity]))
    lines, _, _ = index_layers(tmp_path, VALIDATOR, root=tmp_path)
    assert entity_homes_for({("gold", "T9")}, lines) == {("gold", "T9"): ["d2"]}
