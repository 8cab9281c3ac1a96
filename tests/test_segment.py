from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.segment import paragraphs, segment


def test_every_token_and_sentence_slices_the_text():
    text = "US-Präsident Donald Trump traf am 3. Mai 2018 Kim Jong Un.  Das war z.B. gut.\n\nNeuer Absatz hier."
    seg = segment(text)
    for sentence, tokens in zip(seg.sentences, seg.tokens):
        assert text[sentence.start : sentence.end].strip() == text[sentence.start : sentence.end]
        for token in tokens:
            piece = text[token.start : token.end]
            assert piece and not piece.isspace()
            assert sentence.start <= token.start < token.end <= sentence.end
    words = [text[t.start : t.end] for tokens in seg.tokens for t in tokens]
    assert "z.B." in words and "3." in words


def test_sentences_never_cross_paragraphs():
    text = "Erster Absatz ohne Punkt\n\nZweiter Absatz. Mit zwei Sätzen."
    seg = segment(text)
    assert [s.paragraph_idx for s in seg.sentences] == [0, 1, 1]
    assert text[seg.sentences[0].start : seg.sentences[0].end] == "Erster Absatz ohne Punkt"


def test_paragraphs_split_on_blank_lines_only():
    text = "a\nb\n\n  \n c\n"
    assert [text[p.start : p.end] for p in paragraphs(text)] == ["a\nb", "c"]


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.sampled_from("abcÄöüß🙂é\u0301 .,-\n"), max_size=80))
def test_offsets_hold_for_arbitrary_text(text):
    seg = segment(text)
    for tokens in seg.tokens:
        for token in tokens:
            assert text[token.start : token.end].strip() != ""


def test_a_very_long_paragraph_is_segmented():
    text = "Kim traf Moon in Panmunjom, und die Gespräche dauerten lange " * 25_000
    assert len(text) > 1_000_000
    seg = segment(text)
    assert sum(len(t) for t in seg.tokens) == 25_000 * 11
    last = seg.tokens[-1][-1]
    assert text[last.start : last.end] == "lange"
