"""The Dask executor: the same published bytes as the local pool, and a worker killed mid-run
(kill -9) neither corrupts the output nor the cache (a real ``distributed.LocalCluster``, 2 worker
processes)."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from repo_helpers import tree_bytes
from stage_helpers import build, corpus, params_for, params_on

from pipeline.config import parse_config


def signal_first_task(marker: Path) -> Any:
    """A worker plugin that, when the first task starts executing on a worker, writes that worker's pid
    to ``marker`` and holds the task for a moment, so the test kills a worker that is mid-task instead of
    polling the scheduler and racing tasks that finish in milliseconds. Defined inside a function so
    cloudpickle ships the class by value: the worker processes cannot import the test module."""
    from distributed.diagnostics.plugin import WorkerPlugin

    class SignalFirstTask(WorkerPlugin):
        def __init__(self, marker: str) -> None:
            self.marker = marker
            self.held = False

        def transition(self, key: Any, start: str, finish: str, **kwargs: Any) -> None:
            if finish != "executing" or self.held:
                return
            self.held = True
            if os.path.exists(self.marker):
                return
            partial = f"{self.marker}.{os.getpid()}"
            with open(partial, "w") as handle:
                handle.write(str(os.getpid()))
            os.replace(partial, self.marker)
            time.sleep(2)

    return SignalFirstTask(str(marker))


def test_dask_publishes_the_bytes_of_the_local_pool(tmp_path: Path, cluster):
    address, _ = cluster
    results = []
    for name, where in (("local", None), ("dask", address)):
        root = tmp_path / name
        corpus(root, 40)
        build(params_on(root, tmp_path / f"cache-{name}", where))
        results.append((tree_bytes(root / "published"), tree_bytes(root / "pre")))
    assert results[0] == results[1]
    assert len([name for name in results[0][0] if name.startswith("tokens/")]) > 1


def test_a_worker_killed_mid_run_completes_identically_or_fails_and_the_next_run_completes(tmp_path: Path, cluster):
    address, client = cluster
    reference = tmp_path / "reference"
    corpus(reference, 120)
    build(params_on(reference, tmp_path / "cache-reference", None))

    root = tmp_path / "killed"
    corpus(root, 120)
    params = params_on(root, tmp_path / "cache-killed", address)
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            build(params)
            outcome["completed"] = True
        except Exception as error:  # the run may fail: then clearly, and the next run completes
            outcome["error"] = error

    started = tmp_path / "first-task-pid"
    client.register_plugin(signal_first_task(started), name="signal-first-task")
    worker = threading.Thread(target=run)
    try:
        worker.start()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not started.exists() and worker.is_alive():
            time.sleep(0.02)
        assert started.exists(), f"no task reached the cluster: {outcome}"
        victim = int(started.read_text())
        os.kill(victim, signal.SIGKILL)
    finally:
        worker.join(timeout=600)
        client.unregister_worker_plugin("signal-first-task")
    assert not worker.is_alive()
    assert victim not in client.run(os.getpid).values(), "the worker that held a task was killed"
    if "error" in outcome:
        assert str(outcome["error"]), "a failed run says why"
        build(params)
    assert tree_bytes(root / "published") == tree_bytes(reference / "published")
    assert tree_bytes(root / "pre") == tree_bytes(reference / "pre")


def test_the_scheduler_comes_from_the_environment_when_params_name_none(monkeypatch: pytest.MonkeyPatch):
    params = params_for(Path("/nowhere"), None)
    params["runtime"].update(executor="dask")
    runtime = parse_config(params).runtime
    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)
    with pytest.raises(ValueError, match=r"neither runtime\.dask_scheduler nor DASK_SCHEDULER_ADDRESS"):
        runtime.scheduler_address()
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", "tcp://127.0.0.1:8786")
    assert runtime.scheduler_address() == "tcp://127.0.0.1:8786"
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", "localhost")
    with pytest.raises(ValueError, match=r"DASK_SCHEDULER_ADDRESS.*'localhost'"):
        runtime.scheduler_address()
