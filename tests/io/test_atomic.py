"""Atomic writes and link-or-copy: the old file or the new one, never a part, and no temporaries left."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipeline.io import atomic


def test_write_bytes_creates_the_folders_and_the_file(tmp_path: Path):
    path = tmp_path / "a" / "b" / "f.bin"
    atomic.write_bytes(path, b"new")
    assert path.read_bytes() == b"new" and os.listdir(path.parent) == ["f.bin"]


def test_write_text_writes_utf8_without_translating_line_endings(tmp_path: Path):
    path = tmp_path / "f.txt"
    atomic.write_text(path, "Köln\r\nBonn\n", fsync=True)
    assert path.read_bytes() == "Köln\r\nBonn\n".encode()


def test_failure_mid_write_leaves_the_old_file_and_no_temporary(tmp_path: Path):
    path = tmp_path / "f.txt"
    path.write_text("old")
    with pytest.raises(RuntimeError, match="disk full"), atomic.writing(path) as temp:
        temp.write_text("half")
        raise RuntimeError("disk full")
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["f.txt"]


def test_writing_yields_a_temporary_beside_the_target(tmp_path: Path):
    path = tmp_path / "f.txt"
    with atomic.writing(path) as temp:
        assert temp.parent == tmp_path and temp.name.startswith(".f.txt.") and temp.name.endswith(".tmp")
        assert not path.exists()
        temp.write_text("new")
    assert path.read_text() == "new" and not temp.exists()


def test_temporary_names_are_unique(tmp_path: Path):
    assert len({atomic.temp_path(tmp_path / "f") for _ in range(100)}) == 100


def test_a_failing_rename_leaves_no_temporary(tmp_path: Path):
    target = tmp_path / "dir"
    (target / "child").mkdir(parents=True)  # a file cannot replace a non-empty folder
    with pytest.raises(OSError):
        atomic.write_bytes(target, b"x")
    assert os.listdir(tmp_path) == ["dir"]


def test_write_all_changes_no_file_when_one_cannot_be_staged(tmp_path: Path):
    first, blocked = tmp_path / "a.txt", tmp_path / "not-a-folder" / "b.txt"
    first.write_text("old")
    (tmp_path / "not-a-folder").write_text("a file")
    with pytest.raises(OSError):
        atomic.write_all({first: b"new", blocked: b"new"})
    assert first.read_text() == "old" and sorted(os.listdir(tmp_path)) == ["a.txt", "not-a-folder"]


def test_write_all_writes_every_file(tmp_path: Path):
    atomic.write_all({tmp_path / "a": b"1", tmp_path / "sub" / "b": b"2"}, fsync=True)
    assert (tmp_path / "a").read_bytes() == b"1" and (tmp_path / "sub" / "b").read_bytes() == b"2"


def test_link_or_copy_links_when_it_can(tmp_path: Path):
    source = tmp_path / "source"
    source.write_bytes(b"data")
    atomic.link_or_copy(source, tmp_path / "out" / "target")
    assert os.path.samefile(source, tmp_path / "out" / "target")


def test_link_or_copy_copies_across_devices(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    def cross_device(*args, **kwargs):
        raise OSError(18, "Invalid cross-device link")

    source = tmp_path / "source"
    source.write_bytes(b"data")
    monkeypatch.setattr(os, "link", cross_device)
    atomic.link_or_copy(source, tmp_path / "target")
    assert (tmp_path / "target").read_bytes() == b"data" and not os.path.samefile(source, tmp_path / "target")
    assert sorted(os.listdir(tmp_path)) == ["source", "target"]


def test_link_or_copy_replaces_an_existing_target(tmp_path: Path):
    source, target = tmp_path / "source", tmp_path / "target"
    source.write_bytes(b"new")
    target.write_bytes(b"old")
    atomic.link_or_copy(source, target)
    assert target.read_bytes() == b"new" and sorted(os.listdir(tmp_path)) == ["source", "target"]


def test_link_or_copy_of_a_missing_source_leaves_no_temporary(tmp_path: Path):
    with pytest.raises(FileNotFoundError):
        atomic.link_or_copy(tmp_path / "missing", tmp_path / "target")
    assert os.listdir(tmp_path) == []
