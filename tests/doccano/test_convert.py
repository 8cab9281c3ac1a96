"""The pure conversion between our records and doccano examples (no server needed)."""

from __future__ import annotations

import json
import unicodedata

import pytest
from helpers import utf16_offset
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.core.spans import AnnotationRecord, Entity, Relation, record_from_json
from pipeline.core.text import normalise_text, text_sha256
from pipeline.doccano import convert

LABELS = convert.Labels(
    frozenset({"PER", "ORG", "GPE", "LOC", "DATE", "EVENT", "MISC"}), frozenset({"head_of", "works_for", "meets", "located_in"})
)


def record(text: str, entities: list[tuple[str, int, int, str]], relations: list[tuple[str, str, str, str]] = ()) -> AnnotationRecord:
    return AnnotationRecord(
        doc_id="d1",
        text_sha256=text_sha256(text),
        source="gold",
        layer="gold",
        entities=tuple(Entity(i, s, e, label, "gold") for i, s, e, label in entities),
        relations=tuple(Relation(i, h, t, label, "gold") for i, h, t, label in relations),
        path="x.jsonl",
        line=1,
    )


def exported(line: dict, db_offset: int = 100) -> dict:
    """What doccano's export gives back for an imported line: database ids instead of ours."""
    span_db = {e["id"]: e["id"] + db_offset for e in line["entities"]}
    return {
        "id": 7,
        **{k: v for k, v in line.items() if k not in ("entities", "relations")},
        "entities": [dict(e, id=span_db[e["id"]]) for e in line["entities"]],
        "relations": [dict(r, id=r["id"] + 5000, from_id=span_db[r["from_id"]], to_id=span_db[r["to_id"]]) for r in line["relations"]],
        "Comments": [],
    }


def back(line: dict, username: str = "anna") -> dict:
    pulled = convert.from_doccano(exported(line), username=username, project="p", labels=LABELS)
    assert pulled.skipped is None, pulled.skipped
    return pulled.record


def test_offsets_after_an_emoji_are_utf16_units_in_doccano():
    text = "😀 Angela Merkel in Berlin."
    rec = record(text, [("T1", 2, 15, "PER"), ("T2", 19, 25, "GPE")], [("R1", "T1", "T2", "located_in")])
    line = convert.to_doccano("d1", text, rec)
    spans = [(e["start_offset"], e["end_offset"], e["label"]) for e in line["entities"]]
    assert spans == [(3, 16, "PER"), (20, 26, "GPE")]
    # what the browser shows: JavaScript's substring in UTF-16 units
    units = text.encode("utf-16-le")
    assert [units[2 * s : 2 * e].decode("utf-16-le") for s, e, _ in spans] == ["Angela Merkel", "Berlin"]
    assert line["relations"] == [{"id": 1, "from_id": 1, "to_id": 2, "type": "located_in"}]
    pulled = back(line)
    assert [(e["id"], e["start"], e["end"], e["label"], e["text"]) for e in pulled["entities"]] == [
        ("T1", 2, 15, "PER", "Angela Merkel"),
        ("T2", 19, 25, "GPE", "Berlin"),
    ]
    assert pulled["relations"] == [{"id": "R1", "head": "T1", "tail": "T2", "label": "located_in"}]


@pytest.mark.parametrize(
    "prefix",
    [
        "👩‍👩‍👧 ",  # ZWJ sequence: 5 code points, 8 UTF-16 units, 1 grapheme
        "🇩🇪 ",  # flag: two regional indicators
        "👍🏽 ",  # emoji + skin-tone modifier
        "𝔊𝔬𝔱𝔥 ",  # mathematical letters (astral, not emoji)
        "e\u0301\u0323 ",  # combining marks with no single precomposed form after NFC
        "🏛️ ",  # BMP variation selector after an astral emoji
    ],
)
def test_offsets_after_multi_codepoint_clusters(prefix: str):
    text = normalise_text(prefix + "Jürgen Weiß aus Köln")
    start = text.index("Jürgen")
    rec = record(text, [("T1", start, start + len("Jürgen Weiß"), "PER"), ("T2", text.index("Köln"), len(text), "GPE")])
    line = convert.to_doccano("d1", text, rec)
    assert line["entities"][0]["start_offset"] == utf16_offset(text, start)
    assert line["entities"][1]["end_offset"] == utf16_offset(text, len(text))
    assert [(e["start"], e["end"]) for e in back(line)["entities"]] == [(e.start, e.end) for e in rec.entities]


@pytest.mark.parametrize(
    "raw", ["Zeile eins\r\nZeile zwei", "Alte Datei\rZeile", unicodedata.normalize("NFD", "Müller grüßt"), "\ufeffMit BOM"]
)
def test_unnormalised_text_is_refused_and_normalised_text_accepted(raw: str):
    with pytest.raises(convert.ConversionError, match="not normalised"):
        convert.to_doccano("d1", raw, None)
    text = normalise_text(raw)
    assert "\r" not in text and unicodedata.is_normalized("NFC", text)
    line = convert.to_doccano("d1", text, None)
    assert line["text"] == text and line["text_sha256"] == text_sha256(text)


def test_record_for_another_text_is_refused():
    rec = record("other text", [])
    with pytest.raises(convert.ConversionError, match="text_sha256"):
        convert.to_doccano("d1", "this text", rec)


def test_every_line_has_the_same_metadata_keys():
    lines = [
        convert.to_doccano("a", "Text ohne Namen", None),
        convert.to_doccano("b", "Kim in Seoul", record("Kim in Seoul", [("T1", 0, 3, "PER")])),
    ]
    keys = [tuple(k for k in line if k not in ("text", "entities", "relations")) for line in lines]
    assert keys == [convert.META_KEYS] * 2


# Random texts mixing ASCII, umlauts, ß, emoji, ZWJ, astral letters and combining marks; random
# non-overlapping spans on code-point boundaries; random relations.
ALPHABET = st.sampled_from(list("abc XYZ äöüß.,\n") + ["😀", "👩‍👧", "\u200d", "𝔊", "e\u0301", "🇩🇪", "中"])


@st.composite
def records(draw):
    text = normalise_text("".join(draw(st.lists(ALPHABET, min_size=1, max_size=60)))) or "x"
    cuts = sorted(set(draw(st.lists(st.integers(0, len(text)), max_size=12))))
    pairs = [(cuts[i], cuts[i + 1]) for i in range(0, len(cuts) - 1, 2) if cuts[i] < cuts[i + 1]]
    labels = sorted(LABELS.entities)
    entities = [(f"X{i}", s, e, draw(st.sampled_from(labels))) for i, (s, e) in enumerate(pairs)]
    relations = []
    if len(entities) >= 2:
        for n in range(draw(st.integers(0, 3))):
            h, t = draw(st.permutations(range(len(entities))))[:2]
            relations.append((f"Q{n}", entities[h][0], entities[t][0], draw(st.sampled_from(sorted(LABELS.relations)))))
    return text, record(text, entities, relations)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records())
def test_round_trip_through_doccano_shape_preserves_everything(case):
    text, rec = case
    line = convert.to_doccano("d1", text, rec)
    json.loads(json.dumps(line, ensure_ascii=False))  # serialisable as the upload is
    pulled = back(line)
    assert sorted((e["id"], e["start"], e["end"], e["label"]) for e in pulled["entities"]) == sorted(
        (e.id, e.start, e.end, e.label) for e in rec.entities
    )
    assert sorted((r["id"], r["head"], r["tail"], r["label"]) for r in pulled["relations"]) == sorted(
        (r.id, r.head, r.tail, r.label) for r in rec.relations
    )
    assert all(e["text"] == text[e["start"] : e["end"]] for e in pulled["entities"])
    again = record_from_json({k: v for k, v in pulled.items() if k != "meta"}, layer="annotators/anna", path="x", line=1)
    assert again.source == "annotator:anna" and again.text_sha256 == text_sha256(text)


def test_ids_map_back_by_content_and_new_ones_are_stable():
    text = "😀 Kim trifft Moon in Seoul."
    rec = record(text, [("T1", 2, 5, "PER"), ("T2", 13, 17, "PER"), ("T3", 21, 26, "GPE")], [("R1", "T1", "T2", "meets")])
    line = exported(convert.to_doccano("d1", text, rec))
    # the annotator changed T2's label, deleted T3, drew a new span and a new relation (UTF-16 offsets)
    line["entities"][1]["label"] = "ORG"
    line["entities"] = [e for e in line["entities"] if e["label"] != "GPE"]
    line["entities"].append({"id": 999, "start_offset": utf16_offset(text, 21), "end_offset": utf16_offset(text, 26), "label": "LOC"})
    line["relations"].append({"id": 777, "from_id": line["entities"][0]["id"], "to_id": 999, "type": "located_in"})
    first = convert.from_doccano(line, username="anna", project="p", labels=LABELS).record
    second = convert.from_doccano(json.loads(json.dumps(line)), username="anna", project="p", labels=LABELS).record
    assert first == second
    assert [(e["id"], e["label"], e["text"]) for e in first["entities"]] == [
        ("T1", "PER", "Kim"),
        ("T2", "ORG", "Moon"),
        ("T3", "LOC", "Seoul"),
    ]
    # T3 kept its id: same offsets as the pushed T3, label changed (GPE → LOC)
    new_relation = next(r for r in first["relations"] if r["label"] == "located_in")
    assert new_relation["id"].startswith("R") and new_relation["id"] != "R1"
    assert {r["id"] for r in first["relations"]} >= {"R1"}


def test_new_span_ids_never_reuse_pushed_ids():
    mapping = convert.map_entity_ids([(5, 0, 3, "PER"), (6, 4, 8, "ORG")], [[10, 12, "GPE", "E0-3"]])
    assert mapping[5] != "E0-3" and len(set(mapping.values())) == 2


def test_text_changed_in_doccano_is_skipped_not_imported():
    text = "Kim in Seoul"
    line = exported(convert.to_doccano("d1", text, record(text, [("T1", 0, 3, "PER")])))
    line["text"] = "Kim in Pjöngjang"
    pulled = convert.from_doccano(line, username="anna", project="p", labels=LABELS)
    assert pulled.record is None and pulled.skipped.kind == "hash-mismatch"
    assert "d1" in pulled.skipped.format()


def test_corpus_text_changed_since_push_is_skipped():
    text = "Kim in Seoul"
    line = exported(convert.to_doccano("d1", text, None))
    pulled = convert.from_doccano(line, username="anna", project="p", labels=LABELS, expected_sha={"d1": text_sha256("Kim in Pjöngjang")})
    assert pulled.skipped.kind == "hash-mismatch"


def test_offset_inside_a_surrogate_pair_is_reported_and_the_rest_kept():
    text = "😀 Kim trifft Lee"
    line = exported(convert.to_doccano("d1", text, None))
    line["entities"] = [
        {"id": 1, "start_offset": 1, "end_offset": 6, "label": "PER"},
        {"id": 2, "start_offset": 14, "end_offset": 17, "label": "PER"},
        {"id": 3, "start_offset": 3, "end_offset": 6, "label": "PER"},
    ]
    line["relations"] = [{"id": 7, "from_id": 1, "to_id": 2, "type": "meets"}, {"id": 8, "from_id": 3, "to_id": 2, "type": "meets"}]
    pulled = convert.from_doccano(line, username="anna", project="p", labels=LABELS)
    assert pulled.skipped is None
    assert [e["text"] for e in pulled.record["entities"]] == ["Kim", "Lee"]
    assert [(r["head"], r["tail"]) for r in pulled.record["relations"]] == [("E2-5", "E13-16")]
    [bad] = pulled.bad_spans
    assert (bad.span_id, bad.label, bad.start, bad.end, bad.relations) == (1, "PER", 1, 6, (7,))
    message = bad.format("anna", "p")
    assert message.startswith(f"d1: example {line['id']}: span 1 (PER, UTF-16 offsets 1-6) splits a surrogate pair")
    assert "Kim" in message and "re-draw the span in doccano (user 'anna', project 'p')" in message


def test_label_outside_the_schema_is_an_error():
    line = exported(convert.to_doccano("d1", "Kim", None))
    line["entities"] = [{"id": 1, "start_offset": 0, "end_offset": 3, "label": "PERSON"}]
    with pytest.raises(convert.UnknownLabelError, match="'PERSON'"):
        convert.from_doccano(line, username="anna", project="p", labels=LABELS)


def test_label_state_ignores_ids():
    a = {"entities": [{"id": 1, "start_offset": 0, "end_offset": 3, "label": "PER"}], "relations": []}
    b = {"entities": [{"id": 9, "start_offset": 0, "end_offset": 3, "label": "PER"}], "relations": []}
    assert convert.label_state(a) == convert.label_state(b)
