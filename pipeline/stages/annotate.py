"""Stage 2, annotate: apply the annotation layers to the ingested documents.

Read, check, build, write. The stage indexes every ``corpus/annotations/<layer>/*.jsonl`` record
(:mod:`pipeline.io.layers`, which also checks the JSON Schema) and, per shard of documents, checks
each record against the label schema and its document (:mod:`pipeline.core.checks`), picks one
record per document by the layer priority in ``params.yaml`` (:mod:`pipeline.core.selection`),
splits tokens at annotated boundaries and joins sentences an entity crosses
(:mod:`pipeline.core.tokens`), derives BIO tags (:mod:`pipeline.core.bio`) of the outermost level
and of level 1 and every entity's level and parent (:func:`pipeline.core.spans.nesting`), assigns the
deterministic split (:mod:`pipeline.core.splits`) and builds every table that ``publish`` will
ship, training views included (:mod:`pipeline.core.views`). Problems are collected, never raised
one at a time, so that ``validate`` reports all of them; a record with an error contributes
nothing to the tables.

The module is over 400 lines because the shard job beside the core also keeps what each chunk of
the shard contributed (:mod:`pipeline.runtime.chunks`), so that a changed shard rebuilds only its
changed chunks; both read the same records and tables.
"""

from __future__ import annotations

import json
import logging
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.config import StageConfig
from pipeline.core.bio import bio_tags
from pipeline.core.checks import DocumentInfo, Site, alignment_problems, crosses_paragraph_problem
from pipeline.core.labels import LabelSchema
from pipeline.core.problems import Problem, Severity
from pipeline.core.selection import check_and_select
from pipeline.core.spans import AnnotationRecord, nesting
from pipeline.core.splits import assign_split
from pipeline.core.tokens import segment_for
from pipeline.core.views import ner_view, relation_candidates, sentence_spans
from pipeline.io import tables
from pipeline.io.interim import read_shard
from pipeline.io.jsonl import LineMemo
from pipeline.io.layers import LayerLine, entity_homes_for, index_layers, layer_indexes, load_records
from pipeline.io.problemlog import read_problems, write_problems
from pipeline.io.schemas import load_json_schema, load_label_schema
from pipeline.runtime.cache import ShardCache, is_url, link_identical
from pipeline.runtime.chunks import LastEntries, PreviousChunks, chunk_keys, write_chunks
from pipeline.runtime.executor import shard_map
from pipeline.runtime.fingerprint import code_fingerprint, digest, file_sha256
from pipeline.runtime.progress import progress
from pipeline.runtime.shards import chunk_of, clean_dir, group, part_name, shard_of

log = logging.getLogger(__name__)


@dataclass
class Result:
    """What a shard (or a batch of it) gives: its tables, its problems, the layer of each
    document's record (documents whose record was used)."""

    tables: dict[str, pa.Table]
    problems: list[Problem]
    layer_of: dict[str, str]


def document_infos(documents: pa.Table) -> dict[str, DocumentInfo]:
    """doc_id → what the checks need of each document of the interim ``documents`` table."""
    columns = ["doc_id", "text", "text_sha256", "path", "line", "raw_sha256"]
    return {row["doc_id"]: DocumentInfo(**row) for row in documents.select(columns).to_pylist()}


def build_shard(
    documents: pa.Table,
    sentences: pa.Table,
    tokens: pa.Table,
    chosen: dict[str, AnnotationRecord],
    schema: LabelSchema,
    ratios: dict[str, float],
) -> Result:
    """The pure core for one shard: interim tables + chosen records → publishable tables."""
    docs = document_infos(documents)
    problems: list[Problem] = []
    sentences_by_doc: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in sentences.to_pylist():
        sentences_by_doc[row["doc_id"]].append(row)
    tokens_by_doc: dict[str, list[tuple[int, int, int]]] = defaultdict(list)
    for doc_id, sent_idx, start, end in zip(*(tokens.column(c).to_pylist() for c in ("doc_id", "sent_idx", "start", "end")), strict=True):
        tokens_by_doc[doc_id].append((start, end, sent_idx))

    rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
    token_columns: dict[str, list[Any]] = {name: [] for name in tables.TOKENS.names}
    inner_tags: list[str] = []
    ner_spans: dict[tuple[str, int], list[dict[str, Any]]] = {}
    layer_of: dict[str, str] = {}
    split_of: dict[str, str] = {}
    for doc_id in sorted(docs):
        document = docs[doc_id]
        text = document.text
        record = chosen.get(doc_id)
        entities = list(record.entities) if record else []
        relations = list(record.relations) if record else []
        refined, doc_sentences, token_sentences, crossing = segment_for(text, tokens_by_doc[doc_id], sentences_by_doc[doc_id], entities)
        spans = [(t[0], t[1]) for t in refined]
        if record:
            found = alignment_problems(record, spans, text, entities) + [crosses_paragraph_problem(Site.of(record), e) for e in crossing]
            if found:
                # The record is rejected as a whole, like a record with any other error.
                problems.extend(found)
                record, entities, relations = None, [], []
                refined, doc_sentences, token_sentences, _ = segment_for(text, tokens_by_doc[doc_id], sentences_by_doc[doc_id], [])
                spans = [(t[0], t[1]) for t in refined]
            else:
                layer_of[doc_id] = record.layer
        tags = bio_tags(spans, entities)
        levels = nesting(entities)
        inner_tags.extend(bio_tags(spans, [e for e in entities if levels[e.id].level == 1]))
        ner_spans.update({(doc_id, sent): found for sent, found in sentence_spans(spans, token_sentences, entities).items()})
        split = split_of[doc_id] = assign_split(doc_id, ratios)

        rows["sentences"].extend({**s, "doc_id": doc_id} for s in doc_sentences)
        token_columns["doc_id"].extend([doc_id] * len(spans))
        token_columns["sent_idx"].extend(token_sentences)
        token_columns["tok_idx"].extend(range(len(spans)))
        if spans:
            token_starts, token_ends = zip(*spans, strict=True)
            token_columns["start"].extend(token_starts)
            token_columns["end"].extend(token_ends)
        token_columns["text"].extend([text[s:e] for s, e in spans])
        token_columns["ner_tag"].extend(tags)
        layer = record.layer if record else None
        rows["entities"].extend(
            {
                "doc_id": doc_id,
                "ent_id": e.id,
                "start": e.start,
                "end": e.end,
                "text": text[e.start : e.end],
                "label": e.label,
                "source": e.source,
                "layer": layer,
                "level": levels[e.id].level,
                "parent": levels[e.id].parent,
            }
            for e in entities
        )
        rows["relations"].extend(
            {"doc_id": doc_id, "rel_id": r.id, "head": r.head, "tail": r.tail, "label": r.label, "source": r.source, "layer": layer}
            for r in relations
        )
        rows["re"].extend(relation_candidates(doc_id, text, split, doc_sentences, entities, relations, schema))

    documents_out = documents.drop_columns(["path", "line", "raw_sha256"]).append_column(
        "split", pa.array([split_of[d] for d in documents.column("doc_id").to_pylist()], pa.string())
    )
    # the level-1 tags ride along while the tokens are sorted, so that they stay aligned
    with_inner = pa.Table.from_pydict(token_columns, schema=tables.TOKENS).append_column("ner_tag_inner", pa.array(inner_tags, pa.string()))
    with_inner = tables.sort_table("tokens", with_inner)
    tokens_out = with_inner.drop_columns(["ner_tag_inner"])
    inner_out = with_inner.column("ner_tag_inner").combine_chunks()
    result_tables = {
        "documents": tables.sort_table("documents", documents_out.select(tables.DOCUMENTS.names).cast(tables.DOCUMENTS)),
        "tokens": tokens_out,
        "ner": tables.sort_table("ner", ner_view(tokens_out, split_of, schema, tables.NER, inner_out, ner_spans)),
    }
    for name in ("sentences", "entities", "relations", "re"):
        result_tables[name] = tables.from_rows(name, rows[name])
    return Result(result_tables, problems, layer_of)


def dataset_info(config: StageConfig, schema: LabelSchema) -> dict[str, Any]:
    """What every published Parquet file carries in its schema metadata."""
    publish = config.publish
    return {"dataset": publish.dataset_name, "version": publish.version, **schema.to_metadata()}


def shard_files(name: str, shard: int, table: pa.Table | None, splits: Sequence[str]) -> dict[str, pa.Table]:
    """Relative path → rows for one shard of one table; training views are split per ``split``
    (a split without rows has no file). With ``table`` None: every path the shard's rows may have."""
    if name not in tables.SPLIT_TABLES:
        return {f"{name}/part-{part_name(shard)}.parquet": table}  # type: ignore[dict-item]
    files = {}
    for split in splits:
        part = None if table is None else table.filter(pc.equal(table.column("split"), split))
        if part is None or part.num_rows:
            files[f"{name}/{split}-{part_name(shard)}.parquet"] = part
    return files  # type: ignore[return-value]


@dataclass(frozen=True)
class ShardJob:
    """A shard to build: chunk → (key, records), the knobs, the previous entry to reuse chunks of."""

    shard: int
    ingest_dir: str
    staging: str
    chunks: dict[int, tuple[str, list[LayerLine]]]
    layout: tuple[int, int]  # (shards, chunks per shard): which chunk a document falls into
    labels_path: str
    ratios: dict[str, float]
    info: dict[str, Any]
    priority: list[str]
    whitespace: str
    entity_homes: dict[tuple[str, str], list[str]]
    previous: str = ""


BATCH_DOCUMENTS = 256


def build_in_batches(
    interim: dict[str, pa.Table],
    chosen: dict[str, AnnotationRecord],
    schema: LabelSchema,
    ratios: dict[str, float],
    batch: int = BATCH_DOCUMENTS,
) -> Result:
    """:func:`build_shard` over at most ``batch`` documents at a time, then joined: the same
    tables, but a worker's Python objects (a few per token) exist for one batch, not the shard.

    The interim tables are in ``doc_id`` order (as stored, :data:`~pipeline.io.tables.INTERIM_SORT_KEYS`,
    and as :func:`documents_of` keeps them), so a batch is a run of consecutive documents, sliced,
    and the batches' tables, each sorted by a key that starts with ``doc_id``, are joined in order."""
    for name, table in interim.items():
        ids = table.column("doc_id")
        if len(ids) > 1 and pc.any(pc.less(ids[1:], ids[:-1])).as_py():
            raise ValueError(f"annotate: the interim {name} table is not in doc_id order; batches are slices of it")
    doc_ids = interim["documents"].column("doc_id").to_pylist()
    firsts = doc_ids[batch::batch]
    cuts = {
        name: [
            0,
            *(np.searchsorted(table.column("doc_id").to_numpy(zero_copy_only=False), firsts).tolist() if firsts else []),
            table.num_rows,
        ]
        for name, table in interim.items()
    }
    results = []
    for number in range(len(firsts) + 1):
        part = {name: table.slice(cuts[name][number], cuts[name][number + 1] - cuts[name][number]) for name, table in interim.items()}
        results.append(build_shard(part["documents"], part["sentences"], part["tokens"], chosen, schema, ratios))
    return Result(
        {name: pa.concat_tables([r.tables[name] for r in results]) for name in results[0].tables},
        [problem for result in results for problem in result.problems],
        {doc_id: layer for result in results for doc_id, layer in result.layer_of.items()},
    )


def documents_of(interim: dict[str, pa.Table], doc_ids: Sequence[str]) -> dict[str, pa.Table]:
    """The rows of ``doc_ids`` in each interim table."""
    return {
        name: table.filter(pc.is_in(table.column("doc_id"), value_set=pa.array(doc_ids, pa.string()))) for name, table in interim.items()
    }


def build_documents(job: ShardJob, interim: dict[str, pa.Table], doc_ids: list[str], lines: list[LayerLine], schema: LabelSchema) -> Result:
    """Check the records ``lines`` against their documents, choose one per document and build the
    tables of the documents ``doc_ids`` (the shard's changed chunks, all at once)."""
    part = interim if len(doc_ids) == interim["documents"].num_rows else documents_of(interim, doc_ids)
    chosen, problems = check_and_select(
        load_records(lines),
        document_infos(part["documents"]),
        schema,
        priority=job.priority,
        whitespace=Severity(job.whitespace),
        entity_homes=job.entity_homes,
    )
    result = build_in_batches(part, chosen, schema, job.ratios)
    return Result(result.tables, problems + result.problems, result.layer_of)


def annotate_shard(job: ShardJob) -> tuple[int, str, int, int]:
    """Worker: build the changed chunks of one shard (:func:`build_documents`), take the others' rows
    from the shard's previous entry, and write the shard's publishable tables with their metadata
    and the problems found; returns the shard, the staging folder, chunks computed and reused."""
    schema = load_label_schema(job.labels_path)
    part = f"part-{part_name(job.shard)}.parquet"
    interim = read_shard(Path(job.ingest_dir), part)
    shards, chunk_count = job.layout
    docs_by_chunk = group(sorted(interim["documents"].column("doc_id").to_pylist()), lambda doc_id: chunk_of(doc_id, shards, chunk_count))
    prior = PreviousChunks(job.previous)
    keys = {chunk: key for chunk, (key, _) in job.chunks.items()}
    reused = prior.reusable(keys)
    changed = sorted(chunk for chunk in job.chunks if chunk not in reused)
    built = build_documents(
        job,
        interim,
        sorted(doc_id for chunk in changed for doc_id in docs_by_chunk.get(chunk, [])),
        [line for chunk in changed for line in job.chunks[chunk][1]],
        schema,
    )
    # what each changed chunk contributed besides rows, for the next run of the shard to reuse
    metas: dict[int, dict[str, Any]] = {chunk: prior.meta(chunk) for chunk in reused}
    metas.update({chunk: {"problems": [], "layers": Counter()} for chunk in changed})
    for problem in sorted(built.problems, key=problem_order):
        chunk = chunk_of(problem.doc_id, shards, chunk_count) if problem.doc_id is not None else None
        if chunk not in changed:  # every problem here is of a record, whose document is in its chunk
            raise ValueError(f"annotate: problem {problem.format()} names no document of a recomputed chunk")
        metas[chunk]["problems"].append(problem.to_json())  # type: ignore[index]
    for doc_id, layer in built.layer_of.items():
        metas[chunk_of(doc_id, shards, chunk_count)]["layers"][layer] += 1
    kept = [doc_id for chunk in sorted(reused) for doc_id in docs_by_chunk.get(chunk, [])]
    splits = list(job.ratios)
    staging = Path(job.staging)
    for name, table_schema in tables.SCHEMAS.items():
        previous = prior.rows(list(shard_files(name, job.shard, None, splits)), table_schema, kept)
        table = tables.sort_table(name, pa.concat_tables([previous, built.tables[name]]))
        metadata = tables.corpus_metadata({**job.info, "table": name}) | tables.huggingface_metadata(name, schema.bio_labels)
        for relative, rows in shard_files(name, job.shard, tables.with_metadata(table, metadata), splits).items():
            tables.write_parquet(rows, staging / relative)
    problems = [Problem.from_json(data) for chunk in sorted(metas) for data in metas[chunk]["problems"]]
    layers: Counter[str] = Counter()
    for meta in metas.values():
        layers.update(meta["layers"])
    write_problems(sorted(problems, key=problem_order), staging / "problems" / f"{part_name(job.shard)}.jsonl")
    (staging / "layers").mkdir(parents=True, exist_ok=True)
    (staging / "layers" / f"{part_name(job.shard)}.json").write_text(
        json.dumps(dict(sorted(layers.items())), sort_keys=True), encoding="utf-8"
    )
    write_chunks(staging, keys, metas)
    return job.shard, job.staging, len(keys) - len(reused), len(reused)


def problem_order(problem: Problem) -> tuple[str, int, str, str, str]:
    """File and line order (a file-level problem first), as the input is read."""
    return (problem.path, -1 if problem.line is None else problem.line, problem.doc_id or "", problem.kind, problem.message)


def run(config: StageConfig) -> list[Problem]:
    """Index all layers, then check and build every shard (cached, parallel) into ``out_dir``.

    The main process keeps only where each record is (:class:`LayerLine`); a worker reads its
    shard's records and documents itself, so memory is bounded by a shard, not by the corpus.
    """
    section = config.annotate
    runtime = config.runtime
    ingest_dir = config.ingest.out_dir
    out_dir = section.out_dir
    labels_path = str(config.schemas.labels)
    schema = load_label_schema(labels_path)
    annotation_schema = config.schemas.annotation
    fingerprint = code_fingerprint(__name__)
    memo = LineMemo(
        runtime.local_cache_dir() / "lines" / "annotate.json", digest(fingerprint, annotation_schema.read_text(encoding="utf-8"))
    )
    indexes = layer_indexes(runtime.local_cache_dir() / "index", annotation_schema, code_fingerprint("pipeline.io.layers"))
    lines, problems, dangling = index_layers(section.annotations_dir, load_json_schema(annotation_schema), memo=memo, indexes=indexes)
    memo.save()
    homes = entity_homes_for(dangling, lines) if dangling else {}
    priority = list(section.layer_priority)
    whitespace = config.validate.whitespace_spans
    ingest_keys = json.loads((ingest_dir / "shards.json").read_text(encoding="utf-8"))
    shards = sorted(int(part) for part in ingest_keys)
    by_shard = group(lines, lambda line: shard_of(line.ref.key, runtime.shards))
    # A record whose shard holds no document cannot match one: checked here, no tables to build.
    orphans = [line for shard, shard_lines in by_shard.items() if part_name(shard) not in ingest_keys for line in shard_lines]
    problems.extend(check_and_select(load_records(orphans), {}, schema, priority=priority, entity_homes=homes)[1])
    info = dataset_info(config, schema)
    cache = ShardCache(runtime.cache_dir, "annotate", runtime.local_cache_dir())
    last = LastEntries(runtime.local_cache_dir() / "last" / "annotate.json")
    ingest_chunks = json.loads((ingest_dir / "shard-chunks.json").read_text(encoding="utf-8"))
    labels_sha = file_sha256(Path(labels_path))
    keys: dict[int, str] = {}
    todo = []
    for shard in shards:
        part = part_name(shard)
        shard_lines = by_shard.get(shard, [])
        shard_homes = {key: homes[key] for key in sorted(homes) if any(line.layer == key[0] for line in shard_lines)}
        knobs = digest(fingerprint, info, labels_sha, section.splits, priority, whitespace, sorted(shard_homes.items()))
        keys[shard] = digest(knobs, ingest_keys[part], [line.fingerprint() for line in shard_lines])
        if cache.has(keys[shard]):
            continue
        chunks = chunk_keys(knobs, shard_lines, lambda line: line.ref.key, (runtime.shards, runtime.chunks), ingest_chunks.get(part))
        todo.append(
            ShardJob(
                shard,
                str(ingest_dir),
                str(cache.staging(keys[shard])),
                chunks,
                (runtime.shards, runtime.chunks),
                labels_path,
                dict(section.splits),
                info,
                priority,
                whitespace,
                shard_homes,
                last.ref(part, cache),
            )
        )
    computed = reused = 0
    for shard, staging, chunks_computed, chunks_reused in progress(
        shard_map(cache.task(annotate_shard), todo, runtime), total=len(todo), description="annotate", minimum=2
    ):
        if not is_url(runtime.cache_dir):
            link_identical(Path(staging), config.publish.out_dir)
        cache.commit(keys[shard], Path(staging))
        computed += chunks_computed
        reused += chunks_reused
    clean_dir(out_dir)
    layers: Counter[str] = Counter()
    for shard in shards:
        cache.link_into(keys[shard], out_dir)
        problems.extend(read_problems(out_dir / "problems" / f"{part_name(shard)}.jsonl"))
        layers.update(json.loads((out_dir / "layers" / f"{part_name(shard)}.json").read_text(encoding="utf-8")))
    problems.sort(key=problem_order)
    (out_dir / "shards.json").write_text(
        json.dumps({part_name(s): k for s, k in keys.items()}, indent=1, sort_keys=True) + "\n", encoding="utf-8"
    )
    (out_dir / "layers.json").write_text(json.dumps(dict(sorted(layers.items())), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    write_problems(problems, out_dir / "problems.jsonl")
    last.save({part_name(s): k for s, k in keys.items()})
    cache.prune()
    counts = (len(lines), len(shards), len(todo), computed, reused, len(problems))
    log.info("annotate: %d records, %d shards (%d computed; chunks: %d computed, %d reused), %d problems", *counts)
    return problems


def main(config: StageConfig) -> int:
    """The stage command: problems go to ``validate``, so annotate itself always succeeds."""
    run(config)
    return 0
