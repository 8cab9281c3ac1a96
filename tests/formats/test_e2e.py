"""End to end: the real corpora imported through the CLI into a copy of the repository,
`dvc repro` validates and publishes them, and the published tables hold exactly the imported
annotations; exports of that real dataset import back unchanged."""

from __future__ import annotations

import json
import tempfile
from collections import defaultdict
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.formats import ExportOptions, brat, doccano, spacy_docbin
from pipeline.io.published import load_published

from .corpus_strategies import assert_same

pytestmark = pytest.mark.e2e


def table(published: Path, name: str) -> list[dict]:
    return pa.concat_tables([pq.read_table(p) for p in sorted((published / name).glob("*.parquet"))]).to_pylist()


def test_imports_ran(published_repo):
    codes = published_repo.import_exit_codes
    # SIEF holds one GPE span across a blank line: reported, not imported, and the exit code says so
    assert codes == {"mobie-dev": 0, "germeval-dev": 0, "hipe-sonar-dev": 0, "sief": 1, "doccano-examples": 0, "doccano-conll": 0}, (
        published_repo.import_output
    )
    assert "entity-crosses-paragraph" in published_repo.import_output["sief"]
    assert published_repo.report("sief")["problems"] == {
        "entity-crosses-paragraph": 1,
        "whitespace-stripped": 172,
        "whitespace-only-span": 1,
        "argument-skipped": 1,
    }


def test_validation_passed_and_published(published_repo):
    report = json.loads((published_repo.root / "corpus/reports/validation.json").read_text(encoding="utf-8"))
    assert report["passed"] is True and report["errors"] == 0
    assert (published_repo.published / "manifest.json").exists()


def test_published_tables_hold_the_imported_annotations(published_repo):
    """For every document, the published entities and relations are those of the record the
    layer priority picks (imported/* rank equally: the first layer name wins), text included."""
    root = published_repo.root
    chosen: dict[str, tuple[str, dict]] = {}
    for path in sorted((root / "corpus/annotations/imported").rglob("*.jsonl"), key=lambda p: p.parent.name):
        layer = f"imported/{path.parent.name}"
        for line in path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            chosen.setdefault(record["doc_id"], (layer, record))
    published = published_repo.published
    entities = defaultdict(list)
    for row in table(published, "entities"):
        entities[row["doc_id"]].append((row["ent_id"], row["start"], row["end"], row["label"], row["text"], row["layer"], row["source"]))
    relations = defaultdict(list)
    for row in table(published, "relations"):
        relations[row["doc_id"]].append((row["rel_id"], row["head"], row["tail"], row["label"]))
    documents = {row["doc_id"] for row in table(published, "documents")}
    for doc_id, (layer, record) in chosen.items():
        assert doc_id in documents
        expected = sorted((e["id"], e["start"], e["end"], e["label"], e["text"], layer, record["source"]) for e in record["entities"])
        assert sorted(entities[doc_id]) == expected, doc_id
        assert sorted(relations[doc_id]) == sorted((r["id"], r["head"], r["tail"], r["label"]) for r in record["relations"]), doc_id
    for name in ("mobie-dev", "germeval-dev", "hipe-sonar-dev", "sief", "doccano-examples", "doccano-conll"):
        report = published_repo.report(name)
        imported = [d for d in chosen if d.startswith(f"{name}-")]
        assert len(imported) == report["documents"], name
    counts = {
        name: sum(1 for rows in entities.values() for row in rows if row[6] == f"imported:{name}")
        for name in ("mobie-dev", "germeval-dev", "hipe-sonar-dev", "sief")
    }
    assert counts["mobie-dev"] == published_repo.report("mobie-dev")["layers"]["imported/mobie-dev"]["entities"] == 1975
    assert counts["hipe-sonar-dev"] == 654
    assert counts["sief"] == published_repo.report("sief")["layers"]["imported/sief"]["entities"]
    assert counts["germeval-dev"] == published_repo.report("germeval-dev")["layers"]["imported/germeval-dev"]["entities"]
    assert sum(1 for rows in relations.values() for row in rows if row[3] == "located_in") >= 33


def test_real_exports_import_back_unchanged(published_repo, make_options):
    corpus = load_published(published_repo.published)
    for module in (doccano, brat, spacy_docbin):
        with tempfile.TemporaryDirectory() as tmp:
            files = module.write(corpus, Path(tmp), ExportOptions())
            inputs = [Path(tmp)] if module is brat else [f for f in files if f.suffix in (".jsonl", ".spacy")]
            result = module.read(inputs, make_options("rt", id_prefix=""))
        assert_same(corpus, result)


def test_every_level_is_published_with_its_level_and_parent(published_repo):
    """GermEval's inner level is in the published entities table (level 1, parent the enclosing
    entity), and what each import reports as written is what the table holds."""
    rows = table(published_repo.published, "entities")
    by_key = {(r["doc_id"], r["ent_id"]): r for r in rows}
    inner = [r for r in rows if r["source"] == "imported:germeval-dev" and r["level"] == 1]
    assert inner, "no GermEval inner-level entity was published"
    for row in rows:
        if row["parent"] is None:
            assert row["level"] == 0
            continue
        parent = by_key[(row["doc_id"], row["parent"])]
        assert parent["start"] <= row["start"] and row["end"] <= parent["end"] and row["level"] == parent["level"] + 1
    for name in ("mobie-dev", "germeval-dev", "hipe-sonar-dev", "sief", "doccano-conll"):
        levels = published_repo.report(name)["levels"]
        written = sum(c["published"] for labels in levels.values() for c in labels.values())
        assert written == sum(1 for r in rows if r["source"] == f"imported:{name}"), name


def test_the_ner_view_loads_in_datasets_with_both_levels_and_spans(published_repo):
    import datasets

    ner = datasets.load_dataset("parquet", data_files={"train": str(published_repo.published / "ner" / "*.parquet")})["train"]
    assert isinstance(ner.features["ner_tags_inner"].feature, datasets.ClassLabel)
    assert ner.features["ner_tags_inner"].feature.names == ner.features["ner_tags"].feature.names
    assert set(ner.features["spans"].feature) == {"start", "end", "label"}
    names = ner.features["ner_tags"].feature.names
    germeval = [row for row in ner if row["doc_id"].startswith("germeval-dev-")]
    assert any(any(names[t] != "O" for t in row["ner_tags_inner"]) for row in germeval)
    for row in germeval:
        assert len(row["ner_tags_inner"]) == len(row["tokens"])
        assert all(0 <= span["start"] < span["end"] <= len(row["tokens"]) for span in row["spans"])
