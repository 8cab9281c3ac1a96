"""A content-addressed cache of per-shard results: ``<cache_dir>/<stage>/<key>/``.

Each stage stores a shard's outputs under a key that hashes the shard's inputs, the stage's code
and its params, outside DVC's outputs (so DVC's habit of deleting a stage's outputs before it runs
costs nothing). An unchanged shard is relinked from the cache instead of being recomputed.

``runtime.cache_dir`` is a local folder (:class:`ShardCache`: an entry is committed by renaming
its staged folder into place, and hard-linked into the stage's output) or any fsspec URL such as
``s3://bucket/prefix`` (:class:`RemoteShardCache`), so that the workers of a cluster and other
machines share one cache. Object stores have no rename, so on a URL:

- a job's staging folder is a reference (``staging(key)``); :meth:`ShardCache.task` wraps the
  job's function so that the worker writes into a local temporary folder and uploads its files to
  ``<url>/<stage>/<key>/`` before its result goes back;
- the main process writes the ``.complete`` marker last, once the result is back (:meth:`commit`):
  the marker is the commit, ``has`` asks for it. A worker killed mid-upload leaves files without
  a marker, which no run reads; the next run recomputes the shard and overwrites them;
- what the main process reads (``path``, ``link_into``) is downloaded once into a local mirror,
  a local :class:`ShardCache` under ``runtime.local_cache_dir()`` (same layout), and linked from
  there; an entry a job reads (``ref``) is downloaded by the worker.

The keys and bytes are the same whichever store holds them. Credentials and an S3-compatible
endpoint come from the environment only (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
``AWS_ENDPOINT_URL``, which botocore honours, or fsspec's own configuration); nothing here logs them.
The module is over 400 lines because the local and the URL cache are one interface whose commit,
mirror and pruning rules must agree.
"""

from __future__ import annotations

import atexit
import dataclasses
import filecmp
import os
import shutil
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pipeline.io import atomic
from pipeline.runtime.processes import running

CACHE_MAX_AGE_DAYS = 14
# A marker older than this is rewritten when its entry is used (so that pruning by marker age on
# an object store, which cannot touch a file, keeps what is in use); marker-less leftovers of
# this age are dropped.
REFRESH_SECONDS = 86400
MARKER = ".complete"
# An entry's record of the chunks it was built from (:mod:`pipeline.runtime.chunks`): read by the
# next job of its shard, never linked into a stage's output.
CHUNKS_FILE = "chunks.json"
# What a job's field holds instead of a local folder on a URL cache (:class:`StoreTask`).
STAGING_REF = "cache-staging+"
ENTRY_REF = "cache-entry+"


def is_url(root: str | Path) -> bool:
    """Whether ``runtime.cache_dir`` names an fsspec URL rather than a local folder (the config
    checked it: a folder is a Path, a URL stays text)."""
    return isinstance(root, str) and "://" in root


class ShardCache:
    """``root/<stage>/<key>/`` holds one shard's files, written once, then only linked.

    ``ShardCache(url, stage, mirror)`` with an fsspec URL gives a :class:`RemoteShardCache`
    (the same methods); ``mirror`` is the local folder it downloads into.
    """

    def __new__(cls, root: Path | str, stage: str, mirror: Path | None = None) -> ShardCache:
        if cls is ShardCache and is_url(root):
            cls = RemoteShardCache
        return super().__new__(cls)

    def __init__(self, root: Path | str, stage: str, mirror: Path | None = None) -> None:
        self.dir = Path(root) / stage
        self.used: set[str] = set()

    def path(self, key: str) -> Path:
        """The local folder of a committed entry (the main process reads it)."""
        return self.dir / key

    def ref(self, key: str) -> str:
        """What a job names a committed entry by, to read it in the worker (a local folder here)."""
        return str(self.path(key))

    def has(self, key: str) -> bool:
        return (self.path(key) / MARKER).exists()

    def staging(self, key: str) -> Path:
        """A fresh folder to write the entry for ``key`` in; :meth:`commit` renames it into place."""
        staging = atomic.temp_path(self.path(key))
        staging.mkdir(parents=True)
        return staging

    def task(self, function: Callable[[Any], Any]) -> Callable[[Any], Any]:
        """``function`` as a worker runs it for this cache (here: itself; the staging folder the
        job names is a local folder every worker sees)."""
        return function

    def commit(self, key: str, staging: Path | str) -> None:
        """Make the staged folder the entry for ``key`` by one rename (unless another run was first)."""
        staging = Path(staging)
        (staging / MARKER).write_text("")
        target = self.path(key)
        if target.exists():
            shutil.rmtree(staging)
            return
        os.replace(staging, target)

    def put(self, key: str, files: Mapping[str, bytes]) -> None:
        """Store an entry the main process made: ``files`` (relative name → bytes), committed."""
        staging = self.staging(key)
        for name, data in files.items():
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            (staging / name).write_bytes(data)
        self.commit(key, staging)

    def link_into(self, key: str, out_dir: Path) -> list[Path]:
        """Hard-link (or copy across devices) the shard's files into ``out_dir``; return them."""
        self.used.add(key)
        source = self.path(key)
        os.utime(source)
        linked = []
        for path in sorted(source.rglob("*")):
            if path.is_dir() or path.name in (MARKER, CHUNKS_FILE):
                continue
            target = out_dir / path.relative_to(source)
            atomic.link_or_copy(path, target)
            linked.append(target)
        return linked

    def prune(self) -> None:
        """Drop entries not used for ``CACHE_MAX_AGE_DAYS`` days, and abandoned temporaries."""
        if not self.dir.exists():
            return
        limit = time.time() - CACHE_MAX_AGE_DAYS * 86400
        for entry in self.dir.iterdir():
            if entry.name.endswith(atomic.TEMP_SUFFIX) or (entry.name not in self.used and entry.stat().st_mtime < limit):
                if entry.is_dir():
                    shutil.rmtree(entry, ignore_errors=True)
                else:  # a file of an older layout
                    entry.unlink(missing_ok=True)


def link_identical(staging: Path, folder: Path) -> int:
    """Make each file of a staged entry that has a namesake in ``folder`` (the same relative path)
    with the same bytes a hard link of that file; how many were. Outputs do not change, only which
    inode holds them: a stage whose cache was rebuilt (a code change, an emptied ``.cache``) keeps
    the inodes of the published files, which DVC knows as its cache objects, so DVC does not hash
    the whole dataset again after every publish (it relinks a published file to its cache object,
    and would see a new inode each time). Files on another device stay as they are."""
    linked = 0
    for path in sorted(staging.rglob("*")):
        if path.is_dir() or path.is_symlink() or path.name in (MARKER, CHUNKS_FILE):
            continue
        other = folder / path.relative_to(staging)
        try:
            if not other.is_file() or os.path.samefile(other, path) or not filecmp.cmp(path, other, shallow=False):
                continue
            temp = atomic.temp_path(path)
            os.link(other, temp)
        except OSError:  # unreadable, vanished, or another device: the staged file stays
            continue
        os.replace(temp, path)
        linked += 1
    return linked


def _filesystem(url: str) -> tuple[Any, str]:
    """The fsspec file system of ``url`` and the path in it (listings never cached on S3: other
    processes write the same store; elsewhere each look-up drops the cached listing first)."""
    import fsspec

    protocol = url.split("://", 1)[0]
    options = {"use_listings_cache": False} if protocol in ("s3", "s3a") else {}
    fs, path = fsspec.core.url_to_fs(url, **options)
    return fs, path.rstrip("/")


def _mtime(fs: Any, info: Mapping[str, Any]) -> float | None:
    """A listed file's modification time (seconds), or None when the store does not say."""
    if isinstance(info.get("mtime"), (int, float)):
        return float(info["mtime"])
    for name in ("LastModified", "last_modified", "updated", "mtime"):
        value = info.get(name)
        if hasattr(value, "timestamp"):
            return float(value.timestamp())
    try:
        return float(fs.modified(info["name"]).timestamp())
    except (NotImplementedError, OSError, KeyError, ValueError):
        return None


def _upload(fs: Any, local: Path, path: str) -> None:
    """Every file under ``local`` but a marker to ``path/<relative name>`` (overwriting what is there)."""
    sources = sorted(p for p in local.rglob("*") if p.is_file() and p.name != MARKER)
    targets = [f"{path}/{p.relative_to(local).as_posix()}" for p in sources]
    if not sources:
        return
    if "file" in _protocols(fs):
        for parent in sorted({target.rsplit("/", 1)[0] for target in targets}):
            fs.makedirs(parent, exist_ok=True)
    fs.put([str(p) for p in sources], targets)


def _download(fs: Any, path: str, local: Path) -> None:
    """Every file of entry ``path`` but its marker into the existing folder ``local``."""
    fs.invalidate_cache(path)
    names = sorted(name for name in fs.find(path, detail=False) if not name.endswith(f"/{MARKER}"))
    targets = [local / name[len(path) + 1 :] for name in names]
    for parent in sorted({target.parent for target in targets}):
        parent.mkdir(parents=True, exist_ok=True)
    if names:
        fs.get(names, [str(target) for target in targets])


def _protocols(fs: Any) -> tuple[str, ...]:
    return (fs.protocol,) if isinstance(fs.protocol, str) else tuple(fs.protocol)


class RemoteShardCache(ShardCache):
    """The cache at an fsspec URL: ``<url>/<stage>/<key>/`` with its ``.complete`` marker
    written last; a local mirror (a :class:`ShardCache`) of the entries the main process read."""

    def __init__(self, root: Path | str, stage: str, mirror: Path | None = None) -> None:
        self.url = f"{str(root).rstrip('/')}/{stage}"
        self.fs, self.root = _filesystem(self.url)
        self.mirror = ShardCache(mirror if mirror is not None else Path(".cache/pipeline"), stage)
        self.used = self.mirror.used
        self.marked: dict[str, float | None] = {}

    def _entry(self, key: str) -> str:
        return f"{self.root}/{key}"

    def has(self, key: str) -> bool:
        self.fs.invalidate_cache(self._entry(key))
        try:
            info = self.fs.info(f"{self._entry(key)}/{MARKER}")
        except FileNotFoundError:
            return False
        self.marked[key] = _mtime(self.fs, info)
        return True

    def path(self, key: str) -> Path:
        """The mirror's copy of the entry, downloaded unless the mirror holds it."""
        if not self.mirror.has(key):
            staging = self.mirror.staging(key)
            try:
                _download(self.fs, self._entry(key), staging)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
            self.mirror.commit(key, staging)
        return self.mirror.path(key)

    def ref(self, key: str) -> str:
        return f"{ENTRY_REF}{self.url}/{key}"

    def staging(self, key: str) -> str:  # type: ignore[override]
        """A reference to the entry's place in the store: the worker that gets it in its job
        writes into a local folder and uploads (:class:`StoreTask`); nothing is created here."""
        return f"{STAGING_REF}{self.url}/{key}"

    def task(self, function: Callable[[Any], Any]) -> Callable[[Any], Any]:
        return StoreTask(function)

    def commit(self, key: str, staging: Path | str) -> None:
        """The marker, written last: the files are in the store (the job's result is back)."""
        self.fs.pipe_file(f"{self._entry(key)}/{MARKER}", f"{time.time():.0f}\n".encode())
        self.marked[key] = time.time()

    def put(self, key: str, files: Mapping[str, bytes]) -> None:
        """Upload ``files`` as the entry for ``key``, marker last; the mirror gets them too."""
        self.mirror.put(key, files)
        _upload(self.fs, self.mirror.path(key), self._entry(key))
        self.commit(key, "")

    def link_into(self, key: str, out_dir: Path) -> list[Path]:
        """Download the entry into the mirror (once), and link its files into ``out_dir``."""
        self.path(key)
        return self.mirror.link_into(key, out_dir)

    def prune(self) -> None:
        """Refresh the markers of used entries older than a day; drop entries whose marker is
        older than ``CACHE_MAX_AGE_DAYS`` days and that this run did not use, and marker-less
        leftovers older than a day; then prune the mirror the same way."""
        now = time.time()
        for key in sorted(self.used):
            marked = self.marked.get(key)
            if marked is not None and marked < now - REFRESH_SECONDS:
                self.commit(key, "")
        limit = now - CACHE_MAX_AGE_DAYS * 86400
        self.fs.invalidate_cache(self.root)
        try:
            listing = self.fs.find(self.root, detail=True)
        except FileNotFoundError:
            listing = {}
        entries: dict[str, dict[str, Any]] = defaultdict(dict)
        for name, info in listing.items():
            relative = name[len(self.root) + 1 :]
            if "/" in relative:
                key, rest = relative.split("/", 1)
                entries[key][rest] = info
        for key, files in sorted(entries.items()):
            if key in self.used:
                continue
            marker = files.get(MARKER)
            times = [_mtime(self.fs, info) for info in (files.values() if marker is None else [marker])]
            if any(t is None for t in times):
                continue
            if max(times) < (limit if marker is not None else now - REFRESH_SECONDS):  # type: ignore[type-var]
                names = [f"{self._entry(key)}/{rest}" for rest in sorted(files)]
                if marker is not None:  # the commit undone first: no reader takes a half-deleted entry
                    self.fs.rm_file(f"{self._entry(key)}/{MARKER}")
                self.fs.rm([name for name in names if not name.endswith(f"/{MARKER}")])
        self.mirror.prune()


class StoreTask:
    """A job's function as a worker runs it on a URL cache: each field of the job (a dataclass or
    a tuple) holding a staging reference becomes a fresh local folder whose files are uploaded to
    the entry's place once the function returned (and which is removed in any case); each field
    holding an entry reference becomes a local copy of that entry (kept per process, a few at a
    time). The result names the reference again instead of the local folder."""

    def __init__(self, function: Callable[[Any], Any]) -> None:
        self.function = function
        self.__name__ = getattr(function, "__name__", "task")
        self.__qualname__ = getattr(function, "__qualname__", self.__name__)

    def __call__(self, job: Any) -> Any:
        staged: dict[str, str] = {}

        def local(value: Any) -> Any:
            if isinstance(value, str) and value.startswith(STAGING_REF):
                folder = tempfile.mkdtemp(prefix="pipeline-staging-")
                staged[folder] = value
                return folder
            if isinstance(value, str) and value.startswith(ENTRY_REF):
                return str(_fetched(value[len(ENTRY_REF) :]))
            return value

        try:
            result = self.function(_mapped(job, local))
            for folder, ref in staged.items():
                fs, path = _filesystem(ref[len(STAGING_REF) :])
                _upload(fs, Path(folder), path)
        finally:
            for folder in staged:
                shutil.rmtree(folder, ignore_errors=True)
        return _mapped(result, lambda value: staged.get(value, value) if isinstance(value, str) else value)


def _mapped(value: Any, change: Callable[[Any], Any]) -> Any:
    """``value`` with ``change`` applied to each field (a dataclass) or item (a tuple)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.replace(value, **{f.name: change(getattr(value, f.name)) for f in dataclasses.fields(value) if f.init})
    if isinstance(value, tuple):
        return tuple(change(item) for item in value)
    return change(value)


# Entries a worker process downloaded for its jobs (URL → local folder), oldest first.
_FETCHED: dict[str, Path] = {}
FETCHED_KEPT = 8
# The folder of this process's downloads: (process id, folder).
_DOWNLOADS: tuple[int, Path] | None = None
DOWNLOADS_DIR = "pipeline-entries"


def downloads_folder() -> Path:
    """This process's folder for the entries it downloads, ``<tmp>/pipeline-entries/<pid>-…``.

    A pool worker ends with ``os._exit``, so no ``atexit`` handler removes its downloads; each new
    process's folder therefore removes the folders of processes that no longer run. A forked child
    forgets its parent's downloads (the parent may remove them) and makes its own folder."""
    global _DOWNLOADS
    if _DOWNLOADS is None or _DOWNLOADS[0] != os.getpid():
        _FETCHED.clear()
        root = Path(tempfile.gettempdir()) / DOWNLOADS_DIR
        root.mkdir(exist_ok=True)
        for folder in root.iterdir():
            pid = folder.name.split("-", 1)[0]
            if pid.isdigit() and not running(int(pid)):
                shutil.rmtree(folder, ignore_errors=True)
        _DOWNLOADS = (os.getpid(), Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=root)))
        atexit.register(shutil.rmtree, _DOWNLOADS[1], True)
    return _DOWNLOADS[1]


def _fetched(url: str) -> Path:
    """A local copy of the committed entry at ``url``, downloaded once per worker process."""
    downloads = downloads_folder()
    if url in _FETCHED:
        return _FETCHED[url]
    fs, path = _filesystem(url)
    folder = Path(tempfile.mkdtemp(dir=downloads))
    try:
        _download(fs, path, folder)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    _FETCHED[url] = folder
    while len(_FETCHED) > FETCHED_KEPT:
        shutil.rmtree(_FETCHED.pop(next(iter(_FETCHED))), ignore_errors=True)
    return folder
