"""Which shard a document belongs to: sha256(doc_id) mod the shard count.

Adding a document touches one shard and never moves the others; every stage computes a shard's
outputs from that shard's inputs only, so output bytes never depend on the number of workers.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def shard_of(doc_id: str, count: int) -> int:
    return int.from_bytes(hashlib.sha256(doc_id.encode("utf-8")).digest()[:8], "big") % count


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
