"""Stage 1, ingest: ``seeds/`` → normalised documents, sentences and tokens.

Inputs: ``*.txt`` (one document per file, ``doc_id`` = file stem) and ``*.jsonl`` (one document per
line, see ``schemas/document.schema.json``). Text is decoded as UTF-8 (a BOM is stripped), CRLF/CR
become LF and the text is NFC-normalised; offsets everywhere refer to that text. Bad input never
stops the stage early: every problem is collected, so that ``validate`` reports them all at once.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from pipeline import tables
from pipeline.jsonl import decode_utf8, display_path, read_jsonl, schema_problems
from pipeline.model import Document, Problem, normalise_text, text_sha256
from pipeline.problemlog import write_problems
from pipeline.progress import progress
from pipeline.schema import load_json_schema
from pipeline.segment import segment_many
from pipeline.shards import ShardCache, clean_dir, code_fingerprint, digest, group, parallel_map, part_name, shard_of, workers_from

log = logging.getLogger(__name__)

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
INTERIM_TOKENS = pa.schema(
    [("doc_id", pa.string()), ("sent_idx", pa.int32()), ("start", pa.int64()), ("end", pa.int64())]
)


@dataclass(frozen=True)
class SourcedDocument:
    """A document and the place (file, line) it was read from."""

    document: Document
    path: str
    line: int | None
    raw_sha256: str
    """sha256 of the decoded text before line-ending and NFC normalisation (BOM stripped), so
    that annotations anchored to the raw text can be recognised and explained."""


def read_txt(path: Path, display: str, validator: Any) -> tuple[list[SourcedDocument], list[Problem]]:
    raw, problem = decode_utf8(path.read_bytes(), display)
    if problem:
        return [], [problem]
    text = normalise_text(raw)
    doc_id = path.stem
    if not text.strip():
        return [], [Problem(display, None, doc_id, "empty-document", "the document has no text after normalisation")]
    problems = schema_problems(validator, {"id": doc_id, "text": text}, display, None, doc_id)
    if problems:
        return [], problems
    document = Document(doc_id=doc_id, text=text, source=path.name)
    return [SourcedDocument(document, display, None, text_sha256(raw.removeprefix("\ufeff")))], []


def read_documents_jsonl(path: Path, display: str, validator: Any) -> tuple[list[SourcedDocument], list[Problem]]:
    rows, problems = read_jsonl(path, display, validator, "id")
    documents: list[SourcedDocument] = []
    for number, data in rows:
        doc_id = data["id"]
        text = normalise_text(data["text"])
        if not text.strip():
            problems.append(Problem(display, number, doc_id, "empty-document", "the document has no text after normalisation"))
            continue
        document = Document(
            doc_id=doc_id,
            text=text,
            source=f"{path.name}#{doc_id}",
            title=data.get("title"),
            date=data.get("date"),
            url=data.get("url"),
            meta=data.get("meta") or {},
        )
        documents.append(SourcedDocument(document, display, number, text_sha256(data["text"].removeprefix("\ufeff"))))
    return documents, problems


def read_seeds(seeds_dir: Path, document_schema: Path, root: Path | None = None) -> tuple[list[SourcedDocument], list[Problem]]:
    """Every document under ``seeds_dir`` in a stable order, and every problem found reading them."""
    validator = load_json_schema(document_schema)
    root = root or Path.cwd()
    documents: list[SourcedDocument] = []
    problems: list[Problem] = []
    files = sorted(p for p in seeds_dir.rglob("*") if p.is_file() and p.suffix in (".txt", ".jsonl"))
    if not files:
        problems.append(Problem(str(seeds_dir), None, None, "no-documents", "no *.txt or *.jsonl files found"))
    for path in files:
        display = display_path(path, root)
        reader = read_txt if path.suffix == ".txt" else read_documents_jsonl
        found, found_problems = reader(path, display, validator)
        documents.extend(found)
        problems.extend(found_problems)
    return _drop_duplicates(documents, problems)


def _drop_duplicates(documents: list[SourcedDocument], problems: list[Problem]) -> tuple[list[SourcedDocument], list[Problem]]:
    first_seen: dict[str, SourcedDocument] = {}
    unique = []
    for item in documents:
        doc_id = item.document.doc_id
        if doc_id in first_seen:
            other = first_seen[doc_id]
            where = other.path if other.line is None else f"{other.path}:{other.line}"
            problems.append(Problem(item.path, item.line, doc_id, "duplicate-doc-id", f"document id already used at {where}"))
            continue
        first_seen[doc_id] = item
        unique.append(item)
    return unique, problems


def segment_documents(documents: list[SourcedDocument], language: str) -> tuple[pa.Table, pa.Table, pa.Table]:
    """The interim documents, sentences and tokens tables for ``documents``."""
    doc_rows: list[dict[str, Any]] = []
    sentence_rows: list[dict[str, Any]] = []
    token_columns: dict[str, list[Any]] = {name: [] for name in INTERIM_TOKENS.names}
    texts = (item.document.text for item in documents)
    for item, seg in zip(documents, segment_many(texts, language)):
        doc = item.document
        doc_rows.append(
            {
                "doc_id": doc.doc_id,
                "text": doc.text,
                "text_sha256": doc.text_sha256,
                "source": doc.source,
                "title": doc.title,
                "date": doc.date,
                "url": doc.url,
                "meta": json.dumps(doc.meta, sort_keys=True, ensure_ascii=False) if doc.meta else None,
                "path": item.path,
                "line": item.line,
                "raw_sha256": item.raw_sha256,
            }
        )
        for sent_idx, (sentence, sent_tokens) in enumerate(zip(seg.sentences, seg.tokens)):
            sentence_rows.append(
                {"doc_id": doc.doc_id, "sent_idx": sent_idx, "start": sentence.start, "end": sentence.end, "paragraph_idx": sentence.paragraph_idx}
            )
            token_columns["doc_id"].extend([doc.doc_id] * len(sent_tokens))
            token_columns["sent_idx"].extend([sent_idx] * len(sent_tokens))
            token_columns["start"].extend(t[0] for t in sent_tokens)
            token_columns["end"].extend(t[1] for t in sent_tokens)
    documents_table = pa.Table.from_pylist(doc_rows, schema=INTERIM_DOCUMENTS).sort_by("doc_id") if doc_rows else INTERIM_DOCUMENTS.empty_table()
    sentences_table = tables.from_rows("sentences", sentence_rows)
    tokens_table = pa.Table.from_pydict(token_columns, schema=INTERIM_TOKENS)
    if tokens_table.num_rows:
        tokens_table = tokens_table.sort_by([("doc_id", "ascending"), ("start", "ascending")])
    return documents_table, sentences_table, tokens_table


CODE_MODULES = ["ingest", "jsonl", "segment", "model", "tables", "schema", "shards"]
TABLES = ("documents", "sentences", "tokens")


def document_fingerprint(item: SourcedDocument) -> list[Any]:
    doc = item.document
    return [doc.doc_id, doc.text_sha256, doc.source, doc.title, doc.date, doc.url, doc.meta, item.path, item.line, item.raw_sha256]


def segment_shard(job: tuple[int, list[SourcedDocument], str, str]) -> tuple[int, str]:
    """Worker: segment one shard's documents and write its three tables into ``staging``."""
    shard, documents, language, staging = job
    for name, table in zip(TABLES, segment_documents(documents, language)):
        tables.write_parquet(table, Path(staging) / name / f"part-{part_name(shard)}.parquet")
    return shard, staging


def run(params: dict[str, Any]) -> list[Problem]:
    """Read the seeds, segment them shard by shard (cached, parallel), write the interim tables."""
    section = params["ingest"]
    runtime = params["runtime"]
    out_dir = Path(section["out_dir"])
    language = section.get("language", "de")
    documents, problems = read_seeds(Path(section["seeds_dir"]), Path(params["schemas"]["document"]))
    cache = ShardCache(Path(runtime["cache_dir"]), "ingest")
    fingerprint = code_fingerprint(CODE_MODULES)
    groups = group(documents, lambda item: shard_of(item.document.doc_id, runtime["shards"]))
    keys = {shard: digest(fingerprint, language, [document_fingerprint(d) for d in docs]) for shard, docs in groups.items()}
    todo = [(shard, docs, language, str(cache.staging(keys[shard]))) for shard, docs in groups.items() if not cache.has(keys[shard])]
    for shard, staging in progress(parallel_map(segment_shard, todo, workers_from(params)), total=len(todo), description="ingest", minimum=2):
        cache.commit(keys[shard], Path(staging))
    clean_dir(out_dir)
    for shard in groups:
        cache.link_into(keys[shard], out_dir)
    (out_dir / "shards.json").write_text(json.dumps({part_name(s): k for s, k in keys.items()}, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    write_problems(problems, out_dir / "problems.jsonl")
    cache.prune()
    log.info("ingest: %d documents in %d shards (%d computed, %d from cache), %d problems", len(documents), len(groups), len(todo), len(groups) - len(todo), len(problems))
    return problems


def read_documents(ingest_dir: Path, columns: list[str] | None = None) -> pa.Table:
    """All interim documents (every shard), optionally only some columns."""
    files = sorted((ingest_dir / "documents").glob("*.parquet"))
    if not files:
        return INTERIM_DOCUMENTS.empty_table() if columns is None else INTERIM_DOCUMENTS.empty_table().select(columns)
    return pa.concat_tables(tables.read_parquet(f, columns=columns) for f in files)
