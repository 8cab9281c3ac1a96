"""Stage 1, ingest: ``seeds/`` → normalised documents, sentences and tokens.

Inputs: ``*.txt`` (one document per file, ``doc_id`` = file stem) and ``*.jsonl`` (one document per
line, see ``schemas/document.schema.json``). Text is decoded as UTF-8 (a BOM is stripped), CRLF/CR
become LF and the text is NFC-normalised; offsets everywhere refer to that text. Bad input never
stops the stage early: every problem is collected, so that ``validate`` reports them all at once.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from pipeline.config import StageConfig
from pipeline.core.characters import forbidden_characters
from pipeline.core.problems import Problem, Severity
from pipeline.core.segment import segment_arrays
from pipeline.core.spans import Document
from pipeline.core.text import normalise_text, text_sha256
from pipeline.io import tables
from pipeline.io.jsonl import (
    FileIndexes,
    LineMemo,
    LineRef,
    character_problem,
    decode_utf8,
    display_path,
    line_ref,
    path_problems,
    read_lines,
    scan_jsonl,
    schema_problems,
)
from pipeline.io.problemlog import write_problems
from pipeline.io.schemas import load_json_schema
from pipeline.runtime.cache import ShardCache
from pipeline.runtime.chunks import LastEntries, PreviousChunks, chunk_keys, write_chunks
from pipeline.runtime.executor import shard_map
from pipeline.runtime.fingerprint import code_fingerprint, digest
from pipeline.runtime.progress import progress
from pipeline.runtime.shards import clean_dir, group, part_name, shard_of

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SourcedDocument:
    """A document and the place (file, line) it was read from."""

    document: Document
    path: str
    line: int | None
    raw_sha256: str
    """sha256 of the decoded text before line-ending and NFC normalisation (BOM stripped), so
    that annotations anchored to the raw text can be recognised and explained."""


def _index_txt(path: Path, display: str, validator: Any) -> tuple[list[LineRef], list[Problem]]:
    problems = path_problems(display)
    if any(problem.severity is Severity.ERROR for problem in problems):
        return [], problems
    data = path.read_bytes()
    raw, problem = decode_utf8(data, display)
    if problem:
        return [], [problem]
    doc_id = path.stem
    text = normalise_text(raw)
    # The line of the first such character: the normalised text has an LF wherever the file has a line break.
    problems += [
        character_problem(found, "in the text", display, text.count("\n", 0, found.offsets[0]) + 1, doc_id)
        for found in forbidden_characters(text)
    ]
    if not text.strip():
        problems.append(Problem(display, None, doc_id, "empty-document", "the document has no text after normalisation"))
    else:
        problems += schema_problems(validator, {"id": doc_id, "text": text}, display, None, doc_id)
    if any(problem.severity is Severity.ERROR for problem in problems):
        return [], problems
    return [LineRef(str(path), display, None, 0, len(data), doc_id, hashlib.sha256(data).hexdigest())], problems


def _index_jsonl(
    path: Path, display: str, validator: Any, memo: LineMemo | None, indexes: FileIndexes | None
) -> tuple[list[LineRef], list[Problem]]:
    def summarise(data: dict[str, Any]) -> list[Any]:
        return [data["id"], not normalise_text(data["text"]).strip()]

    kept, problems = scan_jsonl(path, display, validator, "id", summarise, memo, normalised=("text",), indexes=indexes)
    refs = []
    for line in kept:
        doc_id, empty = line.summary
        if empty:
            problems.append(Problem(display, line.number, doc_id, "empty-document", "the document has no text after normalisation"))
        else:
            refs.append(line_ref(path, display, line, doc_id))
    return refs, problems


def index_seeds(
    seeds_dir: Path,
    document_schema: Path,
    root: Path | None = None,
    memo: LineMemo | None = None,
    indexes: FileIndexes | None = None,
) -> tuple[list[LineRef], list[Problem]]:
    """Where every document under ``seeds_dir`` is, in a stable order, and every problem found.

    Streams the files and keeps no text, so its memory does not grow with the documents' size;
    :func:`load_seeds` reads the documents of one shard back. With ``indexes``, a JSONL file indexed
    before is read again only where it changed (not at all, or only its appended lines).
    """
    validator = load_json_schema(document_schema)
    root = root or Path.cwd()
    refs: list[LineRef] = []
    problems: list[Problem] = []
    files = sorted(p for p in seeds_dir.rglob("*") if p.is_file() and p.suffix in (".txt", ".jsonl"))
    if not files:
        problems.append(Problem(str(seeds_dir), None, None, "no-documents", "no *.txt or *.jsonl files found"))
    for path in files:
        display = display_path(path, root)
        found, found_problems = (
            _index_txt(path, display, validator) if path.suffix == ".txt" else _index_jsonl(path, display, validator, memo, indexes)
        )
        refs.extend(found)
        problems.extend(found_problems)
    return _drop_duplicates(refs, problems)


def _drop_duplicates(refs: list[LineRef], problems: list[Problem]) -> tuple[list[LineRef], list[Problem]]:
    first_seen: dict[str, LineRef] = {}
    unique = []
    for ref in refs:
        if ref.key in first_seen:
            other = first_seen[ref.key]
            where = other.path if other.line is None else f"{other.path}:{other.line}"
            problems.append(Problem(ref.path, ref.line, ref.key, "duplicate-doc-id", f"document id already used at {where}"))
            continue
        first_seen[ref.key] = ref
        unique.append(ref)
    return unique, problems


def sourced_document(ref: LineRef, data: dict[str, Any]) -> SourcedDocument:
    """The document of a seed line (``data`` as in ``document.schema.json``) or of a ``.txt`` file."""
    raw = data["text"]
    name = Path(ref.path).name
    document = Document(
        doc_id=data["id"],
        text=normalise_text(raw),
        source=name if ref.line is None else f"{name}#{data['id']}",
        title=data.get("title"),
        date=data.get("date"),
        url=data.get("url"),
        meta=data.get("meta") or {},
    )
    return SourcedDocument(document, ref.path, ref.line, text_sha256(raw.removeprefix("\ufeff")))


def load_seeds(refs: list[LineRef]) -> list[SourcedDocument]:
    """The documents ``refs`` point to (as found by :func:`index_seeds`), in the same order."""
    lines = iter(read_lines([ref for ref in refs if ref.line is not None]))
    documents = []
    for ref in refs:
        data = {"id": ref.key, "text": Path(ref.file).read_bytes().decode("utf-8")} if ref.line is None else next(lines)
        documents.append(sourced_document(ref, data))
    return documents


def read_seeds(seeds_dir: Path, document_schema: Path, root: Path | None = None) -> tuple[list[SourcedDocument], list[Problem]]:
    """Every document under ``seeds_dir`` in a stable order, and every problem found reading them."""
    refs, problems = index_seeds(seeds_dir, document_schema, root)
    return load_seeds(refs), problems


def segment_documents(documents: list[SourcedDocument], language: str) -> tuple[pa.Table, pa.Table, pa.Table]:
    """The interim documents, sentences and tokens tables for ``documents``."""
    doc_rows: list[dict[str, Any]] = []
    sentence_parts: list[pa.Table] = []
    token_parts: list[pa.Table] = []
    texts = (item.document.text for item in documents)
    for item, seg in zip(documents, segment_arrays(texts, language), strict=True):
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
        sentence_parts.append(
            pa.table(
                [
                    pa.array([doc.doc_id] * len(seg.sentence_starts), pa.string()),
                    np.arange(len(seg.sentence_starts), dtype=np.int32),
                    seg.sentence_starts,
                    seg.sentence_ends,
                    seg.paragraphs.astype(np.int32),
                ],
                schema=tables.SENTENCES,
            )
        )
        token_parts.append(
            pa.table(
                [pa.array([doc.doc_id] * len(seg.starts), pa.string()), seg.token_sentence.astype(np.int32), seg.starts, seg.ends],
                schema=tables.INTERIM_TOKENS,
            )
        )
    documents_table = (
        pa.Table.from_pylist(doc_rows, schema=tables.INTERIM_DOCUMENTS) if doc_rows else tables.INTERIM_DOCUMENTS.empty_table()
    )
    sentences_table = pa.concat_tables(sentence_parts) if sentence_parts else tables.SENTENCES.empty_table()
    tokens_table = pa.concat_tables(token_parts) if token_parts else tables.INTERIM_TOKENS.empty_table()
    interim = zip(tables.INTERIM_SCHEMAS, (documents_table, sentences_table, tokens_table), strict=True)
    return tuple(tables.sort_interim_table(name, table) for name, table in interim)  # type: ignore[return-value]


BATCH_DOCUMENTS = 256


@dataclass(frozen=True)
class ShardJob:
    """One shard to segment: its documents by chunk (chunk → its key and its documents), where to
    write, and the shard's previous cache entry to take unchanged chunks from (or "")."""

    shard: int
    chunks: dict[int, tuple[str, list[LineRef]]]
    language: str
    staging: str
    previous: str = ""


def segment_shard(job: ShardJob) -> tuple[int, str, int, int]:
    """Worker: segment the documents of one shard's changed chunks, take the other chunks' rows
    from the shard's previous entry, and write its three tables into ``staging``; returns the
    shard, the staging folder and how many chunks were computed and reused."""
    prior = PreviousChunks(job.previous)
    keys = {chunk: key for chunk, (key, _) in job.chunks.items()}
    reused = prior.reusable(keys)
    refs = [ref for chunk, (_, chunk_refs) in sorted(job.chunks.items()) if chunk not in reused for ref in chunk_refs]
    kept = [ref.key for chunk in sorted(reused) for ref in job.chunks[chunk][1]]
    # A batch at a time: the Python objects per token exist for one batch, the shard only as Arrow.
    batches = [
        segment_documents(load_seeds(refs[first : first + BATCH_DOCUMENTS]), job.language) for first in range(0, len(refs), BATCH_DOCUMENTS)
    ]
    part = f"part-{part_name(job.shard)}.parquet"
    for index, (name, schema) in enumerate(tables.INTERIM_SCHEMAS.items()):
        previous = prior.rows([f"{name}/{part}"], schema, kept)
        table = tables.sort_interim_table(name, pa.concat_tables([previous] + [batch[index] for batch in batches]))
        tables.write_parquet(table, Path(job.staging) / name / part)
    write_chunks(job.staging, keys)
    return job.shard, job.staging, len(keys) - len(reused), len(reused)


def run(config: StageConfig) -> list[Problem]:
    """Index the seeds, segment them shard by shard (cached, parallel), write the interim tables.

    The main process keeps only where each document is (:class:`LineRef`); each worker reads its
    shard's documents itself, so memory is bounded by a shard, not by the corpus. A shard whose
    documents changed is recomputed chunk by chunk (:mod:`pipeline.runtime.chunks`): only the
    chunks with a changed document are segmented again.
    """
    section = config.ingest
    runtime = config.runtime
    out_dir = section.out_dir
    language = section.language
    document_schema = config.schemas.document
    fingerprint = code_fingerprint(__name__)
    salt = digest(fingerprint, document_schema.read_text(encoding="utf-8"))
    memo = LineMemo(runtime.local_cache_dir() / "lines" / "ingest.json", salt)
    indexes = FileIndexes(runtime.local_cache_dir() / "index", salt)
    refs, problems = index_seeds(section.seeds_dir, document_schema, memo=memo, indexes=indexes)
    memo.save()
    cache = ShardCache(runtime.cache_dir, "ingest", runtime.local_cache_dir())
    last = LastEntries(runtime.local_cache_dir() / "last" / "ingest.json")
    groups = group(refs, lambda ref: shard_of(ref.key, runtime.shards))
    keys = {shard: digest(fingerprint, language, [ref.fingerprint() for ref in shard_refs]) for shard, shard_refs in groups.items()}
    layout = (runtime.shards, runtime.chunks)
    chunks = {
        shard: chunk_keys(digest(fingerprint, language), shard_refs, lambda ref: ref.key, layout) for shard, shard_refs in groups.items()
    }
    todo = [
        ShardJob(shard, chunks[shard], language, str(cache.staging(keys[shard])), last.ref(part_name(shard), cache))
        for shard in groups
        if not cache.has(keys[shard])
    ]
    computed = reused = 0
    for shard, staging, chunks_computed, chunks_reused in progress(
        shard_map(cache.task(segment_shard), todo, runtime), total=len(todo), description="ingest", minimum=2
    ):
        cache.commit(keys[shard], Path(staging))
        computed += chunks_computed
        reused += chunks_reused
    clean_dir(out_dir)
    for shard in groups:
        cache.link_into(keys[shard], out_dir)
    (out_dir / "shards.json").write_text(
        json.dumps({part_name(s): k for s, k in keys.items()}, indent=1, sort_keys=True) + "\n", encoding="utf-8"
    )
    (out_dir / "shard-chunks.json").write_text(
        json.dumps(
            {part_name(s): {str(c): key for c, (key, _) in shard_chunks.items()} for s, shard_chunks in chunks.items()}, sort_keys=True
        )
        + "\n",
        encoding="utf-8",
    )
    write_problems(problems, out_dir / "problems.jsonl")
    last.save({part_name(s): k for s, k in keys.items()})
    cache.prune()
    log.info(
        "ingest: %d documents in %d shards (%d computed, %d from cache; chunks: %d computed, %d reused), %d problems",
        len(refs),
        len(groups),
        len(todo),
        len(groups) - len(todo),
        computed,
        reused,
        len(problems),
    )
    return problems


def main(config: StageConfig) -> int:
    """The stage command: problems go to ``validate``, so ingest itself always succeeds."""
    run(config)
    return 0
