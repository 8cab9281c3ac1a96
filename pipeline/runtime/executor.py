"""The one executor every stage's shard work goes through: ``runtime.executor`` picks the local
process pool (:mod:`pipeline.runtime.pool`) or a Dask cluster (``distributed``).

Either way results come back in the order of the items, and a shard's result depends on its job
only, so the outputs are the same bytes wherever the work ran. On Dask the jobs and results travel
by pickle; what a job writes goes to the staging place it names in ``runtime.cache_dir``: a
folder every worker sees, or on an fsspec URL (``s3://…``) a local temporary folder the worker
uploads from before its result goes back (the stage's function wrapped by
:meth:`pipeline.runtime.cache.ShardCache.task`). The repository itself must be on a shared file
system mounted at the same path (a worker runs a task in the stage's working folder and reads the
stage's inputs there; one thread per worker). A task whose worker dies is run again by the
scheduler on another worker (its staging place is written afresh; nothing is committed to the
cache before the result is back: the main process renames the folder, or writes the URL entry's
marker, last); when Dask gives up, the stage fails with the error and the next run starts from
what the cache holds.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from pipeline.runtime.pool import parallel_map

T = TypeVar("T")
R = TypeVar("R")

log = logging.getLogger(__name__)


def shard_map(function: Callable[[T], R], items: Sequence[T], runtime: Any, *, forked_state: bool = False) -> Iterator[R]:
    """``map(function, items)`` on the configured executor, in order.

    ``forked_state``: ``function`` reads state the calling process prepared for forked workers
    (validate's GX context and prepared frames), which a remote worker does not have: it runs on
    the local pool whatever the executor.
    """
    if runtime.executor != "dask" or not items:
        yield from parallel_map(function, items, runtime.worker_count())
        return
    if forked_state:
        log.info("%s: runs on the local pool (it shares state with forked workers)", getattr(function, "__qualname__", function))
        yield from parallel_map(function, items, runtime.worker_count())
        return
    yield from dask_map(function, items, runtime.scheduler_address())


class InFolder:
    """``function`` run in the folder the stage runs in: jobs name their files relative to the
    repository (params.yaml paths), and a Dask worker starts wherever its process started."""

    def __init__(self, function: Callable[[Any], Any], folder: str) -> None:
        self.function, self.folder = function, folder

    def __call__(self, item: Any) -> Any:
        if os.getcwd() != self.folder:
            os.chdir(self.folder)
        return self.function(item)


def dask_map(function: Callable[[T], R], items: Sequence[T], address: str) -> Iterator[R]:
    """``map`` on the Dask scheduler at ``address`` (one task per item, results in order)."""
    from distributed import Client

    name = getattr(function, "__name__", "task")
    task = InFolder(function, os.getcwd())
    run = uuid.uuid4().hex[:12]
    with Client(address, set_as_default=False, timeout="30s") as client:
        futures = client.map(task, list(items), pure=False, key=[f"{name}-{run}-{i}" for i in range(len(items))])
        try:
            for future in futures:
                yield future.result()
        finally:
            client.cancel(futures)
