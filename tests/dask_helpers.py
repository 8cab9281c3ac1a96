"""Helpers for tests on a Dask cluster (imported by name, like repo_helpers): a build during which
the worker running the first task is killed with ``kill -9``."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

from stage_helpers import build


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


def build_killing_a_worker(client: Any, params: dict[str, Any], marker: Path) -> None:
    """:func:`stage_helpers.build` on the cluster of ``client`` while the worker that runs the first
    task is killed (SIGKILL); if the build fails it must say why, and the next build must complete."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            build(params)
            outcome["completed"] = True
        except Exception as error:  # the run may fail: then clearly, and the next run completes
            outcome["error"] = error

    client.register_plugin(signal_first_task(marker), name="signal-first-task")
    worker = threading.Thread(target=run)
    try:
        worker.start()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not marker.exists() and worker.is_alive():
            time.sleep(0.02)
        assert marker.exists(), f"no task reached the cluster: {outcome}"
        victim = int(marker.read_text())
        os.kill(victim, signal.SIGKILL)
    finally:
        worker.join(timeout=600)
        client.unregister_worker_plugin("signal-first-task")
    assert not worker.is_alive()
    assert victim not in client.run(os.getpid).values(), "the worker that held a task was killed"
    if "error" in outcome:
        assert str(outcome["error"]), "a failed run says why"
        build(params)


def environment_plugin(env: dict[str, str]) -> Any:
    """A worker plugin that sets ``env`` in every worker process, also in one the nanny restarts
    after a kill (a worker started before the test has the environment of the session), and
    restores it on teardown. Defined inside a function for the reason given above."""
    from distributed.diagnostics.plugin import WorkerPlugin

    class Environment(WorkerPlugin):
        def __init__(self, env: dict[str, str]) -> None:
            self.env = env
            self.before: dict[str, str | None] = {}

        def setup(self, worker: Any) -> None:
            self.before = {name: os.environ.get(name) for name in self.env}
            os.environ.update(self.env)
            self.forget_filesystems()

        def teardown(self, worker: Any) -> None:
            for name, value in self.before.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
            self.forget_filesystems()

        @staticmethod
        def forget_filesystems() -> None:
            import fsspec

            fsspec.get_filesystem_class("s3").clear_instance_cache()

    return Environment(env)
