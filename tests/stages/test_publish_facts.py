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
    # only the files of the last run are kept, and the published ones they were compared with
    assert len(manifest["files"]) <= len(remembered) <= 2 * len(manifest["files"])

    build(params_on(root, tmp_path / "empty-cache", None))
    assert (root / "published" / "manifest.json").read_bytes() == manifest_bytes


def test_a_file_whose_bytes_did_not_change_keeps_its_published_inode_after_the_cache_is_rebuilt(tmp_path: Path):
    root = tmp_path / "c"
    corpus(root, 20)
    build(params_on(root, tmp_path / "cache", None))
    published, tables = root / "published", root / "interim" / "tables"

    def files(folder: Path) -> dict[Path, tuple[int, str]]:
        return {p.relative_to(folder): (p.stat().st_ino, hashlib.sha256(p.read_bytes()).hexdigest()) for p in folder.rglob("*.parquet")}

    before = files(published)
    relabel(root, 3, "ORG")
    build(params_on(root, tmp_path / "another-cache", None))  # every shard's files written again: new inodes
    after, interim = files(published), files(tables)

    assert after.keys() == interim.keys() == before.keys()
    assert all(after[path][1] == interim[path][1] for path in after)  # the new dataset's bytes
    unchanged = {path for path in after if after[path][1] == before[path][1]}
    assert unchanged and unchanged != set(after)  # the relabelled shard's files changed, the others did not
    for path in after:
        if path in unchanged:
            assert after[path][0] == before[path][0] != interim[path][0], path  # kept, though the tables' file is another
        else:
            assert after[path][0] == interim[path][0], path  # the new file, linked
