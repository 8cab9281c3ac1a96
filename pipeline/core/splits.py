"""The train/dev/test split of a document: from its id alone, so that it never moves.

A document's split is drawn from sha256(doc_id) against the cumulative ratios of
``annotate.splits``: adding, removing or re-annotating other documents changes no split, and the
same id always lands in the same split on every machine. Whole documents go to one split, so no
sentence of a test document is seen in training.

Pure: touches no files.
"""

from __future__ import annotations

import hashlib


def assign_split(doc_id: str, ratios: dict[str, float]) -> str:
    """The document's split from sha256(doc_id): stable whatever other documents exist.

    ``ratios`` are ``annotate.splits`` as the config checked them (non-negative, summing to 1)."""
    value = int(hashlib.sha256(doc_id.encode("utf-8")).hexdigest()[:16], 16) / 2**64
    cumulative = 0.0
    names = list(ratios)
    for name in names:
        cumulative += ratios[name]
        if value < cumulative:
            return name
    return names[-1]
