"""core/token_patterns: the token-pattern filter gives the Matcher's own matches, in its order, from
the stretches where a match can be."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from spacy.tokens import Doc

from pipeline.core.proposals import GazetteerProposer, blank_pipeline
from pipeline.core.token_patterns import TokenPatternFilter
from pipeline.io.schemas import load_label_schema

REPO = Path(__file__).resolve().parents[2]
SCHEMA = load_label_schema(REPO / "schemas" / "labels.yaml")

HAND = [
    {"label": "DATE", "pattern": [{"TEXT": {"REGEX": r"^\d{1,2}\.$"}}, {"TEXT": "Mai"}, {"TEXT": {"REGEX": r"^\d{4}$"}, "OP": "?"}]},
    {"label": "DATE", "pattern": [{"TEXT": {"IN": ["Anfang", "Ende"]}, "OP": "?"}, {"TEXT": {"REGEX": r"^\d{4}$"}}]},
    {"label": "PER", "pattern": [{"TEXT": {"IN": ["Anna", "Ben"]}}, {"LOWER": "von", "OP": "?"}, {"IS_TITLE": True, "OP": "+"}]},
    {"label": "EVENT", "pattern": [{"LOWER": "gipfel"}]},
]
WORDS = ["Anna", "Ben", "von", "Berg", "Tal", "am", "3.", "Mai", "2018", "Anfang", "Ende", "Gipfel", "gipfel", "und", ",", "\n\n"]


def whole_doc(proposer: GazetteerProposer, doc) -> list[tuple[int, int, int]]:
    return [tuple(m) for m in proposer.ruler.matcher(doc)]


@pytest.fixture(scope="module")
def proposer() -> GazetteerProposer:
    return GazetteerProposer(HAND, {}, SCHEMA)


def test_stretch_matches_equal_the_matcher_on_the_whole_doc_in_its_order(proposer: GazetteerProposer):
    rng = random.Random(7)
    texts = [[rng.choice(WORDS) for _ in range(rng.randint(0, 60))] for _ in range(300)]
    stretches = proposer.token_filter.stretches(texts)
    found = 0
    for words, where in zip(texts, stretches, strict=True):
        doc = Doc(proposer.nlp.vocab, words=words, spaces=[True] * len(words))
        expected = whole_doc(proposer, doc)
        assert proposer.token_matches(doc, stretches=where) == expected
        assert proposer.token_matches(doc, words) == expected
        found += len(expected)
    assert found > 100, "the random texts exercise overlapping and optional matches"


def test_tokens_that_no_spec_accepts_are_outside_every_stretch(proposer: GazetteerProposer):
    words = ["und", "am", "3.", "Mai", "und", "Berg", "und", "Anna", "Berg"]
    # "Berg" alone (title case) can be in a PER match only with Anna or Ben in the same run
    assert proposer.token_filter.stretches([words]) == [[(2, 4), (7, 9)]]


def test_a_spec_on_a_non_lexical_attribute_or_a_negation_makes_the_whole_text_one_stretch():
    vocab = blank_pipeline().vocab
    assert TokenPatternFilter(vocab, [[{"POS": "PROPN"}]]).stretches([["a", "b"], []]) == [[(0, 2)], []]
    assert TokenPatternFilter(vocab, [[{"LOWER": "a"}, {"LOWER": "b", "OP": "!"}]]).stretches([["a", "c"]]) == [[(0, 2)]]


def test_no_token_patterns_means_no_stretch():
    assert TokenPatternFilter(blank_pipeline().vocab, []).stretches([["Anna", "Berg"]]) == [[]]


def test_matches_of_the_stretches_own_docs_are_the_matches_of_the_whole_doc(proposer: GazetteerProposer):
    rng = random.Random(5)
    texts = [[rng.choice(WORDS) for _ in range(rng.randint(0, 60))] for _ in range(200)]
    for words, where in zip(texts, proposer.token_filter.stretches(texts), strict=True):
        spaces = [True] * len(words)
        assert proposer.token_matches_of_words(words, spaces, where) == whole_doc(
            proposer, Doc(proposer.nlp.vocab, words=words, spaces=spaces)
        )
