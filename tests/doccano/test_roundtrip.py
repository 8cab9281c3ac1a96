"""Push → pull against the real doccano server: fidelity, idempotence, updates in place.

The corpus: the seed article with its gold layer, plus 200+ documents built from MobIE and GermEval
texts in ../shared/external and handcrafted texts with emoji, ZWJ, flags, umlauts, ß, CRLF, CR, a
BOM and NFD input (normalised by ingest before push).
"""

from __future__ import annotations

import json

import pytest
from helpers import comparable, read_jsonl, utf16_offset

from pipeline.doccano.cli import load_records
from pipeline.doccano.corpus import read_documents
from pipeline.doccano.pull import layer_path, pull
from pipeline.doccano.push import push
from pipeline.io.schemas import load_label_schema

pytestmark = pytest.mark.doccano


@pytest.fixture(scope="module")
def pushed(roundtrip_workspace, admin_session, projects):
    root, config, _docs = roundtrip_workspace
    schema = load_label_schema(config.schemas.labels)
    documents = read_documents(config.ingest.out_dir)
    records = load_records(config.for_stage("doccano"), ["gold"], documents, schema)
    project = projects("roundtrip")
    report = push(admin_session, project=project, documents=documents, records=records, schema=schema)
    return {
        "root": root,
        "config": config,
        "schema": schema,
        "documents": documents,
        "records": records,
        "project": project,
        "report": report,
    }


def _gold(pushed) -> dict[str, dict]:
    gold = {}
    for path in sorted((pushed["config"].annotate.annotations_dir / "gold").glob("*.jsonl")):
        for record in read_jsonl(path):
            gold[record["doc_id"]] = record
    return gold


def test_push_uploads_every_document_once(pushed, admin_session):
    report, documents = pushed["report"], pushed["documents"]
    assert len(documents) >= 200
    assert report.project_created and report.created == len(documents) and report.updated == 0
    info = admin_session.require_project(pushed["project"])
    assert info["use_relation"] and not info["grapheme_mode"] and not info["collaborative_annotation"]
    assert info["allow_overlapping"]  # the label schema allows nested spans
    examples = admin_session.list_examples(info["id"])
    assert len(examples) == len(documents)
    texts = {d.doc_id: d for d in documents}
    for example in examples:
        meta = example["meta"]
        document = texts[meta["doc_id"]]
        assert example["text"] == document.text  # UTF-8 arrived intact: no mojibake
        assert meta["text_sha256"] == document.text_sha256
        assert set(meta) == {"doc_id", "text_sha256", "corpus_ids"}
    schema = pushed["schema"]
    assert set(admin_session.label_types(info["id"], "span")) == set(schema.entity_types)
    assert set(admin_session.label_types(info["id"], "relation")) == set(schema.relation_names)


def test_spans_sit_on_the_right_characters_in_the_editor_after_an_emoji(pushed, admin_session):
    """The editor slices the text in UTF-16 units; every span must show exactly its surface there."""
    info = admin_session.require_project(pushed["project"])
    example = next(e for e in admin_session.list_examples(info["id"]) if e["meta"]["doc_id"] == "hand-emoji")
    text = example["text"]
    units = text.encode("utf-16-le")
    spans = admin_session.client.list_spans(info["id"], example["id"])
    shown = sorted(units[2 * s.start_offset : 2 * s.end_offset].decode("utf-16-le") for s in spans)
    assert shown == sorted(["Angela Merkel", "Emmanuel Macron", "Straßburg"])
    macron = text.index("Emmanuel")
    # 😀 and the two regional indicators of 🇫🇷 each take two UTF-16 units: three more than code points
    assert any(s.start_offset == utf16_offset(text, macron) == macron + 3 for s in spans)


def test_round_trip_without_edits_gives_back_exactly_what_was_pushed(pushed, admin_session, tmp_path):
    report = pull(admin_session, project=pushed["project"], schema=pushed["schema"], out_dir=tmp_path, confirmed_only=False)
    assert not report.skipped, [s.format() for s in report.skipped]
    layer = layer_path(tmp_path, admin_session.username, pushed["project"])
    pulled = {r["doc_id"]: r for r in read_jsonl(layer)}
    gold = _gold(pushed)
    assert sorted(pulled) == sorted(gold)
    mismatches = [doc_id for doc_id in gold if comparable(pulled[doc_id]) != comparable(gold[doc_id])]
    assert not mismatches, mismatches[:5]
    for record in pulled.values():
        assert record["source"] == f"annotator:{admin_session.username}" and record["annotator"] == admin_session.username
    assert sum(len(r["relations"]) for r in pulled.values()) > 100
    assert sum(len(r["entities"]) for r in pulled.values()) == sum(len(r["entities"]) for r in gold.values())


def test_pulled_layer_is_valid_for_the_annotate_stage(pushed, admin_session, tmp_path):
    from pipeline.core.checks import DocumentInfo, check_record
    from pipeline.core.problems import Severity
    from pipeline.io.layers import read_layers
    from pipeline.io.schemas import load_json_schema

    pull(admin_session, project=pushed["project"], schema=pushed["schema"], out_dir=tmp_path, confirmed_only=False)
    records, problems = read_layers(tmp_path, load_json_schema(pushed["config"].schemas.annotation))
    assert not problems and records
    assert {r.layer for r in records} == {f"annotators/{admin_session.username}/{pushed['project']}"}
    docs = {d.doc_id: d for d in pushed["documents"]}
    for record in records:
        document = docs[record.doc_id]
        info = DocumentInfo(document.doc_id, document.text, document.text_sha256, "x", None)
        assert [p.format() for p in check_record(record, info, pushed["schema"], Severity.ERROR)] == []


def test_pushing_twice_changes_nothing(pushed, admin_session):
    info = admin_session.require_project(pushed["project"])
    labels_before = (admin_session.label_types(info["id"], "span"), admin_session.label_types(info["id"], "relation"))
    report = push(
        admin_session, project=pushed["project"], documents=pushed["documents"], records=pushed["records"], schema=pushed["schema"]
    )
    assert (report.created, report.updated, report.unchanged) == (0, 0, len(pushed["documents"]))
    assert not report.project_created and not report.labels_created and not report.settings_updated
    assert len(admin_session.list_examples(info["id"])) == len(pushed["documents"])
    assert (admin_session.label_types(info["id"], "span"), admin_session.label_types(info["id"], "relation")) == labels_before


def test_pulling_twice_changes_no_file(pushed, admin_session, tmp_path):
    first = pull(admin_session, project=pushed["project"], schema=pushed["schema"], out_dir=tmp_path, confirmed_only=False)
    snapshot = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    mtimes = {p: p.stat().st_mtime_ns for p in snapshot}
    second = pull(admin_session, project=pushed["project"], schema=pushed["schema"], out_dir=tmp_path, confirmed_only=False)
    assert first.written and not second.written and second.unchanged == first.written
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == snapshot
    assert {p: p.stat().st_mtime_ns for p in snapshot} == mtimes


def test_confirmed_only_pulls_nothing_nobody_confirmed(pushed, admin_session, tmp_path):
    report = pull(admin_session, project=pushed["project"], schema=pushed["schema"], out_dir=tmp_path, confirmed_only=True)
    assert report.records == {admin_session.username: 0}
    assert not list(tmp_path.rglob("*.jsonl"))


def test_a_changed_gold_record_is_updated_in_place(pushed, admin_session, tmp_path):
    from pipeline.core.spans import record_from_json

    records = dict(pushed["records"])
    original = records["hand-zwj"]
    data = json.loads(json.dumps(original.to_json()))
    data["entities"][0]["label"] = "LOC"  # Köln: GPE → LOC
    data["entities"] = data["entities"][:2]  # drop "Deutschen Bahn"
    data["relations"] = [r for r in data["relations"] if {r["head"], r["tail"]} <= {e["id"] for e in data["entities"]}]
    records["hand-zwj"] = record_from_json(data, layer="gold", path="changed", line=1)
    try:
        report = push(admin_session, project=pushed["project"], documents=pushed["documents"], records=records, schema=pushed["schema"])
        assert (report.created, report.updated) == (0, 1)
        pull(admin_session, project=pushed["project"], schema=pushed["schema"], out_dir=tmp_path, confirmed_only=False)
        pulled = {r["doc_id"]: r for r in read_jsonl(layer_path(tmp_path, admin_session.username, pushed["project"]))}
        assert comparable(pulled["hand-zwj"]) == comparable({**data, "relations": data["relations"]})
        info = admin_session.require_project(pushed["project"])
        assert len(admin_session.list_examples(info["id"])) == len(pushed["documents"])
    finally:
        restored = push(
            admin_session, project=pushed["project"], documents=pushed["documents"], records=pushed["records"], schema=pushed["schema"]
        )
        assert restored.updated == 1
