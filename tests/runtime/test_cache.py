"""The per-shard cache: a committed result is found by its key and linked into an output folder;
on an fsspec URL (a real S3-compatible server, moto on 127.0.0.1, and ``file://``) the worker
uploads, the marker written last is the commit, and a whole build publishes the bytes of the
local cache, on the local pool and on a Dask cluster, also when a worker is killed mid-run."""

from __future__ import annotations

import logging
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from dask_helpers import build_killing_a_worker, environment_plugin
from repo_helpers import tree_bytes
from s3_helpers import moto_server
from stage_helpers import build, corpus, params_for, params_on

from pipeline.config import parse_config
from pipeline.runtime.cache import CACHE_MAX_AGE_DAYS, CHUNKS_FILE, MARKER, RemoteShardCache, ShardCache, link_identical
from pipeline.runtime.fingerprint import digest

BUCKET = "shard-cache"
KEY_ID = "cache-test-key"
SECRET = f"moto-secret-{uuid.uuid4().hex}"


def test_cache_commit_and_link(tmp_path: Path):
    cache = ShardCache(tmp_path / "cache", "stage")
    key = digest("x", 1)
    assert not cache.has(key)
    staging = cache.staging(key)
    (staging / "t").mkdir()
    (staging / "t" / "part.parquet").write_bytes(b"data")
    cache.commit(key, staging)
    assert cache.has(key)
    linked = cache.link_into(key, tmp_path / "out")
    assert [p.relative_to(tmp_path / "out").as_posix() for p in linked] == ["t/part.parquet"]
    assert (tmp_path / "out" / "t" / "part.parquet").read_bytes() == b"data"


@pytest.fixture(scope="module")
def s3() -> Iterator[dict[str, str]]:
    """moto's S3 server with one bucket, and its credentials and endpoint in the environment
    (the only place the cache takes them from): the environment, for Dask workers to copy."""
    import fsspec

    with moto_server(KEY_ID, SECRET, BUCKET) as endpoint, pytest.MonkeyPatch.context() as patch:
        env = {
            "AWS_ACCESS_KEY_ID": KEY_ID,
            "AWS_SECRET_ACCESS_KEY": SECRET,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": endpoint,
        }
        for name, value in env.items():
            patch.setenv(name, value)
        fsspec.get_filesystem_class("s3").clear_instance_cache()
        yield env
        fsspec.get_filesystem_class("s3").clear_instance_cache()


def s3_url(name: str) -> str:
    return f"s3://{BUCKET}/{name}-{uuid.uuid4().hex[:8]}"


STAGED: list[Path] = []


def square(job: tuple[int, str]) -> tuple[int, str]:
    """A shard job as the stages write them: files into the staging folder the job names."""
    number, staging = job
    STAGED.append(Path(staging))
    (Path(staging) / "t").mkdir()
    (Path(staging) / "t" / f"part-{number}.bin").write_bytes(bytes([number * number]))
    return number, staging


def test_a_staged_file_with_the_bytes_of_its_namesake_becomes_a_link_of_it(tmp_path: Path):
    staging, published = tmp_path / "staging", tmp_path / "published"
    files = {"tokens/part-1.parquet": (b"same", b"same"), "ner/train-1.parquet": (b"new", b"old"), "re/test-1.parquet": (b"one", None)}
    for relative, (staged, there) in files.items():
        (staging / relative).parent.mkdir(parents=True, exist_ok=True)
        (staging / relative).write_bytes(staged)
        if there is not None:
            (published / relative).parent.mkdir(parents=True, exist_ok=True)
            (published / relative).write_bytes(there)
    (staging / CHUNKS_FILE).write_text("{}")
    (published / CHUNKS_FILE).write_text("{}")  # an entry's record of its chunks is never shared

    assert link_identical(staging, published) == 1
    assert os.path.samefile(staging / "tokens/part-1.parquet", published / "tokens/part-1.parquet")
    assert not os.path.samefile(staging / "ner/train-1.parquet", published / "ner/train-1.parquet")  # same size, other bytes
    assert not os.path.samefile(staging / CHUNKS_FILE, published / CHUNKS_FILE)
    assert {relative: (staging / relative).read_bytes() for relative in files} == {
        relative: staged for relative, (staged, _) in files.items()
    }
    assert sorted(p.name for p in (staging / "tokens").iterdir()) == ["part-1.parquet"]  # no temporary left
    assert link_identical(staging, published) == 0  # linked already


def test_after_a_rebuilt_cache_the_unchanged_tables_keep_the_published_inodes(tmp_path: Path):
    root = tmp_path / "c"
    corpus(root, 20)
    build(params_on(root, tmp_path / "cache", None))
    published, tables = root / "published", root / "interim" / "tables"
    before = {path.relative_to(published): (path.stat().st_ino, path.read_bytes()) for path in published.rglob("*.parquet")}
    layer = root / "annotations" / "gold" / "g.jsonl"
    lines = layer.read_text(encoding="utf-8").splitlines(keepends=True)
    layer.write_text("".join(lines[:3] + [lines[3].replace('"PER"', '"ORG"', 1)] + lines[4:]), encoding="utf-8")

    build(params_on(root, tmp_path / "another-cache", None))  # every shard computed again
    after = {path.relative_to(published): path for path in published.rglob("*.parquet")}
    kept = {relative for relative, path in after.items() if path.stat().st_ino == before[relative][0]}
    unchanged = {relative for relative, path in after.items() if path.read_bytes() == before[relative][1]}
    assert kept == unchanged  # every file with the same bytes keeps its inode
    assert kept and kept != set(after)  # the relabelled document's files are new, the others the same bytes
    for relative, path in after.items():
        assert os.path.samefile(path, tables / relative), relative  # published from the tables' files
        if relative not in kept:
            continue
        entry = next((tmp_path / "another-cache" / "annotate").glob(f"*/{relative}"), None)
        assert entry is not None and os.path.samefile(entry, path), relative  # the new entry holds the published inode


def test_a_url_cache_is_committed_by_the_marker_the_main_process_writes_last(s3, tmp_path: Path):
    cache = ShardCache(s3_url("unit"), "stage", tmp_path / "mirror")
    assert isinstance(cache, RemoteShardCache)
    key = digest("x", 3)
    number, staging = cache.task(square)((3, cache.staging(key)))
    assert number == 3 and staging == cache.staging(key)
    assert not cache.has(key), "uploaded but not committed: not in the cache"
    cache.commit(key, staging)
    assert cache.has(key)
    linked = cache.link_into(key, tmp_path / "out")
    assert [p.relative_to(tmp_path / "out").as_posix() for p in linked] == ["t/part-3.bin"]
    assert (tmp_path / "out" / "t" / "part-3.bin").read_bytes() == bytes([9])
    assert STAGED and not STAGED[-1].exists(), "the worker's local folder is removed once uploaded"


def test_a_job_reads_a_committed_entry_by_its_reference(s3, tmp_path: Path):
    cache = ShardCache(s3_url("ref"), "stage", tmp_path / "mirror")
    cache.put("k", {"a/b.json": b"[1]"})
    assert cache.has("k")

    def read(job: tuple[str]) -> bytes:
        return (Path(job[0]) / "a" / "b.json").read_bytes()

    assert cache.task(read)((cache.ref("k"),)) == b"[1]"
    assert (cache.path("k") / "a" / "b.json").read_bytes() == b"[1]"


def test_downloads_of_a_process_that_ended_with_os_exit_are_removed_by_the_next_process_s_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    import subprocess
    import sys
    import tempfile

    from pipeline.runtime import cache as cache_module

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(cache_module, "_DOWNLOADS", None)
    # a worker downloads an entry and ends as a pool worker does: os._exit, no atexit handlers
    worker = "import os, pathlib; from pipeline.runtime.cache import downloads_folder as d; f = d(); (f / 'entry').mkdir(); print(f); os._exit(0)"
    done = subprocess.run(
        [sys.executable, "-c", worker], env={**os.environ, "TMPDIR": str(tmp_path)}, capture_output=True, text=True, check=True
    )
    left = Path(done.stdout.strip())
    assert (left / "entry").is_dir() and left.parent == tmp_path / cache_module.DOWNLOADS_DIR
    mine = cache_module.downloads_folder()
    assert not left.exists()
    assert mine.is_dir() and mine.parent == left.parent and mine.name.startswith(f"{os.getpid()}-")
    assert cache_module.downloads_folder() == mine  # one folder per process


def test_the_cache_dir_is_a_folder_or_a_url_shared_between_processes():
    runtime = parse_config(params_for(Path("/w"), None)).runtime
    assert runtime.cache_dir == Path(".cache/pipeline") == runtime.local_cache_dir()
    params = params_for(Path("/w"), None)
    params["runtime"]["cache_dir"] = "s3://bucket/prefix/"
    runtime = parse_config(params).runtime
    assert runtime.cache_dir == "s3://bucket/prefix"
    assert runtime.local_cache_dir() == Path(".cache/pipeline")
    params["runtime"]["local_dir"] = "/elsewhere"
    assert parse_config(params).runtime.local_cache_dir() == Path("/elsewhere")
    params["runtime"]["cache_dir"] = "memory://cache"
    with pytest.raises(ValueError, match=r"runtime\.cache_dir: expected a folder or a URL every worker process sees.*'memory://cache'"):
        parse_config(params)


def test_prune_on_a_url_drops_old_unused_entries_and_old_leftovers_only(tmp_path: Path):
    store = tmp_path / "store"
    cache = ShardCache(f"file://{store}", "stage", tmp_path / "mirror")
    for key in ("old", "used", "fresh"):
        cache.put(key, {"f": key.encode()})
    for leftover in ("crashed", "uploading"):
        (store / "stage" / leftover).mkdir()
        (store / "stage" / leftover / "f").write_bytes(b"partial")
    ancient = time.time() - (CACHE_MAX_AGE_DAYS + 1) * 86400
    for path in (store / "stage" / "old" / MARKER, store / "stage" / "used" / MARKER, store / "stage" / "crashed" / "f"):
        os.utime(path, (ancient, ancient))

    later = ShardCache(f"file://{store}", "stage", tmp_path / "mirror")
    assert later.has("used")
    later.link_into("used", tmp_path / "out")
    later.prune()
    assert sorted(p.name for p in (store / "stage").iterdir() if any(p.iterdir())) == ["fresh", "uploading", "used"]
    assert not later.has("old")
    assert (store / "stage" / "used" / MARKER).stat().st_mtime > ancient, "a used entry's marker is refreshed"


# --------------------------------------------------------------------------- whole builds


def computed(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The stages' own lines saying how many shards they computed."""
    return [r.getMessage() for r in caplog.records if r.name.startswith("pipeline.stages.")]


def params_in(root: Path, cache: Path | str, address: str | None = None) -> dict:
    """The small corpus in ``root`` and its params (the local part of a URL cache in
    ``root/.local-cache``)."""
    corpus(root, 40)
    params = params_on(root, cache, address)
    params["runtime"]["local_dir"] = str(root / ".local-cache")
    params["preannotate"]["external_dir"] = "/nonexistent/external"  # named in metrics.json: the same in every build
    return params


def built(root: Path, cache: Path | str, address: str | None = None) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """The published files and preannotate's of a build of the small corpus in ``root``."""
    build(params_in(root, cache, address))
    return tree_bytes(root / "published"), tree_bytes(root / "pre")


@pytest.fixture(scope="module")
def local_build(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """What the build publishes with the local cache (the reference)."""
    folder = tmp_path_factory.mktemp("local")
    return built(folder / "work", folder / "cache")


def test_an_s3_cache_publishes_the_local_cache_s_bytes_and_a_fresh_copy_computes_nothing(
    s3, local_build, tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    url = s3_url("build")
    root = tmp_path / "work"
    assert built(root, url) == local_build
    assert (root / ".local-cache" / "lines").is_dir()

    shutil.rmtree(root)  # the work copy and the local part of the cache
    caplog.clear()
    caplog.set_level(logging.INFO, logger="pipeline")
    assert built(root, url) == local_build
    lines = computed(caplog)
    assert any("in 8 shards (0 computed, 8 from cache;" in line for line in lines), lines
    assert any("8 shards (0 computed;" in line for line in lines), lines
    assert any("(0 gazetteer and 0 proposal shards computed, 0 hand-pattern shards)" in line for line in lines), lines
    assert any(line.startswith("validate: 0 of 8 shards checked") for line in lines), lines
    assert SECRET not in caplog.text


def test_an_entry_staged_but_not_committed_is_recomputed_and_overwritten(s3, local_build, tmp_path: Path, caplog: pytest.LogCaptureFixture):
    import fsspec

    url = s3_url("crash")
    root = tmp_path / "work"
    built(root, url)
    fs, base = fsspec.core.url_to_fs(f"{url}/ingest")
    entry = sorted(fs.ls(base, detail=False))[0]
    files = sorted(name for name in fs.find(entry) if not name.endswith(MARKER))
    good = fs.cat_file(files[0])
    fs.rm_file(f"{entry}/{MARKER}")  # a worker killed mid-upload: files, no marker
    fs.pipe_file(files[0], b"half-written")

    shutil.rmtree(root)
    caplog.set_level(logging.INFO, logger="pipeline")
    assert built(root, url) == local_build
    assert any("in 8 shards (1 computed, 7 from cache;" in line for line in computed(caplog))
    assert fs.cat_file(files[0]) == good
    assert fs.exists(f"{entry}/{MARKER}")


@pytest.fixture
def s3_cluster(s3, cluster) -> Iterator[tuple[str, object]]:
    """The session's LocalCluster with the S3 credentials and endpoint in its workers' environment."""
    address, client = cluster
    client.register_plugin(environment_plugin(s3), name="s3-environment")
    try:
        yield address, client
    finally:
        client.unregister_worker_plugin("s3-environment")


def test_dask_workers_with_an_s3_cache_publish_the_local_cache_s_bytes(local_build, s3_cluster, tmp_path: Path):
    address, _ = s3_cluster
    assert built(tmp_path / "work", s3_url("dask"), address) == local_build


def test_a_worker_killed_mid_run_on_an_s3_cache_leaves_it_usable(local_build, s3_cluster, tmp_path: Path):
    address, client = s3_cluster
    root = tmp_path / "work"
    build_killing_a_worker(client, params_in(root, s3_url("killed"), address), tmp_path / "first-task-pid")
    assert (tree_bytes(root / "published"), tree_bytes(root / "pre")) == local_build
