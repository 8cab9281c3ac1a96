"""A memo on disk: values computed before, by a key, valid only for the same salt.

Stored as one JSON file under the pipeline's cache directory, valid only while ``salt`` (a hash of
the code and settings that compute the values) is the same, and rewritten with just the entries
used in the last run, so it does not grow with history. Losing it costs a recomputation, never a
wrong value: a missing, unreadable or foreign file is an empty memo.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pipeline.io import atomic


class Memo:
    """``get(key)`` what ``put(key, value)`` stored in this run or a run before (same salt)."""

    def __init__(self, path: Path, salt: str) -> None:
        self.path, self.key = path, salt
        self.known: dict[str, Any] = {}
        self.seen: dict[str, Any] = {}
        if path.exists():
            try:
                stored = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                stored = {}
            if isinstance(stored, dict) and stored.get("key") == salt:
                self.known = stored.get("lines", {})

    def get(self, key: str) -> Any:
        value = self.known.get(key)
        if value is not None:
            self.seen[key] = value
        return value

    def retain(self, keys: Any) -> None:
        """Keep the known entries of ``keys`` as used in this run, without looking them up."""
        for key in keys:
            if key in self.known:
                self.seen[key] = self.known[key]

    def put(self, key: str, value: Any) -> None:
        self.seen[key] = value

    def save(self) -> None:
        """Rewrite the memo with the entries this run used, unless that would store what it holds
        already (:meth:`worth_rewriting`) or this run used none (its input came whole from
        elsewhere, e.g. :class:`~pipeline.io.jsonl.FileIndexes`)."""
        if self.path.exists() and (not self.seen or not self.worth_rewriting()):
            return
        atomic.write_text(self.path, json.dumps({"key": self.key, "lines": self.seen}, sort_keys=True))

    def worth_rewriting(self) -> bool:
        return self.seen != self.known


def file_identity(path: Path) -> str:
    """A file's identity as git's index and DVC's state take it (device, inode, size, mtime in
    ns): the key under which facts about a file that is never modified in place are remembered."""
    stat = os.stat(path)
    return f"{stat.st_dev}:{stat.st_ino}:{stat.st_size}:{stat.st_mtime_ns}"
