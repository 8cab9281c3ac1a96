"""Arrow schemas and keys of every table, and deterministic Parquet I/O.

Two sets of tables: the published ones (:data:`SCHEMAS`, written by ``annotate`` and shipped by
``publish``) and ingest's interim ones (:data:`INTERIM_SCHEMAS`, read by ``annotate``). Each has
its sort keys, the order its rows are stored in (:data:`SORT_KEYS`, :data:`INTERIM_SORT_KEYS`);
the published tables also have :data:`ROW_KEYS`, the columns a problem report names a row by.
The training views' schemas (``ner``, ``re``) are derived from their declaration in
:mod:`pipeline.core.features`, as is the ``datasets`` metadata of their files
(:func:`huggingface_metadata`).

Every stage writes through :func:`write_parquet`, so the same rows give byte-identical files:
rows are sorted by the table's key, no timestamps are written, and metadata is JSON with sorted keys.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.core import features
from pipeline.io import atomic

METADATA_KEY = b"corpus"
HF_METADATA_KEY = b"huggingface"

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
        # nesting (pipeline.core.spans.nesting): 0 = outermost; the ent_id of the smallest enclosing entity
        ("level", pa.int32()),
        ("parent", pa.string()),
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
# The training views' columns are declared in core/features, with their ``datasets`` features.
NER = features.arrow_schema(features.NER)
RE = features.arrow_schema(features.RE)

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
"""The order the rows of a published table are stored in (what makes the files deterministic)."""
ROW_KEYS: dict[str, list[str]] = {
    "documents": ["doc_id"],
    "sentences": ["doc_id", "sent_idx"],
    "tokens": ["doc_id", "tok_idx"],
    "entities": ["doc_id", "ent_id"],
    "relations": ["doc_id", "rel_id", "head", "tail"],
    "ner": ["id", "doc_id"],
    "re": ["id", "doc_id"],
}
"""The columns that identify a row of a published table in a problem report (``validate`` lists
the failing rows by them): the document and the row's id in it, not the sort order (an entity is
stored by offsets but named by ``ent_id``); a relation also by its head and tail, which is what a
reader needs to find the mistake."""
#: The published tables that are not cut by split (``<name>/*.parquet``); the training views are
#: (``<name>/<split>-*.parquet``).
FLAT_TABLES = ("documents", "sentences", "tokens", "entities", "relations")
SPLIT_TABLES = tuple(features.VIEWS)

# ingest's output (``corpus/interim/ingest/<table>/part-NNNN.parquet``): the documents with where
# each was read, the sentences as published, the tokens without index, text and tag (annotate
# re-tokenises at entity edges and numbers them).
INTERIM_DOCUMENTS = pa.schema(
    [
        ("doc_id", pa.string()),
        ("text", pa.large_string()),
        ("text_sha256", pa.string()),
        ("source", pa.string()),
        ("title", pa.string()),
        ("date", pa.string()),
        ("url", pa.string()),
        ("meta", pa.string()),
        ("path", pa.string()),
        ("line", pa.int64()),
        ("raw_sha256", pa.string()),
    ]
)
INTERIM_TOKENS = pa.schema([("doc_id", pa.string()), ("sent_idx", pa.int32()), ("start", pa.int64()), ("end", pa.int64())])
INTERIM_SCHEMAS: dict[str, pa.Schema] = {
    "documents": INTERIM_DOCUMENTS,
    "sentences": SENTENCES,
    "tokens": INTERIM_TOKENS,
}
INTERIM_SORT_KEYS: dict[str, list[str]] = {
    "documents": ["doc_id"],
    "sentences": ["doc_id", "sent_idx"],
    "tokens": ["doc_id", "start"],
}
"""The order the rows of an interim table are stored in."""


def from_rows(name: str, rows: Iterable[dict[str, Any]]) -> pa.Table:
    """Build table ``name`` from row dicts, with its schema, sorted by its key."""
    table = pa.Table.from_pylist(list(rows), schema=SCHEMAS[name])
    return sort_table(name, table)


def sort_table(name: str, table: pa.Table) -> pa.Table:
    """Published table ``name`` in its stored order (:data:`SORT_KEYS`)."""
    return _sorted(table, SORT_KEYS[name])


def sort_interim_table(name: str, table: pa.Table) -> pa.Table:
    """Interim table ``name`` in its stored order (:data:`INTERIM_SORT_KEYS`)."""
    return _sorted(table, INTERIM_SORT_KEYS[name])


def _sorted(table: pa.Table, keys: list[str]) -> pa.Table:
    if table.num_rows == 0:
        return table
    return table.sort_by([(key, "ascending") for key in keys])


def with_metadata(table: pa.Table, metadata: dict[bytes, bytes]) -> pa.Table:
    return table.replace_schema_metadata(metadata)


def corpus_metadata(info: dict[str, Any]) -> dict[bytes, bytes]:
    return {METADATA_KEY: json.dumps(info, sort_keys=True, ensure_ascii=False).encode("utf-8")}


def huggingface_metadata(name: str, bio_labels: Sequence[str]) -> dict[bytes, bytes]:
    """The ``datasets`` features of table ``name`` as ``datasets`` writes and reads them in a
    Parquet file's metadata (``{"info": {"features": ...}}``); empty for a table that declares none
    (see :class:`pipeline.core.features.View`). ``bio_labels`` are the label schema's."""
    view = features.VIEWS.get(name)
    if view is None or not view.declares_features:
        return {}
    return {HF_METADATA_KEY: json.dumps({"info": {"features": features.hf_features(view, bio_labels)}}, sort_keys=True).encode()}


def write_parquet(table: pa.Table, path: str | Path) -> None:
    """Write ``table`` deterministically and atomically (temp file + rename)."""
    with atomic.writing(path) as temp:
        pq.write_table(
            table,
            temp,
            compression="zstd",
            row_group_size=128 * 1024,
            write_statistics=True,
            store_schema=True,
        )


def read_parquet(path: str | Path, columns: list[str] | None = None) -> pa.Table:
    return pq.read_table(path, columns=columns)
