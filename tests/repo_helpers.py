"""Helpers for tests that work on temporary copies of the repository (imported by name: it is
not called conftest so that the conftest files of test folders cannot shadow it)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
SKIPPED = ("tests/", "docs/", "benchmarks/", ".ci/")


def project_files() -> list[str]:
    """What a clone of the repository holds (tracked or new, not ignored), minus tests and docs."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    return [name for name in listed if not name.startswith(SKIPPED) and (REPO / name).is_file()]


def copy_repo(target: Path) -> Path:
    """A git + DVC working copy of the project in ``target`` (no outputs, no caches)."""
    target.mkdir(parents=True, exist_ok=True)
    for name in project_files():
        destination = target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, destination)
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.org"]
    subprocess.run(git + ["init", "-q"], cwd=target, check=True)
    subprocess.run(git + ["add", "-A"], cwd=target, check=True)
    subprocess.run(git + ["commit", "-qm", "copy"], cwd=target, check=True)
    return target


def tool_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["DVC_NO_ANALYTICS"] = "1"
    env["GX_ANALYTICS_ENABLED"] = "False"
    env.pop("PYTHONPATH", None)
    return env


def run(cmd: list[str], cwd: Path, check: bool = False, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(cmd, cwd=cwd, env=tool_env(), capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def tree_bytes(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` by relative path, for byte-identity checks."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
