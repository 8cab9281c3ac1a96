"""Writing an import: seeds, one file per layer, the report; refusals before anything is replaced."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.formats import ImportFailed
from pipeline.formats.build import build_result
from pipeline.formats.source import SourceDocument, SourceEntity
from pipeline.formats.writer import write_import

LABELS = Path(__file__).resolve().parents[2] / "schemas" / "labels.yaml"


def test_write_import_layout_and_refusals(tmp_path, make_options):
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "t-d1.txt").write_text("clash", encoding="utf-8")
    text = "Anna Berg lebt in Bonn.\r\n"
    docs = [
        SourceDocument(
            "d1",
            text,
            "in.jsonl",
            1,
            offsets="codepoint",
            entities=[SourceEntity("a", 0, 9, "PER"), SourceEntity("i", 5, 9, "PER", layer="inner")],
        ),
        SourceDocument("d2", "Nichts.", "in.jsonl", 2),
    ]
    result = build_result(docs, make_options("t"))
    dirs = {"seeds_dir": seeds, "annotations_dir": tmp_path / "annotations", "reports_dir": tmp_path / "imported"}
    with pytest.raises(ImportFailed, match=r"t-d1 .already in"):
        write_import(result, **dirs)
    (seeds / "t-d1.txt").unlink()
    files = write_import(result, **dirs)
    lines = [json.loads(line) for line in (seeds / "t.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [d["id"] for d in lines] == ["t-d1", "t-d2"]
    assert lines[0]["text"] == "Anna Berg lebt in Bonn.\n"  # normalised
    main = [json.loads(line) for line in (tmp_path / "annotations/imported/t/t.jsonl").read_text(encoding="utf-8").splitlines()]
    inner = [
        json.loads(line) for line in (tmp_path / "annotations/imported/t-inner/t-inner.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    assert [r["doc_id"] for r in main] == ["t-d1", "t-d2"] and [r["doc_id"] for r in inner] == ["t-d1"]
    assert main[0]["source"] == "imported:t" and main[0]["entities"][0]["text"] == "Anna Berg"
    assert inner[0]["entities"][0]["text"] == "Berg"
    report = json.loads(files["report"].read_text(encoding="utf-8"))
    assert report["layers"]["imported/t-inner"]["entities"] == 1
    with pytest.raises(ImportFailed, match="--force"):
        write_import(result, **dirs)
    write_import(result, **dirs, force=True)


def test_written_records_validate_against_the_annotation_schema(tmp_path, make_options):
    from pipeline.io.layers import read_layers
    from pipeline.io.schemas import load_json_schema

    docs = [SourceDocument("d1", "Anna Berg lebt in Bonn.", "in.jsonl", 1, entities=[SourceEntity("a", 0, 9, "PER", meta={"nel": "Q1"})])]
    result = build_result(docs, make_options("t"))
    write_import(result, seeds_dir=tmp_path / "seeds", annotations_dir=tmp_path / "annotations", reports_dir=tmp_path / "imported")
    records, problems = read_layers(tmp_path / "annotations", load_json_schema(LABELS.parent / "annotation.schema.json"), root=tmp_path)
    assert not problems and [r.layer for r in records] == ["imported/t"]
    documents = load_json_schema(LABELS.parent / "document.schema.json")
    for line in (tmp_path / "seeds" / "t.jsonl").read_text(encoding="utf-8").splitlines():
        assert not list(documents.iter_errors(json.loads(line)))
