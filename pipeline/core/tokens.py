"""Tokens and sentences around entities, and text rebuilt from tokens.

The segmenter (:mod:`pipeline.core.segment`) knows nothing of the annotations, so ``annotate``
adapts its output to each record: :func:`segment_for` cuts tokens where an entity starts or ends
inside them (``US`` in ``US-Präsident``, with :func:`hyphen_aware_cuts` also cutting off the
hyphen) and joins sentences that an entity crosses (:func:`merge_sentences`), so that every
entity is a run of whole tokens within one sentence and BIO can show it.

:func:`rebuild_text` goes the other way, for formats that store only tokens (CoNLL, GermEval,
HIPE): tokens plus what follows each one give the text and each token's offsets.

Pure: touches no files. Offsets are code points, ``[start, end)``.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from typing import Any

from pipeline.core.spans import Entity

HYPHENS = "-\u2010\u2011\u2012\u2013"


def split_tokens(tokens: Sequence[tuple[int, int]], boundaries: Iterable[int]) -> list[tuple[int, int]]:
    """Cut tokens at every boundary strictly inside them (``US|-Präsident``)."""
    cuts = sorted(set(boundaries))
    result: list[tuple[int, int]] = []
    for start, end in tokens:
        left = bisect.bisect_right(cuts, start)
        right = bisect.bisect_left(cuts, end)
        position = start
        for cut in cuts[left:right]:
            result.append((position, cut))
            position = cut
        result.append((position, end))
    return result


def hyphen_aware_cuts(text: str, boundaries: Iterable[int]) -> list[int]:
    """Entity boundaries plus a cut on the far side of a hyphen touching one, so that
    ``US-Präsident`` becomes ``US`` ``-`` ``Präsident`` and ``Nord-`` becomes ``Nord`` ``-``."""
    cuts = set(boundaries)
    for boundary in list(cuts):
        if text[boundary : boundary + 1] in HYPHENS and boundary + 1 <= len(text):
            cuts.add(boundary + 1)
        if boundary > 0 and text[boundary - 1 : boundary] in HYPHENS:
            cuts.add(boundary - 1)
    return sorted(cuts)


def merge_sentences(
    sentences: list[dict[str, Any]], tokens: list[tuple[int, int, int]], entities: Sequence[Entity]
) -> tuple[list[dict[str, Any]], list[int], list[Entity]]:
    """Join sentences that an entity crosses (the sentencizer must not cut a name in two).

    ``tokens`` are ``(start, end, sent_idx)``. Returns the new sentences, each token's new
    sentence index, and the entities that cross a paragraph (these cannot be joined).
    """
    starts = [t[0] for t in tokens]
    join_next = [False] * len(sentences)
    crossing = []
    for entity in entities:
        first = bisect.bisect_left(starts, entity.start)
        last = bisect.bisect_left(starts, entity.end) - 1
        if first > last or first >= len(tokens):
            continue
        a, b = tokens[first][2], tokens[last][2]
        if a == b:
            continue
        if sentences[a]["paragraph_idx"] != sentences[b]["paragraph_idx"]:
            crossing.append(entity)
            continue
        for index in range(a, b):
            join_next[index] = True
    new_index: list[int] = []
    merged: list[dict[str, Any]] = []
    for index, sentence in enumerate(sentences):
        if index > 0 and join_next[index - 1]:
            merged[-1] = dict(merged[-1], end=sentence["end"])
        else:
            merged.append(dict(sentence))
        new_index.append(len(merged) - 1)
    for index, sentence in enumerate(merged):
        sentence["sent_idx"] = index
    return merged, [new_index[t[2]] for t in tokens], crossing


def segment_for(
    text: str, tokens: Sequence[tuple[int, int, int]], sentences: list[dict[str, Any]], entities: Sequence[Entity]
) -> tuple[list[tuple[int, int, int]], list[dict[str, Any]], list[int], list[Entity]]:
    """Tokens cut at the entities' edges, sentences joined where an entity crosses them."""
    cuts = hyphen_aware_cuts(text, [edge for e in entities for edge in (e.start, e.end)])
    # Look up the few cuts among the many tokens, not the other way round.
    starts = [token[0] for token in tokens]
    cut_tokens = set()
    for cut in cuts:
        index = bisect.bisect_right(starts, cut) - 1
        if index >= 0 and tokens[index][0] < cut < tokens[index][1]:
            cut_tokens.add(index)
    refined: list[tuple[int, int, int]] = []
    done = 0
    for index in sorted(cut_tokens):
        start, end, sent_idx = tokens[index]
        refined.extend(tokens[done:index])
        refined.extend((piece[0], piece[1], sent_idx) for piece in split_tokens([(start, end)], cuts))
        done = index + 1
    refined.extend(tokens[done:])
    merged, token_sentences, crossing = merge_sentences(sentences, refined, entities)
    return refined, merged, token_sentences, crossing


def rebuild_text(tokens: Sequence[str], separators: Sequence[str]) -> tuple[str, list[tuple[int, int]]]:
    """Join ``tokens``, each followed by its separator (``" "``, ``""``, ``"\\n"``), into a text;
    return it with each token's ``[start, end)`` in code points. The last separator is dropped."""
    if len(tokens) != len(separators):
        raise ValueError("one separator per token is needed")
    parts: list[str] = []
    spans: list[tuple[int, int]] = []
    position = 0
    for index, (token, separator) in enumerate(zip(tokens, separators, strict=True)):
        spans.append((position, position + len(token)))
        parts.append(token)
        position += len(token)
        if index < len(tokens) - 1:
            parts.append(separator)
            position += len(separator)
    return "".join(parts), spans
