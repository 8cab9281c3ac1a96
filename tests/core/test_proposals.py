"""core/proposals: the cache key of a proposal shard (the part of the gazetteer that can change it)."""

from __future__ import annotations

import random
from pathlib import Path

from pipeline.core.proposals import PART_MODULUS, PartSums, documents_by_phrase, gazetteer_part, majority, majority_leads
from pipeline.io.schemas import load_label_schema

REPO = Path(__file__).resolve().parents[2]
SCHEMA = load_label_schema(REPO / "schemas" / "labels.yaml")


class LookupRecorder(dict):
    """A mapping that records the keys ``get`` is asked for."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.looked_up: list[str] = []

    def get(self, key, default=None):
        self.looked_up.append(key)
        return super().get(key, default)


def test_the_gazetteer_part_lists_exactly_the_documents_whose_own_counts_flip_the_label():
    rng = random.Random(3)
    types = list(SCHEMA.entity_types)
    flips = skipped = 0
    for _ in range(300):
        phrases = [f"P{k}" for k in range(rng.randint(1, 6))]
        own = {
            f"d{n}": {
                phrase: {label: rng.randint(1, 3) for label in rng.sample(types[:3], rng.randint(1, 2))}
                for phrase in rng.sample(phrases, rng.randint(1, len(phrases)))
            }
            for n in range(rng.randint(1, 6))
        }
        counts: dict[str, dict[str, int]] = {}
        for mine in own.values():
            for phrase, found in mine.items():
                for label, count in found.items():
                    counts.setdefault(phrase, {}).setdefault(label, 0)
                    counts[phrase][label] += count
        labels = {phrase: majority(found, types) for phrase, found in counts.items()}
        tokens = {phrase: (phrase,) for phrase in counts}
        vocabulary = set(rng.sample(sorted(counts), rng.randint(1, len(counts))))
        # by hand: every document that has the phrase, its majority left out, where it differs
        expected = []
        for phrase in sorted(vocabulary):
            flipped = []
            for doc_id in sorted(own):
                if phrase in own[doc_id]:
                    rest = {name: count - own[doc_id][phrase].get(name, 0) for name, count in counts[phrase].items()}
                    if majority(rest, types) != labels[phrase]:
                        flipped.append([doc_id, majority(rest, types)])
            expected.append([phrase, labels[phrase], flipped])
            flips += len(flipped)
        by_phrase = documents_by_phrase(own)
        maxima = {phrase: entry["max"] for phrase, entry in by_phrase.items()}
        found = gazetteer_part(
            counts,
            labels,
            tokens,
            vocabulary,
            maxima,
            lambda phrase, by_phrase=by_phrase: by_phrase[phrase]["documents"],
            types,
            majority_leads(counts, labels),
        )
        assert found == expected
        # with a bound on what one document has (here its most, plus slack), phrases below their lead are not looked up
        most = {phrase: max(max(mine[phrase].values()) for mine in own.values() if phrase in mine) + rng.randint(0, 1) for phrase in counts}
        leads = majority_leads(counts, labels)
        recording = LookupRecorder(maxima)
        by_documents = lambda phrase, by_phrase=by_phrase: by_phrase[phrase]["documents"]  # noqa: E731
        assert gazetteer_part(counts, labels, tokens, vocabulary, recording, by_documents, types, leads, most) == expected
        assert all(most[phrase] >= leads[phrase] for phrase in recording.looked_up)
        skipped += len(vocabulary) - len(recording.looked_up)
    assert flips > 50, "the random counts exercise flipped labels"
    assert skipped > 50, "the bound spares lookups"


def test_a_part_sum_is_the_same_in_any_order_and_updates_entry_by_entry():
    sums = PartSums()
    part = [["Kim Jong Un", "PER", []], ["Trump", "PER", [["doc-1", "ORG"]]], ["Nordkorea", "GPE", []]]
    total = sums.of(part)
    assert sums.of(list(reversed(part))) == total
    assert PartSums().of(part) == total  # the kept digests of unflipped entries are those computed afresh
    changed = [["Trump", "ORG", []], ["Seoul", "GPE", []]]  # one entry changed, one added
    updated = (total - sums.of(part[1:2]) + sums.of(changed)) % PART_MODULUS
    assert updated == sums.of([part[0], part[2], *changed])
    assert updated != total
    assert sums.of([["Trump", "PER", []]]) != sums.of([["Trump", "PER", [["doc-1", "ORG"]]]])
