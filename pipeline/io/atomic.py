"""Atomic file writes and link-or-copy: a reader sees the old file or the new one, never a part.

Every write goes to a temporary file in the target's own folder (same file system, so the final
:func:`os.replace` is atomic), named ``.<name>.<pid>.<random>.tmp`` so that concurrent writers never
share one, and removed again when anything fails before the rename. ``fsync=True`` also flushes the
data to disk before the rename (for files that must survive a power cut, not only a killed process).
Temporary files are created with the usual permissions (``0o666`` less the umask), as ``open`` would.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path

TEMP_SUFFIX = ".tmp"


def temp_path(path: Path) -> Path:
    """A fresh name beside ``path`` for a temporary file or folder (nothing is created)."""
    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}{TEMP_SUFFIX}")


def _create_temp(path: Path) -> Path:
    """An empty temporary file beside ``path``, created exclusively (never one another writer owns)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        temp = temp_path(path)
        try:
            os.close(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        return temp


def fsync_file(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def fsync_dir(path: Path) -> None:
    """Flush a folder's entries (a rename into it) to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def writing(path: str | Path, *, fsync: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` to write to; on success it replaces ``path``, on any
    error it is removed and ``path`` is left as it was. Creates the parent folders."""
    path = Path(path)
    temp = _create_temp(path)
    try:
        yield temp
        if fsync:
            fsync_file(temp)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def write_bytes(path: str | Path, data: bytes, *, fsync: bool = False) -> None:
    with writing(path, fsync=fsync) as temp:
        temp.write_bytes(data)


def write_text(path: str | Path, text: str, *, fsync: bool = False) -> None:
    """``text`` as UTF-8, line endings as given (no translation)."""
    write_bytes(path, text.encode("utf-8"), fsync=fsync)


def write_all(outputs: Mapping[Path, bytes], *, fsync: bool = False) -> None:
    """Write several files, each atomically, none of them before all are staged: every file goes
    to its temporary first, then they are renamed in order. On an error before the renames no file
    has changed; every temporary is removed in any case."""
    staged: list[tuple[Path, Path]] = []
    try:
        for path, data in outputs.items():
            temp = _create_temp(Path(path))
            staged.append((temp, Path(path)))
            temp.write_bytes(data)
            if fsync:
                fsync_file(temp)
        for temp, path in staged:
            os.replace(temp, path)
    finally:
        for temp, _ in staged:
            temp.unlink(missing_ok=True)


def link_or_copy(source: Path, target: Path) -> None:
    """Make ``target`` a hard link to ``source`` (a copy across file systems or where links fail),
    replacing any existing ``target`` atomically. Only for files never modified in place once
    written: a hard link shares their bytes. Creates the parent folders."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = temp_path(target)
    try:
        try:
            os.link(source, temp)
        except OSError:
            shutil.copy2(source, temp)
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
