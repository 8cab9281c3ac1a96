"""The agreement stage: annotator layers of ingested documents in, figures, per-document table and confusion rows out."""

from __future__ import annotations

import json
from pathlib import Path

from stage_helpers import for_stage, params_for

from pipeline.core.text import text_sha256
from pipeline.stages import agreement, ingest

TEXT = "Anna trifft Bob in Rom."


def workspace(tmp_path: Path) -> dict:
    (tmp_path / "seeds").mkdir()
    (tmp_path / "seeds" / "d1.txt").write_text(TEXT, encoding="utf-8")
    params = params_for(tmp_path)
    assert ingest.run(for_stage(params, "ingest")) == []
    return params


def layer(root: Path, user: str, spans, relations=(), text: str = TEXT) -> None:
    entities = [{"id": f"T{n}", "start": s, "end": e, "label": label} for n, (s, e, label) in enumerate(spans, start=1)]
    rels = [{"id": f"R{n}", "head": f"T{h}", "tail": f"T{t}", "label": label} for n, (h, t, label) in enumerate(relations, start=1)]
    record = {"doc_id": "d1", "text_sha256": text_sha256(text), "source": f"annotator:{user}", "entities": entities, "relations": rels}
    folder = root / "annotations" / "annotators" / user
    folder.mkdir(parents=True)
    (folder / "p.jsonl").write_text(json.dumps(record) + "\n", encoding="utf-8")


def test_no_annotator_layers_give_zero_documents(tmp_path: Path):
    params = workspace(tmp_path)
    report = agreement.run(for_stage(params, "agreement"))
    assert report["documents"] == 0 and report["pairs"] == []
    assert json.loads((tmp_path / "reports" / "agreement-confusion.json").read_text()) == []
    assert (tmp_path / "reports" / "agreement-documents.jsonl").read_text() == ""


def test_two_annotators_with_a_swapped_label(tmp_path: Path):
    params = workspace(tmp_path)
    layer(tmp_path, "anna", [(0, 4, "PER"), (12, 15, "PER")], [(1, 2, "meets")])
    layer(tmp_path, "ben", [(0, 4, "PER"), (12, 15, "ORG")])
    agreement.run(for_stage(params, "agreement"))
    report = json.loads((tmp_path / "reports" / "agreement.json").read_text())
    assert report["documents"] == 1
    assert report["annotators"] == ["annotators/anna", "annotators/ben"]
    (pair,) = report["pairs"]
    assert pair["entities"]["exact"]["f1"] == 0.5
    assert pair["relations"]["f1"] == 0.0
    # spaCy tokens: Anna trifft Bob in Rom . → tags agree on 5 of 6, κ = 2/3 (see tests/core/test_agreement.py)
    assert pair["tokens"]["cohen_kappa"] == 0.6667
    documents = [json.loads(line) for line in (tmp_path / "reports" / "agreement-documents.jsonl").read_text().splitlines()]
    assert documents == [{"doc_id": "d1", "annotators": ["annotators/anna", "annotators/ben"], "mean_exact_f1": 0.5, "disagreements": 3}]


def test_a_record_with_an_error_stops_the_stage_and_writes_nothing(tmp_path: Path, capsys):
    params = workspace(tmp_path)
    layer(tmp_path, "anna", [(0, 4, "PER")])
    layer(tmp_path, "ben", [(0, 4, "PERSON")])
    assert agreement.main(for_stage(params, "agreement")) == 1
    assert "unknown-label" in capsys.readouterr().err
    assert not (tmp_path / "reports" / "agreement.json").exists()


def test_a_second_run_writes_the_same_bytes(tmp_path: Path):
    params = workspace(tmp_path)
    layer(tmp_path, "anna", [(0, 4, "PER"), (12, 15, "PER")])
    layer(tmp_path, "ben", [(0, 4, "PER")])
    reports = tmp_path / "reports"
    agreement.run(for_stage(params, "agreement"))
    first = {p.name: p.read_bytes() for p in sorted(reports.iterdir())}
    agreement.run(for_stage(params, "agreement"))
    assert {p.name: p.read_bytes() for p in sorted(reports.iterdir())} == first
