"""The worker pool every stage's shard work runs on (order kept, in-process for one worker); how
many workers is ``runtime.workers`` (:meth:`pipeline.config.RuntimeConfig.worker_count`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def parallel_map(function: Callable[[T], R], items: Sequence[T], workers: int) -> Iterator[R]:
    """``map`` over a process pool (order kept); in-process when one worker or one item."""
    if workers <= 1 or len(items) <= 1:
        yield from map(function, items)
        return
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("fork")) as pool:
        yield from pool.map(function, items, chunksize=1)
