"""core/proposals: the token-pattern filter gives the Matcher's own matches, in its order, from the
stretches where a match can be."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from spacy.tokens import Doc

from pipeline.core.proposals import GazetteerProposer, TokenPatternFilter, blank_pipeline, token_words
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


def test_words_rebuilt_from_ingest_tokens_are_the_tokenizers_for_any_whitespace_and_hyphens():
    from pipeline.core.segment import segment

    nlp = blank_pipeline()
    pieces = ["US", "-", "Präsident", "Nord-", "und", "Süd-Korea", "z.B.", "(", ")", "3.", " ", "  ", "\n", "\n\n", "\t", "\u00a0", "-X-"]
    rng = random.Random(11)
    for _ in range(400):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 25)))
        seg = segment(text)
        words, spaces = token_words(nlp, text, seg.starts.tolist(), seg.ends.tolist())
        assert list(zip(words, spaces, strict=True)) == [(t.text, bool(t.whitespace_)) for t in nlp.make_doc(text)], repr(text)


def test_the_gazetteer_part_lists_exactly_the_documents_whose_own_counts_flip_the_label():
    from pipeline.core.proposals import documents_by_phrase, gazetteer_part, majority, majority_leads

    rng = random.Random(3)
    types = list(SCHEMA.entity_types)
    flips = 0
    for _ in range(300):
        phrases = [f"P{k}" for k in range(rng.randint(1, 6))]
        own = {
            f"d{n}": {
                phrase: {label: rng.randint(1, 3) for label in rng.sample(types[:3], rng.randint(1, 2))}
                for phrase in rng.sample(phrases, rng.randint(1, len(phrases)))
            }
            for n in range(rng.randint(1, 6))
        }
        counts: dict[str, dict[str, int]] = {}
        for mine in own.values():
            for phrase, found in mine.items():
                for label, count in found.items():
                    counts.setdefault(phrase, {}).setdefault(label, 0)
                    counts[phrase][label] += count
        labels = {phrase: majority(found, types) for phrase, found in counts.items()}
        tokens = {phrase: (phrase,) for phrase in counts}
        vocabulary = set(rng.sample(sorted(counts), rng.randint(1, len(counts))))
        # by hand: every document that has the phrase, its majority left out, where it differs
        expected = []
        for phrase in sorted(vocabulary):
            flipped = []
            for doc_id in sorted(own):
                if phrase in own[doc_id]:
                    rest = {name: count - own[doc_id][phrase].get(name, 0) for name, count in counts[phrase].items()}
                    if majority(rest, types) != labels[phrase]:
                        flipped.append([doc_id, majority(rest, types)])
            expected.append([phrase, labels[phrase], flipped])
            flips += len(flipped)
        by_phrase = documents_by_phrase(own)
        maxima = {phrase: entry["max"] for phrase, entry in by_phrase.items()}
        found = gazetteer_part(
            counts,
            labels,
            tokens,
            vocabulary,
            maxima,
            lambda phrase, by_phrase=by_phrase: by_phrase[phrase]["documents"],
            types,
            majority_leads(counts, labels),
        )
        assert found == expected
    assert flips > 50, "the random counts exercise flipped labels"
