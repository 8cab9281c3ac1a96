"""`python -m pipeline import` / `export`: exit codes, messages, what is (not) written."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from pipeline.cli import app

REPO = Path(__file__).resolve().parents[2]


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


def dirs(tmp_path: Path) -> list[str]:
    return [
        "--seeds-dir",
        str(tmp_path / "seeds"),
        "--annotations-dir",
        str(tmp_path / "annotations"),
        "--reports-dir",
        str(tmp_path / "imported"),
        "--labels",
        str(REPO / "schemas/labels.yaml"),
    ]


def source(tmp_path: Path, label: str = "PER", start: int = 0) -> Path:
    path = tmp_path / "in.jsonl"
    row = {
        "id": 1,
        "text": "Anna Berg lebt in Bonn.",
        "entities": [{"id": 1, "start_offset": start, "end_offset": 9, "label": label}],
        "relations": [],
    }
    path.write_text(json.dumps(row) + "\n", encoding="utf-8")
    return path


def test_unmapped_labels_stop_the_import(tmp_path):
    outcome = invoke("import", "doccano", str(source(tmp_path, "PERSON")), "--name", "x", *dirs(tmp_path))
    assert outcome.exit_code == 1
    assert "entity label 'PERSON'" in outcome.output
    assert not (tmp_path / "seeds").exists()


def test_dry_run_writes_nothing_and_a_real_run_writes_everything(tmp_path):
    outcome = invoke("import", "doccano", str(source(tmp_path)), "--name", "x", "--dry-run", *dirs(tmp_path))
    assert outcome.exit_code == 0, outcome.output
    assert "import x: 1 documents" in outcome.output and not (tmp_path / "seeds").exists()
    outcome = invoke("import", "doccano", str(source(tmp_path)), "--name", "x", *dirs(tmp_path))
    assert outcome.exit_code == 0, outcome.output
    assert (tmp_path / "seeds/x.jsonl").exists() and (tmp_path / "annotations/imported/x/x.jsonl").exists()
    report = json.loads((tmp_path / "imported/x/report.json").read_text(encoding="utf-8"))
    assert report["format"] == "doccano" and report["layers"]["imported/x"]["entities"] == 1
    again = invoke("import", "doccano", str(source(tmp_path)), "--name", "x", *dirs(tmp_path))
    assert again.exit_code == 1 and "--force" in again.output


def test_errors_are_written_and_exit_1(tmp_path):
    outcome = invoke("import", "doccano", str(source(tmp_path, start=4)), "--name", "x", "--offsets", "codepoint", *dirs(tmp_path))
    assert outcome.exit_code == 1
    assert "whitespace-span" in outcome.output and "1 written item(s) that validate will reject" in outcome.output
    assert (tmp_path / "seeds/x.jsonl").exists()


def test_bad_options_and_missing_published_dataset(tmp_path):
    assert "--name 'a b'" in invoke("import", "doccano", str(source(tmp_path)), "--name", "a b", *dirs(tmp_path)).output
    assert (
        "--offsets must be one of"
        in invoke("import", "doccano", str(source(tmp_path)), "--name", "x", "--offsets", "bytes", *dirs(tmp_path)).output
    )
    assert "unknown import format 'xml'" in invoke("import", "xml", str(source(tmp_path)), "--name", "x", *dirs(tmp_path)).output
    missing = invoke("export", "conll", str(tmp_path / "out"), "--published", str(tmp_path / "nothing"))
    assert missing.exit_code == 1 and "build the dataset first" in missing.output
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("", encoding="utf-8")
    assert "pass --force" in invoke("export", "conll", str(tmp_path / "full"), "--published", str(tmp_path / "nothing")).output


def params_file(tmp_path: Path, **paths: str) -> Path:
    """The repository's params.yaml with the given ``section.key: path`` values (keys as ``section__key``)."""
    import yaml

    params = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    params["schemas"]["labels"] = str(REPO / "schemas/labels.yaml")
    for dotted, value in paths.items():
        section, key = dotted.split("__")
        params[section][key] = value
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params, allow_unicode=True), encoding="utf-8")
    return path


def test_paths_left_out_come_from_the_params_file(tmp_path):
    params = params_file(
        tmp_path, ingest__seeds_dir=str(tmp_path / "configured-seeds"), annotate__annotations_dir=str(tmp_path / "configured-annotations")
    )
    outcome = invoke(
        "import", "doccano", str(source(tmp_path)), "--name", "x", "--params", str(params), "--reports-dir", str(tmp_path / "imported")
    )
    assert outcome.exit_code == 0, outcome.output
    assert (tmp_path / "configured-seeds/x.jsonl").exists() and (tmp_path / "configured-annotations/imported/x/x.jsonl").exists()


def test_an_explicit_option_wins_over_the_params_file(tmp_path):
    params = params_file(tmp_path, ingest__seeds_dir=str(tmp_path / "configured-seeds"))
    outcome = invoke("import", "doccano", str(source(tmp_path)), "--name", "x", "--params", str(params), *dirs(tmp_path))
    assert outcome.exit_code == 0, outcome.output
    assert (tmp_path / "seeds/x.jsonl").exists() and not (tmp_path / "configured-seeds").exists()


def test_the_params_file_is_read_only_for_an_option_left_out(tmp_path):
    missing = tmp_path / "nope.yaml"
    assert invoke("import", "doccano", str(source(tmp_path)), "--name", "x", "--params", str(missing), *dirs(tmp_path)).exit_code == 0
    outcome = invoke("import", "doccano", str(source(tmp_path)), "--name", "y", "--dry-run", "--params", str(missing))
    assert outcome.exit_code == 1
    assert (
        f"error: cannot read {missing} (No such file or directory) for the default of --labels (schemas.labels); pass --labels or --params"
        in outcome.output
    )


def test_a_bad_params_file_is_named_as_the_config_names_it(tmp_path):
    params = params_file(tmp_path, publish__out_dir="")
    outcome = invoke("export", "conll", str(tmp_path / "out"), "--params", str(params))
    assert outcome.exit_code == 1 and f"error: {params}: publish.out_dir: expected a non-empty path, got ''" in outcome.output


def test_export_reads_the_published_dataset_named_in_the_params_file(tmp_path):
    params = params_file(tmp_path, publish__out_dir=str(tmp_path / "configured-published"))
    outcome = invoke("export", "conll", str(tmp_path / "out"), "--params", str(params))
    assert outcome.exit_code == 1 and f"{tmp_path / 'configured-published' / 'manifest.json'} does not exist" in outcome.output


def crossing_source(tmp_path: Path) -> Path:
    path = tmp_path / "crossing.jsonl"
    row = {
        "id": 1,
        "text": "Anna Berg lebt in Bonn.",
        "entities": [
            {"id": 1, "start_offset": 0, "end_offset": 9, "label": "PER"},  # Anna Berg
            {"id": 2, "start_offset": 5, "end_offset": 14, "label": "PER"},  # Berg lebt: crosses it
            {"id": 3, "start_offset": 5, "end_offset": 9, "label": "PER"},  # Berg: nested, allowed
        ],
        "relations": [],
    }
    path.write_text(json.dumps(row) + "\n", encoding="utf-8")
    return path


def test_crossing_overlaps_are_an_error_by_default_and_resolved_and_counted_on_request(tmp_path):
    path = crossing_source(tmp_path)
    outcome = invoke("import", "doccano", str(path), "--name", "x", "--dry-run", *dirs(tmp_path))
    assert outcome.exit_code == 1 and "entity T2 [5, 14) overlaps entity T1 [0, 9)" in outcome.output
    assert "--overlaps keep-longest|keep-first" in outcome.output
    outcome = invoke("import", "doccano", str(path), "--name", "x", "--overlaps", "keep-first", *dirs(tmp_path))
    assert outcome.exit_code == 0, outcome.output
    assert "dropped by --overlaps: 1 PER=1" in outcome.output
    assert "level 0: 2 source span(s), 1 written, dropped: overlap-policy=1" in outcome.output
    report = json.loads((tmp_path / "imported/x/report.json").read_text(encoding="utf-8"))
    assert report["overlaps"] == "keep-first" and report["overlaps_resolved"] == {"PER": 1}
    assert report["levels"] == {
        "0": {"PER": {"source": 2, "published": 1, "dropped": {"overlap-policy": 1}}},
        "1": {"PER": {"source": 1, "published": 1, "dropped": {}}},
    }
    record = json.loads((tmp_path / "annotations/imported/x/x.jsonl").read_text(encoding="utf-8"))
    assert [(e["start"], e["end"]) for e in record["entities"]] == [(0, 9), (5, 9)]


def test_an_unknown_overlap_policy_is_refused(tmp_path):
    outcome = invoke("import", "doccano", str(crossing_source(tmp_path)), "--name", "x", "--overlaps", "keep-all", *dirs(tmp_path))
    assert outcome.exit_code == 1 and "--overlaps must be one of ['error', 'keep-longest', 'keep-first'], not 'keep-all'" in outcome.output
