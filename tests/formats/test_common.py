"""The token-based text rebuild and BIO decoding."""

from __future__ import annotations

import pytest

from pipeline.formats.common import bio_spans, rebuild_text


def test_rebuild_text():
    text, spans = rebuild_text(["Berlin", ",", "den", "22", ".", "Juni"], [" ", " ", "\n", "", " ", " "])
    assert text == "Berlin , den\n22. Juni"
    assert [text[s:e] for s, e in spans] == ["Berlin", ",", "den", "22", ".", "Juni"]


def test_bio_spans_bio_iob1_bioes():
    spans, notes = bio_spans(["B-PER", "I-PER", "O", "I-LOC", "I-LOC", "B-LOC", "S-ORG", "B-OTH", "E-OTH", "_"])
    assert [(s.first, s.last, s.label) for s in spans] == [(0, 1, "PER"), (3, 4, "LOC"), (5, 5, "LOC"), (6, 6, "ORG"), (7, 8, "OTH")]
    assert len(notes) == 1 and "I-LOC" in notes[0]
    with pytest.raises(ValueError, match="not a BIO tag"):
        bio_spans(["X-PER"])
