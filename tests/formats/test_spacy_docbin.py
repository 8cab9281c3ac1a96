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


NESTED_TEXT = "Die Bank von England und die Universität Bremen trafen Anna Berg."


def nested_specs() -> list[DocSpec]:
    def ent(id_, words, label):
        start = NESTED_TEXT.index(words)
        return Entity(id_, start, start + len(words), label, "gold")

    entities = (
        ent("T1", "Bank von England", "ORG"),
        ent("T2", "England", "GPE"),
        ent("T3", "Universität Bremen", "ORG"),
        ent("T4", "Bremen", "GPE"),
        ent("T5", "Anna Berg", "PER"),
    )
    return [DocSpec(f"d{i}", NESTED_TEXT, entities, ()) for i in range(4)]


def test_doc_ents_hold_the_outermost_level_and_the_span_group_every_entity(tmp_path, make_options):
    import spacy
    from spacy.tokens import DocBin

    corpus = build_corpus(nested_specs()[:1])
    (path, _) = spacy_docbin.write(corpus, tmp_path, ExportOptions())
    (doc,) = DocBin().from_disk(path).get_docs(spacy.blank("de").vocab)
    assert [(e.text, e.label_) for e in doc.ents] == [("Bank von England", "ORG"), ("Universität Bremen", "ORG"), ("Anna Berg", "PER")]
    assert [(s.text, s.label_) for s in doc.spans["entities"]] == [
        ("Bank von England", "ORG"),
        ("England", "GPE"),
        ("Universität Bremen", "ORG"),
        ("Bremen", "GPE"),
        ("Anna Berg", "PER"),
    ]
    assert_same(corpus, spacy_docbin.read([path], make_options("rt", id_prefix="")))


def _spacy_train(tmp_path: Path, pipe: str, overrides: list[str], gold_preproc: str = "true") -> subprocess.CompletedProcess:
    python = sys.executable
    config = tmp_path / f"{pipe}.cfg"
    subprocess.run([python, "-m", "spacy", "init", "config", "-l", "de", "-p", pipe, str(config)], check=True, capture_output=True)
    train = next(tmp_path.glob("*.spacy"))
    return subprocess.run(
        [python, "-m", "spacy", "train", str(config), "--paths.train", str(train), "--paths.dev", str(train)]
        + ["--corpora.train.gold_preproc", gold_preproc, "--corpora.dev.gold_preproc", gold_preproc]
        + ["--training.max_steps", "4", "--training.eval_frequency", "2", "--nlp.batch_size", "8", *overrides],
        capture_output=True,
        text=True,
        env={"NO_COLOR": "1", "PATH": str(Path(python).parent)},
        timeout=600,
    )


def test_spacy_trains_spancat_on_every_level_and_ner_on_the_outermost(tmp_path):
    """A smoke test (a few steps on CPU): spancat reads doc.spans["entities"], ner reads doc.ents.
    spancat trains without gold_preproc: spaCy's sentence split (Span.as_doc) drops span groups."""
    spacy_docbin.write(build_corpus(nested_specs()), tmp_path, ExportOptions())
    spancat = _spacy_train(tmp_path, "spancat", ["--components.spancat.spans_key", "entities"], gold_preproc="false")
    assert spancat.returncode == 0, spancat.stdout[-3000:] + spancat.stderr[-3000:]
    ner = _spacy_train(tmp_path, "ner", [])
    assert ner.returncode == 0, ner.stdout[-3000:] + ner.stderr[-3000:]
