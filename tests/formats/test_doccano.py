"""doccano JSONL: unit behaviour, the real exports in ../shared/external/doccano, round trips."""

from __future__ import annotations

import json
import re
import tempfile
from collections import Counter
from pathlib import Path

import yaml
from hypothesis import given, settings

from pipeline.formats import ExportOptions, doccano

from .corpus_strategies import assert_same, build_corpus, corpora, pipeline_problems

MAPPINGS = Path(__file__).resolve().parents[2] / "schemas" / "mappings"


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def utf16_slice(text: str, start: int, end: int) -> str:
    """What a JavaScript ``text.slice(start, end)`` returns: the reference for UTF-16 offsets."""
    return text.encode("utf-16-le")[2 * start : 2 * end].decode("utf-16-le")


# --------------------------------------------------------------------------- unit behaviour


def test_current_shape_with_utf16_offsets(tmp_path, make_options):
    text = "🙂 Kim trifft Trump."
    rows = [
        {
            "id": 7,
            "text": text,
            "entities": [
                {"id": 1, "start_offset": 3, "end_offset": 6, "label": "PER"},
                {"id": 2, "start_offset": 14, "end_offset": 19, "label": "PER"},
            ],
            "relations": [{"id": 9, "from_id": 1, "to_id": 2, "type": "meets"}],
        }
    ]
    path = write_jsonl(tmp_path / "a.jsonl", rows)
    result = doccano.read([path], make_options("dc"))
    (document,) = result.documents
    (record,) = result.records
    assert document.doc_id == "dc-7" and document.meta == {"doccano_id": 7, "imported_from": "imported:dc a.jsonl:1"}
    assert [(e.id, document.text[e.start : e.end]) for e in record.entities] == [("T1", "Kim"), ("T2", "Trump")]
    assert [(r.id, r.head, r.tail, r.label) for r in record.relations] == [("R9", "T1", "T2", "meets")]
    as_codepoints = doccano.read([path], make_options("dc", offsets="codepoint"))
    assert [as_codepoints.documents[0].text[e.start : e.end] for e in as_codepoints.records[0].entities] == ["im ", "rump."]


def test_older_label_shape_and_problems(tmp_path, make_options):
    rows = [
        {"text": "Berlin ist groß.", "labels": [[0, 6, "LOC"]]},
        {"text": "Paris", "label": [[0, 5, "LOC"], [0, 5, "LOC"]]},
        {"label": [[0, 1, "PER"]]},
        {"text": "gut", "label": ["positive"]},
    ]
    result = doccano.read([write_jsonl(tmp_path / "b.jsonl", rows)], make_options("dc", offsets="codepoint"))
    assert [d.doc_id for d in result.documents] == ["dc-000001", "dc-000002"]
    assert [len(r.entities) for r in result.records] == [1, 1]
    assert sorted(p.kind for p in result.problems) == ["duplicate-entity", "missing-text", "unsupported-labels"]
    assert [p.line for p in result.problems if p.kind == "missing-text"] == [3]


def test_annotators_become_layers_or_one_is_chosen(tmp_path, make_options):
    rows = [
        {
            "id": 1,
            "text": "Anna in Rom",
            "annotations": [
                {"label": 1, "start_offset": 0, "end_offset": 4, "user": 5},
                {"label": 2, "start_offset": 8, "end_offset": 11, "user": 6},
            ],
        },
        {"id": 2, "text": "Rom", "annotations": [{"label": 2, "start_offset": 0, "end_offset": 3, "user": 6}]},
    ]
    mapping = tmp_path / "m.yaml"
    mapping.write_text("entities: {'1': PER, '2': GPE}\n", encoding="utf-8")
    path = write_jsonl(tmp_path / "c.jsonl", rows)
    result = doccano.read([path], make_options("dc", mapping))
    assert {(r.layer, r.doc_id, r.annotator, len(r.entities)) for r in result.records} == {
        ("imported/dc-user-5", "dc-1", "doccano-user-5", 1),
        ("imported/dc-user-6", "dc-1", "doccano-user-6", 1),
        ("imported/dc-user-6", "dc-2", "doccano-user-6", 1),
    }
    chosen = doccano.read([path], make_options("dc", mapping, user="5"))
    assert {(r.layer, r.doc_id, len(r.entities)) for r in chosen.records} == {("imported/dc", "dc-1", 1)}
    assert chosen.stats["skipped_other_users"] == {"6": 2}


def test_pretty_printed_export_and_export_shape(tmp_path, make_options):
    path = tmp_path / "pretty.json"
    path.write_text(
        json.dumps(
            {"text": "Ab 🙂 Cd", "entities": [{"id": 0, "start_offset": 6, "end_offset": 8, "label": "ORG"}], "relations": []}, indent=4
        ),
        encoding="utf-8",
    )
    result = doccano.read([path], make_options("dc"))
    assert [result.documents[0].text[e.start : e.end] for e in result.records[0].entities] == ["Cd"]


# --------------------------------------------------------------------------- the real exports


def sief_expectations(path: Path, mapping: dict) -> tuple[Counter, Counter, int, int, int]:
    """Entities and relations a correct import must produce, computed from the raw export: spans
    read as UTF-16, whitespace stripped, whitespace-only spans and spans across a blank line left
    out, labels mapped; relations kept when both arguments are and the (typed) mapping allows."""
    entities: Counter = Counter()
    relations: Counter = Counter()
    padded = blank = 0
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    for row in rows:
        kept = {}
        for e in row["entities"]:
            label = mapping["entities"][e["label"]]
            span = utf16_slice(row["text"], e["start_offset"], e["end_offset"])
            blank += label is not None and not span.strip()
            if label is None or not span.strip() or re.search(r"\n[ \t\u00a0]*\n", span.strip()):
                continue
            padded += span != span.strip()
            kept[e["id"]] = (span.strip(), label)
            entities[(str(row["id"]), span.strip(), label)] += 1
        for r in row["relations"]:
            if r["from_id"] in kept and r["to_id"] in kept:
                target = mapping["relations"][r["type"]]
                if isinstance(target, dict):
                    target = target.get(f"{kept[r['from_id']][1]}>{kept[r['to_id']][1]}", target.get("*"))
                if target:
                    relations[(str(row["id"]), kept[r["from_id"]][0], kept[r["to_id"]][0], target)] += 1
    return entities, relations, padded, blank, len(rows)


def imported(result) -> tuple[Counter, Counter]:
    texts = {d.doc_id: d.text for d in result.documents}
    entities: Counter = Counter()
    relations: Counter = Counter()
    for record in result.records:
        source_id = record.doc_id.split("-", 1)[1]
        by_id = {e.id: e for e in record.entities}
        text = texts[record.doc_id]
        for e in record.entities:
            entities[(source_id, text[e.start : e.end], e.label)] += 1
        for r in record.relations:
            head, tail = by_id[r.head], by_id[r.tail]
            relations[(source_id, text[head.start : head.end], text[tail.start : tail.end], r.label)] += 1
    return entities, relations


def test_sief_relation_export(external_dir, make_options):
    path = external_dir / "doccano" / "sief-relation-export-60.jsonl"
    mapping = yaml.safe_load((MAPPINGS / "sief.yaml").read_text(encoding="utf-8"))
    expected_entities, expected_relations, padded, blank, documents = sief_expectations(path, mapping)
    result = doccano.read([path], make_options("sief", "sief", strip_whitespace=True))
    assert len(result.documents) == documents == 60
    entities, relations = imported(result)
    assert entities == expected_entities
    assert relations == expected_relations and sum(relations.values()) == 33
    assert result.stats["changed"]["whitespace_stripped"] == padded
    assert result.stats["changed"]["whitespace_only_skipped"] == blank == 1
    assert [p.kind for p in result.errors] == ["entity-crosses-paragraph"]
    assert pipeline_problems(result) == []
    # without --strip-whitespace every padded span is kept and reported as an error
    kept = doccano.read([path], make_options("sief", "sief"))
    assert Counter(p.kind for p in kept.errors) == {"whitespace-span": padded + blank, "entity-crosses-paragraph": 1}


def test_sief_offsets_are_utf16(external_dir, make_options):
    """Read as code points, spans after an emoji shift: the texts no longer match the export."""
    path = external_dir / "doccano" / "sief-relation-export-60.jsonl"
    as_utf16, _ = imported(doccano.read([path], make_options("sief", "sief", strip_whitespace=True)))
    as_codepoints, _ = imported(doccano.read([path], make_options("sief", "sief", strip_whitespace=True, offsets="codepoint")))
    assert as_utf16 != as_codepoints


def test_doccano_example_files(external_dir, make_options):
    folder = external_dir / "doccano"
    relation = doccano.read([folder / "import_tests_data_relation_extraction_example.jsonl"], make_options("ex", "doccano-examples"))
    (record,) = relation.records
    text = relation.documents[0].text
    assert [(text[e.start : e.end], e.label) for e in record.entities] == [
        ("Google", "ORG"),
        ("September 4, 1998", "DATE"),
        ("Larry Page", "PER"),
        ("Sergey Brin", "PER"),
    ]
    assert record.relations == () and relation.stats["dropped_by_mapping"]["relations"] == {"foundedAt": 1, "foundedBy": 2}

    pretty = doccano.read([folder / "export_pipeline_examples_relation_extraction_example.jsonl"], make_options("ex", "doccano-examples"))
    assert [(e.start, e.end, e.label) for e in pretty.records[0].entities] == [(e.start, e.end, e.label) for e in record.entities]

    sequence = doccano.read([folder / "import_tests_data_sequence_labeling_example.jsonl"], make_options("ex", "doccano-examples"))
    assert len(sequence.documents) == 2 and [p.kind for p in sequence.errors] == ["missing-text"]

    overlapping = doccano.read(
        [folder / "import_tests_data_sequence_labeling_example_overlapping.jsonl"], make_options("ex", "doccano-examples")
    )
    assert len(overlapping.records[0].entities) == 1 and overlapping.stats["changed"]["duplicate_entities_merged"] == 1

    rows = [json.loads(line) for line in (folder / "doccano-transformer-labeling.jsonl").read_text(encoding="utf-8").splitlines()]
    per_user = Counter(str(a["user"]) for row in rows for a in row["annotations"])
    users = doccano.read([folder / "doccano-transformer-labeling.jsonl"], make_options("tr", "doccano-examples"))
    assert {r.layer.rsplit("-", 1)[-1]: 0 for r in users.records}.keys() == per_user.keys()
    found = Counter()
    for record in users.records:
        found[record.layer.rsplit("-", 1)[-1]] += len(record.entities)
        text = next(d.text for d in users.documents if d.doc_id == record.doc_id)
        row = next(r for r in rows if f"tr-{r['id']}" == record.doc_id)
        user = record.layer.rsplit("-", 1)[-1]
        assert sorted(text[e.start : e.end] for e in record.entities) == sorted(
            utf16_slice(row["text"], a["start_offset"], a["end_offset"]) for a in row["annotations"] if str(a["user"]) == user
        )
    assert found == per_user


# --------------------------------------------------------------------------- round trip


@settings(max_examples=40, deadline=None)
@given(corpora())
def test_round_trip(make_options, specs):
    corpus = build_corpus(specs)
    for offsets in ("utf16", "codepoint"):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp)
            files = doccano.write(corpus, out, ExportOptions(offsets=offsets))
            assert {f.name for f in files} == {f"{s}.jsonl" for s in corpus.splits}
            result = doccano.read(files, make_options("rt", id_prefix="", offsets=offsets))
            assert_same(corpus, result)


def test_export_writes_utf16_offsets(tmp_path):
    from pipeline.core.spans import Entity

    from .corpus_strategies import DocSpec

    corpus = build_corpus([DocSpec("d", "🙂 Kim", (Entity("T1", 2, 5, "PER", "gold"),), ())])
    (path,) = doccano.write(corpus, tmp_path, ExportOptions())
    line = json.loads(path.read_text(encoding="utf-8"))
    assert line["entities"] == [{"id": 1, "start_offset": 3, "end_offset": 6, "label": "PER"}]
    assert line["meta"]["doc_id"] == "d"
