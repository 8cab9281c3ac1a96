"""Streaming JSONL reading: lines are checked once, located, and read back exactly."""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.io.jsonl import FileIndexes, LineMemo, line_ref, read_lines, scan_jsonl
from pipeline.io.schemas import load_json_schema

REPO = Path(__file__).resolve().parents[2]
DOCUMENT_SCHEMA = load_json_schema(REPO / "schemas" / "document.schema.json")


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def scan(path: Path, memo: LineMemo | None = None):
    return scan_jsonl(path, path.name, DOCUMENT_SCHEMA, "id", lambda data: data["id"], memo)


def test_located_lines_read_back_to_the_objects_checked(tmp_path: Path):
    lines = [{"id": "a", "text": "Kim 🙂 traf Moon."}, {"id": "b", "text": "Süd\u0301korea"}]
    data = (
        b"\xef\xbb\xbf"
        + json.dumps(lines[0], ensure_ascii=False).encode()
        + b"\r\n\r\n"
        + json.dumps(lines[1], ensure_ascii=False).encode()
    )
    path = write(tmp_path / "docs.jsonl", data)
    kept, problems = scan(path)
    assert problems == []
    assert [(line.number, line.summary) for line in kept] == [(1, "a"), (3, "b")]
    refs = [line_ref(path, path.name, line, line.summary) for line in kept]
    assert read_lines(list(reversed(refs))) == list(reversed(lines))


def test_a_changed_line_changes_only_its_hash(tmp_path: Path):
    hashes = []
    for last in ("Zwei.", "Zwei!"):
        path = write(
            tmp_path / "docs.jsonl",
            "".join(json.dumps(line) + "\n" for line in [{"id": "a", "text": "Eins."}, {"id": "b", "text": last}]).encode(),
        )
        hashes.append([line.sha256 for line in scan(path)[0]])
    assert hashes[0][0] == hashes[1][0] and hashes[0][1] != hashes[1][1]


def test_invalid_utf8_on_a_later_line_rejects_the_file_with_its_byte_offset(tmp_path: Path):
    good = json.dumps({"id": "a", "text": "Gut."}).encode() + b"\n"
    bad = b'{"id": "b", "text": "Sch\xf6n"}\n'
    path = write(tmp_path / "docs.jsonl", good + bad)
    kept, problems = scan(path)
    assert kept == []
    (problem,) = problems
    assert (problem.line, problem.kind) == (2, "invalid-utf8")
    offset = len(good) + bad.index(b"\xf6")
    assert f"byte offset {offset} (bytes f6)" in problem.message


def test_the_memo_spares_parsing_unchanged_lines_and_forgets_what_it_did_not_see(tmp_path: Path):
    path = write(tmp_path / "docs.jsonl", b'{"id": "a", "text": "Eins."}\n{"id": "b", "text": "Zwei."}\n')
    memo = LineMemo(tmp_path / "memo.json", "k1")
    first, _ = scan(path, memo)
    memo.save()
    memo = LineMemo(tmp_path / "memo.json", "k1")
    # a remembered summary is used as is: proof that the line was not parsed again
    memo.known[first[0].sha256] = "remembered"
    write(path, b'{"id": "a", "text": "Eins."}\n{"id": "c", "text": "Drei."}\n')
    second, _ = scan(path, memo)
    summaries = [line.summary for line in second]
    memo.save()
    assert summaries == ["remembered", "c"]
    assert set(json.loads((tmp_path / "memo.json").read_text())["lines"]) == {line.sha256 for line in second}
    assert LineMemo(tmp_path / "memo.json", "k2").known == {}


def test_the_memo_never_hides_a_bad_line(tmp_path: Path):
    path = write(tmp_path / "docs.jsonl", b'{"id": "a", "text": 1}\n')
    memo = LineMemo(tmp_path / "memo.json", "k")
    for _ in range(2):
        kept, problems = scan(path, memo)
        memo.save()
        assert kept == [] and [p.kind for p in problems] == ["schema"]


def scan_indexed(path: Path, indexes: FileIndexes):
    return scan_jsonl(path, path.name, DOCUMENT_SCHEMA, "id", lambda data: data["id"], indexes=indexes)


def stored_entry(folder: Path) -> Path:
    """The one file's index entry in ``folder`` (beside it: its head)."""
    (entry,) = (path for path in folder.iterdir() if not path.name.endswith(".head.json"))
    return entry


def remembered_entry(folder: Path) -> tuple[Path, str]:
    """The one file's index entry in ``folder``, and its JSON with the first line's summary made
    "remembered": what only a scan that takes that line from the index returns."""
    entry = stored_entry(folder)
    stored = json.loads(entry.read_text())
    stored["lines"][0][4] = "remembered"
    return entry, json.dumps(stored)


def test_an_unchanged_file_comes_from_its_index_without_being_read(tmp_path: Path, monkeypatch):
    lines = b'{"id": "a", "text": "Eins."}\n{"id": "b", "text": "Zwei \\ufdd0."}\n{"id": "c", "text": 3}\n'
    path = write(tmp_path / "docs.jsonl", lines)
    indexes = FileIndexes(tmp_path / "index", "salt")
    first = scan_indexed(path, indexes)
    assert [p.kind for p in first[1]] == ["noncharacter", "schema"]  # a warning and an error, both kept
    assert first == scan(path)

    def no_reading(*args, **kwargs):
        raise AssertionError("the file was read again")

    with monkeypatch.context() as patched:
        patched.setattr("builtins.open", no_reading)
        assert scan_indexed(path, indexes) == first


def test_a_changed_file_or_another_salt_is_scanned_again(tmp_path: Path):
    path = write(tmp_path / "docs.jsonl", b'{"id": "a", "text": "Eins."}\n')
    indexes = FileIndexes(tmp_path / "index", "salt")
    scan_indexed(path, indexes)
    with open(path, "ab") as handle:
        handle.write(b'{"id": "b", "text": "Zwei."}\n')
    assert [line.summary for line in scan_indexed(path, indexes)[0]] == ["a", "b"]
    entry, remembered = remembered_entry(tmp_path / "index")  # only a scan with its salt sees it
    entry.write_text(remembered)
    assert [line.summary for line in scan_indexed(path, indexes)[0]] == ["remembered", "b"]
    assert [line.summary for line in scan_indexed(path, FileIndexes(tmp_path / "index", "other"))[0]] == ["a", "b"]


def test_a_memo_that_no_line_used_keeps_its_entries(tmp_path: Path):
    path = write(tmp_path / "docs.jsonl", b'{"id": "a", "text": "Eins."}\n')
    memo = LineMemo(tmp_path / "memo.json", "k")
    scan(path, memo)
    memo.save()
    unused = LineMemo(tmp_path / "memo.json", "k")
    unused.save()  # the file came whole from its index: nothing was looked up
    assert LineMemo(tmp_path / "memo.json", "k").known == memo.seen


def test_a_file_that_only_grew_by_whole_lines_is_read_from_where_it_ended(tmp_path: Path):
    path = write(tmp_path / "docs.jsonl", b'{"id": "a", "text": "Eins."}\n\n{"id": "b", "text": 2}\n')
    indexes = FileIndexes(tmp_path / "index", "salt")
    scan_indexed(path, indexes)
    entry, remembered = remembered_entry(tmp_path / "index")  # only a scan that did not read line 1 again keeps it
    entry.write_text(remembered)
    with open(path, "ab") as handle:
        handle.write(b'{"id": "c", "text": "Drei."}\n')
    kept, problems = scan_indexed(path, indexes)
    full_kept, full_problems = scan(path)
    assert [line.summary for line in kept] == ["remembered", "c"]
    assert [(line.number, line.offset, line.length, line.sha256) for line in kept] == [
        (line.number, line.offset, line.length, line.sha256) for line in full_kept
    ]
    assert problems == full_problems  # line 3's schema problem, kept from the first scan


def test_a_file_whose_old_bytes_changed_is_read_whole(tmp_path: Path):
    for first, grown in ((b'{"id": "a", "text": "Eins."}\n', b'{"id": "A", "text": "Eins."}\n'), (b'{"id": "a", "text": "Eins."}', None)):
        path = write(tmp_path / "docs.jsonl", first)
        indexes = FileIndexes(tmp_path / f"index-{len(first)}", "salt")
        scan_indexed(path, indexes)
        entry, remembered = remembered_entry(indexes.folder)
        entry.write_text(remembered)
        # the same first line with another id (same size), or a last line without its line break
        write(path, (grown or first) + (b"" if grown else b"\n") + b'{"id": "b", "text": "Zwei."}\n')
        assert [line.summary for line in scan_indexed(path, indexes)[0]] == [(grown and "A") or "a", "b"]


def test_a_memo_that_differs_by_at_most_one_percent_is_not_rewritten(tmp_path: Path):
    lines = [json.dumps({"id": f"d{n}", "text": f"Text {n}."}) + "\n" for n in range(200)]
    path = write(tmp_path / "docs.jsonl", "".join(lines).encode())
    memo = LineMemo(tmp_path / "memo.json", "k")
    scan(path, memo)
    memo.save()
    stored = (tmp_path / "memo.json").read_bytes()
    lines[7] = json.dumps({"id": "d7", "text": "Geändert."}) + "\n"  # one entry new, one gone: 2 of 200
    write(path, "".join(lines).encode())
    memo = LineMemo(tmp_path / "memo.json", "k")
    kept, _ = scan(path, memo)
    memo.save()
    assert (tmp_path / "memo.json").read_bytes() == stored
    assert [line.summary for line in kept] == [f"d{n}" for n in range(200)]
    lines[8:12] = [json.dumps({"id": f"d{n}", "text": "Neu."}) + "\n" for n in range(8, 12)]  # now 10 of 200 differ
    write(path, "".join(lines).encode())
    memo = LineMemo(tmp_path / "memo.json", "k")
    scan(path, memo)
    memo.save()
    assert set(json.loads((tmp_path / "memo.json").read_text())["lines"]) == set(memo.seen)


def test_a_file_edited_in_place_is_scanned_without_parsing_its_stored_lines(tmp_path: Path, monkeypatch):
    path = write(tmp_path / "docs.jsonl", b'{"id": "a", "text": "Eins."}\n{"id": "b", "text": "Zwei."}\n')
    indexes = FileIndexes(tmp_path / "index", "salt")
    scan_indexed(path, indexes)
    entry = stored_entry(tmp_path / "index")
    write(path, b'{"id": "A", "text": "Eins."}\n{"id": "b", "text": "Zwei."}\n')
    read: list[str] = []
    real = Path.read_text
    monkeypatch.setattr(Path, "read_text", lambda self, *args, **kwargs: read.append(self.name) or real(self, *args, **kwargs))
    assert [line.summary for line in scan_indexed(path, indexes)[0]] == ["A", "b"]
    assert entry.with_suffix(".head.json").name in read
    assert entry.name not in read


def test_an_entry_that_is_not_the_one_its_head_was_written_with_is_not_used(tmp_path: Path):
    path = write(tmp_path / "docs.jsonl", b'{"id": "a", "text": "Eins."}\n')
    indexes = FileIndexes(tmp_path / "index", "salt")
    scan_indexed(path, indexes)
    entry, old_entry = remembered_entry(tmp_path / "index")
    with open(path, "ab") as handle:
        handle.write(b'{"id": "b", "text": "Zwei."}\n')
    scan_indexed(path, indexes)  # a newer head and entry
    entry.write_text(old_entry)  # another run's entry beside this head
    assert [line.summary for line in scan_indexed(path, indexes)[0]] == ["a", "b"]
