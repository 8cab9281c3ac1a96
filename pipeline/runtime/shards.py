"""Which shard a document belongs to: sha256(doc_id) mod the shard count; and which chunk of it.

Adding a document touches one shard and never moves the others; every stage computes a shard's
outputs from that shard's inputs only, so output bytes never depend on the number of workers.
A shard's documents fall further into ``runtime.chunks`` chunks by the same hash (the quotient):
the unit a stage's cache recomputes (:mod:`pipeline.runtime.chunks`), invisible in the outputs.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def _hash(doc_id: str) -> int:
    return int.from_bytes(hashlib.sha256(doc_id.encode("utf-8")).digest()[:8], "big")


def shard_of(doc_id: str, count: int) -> int:
    return _hash(doc_id) % count


def chunk_of(doc_id: str, shards: int, chunks: int) -> int:
    """The chunk of ``doc_id`` within its shard (of ``shards``): independent of the shard index,
    so a shard's documents spread evenly over its ``chunks`` chunks."""
    return (_hash(doc_id) // shards) % chunks


def part_name(shard: int) -> str:
    return f"{shard:05d}"


def group(items: Iterable[T], key: Callable[[T], int]) -> dict[int, list[T]]:
    groups: dict[int, list[T]] = {}
    for item in items:
        groups.setdefault(key(item), []).append(item)
    return dict(sorted(groups.items()))


def clean_dir(path: Path) -> None:
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
