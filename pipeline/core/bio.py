"""BIO tags in both directions, the one home of both.

Encode (what ``annotate`` publishes): :func:`tagged_entities` says which entities a flat BIO
sequence can show (an entity nested in or overlapping an earlier one is left out: the span
around it wins), :func:`bio_tags` gives each token ``B-X``/``I-X``/``O`` for them.

Decode (what the token-based importers and the preannotate evaluation read): :func:`bio_spans`
reads BIO, IOB1 (``I-X`` starting an entity, noted so that the caller can report it), BIOES and
BILOU into :class:`TagSpan` s of token indices.

``pipeline.stages.validate.expected_tags`` derives the expected tags a second time, vectorised
over the published tables and on purpose independently of :func:`bio_tags`, so that a bug here
cannot pass validation unnoticed.

Pure: touches no files.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

from pipeline.core.spans import Entity

OUTSIDE = ("O", "_", "", "-")
"""Tags that mean "no entity" when decoding (``_`` and ``-`` are how some formats leave a column empty)."""


# --------------------------------------------------------------------------- encode


def tagged_entities(entities: Sequence[Entity]) -> list[Entity]:
    """The entities BIO can show: in order of start (longest first), each one that does not
    overlap any entity before it. Without overlaps that is all of them; a nested span loses to
    the span around it."""
    kept = []
    reach = -1
    for entity in sorted(entities, key=lambda e: (e.start, -(e.end - e.start), e.id)):
        if entity.start >= reach:
            kept.append(entity)
        reach = max(reach, entity.end)
    return kept


def bio_tags(tokens: Sequence[tuple[int, int]], entities: Sequence[Entity]) -> list[str]:
    """BIO tag per token for :func:`tagged_entities`; tokens are sorted and aligned."""
    tags = ["O"] * len(tokens)
    starts = [t[0] for t in tokens]
    for entity in tagged_entities(entities):
        first = bisect.bisect_left(starts, entity.start)
        last = bisect.bisect_left(starts, entity.end)
        for index in range(first, last):
            tags[index] = ("B-" if index == first else "I-") + entity.label
    return tags


# --------------------------------------------------------------------------- decode


@dataclass(frozen=True)
class TagSpan:
    """An entity read from tags: its first and last token (both included) and its label."""

    first: int
    last: int
    label: str


def bio_spans(tags: Sequence[str]) -> tuple[list[TagSpan], list[str]]:
    """Entities (first token, last token, label) from BIO/IOB1/BIOES tags, and notes on repairs.

    ``I-X`` after ``O`` or after another type starts an entity (IOB1 reading); it is noted so
    that the importer can report it. ``S-``/``E-`` (BIOES) and ``U-``/``L-`` (BILOU) are read too.
    """
    spans: list[TagSpan] = []
    notes: list[str] = []
    current: list[int] | None = None
    label = ""

    def close() -> None:
        nonlocal current
        if current is not None:
            spans.append(TagSpan(current[0], current[1], label))
        current = None

    for index, tag in enumerate(tags):
        tag = tag.strip()
        if tag in OUTSIDE:
            close()
            continue
        prefix, _, kind = tag.partition("-")
        if not kind or prefix not in ("B", "I", "E", "S", "U", "L"):
            raise ValueError(f"tag {tag!r} at token {index + 1} is not a BIO tag (B-X, I-X or O)")
        if prefix in ("B", "S", "U") or current is None or kind != label:
            if prefix in ("I", "E", "L") and (current is None or kind != label):
                notes.append(f"token {index + 1}: {tag} does not continue an entity of type {kind}; it starts one")
            close()
            current = [index, index]
            label = kind
        else:
            current[1] = index
        if prefix in ("S", "U", "E", "L"):
            close()
    close()
    return spans, notes
