"""spaCy ``Doc`` s rebuilt from the tokens ingest already cut, for the preannotate proposer's
tokenizer (:func:`pipeline.core.proposals.blank_pipeline`), without tokenizing the text again.

Pure: text and offsets in, words and ``Doc`` s out (spaCy is imported when a ``Doc`` is built).
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import Any

import numpy as np

SPACE = ord(" ")


def token_words(nlp: Any, text: str, starts: Sequence[int], ends: Sequence[int]) -> tuple[list[str], list[bool]]:
    """The words and trailing spaces of the ``Doc`` that ``nlp``'s tokenizer (:func:`pipeline.core.proposals.blank_pipeline`)
    makes of ``text``, from the tokens ingest already cut (code-point ``starts``/``ends``, whitespace
    tokens dropped): :func:`doc_from_tokens` builds the ``Doc`` of them.

    spaCy splits text at whitespace first and tokenizes each whitespace-free chunk on its own, so
    ingest's tokens of a chunk are this tokenizer's tokens unless the chunk has a hyphen (the only
    rule :func:`blank_pipeline` adds): such chunks are tokenized again, the rest taken as they are.
    Whitespace is rebuilt as spaCy does: a single space after a token is its trailing space, any
    other run of whitespace is a token of its own. Several times faster than tokenizing the text.
    """
    count = len(starts)
    words = [text[start:end] for start, end in zip(starts, ends, strict=True)]
    # one pass in numpy over every gap between tokens (a single space: the token's trailing space)
    gap_starts = np.asarray(ends[:-1], np.int64)
    gap_lengths = np.asarray(starts[1:], np.int64) - gap_starts
    one_space = (gap_lengths == 1) & (np.frombuffer(text.encode("utf-32-le"), np.uint32)[gap_starts] == SPACE)
    spaces = [*one_space.tolist(), False] if count else []
    # What goes after token k (k = -1: before the first): whitespace, beyond one trailing space.
    inserted: dict[int, str] = {}

    def gap(after: int, run: str) -> None:
        if run[0] == " " and after >= 0:
            spaces[after] = True
            run = run[1:]
        if run:
            inserted[after] = run

    if count and starts[0] > 0:
        gap(-1, text[: starts[0]])
    for k in np.flatnonzero((gap_lengths != 0) & ~one_space).tolist():  # other whitespace: rare
        gap(k, text[ends[k] : starts[k + 1]])
    tail = ends[-1] if count else 0
    if tail < len(text):
        gap(count - 1, text[tail:])
    # Runs of tokens with no whitespace between them that hold a hyphen, tokenized again.
    retokenized: dict[int, tuple[int, list[str]]] = {}
    if "-" in text:
        reach = 0  # the end of the last run tokenized again: hyphens before it are done
        for k in [k for k, word in enumerate(words) if "-" in word]:
            if k < reach:
                continue
            first = last = k
            while first > 0 and starts[first] == ends[first - 1]:
                first -= 1
            while last + 1 < count and starts[last + 1] == ends[last]:
                last += 1
            retokenized[first] = (last + 1, _chunk_words(nlp, text[starts[first] : ends[last]]))
            reach = last + 1
    if not inserted and not retokenized:
        return words, spaces
    out_words: list[str] = []
    out_spaces: list[bool] = []
    if -1 in inserted:
        out_words.append(inserted[-1])
        out_spaces.append(False)
    k = 0
    while k < count:
        if k in retokenized:
            last, pieces = retokenized[k]
            out_words.extend(pieces)
            out_spaces.extend([False] * len(pieces))
            out_spaces[-1] = spaces[last - 1]
            k = last
        else:
            out_words.append(words[k])
            out_spaces.append(spaces[k])
            k += 1
        if k - 1 in inserted:
            out_words.append(inserted[k - 1])
            out_spaces.append(False)
    return out_words, out_spaces


_CHUNKS: weakref.WeakKeyDictionary[Any, dict[str, list[str]]] = weakref.WeakKeyDictionary()


def _chunk_words(nlp: Any, chunk: str) -> list[str]:
    """The token texts ``nlp``'s tokenizer cuts a whitespace-free ``chunk`` into (kept per pipeline,
    for as long as the pipeline lives)."""
    known = _CHUNKS.setdefault(nlp, {})
    if chunk not in known:
        if len(known) > 200_000:
            known.clear()
        known[chunk] = [token.text for token in nlp.tokenizer(chunk)]
    return known[chunk]


def doc_from_tokens(nlp: Any, text: str, starts: Sequence[int], ends: Sequence[int]) -> Any:
    """The ``Doc`` of :func:`token_words`: what ``nlp``'s tokenizer makes of ``text``, from ingest's tokens."""
    from spacy.tokens import Doc

    words, spaces = token_words(nlp, text, starts, ends)
    return Doc(nlp.vocab, words=words, spaces=spaces)
