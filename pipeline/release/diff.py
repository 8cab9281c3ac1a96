"""``python -m pipeline diff OLD NEW``: the semantic diff of two published datasets, streamed.

Both folders are read through :mod:`pipeline.io.published`, one shard at a time: the shard
number is in every file name (``part-00040``, ``train-00040``) and a document's shard is
sha256(``doc_id``) mod ``runtime.shards``, so when both versions were built with the same shard
count, shard ``k`` of one holds exactly the documents shard ``k`` of the other may hold, and the
diff of the dataset is the sum of the diffs of the shards (memory: one shard of both versions).
If the shard counts differ (a document id sits in another shard number on each side), the diff
reads each table whole instead and says so in a warning. The row-level diff itself is pure
(:mod:`pipeline.core.diff`).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from pipeline.core.diff import DiffBuilder, render_markdown
from pipeline.io import atomic
from pipeline.io.published import column_names, iter_batches, read_columns, read_manifest, row_count, shard_files, table_columns

log = logging.getLogger(__name__)

#: Tables diffed row by row (documents without their text: ``text_sha256`` says if it changed).
ROW_TABLES = ("documents", "entities", "relations")
SKIPPED_COLUMNS = {"documents": ("text",)}


def _doc_parts(published: Path, shards: dict[str, dict[str, list[Path]]]) -> dict[str, str]:
    parts = {}
    for part, tables in shards.items():
        for doc_id in read_columns(tables.get("documents", []), ["doc_id"]).column("doc_id").to_pylist():
            parts[doc_id] = part
    return parts


def _same_layout(old: dict[str, dict[str, list[Path]]], new: dict[str, dict[str, list[Path]]], old_dir: Path, new_dir: Path) -> bool:
    """Whether every document both versions hold sits in the same shard number on both sides."""
    before, after = _doc_parts(old_dir, old), _doc_parts(new_dir, new)
    return all(before[d] == after[d] for d in before.keys() & after.keys())


def _rows(files: list[Path], table: str) -> list[dict[str, Any]]:
    return read_columns(files, skip=SKIPPED_COLUMNS.get(table, ())).to_pylist()


def compute_diff(old_dir: Path, new_dir: Path, old_name: str, new_name: str) -> dict[str, Any]:
    """The diff (:meth:`pipeline.core.diff.DiffBuilder.result`) of two published folders."""
    old_manifest, new_manifest = read_manifest(old_dir), read_manifest(new_dir)
    old_shards, new_shards = shard_files(old_dir), shard_files(new_dir)
    if not _same_layout(old_shards, new_shards, old_dir, new_dir):
        log.warning("diff: the two versions have different shard layouts (runtime.shards); reading each table whole")
        old_shards = {"all": _merged(old_shards)}
        new_shards = {"all": _merged(new_shards)}
    builder = DiffBuilder()
    for part in sorted(old_shards.keys() | new_shards.keys()):
        old_tables, new_tables = old_shards.get(part, {}), new_shards.get(part, {})
        builder.add_shard(
            {t: _rows(old_tables.get(t, []), t) for t in ROW_TABLES},
            {t: _rows(new_tables.get(t, []), t) for t in ROW_TABLES},
        )
        for table in sorted((old_tables.keys() | new_tables.keys()) - set(ROW_TABLES)):
            builder.add_table_change(table, _changed(old_tables.get(table, []), new_tables.get(table, [])))
    return builder.result(
        {"tables": table_columns(old_dir), "labels": old_manifest.get("label_schema", {})},
        {"tables": table_columns(new_dir), "labels": new_manifest.get("label_schema", {})},
        {"before": old_manifest.get("rows", {}), "after": new_manifest.get("rows", {})},
        old_name,
        new_name,
    )


def _merged(shards: dict[str, dict[str, list[Path]]]) -> dict[str, list[Path]]:
    merged: dict[str, list[Path]] = {}
    for tables in shards.values():
        for table, files in tables.items():
            merged.setdefault(table, []).extend(files)
    return merged


def _changed(old_files: list[Path], new_files: list[Path]) -> bool:
    """Whether one shard of a table holds other rows on each side (by file name pairs, over the
    columns both have; schema metadata such as the version is ignored), read batch by batch."""
    if sorted(p.name for p in old_files) != sorted(p.name for p in new_files):
        return True
    for old_path, new_path in zip(sorted(old_files), sorted(new_files), strict=True):
        if row_count(old_path) != row_count(new_path):
            return True
        after_names = set(column_names(new_path))
        common = [c for c in column_names(old_path) if c in after_names]
        # batch by batch: memory is one batch of each file, not the shard's table (tokens)
        for before, after in zip(iter_batches(old_path, common), iter_batches(new_path, common), strict=True):
            if not before.equals(after):
                return True
    return False


def write_reports(diff: dict[str, Any], reports_dir: Path) -> str:
    """``diff.md`` and ``diff.json`` in ``reports_dir``; returns the Markdown."""
    markdown = render_markdown(diff)
    atomic.write_text(reports_dir / "diff.md", markdown)
    atomic.write_text(reports_dir / "diff.json", json.dumps(diff, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    return markdown
