"""Sharding, a content-addressed shard cache and a worker pool: how stages scale.

Documents are assigned to a fixed number of shards by a hash of their ``doc_id``, so adding a
document touches one shard and never moves the others. Each stage computes a shard's outputs from
that shard's inputs only; the result is stored under a key that hashes those inputs, the stage's
code and its params (``.cache/pipeline/<stage>/<key>/``, outside DVC's outputs, so DVC's habit of
deleting a stage's outputs before it runs costs nothing). An unchanged shard is relinked from the
cache instead of being recomputed. Output bytes depend only on the inputs, never on the number of
workers or on whether a shard came from the cache.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from importlib import metadata
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

PACKAGE = Path(__file__).resolve().parent
CACHE_MAX_AGE_DAYS = 14


def shard_of(doc_id: str, count: int) -> int:
    return int.from_bytes(hashlib.sha256(doc_id.encode("utf-8")).digest()[:8], "big") % count


def part_name(shard: int) -> str:
    return f"{shard:05d}"


def digest(*parts: Any) -> str:
    """sha256 over JSON-serialised parts (sorted keys): the cache key of a shard's inputs."""
    hasher = hashlib.sha256()
    for part in parts:
        hasher.update(json.dumps(part, sort_keys=True, ensure_ascii=False, default=str).encode("utf-8"))
        hasher.update(b"\x00")
    return hasher.hexdigest()


def code_fingerprint(modules: Sequence[str], packages: Sequence[str] = ("spacy", "pyarrow")) -> str:
    """Hash of the named modules' source and of the versions of the libraries (``packages``) whose
    behaviour shapes the output."""
    # Versions from the installed metadata: importing spaCy only to read its version costs seconds.
    sources = [(name, (PACKAGE / f"{name}.py").read_text(encoding="utf-8")) for name in sorted(modules)]
    return digest(sources, *(metadata.version(package) for package in packages))


class ShardCache:
    """``root/<stage>/<key>/`` holds one shard's files, written once, then only linked."""

    def __init__(self, root: Path, stage: str) -> None:
        self.dir = root / stage
        self.used: set[str] = set()

    def path(self, key: str) -> Path:
        return self.dir / key

    def has(self, key: str) -> bool:
        return (self.path(key) / ".complete").exists()

    def staging(self, key: str) -> Path:
        staging = self.dir / f".{key}.{os.getpid()}.tmp"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        return staging

    def commit(self, key: str, staging: Path) -> None:
        (staging / ".complete").write_text("")
        target = self.path(key)
        if target.exists():
            shutil.rmtree(staging)
            return
        os.replace(staging, target)

    def link_into(self, key: str, out_dir: Path) -> list[Path]:
        """Hard-link (or copy across devices) the shard's files into ``out_dir``; return them."""
        self.used.add(key)
        source = self.path(key)
        os.utime(source)
        linked = []
        for path in sorted(source.rglob("*")):
            if path.is_dir() or path.name == ".complete":
                continue
            target = out_dir / path.relative_to(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.exists():
                target.unlink()
            try:
                os.link(path, target)
            except OSError:
                shutil.copy2(path, target)
            linked.append(target)
        return linked

    def prune(self) -> None:
        """Drop entries not used for ``CACHE_MAX_AGE_DAYS`` days, and abandoned temporaries."""
        if not self.dir.exists():
            return
        limit = time.time() - CACHE_MAX_AGE_DAYS * 86400
        for entry in self.dir.iterdir():
            if entry.name.endswith(".tmp") or (entry.name not in self.used and entry.stat().st_mtime < limit):
                shutil.rmtree(entry, ignore_errors=True)


def parallel_map(function: Callable[[T], R], items: Sequence[T], workers: int) -> Iterator[R]:
    """``map`` over a process pool (order kept); in-process when one worker or one item."""
    if workers <= 1 or len(items) <= 1:
        yield from map(function, items)
        return
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("fork")) as pool:
        yield from pool.map(function, items, chunksize=1)


def clean_dir(path: Path) -> None:
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)


def workers_from(params: dict[str, Any]) -> int:
    configured = params.get("runtime", {}).get("workers", "auto")
    if configured in (None, "auto", 0):
        return max(1, min(os.cpu_count() or 1, 8))
    return int(configured)


def group(items: Iterable[T], key: Callable[[T], int]) -> dict[int, list[T]]:
    groups: dict[int, list[T]] = {}
    for item in items:
        groups.setdefault(key(item), []).append(item)
    return dict(sorted(groups.items()))
