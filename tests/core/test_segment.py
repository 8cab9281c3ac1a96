"""Segmentation: every token and sentence slices the text; sentences never cross paragraphs."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.core.segment import paragraphs, segment


def token_texts(text: str, seg) -> list[str]:
    return [text[start:end] for start, end in zip(seg.starts.tolist(), seg.ends.tolist(), strict=True)]


def test_every_token_and_sentence_slices_the_text():
    text = "US-Präsident Donald Trump traf am 3. Mai 2018 Kim Jong Un.  Das war z.B. gut.\n\nNeuer Absatz hier."
    seg = segment(text)
    sentence_starts, sentence_ends = seg.sentence_starts.tolist(), seg.sentence_ends.tolist()
    for start, end in zip(sentence_starts, sentence_ends, strict=True):
        assert text[start:end].strip() == text[start:end]
    for start, end, sentence in zip(seg.starts.tolist(), seg.ends.tolist(), seg.token_sentence.tolist(), strict=True):
        piece = text[start:end]
        assert piece and not piece.isspace()
        assert sentence_starts[sentence] <= start < end <= sentence_ends[sentence]
    assert seg.token_sentence.tolist() == sorted(seg.token_sentence.tolist())
    words = token_texts(text, seg)
    assert "z.B." in words and "3." in words
    assert len(sentence_starts) == 3


def test_sentences_never_cross_paragraphs():
    text = "Erster Absatz ohne Punkt\n\nZweiter Absatz. Mit zwei Sätzen."
    seg = segment(text)
    assert seg.paragraphs.tolist() == [0, 1, 1]
    assert text[seg.sentence_starts[0] : seg.sentence_ends[0]] == "Erster Absatz ohne Punkt"


def test_paragraphs_split_on_blank_lines_only():
    text = "a\nb\n\n  \n c\n"
    assert [text[p.start : p.end] for p in paragraphs(text)] == ["a\nb", "c"]


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.sampled_from("abcÄöüß🙂é\u0301 .,-\n"), max_size=80))
def test_offsets_hold_for_arbitrary_text(text):
    seg = segment(text)
    assert all(piece.strip() != "" for piece in token_texts(text, seg))
    assert (
        len(seg.sentence_starts)
        == len(seg.sentence_ends)
        == len(seg.paragraphs)
        == (int(seg.token_sentence.max()) + 1 if len(seg.starts) else 0)
    )


def test_a_very_long_paragraph_is_segmented():
    text = "Kim traf Moon in Panmunjom, und die Gespräche dauerten lange " * 25_000
    assert len(text) > 1_000_000
    seg = segment(text)
    assert len(seg.starts) == 25_000 * 11
    assert text[seg.starts[-1] : seg.ends[-1]] == "lange"
