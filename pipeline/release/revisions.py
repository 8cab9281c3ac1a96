"""What ``diff`` and ``release`` compare: a published folder for a version, a git revision or a path.

A spec is, in this order: a folder holding ``manifest.json`` (used as it is); a version
(``0.1.0``, ``v0.1.0``) or a GTO tag (``<dataset_name>@v0.1.0``), meaning that release's tag; or
any git revision (``HEAD~1``, a branch, a commit). A tag or revision is materialised into a
temporary folder from DVC (its local cache, else the remote) with :class:`dvc.fs.DVCFileSystem`,
exactly the files ``dvc get`` would give. Git is run as a process (``git``); nothing here writes
to the repository.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

VERSION = re.compile(r"v?(\d+\.\d+\.\d+)")


class RevisionError(RuntimeError):
    """A spec names no folder, version or revision, or its data cannot be fetched."""


def tag_name(dataset_name: str, version: str) -> str:
    """The GTO tag of a version: ``<dataset_name>@v<version>``."""
    return f"{dataset_name}@v{version}"


def git(root: Path, *args: str, check: bool = True) -> str:
    """Run ``git`` in ``root``; its stdout (stripped). A failure names the command and git's message."""
    result = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise RevisionError(f"git {' '.join(args)} failed in {root}: {result.stderr.strip() or result.stdout.strip()}")
    return result.stdout.strip()


def commit_of(root: Path, rev: str) -> str | None:
    """The commit ``rev`` names, or ``None`` if it names none."""
    found = git(root, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}", check=False)
    return found or None


def resolve(spec: str, root: Path, dataset_name: str) -> tuple[str, Path | None]:
    """``(git revision, None)`` for a version, tag or revision; ``(spec, folder)`` for a folder."""
    folder = Path(spec)
    if (folder / "manifest.json").is_file():
        return spec, folder
    match = VERSION.fullmatch(spec)
    rev = tag_name(dataset_name, match.group(1)) if match else spec
    if commit_of(root, rev) is None:
        if folder.exists():
            raise RevisionError(f"{spec}: a folder without manifest.json, not a published dataset")
        raise RevisionError(f"{spec}: no published folder, release tag ({rev}) or git revision of that name in {root}")
    return rev, None


def materialise(root: Path, rev: str, published: str, target: Path) -> Path:
    """The published folder ``published`` (repository-relative) as of ``rev``, in ``target``."""
    from dvc.fs import DVCFileSystem

    try:
        fs = DVCFileSystem(url=str(root), rev=rev)
        fs.get(published, str(target), recursive=True)
    except Exception as error:  # DVC raises many kinds; name the revision and the cause
        raise RevisionError(f"{rev}: cannot fetch {published} ({type(error).__name__}: {error})") from error
    if not (target / "manifest.json").is_file():
        raise RevisionError(f"{rev}: {published} as of that revision holds no manifest.json")
    return target
