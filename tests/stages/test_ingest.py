"""The ingest stage: seeds → normalised documents and their segmentation; every bad input reported, none raised."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

from pipeline.core.text import text_sha256
from pipeline.stages.ingest import read_seeds, segment_documents

REPO = Path(__file__).resolve().parents[2]
SCHEMA = REPO / "schemas" / "document.schema.json"


def read(seeds: Path):
    return read_seeds(seeds, SCHEMA, root=seeds.parent)


def test_txt_document_id_is_the_file_stem_and_text_is_normalised(tmp_path):
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    raw = "\ufeff" + unicodedata.normalize("NFD", "Südkorea\r\nNordkorea\r")
    (seeds / "b_doc.txt").write_bytes(raw.encode("utf-8"))
    documents, problems = read(seeds)
    assert problems == []
    (doc,) = documents
    assert doc.document.doc_id == "b_doc"
    assert doc.document.source == "b_doc.txt"
    assert doc.document.text == "Südkorea\nNordkorea\n"
    assert doc.document.text_sha256 == text_sha256("Südkorea\nNordkorea\n")


def test_jsonl_documents_keep_metadata(tmp_path):
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    lines = [
        {
            "id": "n1",
            "text": "Kim traf Moon.",
            "title": "Gipfel",
            "date": "2018-03-09",
            "url": "https://example.org/1",
            "meta": {"agency": "dpa"},
        },
        {"id": "n2", "text": "Zweiter Text."},
    ]
    (seeds / "news.jsonl").write_text("\n".join(json.dumps(line_, ensure_ascii=False) for line_ in lines) + "\n\n", encoding="utf-8")
    documents, problems = read(seeds)
    assert problems == []
    assert [d.document.doc_id for d in documents] == ["n1", "n2"]
    assert documents[0].document.meta == {"agency": "dpa"}
    assert documents[0].document.source == "news.jsonl#n1"
    assert [d.line for d in documents] == [1, 2]


def test_document_ids_do_not_depend_on_file_order(tmp_path):
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "z.txt").write_text("Zett.", encoding="utf-8")
    first, _ = read(seeds)
    (seeds / "a.txt").write_text("A.", encoding="utf-8")
    second, _ = read(seeds)
    assert {d.document.doc_id: d.document.text for d in first}.items() <= {d.document.doc_id: d.document.text for d in second}.items()


def test_bad_inputs_are_all_reported_not_raised(tmp_path):
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "bad.txt").write_bytes(b"Gr\xfc\xdfe aus K\xf6ln")
    (seeds / "empty.txt").write_text(" \n\r\n", encoding="utf-8")
    (seeds / "lines.jsonl").write_text(
        '{"id": "ok", "text": "Gut."}\n{"id": "x", "text": \n{"id": "ok", "text": "Doppelt."}\n{"text": "ohne id"}\n', encoding="utf-8"
    )
    documents, problems = read(seeds)
    assert [d.document.doc_id for d in documents] == ["ok"]
    formatted = sorted(p.format() for p in problems)
    assert formatted == sorted(
        [
            "seeds/bad.txt:1: -: invalid-utf8: invalid UTF-8 at byte offset 2 (bytes fc): invalid start byte",
            "seeds/empty.txt: empty: empty-document: the document has no text after normalisation",
            "seeds/lines.jsonl:2: -: invalid-json: line is not JSON: Expecting value at column 21",
            "seeds/lines.jsonl:3: ok: duplicate-doc-id: document id already used at seeds/lines.jsonl:1",
            "seeds/lines.jsonl:4: -: schema: at $: 'id' is a required property",
        ]
    )


def test_segmentation_tables_have_code_point_offsets(tmp_path):
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    text = "🙂 Kim Jong Un traf Moon Jae In.\n\nDas Treffen fand in Panmunjom statt."
    (seeds / "emoji.txt").write_text(text, encoding="utf-8")
    documents, _ = read(seeds)
    docs, sentences, tokens = segment_documents(documents, "de")
    assert docs.column("doc_id").to_pylist() == ["emoji"]
    words = [text[s:e] for s, e in zip(tokens.column("start").to_pylist(), tokens.column("end").to_pylist(), strict=True)]
    assert words[:3] == ["🙂", "Kim", "Jong"]
    assert sentences.column("paragraph_idx").to_pylist() == [0, 1]
