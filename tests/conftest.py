"""Shared fixtures: temporary copies of the repository on which the pipeline ran."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from repo_helpers import copy_repo, run


@pytest.fixture(scope="session")
def built_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the repository on which `dvc repro` has run once (read-only for tests)."""
    repo = copy_repo(tmp_path_factory.mktemp("built") / "repo")
    run(["dvc", "repro"], repo, check=True)
    return repo


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    return copy_repo(tmp_path / "repo")


@pytest.fixture(scope="session")
def published(built_repo: Path) -> Path:
    return built_repo / "corpus" / "published"


@pytest.fixture(scope="session")
def cluster():
    """A real ``distributed.LocalCluster`` (2 worker processes, one thread each) and a client of it:
    (scheduler address, client)."""
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as local, Client(local) as client:
        yield local.scheduler_address, client
