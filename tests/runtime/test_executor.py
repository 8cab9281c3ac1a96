"""The Dask executor: the same published bytes as the local pool, and a worker killed mid-run
(kill -9) neither corrupts the output nor the cache (a real ``distributed.LocalCluster``, 2 worker
processes)."""

from __future__ import annotations

from pathlib import Path

import pytest
from dask_helpers import build_killing_a_worker
from repo_helpers import tree_bytes
from stage_helpers import build, corpus, params_for, params_on

from pipeline.config import parse_config


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
    build_killing_a_worker(client, params, tmp_path / "first-task-pid")
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
