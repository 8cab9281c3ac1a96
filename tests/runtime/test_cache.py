"""The per-shard cache: a committed result is found by its key and linked into an output folder."""

from __future__ import annotations

from pathlib import Path

from pipeline.runtime.cache import ShardCache
from pipeline.runtime.fingerprint import digest


def test_cache_commit_and_link(tmp_path: Path):
    cache = ShardCache(tmp_path / "cache", "stage")
    key = digest("x", 1)
    assert not cache.has(key)
    staging = cache.staging(key)
    (staging / "t").mkdir()
    (staging / "t" / "part.parquet").write_bytes(b"data")
    cache.commit(key, staging)
    assert cache.has(key)
    linked = cache.link_into(key, tmp_path / "out")
    assert [p.relative_to(tmp_path / "out").as_posix() for p in linked] == ["t/part.parquet"]
    assert (tmp_path / "out" / "t" / "part.parquet").read_bytes() == b"data"
