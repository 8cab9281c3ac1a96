"""The corpus side of push and pull: the ingested documents to push, and their text hashes for pull."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pipeline.core.spans import Document
from pipeline.doccano.session import DoccanoError


def read_documents(ingest_dir: Path) -> list[Document]:
    """The ingested documents (ingest's ``documents`` tables, read by :mod:`pipeline.io.interim`).

    Push needs the texts exactly as the pipeline normalised them; without an ingest run there is
    nothing to push (the published documents may be older than the seeds), so that is an error.
    """
    from pipeline.io.interim import read_documents as read_interim

    table = read_interim(ingest_dir, columns=["doc_id", "text", "source"])
    if table.num_rows == 0:
        raise DoccanoError(f"no ingested documents in {ingest_dir}; run 'dvc repro' (or 'python -m pipeline ingest') first")
    return [Document(doc_id=row["doc_id"], text=row["text"], source=row["source"]) for row in table.to_pylist()]


def expected_hashes(documents: Sequence[Document]) -> dict[str, str]:
    return {d.doc_id: d.text_sha256 for d in documents}
