"""A team in doccano: 30 documents assigned to three annotators with 20 % overlap, annotated through
the API as the browser would, pulled, published, and counted by ``doccano status`` (issue 15).

Also the pure assignment plan: deterministic, balanced, overlap by hash of doc_id.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from helpers import Doc, utf16_offset, write_workspace
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.doccano.assign import annotator_project, plan
from pipeline.doccano.pull import layer_path
from pipeline.doccano.session import Credentials, connect
from pipeline.stages.__main__ import run_stage

NAMES = ["Angela Merkel", "Olaf Scholz", "Annalena Baerbock", "Robert Habeck", "Christian Lindner", "Markus Söder"]
CITIES = ["Berlin", "München", "Köln", "Hamburg", "Leipzig", "Dresden", "Bonn", "Kiel"]


def invoke(*args: str):
    return CliRunner().invoke(app, ["doccano", *args], catch_exceptions=False)


# --------------------------------------------------------------------------- the plan (pure)


def test_plan_is_deterministic_balanced_and_overlaps_by_hash():
    doc_ids = [f"doc-{i:03d}" for i in range(30)]
    first = plan(doc_ids, ["anna", "ben", "cara"], 0.2, 2)
    assert first == plan(list(reversed(doc_ids)), ["anna", "ben", "cara"], 0.2, 2)
    assert set(first) == set(doc_ids)
    assert Counter(len(names) for names in first.values()) == {1: 24, 2: 6}
    load = Counter(name for names in first.values() for name in names)
    assert load == {"anna": 12, "ben": 12, "cara": 12}
    everyone = plan(doc_ids, ["anna", "ben", "cara"], 0.2, 3)
    assert Counter(len(names) for names in everyone.values()) == {1: 24, 3: 6}


def test_plan_keeps_existing_assignments_and_balances_new_documents():
    existing = {"anna": ["a", "b", "c"], "ben": [], "cara": ["d"]}
    added = plan(["a", "b", "c", "d", "e", "f", "g"], ["anna", "ben", "cara"], 0.0, 2, existing)
    assert set(added) == {"e", "f", "g"}  # a-d stay where they are
    load = Counter(name for names in added.values() for name in names)
    assert load == {"ben": 2, "cara": 1}


def test_plan_refuses_bad_input():
    with pytest.raises(ValueError, match="named twice"):
        plan(["a"], ["anna", "anna"], 0.2, 2)
    with pytest.raises(ValueError, match="between 0 and 1"):
        plan(["a"], ["anna", "ben"], 1.5, 2)
    with pytest.raises(ValueError, match="2 to 2 annotators, not 3"):
        plan(["a"], ["anna", "ben"], 0.5, 3)


# --------------------------------------------------------------------------- the team, end to end


def thirty_documents() -> list[Doc]:
    docs = []
    for i in range(30):
        name, city = NAMES[i % len(NAMES)], CITIES[i % len(CITIES)]
        text = f"Meldung {i} 📰: {name} besucht heute {city} und spricht dort mit Vertretern der Presse."
        start = text.index(name)
        docs.append(Doc(f"team-{i:02d}", text, [(start, start + len(name), "PER")]))
    return docs


@pytest.mark.doccano
def test_three_annotators_assigned_annotate_pull_publish_and_status(
    doccano_env, admin_session, projects, make_user, tmp_path: Path, monkeypatch
):
    docs = thirty_documents()
    config = write_workspace(tmp_path, docs, with_repo_seed=False)
    monkeypatch.chdir(tmp_path)  # the stages write their reports relative to the working directory
    (tmp_path / "corpus" / "annotations" / "gold" / "roundtrip.jsonl").unlink()  # the annotators' work is what gets published
    params = str(tmp_path / "params.yaml")
    project = projects("team")
    users = {prefix: make_user(prefix) for prefix in ("anna", "ben", "cara")}
    names = [users[p][0] for p in ("anna", "ben", "cara")]
    for name in names:  # the per-annotator projects are deleted after the test, like every pytest- project
        projects.register(annotator_project(project, name))

    result = invoke("assign", "--project", project, "--annotators", ",".join(names), "--overlap", "0.2", "--params", params)
    assert result.exit_code == 0, result.output
    expected = plan([d.doc_id for d in docs], names, 0.2, 2)
    assert "6 new document(s) to several annotators" in result.stdout
    again = invoke("assign", "--project", project, "--annotators", ",".join(names), "--overlap", "0.2", "--params", params)
    assert again.exit_code == 0 and "+0 (total 12)" in again.stdout, again.output  # idempotent

    sessions = {
        name: connect(doccano_env.url, Credentials(name, users[p][1], "test"))
        for p, name in zip(("anna", "ben", "cara"), names, strict=True)
    }
    by_doc = {d.doc_id: d for d in docs}
    seen: dict[str, set[str]] = {}
    for name, session in sessions.items():
        visible = [p["name"] for p in session.paged("projects")]
        assert visible == [annotator_project(project, name)]  # each annotator sees their own project only
        info = session.require_project(annotator_project(project, name))
        examples = session.list_examples(info["id"])
        seen[name] = {e["meta"]["doc_id"] for e in examples}
        assert seen[name] == {d for d, who in expected.items() if name in who}
        labels = session.label_types(info["id"], "span")
        for index, example in enumerate(sorted(examples, key=lambda e: e["meta"]["doc_id"])):
            if name == names[1] and index == 0:
                continue  # ben has not started this one
            doc = by_doc[example["meta"]["doc_id"]]
            start, end, label = doc.entities[0]
            text = example["text"]
            session.client.create_span(info["id"], example["id"], utf16_offset(text, start), utf16_offset(text, end), label=labels[label])
            if not (name == names[2] and index < 2):  # cara has not confirmed her first two yet
                session.client.update_example_state(info["id"], example["id"])
    overlap = [d for d, who in expected.items() if len(who) == 2]
    assert len(overlap) == 6 and all(sum(d in s for s in seen.values()) == 2 for d in overlap)
    assert sum(len(s) for s in seen.values()) == 36 and {len(s) for s in seen.values()} == {12}

    status = invoke("status", "--project", project, "--params", params)
    assert status.exit_code == 0, status.output
    assert f"{names[0]}: 12 assigned, 12 labelled, 12 confirmed (project '{annotator_project(project, names[0])}')" in status.stdout
    assert f"{names[1]}: 12 assigned, 11 labelled, 11 confirmed" in status.stdout
    assert f"{names[2]}: 12 assigned, 12 labelled, 10 confirmed" in status.stdout

    out = config.annotate.annotations_dir
    pulled = invoke("pull", "--project", project, "--team", "--params", params)  # every annotator's project, each for its annotator
    assert pulled.exit_code == 0, pulled.output
    assert pulled.stdout.count("pulled doccano project") == 3
    counts = {}
    for name in names:
        path = layer_path(out, name, annotator_project(project, name))
        counts[name] = sum(1 for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    assert counts == {names[0]: 12, names[1]: 11, names[2]: 10}

    for stage in ("annotate", "validate", "publish"):
        assert run_stage(stage, Path(params)) == 0, stage
    entities = pq.read_table(tmp_path / "corpus" / "published" / "entities").to_pylist()
    published = {e["doc_id"] for e in entities}
    pulled_docs = set()
    for name in names:
        pulled_docs |= {
            line.split('"doc_id": "')[1].split('"')[0]
            for line in layer_path(out, name, annotator_project(project, name)).read_text(encoding="utf-8").splitlines()
        }
    assert published == pulled_docs and len(published) >= 27
    assert all(e["label"] == "PER" and e["layer"].startswith("annotators/") for e in entities)
