"""Text, offsets and entities from a token list (CoNLL, GermEval, HIPE): :func:`rebuild_text` and
:func:`bio_spans`.

Everything else that was here has its own module (see :mod:`pipeline.formats`); these three move
to ``pipeline.core`` with the BIO work of issue 10.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence


# --------------------------------------------------------------------------- tokens → text


def rebuild_text(tokens: Sequence[str], separators: Sequence[str]) -> tuple[str, list[tuple[int, int]]]:
    """Join ``tokens``, each followed by its separator (``" "``, ``""``, ``"\\n"``), into a text;
    return it with each token's ``[start, end)`` in code points. The last separator is dropped."""
    if len(tokens) != len(separators):
        raise ValueError("one separator per token is needed")
    parts: list[str] = []
    spans: list[tuple[int, int]] = []
    position = 0
    for index, (token, separator) in enumerate(zip(tokens, separators)):
        spans.append((position, position + len(token)))
        parts.append(token)
        position += len(token)
        if index < len(tokens) - 1:
            parts.append(separator)
            position += len(separator)
    return "".join(parts), spans


@dataclass(frozen=True)
class TagSpan:
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
        if tag in ("O", "_", "", "-"):
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
