"""Smoke test of the benchmark corpus builder (benchmarks/build_corpus.py): 20 documents, no timing."""

from __future__ import annotations

import hashlib
import json
import os
import sys
import unicodedata
from pathlib import Path

import pytest
import yaml
from jsonschema.validators import validator_for

REPO = Path(__file__).resolve().parents[2]
EXTERNAL = Path(os.environ.get("CORPUS_EXTERNAL_DIR") or REPO.parent / "shared" / "external")
NEEDED = ("germeval2014-dev.tsv", "hipe2022-sonar-dev-de.tsv", "mobie-dev.jsonl.gz")

pytestmark = pytest.mark.skipif(
    not all((EXTERNAL / name).exists() for name in NEEDED),
    reason=f"the external corpora ({', '.join(NEEDED)}) are not in {EXTERNAL}; set CORPUS_EXTERNAL_DIR",
)

sys.path.insert(0, str(REPO / "benchmarks"))
import build_corpus  # noqa: E402


def validator(name: str):
    schema = json.loads((REPO / "schemas" / name).read_text(encoding="utf-8"))
    cls = validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def read_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = tmp_path_factory.mktemp("bench")
    build_corpus.write_corpus(repo, 20, EXTERNAL)
    return repo


def test_documents_are_schema_valid_unique_and_news_length(built: Path):
    documents = read_lines(built / build_corpus.SEED_FILE)
    check = validator("document.schema.json")
    assert len(documents) == 20
    assert [d["id"] for d in documents] == [f"bench-{i:06d}" for i in range(1, 21)]
    assert len({d["text"] for d in documents}) == 20, "every document text differs"
    for document in documents:
        assert not list(check.iter_errors(document)), document["id"]
        text = document["text"]
        assert text == unicodedata.normalize("NFC", text) and "\r" not in text and text == text.strip()
        assert 300 <= len(text.split()) <= 520, (document["id"], len(text.split()))
        assert "\n\n" in text, "documents have paragraphs"


def test_annotations_are_schema_valid_and_anchored(built: Path):
    documents = {d["id"]: d["text"] for d in read_lines(built / build_corpus.SEED_FILE)}
    records = read_lines(built / build_corpus.LAYER_FILE)
    check = validator("annotation.schema.json")
    labels = set(yaml.safe_load((REPO / "schemas" / "labels.yaml").read_text(encoding="utf-8"))["entity_types"])
    assert [r["doc_id"] for r in records] == list(documents)
    sources = set()
    for record in records:
        assert not list(check.iter_errors(record)), record["doc_id"]
        text = documents[record["doc_id"]]
        assert record["text_sha256"] == hashlib.sha256(text.encode("utf-8")).hexdigest()
        ids = [e["id"] for e in record["entities"]]
        assert len(ids) == len(set(ids)), record["doc_id"]
        assert record["entities"], record["doc_id"]
        previous_end = 0
        for entity in sorted(record["entities"], key=lambda e: (e["start"], e["end"])):
            where = (record["doc_id"], entity["id"])
            span = text[entity["start"] : entity["end"]]
            assert 0 <= entity["start"] < entity["end"] <= len(text), where
            assert entity["text"] == span, where
            assert span == span.strip() and "\n" not in span, where
            assert entity["label"] in labels, where
            assert entity["start"] >= previous_end, f"{where} overlaps the entity before it"
            previous_end = entity["end"]
            sources.add(entity["source"])
    assert sources == {"imported:germeval2014", "imported:hipe2022", "imported:mobie"}


def test_deterministic_and_one_more_document_keeps_the_others(built: Path, tmp_path: Path):
    build_corpus.write_corpus(tmp_path, 21, EXTERNAL)
    for relative in (build_corpus.SEED_FILE, build_corpus.LAYER_FILE):
        before = (built / relative).read_text(encoding="utf-8").splitlines()
        after = (tmp_path / relative).read_text(encoding="utf-8").splitlines()
        assert after[:20] == before and len(after) == 21
