"""The manifest's per-file facts are remembered by file identity and are always the files' own."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
from stage_helpers import build, corpus, params_on


def relabel(root: Path, index: int, label: str) -> None:
    layer = root / "annotations" / "gold" / "g.jsonl"
    records = [json.loads(line) for line in layer.read_text(encoding="utf-8").splitlines()]
    records[index]["entities"][0]["label"] = label
    layer.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")


def test_remembered_facts_are_those_of_the_published_files_and_equal_a_run_from_scratch(tmp_path: Path):
    root = tmp_path / "c"
    corpus(root, 20)
    cache = tmp_path / "cache"
    build(params_on(root, cache, None))
    first = json.loads((root / "published" / "manifest.json").read_text(encoding="utf-8"))
    relabel(root, 3, "ORG")
    build(params_on(root, cache, None))
    manifest_bytes = (root / "published" / "manifest.json").read_bytes()
    manifest = json.loads(manifest_bytes)

    assert manifest["files"] != first["files"]  # the relabelled shard's files are new
    for relative, entry in manifest["files"].items():
        path = root / "published" / relative
        assert entry["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest(), relative
        assert entry["rows"] == pq.ParquetFile(path).metadata.num_rows, relative
    entities = pd.read_parquet(root / "published" / "entities")
    metrics = json.loads((root / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["entities_by_label"] == dict(sorted(entities["label"].value_counts().to_dict().items()))
    remembered = json.loads((cache / "publish" / "files.json").read_text(encoding="utf-8"))["lines"]
    assert len(remembered) == len(manifest["files"])  # only the files of the last run are kept

    build(params_on(root, tmp_path / "empty-cache", None))
    assert (root / "published" / "manifest.json").read_bytes() == manifest_bytes
