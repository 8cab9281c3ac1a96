"""End to end: the real `dvc repro` in temporary copies of the repository."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from repo_helpers import copy_repo, run, tree_bytes

pytestmark = pytest.mark.e2e
SEED_LAYER = Path("corpus/annotations/gold/seed.jsonl")


def test_repro_publishes_and_a_second_repro_has_nothing_to_do(built_repo: Path):
    published = built_repo / "corpus" / "published"
    for name in ("documents", "sentences", "tokens", "entities", "relations", "ner", "re"):
        assert list((published / name).glob("*.parquet")), name
    assert (published / "manifest.json").exists() and (published / "README.md").exists()
    again = run(["dvc", "repro"], built_repo, check=True)
    assert "Data and pipelines are up to date." in again.stdout
    status = run(["dvc", "status"], built_repo, check=True)
    assert "Data and pipelines are up to date." in status.stdout


def test_metrics_are_dvc_metrics(built_repo: Path):
    shown = run(["dvc", "metrics", "show", "--json"], built_repo, check=True)
    metrics = json.loads(shown.stdout)
    flat = json.dumps(metrics)
    assert '"entities": 47' in flat.replace(" ", " ") or '"entities":47' in flat
    assert '"errors": 0' in flat


def test_unknown_label_fails_repro_and_leaves_the_published_dataset_untouched(repo_copy: Path):
    run(["dvc", "repro"], repo_copy, check=True)
    before = tree_bytes(repo_copy / "corpus" / "published")
    layer = repo_copy / SEED_LAYER
    record = json.loads(layer.read_text(encoding="utf-8"))
    record["entities"][0]["label"] = "COUNTRY"
    layer.write_text(json.dumps(record, ensure_ascii=False) + "\n", encoding="utf-8")

    result = run(["dvc", "repro"], repo_copy)

    assert result.returncode != 0
    expected = (
        "corpus/annotations/gold/seed.jsonl:1: 000_ea687b33c55d6d88: unknown-label: entity T1 [0, 2) has label "
        "'COUNTRY', not in the label schema ['PER', 'ORG', 'GPE', 'LOC', 'DATE', 'EVENT', 'MISC']"
    )
    assert expected in result.stderr
    assert tree_bytes(repo_copy / "corpus" / "published") == before
    report = json.loads((repo_copy / "corpus" / "reports" / "validation.json").read_text())
    assert report["errors_by_kind"] == {"unknown-label": 1}


def test_same_inputs_give_byte_identical_outputs(built_repo: Path, tmp_path: Path):
    fresh = copy_repo(tmp_path / "fresh")
    run(["dvc", "repro"], fresh, check=True)
    first = tree_bytes(built_repo / "corpus" / "published")
    assert tree_bytes(fresh / "corpus" / "published") == first
    shutil.rmtree(fresh / "corpus" / "published")
    shutil.rmtree(fresh / "corpus" / "interim")
    run(["dvc", "repro", "--force"], fresh, check=True)
    assert tree_bytes(fresh / "corpus" / "published") == first
    lock = (fresh / "dvc.lock").read_text()
    run(["dvc", "repro", "--force"], fresh, check=True)
    assert (fresh / "dvc.lock").read_text() == lock


def test_after_the_shard_cache_is_rebuilt_the_published_files_stay_the_tables_files(repo_copy: Path):
    # A code change (or an emptied .cache) rebuilds every shard entry with the same bytes. DVC finds
    # their objects in its cache and relinks each published file to the old object; had the new
    # entries new inodes, the tables' files would no longer be the published ones, and every later
    # run that publishes would hash the whole dataset again (DVC's hash state is by inode).
    run(["dvc", "repro"], repo_copy, check=True)
    shutil.rmtree(repo_copy / ".cache" / "pipeline")
    run(["dvc", "repro", "--force"], repo_copy, check=True)
    published, tables = repo_copy / "corpus" / "published", repo_copy / "corpus" / "interim" / "tables"
    files = sorted(published.rglob("*.parquet"))
    assert files
    for path in files:
        assert os.path.samefile(path, tables / path.relative_to(published)), path.relative_to(published)
