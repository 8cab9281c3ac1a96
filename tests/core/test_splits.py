"""The split of a document from its id alone."""

from __future__ import annotations

from pipeline.core.splits import assign_split

RATIOS = {"train": 0.8, "dev": 0.1, "test": 0.1}


def test_split_is_stable_and_follows_ratios():
    splits = [assign_split(f"doc-{i}", RATIOS) for i in range(2000)]
    assert splits == [assign_split(f"doc-{i}", RATIOS) for i in range(2000)]
    share = splits.count("train") / len(splits)
    assert 0.75 < share < 0.85
    assert set(splits) == {"train", "dev", "test"}


def test_a_split_with_ratio_one_takes_every_document():
    assert {assign_split(f"doc-{i}", {"train": 0.0, "test": 1.0}) for i in range(100)} == {"test"}
