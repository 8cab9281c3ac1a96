"""Publishing is atomic: a run killed at any moment leaves the previous dataset intact."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from repo_helpers import run, tool_env, tree_bytes

from pipeline.stages.publish import old_dir, recover, staging_dir, swap_in

CHECKPOINTS = ["wrote:1", "wrote:5", "before-swap", "mid-swap"]


@pytest.fixture(scope="module")
def changed_base(built_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A built copy whose next publish has something new to write (a changed version)."""
    repo = tmp_path_factory.mktemp("changed") / "repo"
    shutil.copytree(built_repo, repo, symlinks=True)
    params = repo / "params.yaml"
    params.write_text(params.read_text().replace("version: 0.1.0", "version: 0.2.0"))
    for stage in ("ingest", "annotate", "validate"):
        result = run([sys.executable, "-m", "pipeline", stage], repo)
        assert result.returncode == 0, result.stderr
    return repo


def changed_copy(changed_base: Path, tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    shutil.copytree(changed_base, repo, symlinks=True)
    return repo


def readable(published: Path) -> str:
    manifest = json.loads((published / "manifest.json").read_text())
    for relative in manifest["files"]:
        pd.read_parquet(published / relative)
    return manifest["version"]


@pytest.mark.parametrize("checkpoint", CHECKPOINTS)
def test_kill_during_publish_keeps_the_previous_dataset_and_the_rerun_recovers(checkpoint: str, changed_base: Path, tmp_path: Path):
    repo = changed_copy(changed_base, tmp_path)
    published = repo / "corpus" / "published"
    before = tree_bytes(published)

    env = tool_env() | {"PIPELINE_PUBLISH_KILL_AT": checkpoint}
    killed = subprocess.run([sys.executable, "-m", "pipeline", "publish"], cwd=repo, env=env, capture_output=True, text=True)

    assert killed.returncode == -signal.SIGKILL
    if checkpoint == "mid-swap":
        # The only moment the old dataset is not at its place: it waits under .published.old.
        assert not published.exists() and old_dir(published).exists()
        recover(published)
    assert tree_bytes(published) == before
    assert readable(published) == "0.1.0"

    rerun = run([sys.executable, "-m", "pipeline", "publish"], repo)
    assert rerun.returncode == 0, rerun.stderr
    assert readable(published) == "0.2.0"
    assert not staging_dir(published).exists() and not old_dir(published).exists()


def test_kill_9_from_outside_at_any_moment_leaves_a_readable_dataset(changed_base: Path, tmp_path: Path):
    repo = changed_copy(changed_base, tmp_path)
    published = repo / "corpus" / "published"
    for delay in (0.3, 0.8, 1.2, 1.6, 2.0):
        process = subprocess.Popen(
            [sys.executable, "-m", "pipeline", "publish"], cwd=repo, env=tool_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait()
        recover(published)
        assert readable(published) in {"0.1.0", "0.2.0"}
    rerun = run([sys.executable, "-m", "pipeline", "publish"], repo)
    assert rerun.returncode == 0, rerun.stderr
    assert readable(published) == "0.2.0"


def test_swap_replaces_the_folder_and_leaves_no_debris(tmp_path: Path):
    published = tmp_path / "published"
    published.mkdir()
    (published / "a").write_text("old")
    staging = staging_dir(published)
    staging.mkdir()
    (staging / "a").write_text("new")
    swap_in(staging, published)
    assert (published / "a").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["published"]


def test_recover_restores_a_half_swapped_dataset_and_drops_stale_staging(tmp_path: Path):
    published = tmp_path / "published"
    old = old_dir(published)
    old.mkdir()
    (old / "a").write_text("old")
    staging_dir(published).mkdir()
    recover(published)
    assert (published / "a").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["published"]
