"""A second user's edits in doccano, made with the offsets the web editor sends (UTF-16 units), come back
as their own annotation layer in code points, and `dvc repro` publishes them.

Also: pre-annotations pushed as suggestions into an annotator's own account fill in, never overwrite.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from helpers import REPO, read_jsonl, repo_conftest, utf16_offset

from pipeline.core.text import normalise_text, text_sha256
from pipeline.doccano.corpus import read_documents
from pipeline.doccano.push import push
from pipeline.doccano.session import Credentials, Session, connect

pytestmark = [pytest.mark.doccano, pytest.mark.e2e]

DOC_ID = "edit-emoji"
RAW = "Heute 😀 trafen sich Angela Merkel und 🇺🇸 Joe Biden in Berlin 🐻.\r\nDie Nato 🛡️ tagte in Brüssel, sagte Sprecher Jens Stoltenberg."
TEXT = normalise_text(RAW)


def span(surface: str, label: str) -> tuple[int, int, str]:
    start = TEXT.index(surface)
    return start, start + len(surface), label


EXPECTED_ENTITIES = sorted(
    [
        span("Angela Merkel", "PER"),
        span("Joe Biden", "PER"),
        span("Berlin", "GPE"),
        span("Nato", "ORG"),
        span("Brüssel", "GPE"),
        span("Jens Stoltenberg", "PER"),
    ]
)
EXPECTED_RELATIONS = sorted(
    [
        ("Angela Merkel", "meets", "Joe Biden"),
        ("Angela Merkel", "located_in", "Berlin"),
        ("Jens Stoltenberg", "works_for", "Nato"),
        ("Nato", "located_in", "Brüssel"),
    ]
)


def edit_as_second_user(session: Session, project_id: int, example: dict) -> None:
    """What an annotator does in the browser: draw, relabel, resize, delete spans and relations.

    Every offset is computed the way the editor counts: UTF-16 code units of the example text.
    """
    c = session.client
    text = example["text"]
    spans = {name: t.id for name, t in ((t.text, t) for t in c.list_label_types(project_id, "span"))}
    relations = {name: t.id for name, t in ((t.text, t) for t in c.list_label_types(project_id, "relation"))}

    def draw(surface: str, label: str) -> int:
        start = text.index(surface)
        made = c.create_span(
            project_id, example["id"], utf16_offset(text, start), utf16_offset(text, start + len(surface)), label=spans[label]
        )
        return made.id

    merkel, biden, berlin = draw("Angela Merkel", "PER"), draw("Joe Biden", "PER"), draw("Berlin", "GPE")
    nato, bruessel, jens, heute = draw("Nato", "ORG"), draw("Brüssel", "LOC"), draw("Jens", "PER"), draw("Heute", "DATE")
    c.create_relation(project_id, example["id"], merkel, biden, label=relations["meets"])
    moved = c.create_relation(project_id, example["id"], biden, berlin, label=relations["located_in"])
    c.create_relation(project_id, example["id"], jens, nato, label=relations["works_for"])
    c.create_relation(project_id, example["id"], nato, bruessel, label=relations["located_in"])
    wrong = c.create_relation(project_id, example["id"], merkel, nato, label=relations["head_of"])
    # change: relabel Brüssel LOC → GPE, widen "Jens" to "Jens Stoltenberg", move a relation's head
    start = text.index("Brüssel")
    c.update_span(
        project_id, example["id"], bruessel, utf16_offset(text, start), utf16_offset(text, start + len("Brüssel")), label=spans["GPE"]
    )
    start = text.index("Jens Stoltenberg")
    c.update_span(
        project_id, example["id"], jens, utf16_offset(text, start), utf16_offset(text, start + len("Jens Stoltenberg")), label=spans["PER"]
    )
    c.update_relation(project_id, example["id"], moved.id, from_id=merkel, to_id=berlin, label=relations["located_in"])
    # delete: a span and a relation
    c.delete_relation(project_id, example["id"], wrong.id)
    c.delete_span(project_id, example["id"], heute)
    c.update_example_state(project_id, example["id"])  # confirm: the annotator is done


def test_second_user_edits_come_back_in_code_points_and_dvc_repro_publishes_them(
    doccano_env, admin_session, projects, make_user, tmp_path: Path
):
    helpers_conftest = repo_conftest()
    repo = helpers_conftest.copy_repo(tmp_path / "repo")
    if not (repo / "corpus" / "patterns").exists():
        shutil.copytree(REPO / "corpus" / "patterns", repo / "corpus" / "patterns")
    (repo / "seeds" / "edit.jsonl").write_text(json.dumps({"id": DOC_ID, "text": RAW}, ensure_ascii=False) + "\n", encoding="utf-8")
    run = helpers_conftest.run
    run(["python", "-m", "pipeline", "ingest"], repo, check=True)
    project = projects("edits")
    pushed = run(["python", "-m", "pipeline", "doccano", "push", "--project", project], repo, check=True)
    assert "2 uploaded" in pushed.stdout, pushed.stdout

    username, password = make_user("anna")
    info = admin_session.require_project(project)
    admin_session.client.add_member(info["id"], username, "annotator")
    anna = connect(doccano_env.url, Credentials(username, password, "test"))
    example = next(e for e in anna.list_examples(info["id"]) if e["meta"]["doc_id"] == DOC_ID)
    assert example["text"] == TEXT  # CRLF became LF before the push
    edit_as_second_user(anna, info["id"], example)

    pulled = run(["python", "-m", "pipeline", "doccano", "pull", "--project", project], repo, check=True)
    layer = repo / "corpus" / "annotations" / "annotators" / username / project / f"{project}.jsonl"
    assert f"wrote corpus/annotations/annotators/{username}/{project}/{project}.jsonl" in pulled.stdout, pulled.stdout
    # only anna confirmed anything: the admin's (pushed) labels are not pulled with --confirmed-only
    annotations = repo / "corpus" / "annotations"
    assert {p.relative_to(annotations).as_posix() for p in annotations.rglob("*.jsonl")} == {
        "gold/seed.jsonl",
        f"annotators/{username}/{project}/{project}.jsonl",
    }
    records = read_jsonl(layer)
    assert len(records) == 1
    record = records[0]
    assert (record["doc_id"], record["text_sha256"], record["source"], record["annotator"]) == (
        DOC_ID,
        text_sha256(TEXT),
        f"annotator:{username}",
        username,
    )
    assert sorted((e["start"], e["end"], e["label"]) for e in record["entities"]) == EXPECTED_ENTITIES
    assert all(e["text"] == TEXT[e["start"] : e["end"]] for e in record["entities"])
    by_id = {e["id"]: e["text"] for e in record["entities"]}
    assert sorted((by_id[r["head"]], r["label"], by_id[r["tail"]]) for r in record["relations"]) == EXPECTED_RELATIONS

    before = layer.read_bytes()
    again = run(["python", "-m", "pipeline", "doccano", "pull", "--project", project], repo, check=True)
    assert "0 file(s) written" in again.stdout and layer.read_bytes() == before

    # Adjudication knob: let annotator layers win over gold for the documents they annotate.
    params_file = repo / "params.yaml"
    params = yaml.safe_load(params_file.read_text(encoding="utf-8"))
    params["annotate"]["layer_priority"] = ["annotators/*", "gold", "imported/*", "*"]
    params_file.write_text(yaml.safe_dump(params, allow_unicode=True, sort_keys=False), encoding="utf-8")
    repro = run(["dvc", "repro"], repo)
    assert repro.returncode == 0, repro.stdout[-3000:] + repro.stderr[-3000:]

    entities = pq.read_table(repo / "corpus" / "published" / "entities").to_pylist()
    published = sorted((e["start"], e["end"], e["label"]) for e in entities if e["doc_id"] == DOC_ID)
    assert published == EXPECTED_ENTITIES
    assert {(e["source"], e["layer"]) for e in entities if e["doc_id"] == DOC_ID} == {
        (f"annotator:{username}", f"annotators/{username}/{project}")
    }
    relations = pq.read_table(repo / "corpus" / "published" / "relations").to_pylist()
    texts = {e["ent_id"]: e["text"] for e in entities if e["doc_id"] == DOC_ID}
    assert sorted((texts[r["head"]], r["label"], texts[r["tail"]]) for r in relations if r["doc_id"] == DOC_ID) == EXPECTED_RELATIONS
    documents = pq.read_table(repo / "corpus" / "published" / "documents").to_pylist()
    assert next(d["text"] for d in documents if d["doc_id"] == DOC_ID) == TEXT


def test_suggestions_fill_an_annotators_empty_examples_and_never_overwrite(
    small_workspace, admin_session, projects, make_user, doccano_server, tmp_path
):
    from pipeline.doccano.cli import load_records
    from pipeline.io.schemas import load_label_schema
    from pipeline.stages import preannotate

    _root, config, _ = small_workspace
    config = replace(config, preannotate=replace(config.preannotate, documents="all", out_dir=tmp_path / "preannotations", external={}))
    preannotate.run(config.for_stage("preannotate"))
    schema = load_label_schema(config.schemas.labels)
    documents = read_documents(config.ingest.out_dir)
    proposals = load_records(config.for_stage("doccano"), ["preannotations"], documents, schema)
    assert proposals and all(r.source == "preannotation:gazetteer" for r in proposals.values())

    project = projects("suggest")
    gold = load_records(config.for_stage("doccano"), ["gold"], documents, schema)
    push(admin_session, project=project, documents=documents, records=gold, schema=schema)
    username, password = make_user("ben")
    info = admin_session.require_project(project)
    admin_session.client.add_member(info["id"], username, "annotator")
    ben = connect(doccano_server.url, Credentials(username, password, "test"))

    with_labels = sum(1 for r in proposals.values() if r.entities)
    first = push(ben, project=project, documents=documents, records=proposals, schema=schema, suggestions=True)
    assert (first.created, first.updated, first.kept) == (0, with_labels, 0)
    second = push(ben, project=project, documents=documents, records=proposals, schema=schema, suggestions=True)
    assert (second.updated, second.kept) == (0, with_labels)
    # ben's own labels are the proposals; the admin's gold labels are untouched
    example = next(e for e in ben.list_examples(info["id"]) if e["meta"]["doc_id"] == "hand-emoji")
    ben_spans = {(s.start_offset, s.end_offset) for s in ben.client.list_spans(info["id"], example["id"])}
    text = example["text"]
    expected = {(utf16_offset(text, e.start), utf16_offset(text, e.end)) for e in proposals["hand-emoji"].entities}
    assert ben_spans == expected
    admin_spans = admin_session.client.list_spans(info["id"], example["id"])
    assert len(admin_spans) == len(gold["hand-emoji"].entities)
