"""Ingest checks every seed (text, title, url, date, meta, id, file name) for characters no text
may contain: a problem naming file, line and code point, never a traceback."""

from __future__ import annotations

import json
import os
from pathlib import Path

from pipeline.core.problems import Severity
from pipeline.stages.ingest import read_seeds, segment_documents

REPO = Path(__file__).resolve().parents[2]
SCHEMA = REPO / "schemas" / "document.schema.json"


def read(seeds: Path):
    return read_seeds(seeds, SCHEMA, root=seeds.parent)


def seeds_with(tmp_path: Path, files: dict[str, bytes]) -> Path:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    for name, data in files.items():
        (seeds / os.fsdecode(name.encode("utf-8", "surrogateescape"))).write_bytes(data)
    return seeds


def test_a_lone_surrogate_in_a_seed_line_is_a_problem_not_a_traceback(tmp_path: Path):
    seeds = seeds_with(tmp_path, {"news.jsonl": b'{"id": "n1", "text": "Gut."}\n{"id": "n2", "text": "a\\ud800b"}\n'})
    documents, problems = read(seeds)
    assert [d.document.doc_id for d in documents] == ["n1"]
    assert [(p.path, p.line, p.doc_id, p.kind) for p in problems] == [("seeds/news.jsonl", 2, "n2", "lone-surrogate")]


def test_titles_urls_dates_and_meta_values_are_checked(tmp_path: Path):
    line = {"id": "n1", "text": "Gut.", "title": "a\x7f", "url": "b\x00", "date": "2018\x85", "meta": {"agency": ["dpa\x1b"]}}
    seeds = seeds_with(tmp_path, {"news.jsonl": json.dumps(line).encode() + b"\n"})
    documents, problems = read(seeds)
    assert documents == []
    assert [p.message.split(":")[0] for p in problems] == ["at $.title", "at $.url", "at $.date", "at $.meta.agency[0]"]


def test_a_nul_in_a_txt_seed_names_the_line_and_the_code_point_of_the_normalised_text(tmp_path: Path):
    seeds = seeds_with(tmp_path, {"a.txt": b"Erste Zeile.\r\nZweite\x00 Zeile.\r\n"})
    documents, problems = read(seeds)
    assert documents == []
    assert [p.format() for p in problems] == [
        "seeds/a.txt:2: a: control-character: in the text: U+0000 NUL (a C0 control character) at code point 19"
    ]


def test_a_noncharacter_in_a_seed_is_a_warning_and_the_document_is_kept(tmp_path: Path):
    seeds = seeds_with(
        tmp_path, {"a.txt": "Kim traf Moon.\ufdd0".encode(), "news.jsonl": b'{"id": "n1", "text": "Gut.", "title": "\\uffff"}\n'}
    )
    documents, problems = read(seeds)
    assert [d.document.doc_id for d in documents] == ["a", "n1"]
    assert [(p.path, p.kind, p.severity) for p in problems] == [
        ("seeds/a.txt", "noncharacter", Severity.WARNING),
        ("seeds/news.jsonl", "noncharacter", Severity.WARNING),
    ]
    segment_documents(documents, "de")


def test_a_seed_file_name_that_is_not_utf8_is_a_problem_not_a_traceback(tmp_path: Path):
    seeds = seeds_with(tmp_path, {"gr\udcfc\udcdf.txt": b"Gut.", "n\udcfc.jsonl": b'{"id": "n1", "text": "Gut."}\n', "ok.txt": b"Gut."})
    documents, problems = read(seeds)
    assert [d.document.doc_id for d in documents] == ["ok"]
    assert sorted(p.format() for p in problems) == [
        "seeds/gr\\xfc\\xdf.txt: -: invalid-utf8: the file name is not valid UTF-8; rename the file",
        "seeds/n\\xfc.jsonl: -: invalid-utf8: the file name is not valid UTF-8; rename the file",
    ]


def test_a_c1_control_as_real_corpora_have_it_is_a_warning_and_the_document_is_kept(tmp_path: Path):
    seeds = seeds_with(tmp_path, {"news.jsonl": b'{"id": "n1", "text": "Berlin \\u0096 Hamburg"}\n'})
    documents, problems = read(seeds)
    assert [d.document.text for d in documents] == ["Berlin \x96 Hamburg"]
    assert [(p.kind, p.severity) for p in problems] == [("c1-control", Severity.WARNING)]
