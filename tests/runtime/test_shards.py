"""Sharded, cached, parallel stages give the same bytes however they ran; shards are stable."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from repo_helpers import tree_bytes
from stage_helpers import corpus, for_stage, params_for

from pipeline.runtime.shards import shard_of
from pipeline.stages import annotate, ingest, publish, validate


def build(params: dict[str, Any]) -> None:
    assert ingest.run(for_stage(params, "ingest")) == []
    assert annotate.run(for_stage(params, "annotate")) == []
    assert validate.run(for_stage(params, "validate"))
    publish.run(for_stage(params, "publish"))


def test_one_and_two_workers_publish_identical_bytes(tmp_path: Path):
    results = []
    for workers in (1, 2):
        root = tmp_path / f"w{workers}"
        corpus(root, 40)
        build(params_for(root, tmp_path / f"cache{workers}", workers, shards=8))
        results.append(tree_bytes(root / "published"))
    assert results[0] == results[1]
    assert len([name for name in results[0] if name.startswith("tokens/")]) > 1


def test_incremental_rerun_equals_a_run_from_scratch_and_recomputes_one_shard(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    root = tmp_path / "incremental"
    corpus(root, 40)
    params = params_for(root, tmp_path / "cache", 2, shards=8)
    build(params)
    corpus(root, 41)  # one more document
    caplog.set_level(logging.INFO, logger="pipeline")
    build(params)
    assert "41 documents in 8 shards (1 computed, 7 from cache" in caplog.text
    assert "8 shards (1 computed;" in caplog.text
    assert "1 of 8 shards checked" in caplog.text

    scratch = tmp_path / "scratch"
    corpus(scratch, 41)
    build(params_for(scratch, tmp_path / "empty-cache", 1, shards=8))
    assert tree_bytes(root / "published") == tree_bytes(scratch / "published")


def test_a_changed_annotation_recomputes_only_its_shard(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    root = tmp_path / "c"
    corpus(root, 20)
    params = params_for(root, tmp_path / "cache", 1, shards=8)
    build(params)
    layer = root / "annotations" / "gold" / "g.jsonl"
    records = [json.loads(line) for line in layer.read_text().splitlines()]
    records[3]["entities"][0]["label"] = "ORG"
    layer.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    caplog.set_level(logging.INFO, logger="pipeline")
    build(params)
    assert "(1 computed;" in caplog.text
    entities = __import__("pandas").read_parquet(root / "published" / "entities")
    assert entities.set_index("doc_id").loc["doc-003", "label"] == "ORG"


def test_shard_assignment_is_stable_and_spread():
    shards = [shard_of(f"doc-{i}", 16) for i in range(1600)]
    assert shards == [shard_of(f"doc-{i}", 16) for i in range(1600)]
    assert min(shards.count(s) for s in range(16)) > 60
