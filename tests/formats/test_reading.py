"""Reading an adapter's input files."""

from __future__ import annotations

import pytest

from pipeline.formats import ImportFailed
from pipeline.formats.reading import decode, expand_paths, iter_json_values


def test_iter_json_values_reads_jsonl_pretty_and_arrays():
    assert [v for _, v in iter_json_values('{"a": 1}\n{"a": 2}\n', "x")] == [{"a": 1}, {"a": 2}]
    assert [(line, v) for line, v in iter_json_values('{\n  "a": 1\n}\n\n{"a": 2}', "x")] == [(1, {"a": 1}), (5, {"a": 2})]
    assert [v for _, v in iter_json_values('[{"a": 1}, {"a": 2}]', "x")] == [{"a": 1}, {"a": 2}]
    with pytest.raises(ImportFailed, match="x:2: not JSON"):
        list(iter_json_values('{"a": 1}\n{oops}', "x"))


def test_decode_keeps_a_bom():
    assert decode("\ufeffAnna".encode("utf-8"), "in.txt") == "\ufeffAnna"


def test_decode_names_the_line_and_byte_of_invalid_utf8():
    with pytest.raises(ImportFailed, match=r"^in.txt:2: invalid UTF-8 at byte offset 6 \(bytes fc\): invalid start byte$"):
        decode(b"Anna\nM\xfcller", "in.txt")


def test_expand_paths_expands_folders_by_suffix(tmp_path):
    (tmp_path / "b.tsv").write_text("", encoding="utf-8")
    (tmp_path / "a.tsv").write_text("", encoding="utf-8")
    (tmp_path / "notes.md").write_text("", encoding="utf-8")
    assert [p.name for p in expand_paths([tmp_path], (".tsv",))] == ["a.tsv", "b.tsv"]


def test_expand_paths_rejects_a_missing_path(tmp_path):
    with pytest.raises(ImportFailed, match=r"missing.tsv: no such file or directory"):
        expand_paths([tmp_path / "missing.tsv"], (".tsv",))


def test_expand_paths_rejects_a_folder_without_input_files(tmp_path):
    with pytest.raises(ImportFailed, match=r"no input files \(.tsv\) in"):
        expand_paths([tmp_path], (".tsv",))
