"""Tokens cut at entity edges, sentences joined around entities, text rebuilt from tokens."""

from __future__ import annotations

import pytest

from pipeline.core.spans import Entity
from pipeline.core.tokens import hyphen_aware_cuts, merge_sentences, rebuild_text, segment_for, split_tokens

TEXT = "US-Präsident Donald Trump trifft Kim Jong Un in Panmunjom."


def test_tokens_are_split_at_annotated_boundaries_and_hyphens():
    cuts = hyphen_aware_cuts(TEXT, [0, 2])
    assert split_tokens([(0, 12), (13, 19)], cuts) == [(0, 2), (2, 3), (3, 12), (13, 19)]
    assert [TEXT[s:e] for s, e in split_tokens([(0, 12)], cuts)] == ["US", "-", "Präsident"]


def test_a_word_final_hyphen_is_cut_off_an_entity():
    text = "Nord- und Südkorea"
    assert hyphen_aware_cuts(text, [0, 5]) == [0, 4, 5]


def test_sentences_crossed_by_an_entity_are_joined():
    sentences = [
        {"doc_id": "d", "sent_idx": 0, "start": 0, "end": 5, "paragraph_idx": 0},
        {"doc_id": "d", "sent_idx": 1, "start": 6, "end": 10, "paragraph_idx": 0},
        {"doc_id": "d", "sent_idx": 2, "start": 12, "end": 20, "paragraph_idx": 1},
    ]
    tokens = [(0, 5, 0), (6, 10, 1), (12, 20, 2)]
    merged, token_sentences, crossing = merge_sentences(sentences, tokens, [Entity("e", 0, 10, "ORG", "gold")])
    assert [(s["start"], s["end"], s["sent_idx"]) for s in merged] == [(0, 10, 0), (12, 20, 1)]
    assert token_sentences == [0, 0, 1]
    assert crossing == []


def test_an_entity_across_a_paragraph_is_returned_not_joined():
    sentences = [{"sent_idx": 0, "start": 0, "end": 5, "paragraph_idx": 0}, {"sent_idx": 1, "start": 7, "end": 12, "paragraph_idx": 1}]
    merged, _, crossing = merge_sentences(sentences, [(0, 5, 0), (7, 12, 1)], [Entity("x", 0, 12, "ORG", "gold")])
    assert [e.id for e in crossing] == ["x"] and len(merged) == 2


def test_segment_for_cuts_only_tokens_an_entity_edge_falls_in():
    tokens = [(0, 12, 0), (13, 19, 0), (20, 25, 0)]
    sentences = [{"sent_idx": 0, "start": 0, "end": len(TEXT), "paragraph_idx": 0}]
    refined, merged, token_sentences, crossing = segment_for(TEXT, tokens, sentences, [Entity("T1", 0, 2, "GPE", "gold")])
    assert [TEXT[s:e] for s, e, _ in refined] == ["US", "-", "Präsident", "Donald", "Trump"]
    assert token_sentences == [0] * 5 and len(merged) == 1 and crossing == []


def test_rebuild_text():
    text, spans = rebuild_text(["Berlin", ",", "den", "22", ".", "Juni"], [" ", " ", "\n", "", " ", " "])
    assert text == "Berlin , den\n22. Juni"
    assert [text[s:e] for s, e in spans] == ["Berlin", ",", "den", "22", ".", "Juni"]


def test_rebuild_text_needs_one_separator_per_token():
    with pytest.raises(ValueError, match="one separator per token"):
        rebuild_text(["a", "b"], [" "])
