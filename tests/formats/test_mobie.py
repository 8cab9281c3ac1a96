"""MobIE / SmartData JSON: the real dev set, the n-ary → binary rule, missing argument ids."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from pathlib import Path

import pytest
import yaml

from pipeline.formats import ImportFailed, mobie

from .corpus_strategies import pipeline_problems

REPO = Path(__file__).resolve().parents[2]


def utf16_slice(text: str, start: int, end: int) -> str:
    return text.encode("utf-16-le")[2 * start : 2 * end].decode("utf-16-le")


def load(path: Path) -> list[dict]:
    return [json.loads(line) for line in gzip.decompress(path.read_bytes()).decode("utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def dev(external_dir) -> tuple[Path, list[dict]]:
    path = external_dir / "mobie-dev.jsonl.gz"
    return path, load(path)


def texts_by_label(result) -> Counter:
    texts = {d.doc_id: d.text for d in result.documents}
    return Counter((r.doc_id, texts[r.doc_id][e.start : e.end], e.label) for r in result.records for e in r.entities)


def test_dev_set_into_our_schema(dev, make_options):
    path, docs = dev
    mapping = yaml.safe_load((REPO / "schemas/mappings/mobie.yaml").read_text(encoding="utf-8"))["entities"]
    expected = Counter()
    dropped = Counter()
    for index, doc in enumerate(docs):
        for concept in doc["conceptMentions"]:
            label = mapping[concept["type"]]
            span = utf16_slice(doc["text"], concept["span"]["start"], concept["span"]["end"])
            if label is None:
                dropped[concept["type"]] += 1
            else:
                expected[(index, span, label)] += 1
    binary = sum(len(m["args"]) - 1 for d in docs for m in d["relationMentions"] if sum(a["role"] == "trigger" for a in m["args"]) == 1)

    result = mobie.read([path], make_options("mobie-dev", "mobie"))
    assert len(result.documents) == len(docs) == 494
    assert [d.text for d in result.documents] == [d["text"] for d in docs]  # already NFC, LF-only
    assert result.documents[0].doc_id == f"mobie-dev-{docs[0]['id']}"
    index_of = {d.doc_id: i for i, d in enumerate(result.documents)}
    found = Counter()
    for (doc_id, span, label), count in texts_by_label(result).items():
        found[(index_of[doc_id], span, label)] += count
    assert found == expected and sum(found.values()) == 1975
    assert result.stats["dropped_by_mapping"]["entities"] == dict(dropped)
    # every binary relation has the trigger as head, and triggers map to null: all dropped, counted
    assert sum(len(r.relations) for r in result.records) == 0
    assert sum(result.stats["dropped_by_mapping"]["relations_with_dropped_argument"].values()) == binary == 525
    assert not result.errors
    assert pipeline_problems(result) == []


def test_nary_relations_are_kept_whole(dev, make_options):
    path, docs = dev
    result = mobie.read([path], make_options("mobie-dev", "mobie"))
    rows = result.extras["nary_relations"]
    mentions = [m for d in docs for m in d["relationMentions"]]
    assert len(rows) == len(mentions) == 228
    texts = {d.doc_id: d.text for d in result.documents}
    source = {m["id"]: (d["text"], m) for d in docs for m in d["relationMentions"]}
    for row in rows:
        text, mention = source[row["id"]]
        assert row["name"] == mention["name"]
        assert [a["role"] for a in row["args"]] == [a["role"] for a in mention["args"]]
        for arg, raw in zip(row["args"], mention["args"], strict=True):
            span = raw["conceptMention"]["span"]
            assert arg["text"] == texts[row["doc_id"]][arg["start"] : arg["end"]] == utf16_slice(text, span["start"], span["end"])
    linked = [a for row in rows for a in row["args"] if a["entity_id"]]
    assert linked and all(a["type"] not in ("trigger", "time") for a in linked)


def native_mapping(tmp_path: Path, docs: list[dict]) -> Path:
    """A label schema of MobIE's own types and roles, and the identity-like mapping onto it."""
    types = sorted({c["type"] for d in docs for c in d["conceptMentions"]})
    roles = sorted({a["role"] for d in docs for m in d["relationMentions"] for a in m["args"]} - {"trigger"})
    upper = {t: t.upper().replace("-", "_") for t in types}
    schema = {
        "schema_version": "1.0.0",
        "overlap": "any",
        "entity_types": {u: {"description": t} for t, u in upper.items()},
        "relation_types": {r: {"description": r, "head": sorted(upper.values()), "tail": sorted(upper.values())} for r in roles},
    }
    (tmp_path / "labels-mobie.yaml").write_text(yaml.safe_dump(schema), encoding="utf-8")
    (tmp_path / "labels.schema.json").write_text((REPO / "schemas/labels.schema.json").read_text(encoding="utf-8"), encoding="utf-8")
    mapping = {"label_schema": str(tmp_path / "labels-mobie.yaml"), "entities": upper, "relations": {r: r for r in roles}}
    (tmp_path / "native.yaml").write_text(yaml.safe_dump(mapping, allow_unicode=True), encoding="utf-8")
    return tmp_path / "native.yaml"


def test_trigger_to_arguments_rule_on_a_native_schema(dev, tmp_path, make_options):
    path, docs = dev
    result = mobie.read([path], make_options("mobie-native", native_mapping(tmp_path, docs)))
    expected = set()
    binary = 0
    for index, doc in enumerate(docs):
        for mention in doc["relationMentions"]:
            triggers = [a for a in mention["args"] if a["role"] == "trigger"]
            if len(triggers) != 1:
                continue
            trigger = triggers[0]["conceptMention"]["span"]
            for arg in mention["args"]:
                if arg["role"] != "trigger":
                    span = arg["conceptMention"]["span"]
                    binary += 1
                    expected.add(
                        (
                            index,
                            trigger["start"],
                            utf16_slice(doc["text"], trigger["start"], trigger["end"]),
                            span["start"],
                            utf16_slice(doc["text"], span["start"], span["end"]),
                            arg["role"],
                        )
                    )
    found = Counter()
    index_of = {d.doc_id: i for i, d in enumerate(result.documents)}
    texts = {d.doc_id: d.text for d in result.documents}
    for record in result.records:
        by_id = {e.id: e for e in record.entities}
        text = texts[record.doc_id]
        to_utf16 = lambda offset, text=text: len(text[:offset].encode("utf-16-le")) // 2  # noqa: E731
        for relation in record.relations:
            head, tail = by_id[relation.head], by_id[relation.tail]
            found[
                (
                    index_of[record.doc_id],
                    to_utf16(head.start),
                    text[head.start : head.end],
                    to_utf16(tail.start),
                    text[tail.start : tail.end],
                    relation.label,
                )
            ] += 1
    # one relation per (trigger, argument, role): events sharing them repeat it, and repeats are merged (reported)
    assert set(found) == expected and max(found.values()) == 1
    assert binary == 525 and sum(found.values()) == len(expected)
    assert sum(len(r.entities) for r in result.records) == sum(len(d["conceptMentions"]) for d in docs) == 2766
    assert Counter(p.kind for p in result.problems) == {"no-single-trigger": 4, "duplicate-relation-merged": binary - len(expected)}


def test_missing_argument_ids_are_matched_by_span_and_type_or_reported(tmp_path, make_options):
    concept = lambda cid, start, end, kind: {"id": cid, "span": {"start": start, "end": end}, "type": kind}  # noqa: E731
    doc = {
        "id": "x/1",
        "text": "Unfall auf der A9 bei München",
        "conceptMentions": [
            concept("c1", 0, 6, "trigger"),
            concept("c2", 15, 17, "location-street"),
            concept("c3", 22, 29, "location-city"),
        ],
        "relationMentions": [
            {
                "id": "r1",
                "name": "Accident",
                "args": [
                    {"role": "trigger", "conceptMention": concept("c1", 0, 6, "trigger")},
                    {"role": "location", "conceptMention": concept("gone", 15, 17, "location-street")},
                    {"role": "location", "conceptMention": concept("lost", 22, 29, "location-street")},
                ],
            }
        ],
    }
    path = tmp_path / "one.jsonl"
    path.write_text(json.dumps(doc) + "\n", encoding="utf-8")
    mapping = tmp_path / "m.yaml"
    mapping.write_text(
        "entities: {trigger: EVENT, location-street: LOC, location-city: GPE}\nrelations: {location: located_in}\n",
        encoding="utf-8",
    )
    result = mobie.read([path], make_options("m", mapping))
    assert sorted(p.kind for p in result.problems) == ["argument-matched-by-span", "unmatched-argument"]
    (record,) = result.records
    assert result.documents[0].doc_id == "m-x_1"
    by_id = {e.id: e for e in record.entities}
    assert [
        (by_id[r.head].label, result.documents[0].text[by_id[r.tail].start : by_id[r.tail].end], r.label) for r in record.relations
    ] == [("EVENT", "A9", "located_in")]
    (row,) = result.extras["nary_relations"]
    assert [a["entity_id"] for a in row["args"]] == ["c1", "c2", None]


def test_unknown_rule_is_refused(tmp_path, make_options):
    mapping = tmp_path / "m.yaml"
    mapping.write_text("entities: {}\noptions: {nary: {rule: all-pairs}}\n", encoding="utf-8")
    path = tmp_path / "empty.jsonl"
    path.write_text("", encoding="utf-8")
    with pytest.raises(ImportFailed, match="all-pairs"):
        mobie.read([path], make_options("m", mapping))


# --------------------------------------------------------------------------- SmartData: Avro JSON encoding, nesting


def smartdata_upper(doc: dict) -> dict:
    """A MobIE document as SmartData v3 spells its types (LOCATION_CITY), with the schema's required ``raw``."""

    def upper(concept: dict) -> dict:
        return {**concept, "type": concept["type"].upper().replace("-", "_")}

    relations = [
        {**m, "args": [{**a, "conceptMention": upper(a["conceptMention"])} for a in m["args"]]} for m in doc["relationMentions"] or []
    ]
    return {**doc, "raw": doc["text"], "conceptMentions": [upper(c) for c in doc["conceptMentions"]], "relationMentions": relations}


def test_smartdata_avro_json_encoding_imports_like_the_plain_jsonl(dev, tmp_path, make_options, external_dir):
    """MobIE dev re-encoded per mobie-document.avsc (union values wrapped, pretty-printed over many
    lines, blank lines between objects, upper-case types) imports as the plain JSONL does."""
    from pipeline.formats.avro_json import AvroRecordType

    path, docs = dev
    avsc = external_dir / "mobie-document.avsc"
    document = AvroRecordType(avsc, "Document")
    encoded = [json.loads(document.encode(smartdata_upper(doc))) for doc in docs[:60]]
    assert encoded[0]["text"] == {"string": docs[0]["text"]} and encoded[0]["conceptMentions"]["array"][0]["type"].isupper()
    smartdata = tmp_path / "smartdata.json"
    smartdata.write_text("\n\n".join(json.dumps(e, indent=2, ensure_ascii=False) for e in encoded) + "\n", encoding="utf-8")
    plain = mobie.read([path], make_options("m", "mobie", limit=60))
    avro = mobie.read([smartdata], make_options("m", "mobie", avro_schema=avsc))
    assert avro.stats["encodings"] == {"avro-json": 60} and plain.stats["encodings"] == {"plain": 60}
    assert [d.text for d in avro.documents] == [d.text for d in plain.documents]
    assert texts_by_label(avro) == texts_by_label(plain)
    assert avro.stats["levels"] == plain.stats["levels"]
    assert [p.format().replace(str(smartdata.name), "") for p in avro.problems if p.kind != "no-single-trigger"] == []


def test_a_wrapped_text_without_the_schema_is_reported_with_the_option_to_pass(tmp_path, make_options):
    path = tmp_path / "one.json"
    path.write_text('{"id": "1", "raw": "x", "text": {"string": "Stau in Berlin"}}\n', encoding="utf-8")
    result = mobie.read([path], make_options("m", "mobie"))
    (problem,) = result.problems
    assert problem.kind == "missing-text" and "--avro-schema" in problem.message


NESTED = {
    "id": "n1",
    "text": "Stau am S-Bahnhof Berlin Alexanderplatz Richtung Berlin Ostkreuz.",
    "conceptMentions": [
        {"id": "c1", "span": {"start": 8, "end": 39}, "type": "location-stop"},  # S-Bahnhof Berlin Alexanderplatz
        {"id": "c2", "span": {"start": 18, "end": 24}, "type": "location-city"},  # Berlin, inside it
        {"id": "c3", "span": {"start": 49, "end": 64}, "type": "LOCATION_STOP"},  # Berlin Ostkreuz (SmartData spelling)
        {"id": "c4", "span": {"start": 49, "end": 55}, "type": "LOCATION_CITY"},
    ],
    "relationMentions": [],
}


def test_nested_location_spans_import_into_one_record_without_errors(tmp_path, make_options):
    path = tmp_path / "nested.jsonl"
    path.write_text(json.dumps(NESTED) + "\n", encoding="utf-8")
    result = mobie.read([path], make_options("m", "mobie"))
    assert result.problems == [] and result.layers == ["imported/m"]
    (record,) = result.records
    text = result.documents[0].text
    assert [(text[e.start : e.end], e.label) for e in record.entities] == [
        ("S-Bahnhof Berlin Alexanderplatz", "LOC"),
        ("Berlin", "GPE"),
        ("Berlin", "GPE"),
        ("Berlin Ostkreuz", "LOC"),
    ]
    assert result.stats["levels"]["1"] == {"location-city": {"source": 2, "published": 2, "dropped": {}}}
    assert pipeline_problems(result) == []  # annotate accepts it: nested spans are allowed


def test_crossing_spans_follow_the_overlap_policy(tmp_path, make_options):
    text = "Alpha Beta Gamma Delta"
    concepts = [
        {"id": "a", "span": {"start": 0, "end": 10}, "type": "location"},  # Alpha Beta
        {"id": "b", "span": {"start": 6, "end": 22}, "type": "location"},  # Beta Gamma Delta: crosses a, longer
        {"id": "c", "span": {"start": 11, "end": 16}, "type": "location-city"},  # Gamma: nested in b
    ]
    path = tmp_path / "crossing.jsonl"
    path.write_text(json.dumps({"id": "x", "text": text, "conceptMentions": concepts, "relationMentions": []}) + "\n", encoding="utf-8")
    error = mobie.read([path], make_options("m", "mobie"))
    assert [p.message for p in error.errors] == [
        "entity b [6, 22) overlaps entity a [0, 10); the label schema allows overlap: nested; "
        "kept: validate rejects it (or import with --overlaps keep-longest|keep-first)"
    ]
    longest = mobie.read([path], make_options("m", "mobie", overlaps="keep-longest"))
    assert not longest.errors and [p.kind for p in longest.problems] == ["overlap-resolved"]
    assert longest.problems[0].message.endswith("; entity a is dropped (--overlaps keep-longest)")
    assert sorted(e.id for e in longest.records[0].entities) == ["b", "c"]
    assert longest.stats["overlaps_resolved"] == {"LOC": 1}
    assert longest.stats["levels"]["0"]["location"] == {"source": 2, "published": 1, "dropped": {"overlap-policy": 1}}
    first = mobie.read([path], make_options("m", "mobie", overlaps="keep-first"))
    assert sorted(e.id for e in first.records[0].entities) == ["a", "c"]
    assert pipeline_problems(first) == [] and pipeline_problems(longest) == []
