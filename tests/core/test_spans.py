"""Spans: which entities overlap."""

from __future__ import annotations

from pipeline.core.spans import Entity, overlapping_pairs


def test_overlapping_pairs_finds_nested_and_crossing_but_not_adjacent():
    a = Entity("a", 0, 10, "ORG", "gold")
    b = Entity("b", 2, 4, "GPE", "gold")
    c = Entity("c", 8, 12, "PER", "gold")
    d = Entity("d", 12, 14, "PER", "gold")
    pairs = {(x.id, y.id) for x, y in overlapping_pairs([d, c, b, a])}
    assert pairs == {("a", "b"), ("a", "c")}
