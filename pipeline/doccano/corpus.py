"""The corpus side of push and pull: the ingested documents to push, and their text hashes for pull."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pipeline.core.spans import Document
from pipeline.doccano.session import DoccanoError


def read_documents(ingest_dir: Path, published_documents: Path | None = None) -> list[Document]:
    """The ingested documents (ingest's ``documents`` tables), else the published ones."""
    import pyarrow.parquet as pq

    from pipeline.stages.ingest import read_documents as read_interim

    columns = ["doc_id", "text", "source"]
    table = read_interim(ingest_dir, columns=columns)
    if table.num_rows == 0 and (ingest_dir / "documents.parquet").is_file():  # the layout before sharding
        table = pq.read_table(ingest_dir / "documents.parquet", columns=columns)
    if table.num_rows == 0 and published_documents is not None and any(published_documents.glob("*.parquet")):
        table = pq.read_table(published_documents, columns=columns)
    if table.num_rows == 0:
        raise DoccanoError(f"no ingested documents in {ingest_dir}; run 'dvc repro' (or 'python -m pipeline ingest') first")
    return [Document(doc_id=row["doc_id"], text=row["text"], source=row["source"]) for row in table.to_pylist()]


def expected_hashes(documents: Sequence[Document]) -> dict[str, str]:
    return {d.doc_id: d.text_sha256 for d in documents}
