"""The one reader of ingest's output."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from pipeline.io import tables
from pipeline.io.interim import read_documents, read_shard


def documents(*doc_ids: str) -> pa.Table:
    rows = [
        {"doc_id": doc_id, "text": f"Text {doc_id}.", "text_sha256": "0" * 64, "source": f"{doc_id}.txt", "path": f"seeds/{doc_id}.txt"}
        for doc_id in doc_ids
    ]
    return pa.Table.from_pylist(rows, schema=tables.INTERIM_DOCUMENTS)


def test_nothing_ingested_is_an_empty_table_with_the_schema(tmp_path: Path):
    assert read_documents(tmp_path).schema == tables.INTERIM_DOCUMENTS
    assert read_documents(tmp_path).num_rows == 0


def test_nothing_ingested_keeps_the_columns_asked_for(tmp_path: Path):
    found = read_documents(tmp_path, columns=["doc_id", "text"])
    assert found.num_rows == 0 and found.column_names == ["doc_id", "text"]


def test_every_shard_is_read_in_shard_order(tmp_path: Path):
    tables.write_parquet(documents("b", "c"), tmp_path / "documents" / "part-0001.parquet")
    tables.write_parquet(documents("a"), tmp_path / "documents" / "part-0000.parquet")
    assert read_documents(tmp_path).column("doc_id").to_pylist() == ["a", "b", "c"]


def test_only_the_columns_asked_for_are_read(tmp_path: Path):
    tables.write_parquet(documents("a"), tmp_path / "documents" / "part-0000.parquet")
    found = read_documents(tmp_path, columns=["doc_id", "text_sha256"])
    assert found.column_names == ["doc_id", "text_sha256"]
    assert found.to_pylist() == [{"doc_id": "a", "text_sha256": "0" * 64}]


def test_an_unknown_column_is_refused_by_name(tmp_path: Path):
    with pytest.raises(ValueError, match=r"no column\(s\) \['split'\] in the ingested documents"):
        read_documents(tmp_path, columns=["doc_id", "split"])


def test_a_shard_is_its_three_tables(tmp_path: Path):
    for name, schema in tables.INTERIM_SCHEMAS.items():
        tables.write_parquet(documents("a") if name == "documents" else schema.empty_table(), tmp_path / name / "part-0003.parquet")
    shard = read_shard(tmp_path, "part-0003.parquet")
    assert list(shard) == ["documents", "sentences", "tokens"]
    assert shard["documents"].column("doc_id").to_pylist() == ["a"]
    assert shard["tokens"].schema == tables.INTERIM_TOKENS
