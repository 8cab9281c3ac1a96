"""The review round's pure parts: a conflict as a doccano comment, the curator's record as the adjudicated one."""

from __future__ import annotations

from pipeline.doccano.review import comment_text, curated, review_project

CONFLICT = {
    "doc_id": "d1",
    "id": "C2",
    "kind": "entity",
    "start": 12,
    "end": 15,
    "text": "Bob",
    "candidates": [
        {"start": 12, "end": 15, "label": "ORG", "text": "Bob", "annotators": ["annotators/ben"], "accepted": False},
        {"start": 12, "end": 15, "label": "PER", "text": "Bob", "annotators": ["annotators/anna", "annotators/cem"], "accepted": True},
    ],
    "without": ["annotators/dora"],
    "annotators": ["annotators/anna", "annotators/ben", "annotators/cem", "annotators/dora"],
}


def test_a_conflict_comment_names_every_candidate_and_who_drew_it():
    assert comment_text(CONFLICT) == (
        "[conflict C2] entity «Bob» [12, 15)\n- ORG «Bob»: ben\n- PER «Bob»: anna, cem (accepted)\n- nothing: dora"
    )


def test_a_relation_conflict_comment_shows_both_arguments():
    conflict = {
        "id": "C1",
        "kind": "relation",
        "start": 0,
        "end": 15,
        "text": "Anna trifft Bob",
        "candidates": [
            {
                "label": "meets",
                "head": {"start": 0, "end": 4, "label": "PER", "text": "Anna"},
                "tail": {"start": 12, "end": 15, "label": "PER", "text": "Bob"},
                "annotators": ["annotators/anna"],
                "accepted": False,
            }
        ],
        "without": [],
    }
    assert comment_text(conflict).splitlines()[1] == "- meets: «Anna» (PER) → «Bob» (PER): anna"


def test_the_curators_record_keeps_who_drew_each_entity_and_relation():
    pulled = {
        "doc_id": "d1",
        "text_sha256": "0" * 64,
        "source": "annotator:carla",
        "annotator": "carla",
        "entities": [
            {"id": "T1", "start": 0, "end": 4, "label": "PER", "text": "Anna"},
            {"id": "E12-15", "start": 12, "end": 15, "label": "ORG", "text": "Bob"},
        ],
        "relations": [{"id": "R1", "head": "T1", "tail": "E12-15", "label": "works_for"}],
        "meta": {"doccano": {"project": "p-review", "example_id": 7}},
    }
    drawn = {(0, 4, "PER"): ["annotators/anna", "annotators/ben"]}
    record = curated(pulled, "carla", drawn, {})
    assert record["source"] == "adjudicated:carla"
    assert record["entities"][0]["agreed_by"] == ["annotators/anna", "annotators/ben"]
    assert "agreed_by" not in record["entities"][1]  # only the curator drew it
    assert "agreed_by" not in record["relations"][0]
    assert review_project("german-news") == "german-news-review"


def test_a_relation_drawn_the_other_way_round_agrees_only_when_symmetric():
    entities = [
        {"id": "T1", "start": 0, "end": 4, "label": "PER", "text": "Anna"},
        {"id": "T2", "start": 12, "end": 15, "label": "PER", "text": "Bob"},
    ]
    pulled = {"doc_id": "d1", "text_sha256": "0" * 64, "source": "annotator:carla", "annotator": "carla", "entities": entities}
    anna, bob = (0, 4, "PER"), (12, 15, "PER")
    # the annotators drew Bob → Anna; keys as core.agreement.relation_keys gives them (symmetric: sorted arguments)
    related = {(bob, anna, "works_for"): ["annotators/anna"], (anna, bob, "meets"): ["annotators/ben"]}
    forward = pulled | {"relations": [{"id": "R1", "head": "T1", "tail": "T2", "label": "works_for"}]}
    assert "agreed_by" not in curated(forward, "carla", {}, related, frozenset({"meets"}))["relations"][0]
    backward = pulled | {"relations": [{"id": "R1", "head": "T2", "tail": "T1", "label": "meets"}]}
    assert curated(backward, "carla", {}, related, frozenset({"meets"}))["relations"][0]["agreed_by"] == ["annotators/ben"]
