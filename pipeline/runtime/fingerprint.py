"""Content keys: :func:`digest` of JSON parts, and the fingerprint of a stage's code and libraries."""

from __future__ import annotations

import ast
import hashlib
import json
from collections.abc import Sequence
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGE = Path(__file__).resolve().parent.parent


def digest(*parts: Any) -> str:
    """sha256 over JSON-serialised parts (sorted keys): the cache key of a shard's inputs."""
    hasher = hashlib.sha256()
    for part in parts:
        hasher.update(json.dumps(part, sort_keys=True, ensure_ascii=False, default=str).encode("utf-8"))
        hasher.update(b"\x00")
    return hasher.hexdigest()


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes, read in 1 MiB chunks (the manifest's per-file hash, input keys)."""
    hasher = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            hasher.update(chunk)
    return hasher.hexdigest()


def imported_modules(path: Path) -> set[str]:
    """The ``pipeline`` modules that the source at ``path`` imports anywhere (also inside functions)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.split(".")[0] == "pipeline")
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and node.module.split(".")[0] == "pipeline":
            found.add(node.module)
            # ``from pipeline.io import tables`` imports the module ``pipeline.io.tables``
            found.update(f"{node.module}.{alias.name}" for alias in node.names if module_file(f"{node.module}.{alias.name}") is not None)
    return found


def module_file(module: str) -> Path | None:
    """The source file of a ``pipeline`` module (a package's ``__init__.py``), or None."""
    parts = module.split(".")[1:]
    candidate = PACKAGE.joinpath(*parts)
    if candidate.with_suffix(".py").is_file():
        return candidate.with_suffix(".py")
    if (candidate / "__init__.py").is_file():
        return candidate / "__init__.py"
    return None


@cache
def module_closure(module: str) -> tuple[str, ...]:
    """Every ``pipeline`` module that importing ``module`` can execute: its imports, theirs, and
    the ``__init__`` of every package on the way, sorted. The one source of a stage's code
    dependencies: ``dvc.yaml`` declares exactly these files (a test checks) and the shard cache
    keys hash exactly them."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        if name in seen or module_file(name) is None:
            continue
        seen.add(name)
        parts = name.split(".")
        todo.extend(".".join(parts[:i]) for i in range(1, len(parts)))
        todo.extend(imported_modules(module_file(name)))
    return tuple(sorted(seen))


def code_files(module: str) -> list[str]:
    """The files of :func:`module_closure` relative to the project root (``pipeline/...``)."""
    root = PACKAGE.parent
    return sorted(str(module_file(name).relative_to(root)) for name in module_closure(module))


def code_fingerprint(module: str, packages: Sequence[str] = ("spacy", "pyarrow")) -> str:
    """Hash of the source of every module ``module`` imports from the package (:func:`module_closure`)
    and of the versions of the libraries (``packages``) whose behaviour shapes the output."""
    return _fingerprint(tuple((name, module_file(name)) for name in module_closure(module)), tuple(packages))


@cache
def _fingerprint(files: tuple[tuple[str, Path], ...], packages: tuple[str, ...]) -> str:
    """:func:`code_fingerprint` of these module files, computed once per process (a stage keys many
    entries with it; the files do not change while it runs)."""
    # Versions from the installed metadata: importing spaCy only to read its version costs seconds.
    sources = [(name, path.read_text(encoding="utf-8")) for name, path in files]
    return digest(sources, *(metadata.version(package) for package in packages))


def stage_code_files(stage: str) -> list[str]:
    """The files ``python -m pipeline.stages <stage>`` executes from the package: what ``dvc.yaml``
    must declare as the stage's code dependencies."""
    return sorted(set(code_files("pipeline.stages.__main__")) | set(code_files(f"pipeline.stages.{stage}")))
