"""The schemas and keys of every table."""

from __future__ import annotations

import pyarrow as pa

from pipeline.io import tables


def test_every_published_table_has_sort_keys_and_row_keys_among_its_columns():
    assert list(tables.SORT_KEYS) == list(tables.SCHEMAS) == list(tables.ROW_KEYS)
    for name, schema in tables.SCHEMAS.items():
        assert set(tables.SORT_KEYS[name]) <= set(schema.names), name
        assert set(tables.ROW_KEYS[name]) <= set(schema.names), name


def test_every_interim_table_has_sort_keys_among_its_columns():
    assert list(tables.INTERIM_SORT_KEYS) == list(tables.INTERIM_SCHEMAS) == ["documents", "sentences", "tokens"]
    for name, schema in tables.INTERIM_SCHEMAS.items():
        assert set(tables.INTERIM_SORT_KEYS[name]) <= set(schema.names), name


def test_interim_tokens_are_stored_by_document_then_offset():
    table = pa.table(
        {"doc_id": ["b", "a", "a"], "sent_idx": [0, 1, 0], "start": [0, 9, 3], "end": [2, 12, 8]}, schema=tables.INTERIM_TOKENS
    )
    ordered = tables.sort_interim_table("tokens", table)
    assert list(zip(ordered.column("doc_id").to_pylist(), ordered.column("start").to_pylist(), strict=True)) == [
        ("a", 3),
        ("a", 9),
        ("b", 0),
    ]


def test_published_entities_are_stored_by_offsets_not_by_id():
    table = pa.Table.from_pylist(
        [{"doc_id": "a", "ent_id": "T1", "start": 5, "end": 9}, {"doc_id": "a", "ent_id": "T2", "start": 0, "end": 4}],
        schema=tables.ENTITIES,
    )
    assert tables.sort_table("entities", table).column("ent_id").to_pylist() == ["T2", "T1"]
