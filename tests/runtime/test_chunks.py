"""A changed shard recomputes only its changed chunks; the bytes equal a run from scratch."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pytest
from repo_helpers import tree_bytes
from stage_helpers import corpus, for_stage, params_for

from pipeline.io import tables
from pipeline.runtime.cache import ShardCache
from pipeline.runtime.chunks import LastEntries, PreviousChunks, chunk_keys, write_chunks
from pipeline.runtime.shards import chunk_of, shard_of
from pipeline.stages import annotate, ingest, publish, validate


def build(params: dict) -> None:
    ingest.run(for_stage(params, "ingest"))
    annotate.run(for_stage(params, "annotate"))
    validate.run(for_stage(params, "validate"))
    publish.run(for_stage(params, "publish"))


def tables_bytes(root: Path) -> dict[str, bytes]:
    """annotate's output but its cache keys (which name the input files, so differ between copies)."""
    return {name: data for name, data in tree_bytes(root / "interim" / "tables").items() if name != "shards.json"}


def chunk_counts(text: str, stage: str) -> list[tuple[int, int]]:
    """(chunks computed, chunks reused) of each run of ``stage`` in the log."""
    return [(int(a), int(b)) for a, b in re.findall(rf"{stage}: .*chunks: (\d+) computed, (\d+) reused", text)]


def test_chunks_spread_a_shard_s_documents_and_do_not_depend_on_the_shard_index():
    ids = [f"doc-{i}" for i in range(8000)]
    in_shard = [doc_id for doc_id in ids if shard_of(doc_id, 4) == 1]
    chunks = [chunk_of(doc_id, 4, 8) for doc_id in in_shard]
    assert min(chunks.count(c) for c in range(8)) > 150
    assert chunks == [chunk_of(doc_id, 4, 8) for doc_id in in_shard]


def test_one_added_document_recomputes_one_chunk_in_ingest_and_annotate(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    root = tmp_path / "incremental"
    corpus(root, 60)
    params = params_for(root, tmp_path / "cache", 1, shards=2, chunks=4)
    build(params)
    corpus(root, 61)
    caplog.set_level(logging.INFO, logger="pipeline")
    caplog.clear()
    build(params)
    assert chunk_counts(caplog.text, "ingest") == [(1, 3)]
    assert chunk_counts(caplog.text, "annotate") == [(1, 3)]

    # a run from scratch with one chunk per shard: the chunk count never shows in the bytes
    scratch = tmp_path / "scratch"
    corpus(scratch, 61)
    build(params_for(scratch, tmp_path / "empty-cache", 2, shards=2, chunks=1))
    assert tree_bytes(root / "published") == tree_bytes(scratch / "published")
    assert tables_bytes(root) == tables_bytes(scratch)


def test_the_problems_of_reused_chunks_are_kept(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    root = tmp_path / "p"
    corpus(root, 40)
    layer = root / "annotations" / "gold" / "g.jsonl"
    records = [json.loads(line) for line in layer.read_text().splitlines()]
    records[5]["entities"][0]["label"] = "NOT_A_LABEL"  # an error in one chunk
    layer.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    params = params_for(root, tmp_path / "cache", 1, shards=1, chunks=8)
    ingest.run(for_stage(params, "ingest"))
    annotate.run(for_stage(params, "annotate"))
    other = next(i for i, r in enumerate(records) if chunk_of(r["doc_id"], 1, 8) != chunk_of(records[5]["doc_id"], 1, 8))
    records[other]["entities"][0]["label"] = "ORG"
    layer.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    caplog.set_level(logging.INFO, logger="pipeline")
    caplog.clear()
    problems = annotate.run(for_stage(params, "annotate"))
    assert chunk_counts(caplog.text, "annotate") == [(1, 7)]
    assert [(p.doc_id, p.kind) for p in problems if p.doc_id == "doc-005"] == [("doc-005", "unknown-label")]

    incremental = tables_bytes(root)
    # the same inputs from an empty cache
    scratch_params = params_for(root, tmp_path / "empty", 1, shards=1, chunks=8)
    ingest.run(for_stage(scratch_params, "ingest"))
    assert annotate.run(for_stage(scratch_params, "annotate")) == problems
    assert tables_bytes(root) == incremental


def test_without_the_previous_entry_the_shard_is_computed_whole(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    root = tmp_path / "w"
    corpus(root, 30)
    cache = tmp_path / "cache"
    params = params_for(root, cache, 1, shards=1, chunks=4)
    build(params)
    (cache / "last" / "ingest.json").unlink()
    corpus(root, 31)
    caplog.set_level(logging.INFO, logger="pipeline")
    caplog.clear()
    ingest.run(for_stage(params, "ingest"))
    assert chunk_counts(caplog.text, "ingest") == [(4, 0)]


def test_previous_chunks_reuse_only_equal_keys_and_read_only_the_wanted_documents(tmp_path: Path):
    entry = tmp_path / "entry"
    schema = tables.INTERIM_SCHEMAS["documents"]
    rows = [
        {"doc_id": d, "text": "x", "text_sha256": "s", "source": "f", "title": None, "date": None, "url": None}
        | {"meta": None, "path": "p", "line": 1, "raw_sha256": "r"}
        for d in ("a", "b", "c")
    ]
    tables.write_parquet(pa.Table.from_pylist(rows, schema=schema), entry / "documents" / "part-00000.parquet")
    write_chunks(entry, {0: "k0", 1: "k1"}, {1: {"layers": {"gold": 2}}})
    prior = PreviousChunks(entry)
    assert prior.reusable({0: "k0", 1: "changed", 2: "k2"}) == {0}
    assert prior.meta(1) == {"layers": {"gold": 2}}
    assert prior.rows(["documents/part-00000.parquet", "documents/missing.parquet"], schema, ["c", "a"]).column("doc_id").to_pylist() == [
        "a",
        "c",
    ]
    assert PreviousChunks("").reusable({0: "k0"}) == set()


def test_last_entries_survive_a_broken_file_and_name_only_entries_the_cache_holds(tmp_path: Path):
    path = tmp_path / "last" / "ingest.json"
    path.parent.mkdir()
    path.write_text("{not json")
    cache = ShardCache(tmp_path / "cache", "ingest")
    assert LastEntries(path).ref("00000", cache) == ""
    LastEntries(path).save({"00001": "held", "00002": "pruned"})
    cache.put("held", {"x.txt": b"x"})
    assert LastEntries(path).ref("00001", cache) == str(cache.path("held"))
    assert LastEntries(path).ref("00002", cache) == ""


def test_chunk_keys_cover_upstream_chunks_and_change_with_an_item_or_the_upstream_key():
    @dataclass
    class Line:
        key: str
        text: str

        def fingerprint(self) -> list[str]:
            return [self.key, self.text]

    layout = (1, 4)
    lines = [Line(f"doc-{n}", "a") for n in range(12)]
    keys = chunk_keys("p", lines, lambda line: line.key, layout, {"3": "up3", "2": "up2"})
    assert {chunk for chunk in range(4) if any(chunk_of(line.key, *layout) == chunk for line in lines)} | {2, 3} == set(keys)
    assert sorted(line.key for _, found in keys.values() for line in found) == sorted(line.key for line in lines)
    changed = chunk_of("doc-5", *layout)
    again = chunk_keys(
        "p",
        [Line(line.key, "b" if line.key == "doc-5" else "a") for line in lines],
        lambda line: line.key,
        layout,
        {"3": "up3", "2": "up2"},
    )
    assert [chunk for chunk in keys if keys[chunk][0] != again[chunk][0]] == [changed]
    other = chunk_keys("p", lines, lambda line: line.key, layout, {"3": "new", "2": "up2"})
    assert [chunk for chunk in keys if keys[chunk][0] != other[chunk][0]] == [3]
