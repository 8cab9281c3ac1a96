"""Sharded, cached, parallel stages give the same bytes however they ran."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest
import yaml

from repo_helpers import tree_bytes
from pipeline.stages import annotate, ingest, publish, validate
from pipeline.core.text import text_sha256
from pipeline.runtime.cache import ShardCache
from pipeline.runtime.fingerprint import digest
from pipeline.runtime.pool import parallel_map
from pipeline.runtime.shards import shard_of

REPO = Path(__file__).resolve().parent.parent
SENTENCES = ["Kim Jong Un traf Moon Jae In in Panmunjom.", "Die Gespräche in Seoul dauerten bis Ende Mai.", "Trump äußerte sich in Washington zurückhaltend. 🙂"]


def corpus(root: Path, count: int) -> None:
    """``count`` small documents with gold annotations, as seeds/*.jsonl + a gold layer."""
    (root / "seeds").mkdir(parents=True, exist_ok=True)
    (root / "annotations" / "gold").mkdir(parents=True, exist_ok=True)
    lines, records = [], []
    for number in range(count):
        text = " ".join(SENTENCES[(number + k) % 3] for k in range(1 + number % 3))
        doc_id = f"doc-{number:03d}"
        lines.append({"id": doc_id, "text": text})
        start = text.index("Kim") if "Kim" in text else text.index("Trump")
        end = start + (11 if text[start:].startswith("Kim") else 5)
        records.append({"doc_id": doc_id, "text_sha256": text_sha256(text), "source": "gold", "entities": [{"id": "T1", "start": start, "end": end, "label": "PER"}], "relations": []})
    (root / "seeds" / "docs.jsonl").write_text("".join(json.dumps(l, ensure_ascii=False) + "\n" for l in lines), encoding="utf-8")
    (root / "annotations" / "gold" / "g.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")


def params_for(root: Path, cache: Path, workers: int) -> dict:
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["schemas"] = {k: str(REPO / v) for k, v in params["schemas"].items()}
    params["runtime"].update(cache_dir=str(cache), workers=workers, shards=8)
    params["ingest"].update(seeds_dir=str(root / "seeds"), out_dir=str(root / "interim" / "ingest"))
    params["annotate"].update(annotations_dir=str(root / "annotations"), out_dir=str(root / "interim" / "tables"))
    params["validate"].update(report=str(root / "reports" / "v.json"), problems=str(root / "reports" / "p.jsonl"), summary=str(root / "reports" / "v.md"))
    params["publish"].update(out_dir=str(root / "published"), metrics=str(root / "metrics.json"))
    return params


def build(params: dict) -> None:
    assert ingest.run(params) == []
    assert annotate.run(params) == []
    assert validate.run(params)
    publish.run(params)


def test_one_and_two_workers_publish_identical_bytes(tmp_path: Path):
    results = []
    for workers in (1, 2):
        root = tmp_path / f"w{workers}"
        corpus(root, 40)
        build(params_for(root, tmp_path / f"cache{workers}", workers))
        results.append(tree_bytes(root / "published"))
    assert results[0] == results[1]
    assert len([name for name in results[0] if name.startswith("tokens/")]) > 1


def test_incremental_rerun_equals_a_run_from_scratch_and_recomputes_one_shard(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    root = tmp_path / "incremental"
    corpus(root, 40)
    params = params_for(root, tmp_path / "cache", 2)
    build(params)
    corpus(root, 41)  # one more document
    caplog.set_level(logging.INFO, logger="pipeline")
    build(params)
    assert "41 documents in 8 shards (1 computed, 7 from cache)" in caplog.text
    assert "8 shards (1 computed)" in caplog.text
    assert "1 of 8 shards checked" in caplog.text

    scratch = tmp_path / "scratch"
    corpus(scratch, 41)
    build(params_for(scratch, tmp_path / "empty-cache", 1))
    assert tree_bytes(root / "published") == tree_bytes(scratch / "published")


def test_a_changed_annotation_recomputes_only_its_shard(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    root = tmp_path / "c"
    corpus(root, 20)
    params = params_for(root, tmp_path / "cache", 1)
    build(params)
    layer = root / "annotations" / "gold" / "g.jsonl"
    records = [json.loads(line) for line in layer.read_text().splitlines()]
    records[3]["entities"][0]["label"] = "ORG"
    layer.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    caplog.set_level(logging.INFO, logger="pipeline")
    build(params)
    assert "(1 computed)" in caplog.text
    entities = __import__("pandas").read_parquet(root / "published" / "entities")
    assert entities.set_index("doc_id").loc["doc-003", "label"] == "ORG"


def test_shard_assignment_is_stable_and_spread():
    shards = [shard_of(f"doc-{i}", 16) for i in range(1600)]
    assert shards == [shard_of(f"doc-{i}", 16) for i in range(1600)]
    assert min(shards.count(s) for s in range(16)) > 60


def test_cache_commit_and_link(tmp_path: Path):
    cache = ShardCache(tmp_path / "cache", "stage")
    key = digest("x", 1)
    assert not cache.has(key)
    staging = cache.staging(key)
    (staging / "t").mkdir()
    (staging / "t" / "part.parquet").write_bytes(b"data")
    cache.commit(key, staging)
    assert cache.has(key)
    linked = cache.link_into(key, tmp_path / "out")
    assert [p.relative_to(tmp_path / "out").as_posix() for p in linked] == ["t/part.parquet"]
    assert (tmp_path / "out" / "t" / "part.parquet").read_bytes() == b"data"


def _square(value: int) -> int:
    return value * value


def test_parallel_map_keeps_order():
    assert list(parallel_map(_square, list(range(20)), 2)) == [v * v for v in range(20)]


def test_records_are_checked_in_the_shard_of_their_document_wherever_that_is(tmp_path: Path):
    """A record for a document that was never ingested is reported both when its shard holds
    other documents (checked by a worker) and when it holds none (checked by the main process),
    and a relation into another document names that document even across shards."""
    root = tmp_path / "r"
    corpus(root, 3)
    params = params_for(root, tmp_path / "cache", 2)
    used = {shard_of(f"doc-{n:03d}", 8) for n in range(3)}
    in_used = next(f"ghost-{n}" for n in range(100) if shard_of(f"ghost-{n}", 8) in used)
    in_empty = next(f"ghost-{n}" for n in range(100) if shard_of(f"ghost-{n}", 8) not in used)
    layer = root / "annotations" / "gold" / "g.jsonl"
    records = [json.loads(line) for line in layer.read_text().splitlines()]
    away = next(n for n in (1, 2) if shard_of(f"doc-{n:03d}", 8) != shard_of("doc-000", 8))
    records[away]["entities"][0]["id"] = "T9"
    records[0]["relations"] = [{"id": "R1", "head": "T1", "tail": "T9", "label": "meets"}]
    ghosts = [{**records[1], "doc_id": ghost} for ghost in (in_used, in_empty)]
    layer.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records + ghosts))
    assert ingest.run(params) == []
    problems = annotate.run(params)
    assert [(p.line, p.doc_id, p.kind) for p in problems] == [
        (1, "doc-000", "missing-argument"),
        (4, in_used, "unknown-document"),
        (5, in_empty, "unknown-document"),
    ]
    assert f"belongs to document(s) doc-{away:03d}" in problems[0].message
