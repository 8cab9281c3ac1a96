"""The worker pool keeps the order of its items."""

from __future__ import annotations

from pipeline.runtime.pool import parallel_map


def _square(value: int) -> int:
    return value * value


def test_parallel_map_keeps_order():
    assert list(parallel_map(_square, list(range(20)), 2)) == [v * v for v in range(20)]
