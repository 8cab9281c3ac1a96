"""The validation gate.

``tests/catalogue/<kind>/<case>/files/`` holds one bad input each (laid over a repository on
which the pipeline already published), ``expected.txt`` the exact problem lines validation must
print. Every case must: exit non-zero, print exactly those lines (naming file, line, document),
publish nothing new and leave the previous published dataset byte-identical.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml
from repo_helpers import tree_bytes
from stage_helpers import corpus, for_stage, params_for
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.core.derived_columns import derive_columns, substitutions
from pipeline.io.schemas import load_label_schema, load_suites
from pipeline.runtime.gx import Expectations

REPO = Path(__file__).resolve().parents[2]
CATALOGUE = REPO / "tests" / "catalogue"
CASES = sorted(p for p in CATALOGUE.glob("*/*") if (p / "files").is_dir())
STAGES = ["ingest", "annotate", "validate", "publish"]


def run_pipeline(repo: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    """The stages in dvc.yaml order, stopping at the first failure, as `dvc repro` does."""
    monkeypatch.chdir(repo)
    runner = CliRunner()
    stderr = ""
    for stage in STAGES:
        result = runner.invoke(app, [stage])
        stderr += result.stderr
        if result.exit_code != 0:
            return result.exit_code, stderr
    return 0, stderr


def test_the_catalogue_has_at_least_30_cases_in_every_kind():
    assert len(CASES) >= 30
    assert {case.parent.name for case in CASES} == {"1-structure", "2-semantics"}


@pytest.mark.parametrize("case", CASES, ids=[f"{c.parent.name}/{c.name}" for c in CASES])
def test_bad_input_is_reported_and_nothing_is_published(case: Path, built_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    repo = tmp_path / "repo"
    shutil.copytree(built_repo, repo, symlinks=True)
    before = tree_bytes(repo / "corpus" / "published")
    shutil.copytree(case / "files", repo, dirs_exist_ok=True)

    code, stderr = run_pipeline(repo, monkeypatch)

    problems = [
        json.loads(line) for line in (repo / "corpus" / "reports" / "validation-problems.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    from pipeline.core.problems import Problem

    printed = [Problem.from_json(p).format() for p in problems]
    expected_file = case / "expected.txt"
    if os.environ.get("CATALOGUE_RECORD") and not expected_file.exists():
        expected_file.write_text("\n".join(printed) + "\n", encoding="utf-8")
    expected = expected_file.read_text(encoding="utf-8").splitlines()
    assert code != 0
    assert printed == expected
    for line in expected:
        assert line in stderr
    report = json.loads((repo / "corpus" / "reports" / "validation.json").read_text())
    assert report["passed"] is False and report["errors"] == len([p for p in problems if p["severity"] == "error"])
    assert tree_bytes(repo / "corpus" / "published") == before
    assert not (repo / "corpus" / ".published.staging").exists()


def test_publish_refuses_without_a_passing_report(built_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    repo = tmp_path / "repo"
    shutil.copytree(built_repo, repo, symlinks=True)
    report = repo / "corpus" / "reports" / "validation.json"
    report.write_text(json.dumps({"passed": False, "errors": 3}))
    monkeypatch.chdir(repo)
    result = CliRunner().invoke(app, ["publish"])
    assert result.exit_code == 1
    assert "records 3 validation error(s); nothing was published" in result.stderr


def test_whitespace_spans_are_warnings_when_configured(built_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    repo = tmp_path / "repo"
    shutil.copytree(built_repo, repo, symlinks=True)
    shutil.copytree(CATALOGUE / "2-semantics" / "trailing-whitespace-span" / "files", repo, dirs_exist_ok=True)
    params = (repo / "params.yaml").read_text().replace("whitespace_spans: error", "whitespace_spans: warning")
    (repo / "params.yaml").write_text(params)
    code, _stderr = run_pipeline(repo, monkeypatch)
    assert code != 0  # the span still ends on whitespace, so it cannot align with tokens
    report = json.loads((repo / "corpus" / "reports" / "validation.json").read_text())
    assert report["warnings_by_kind"] == {"whitespace-span": 1}
    assert report["errors_by_kind"] == {"unaligned-span": 1}


# --------------------------------------------------------------------------- table checks (GX)


def published_frames(built_repo: Path) -> dict[str, pd.DataFrame]:
    tables_dir = built_repo / "corpus" / "interim" / "tables"
    return {name: pd.read_parquet(tables_dir / name) for name in ("documents", "sentences", "tokens", "entities", "relations", "ner", "re")}


def table_problems(frames: dict[str, pd.DataFrame]) -> list[str]:
    schema = load_label_schema(REPO / "schemas" / "labels.yaml")
    derive_columns(frames, bio_labels=schema.bio_labels)
    suites = load_suites(REPO / "schemas" / "expectations.yaml", substitutions(schema, ["train", "dev", "test"]))
    problems, checked = Expectations().run(frames, suites, {})
    assert checked > 30
    return [p.format() for p in problems]


def test_clean_tables_pass_every_expectation(built_repo: Path):
    assert table_problems(published_frames(built_repo)) == []


@pytest.mark.parametrize(
    ("table", "corrupt", "expected"),
    [
        ("tokens", "bio-i-after-o", "expect_column_values_to_be_in_set(column=bio_transition)"),
        ("tokens", "bio-disagrees", "expect_column_pair_values_to_be_equal(column_A=ner_tag, column_B=expected_tag)"),
        ("entities", "label", "expect_column_values_to_be_in_set(column=label)"),
        ("entities", "duplicate-key", "expect_compound_columns_to_be_unique(column_list=['doc_id', 'ent_id'])"),
        ("entities", "end-before-start", "expect_column_pair_values_a_to_be_greater_than_b(column_A=end, column_B=start)"),
        ("entities", "past-document", "expect_column_pair_values_a_to_be_greater_than_b(column_A=doc_length, column_B=end)"),
        ("relations", "dangling-head", "expect_column_values_to_be_in_set(column=head_known)"),
        ("entities", "unknown-document", "expect_column_values_to_be_in_set(column=doc_known)"),
        ("documents", "split", "expect_column_values_to_be_in_set(column=split)"),
        ("entities", "null-source", "expect_column_values_to_not_be_null(column=source)"),
        ("entities", "wrong-level", "expect_column_pair_values_to_be_equal(column_A=level, column_B=expected_level)"),
        ("entities", "wrong-parent", "expect_column_values_to_be_in_set(column=parent_consistent)"),
        ("ner", "inner-i-after-o", "expect_column_values_to_be_in_set(column=bio_levels_valid)"),
        ("ner", "span-past-sentence", "expect_column_values_to_be_in_set(column=spans_valid)"),
    ],
)
def test_each_table_expectation_catches_its_corruption(built_repo: Path, table: str, corrupt, expected):
    frames = published_frames(built_repo)
    frame = frames[table]
    if corrupt == "bio-i-after-o":
        index = frame.index[frame.ner_tag == "O"][0]
        frame.loc[index, "ner_tag"] = "I-ORG"
    elif corrupt == "bio-disagrees":
        index = frame.index[frame.ner_tag == "B-PER"][0]
        frame.loc[index, "ner_tag"] = "B-ORG"
        frame.loc[index + 1, "ner_tag"] = "I-ORG" if frame.loc[index + 1, "ner_tag"] == "I-PER" else frame.loc[index + 1, "ner_tag"]
    elif corrupt == "label":
        frame.loc[0, "label"] = "PERSON"
    elif corrupt == "duplicate-key":
        frame.loc[1, "ent_id"] = frame.loc[0, "ent_id"]
    elif corrupt == "end-before-start":
        frame.loc[0, "end"] = frame.loc[0, "start"]
    elif corrupt == "past-document":
        frame.loc[0, "end"] = 10**6
    elif corrupt == "dangling-head":
        frame.loc[0, "head"] = "T999"
    elif corrupt == "unknown-document":
        frames["documents"] = frames["documents"].iloc[0:0].copy()
    elif corrupt == "split":
        frame.loc[0, "split"] = "validation"
    elif corrupt == "null-source":
        frame.loc[0, "source"] = None
    elif corrupt == "wrong-level":
        frame.loc[0, "level"] = 1
    elif corrupt == "wrong-parent":
        frame.loc[0, "parent"] = frame.loc[1, "ent_id"]
    elif corrupt == "inner-i-after-o":
        tags = frame.loc[0, "ner_tags_inner"].copy()
        tags[0] = 2  # I- of the first type, at the start of the sentence
        frame.at[0, "ner_tags_inner"] = tags
    elif corrupt == "span-past-sentence":
        frame.at[0, "spans"] = [{"start": 0, "end": len(frame.loc[0, "tokens"]) + 1, "label": "PER"}]
    found = table_problems(frames)
    assert any(expected in line and "000_ea687b33c55d6d88" in line for line in found), found


# --------------------------------------------------------------------------- cost: chunks, workers, pass cache


@pytest.fixture(scope="module")
def sharded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """40 documents in 8 shards, ingested and annotated (not validated)."""
    from pipeline.stages import annotate, ingest

    root = tmp_path_factory.mktemp("sharded")
    corpus(root, 40)
    params = params_for(root, root / "cache", 1, shards=8)
    assert ingest.run(for_stage(params, "ingest")) == [] and annotate.run(for_stage(params, "annotate")) == []
    return root, params


def _with(params: dict, cache: Path, workers: int, chunk_rows: int) -> dict:
    params = json.loads(json.dumps(params))
    params["runtime"].update(cache_dir=str(cache), workers=workers)
    params["validate"]["chunk_rows"] = chunk_rows
    return params


def test_table_problems_do_not_depend_on_chunks_or_workers(sharded, tmp_path: Path):
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from pipeline.stages import validate as stage

    root, params = sharded
    corrupt = tmp_path / "tables"
    shutil.copytree(root / "interim" / "tables", corrupt)
    for path in sorted((corrupt / "entities").glob("*.parquet"))[::3]:  # several shards, not all
        table = pq.read_table(path)
        label = pc.replace_substring(table.column("label"), "PER", "PERSON")
        pq.write_table(table.set_column(table.schema.get_field_index("label"), "label", label), path)
    params = json.loads(json.dumps(params))
    params["annotate"]["out_dir"] = str(corrupt)
    runs = [
        stage.validate(for_stage(_with(params, tmp_path / f"cache-{workers}-{rows}", workers, rows), "validate"))[1]
        for workers, rows in ((1, 10**9), (2, 10**9), (1, 1), (2, 1))
    ]
    assert all(run == runs[0] for run in runs[1:])
    found = [p.format() for p in runs[0]]
    assert any("expect_column_values_to_be_in_set(column=label)" in line for line in found)
    assert any("column_B=expected_tag" in line for line in found)
    assert len({p.doc_id for p in runs[0]}) > 2


def test_chunks_are_even_bounded_and_a_multiple_of_the_workers(sharded):
    import pyarrow.parquet as pq

    from pipeline.stages.validate import chunks

    root, _ = sharded
    tables_dir = root / "interim" / "tables"
    parts = sorted(json.loads((tables_dir / "shards.json").read_text()))
    rows = {part: pq.ParquetFile(tables_dir / "tokens" / f"part-{part}.parquet").metadata.num_rows for part in parts}
    total = sum(rows.values())
    assert chunks(parts, tables_dir, 10**9, 1) == [parts]
    halves = chunks(parts, tables_dir, 10**9, 2)
    assert len(halves) == 2 and halves[0] + halves[1] == parts
    assert abs(sum(rows[p] for p in halves[0]) - sum(rows[p] for p in halves[1])) <= max(rows.values())
    for limit in (total // 3, total // 2, max(rows.values())):
        for workers in (1, 2, 3):
            groups = chunks(parts, tables_dir, limit, workers)
            assert [p for g in groups for p in g] == parts
            assert all(sum(rows[p] for p in g) <= limit or len(g) == 1 for g in groups)
    assert chunks([], tables_dir, 10, 2) == []


def test_a_rerun_on_passed_shards_does_not_import_great_expectations(sharded, tmp_path: Path):
    import subprocess
    import sys

    _, params = sharded
    params = _with(params, tmp_path / "cache", 2, 10**6)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True), encoding="utf-8")
    script = (
        "import logging, sys\n"
        "logging.basicConfig(level=logging.INFO)\n"
        "from pipeline.config import load_config\n"
        "from pipeline.stages import validate\n"
        f"assert validate.run(load_config({str(tmp_path / 'params.yaml')!r}).for_stage('validate'))\n"
        "print('gx imported:', 'great_expectations' in sys.modules)\n"
    )
    report = Path(params["validate"]["report"])
    first = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True)
    first_report = report.read_bytes()
    second = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True)
    assert "gx imported: True" in first.stdout and "8 of 8 shards checked" in first.stderr
    assert "gx imported: False" in second.stdout and "0 of 8 shards checked (0 expectation results) in 0 GX run(s)" in second.stderr
    assert report.read_bytes() == first_report


def _changed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, module: str) -> None:
    """Make the fingerprint see ``module``'s source with one more line (as tests/runtime/test_fingerprint.py does)."""
    from pipeline.runtime import fingerprint

    original = fingerprint.module_file

    def patched(name: str):
        path = original(name)
        if name == module:
            copy = tmp_path / path.name
            copy.write_text(path.read_text(encoding="utf-8") + "\n# changed\n", encoding="utf-8")
            return copy
        return path

    monkeypatch.setattr(fingerprint, "module_file", patched)
    fingerprint.module_closure.cache_clear()


@pytest.mark.parametrize(
    "module",
    ["pipeline.core.derived_columns", "pipeline.io.tables", "pipeline.runtime.gx", "pipeline.io.schemas", "pipeline.stages.validate"],
)
def test_the_pass_key_changes_when_a_module_validate_imports_changes(module: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    from pipeline.runtime.fingerprint import module_closure
    from pipeline.stages.validate import suite_key

    assert module in module_closure("pipeline.stages.validate")
    schema = load_label_schema(REPO / "schemas" / "labels.yaml")
    suites = REPO / "schemas" / "expectations.yaml"
    before = suite_key(suites, schema, ["train", "dev", "test"])
    try:
        _changed(monkeypatch, tmp_path, module)
        assert suite_key(suites, schema, ["train", "dev", "test"]) != before
    finally:
        module_closure.cache_clear()


def test_the_pass_key_stays_when_a_module_validate_does_not_import_changes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    from pipeline.runtime.fingerprint import module_closure
    from pipeline.stages.validate import suite_key

    assert "pipeline.stages.publish" not in module_closure("pipeline.stages.validate")
    schema = load_label_schema(REPO / "schemas" / "labels.yaml")
    suites = REPO / "schemas" / "expectations.yaml"
    before = suite_key(suites, schema, ["train", "dev", "test"])
    try:
        _changed(monkeypatch, tmp_path, "pipeline.stages.publish")
        assert suite_key(suites, schema, ["train", "dev", "test"]) == before
    finally:
        module_closure.cache_clear()


def test_document_lengths_are_kept_per_shard_and_a_changed_shard_gives_the_report_of_a_fresh_run(tmp_path: Path):
    from pipeline.stages import annotate, ingest, validate

    root = tmp_path / "c"
    corpus(root, 24)
    cache = tmp_path / "cache"

    def validated(cache_dir: Path) -> tuple[bytes, bytes]:
        params = params_for(root, cache_dir, 1, shards=4)
        ingest.run(for_stage(params, "ingest"))
        annotate.run(for_stage(params, "annotate"))
        validate.run(for_stage(params, "validate"))
        return (root / "reports" / "v.json").read_bytes(), (root / "reports" / "p.jsonl").read_bytes()

    validated(cache)
    stored = sorted((cache / "validate").glob("*/lengths.parquet"))
    assert len(stored) == 4  # one per shard
    # one document shortened (its gold record no longer fits it): its shard's lengths are computed anew
    seeds = root / "seeds" / "docs.jsonl"
    lines = seeds.read_text(encoding="utf-8").splitlines()
    first = json.loads(lines[0])
    first["text"] = first["text"][:20]
    lines[0] = json.dumps(first, ensure_ascii=False)
    seeds.write_text("\n".join(lines) + "\n", encoding="utf-8")
    incremental = validated(cache)
    assert len(sorted((cache / "validate").glob("*/lengths.parquet"))) == 5
    assert b'"passed": false' in incremental[0]
    assert validated(tmp_path / "empty-cache") == incremental
