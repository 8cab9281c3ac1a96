"""CoNLL-2003 BIO and GermEval 2014 TSV: text rebuilt from tokens, both GermEval levels, round trip."""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings

from pipeline.formats import ExportOptions, ImportFailed, conll

from .corpus_strategies import build_corpus, corpora, pipeline_problems

REPO = Path(__file__).resolve().parents[2]


def germeval_sentences(path: Path) -> list[tuple[str, list[list[str]]]]:
    """(comment line, token rows) per sentence, parsed independently of the adapter."""
    sentences = []
    for block in path.read_text(encoding="utf-8").split("\n\n"):
        lines = [line for line in block.split("\n") if line.strip()]
        if lines:
            sentences.append((lines[0], [line.split("\t")[:4] for line in lines[1:]]))
    return sentences


def spans(tokens: list[str], tags: list[str]) -> list[tuple[str, str]]:
    """(text, label) per entity: tokens joined by spaces, B- starts, I- of the same type continues."""
    found, current = [], None
    for token, tag in zip(tokens, tags, strict=True):
        if tag.startswith("I-") and current and current[1] == tag[2:]:
            current[0].append(token)
            continue
        if current:
            found.append((" ".join(current[0]), current[1]))
        current = ([token], tag[2:]) if tag != "O" else None
    if current:
        found.append((" ".join(current[0]), current[1]))
    return found


@pytest.fixture(scope="module")
def germeval(external_dir, make_options):
    path = external_dir / "germeval2014-dev.tsv"
    return path, germeval_sentences(path), conll.read_germeval([path], make_options("germeval-dev", "germeval2014"))


def test_germeval_dev_both_levels(germeval):
    _path, sentences, result = germeval
    mapping = yaml.safe_load((REPO / "schemas/mappings/germeval2014.yaml").read_text(encoding="utf-8"))["entities"]
    assert len(sentences) == len(result.documents) == 2200
    assert result.documents[122].doc_id == "germeval-dev-000123"
    expected = Counter()
    per_level = {0: Counter(), 1: Counter()}
    dropped = Counter()
    for index, (comment, rows) in enumerate(sentences):
        tokens = [r[1] for r in rows]
        assert result.documents[index].text == " ".join(tokens)
        assert result.documents[index].url == comment.split("\t")[1]
        for level, column in ((0, 2), (1, 3)):
            for text, label in spans(tokens, [r[column] for r in rows]):
                if mapping[label] is None:
                    dropped[label] += 1
                else:
                    expected[(index, text, mapping[label])] += 1
                    per_level[level][label] += 1
    index_of = {d.doc_id: i for i, d in enumerate(result.documents)}
    assert result.layers == ["imported/germeval-dev"]  # both levels in one record
    found = Counter()
    for record in result.records_of("imported/germeval-dev"):
        text = result.documents[index_of[record.doc_id]].text
        for e in record.entities:
            found[(index_of[record.doc_id], text[e.start : e.end], e.label)] += 1
    assert found == expected
    assert sum(per_level[0].values()) == 2239 and sum(per_level[1].values()) == 159
    levels = result.stats["levels"]
    for level in (0, 1):
        assert {label: c["published"] for label, c in levels[str(level)].items() if c["published"]} == dict(per_level[level])
    assert result.stats["dropped_by_mapping"]["entities"] == dict(dropped)
    assert len(result.records_of("imported/germeval-dev")) == 2200  # every sentence, even without entities
    assert not result.problems


def test_germeval_dev_passes_annotate_checks(germeval):
    _, _, result = germeval
    assert pipeline_problems(result) == []


def test_germeval_unmapped_variants_are_listed(external_dir, make_options, tmp_path):
    mapping = tmp_path / "m.yaml"
    mapping.write_text("entities: {PER: PER, ORG: ORG, LOC: LOC, OTH: MISC}\n", encoding="utf-8")
    with pytest.raises(ImportFailed, match=r"(?s)'LOCderiv'.*'LOCpart'.*'ORGderiv'.*'PERpart'"):
        conll.read_germeval([external_dir / "germeval2014-dev.tsv"], make_options("g", mapping))


def test_germeval_inline(tmp_path, make_options):
    path = tmp_path / "g.tsv"
    path.write_text(
        "#\thttp://example.org/a\t[2010-07-04]\t\n1\tDie\tO\tO\n2\tBundesrepublik\tB-LOC\tO\n3\tDeutschland\tI-LOC\tB-LOC\n4\t.\tO\tO\t\n\n"
        "#\thttp://example.org/b\t[2010-07-05]\n1\tdeutsche\tB-LOCderiv\tO\n",
        encoding="utf-8",
    )
    result = conll.read_germeval([path], make_options("g", "germeval2014"))
    first, second = result.documents
    assert (first.text, first.url, first.date) == ("Die Bundesrepublik Deutschland .", "http://example.org/a", "2010-07-04")
    assert [(r.layer, [first.text[e.start : e.end] for e in r.entities]) for r in result.records if r.doc_id == first.doc_id] == [
        ("imported/g", ["Bundesrepublik Deutschland", "Deutschland"]),
    ]
    assert second.text == "deutsche" and result.stats["dropped_by_mapping"]["entities"] == {"LOCderiv": 1}


def test_conll_documents_and_iob1(tmp_path, make_options):
    path = tmp_path / "c.conll"
    path.write_text(
        "-DOCSTART- -X- -X- O\n\nEU NNP B-NP I-ORG\nrejects VBZ B-VP O\nGerman JJ B-NP I-MISC\n\nPeter NNP B-NP I-PER\nBlackburn NNP I-NP I-PER\n\n"
        "-DOCSTART- -X- -X- O\n\nBRUSSELS NNP B-NP I-LOC\n",
        encoding="utf-8",
    )
    result = conll.read_conll([path], make_options("c"))
    assert [d.text for d in result.documents] == ["EU rejects German\nPeter Blackburn", "BRUSSELS"]
    entities = [(result.documents[i].text[e.start : e.end], e.label) for i, r in enumerate(result.records) for e in r.entities]
    assert entities == [("EU", "ORG"), ("German", "MISC"), ("Peter Blackburn", "PER"), ("BRUSSELS", "LOC")]
    assert Counter(p.kind for p in result.problems) == {"iob1-tag": 4}


def test_doccano_conll_example(external_dir, make_options):
    result = conll.read_conll(
        [external_dir / "doccano" / "import_tests_data_sequence_labeling_example.conll"], make_options("d", "doccano-examples")
    )
    assert [d.text for d in result.documents] == ["JAPAN GET", "Nadim Ladki"]
    assert [[(d.text[e.start : e.end], e.label) for e in r.entities] for d, r in zip(result.documents, result.records, strict=True)] == [
        [("JAPAN", "LOC")],
        [("Nadim Ladki", "PER")],
    ]


def test_malformed_lines_are_refused(tmp_path, make_options):
    path = tmp_path / "bad.conll"
    path.write_text("EU B-ORG\nlonely\n", encoding="utf-8")
    with pytest.raises(ImportFailed, match=r"bad.conll:2: expected a token and a tag"):
        conll.read_conll([path], make_options("c"))


# --------------------------------------------------------------------------- round trip


def token_view(corpus):
    """Per document in export order: sentences of token texts, and entities as (token texts, label)."""
    view = []
    for split in corpus.splits:
        for doc in corpus.split(split):
            sentences = [[doc.text[t.start : t.end] for t in sentence] for sentence in doc.sentence_tokens()]
            entities = []
            for e in doc.entities:
                tokens = [doc.text[t.start : t.end] for t in doc.tokens if e.start <= t.start and t.end <= e.end]
                entities.append((tuple(tokens), e.label))
            view.append((sentences, sorted(entities)))
    return view


@settings(max_examples=40, deadline=None)
@given(corpora())
def test_round_trip(make_options, specs):
    """CoNLL keeps tokens, sentences and entity labels (not the spacing, ids or relations)."""
    corpus = build_corpus(specs)
    with tempfile.TemporaryDirectory() as tmp:
        files = conll.write(corpus, Path(tmp), ExportOptions())
        result = conll.read_conll(files, make_options("rt"))
    assert not result.problems
    expected = token_view(corpus)
    assert len(result.documents) == len(expected)
    for document, record, (sentences, entities) in zip(result.documents, result.records, expected, strict=True):
        assert document.text == "\n".join(" ".join(s) for s in sentences)
        assert sorted((tuple(document.text[e.start : e.end].split()), e.label) for e in record.entities) == entities
