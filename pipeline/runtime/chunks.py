"""Recompute only the changed chunks of a shard: the rest comes from the shard's previous result.

A shard's documents fall into ``runtime.chunks`` chunks (:func:`pipeline.runtime.shards.chunk_of`).
A stage keys each chunk by the chunk's inputs (as it keys the shard by the shard's), and its shard
job writes the chunks' keys into the shard's cache entry (``chunks.json``, with what each chunk
contributed besides table rows: problems, counts). When a shard's key changes (one of its
documents did), the job is handed the entry of the shard's previous run (:class:`LastEntries`)
and computes only the chunks whose key is not in it; the rows of the others are read back from
that entry's own output tables, filtered by ``doc_id``.

This is exact because every stage that uses it computes each document's rows from that
document's inputs alone and sorts every table by ``doc_id`` first: the rows of a chunk are the
same whether they were computed with the whole shard, alone, or in a run before, and the joined,
sorted tables are the same bytes (the tests compare incremental and from-scratch runs).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline.io import atomic
from pipeline.runtime.cache import CHUNKS_FILE, ShardCache
from pipeline.runtime.fingerprint import digest
from pipeline.runtime.shards import chunk_of, group


class Fingerprinted(Protocol):
    def fingerprint(self) -> list[Any]: ...


T = TypeVar("T", bound=Fingerprinted)


def chunk_keys(
    prefix: Any,
    items: Sequence[T],
    doc_id_of: Callable[[T], str],
    layout: tuple[int, int],
    upstream: Mapping[str, str] | None = None,
) -> dict[int, tuple[str, list[T]]]:
    """chunk → (its key, its items) for one shard: every chunk with one of ``items`` (seed lines or
    annotation records, put in the chunk of ``doc_id_of(item)``) or with a chunk of the upstream
    stage (``upstream``: chunk → key, as ingest writes them in ``shard-chunks.json``). A chunk's
    key is ``prefix`` (what the stage's shard key holds besides its inputs), the upstream chunk's
    key and the items' fingerprints, in the order given."""
    upstream = upstream or {}
    by_chunk = group(items, lambda item: chunk_of(doc_id_of(item), *layout))
    chunks = sorted(set(by_chunk) | {int(chunk) for chunk in upstream})
    return {
        chunk: (digest(prefix, upstream.get(str(chunk)), [item.fingerprint() for item in by_chunk.get(chunk, [])]), by_chunk.get(chunk, []))
        for chunk in chunks
    }


class PreviousChunks:
    """What a shard's previous entry holds: which chunk keys it was built from, and what each
    contributed besides rows (``meta``); empty without a previous entry."""

    def __init__(self, previous: str | Path | None) -> None:
        self.folder = Path(previous) if previous else None
        self.entries: dict[int, dict[str, Any]] = {}
        if self.folder is not None and (self.folder / CHUNKS_FILE).exists():
            data = json.loads((self.folder / CHUNKS_FILE).read_text(encoding="utf-8"))
            self.entries = {int(chunk): entry for chunk, entry in data.items()}

    def reusable(self, keys: Mapping[int, str]) -> set[int]:
        """The chunks of ``keys`` (chunk → key) the previous entry holds with the same key."""
        return {chunk for chunk, key in keys.items() if self.entries.get(chunk, {}).get("key") == key}

    def meta(self, chunk: int) -> dict[str, Any]:
        return self.entries[chunk].get("meta", {})

    def rows(self, relative_files: Sequence[str], schema: pa.Schema, doc_ids: Sequence[str]) -> pa.Table:
        """The rows of ``doc_ids`` in the previous entry's files ``relative_files`` (one table's
        files of the shard; those that do not exist hold no rows), as ``schema`` without metadata."""
        schema = schema.remove_metadata()
        wanted = pa.array(sorted(doc_ids), pa.string())
        parts = []
        if self.folder is not None and len(wanted):
            for relative in relative_files:
                path = self.folder / relative
                if path.exists():
                    table = pq.read_table(path, filters=pc.is_in(pc.field("doc_id"), value_set=wanted))
                    parts.append(table.replace_schema_metadata(None).select(schema.names).cast(schema))
        return pa.concat_tables(parts) if parts else schema.empty_table()


def write_chunks(staging: str | Path, keys: Mapping[int, str], metas: Mapping[int, dict[str, Any]] | None = None) -> None:
    """Record in a shard's staged entry the key of each chunk it was built from (and its meta)."""
    metas = metas or {}
    data = {str(chunk): {"key": keys[chunk], **({"meta": metas[chunk]} if chunk in metas else {})} for chunk in sorted(keys)}
    atomic.write_text(Path(staging) / CHUNKS_FILE, json.dumps(data, ensure_ascii=False, sort_keys=True))


class LastEntries:
    """Which cache entry each shard of a stage was built into last (``part → key``), kept beside
    the cache for the main process: the job of a changed shard gets that entry to reuse chunks of.
    Only a hint: a missing or pruned entry means the shard is computed whole."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.keys: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            self.keys = {}

    def ref(self, part: str, cache: ShardCache) -> str:
        """What the job of shard ``part`` names the shard's last entry by (:meth:`ShardCache.ref`),
        or "" when there is none or the cache no longer holds it."""
        key = self.keys.get(part)
        return cache.ref(key) if key and cache.has(key) else ""

    def save(self, keys: Mapping[str, str]) -> None:
        self.keys = dict(sorted(keys.items()))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic.write_text(self.path, json.dumps(self.keys, indent=1, sort_keys=True) + "\n")
