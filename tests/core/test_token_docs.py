"""core/token_docs: the words rebuilt from ingest's tokens are the proposer's tokenizer's own."""

from __future__ import annotations

import random

from pipeline.core.proposals import blank_pipeline
from pipeline.core.segment import segment
from pipeline.core.token_docs import token_words


def test_words_rebuilt_from_ingest_tokens_are_the_tokenizers_for_any_whitespace_and_hyphens():
    nlp = blank_pipeline()
    pieces = [
        "US",
        "-",
        "Präsident",
        "Nord-",
        "und",
        "Süd-Korea",
        "z.B.",
        "(",
        ")",
        "3.",
        " ",
        "  ",
        "\n",
        "\n\n",
        "\t",
        "\u00a0",
        "-X-",
        "🙂",
        "𝔘lm",
        "e\u0301",
        "Köln",
    ]  # astral and combining: offsets are code points
    rng = random.Random(11)
    for _ in range(400):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 25)))
        seg = segment(text)
        words, spaces = token_words(nlp, text, seg.starts.tolist(), seg.ends.tolist())
        assert list(zip(words, spaces, strict=True)) == [(t.text, bool(t.whitespace_)) for t in nlp.make_doc(text)], repr(text)
