"""The one reader of ingest's output, ``<ingest out_dir>/<table>/part-NNNN.parquet``.

:func:`read_documents` reads the documents table of every shard (for ``preannotate`` and the
doccano client); :func:`read_shard` reads the three tables of one shard (for ``annotate``);
:func:`read_tokens` the token offsets of chosen documents (for ``agreement``). The
schemas and the stored order are :data:`~pipeline.io.tables.INTERIM_SCHEMAS` and
:data:`~pipeline.io.tables.INTERIM_SORT_KEYS`.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from pipeline.io.tables import INTERIM_DOCUMENTS, INTERIM_SCHEMAS, read_parquet


def read_documents(ingest_dir: Path, columns: list[str] | None = None) -> pa.Table:
    """The ingested documents of every shard (shard by shard, each in ``doc_id`` order), only
    ``columns`` when given; an empty table with the same columns when nothing was ingested."""
    if columns is not None:
        unknown = [name for name in columns if name not in INTERIM_DOCUMENTS.names]
        if unknown:
            raise ValueError(f"no column(s) {unknown} in the ingested documents; they have {INTERIM_DOCUMENTS.names}")
    files = sorted((Path(ingest_dir) / "documents").glob("*.parquet"))
    if not files:
        empty = INTERIM_DOCUMENTS.empty_table()
        return empty if columns is None else empty.select(columns)
    return pa.concat_tables(read_parquet(path, columns=columns) for path in files)


def read_shard(ingest_dir: Path, part_file: str) -> dict[str, pa.Table]:
    """The interim tables (documents, sentences, tokens) of one shard, ``part_file`` its file name."""
    return {name: read_parquet(Path(ingest_dir) / name / part_file) for name in INTERIM_SCHEMAS}


def read_tokens(ingest_dir: Path, doc_ids: Iterable[str]) -> dict[str, list[tuple[int, int]]]:
    """doc_id → its tokens' ``(start, end)`` in order, for the documents in ``doc_ids`` (the others are not kept)."""
    wanted = pa.array(sorted(set(doc_ids)), type=pa.string())
    tokens: dict[str, list[tuple[int, int]]] = {}
    if not len(wanted):
        return tokens
    for path in sorted((Path(ingest_dir) / "tokens").glob("*.parquet")):
        table = read_parquet(path, columns=["doc_id", "start", "end"])
        table = table.filter(pc.is_in(table["doc_id"], value_set=wanted))
        for doc_id, start, end in zip(*(table[name].to_pylist() for name in ("doc_id", "start", "end")), strict=True):
            tokens.setdefault(doc_id, []).append((start, end))
    return {doc_id: sorted(spans) for doc_id, spans in tokens.items()}
