"""doccano's span/relation shape: one writer for the exporter and for push."""

from __future__ import annotations

from pipeline.doccano import shape

TEXT = "🙂 Kim trifft Moon"


def test_offsets_are_utf16_units_by_default_and_code_points_on_request():
    spans = [(1, 2, 5, "PER"), (2, 13, 17, "PER")]
    as_utf16, _ = shape.annotations(TEXT, spans, [])
    as_codepoints, _ = shape.annotations(TEXT, spans, [], utf16=False)
    assert [(e["start_offset"], e["end_offset"]) for e in as_utf16] == [(3, 6), (14, 18)]
    assert [(e["start_offset"], e["end_offset"]) for e in as_codepoints] == [(2, 5), (13, 17)]


def test_keys_and_their_order_are_doccanos():
    entities, relations = shape.annotations(TEXT, [(1, 2, 5, "PER"), (2, 13, 17, "PER")], [(7, 1, 2, "meets")])
    assert list(entities[0]) == ["id", "start_offset", "end_offset", "label"]
    assert relations == [{"id": 7, "from_id": 1, "to_id": 2, "type": "meets"}]
