"""The team workflow end to end, on the real doccano server: three annotators disagree on purpose,
their pulls become layers, `dvc repro` measures their agreement (hand-computed values), adjudicate
accepts what two of three agree on, and a curator's review round in doccano becomes the published
adjudicated layer."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from helpers import REPO, read_jsonl, repo_conftest, utf16_offset

from pipeline.core.agreement import annotator_of
from pipeline.core.text import text_sha256
from pipeline.doccano.push import push
from pipeline.doccano.session import Credentials, Session, connect
from pipeline.io.schemas import load_label_schema

pytestmark = [pytest.mark.doccano, pytest.mark.e2e]

TEXTS = {"team-1": "Anna Schmidt trifft Bob Meier in Rom.", "team-2": "Die Nato tagt in Brüssel."}

# what each annotator draws: (surface, label) and relations (head surface, label, tail surface)
DRAWN = {
    "anna": {
        "team-1": ([("Anna Schmidt", "PER"), ("Bob Meier", "PER"), ("Rom", "GPE")], [("Anna Schmidt", "meets", "Bob Meier")]),
        "team-2": ([("Nato", "ORG"), ("Brüssel", "GPE")], [("Nato", "located_in", "Brüssel")]),
    },
    "ben": {  # Bob Meier an ORG (a swapped label), no meets
        "team-1": ([("Anna Schmidt", "PER"), ("Bob Meier", "ORG"), ("Rom", "GPE")], []),
        "team-2": ([("Nato", "ORG"), ("Brüssel", "GPE")], [("Nato", "located_in", "Brüssel")]),
    },
    "cem": {  # misses Rom; "Die Nato" (a shifted span); misses located_in
        "team-1": ([("Anna Schmidt", "PER"), ("Bob Meier", "PER")], [("Anna Schmidt", "meets", "Bob Meier")]),
        "team-2": ([("Die Nato", "ORG"), ("Brüssel", "GPE")], []),
    },
}


def annotate_as(session: Session, project_id: int, drawn: dict) -> None:
    """What the annotator does in the browser: draw spans and relations (UTF-16 offsets), confirm."""
    c = session.client
    spans = {t.text: t.id for t in c.list_label_types(project_id, "span")}
    relations = {t.text: t.id for t in c.list_label_types(project_id, "relation")}
    for example in session.list_examples(project_id):
        entities, links = drawn[example["meta"]["doc_id"]]
        text = example["text"]
        made = {}
        for surface, label in entities:
            start = text.index(surface)
            span = c.create_span(
                project_id, example["id"], utf16_offset(text, start), utf16_offset(text, start + len(surface)), label=spans[label]
            )
            made[surface] = span.id
        for head, label, tail in links:
            c.create_relation(project_id, example["id"], made[head], made[tail], label=relations[label])
        c.update_example_state(project_id, example["id"])


def test_three_annotators_agreement_adjudication_and_the_curators_review(
    doccano_env, admin_session, projects, make_user, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    helpers = repo_conftest()
    run = helpers.run
    repo = helpers.copy_repo(tmp_path / "repo")
    if not (repo / "corpus" / "patterns").exists():
        shutil.copytree(REPO / "corpus" / "patterns", repo / "corpus" / "patterns")
    lines = "".join(json.dumps({"id": doc_id, "text": text}, ensure_ascii=False) + "\n" for doc_id, text in TEXTS.items())
    (repo / "seeds" / "team.jsonl").write_text(lines, encoding="utf-8")
    run(["python", "-m", "pipeline", "ingest"], repo, check=True)
    project = projects("team")
    pushed = run(["python", "-m", "pipeline", "doccano", "push", "--project", project, "--documents", "team-*"], repo, check=True)
    assert "2 uploaded" in pushed.stdout, pushed.stdout

    info = admin_session.require_project(project)
    users = {}
    for name in ("anna", "ben", "cem"):
        username, password = make_user(name)
        admin_session.client.add_member(info["id"], username, "annotator")
        annotate_as(connect(doccano_env.url, Credentials(username, password, "test")), info["id"], DRAWN[name])
        users[name] = f"annotators/{username}"
    run(["python", "-m", "pipeline", "doccano", "pull", "--project", project], repo, check=True)
    repro = run(["dvc", "repro"], repo)
    assert repro.returncode == 0, repro.stdout[-3000:] + repro.stderr[-3000:]

    # ---- agreement, computed by hand (tokens: Anna|Schmidt|trifft|Bob|Meier|in|Rom|. and Die|Nato|tagt|in|Brüssel|.)
    report = json.loads((repo / "corpus" / "reports" / "agreement.json").read_text(encoding="utf-8"))
    assert report["documents"] == 2
    assert report["annotators"] == [users["anna"], users["ben"], users["cem"]]
    pairs = {(p["a"], p["b"]): p for p in report["pairs"]}
    anna_ben, anna_cem, ben_cem = (
        pairs[(users["anna"], users["ben"])],
        pairs[(users["anna"], users["cem"])],
        pairs[(users["ben"], users["cem"])],
    )
    # anna/ben: 4 of 5 entities each side match → 0.8; relations: 1 match, anna 2, ben 1 → P 1, R 0.5, F1 2/3
    assert anna_ben["entities"]["exact"] | {} == {"p": 0.8, "r": 0.8, "f1": 0.8, "a": 5, "b": 5, "matches": 4}
    assert anna_ben["relations"] | {} == {"p": 1.0, "r": 0.5, "f1": 0.6667, "a": 2, "b": 1, "matches": 1}
    # 14 tokens, 12 agree; marginals anna (B-PER 2, I-PER 2, B-GPE 2, B-ORG 1, O 7), ben (B-PER 1, I-PER 1,
    # B-ORG 2, I-ORG 1, B-GPE 2, O 7): pe = (2 + 2 + 4 + 2 + 49) / 196 → κ = (168 − 59) / (196 − 59) = 109/137
    assert anna_ben["tokens"]["cohen_kappa"] == pytest.approx(109 / 137, abs=1e-4)
    # anna/cem: 3 exact matches, anna 5, cem 4 → P 0.75, R 0.6, F1 2/3; partial: "Die Nato" overlaps "Nato" → P 1, R 0.8
    assert anna_cem["entities"]["exact"] | {} == {"p": 0.75, "r": 0.6, "f1": 0.6667, "a": 5, "b": 4, "matches": 3}
    assert anna_cem["entities"]["partial"] == {"p": 1.0, "r": 0.8, "f1": 0.8889}
    # ben/cem: 2 matches, ben 5, cem 4 → P 0.5, R 0.4, F1 4/9; no relation in common
    assert ben_cem["entities"]["exact"]["f1"] == 0.4444
    assert ben_cem["relations"]["f1"] == 0.0
    assert report["overall"]["entities_exact_f1"] == pytest.approx((0.8 + 0.6667 + 0.4444) / 3, abs=1e-4)
    lo, hi = report["overall"]["entities_exact_f1_ci95"]
    assert lo <= report["overall"]["entities_exact_f1"] <= hi
    documents = [json.loads(line) for line in (repo / "corpus" / "reports" / "agreement-documents.jsonl").read_text().splitlines()]
    # team-1: pair F1 2/3, 4/5, 2/5 → mean 0.6222; 3 entities + 1 relation not drawn by all
    # team-2: pair F1 1, 1/2, 1/2 → mean 0.6667; 2 entities + 1 relation not drawn by all
    assert [(d["doc_id"], d["mean_exact_f1"], d["disagreements"]) for d in documents] == [("team-1", 0.6222, 4), ("team-2", 0.6667, 3)]
    shown = json.loads(run(["dvc", "metrics", "show", "--json"], repo, check=True).stdout)
    assert shown[""]["data"]["corpus/reports/agreement.json"]["data"]["documents"] == 2
    plots = json.loads(run(["dvc", "plots", "show", "--json"], repo, check=True).stdout)
    (plot,) = plots["data"]["corpus/reports/agreement-confusion.json"]
    values = [(v["first"], v["second"]) for v in plot["content"]["data"]["values"]]
    # Bob Meier: anna PER / ben ORG and ben ORG / cem PER, each pair in both directions
    assert (plot["type"], values.count(("PER", "ORG")), values.count(("ORG", "PER"))) == ("vega", 2, 2)

    # ---- adjudicate: what two of three drew exactly
    done = run(["python", "-m", "pipeline", "adjudicate", "--min-agree", "2"], repo, check=True)
    assert "2 conflict(s)" in done.stdout, done.stdout
    layer = repo / "corpus" / "annotations" / "adjudicated" / "german-news-entities-relations.jsonl"
    adjudicated = {r["doc_id"]: r for r in read_jsonl(layer)}
    assert [(e["text"], e["label"], len(e["agreed_by"])) for e in adjudicated["team-1"]["entities"]] == [
        ("Anna Schmidt", "PER", 3),
        ("Bob Meier", "PER", 2),
        ("Rom", "GPE", 2),
    ]
    assert [(r["label"], r["agreed_by"]) for r in adjudicated["team-1"]["relations"]] == [("meets", [users["anna"], users["cem"]])]
    assert [(e["text"], e["label"]) for e in adjudicated["team-2"]["entities"]] == [("Nato", "ORG"), ("Brüssel", "GPE")]
    conflicts = read_jsonl(repo / "corpus" / "reports" / "conflicts.jsonl")
    assert [(c["doc_id"], c["kind"], c["text"]) for c in conflicts] == [("team-1", "entity", "Bob Meier"), ("team-2", "entity", "Die Nato")]
    assert [(c["label"], c["annotators"]) for c in conflicts[0]["candidates"]] == [
        ("ORG", [users["ben"]]),
        ("PER", [users["anna"], users["cem"]]),
    ]

    # ---- the curator's round: review project made by the admin, the curator pushes, decides, pulls
    curator, password = make_user("curator")
    review = f"{project}-review"
    schema = load_label_schema(REPO / "schemas" / "labels.yaml")
    push(admin_session, project=review, documents=[], records={}, schema=schema)
    review_id = admin_session.require_project(review)["id"]
    admin_session.client.add_member(review_id, curator, "project_admin")
    monkeypatch.setenv("DOCCANO_USER", curator)
    monkeypatch.setenv("DOCCANO_PASSWORD", password)
    first = run(["python", "-m", "pipeline", "doccano", "push", "--review", "--project", project], repo, check=True)
    assert "2 uploaded" in first.stdout and "2 added" in first.stdout, first.stdout
    again = run(["python", "-m", "pipeline", "doccano", "push", "--review", "--project", project], repo, check=True)
    assert "2 unchanged" in again.stdout and "0 added, 0 removed" in again.stdout, again.stdout

    session = connect(doccano_env.url, Credentials(curator, password, "test"))
    c = session.client
    examples = {e["meta"]["doc_id"]: e for e in session.list_examples(review_id)}
    comments = [x.text for x in c.list_comments(review_id, examples["team-1"]["id"])]
    assert len(comments) == 1 and "ORG «Bob Meier»" in comments[0] and users["ben"].split("/")[1] in comments[0]
    # the curator holds the accepted annotations and sides with ben: Bob Meier is an ORG, so meets goes
    spans = {s.start_offset: s for s in c.list_spans(review_id, examples["team-1"]["id"])}
    assert len(spans) == 3
    org = next(t.id for t in c.list_label_types(review_id, "span") if t.text == "ORG")
    bob = spans[TEXTS["team-1"].index("Bob Meier")]
    c.delete_all_relations(review_id, examples["team-1"]["id"])
    c.update_span(review_id, examples["team-1"]["id"], bob.id, bob.start_offset, bob.end_offset, label=org)
    for example in examples.values():
        c.update_example_state(review_id, example["id"])
    pulled = run(["python", "-m", "pipeline", "doccano", "pull", "--review", "--project", project], repo, check=True)
    assert "2 curated record(s)" in pulled.stdout, pulled.stdout
    final = {r["doc_id"]: r for r in read_jsonl(layer)}
    assert final["team-1"]["source"] == f"adjudicated:{curator}"
    assert final["team-1"]["text_sha256"] == text_sha256(TEXTS["team-1"])
    assert [(e["text"], e["label"], e.get("agreed_by")) for e in final["team-1"]["entities"]] == [
        ("Anna Schmidt", "PER", [users["anna"], users["ben"], users["cem"]]),
        ("Bob Meier", "ORG", [users["ben"]]),
        ("Rom", "GPE", [users["anna"], users["ben"]]),
    ]
    assert final["team-1"]["relations"] == []

    repro = run(["dvc", "repro"], repo)
    assert repro.returncode == 0, repro.stdout[-3000:] + repro.stderr[-3000:]
    entities = pq.read_table(repo / "corpus" / "published" / "entities").to_pylist()
    published = {(e["doc_id"], e["text"], e["label"], e["layer"], e["source"]) for e in entities if e["doc_id"].startswith("team-")}
    assert published == {
        ("team-1", "Anna Schmidt", "PER", "adjudicated", f"adjudicated:{curator}"),
        ("team-1", "Bob Meier", "ORG", "adjudicated", f"adjudicated:{curator}"),
        ("team-1", "Rom", "GPE", "adjudicated", f"adjudicated:{curator}"),
        ("team-2", "Nato", "ORG", "adjudicated", f"adjudicated:{curator}"),
        ("team-2", "Brüssel", "GPE", "adjudicated", f"adjudicated:{curator}"),
    }
    # nothing an annotator drew is lost: every layer is still there
    annotations = repo / "corpus" / "annotations"
    layers = {p.relative_to(annotations).parent.as_posix() for p in annotations.rglob("*.jsonl")}
    assert {annotator_of(layer) for layer in layers} == {"gold", "adjudicated", *users.values()}
    assert len(layers) == 2 + len(users)  # one layer per annotator and project (annotators/<user>/<project>)
