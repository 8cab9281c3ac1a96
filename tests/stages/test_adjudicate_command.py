"""`python -m pipeline adjudicate`: the adjudicated layer (valid, with agreed_by), the conflicts, the layer priority."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from stage_helpers import for_stage, params_for
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.core.text import text_sha256
from pipeline.stages import adjudicate, annotate, ingest
from pipeline.stages.adjudicate import AdjudicationError

TEXT = "Anna trifft Bob in Rom."


def workspace(tmp_path: Path) -> dict:
    (tmp_path / "seeds").mkdir()
    (tmp_path / "seeds" / "d1.txt").write_text(TEXT, encoding="utf-8")
    params = params_for(tmp_path)
    assert ingest.run(for_stage(params, "ingest")) == []
    return params


def layer(root: Path, user: str, spans, relations=()) -> None:
    entities = [{"id": f"T{n}", "start": s, "end": e, "label": label} for n, (s, e, label) in enumerate(spans, start=1)]
    rels = [{"id": f"R{n}", "head": f"T{h}", "tail": f"T{t}", "label": label} for n, (h, t, label) in enumerate(relations, start=1)]
    record = {"doc_id": "d1", "text_sha256": text_sha256(TEXT), "source": f"annotator:{user}", "entities": entities, "relations": rels}
    folder = root / "annotations" / "annotators" / user
    folder.mkdir(parents=True)
    (folder / "p.jsonl").write_text(json.dumps(record) + "\n", encoding="utf-8")


def three_annotators(root: Path) -> None:
    layer(root, "anna", [(0, 4, "PER"), (12, 15, "PER"), (19, 22, "GPE")], [(1, 2, "meets")])
    layer(root, "ben", [(0, 4, "PER"), (12, 15, "ORG"), (19, 22, "GPE")])
    layer(root, "cem", [(0, 4, "PER"), (12, 15, "PER")], [(1, 2, "meets")])


def test_the_adjudicated_layer_is_valid_and_published_before_the_annotators(tmp_path: Path):
    params = workspace(tmp_path)
    three_annotators(tmp_path)
    report = adjudicate.run(for_stage(params, "review"), min_agree=2, name="round1")
    assert (report.entities, report.relations, report.conflicts) == (3, 1, 1)
    (line,) = (tmp_path / "annotations" / "adjudicated" / "round1.jsonl").read_text().splitlines()
    record = json.loads(line)
    assert record["source"] == "adjudicated:min-agree-2"
    assert [(e["text"], e["agreed_by"]) for e in record["entities"]] == [
        ("Anna", ["annotators/anna", "annotators/ben", "annotators/cem"]),
        ("Bob", ["annotators/anna", "annotators/cem"]),
        ("Rom", ["annotators/anna", "annotators/ben"]),
    ]
    assert record["relations"] == [
        {"id": "R1", "head": "T1", "tail": "T2", "label": "meets", "agreed_by": ["annotators/anna", "annotators/cem"]}
    ]
    conflicts = [json.loads(line) for line in (tmp_path / "reports" / "conflicts.jsonl").read_text().splitlines()]
    assert [(c["kind"], c["text"]) for c in conflicts] == [("entity", "Bob")]  # Rom: two of three drew it, accepted
    assert [(c["label"], c["annotators"]) for c in conflicts[0]["candidates"]] == [
        ("ORG", ["annotators/ben"]),
        ("PER", ["annotators/anna", "annotators/cem"]),
    ]
    # annotate checks every layer (the adjudicated one too) and publishes the adjudicated record
    assert annotate.run(for_stage(params, "annotate")) == []
    import pyarrow.parquet as pq

    entities = pq.read_table(tmp_path / "interim" / "tables" / "entities").to_pylist()
    assert {(e["text"], e["layer"], e["source"]) for e in entities} == {
        ("Anna", "adjudicated", "adjudicated:min-agree-2"),
        ("Bob", "adjudicated", "adjudicated:min-agree-2"),
        ("Rom", "adjudicated", "adjudicated:min-agree-2"),
    }


def test_a_curators_revision_is_not_overwritten_without_force(tmp_path: Path):
    params = workspace(tmp_path)
    three_annotators(tmp_path)
    config = for_stage(params, "review")
    adjudicate.run(config, name="r")
    path = tmp_path / "annotations" / "adjudicated" / "r.jsonl"
    record = json.loads(path.read_text())
    path.write_text(json.dumps(record | {"source": "adjudicated:curator"}) + "\n")
    with pytest.raises(AdjudicationError, match=r"r\.jsonl holds 1 record\(s\) a curator revised \(e\.g\. d1\)"):
        adjudicate.run(config, name="r")
    adjudicate.run(config, name="r", force=True)
    assert json.loads(path.read_text())["source"] == "adjudicated:min-agree-2"


def test_the_command_line_writes_the_layer_and_refuses_an_error(tmp_path: Path):
    params = workspace(tmp_path)
    layer(tmp_path, "anna", [(0, 4, "PER")])
    layer(tmp_path, "ben", [(0, 4, "PERSON")])
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    result = CliRunner().invoke(app, ["adjudicate", "--min-agree", "2", "--params", str(tmp_path / "params.yaml")])
    assert result.exit_code == 1
    assert "unknown-label" in result.output
    assert not (tmp_path / "annotations" / "adjudicated").exists()
