"""The preannotate stage: EntityRuler from the gold gazetteer + hand patterns, rule relations, honest metrics."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from repo_helpers import tree_bytes
from stage_helpers import corpus, for_stage, params_for

from pipeline.config import Config, parse_config
from pipeline.core import proposals, scoring
from pipeline.core.segment import segment
from pipeline.core.spans import record_from_json
from pipeline.core.text import text_sha256
from pipeline.core.token_docs import doc_from_tokens
from pipeline.formats.mapping import load_mapping
from pipeline.io.schemas import load_json_schema, load_label_schema
from pipeline.runtime.shards import chunk_of, shard_of
from pipeline.stages import ingest, preannotate

REPO = Path(__file__).resolve().parents[2]
SCHEMA = load_label_schema(REPO / "schemas" / "labels.yaml")


def gold(doc_id: str, text: str, spans: list[tuple[str, str]], relations=()):
    entities, position = [], 0
    for n, (surface, label) in enumerate(spans, start=1):
        start = text.index(surface, position)
        entities.append({"id": f"T{n}", "start": start, "end": start + len(surface), "label": label})
        position = start + len(surface)
    data = {"doc_id": doc_id, "text_sha256": text_sha256(text), "source": "gold", "entities": entities,
            "relations": [{"id": f"R{n}", "head": h, "tail": t, "label": label} for n, (h, t, label) in enumerate(relations, start=1)]}  # fmt: skip
    return record_from_json(data, layer="gold", path="gold.jsonl", line=1)


def test_gazetteer_takes_the_majority_label_and_skips_single_characters():
    texts = {"a": "Kim in Seoul. Seoul!", "b": "Seoul X"}
    records = [
        gold("a", texts["a"], [("Kim", "PER"), ("Seoul", "GPE"), ("Seoul", "LOC")]),
        gold("b", texts["b"], [("Seoul", "GPE"), ("X", "MISC")]),
    ]
    patterns = proposals.gazetteer(records, texts, SCHEMA.entity_types)
    assert patterns == [{"label": "PER", "pattern": "Kim", "id": "gazetteer"}, {"label": "GPE", "pattern": "Seoul", "id": "gazetteer"}]


def test_hyphenated_compounds_are_split_and_role_rules_propose_relations():
    proposer = proposals.Proposer(
        [
            {"label": "GPE", "pattern": "US"},
            {"label": "PER", "pattern": "Joe Biden"},
            {"label": "GPE", "pattern": "Nordkoreas"},
            {"label": "PER", "pattern": "Ri Yong Ho"},
        ],
        SCHEMA,
    )
    text = "US-Präsident Joe Biden traf Nordkoreas Außenminister Ri Yong Ho."
    spans, relations = proposer.propose(text)
    assert [text[s:e] for s, e, _ in spans] == ["US", "Joe Biden", "Nordkoreas", "Ri Yong Ho"]
    named = sorted((text[spans[h][0] : spans[h][1]], label, text[spans[t][0] : spans[t][1]]) for h, t, label in relations)
    assert named == [("Joe Biden", "head_of", "US"), ("Ri Yong Ho", "works_for", "Nordkoreas")]


def test_patterns_with_labels_outside_the_schema_are_refused():
    with pytest.raises(ValueError, match="COUNTRY"):
        proposals.Proposer([{"label": "COUNTRY", "pattern": "Peru"}], SCHEMA)


def test_leave_one_document_out_never_sees_the_held_out_document():
    texts = {"a": "Xaverius Quast sprach mit Kim.", "b": "Kim sprach lange."}
    records = [gold("a", texts["a"], [("Xaverius Quast", "PER"), ("Kim", "PER")]), gold("b", texts["b"], [("Kim", "PER")])]
    result = scoring.leave_one_document_out(records, texts, [], SCHEMA)
    per = result["entities"]["per_label"]["PER"]
    # a: "Kim" learned from b (tp), "Xaverius Quast" only in a itself (fn); b: "Kim" learned from a (tp)
    assert (per["tp"], per["fp"], per["fn"]) == (2, 0, 1)
    assert "note" not in result


def test_a_single_gold_document_is_reported_as_degenerate():
    texts = {"a": "Kim in Seoul."}
    result = scoring.leave_one_document_out([gold("a", texts["a"], [("Kim", "PER")])], texts, [], SCHEMA)
    assert result["documents"] == 1 and result["note"].startswith("degenerate")
    assert result["entities"]["micro"]["tp"] == 0


GERMEVAL = """#\thttp://example.org/1\t[2010-01-01]
1\tAngela\tB-PER\tO
2\tMerkel\tI-PER\tO
3\tbesucht\tO\tO
4\tdie\tO\tO
5\tUniversität\tB-ORG\tO
6\tBremen\tI-ORG\tB-LOC
7\tund\tO\tO
8\tdeutsche\tB-LOCderiv\tO
9\tStädte\tO\tO
10\tin\tO\tO
11\tPeru\tB-LOC\tO\t

#\thttp://example.org/2\t[2010-01-02]
1\tNato-Staaten\tB-ORGpart\tO
2\ttagen\tO\tO
"""


def germeval_mapping():
    return load_mapping(REPO / "schemas" / "mappings" / "germeval2014.yaml", REPO / "schemas" / "labels.yaml")


def test_germeval_is_read_by_the_importer_and_scored_through_its_mapping(tmp_path: Path):
    path = tmp_path / "germeval.tsv"
    path.write_text(GERMEVAL, encoding="utf-8")
    mapping, schema = germeval_mapping()
    sentences = preannotate.germeval_sentences(path, mapping, schema)
    assert [s.text for s in sentences] == ["Angela Merkel besucht die Universität Bremen und deutsche Städte in Peru", "Nato-Staaten tagen"]
    first = sentences[0]
    assert sorted(first.text[s:e] + "/" + label for s, e, label in first.entities) == [
        "Angela Merkel/PER",
        "Peru/LOC",
        "Universität Bremen/ORG",
    ]
    patterns = [{"label": "PER", "pattern": "Angela Merkel"}, {"label": "GPE", "pattern": "Bremen"}, {"label": "GPE", "pattern": "Peru"},
                {"label": "ORG", "pattern": "Nato"}, {"label": "MISC", "pattern": "deutsche"}, {"label": "DATE", "pattern": "tagen"}]  # fmt: skip
    proposer = proposals.Proposer(patterns, SCHEMA)
    result = scoring.evaluate_external(proposer, sentences, preannotate.scoring_map(mapping, schema))
    # Bremen: an exact inner-level entity, not counted; deutsche: inside a deriv span; Nato: inside a part span;
    # tagen/DATE: unmapped. Angela Merkel, Peru: tp; Universität Bremen: fn.
    assert result["micro"]["tp"] == 2 and result["micro"]["fp"] == 0 and result["micro"]["fn"] == 1
    assert result["per_label"]["ORG"]["recall"] == 0.0


def test_the_mapping_read_backwards_scores_each_of_our_types_as_a_germeval_type():
    mapping, schema = germeval_mapping()
    assert preannotate.scoring_map(mapping, schema) == {
        "PER": "PER",
        "ORG": "ORG",
        "GPE": "LOC",
        "LOC": "LOC",
        "DATE": None,
        "EVENT": "OTH",
        "MISC": "OTH",
    }


def test_a_mapping_that_cannot_be_read_backwards_is_refused():
    mapping, schema = germeval_mapping()
    merged = replace(mapping, entities={**mapping.entities, "GEO": "LOC"})
    with pytest.raises(ValueError, match="'LOC' and 'GEO' both map to 'LOC'"):
        preannotate.scoring_map(merged, schema)


def test_score_as_must_name_a_type_the_mapping_produces():
    mapping, schema = germeval_mapping()
    with pytest.raises(ValueError, match=r"options.score_as.GPE: 'DATE' is none of the types the mapping maps to"):
        preannotate.scoring_map(replace(mapping, options={"score_as": {"GPE": "DATE"}}), schema)


@pytest.fixture
def workspace(tmp_path: Path) -> Config:
    """The seed (with its gold record) and one new document, ingested; the config of it all."""
    from pipeline.stages import ingest

    params = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    shutil.copy2(REPO / "seeds" / "000_ea687b33c55d6d88.txt", seeds)
    new = {"id": "neu-1", "text": "US-Präsident Donald Trump reiste Ende Mai nach Seoul, sagte Chung Eui Yong."}
    (seeds / "new.jsonl").write_text(json.dumps(new, ensure_ascii=False) + "\n", encoding="utf-8")
    (tmp_path / "annotations" / "gold").mkdir(parents=True)
    shutil.copy2(REPO / "corpus" / "annotations" / "gold" / "seed.jsonl", tmp_path / "annotations" / "gold")
    params["schemas"] = {k: str(REPO / v) for k, v in params["schemas"].items()}
    params["ingest"].update(seeds_dir=str(seeds), out_dir=str(tmp_path / "interim" / "ingest"))
    params["annotate"]["annotations_dir"] = str(tmp_path / "annotations")
    params["preannotate"].update(
        patterns_dir=str(REPO / "corpus" / "patterns"), out_dir=str(tmp_path / "pre"), external_dir=str(tmp_path / "no-external")
    )
    params["runtime"]["cache_dir"] = str(tmp_path / "cache")
    config = parse_config(params)
    ingest.run(config.for_stage("ingest"))
    return config


def test_stage_proposes_for_documents_without_gold_and_writes_honest_metrics(workspace, tmp_path):
    metrics = preannotate.run(workspace.for_stage("preannotate"))
    out = workspace.preannotate.out_dir
    lines = (out / "preannotations.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["doc_id"] for r in records] == ["neu-1"]  # the seed has gold: no proposals for it
    validator = load_json_schema(workspace.schemas.annotation)
    assert all(not list(validator.iter_errors(r)) for r in records)
    record = records[0]
    assert record["source"] == "preannotation:gazetteer"
    found = {(e["text"], e["label"]) for e in record["entities"]}
    assert {("US", "GPE"), ("Donald Trump", "PER"), ("Ende Mai", "DATE"), ("Seoul", "GPE"), ("Chung Eui Yong", "PER")} <= found
    by_id = {e["id"]: e["text"] for e in record["entities"]}
    assert ("Donald Trump", "head_of", "US") in {(by_id[r["head"]], r["label"], by_id[r["tail"]]) for r in record["relations"]}
    on_disk = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert on_disk == json.loads(json.dumps(metrics))
    assert on_disk["gold_leave_one_document_out"]["documents"] == 1 and "degenerate" in on_disk["gold_leave_one_document_out"]["note"]
    assert on_disk["external"]["germeval2014_dev"]["available"] is False
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    # deterministic: a rerun with an empty cache (every shard computed again) changes no byte
    fresh = dataclasses.replace(workspace, runtime=dataclasses.replace(workspace.runtime, cache_dir=tmp_path / "fresh-cache"))
    preannotate.run(fresh.for_stage("preannotate"))
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert (tmp_path / "fresh-cache").is_dir()  # the rerun really computed into the new cache


def test_hand_patterns_file_is_valid():
    patterns = preannotate.read_patterns(REPO / "corpus" / "patterns")
    assert len(patterns) > 100
    proposals.Proposer(patterns, SCHEMA)  # validate=True: spaCy checks every pattern


def computed(caplog: pytest.LogCaptureFixture) -> tuple[int, int, int, int]:
    """(shards, gazetteer, proposal and hand-pattern shards computed) of the last preannotate run."""
    found = re.findall(r"(\d+) shards \((\d+) gazetteer and (\d+) proposal shards computed, (\d+) hand-pattern shards\)", caplog.text)
    assert found, caplog.text
    return tuple(int(n) for n in found[-1])  # type: ignore[return-value]


def sharded_params(root: Path, cache: Path, workers: int = 1, chunks: int | None = None) -> dict:
    params = params_for(root, cache, workers, shards=8, chunks=chunks)
    params["preannotate"].update(
        patterns_dir=str(REPO / "corpus" / "patterns"), out_dir=str(root / "pre"), external_dir=str(root.parent / "no-external")
    )
    return params


def preannotated_from_scratch(tmp_path: Path, build: Callable[[Path], None], **knobs: Any) -> Path:
    """The ``pre`` folder of the corpus ``build`` makes in ``tmp_path/scratch``, ingested and
    preannotated with an empty cache (``tmp_path/empty-cache``; ``knobs`` for :func:`sharded_params`)."""
    scratch = tmp_path / "scratch"
    build(scratch)
    fresh = sharded_params(scratch, tmp_path / "empty-cache", **knobs)
    ingest.run(for_stage(fresh, "ingest"))
    preannotate.run(for_stage(fresh, "preannotate"))
    return scratch / "pre"


def add_document_without_gold(root: Path, doc_id: str) -> None:
    line = {"id": doc_id, "text": "Außenminister Ri Yong Ho traf Kim Jong Un Ende Mai in Seoul."}
    with open(root / "seeds" / "docs.jsonl", "a", encoding="utf-8") as handle:
        handle.write(json.dumps(line, ensure_ascii=False) + "\n")


def test_a_new_document_without_gold_recomputes_only_its_shard_and_equals_a_run_from_scratch(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    root = tmp_path / "incremental"
    corpus(root, 30)
    add_document_without_gold(root, "neu-1")
    params = sharded_params(root, tmp_path / "cache", workers=2)
    ingest.run(for_stage(params, "ingest"))
    preannotate.run(for_stage(params, "preannotate"))
    add_document_without_gold(root, "neu-2")
    caplog.set_level(logging.INFO, logger="pipeline")
    ingest.run(for_stage(params, "ingest"))
    metrics = preannotate.run(for_stage(params, "preannotate"))
    assert computed(caplog) == (8, 1, 1, 1)
    assert metrics["preannotations"]["documents"] == 2

    def build(scratch: Path) -> None:
        corpus(scratch, 30)
        add_document_without_gold(scratch, "neu-1")
        add_document_without_gold(scratch, "neu-2")

    assert tree_bytes(root / "pre") == tree_bytes(preannotated_from_scratch(tmp_path, build))


def test_a_changed_pattern_file_recomputes_every_proposal_shard(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    root = tmp_path / "c"
    corpus(root, 30)
    params = sharded_params(root, tmp_path / "cache")
    patterns = root / "patterns"
    patterns.mkdir()
    (patterns / "p.jsonl").write_text(json.dumps({"label": "GPE", "pattern": "Seoul"}) + "\n", encoding="utf-8")
    params["preannotate"]["patterns_dir"] = str(patterns)
    ingest.run(for_stage(params, "ingest"))
    preannotate.run(for_stage(params, "preannotate"))
    (patterns / "p.jsonl").write_text(json.dumps({"label": "LOC", "pattern": "Seoul"}) + "\n", encoding="utf-8")
    caplog.set_level(logging.INFO, logger="pipeline")
    preannotate.run(for_stage(params, "preannotate"))
    assert computed(caplog) == (8, 0, 8, 8)


def relabel(root: Path, index: int, label: str) -> None:
    layer = root / "annotations" / "gold" / "g.jsonl"
    records = [json.loads(line) for line in layer.read_text(encoding="utf-8").splitlines()]
    records[index]["entities"][0]["label"] = label
    layer.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")


def test_a_gold_label_that_changes_no_majority_recomputes_only_its_shard_and_equals_a_run_from_scratch(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    root = tmp_path / "c"
    corpus(root, 30)
    params = sharded_params(root, tmp_path / "cache")
    ingest.run(for_stage(params, "ingest"))
    preannotate.run(for_stage(params, "preannotate"))
    relabel(root, 3, "ORG")  # one of many PER counts of its phrase: no majority, also left out, changes
    caplog.set_level(logging.INFO, logger="pipeline")
    preannotate.run(for_stage(params, "preannotate"))
    assert computed(caplog) == (8, 1, 1, 0)  # the hand-pattern matches are kept too

    def build(scratch: Path) -> None:
        corpus(scratch, 30)
        relabel(scratch, 3, "ORG")

    assert tree_bytes(root / "pre") == tree_bytes(preannotated_from_scratch(tmp_path, build, workers=2))


def test_tokens_rebuilt_from_ingest_are_the_proposers_own():
    nlp = proposals.blank_pipeline()
    texts = [
        " Vorne  zwei Leerzeichen\n\nUS-Präsident Joe Biden, Nord- und Südkorea (z.B. am 3. Mai)  ",
        "\n\tTab\u00a0NBSP und Ende-",
        "kein Leerzeichen",
    ]
    for text in texts:
        seg = segment(text)
        rebuilt = doc_from_tokens(nlp, text, seg.starts.tolist(), seg.ends.tolist())
        assert [(t.text, t.whitespace_) for t in rebuilt] == [(t.text, t.whitespace_) for t in nlp.make_doc(text)]


def build_with_solo(root: Path, label: str) -> None:
    """The 30-document corpus plus "solo", whose gold phrase "Xaverius Quast" occurs in no other document."""
    corpus(root, 30)
    text = "Xaverius Quast sprach in Panmunjom."
    with open(root / "seeds" / "docs.jsonl", "a", encoding="utf-8") as handle:
        handle.write(json.dumps({"id": "solo", "text": text}, ensure_ascii=False) + "\n")
    record = {"doc_id": "solo", "text_sha256": text_sha256(text), "source": "gold", "relations": [],
              "entities": [{"id": "T1", "start": 0, "end": 14, "label": label}]}  # fmt: skip
    with open(root / "annotations" / "gold" / "g.jsonl", "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def test_a_changed_gold_label_recomputes_only_the_shards_where_its_phrase_can_match_and_equals_a_run_from_scratch(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    root = tmp_path / "incremental"
    build_with_solo(root, "PER")
    params = sharded_params(root, tmp_path / "cache", workers=2)
    ingest.run(for_stage(params, "ingest"))
    preannotate.run(for_stage(params, "preannotate"))
    relabel(root, -1, "ORG")  # the record of "solo"
    caplog.set_level(logging.INFO, logger="pipeline")
    preannotate.run(for_stage(params, "preannotate"))
    assert computed(caplog) == (8, 1, 1, 0)  # "Xaverius Quast" is a phrase in no other shard
    assert part_counts(caplog) == (1, 0, 7)  # nor in any other shard's vocabulary: their parts are the last run's

    assert tree_bytes(root / "pre") == tree_bytes(preannotated_from_scratch(tmp_path, lambda scratch: build_with_solo(scratch, "ORG")))


def test_external_scores_no_run_used_for_two_weeks_are_pruned_and_the_one_used_is_kept(tmp_path: Path):
    root = tmp_path / "c"
    corpus(root, 10)
    params = sharded_params(root, tmp_path / "cache")
    external = tmp_path / "external"
    external.mkdir()
    (external / "germeval2014-dev.tsv").write_text(GERMEVAL, encoding="utf-8")
    params["preannotate"]["external_dir"] = str(external)
    params["preannotate"]["external"] = {
        "germeval2014_dev": {"file": "germeval2014-dev.tsv", "mapping": str(REPO / "schemas" / "mappings" / "germeval2014.yaml")}
    }
    scores = tmp_path / "cache" / "preannotate-external"
    scores.mkdir(parents=True)
    stale = scores / "0123abcd.json"
    stale.write_text("{}", encoding="utf-8")
    month_ago = time.time() - 30 * 86400
    os.utime(stale, (month_ago, month_ago))
    ingest.run(for_stage(params, "ingest"))
    metrics = preannotate.run(for_stage(params, "preannotate"))
    assert metrics["external"]["germeval2014_dev"]["available"] is True
    kept = sorted(path.name for path in scores.iterdir())
    assert len(kept) == 2 and stale.name not in kept
    score, vocabulary = (kept[0], kept[1]) if kept[1].endswith(".vocabulary.json") else (kept[1], kept[0])
    assert json.loads((scores / score).read_text(encoding="utf-8")) == metrics["external"]["germeval2014_dev"]
    assert {"Angela", "Merkel", "Peru"} <= set(json.loads((scores / vocabulary).read_text(encoding="utf-8")))


def test_the_external_score_is_recomputed_only_when_a_phrase_it_contains_changes_label(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    external = tmp_path / "external"
    external.mkdir()
    (external / "germeval2014-dev.tsv").write_text(GERMEVAL, encoding="utf-8")

    def build(root: Path, quast: str, peru: str) -> dict:
        corpus(root, 10)
        for doc_id, text, phrase, label in (
            ("quast", "Xaverius Quast sprach.", "Xaverius Quast", quast),
            ("peru", "Sie reist nach Peru.", "Peru", peru),
        ):
            start = text.index(phrase)
            with open(root / "seeds" / "docs.jsonl", "a", encoding="utf-8") as handle:
                handle.write(json.dumps({"id": doc_id, "text": text}, ensure_ascii=False) + "\n")
            record = {"doc_id": doc_id, "text_sha256": text_sha256(text), "source": "gold", "relations": [],
                      "entities": [{"id": "T1", "start": start, "end": start + len(phrase), "label": label}]}  # fmt: skip
            with open(root / "annotations" / "gold" / "g.jsonl", "a", encoding="utf-8") as handle:
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        params = sharded_params(root, root.parent / f"{root.name}-cache")
        params["preannotate"]["external_dir"] = str(external)
        params["preannotate"]["external"] = {
            "germeval2014_dev": {"file": "germeval2014-dev.tsv", "mapping": str(REPO / "schemas" / "mappings" / "germeval2014.yaml")}
        }
        return params

    def evaluations() -> int:
        return int(re.findall(r"(\d+) external evaluation\(s\) computed", caplog.text)[-1])

    root = tmp_path / "incremental"
    params = build(root, "PER", "GPE")
    caplog.set_level(logging.INFO, logger="pipeline")
    ingest.run(for_stage(params, "ingest"))
    preannotate.run(for_stage(params, "preannotate"))
    assert evaluations() == 1
    relabel(root, -2, "ORG")  # "Xaverius Quast": not in the external corpus
    first = preannotate.run(for_stage(params, "preannotate"))
    assert evaluations() == 0
    relabel(root, -1, "ORG")  # "Peru": in it
    second = preannotate.run(for_stage(params, "preannotate"))
    assert evaluations() == 1
    assert second["external"] != first["external"]

    for name, metrics, quast, peru in (("s1", first, "ORG", "GPE"), ("s2", second, "ORG", "ORG")):
        scratch = tmp_path / name
        fresh = build(scratch, quast, peru)
        ingest.run(for_stage(fresh, "ingest"))
        assert preannotate.run(for_stage(fresh, "preannotate"))["external"] == metrics["external"]


def logged_counts(caplog: pytest.LogCaptureFixture, pattern: str) -> tuple[int, ...]:
    """The counts ``pattern`` captures in the last preannotate log line that has them."""
    found = re.findall(pattern, caplog.text)
    assert found, caplog.text
    return tuple(int(count) for count in found[-1])


def part_counts(caplog: pytest.LogCaptureFixture) -> tuple[int, ...]:
    """(gazetteer parts computed, updated from the last run's, reused as they were) of the last preannotate run."""
    return logged_counts(caplog, r"gazetteer parts: (\d+) computed, (\d+) updated, (\d+) reused")


def test_reused_gazetteer_part_digests_equal_the_ones_computed_from_scratch(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    root = tmp_path / "c"
    build_with_solo(root, "PER")
    params = sharded_params(root, tmp_path / "cache")
    caplog.set_level(logging.INFO, logger="pipeline")
    ingest.run(for_stage(params, "ingest"))
    preannotate.run(for_stage(params, "preannotate"))
    assert part_counts(caplog) == (8, 0, 0)  # no last run to reuse from
    last = tmp_path / "cache" / "last" / "preannotate-parts.json"  # the cache folder is the local cache
    # the documents with the sentence of "Trump" (corpus: every one not divisible by 3)
    with_trump = {shard_of(f"doc-{number:03d}", 8) for number in range(30) if number % 3}
    assert len(with_trump) < 8
    steps = (
        [-1],  # solo's phrase, in no other shard's vocabulary
        [3],  # one of 20 PER counts of "Kim Jong Un", in every shard's vocabulary: no document can flip it
        [1, 4, 7, 10],  # "Trump" PER 6, ORG 4: a document could now flip it
        [13, 16],  # "Trump" ORG 6, PER 4: its label changed
    )
    for number, edits in enumerate(steps):
        for edit in edits:
            relabel(root, edit, "ORG")  # the record of doc-<edit> (solo's is the last)
        preannotate.run(for_stage(params, "preannotate"))
        # the edited records' shards are computed (their own counts changed); of the others, those
        # whose vocabulary has "Trump" update their last sums (steps 3 and 4), the rest reuse them
        edited = {shard_of("solo" if edit == -1 else f"doc-{edit:03d}", 8) for edit in edits}
        updated = with_trump - edited if number >= 2 else set()
        assert part_counts(caplog) == (len(edited), len(updated), 8 - len(edited) - len(updated))
        incremental = json.loads(last.read_text(encoding="utf-8"))
        last.unlink()
        preannotate.run(for_stage(params, "preannotate"))
        assert part_counts(caplog) == (8, 0, 0)
        assert json.loads(last.read_text(encoding="utf-8")) == incremental


def test_a_part_whose_document_stops_flipping_a_phrase_is_recomputed_though_its_shard_did_not_change(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    # "Xaverius Quast": PER 3 times in one document, ORG once in each of two others (lead 1). Leaving
    # the first out flips it to ORG. When one ORG becomes PER (lead 3) it no longer does (PER 1,
    # ORG 1: PER by schema order), so the first document's shard has another part, though its own
    # records and vocabulary are unchanged and the majority label stays PER.
    phrase = "Xaverius Quast"
    ids = iter(f"quast-{number}" for number in range(100))
    shards: dict[int, str] = {}
    while len(shards) < 3:
        doc_id = next(ids)
        shards.setdefault(shard_of(doc_id, 8), doc_id)
    thrice, once, changed = shards.values()

    def build(root: Path, last_label: str) -> None:
        corpus(root, 10)
        for doc_id, labels in ((thrice, ["PER"] * 3), (once, ["ORG"]), (changed, [last_label])):
            text = " und ".join([phrase] * len(labels)) + " sprachen."
            starts = [match.start() for match in re.finditer(phrase, text)]
            entities = [{"id": f"T{n}", "start": start, "end": start + len(phrase), "label": label}
                        for n, (start, label) in enumerate(zip(starts, labels, strict=True), start=1)]  # fmt: skip
            record = {"doc_id": doc_id, "text_sha256": text_sha256(text), "source": "gold", "relations": [], "entities": entities}
            with open(root / "seeds" / "docs.jsonl", "a", encoding="utf-8") as handle:
                handle.write(json.dumps({"id": doc_id, "text": text}, ensure_ascii=False) + "\n")
            with open(root / "annotations" / "gold" / "g.jsonl", "a", encoding="utf-8") as handle:
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")

    root = tmp_path / "c"
    build(root, "ORG")
    params = sharded_params(root, tmp_path / "cache")
    ingest.run(for_stage(params, "ingest"))
    preannotate.run(for_stage(params, "preannotate"))
    relabel(root, -1, "PER")
    caplog.set_level(logging.INFO, logger="pipeline")
    preannotate.run(for_stage(params, "preannotate"))
    computed_parts, updated_parts, _ = part_counts(caplog)
    assert computed_parts == 1  # the changed document's shard
    assert updated_parts >= 1  # the shard of the document that flipped it (and any other whose vocabulary has the phrase)

    assert tree_bytes(root / "pre") == tree_bytes(preannotated_from_scratch(tmp_path, lambda scratch: build(scratch, "PER")))
    last = "last/preannotate-parts.json"
    incremental, from_scratch = (
        json.loads((folder / last).read_text(encoding="utf-8"))["parts"] for folder in (tmp_path / "cache", tmp_path / "empty-cache")
    )
    assert {name: entry[-1] for name, entry in incremental.items()} == {name: entry[-1] for name, entry in from_scratch.items()}


def chunk_counts(caplog: pytest.LogCaptureFixture) -> tuple[int, int]:
    """(chunks computed, chunks reused) of the hand-pattern and proposal shards of the last run."""
    return logged_counts(caplog, r"chunks of hand-pattern and proposal shards: (\d+) computed, (\d+) reused")


def test_a_new_gold_document_recomputes_only_its_chunk_of_the_hand_and_proposal_passes(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    root = tmp_path / "incremental"
    corpus(root, 40)
    params = sharded_params(root, tmp_path / "cache", chunks=4)
    ingest.run(for_stage(params, "ingest"))
    preannotate.run(for_stage(params, "preannotate"))
    corpus(root, 41)  # doc-040, with a gold "Trump" or "Kim Jong Un" as PER: no label changes
    caplog.set_level(logging.INFO, logger="pipeline")
    caplog.clear()
    ingest.run(for_stage(params, "ingest"))
    preannotate.run(for_stage(params, "preannotate"))
    shard = shard_of("doc-040", 8)
    before = {chunk_of(f"doc-{n:03d}", 8, 4) for n in range(40) if shard_of(f"doc-{n:03d}", 8) == shard}
    reused = len(before - {chunk_of("doc-040", 8, 4)})
    assert computed(caplog)[1:] == (1, 1, 1)  # its gazetteer, proposal and hand-pattern shards
    assert chunk_counts(caplog) == (2, 2 * reused)

    assert tree_bytes(root / "pre") == tree_bytes(preannotated_from_scratch(tmp_path, lambda scratch: corpus(scratch, 41), chunks=1))


def test_phrase_tokens_are_remembered_so_a_run_without_new_phrases_builds_no_pipeline(tmp_path: Path, monkeypatch):
    root = tmp_path / "c"
    corpus(root, 30)
    params = sharded_params(root, tmp_path / "cache")
    built = []
    real = preannotate.blank_pipeline
    monkeypatch.setattr(preannotate, "blank_pipeline", lambda language="de": built.append(language) or real(language))
    ingest.run(for_stage(params, "ingest"))
    preannotate.run(for_stage(params, "preannotate"))
    assert built == ["de"]
    stored = json.loads((tmp_path / "cache" / "phrases" / "preannotate.json").read_text(encoding="utf-8"))["lines"]
    assert stored == {phrase: list(cut) for phrase, cut in proposals.phrase_tokens(real(), sorted(stored)).items()}
    relabel(root, 3, "ORG")  # a label changes, no phrase is new
    memo = tmp_path / "cache" / "phrases" / "preannotate.json"
    month_ago = time.time() - 30 * 86400
    os.utime(memo, (month_ago, month_ago))  # a memo left as it was for a month: no cache prune drops it
    preannotate.run(for_stage(params, "preannotate"))
    preannotate.run(for_stage(params, "preannotate"))
    assert built == ["de"] and memo.exists()


def test_a_changed_phrase_keeps_its_entries_only_when_a_bound_says_no_document_can_flip_it():
    tokens = {"Trump": ("Trump",)}
    then = preannotate.Gazetteer.of({"Trump": {"PER": 4}}, SCHEMA.entity_types, None, tokens)

    def now(shard_most: dict[str, int] | None) -> preannotate.Gazetteer:
        return preannotate.Gazetteer.of({"Trump": {"PER": 5}}, SCHEMA.entity_types, shard_most, tokens)

    assert now({"Trump": 1}).same_entries(then, {"Trump"}) == {"Trump"}  # no shard holds the lead of 4 or 5
    assert now({"Trump": 4}).same_entries(then, {"Trump"}) == set()  # a document of that shard could flip it
    assert now(None).same_entries(then, {"Trump"}) == set()  # no bound: nothing is provably the same
    relabelled = preannotate.Gazetteer.of({"Trump": {"ORG": 5}}, SCHEMA.entity_types, {"Trump": 1}, tokens)
    assert relabelled.same_entries(then, {"Trump"}) == set()
