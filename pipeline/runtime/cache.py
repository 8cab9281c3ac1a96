"""A content-addressed cache of per-shard results: ``<cache_dir>/<stage>/<key>/``.

Each stage stores a shard's outputs under a key that hashes the shard's inputs, the stage's code
and its params, outside DVC's outputs (so DVC's habit of deleting a stage's outputs before it runs
costs nothing). An unchanged shard is relinked from the cache instead of being recomputed.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from pipeline.io import atomic

CACHE_MAX_AGE_DAYS = 14


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
        """A fresh folder to write the entry for ``key`` in; :meth:`commit` renames it into place."""
        staging = atomic.temp_path(self.path(key))
        staging.mkdir(parents=True)
        return staging

    def commit(self, key: str, staging: Path) -> None:
        """Make the staged folder the entry for ``key`` by one rename (unless another run was first)."""
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
            atomic.link_or_copy(path, target)
            linked.append(target)
        return linked

    def prune(self) -> None:
        """Drop entries not used for ``CACHE_MAX_AGE_DAYS`` days, and abandoned temporaries."""
        if not self.dir.exists():
            return
        limit = time.time() - CACHE_MAX_AGE_DAYS * 86400
        for entry in self.dir.iterdir():
            if entry.name.endswith(atomic.TEMP_SUFFIX) or (entry.name not in self.used and entry.stat().st_mtime < limit):
                shutil.rmtree(entry, ignore_errors=True)
