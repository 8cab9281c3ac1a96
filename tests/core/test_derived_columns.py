"""The derived columns the table suites check, on tiny frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.core.derived_columns import (
    NO_RELATION,
    bio_transition_column,
    bio_transitions,
    bio_well_formed,
    derive_columns,
    expected_nesting,
    expected_tags,
    substitutions,
)
from pipeline.core.labels import LabelSchema, RelationType
from pipeline.core.spans import Entity, nesting

SCHEMA = LabelSchema(
    schema_version="1.0.0",
    overlap="none",
    entity_types=("PER", "ORG"),
    relation_types=(RelationType("works_for", ("PER",), ("ORG",), False, "employment"),),
    descriptions={"PER": "person", "ORG": "organisation"},
    path="labels.yaml",
)


def tokens(doc_id: str, starts: list[int], tags: list[str], sentences: list[int] | None = None) -> pd.DataFrame:
    return pd.DataFrame({"doc_id": doc_id, "sent_idx": sentences or [0] * len(starts), "start": starts, "ner_tag": tags})


def entities(rows: list[tuple[str, str, int, int, str]], levels=None, parents=None) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["doc_id", "ent_id", "start", "end", "label"])
    frame["level"] = levels or [0] * len(rows)
    frame["parent"] = pd.Series(parents or [None] * len(rows), dtype=object)
    return frame


def test_bio_transitions_forbid_i_after_other_types():
    pairs = set(bio_transitions(SCHEMA))
    assert ("B-PER", "I-PER") in pairs and ("I-PER", "I-PER") in pairs
    assert ("O", "I-PER") not in pairs and ("B-ORG", "I-PER") not in pairs
    assert ("I-PER", "B-PER") in pairs and ("I-PER", "O") in pairs


def test_substitutions_fill_every_placeholder_from_the_schema_and_splits():
    values = substitutions(SCHEMA, ["train", "test"])
    assert values["$relation_labels"] == ["works_for", NO_RELATION]
    assert values["$bio_labels"] == ["O", "B-PER", "I-PER", "B-ORG", "I-ORG"]
    assert "O I-PER" not in values["$bio_transitions"] and "B-PER I-PER" in values["$bio_transitions"]
    assert values["$splits"] == ["train", "test"]


def test_expected_tags_follow_the_entity_table():
    frame = tokens("a", [0, 4, 9, 15], ["B-PER", "I-PER", "O", "B-ORG"])
    found = expected_tags(frame, entities([("a", "T1", 0, 8, "PER"), ("a", "T2", 15, 20, "ORG")]))
    assert list(found) == ["B-PER", "I-PER", "O", "B-ORG"]


def test_a_nested_entity_loses_to_the_span_around_it():
    frame = tokens("a", [0, 4, 9], ["O", "O", "O"])
    found = expected_tags(frame, entities([("a", "T2", 4, 8, "ORG"), ("a", "T1", 0, 12, "PER")]))
    assert list(found) == ["B-PER", "I-PER", "I-PER"]


def test_entities_tag_only_the_tokens_of_their_own_document():
    frame = pd.concat([tokens("a", [0], ["O"]), tokens("b", [0], ["O"])], ignore_index=True)
    found = expected_tags(frame, entities([("b", "T1", 0, 3, "PER"), ("missing", "T1", 0, 3, "ORG")]))
    assert list(found) == ["O", "B-PER"]


def test_the_expected_tags_compare_with_the_stored_ones():
    frame = tokens("a", [0], ["O"])
    found = expected_tags(frame, entities([("a", "T1", 0, 3, "PER")]))
    assert list(frame["ner_tag"] == found) == [False]  # ner_tag's categories were widened to compare


def test_a_bio_transition_starts_with_o_at_each_sentence_and_document():
    frame = pd.concat([tokens("a", [0, 4, 8], ["B-PER", "I-PER", "I-PER"], [0, 0, 1]), tokens("b", [0], ["I-ORG"])], ignore_index=True)
    assert list(bio_transition_column(frame)) == ["O B-PER", "B-PER I-PER", "O I-PER", "O I-ORG"]


def frames() -> dict[str, pd.DataFrame]:
    empty = pd.DataFrame({"doc_id": pd.Series([], dtype=str)})
    return {
        "documents": pd.DataFrame({"doc_id": ["a"], "text": ["Anna ging."]}),
        "sentences": pd.DataFrame({"doc_id": ["a"], "sent_idx": [0]}),
        "tokens": tokens("a", [0, 5], ["B-PER", "O"]),
        "entities": entities([("a", "T1", 0, 4, "PER"), ("x", "T1", 0, 4, "PER")]),
        "relations": pd.DataFrame({"doc_id": ["a"], "head": ["T1"], "tail": ["T9"]}),
        "ner": pd.DataFrame({"doc_id": ["a"], "ner_tags": [np.array([1, 0])], "ner_tags_inner": [np.array([0, 2])], "spans": [[]]}),
        "re": empty.copy(),
    }


def test_derived_columns_say_whether_documents_and_relation_ends_exist():
    tables = frames()
    derive_columns(tables, bio_labels=SCHEMA.bio_labels)
    assert list(tables["entities"]["doc_length"]) == [10, -1]
    assert list(tables["entities"]["doc_known"]) == [True, False]
    assert list(tables["relations"]["head_known"]) == [True] and list(tables["relations"]["tail_known"]) == [False]
    assert list(tables["tokens"]["expected_tag"]) == ["B-PER", "O"]
    assert list(tables["tokens"]["bio_transition"]) == ["O B-PER", "B-PER O"]


def test_known_documents_can_come_from_the_whole_corpus():
    tables = frames()
    derive_columns(tables, known_docs=pd.Series(["a", "x"]), bio_labels=SCHEMA.bio_labels)
    assert list(tables["entities"]["doc_known"]) == [True, True]


def test_the_expected_nesting_follows_the_spans_of_each_document():
    frame = entities(
        [
            ("a", "T1", 0, 20, "ORG"),
            ("a", "T2", 5, 12, "ORG"),
            ("a", "T3", 7, 12, "PER"),
            ("a", "T4", 7, 12, "PER"),
            ("b", "T1", 6, 8, "PER"),
        ]
    )
    levels, parents = expected_nesting(frame)
    assert list(levels) == [0, 1, 2, 3, 0]  # T4 repeats T3's span: the larger id nests in the smaller
    assert list(parents) == [None, "T1", "T2", "T3", None]


def test_a_level_or_parent_that_the_spans_do_not_imply_is_flagged():
    tables = frames()
    tables["entities"] = entities([("a", "T1", 0, 4, "PER"), ("a", "T2", 0, 2, "PER")], levels=[0, 0], parents=[None, "T9"])
    derive_columns(tables, bio_labels=SCHEMA.bio_labels)
    assert list(tables["entities"]["expected_level"]) == [0, 1]
    assert list(tables["entities"]["parent_consistent"]) == [True, False]


def test_inner_bio_must_be_well_formed_per_row():
    rows = pd.Series([np.array([1, 2, 0]), np.array([2]), np.array([1, 4]), np.array([], dtype=np.int64)])
    assert list(bio_well_formed(rows, SCHEMA.bio_labels)) == [True, False, False, True]  # I-PER first; I-ORG after B-PER


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["a", "b"]), st.integers(0, 12), st.integers(1, 6)).map(lambda t: (t[0], t[1], t[1] + t[2])),
        max_size=14,
    )
)
def test_the_expected_nesting_agrees_with_the_one_rule_of_the_span_model(spans):
    """Two algorithms, one rule: the vectorised self-join here and the sweep of core.spans.nesting."""
    rows = [(doc, f"T{i}", start, end, "PER") for i, (doc, start, end) in enumerate(spans)]
    frame = entities(rows)
    levels, parents = expected_nesting(frame)
    for doc in ("a", "b"):
        found = nesting([Entity(r[1], r[2], r[3], r[4], "gold") for r in rows if r[0] == doc])
        for index, row in enumerate(rows):
            if row[0] == doc:
                assert (levels[index], parents[index]) == (found[row[1]].level, found[row[1]].parent), (row, rows)
