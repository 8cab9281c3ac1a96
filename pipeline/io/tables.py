"""Arrow schemas of the corpus tables and deterministic Parquet I/O.

Every stage writes through :func:`write_parquet`, so the same rows give byte-identical files:
rows are sorted by the table's key, no timestamps are written, and metadata is JSON with sorted keys.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable

import pyarrow as pa
import pyarrow.parquet as pq

METADATA_KEY = b"corpus"

DOCUMENTS = pa.schema(
    [
        ("doc_id", pa.string()),
        ("text", pa.large_string()),
        ("text_sha256", pa.string()),
        ("source", pa.string()),
        ("split", pa.string()),
        ("title", pa.string()),
        ("date", pa.string()),
        ("url", pa.string()),
        ("meta", pa.string()),
    ]
)
SENTENCES = pa.schema(
    [
        ("doc_id", pa.string()),
        ("sent_idx", pa.int32()),
        ("start", pa.int64()),
        ("end", pa.int64()),
        ("paragraph_idx", pa.int32()),
    ]
)
TOKENS = pa.schema(
    [
        ("doc_id", pa.string()),
        ("sent_idx", pa.int32()),
        ("tok_idx", pa.int32()),
        ("start", pa.int64()),
        ("end", pa.int64()),
        ("text", pa.string()),
        ("ner_tag", pa.string()),
    ]
)
ENTITIES = pa.schema(
    [
        ("doc_id", pa.string()),
        ("ent_id", pa.string()),
        ("start", pa.int64()),
        ("end", pa.int64()),
        ("text", pa.string()),
        ("label", pa.string()),
        ("source", pa.string()),
        ("layer", pa.string()),
    ]
)
RELATIONS = pa.schema(
    [
        ("doc_id", pa.string()),
        ("rel_id", pa.string()),
        ("head", pa.string()),
        ("tail", pa.string()),
        ("label", pa.string()),
        ("source", pa.string()),
        ("layer", pa.string()),
    ]
)
NER = pa.schema(
    [
        ("id", pa.string()),
        ("doc_id", pa.string()),
        ("sent_idx", pa.int32()),
        ("tokens", pa.list_(pa.string())),
        ("ner_tags", pa.list_(pa.int64())),
        ("ner_labels", pa.list_(pa.string())),
        ("token_starts", pa.list_(pa.int64())),
        ("token_ends", pa.list_(pa.int64())),
        ("split", pa.string()),
    ]
)
_ARG = [("id", pa.string()), ("start", pa.int64()), ("end", pa.int64()), ("text", pa.string()), ("label", pa.string())]
RE = pa.schema(
    [
        ("id", pa.string()),
        ("doc_id", pa.string()),
        ("rel_id", pa.string()),
        ("text", pa.string()),
        ("window_start", pa.int64()),
        ("head", pa.struct(_ARG)),
        ("tail", pa.struct(_ARG)),
        ("label", pa.string()),
        ("split", pa.string()),
    ]
)

SCHEMAS: dict[str, pa.Schema] = {
    "documents": DOCUMENTS,
    "sentences": SENTENCES,
    "tokens": TOKENS,
    "entities": ENTITIES,
    "relations": RELATIONS,
    "ner": NER,
    "re": RE,
}
SORT_KEYS: dict[str, list[str]] = {
    "documents": ["doc_id"],
    "sentences": ["doc_id", "sent_idx"],
    "tokens": ["doc_id", "tok_idx"],
    "entities": ["doc_id", "start", "end", "ent_id"],
    "relations": ["doc_id", "rel_id"],
    "ner": ["doc_id", "sent_idx"],
    "re": ["doc_id", "id"],
}
#: The published tables that are not cut by split (``<name>/*.parquet``); the training views are
#: (``<name>/<split>-*.parquet``).
FLAT_TABLES = ("documents", "sentences", "tokens", "entities", "relations")
SPLIT_TABLES = ("ner", "re")


def from_rows(name: str, rows: Iterable[dict[str, Any]]) -> pa.Table:
    """Build table ``name`` from row dicts, with its schema, sorted by its key."""
    table = pa.Table.from_pylist(list(rows), schema=SCHEMAS[name])
    return sort_table(name, table)


def sort_table(name: str, table: pa.Table) -> pa.Table:
    if table.num_rows == 0:
        return table
    return table.sort_by([(key, "ascending") for key in SORT_KEYS[name]])


def with_metadata(table: pa.Table, metadata: dict[bytes, bytes]) -> pa.Table:
    return table.replace_schema_metadata(metadata)


def corpus_metadata(info: dict[str, Any]) -> dict[bytes, bytes]:
    return {METADATA_KEY: json.dumps(info, sort_keys=True, ensure_ascii=False).encode("utf-8")}


def write_parquet(table: pa.Table, path: str | Path) -> None:
    """Write ``table`` deterministically and atomically (temp file + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    pq.write_table(
        table,
        tmp,
        compression="zstd",
        row_group_size=128 * 1024,
        write_statistics=True,
        store_schema=True,
    )
    os.replace(tmp, path)


def read_parquet(path: str | Path, columns: list[str] | None = None) -> pa.Table:
    return pq.read_table(path, columns=columns)


def read_metadata(path: str | Path) -> dict[str, Any]:
    raw = pq.read_schema(path).metadata or {}
    return json.loads(raw[METADATA_KEY]) if METADATA_KEY in raw else {}
