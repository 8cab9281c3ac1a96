"""The worker pool every stage's shard work runs on (order kept, in-process for one worker)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def parallel_map(function: Callable[[T], R], items: Sequence[T], workers: int) -> Iterator[R]:
    """``map`` over a process pool (order kept); in-process when one worker or one item."""
    if workers <= 1 or len(items) <= 1:
        yield from map(function, items)
        return
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("fork")) as pool:
        yield from pool.map(function, items, chunksize=1)


def workers_from(params: dict[str, Any]) -> int:
    configured = params.get("runtime", {}).get("workers", "auto")
    if configured in (None, "auto", 0):
        return max(1, min(os.cpu_count() or 1, 8))
    return int(configured)
