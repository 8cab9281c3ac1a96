"""The split of a document from its id alone."""

from __future__ import annotations

import pytest

from pipeline.core.splits import assign_split, check_ratios

RATIOS = {"train": 0.8, "dev": 0.1, "test": 0.1}


def test_split_is_stable_and_follows_ratios():
    splits = [assign_split(f"doc-{i}", RATIOS) for i in range(2000)]
    assert splits == [assign_split(f"doc-{i}", RATIOS) for i in range(2000)]
    share = splits.count("train") / len(splits)
    assert 0.75 < share < 0.85
    assert set(splits) == {"train", "dev", "test"}


def test_a_split_with_ratio_one_takes_every_document():
    assert {assign_split(f"doc-{i}", {"train": 0.0, "test": 1.0}) for i in range(100)} == {"test"}


def test_ratios_not_summing_to_one_are_rejected():
    with pytest.raises(ValueError, match="must sum to 1"):
        check_ratios({"train": 0.8, "test": 0.1})


def test_negative_ratios_are_rejected_naming_the_ratios():
    with pytest.raises(ValueError, match=r"non-negative ratios, got \{'train': 1.2, 'test': -0.2\}"):
        check_ratios({"train": 1.2, "test": -0.2})
