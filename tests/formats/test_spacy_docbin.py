"""spaCy DocBin: docs from the published tokens, round trip, and `spacy debug data` on a real export."""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings

from pipeline.core.spans import Entity, Relation
from pipeline.formats import ExportOptions, spacy_docbin
from pipeline.io.published import load_published

from .corpus_strategies import DocSpec, assert_same, build_corpus, corpora


def test_docs_keep_text_tokens_entities_and_relations(tmp_path, make_options):
    import spacy
    from spacy.tokens import DocBin

    text = "  US-Präsident Donald Trump\n\ntraf  Kim Jong Un in Singapur. "
    specs = [
        DocSpec(
            "d",
            text,
            (
                Entity("T1", 2, 4, "GPE", "gold"),
                Entity("T2", 15, 27, "PER", "gold"),
                Entity("T3", 35, 46, "PER", "gold"),
                Entity("T4", 50, 58, "GPE", "gold"),
            ),
            (Relation("R1", "T2", "T1", "head_of", "gold"), Relation("R2", "T2", "T3", "meets", "gold")),
        )
    ]
    corpus = build_corpus(specs)
    (path, readme) = spacy_docbin.write(corpus, tmp_path, ExportOptions())
    assert readme.name == "README.md" and "gold_preproc true" in readme.read_text(encoding="utf-8")
    (doc,) = DocBin().from_disk(path).get_docs(spacy.blank("de").vocab)
    assert doc.text == text
    assert [(e.text, e.label_) for e in doc.ents] == [("US", "GPE"), ("Donald Trump", "PER"), ("Kim Jong Un", "PER"), ("Singapur", "GPE")]
    assert list(doc.user_data["relations"]) == [
        {"id": "R1", "head": "T2", "tail": "T1", "label": "head_of"},
        {"id": "R2", "head": "T2", "tail": "T3", "label": "meets"},
    ]
    assert [s.text.strip() for s in doc.sents][:2] == ["US-Präsident Donald Trump", "traf  Kim Jong Un in Singapur."]
    assert_same(corpus, spacy_docbin.read([path], make_options("rt", id_prefix="")))


@settings(max_examples=30, deadline=None)
@given(corpora())
def test_round_trip(make_options, specs):
    corpus = build_corpus(specs)
    with tempfile.TemporaryDirectory() as tmp:
        files = [f for f in spacy_docbin.write(corpus, Path(tmp), ExportOptions()) if f.suffix == ".spacy"]
        result = spacy_docbin.read(files, make_options("rt", id_prefix=""))
    assert_same(corpus, result)


@pytest.mark.e2e
def test_spacy_debug_data_accepts_the_real_export(published_repo, tmp_path):
    """The export of the imported real corpora: no misaligned tokens, no missing (misaligned)
    entity tags, no whitespace entities, with the gold tokenisation the README prescribes."""
    corpus = load_published(published_repo.published)
    spacy_docbin.write(corpus, tmp_path, ExportOptions())
    python = sys.executable
    subprocess.run(
        [python, "-m", "spacy", "init", "config", "-l", "de", "-p", "ner", str(tmp_path / "config.cfg")], check=True, capture_output=True
    )
    run = subprocess.run(
        [
            python,
            "-m",
            "spacy",
            "debug",
            "data",
            str(tmp_path / "config.cfg"),
            "--paths.train",
            str(tmp_path / "train.spacy"),
            "--paths.dev",
            str(tmp_path / "dev.spacy"),
            "--corpora.train.gold_preproc",
            "true",
            "--corpora.dev.gold_preproc",
            "true",
        ],
        capture_output=True,
        text=True,
        env={"NO_COLOR": "1", "PATH": str(Path(python).parent)},
    )
    output = re.sub(r"\x1b\[[0-9;]*m", "", run.stdout + run.stderr)
    assert run.returncode == 0, output
    assert "misaligned" not in output, output
    assert "0 missing value(s)" in output, output
    assert "No entities consisting of or starting/ending with whitespace" in output, output
    assert "No entities crossing sentence boundaries" in output, output
