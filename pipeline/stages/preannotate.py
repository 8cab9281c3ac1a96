"""Stage preannotate: propose entities (and rule-based relations) so annotators correct, not start from zero.

Model (:mod:`pipeline.core.proposals`; scored by :mod:`pipeline.core.scoring`)
    A spaCy ``EntityRuler`` on a blank German pipeline whose tokenizer also splits hyphens inside
    and at the end of words (so that ``US`` in ``US-Präsident`` and ``Nord`` in ``Nord- und
    Südkorea`` are tokens). Its patterns come only from data in the repository:

    * the gazetteer of the gold layer: every gold span text with its label (the most frequent label
      when a text was annotated with several), as a case-sensitive phrase pattern;
    * hand-written patterns, ``corpus/patterns/*.jsonl`` in EntityRuler JSONL form
      (``{"label": ..., "pattern": "text" | [token specs], "id": ...}``).

    Relations come from rules over the proposed entities: ``GPE|ORG [-] [≤2 words] ROLE [,] PER`` gives
    ``head_of`` (ROLE a head-of-state/leader noun) or ``works_for`` (a minister/adviser/spokesperson
    noun), where the label schema allows the pair.

Output
    ``preannotations.jsonl``: one record (source ``preannotation:gazetteer``) for every ingested
    document without a gold record, in the shape of ``schemas/annotation.schema.json``. It is not
    an annotation layer the corpus publishes: ``python -m pipeline doccano push --as-suggestions``
    loads it into doccano for annotators to correct.

Metrics (``metrics.json``, a DVC metric), never measured on the patterns' own training data
    * ``gold_leave_one_document_out``: for each gold document, a ruler built from the *other* gold
      documents plus the hand patterns proposes entities and relations for it. With a single gold
      document the gazetteer part learns nothing (the figure then measures the hand patterns alone);
      the metrics say so.
    * ``external``: the ruler built from all gold documents plus the hand patterns, on a third-party
      corpus (GermEval 2014 dev), read by the GermEval importer (texts rebuilt from its tokens)
      and scored in its labels through the importer's mapping file (see :func:`scoring_map`).

Sharded and cached like ingest and annotate (see the comment above :class:`ShardJob`). It is
over 400 lines because the two shard passes, their merge and the GermEval reading belong together.
"""

from __future__ import annotations

import contextlib
import functools
import heapq
import json
import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from pipeline.config import StageConfig
from pipeline.core.labels import LabelSchema
from pipeline.core.proposals import (
    PART_MODULUS,
    GazetteerProposer,
    PartSums,
    blank_pipeline,
    documents_by_phrase,
    gazetteer_counts,
    gazetteer_part,
    majority,
    majority_leads,
    phrase_tokens,
    proposed_record,
)
from pipeline.core.scoring import Sentence, add_tallies, evaluate_external, leave_one_out_result, leave_one_out_tally
from pipeline.core.spans import AnnotationRecord, nesting
from pipeline.core.token_docs import doc_from_tokens, token_words
from pipeline.formats import ImportFailed, conll
from pipeline.formats.build import ImportOptions
from pipeline.formats.mapping import LabelMapping, load_mapping
from pipeline.io import atomic
from pipeline.io.interim import read_shard
from pipeline.io.jsonl import LineMemo
from pipeline.io.layers import LayerLine, index_layers, layer_indexes, load_records
from pipeline.io.memo import Memo
from pipeline.io.schemas import load_label_schema
from pipeline.io.tables import read_parquet
from pipeline.runtime.cache import ShardCache
from pipeline.runtime.chunks import LastEntries, PreviousChunks, chunk_keys, write_chunks
from pipeline.runtime.executor import shard_map
from pipeline.runtime.fingerprint import code_fingerprint, digest, file_sha256
from pipeline.runtime.progress import progress
from pipeline.runtime.shards import chunk_of, group, part_name, shard_of

log = logging.getLogger(__name__)


def read_patterns(patterns_dir: Path) -> list[dict[str, Any]]:
    """Every pattern of ``patterns_dir/*.jsonl``, in file and line order."""
    patterns = []
    for path in sorted(patterns_dir.glob("*.jsonl")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                pattern = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f"{path}:{number}: not JSON: {error.msg}") from None
            if not isinstance(pattern, dict) or "label" not in pattern or "pattern" not in pattern:
                raise ValueError(f"{path}:{number}: an EntityRuler pattern needs 'label' and 'pattern'")
            patterns.append(pattern)
    return patterns


# --------------------------------------------------------------------------- GermEval 2014


def scoring_map(mapping: LabelMapping, schema: LabelSchema) -> dict[str, str | None]:
    """Our entity label → the third-party label a proposal with it is scored as (``None``: not scored).

    The mapping file maps their labels to ours; read backwards it scores each of our labels as the
    label that maps to it. Their coarser labels cover several of ours (GermEval's LOC our GPE and
    LOC), which the mapping cannot say: its ``options.score_as`` names, for such a type of ours,
    the type of ours it is scored as (GPE as LOC). A type no label maps to (DATE) is not scored.
    """
    where = mapping.path or "the label mapping"
    backwards: dict[str, str] = {}
    for theirs, ours in mapping.entities.items():
        if ours is None:
            continue
        if ours in backwards:
            raise ValueError(
                f"{where}: {backwards[ours]!r} and {theirs!r} both map to {ours!r}, so a proposal of {ours!r} cannot be scored as one of them"
            )
        backwards[ours] = theirs
    score_as = mapping.options.get("score_as") or {}
    if not isinstance(score_as, dict):
        raise ValueError(f"{where}: options.score_as must map our entity types to our entity types, got {score_as!r}")
    for ours, target in score_as.items():
        if ours not in schema.entity_types:
            raise ValueError(f"{where}: options.score_as: {ours!r} is not an entity type of {schema.path} ({list(schema.entity_types)})")
        if target not in backwards:
            raise ValueError(f"{where}: options.score_as.{ours}: {target!r} is none of the types the mapping maps to ({sorted(backwards)})")
    return {ours: backwards.get(score_as.get(ours, ours)) for ours in schema.entity_types}


def germeval_sentences(path: Path, mapping: LabelMapping, schema: LabelSchema, name: str = "external") -> list[Sentence]:
    """Sentences of a GermEval 2014 TSV file as the GermEval importer reads them (text rebuilt by
    joining tokens with single spaces), labels as GermEval has them.

    ``mapping`` (GermEval → ours) says which labels are entities (mapped to one of ours) and which
    are spans not to score (mapped to null: the ``part``/``deriv`` variants).
    """
    own_labels = replace(mapping, entities={label: label for label in mapping.entities}, relations={})
    options = ImportOptions(name=name, mapping=own_labels, schema=schema)
    try:
        result = conll.read_germeval([path], options)
    except ImportFailed as error:
        raise ValueError(str(error)) from None
    if result.problems:
        log.warning("preannotate: %d problem(s) reading %s (first: %s)", len(result.problems), path, result.problems[0].format())
    levels: dict[str, dict[str, list[tuple[int, int, str]]]] = defaultdict(lambda: defaultdict(list))
    for record in result.records:
        # both GermEval levels are in the one record; with every label kept, level 0 is the outer column
        nested = nesting(record.entities)
        for e in record.entities:
            levels[record.doc_id]["outer" if nested[e.id].level == 0 else "inner"].append((e.start, e.end, e.label))
    sentences = []
    for document in result.documents:
        outer, inner = levels[document.doc_id]["outer"], levels[document.doc_id]["inner"]
        sentences.append(
            Sentence(
                text=document.text,
                entities=frozenset(s for s in outer if mapping.entity(s[2]) is not None),
                ignored=tuple((s[0], s[1]) for s in outer + inner if mapping.entity(s[2]) is None),
                inner=frozenset(s for s in inner if mapping.entity(s[2]) is not None),
            )
        )
    return sentences


# --------------------------------------------------------------------------- the stage
#
# Sharded like ingest and annotate, in two passes over the shards of ingest, each shard cached by
# content (``<cache_dir>/preannotate/<key>/``) and computed in the pool:
#
# 1. ``counts``: the gazetteer counts (span text → label → n) of the shard's gold records, keyed by
#    the shard's documents and gold lines; the main process sums them into the gazetteer.
#    ``hand``: the hand patterns' token matches and the vocabulary (token texts) of the shard's
#    documents, keyed by the shard's documents and the hand patterns + label schema. Both kinds of
#    job run in the same pass (the hand jobs with a model of the hand patterns only), so the pool
#    starts once and neither waits for the other; the ``Matcher`` runs only on the stretches where
#    a token pattern can match (:class:`pipeline.core.token_patterns.TokenPatternFilter`).
# 2. ``propose``: the shard's proposals and its leave-one-document-out tallies, keyed by the shard,
#    the hand patterns + label schema, and only the part of the gazetteer that can match in the
#    shard (:func:`pipeline.core.proposals.gazetteer_part`: the phrases whose tokens are all in its
#    vocabulary, with their majority label, and the majority without a document's own counts for
#    each of its gold documents that has the phrase). A changed pattern file recomputes every
#    shard; a changed or added gold record the shards where one of those labels changes (one more
#    count of a frequent phrase: none but its own); a new document without gold only its shard.
#    The shard is computed with the whole model; what is not in the key changes no byte of it.
#
# A worker builds the model once per process (:func:`model_for`), from a file in the cache that
# the main process wrote (so any worker process, on any machine that sees the cache, can), and
# tokenizes nothing that ingest tokenized already (:func:`pipeline.core.token_docs.doc_from_tokens`).
# The proposals are merged in ``doc_id`` order as they are read; the external evaluation is cached
# by its inputs (model, corpus file, mapping) and, when it must run, runs in the pool beside the
# proposal shards.


@dataclass(frozen=True)
class ShardJob:
    shard: int
    ingest_dir: str
    staging: str
    lines: list[LayerLine]
    model: str = ""
    model_dir: str = ""
    documents: str = "without_gold"
    labels_path: str = ""
    language: str = "de"
    matches: str = ""
    # chunk → key, (shards, chunks per shard), and the shard's previous entry (runtime/chunks.py)
    chunk_keys: dict[int, str] = field(default_factory=dict)
    layout: tuple[int, int] = (1, 1)
    previous: str = ""


def shard_gold(job: ShardJob, documents: pa.Table) -> tuple[list[AnnotationRecord], dict[str, str]]:
    """The shard's gold records whose document is ingested with that text, and its texts."""
    texts = dict(zip(documents.column("doc_id").to_pylist(), documents.column("text").to_pylist(), strict=True))
    hashes = dict(zip(documents.column("doc_id").to_pylist(), documents.column("text_sha256").to_pylist(), strict=True))
    records = sorted((r for r in load_records(job.lines) if hashes.get(r.doc_id) == r.text_sha256), key=lambda r: r.doc_id)
    return records, texts


def count_shard(job: ShardJob) -> tuple[int, str]:
    """Worker, pass 1: the gazetteer counts of one shard's gold records, in all and per document."""
    documents = read_parquet(
        Path(job.ingest_dir) / "documents" / f"part-{part_name(job.shard)}.parquet", columns=["doc_id", "text", "text_sha256"]
    )
    records, texts = shard_gold(job, documents)
    by_doc: dict[str, list[AnnotationRecord]] = defaultdict(list)
    for record in records:
        by_doc[record.doc_id].append(record)
    own = {doc_id: gazetteer_counts(mine, texts) for doc_id, mine in sorted(by_doc.items())}
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for found in own.values():
        for phrase, labels in found.items():
            counts[phrase].update(labels)
    data = {"records": len(records), "counts": {phrase: dict(sorted(c.items())) for phrase, c in sorted(counts.items())}}
    # apart from the sums: the main process reads each document's counts only to key the proposals
    write_phrase_documents(Path(job.staging), documents_by_phrase(own))
    Path(job.staging, "counts.json").write_text(json.dumps(data, ensure_ascii=False, sort_keys=True), encoding="utf-8")
    return job.shard, job.staging


def write_phrase_documents(folder: Path, by_phrase: dict[str, dict[str, Any]]) -> None:
    """``documents.jsonl`` (one line per phrase: its ``[doc_id, counts]``) and ``documents.json``
    (per phrase its maxima and where its line is): the main process parses the few lines
    :func:`pipeline.core.proposals.gazetteer_part` needs, not every document's counts."""
    index: dict[str, Any] = {}
    with open(folder / "documents.jsonl", "wb") as out:
        for phrase, entry in by_phrase.items():
            line = (json.dumps(entry["documents"], ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8")
            index[phrase] = {"max": entry["max"], "at": [out.tell(), len(line)]}
            out.write(line)
    (folder / "documents.json").write_text(json.dumps(index, ensure_ascii=False, sort_keys=True), encoding="utf-8")


class PhraseDocuments(Mapping[str, Mapping[str, int]]):
    """What :func:`write_phrase_documents` wrote, read back: as a mapping, each phrase's maxima (its
    index is read on first use: a gazetteer part whose phrases no document can flip needs none);
    a phrase's documents when asked for."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / "documents.jsonl"

    @functools.cached_property
    def index(self) -> dict[str, Any]:
        return json.loads((self.folder / "documents.json").read_text(encoding="utf-8"))

    def __getitem__(self, phrase: str) -> Mapping[str, int]:
        return self.index[phrase]["max"]

    def __iter__(self) -> Iterator[str]:
        return iter(self.index)

    def __len__(self) -> int:
        return len(self.index)

    def documents(self, phrase: str) -> list[tuple[str, dict[str, int]]]:
        if phrase not in self.index:
            return []
        offset, length = self.index[phrase]["at"]
        with open(self.path, "rb") as handle:
            handle.seek(offset)
            return [(doc_id, counts) for doc_id, counts in json.loads(handle.read(length))]


_MODELS: dict[str, GazetteerProposer] = {}


def model_for(key: str, model_dir: str, labels_path: str, language: str) -> GazetteerProposer:
    """The proposer of model ``key`` (gazetteer counts + hand patterns), built once per process."""
    if key not in _MODELS:
        data = json.loads(Path(model_dir, f"{key}.json").read_text(encoding="utf-8"))
        _MODELS.clear()
        _MODELS[key] = GazetteerProposer(data["hand"], data["counts"], load_label_schema(labels_path), language)
    return _MODELS[key]


def hand_shard(job: ShardJob) -> tuple[int, str, int, int]:
    """Worker, pass 1b: the hand patterns' token matches of every document of one shard (the
    costliest matching, and independent of the gazetteer, so kept while only gold changes), and
    the shard's vocabulary (every token text of its documents, which says which gazetteer
    phrases can match in it: :func:`pipeline.core.proposals.gazetteer_part`). Only the changed
    chunks are matched; the others' matches and vocabularies come from the previous entry."""
    proposer = model_for(job.model, job.model_dir, job.labels_path, job.language)
    interim = read_shard(Path(job.ingest_dir), f"part-{part_name(job.shard)}.parquet")
    texts, offsets = shard_texts(interim)
    prior = PreviousChunks(job.previous)
    reused = prior.reusable(job.chunk_keys)
    by_chunk = group(sorted(texts), lambda doc_id: chunk_of(doc_id, *job.layout))
    found: dict[str, Any] = {}
    if reused:
        previous = json.loads((prior.folder / "matches.json").read_text(encoding="utf-8"))  # type: ignore[operator]
        found.update((doc_id, previous[doc_id]) for chunk in reused for doc_id in by_chunk.get(chunk, []))
    vocabularies = {chunk: prior.meta(chunk)["vocabulary"] for chunk in reused}
    doc_ids = [doc_id for chunk, ids in by_chunk.items() if chunk not in reused for doc_id in ids]
    cut = [token_words(proposer.nlp, texts[doc_id], *offsets.get(doc_id, ([], []))) for doc_id in doc_ids]
    stretches = proposer.token_filter.stretches([words for words, _ in cut])
    words_of: dict[int, set[str]] = defaultdict(set)
    for doc_id, (words, spaces), where in zip(doc_ids, cut, stretches, strict=True):
        found[doc_id] = proposer.token_matches_of_words(words, spaces, where)
        words_of[chunk_of(doc_id, *job.layout)].update(words)
    vocabularies.update({chunk: sorted(words) for chunk, words in words_of.items()})
    vocabulary = set().union(*vocabularies.values()) if vocabularies else set()
    Path(job.staging, "matches.json").write_text(json.dumps(found, sort_keys=True), encoding="utf-8")
    Path(job.staging, "vocabulary.json").write_text(json.dumps(sorted(vocabulary), ensure_ascii=False), encoding="utf-8")
    chunks = {chunk: key for chunk, key in job.chunk_keys.items() if chunk in by_chunk}
    write_chunks(job.staging, chunks, {chunk: {"vocabulary": vocabularies.get(chunk, [])} for chunk in chunks})
    return job.shard, job.staging, len(chunks) - len(reused & set(chunks)), len(reused & set(chunks))


def shard_texts(interim: dict[str, pa.Table]) -> tuple[dict[str, str], dict[str, tuple[list[int], list[int]]]]:
    """doc_id → text, and doc_id → (token starts, token ends) of ingest's tokens, of one shard."""
    documents, tokens = interim["documents"], interim["tokens"]
    texts = dict(zip(documents.column("doc_id").to_pylist(), documents.column("text").to_pylist(), strict=True))
    offsets: dict[str, tuple[list[int], list[int]]] = {}
    if tokens.num_rows:
        encoded = tokens.column("doc_id").combine_chunks().dictionary_encode()
        codes = encoded.indices.to_numpy()
        order = np.argsort(codes, kind="stable")
        cuts = np.flatnonzero(np.diff(codes[order])) + 1
        starts = tokens.column("start").to_numpy()[order]
        ends = tokens.column("end").to_numpy()[order]
        names = encoded.dictionary.to_pylist()
        for first, last in zip([0, *cuts.tolist()], [*cuts.tolist(), len(order)], strict=True):
            offsets[names[codes[order[first]]]] = (starts[first:last].tolist(), ends[first:last].tolist())
    return texts, offsets


def propose_shard(job: ShardJob) -> tuple[int, str, int, int]:
    """Worker, pass 2: one shard's proposals (documents without gold, or all) and the
    leave-one-document-out tallies of its gold records, from ingest's tokens. Only the changed
    chunks are computed; the others' proposals and tallies come from the previous entry."""
    proposer = model_for(job.model, job.model_dir, job.labels_path, job.language)
    interim = read_shard(Path(job.ingest_dir), f"part-{part_name(job.shard)}.parquet")
    documents = interim["documents"]
    records, texts = shard_gold(job, documents)
    annotated = {line.ref.key for line in job.lines}
    _, offsets = shard_texts(interim)
    kept = json.loads(Path(job.matches, "matches.json").read_text(encoding="utf-8"))
    by_doc: dict[str, list[AnnotationRecord]] = defaultdict(list)
    for record in records:
        by_doc[record.doc_id].append(record)
    prior = PreviousChunks(job.previous)
    reused = prior.reusable(job.chunk_keys)
    lines: dict[str, str] = {}
    if reused and prior.folder is not None:
        ids = json.loads((prior.folder / "summary.json").read_text(encoding="utf-8"))["ids"]
        with open(prior.folder / "proposals.jsonl", encoding="utf-8") as handle:
            lines = {doc_id: line for doc_id, line in zip(ids, handle, strict=True) if chunk_of(doc_id, *job.layout) in reused}
    metas: dict[int, dict[str, Any]] = {chunk: prior.meta(chunk) for chunk in reused}

    def meta(chunk: int) -> dict[str, Any]:
        return metas.setdefault(chunk, {"entities": {}, "relations": {}, "records": 0, "proposed": dict.fromkeys(PROPOSED, 0)})

    for doc_id, sha in sorted(zip(documents.column("doc_id").to_pylist(), documents.column("text_sha256").to_pylist(), strict=True)):
        chunk = chunk_of(doc_id, *job.layout)
        if chunk in reused:
            continue
        mine = meta(chunk)
        mine["records"] += len(by_doc.get(doc_id, []))
        wanted = job.documents == "all" or doc_id not in annotated
        if not wanted and doc_id not in by_doc:
            continue
        text = texts[doc_id]
        starts, ends = offsets.get(doc_id, ([], []))
        matches = [tuple(m) for m in kept[doc_id]]
        if doc_id in by_doc:
            doc = doc_from_tokens(proposer.nlp, text, starts, ends)
            leave_one_out_tally(proposer, by_doc[doc_id], text, doc, mine["entities"], mine["relations"], matches)
        if wanted:
            record = proposed_record(doc_id, text, sha, *proposer.propose(doc_from_tokens(proposer.nlp, text, starts, ends), matches))
            lines[doc_id] = json.dumps(record, ensure_ascii=False) + "\n"
            mine["proposed"]["documents"] += 1
            mine["proposed"]["entities"] += len(record["entities"])
            mine["proposed"]["relations"] += len(record["relations"])
    staging = Path(job.staging)
    ids = sorted(lines)
    with open(staging / "proposals.jsonl", "w", encoding="utf-8") as out:
        out.writelines(lines[doc_id] for doc_id in ids)
    entity_tally: dict[str, list[int]] = {}
    relation_tally: dict[str, list[int]] = {}
    for chunk in sorted(metas):
        add_tallies(entity_tally, metas[chunk]["entities"])
        add_tallies(relation_tally, metas[chunk]["relations"])
    proposed = {name: sum(metas[chunk]["proposed"][name] for chunk in metas) for name in PROPOSED}
    records_count = sum(metas[chunk]["records"] for chunk in metas)
    summary = {"ids": ids, "proposed": proposed, "records": records_count, "entities": entity_tally, "relations": relation_tally}
    (staging / "summary.json").write_text(json.dumps(summary, ensure_ascii=False, sort_keys=True), encoding="utf-8")
    write_chunks(staging, {chunk: key for chunk, key in job.chunk_keys.items() if chunk in metas}, metas)
    return job.shard, job.staging, len(metas) - len(reused), len(reused)


PROPOSED = ("documents", "entities", "relations")


def merged_proposals(parts: list[Path], out: Path) -> None:
    """The shards' proposals (each in ``doc_id`` order) as one file in ``doc_id`` order, streamed."""
    with contextlib.ExitStack() as stack:
        handles = [stack.enter_context(open(part / "proposals.jsonl", encoding="utf-8")) for part in parts]
        streams = [
            zip(json.loads((part / "summary.json").read_text(encoding="utf-8"))["ids"], handle, strict=True)
            for part, handle in zip(parts, handles, strict=True)
        ]
        with atomic.writing(out) as temp, open(temp, "w", encoding="utf-8") as target:
            for _, line in heapq.merge(*streams, key=lambda item: item[0]):
                target.write(line)


def run_task(task: tuple[Callable[[Any], Any], Any]) -> Any:
    """Worker: one job of a pass, whichever function it is for (a pass mixes them, so that the
    pool is started once and no job waits for another kind to finish)."""
    function, job = task
    return function(job)


def _computed(
    cache: ShardCache,
    jobs: Sequence[tuple[Callable[[Any], Any], ShardJob, str]],
    runtime: Any,
    name: str,
    extra: Sequence[tuple[Callable[[Any], Any], Any]] = (),
    chunks: Counter[str] | None = None,
) -> list[Any]:
    """Run ``jobs`` (function, job, cache key) and ``extra`` tasks (function, argument) in one
    pass; commit each job's staging folder under its key; the extra tasks' results, in order.
    A job that returns how many chunks it computed and reused adds them to ``chunks``."""
    keys = {str(job.staging): key for _, job, key in jobs}
    tasks = [(cache.task(function), job) for function, job, _ in jobs] + list(extra)
    results = []
    for index, result in enumerate(progress(shard_map(run_task, tasks, runtime), total=len(tasks), description=name, minimum=2)):
        if index < len(jobs):
            cache.commit(keys[str(result[1])], result[1])
            if chunks is not None and len(result) == 4:
                chunks.update(computed=result[2], reused=result[3])
        else:
            results.append(result)
    return results


def run(config: StageConfig) -> dict[str, Any]:
    from pipeline.io.schemas import load_json_schema

    section = config.preannotate
    runtime = config.runtime
    labels_path = config.schemas.labels
    schema = load_label_schema(labels_path)
    language = config.ingest.language
    ingest_dir = config.ingest.out_dir
    fingerprint = code_fingerprint(__name__)
    annotation_schema = config.schemas.annotation
    memo = LineMemo(
        runtime.local_cache_dir() / "lines" / "preannotate.json", digest(fingerprint, annotation_schema.read_text(encoding="utf-8"))
    )
    indexes = layer_indexes(runtime.local_cache_dir() / "index", annotation_schema, code_fingerprint("pipeline.io.layers"))
    lines, problems, _ = index_layers(
        config.annotate.annotations_dir / section.gold_layer, load_json_schema(annotation_schema), memo=memo, indexes=indexes
    )
    memo.save()
    if problems:
        log.warning(
            "preannotate: %d problem(s) in the gold layer (first: %s); those lines are left out", len(problems), problems[0].format()
        )
    ingest_keys = json.loads((ingest_dir / "shards.json").read_text(encoding="utf-8")) if (ingest_dir / "shards.json").exists() else {}
    shards = sorted(int(part) for part in ingest_keys)
    by_shard = group(lines, lambda line: shard_of(line.ref.key, runtime.shards))
    cache = ShardCache(runtime.cache_dir, "preannotate", runtime.local_cache_dir())

    ingest_chunks = json.loads((ingest_dir / "shard-chunks.json").read_text(encoding="utf-8")) if ingest_keys else {}
    last = {name: LastEntries(runtime.local_cache_dir() / "last" / f"preannotate-{name}.json") for name in ("match", "propose")}

    def job(shard: int, key: str, **more: Any) -> ShardJob:
        return ShardJob(shard, str(ingest_dir), str(cache.staging(key)), by_shard.get(shard, []), **more)

    def chunked(name: str, shard: int, prefix: str) -> dict[str, Any]:
        """A job's chunk fields: each chunk keyed by ``prefix`` (what the whole shard's key holds
        besides its documents and records), its ingest chunk key and, for the proposals, its
        records (the hand patterns' matches do not depend on them)."""
        part = part_name(shard)
        records = by_shard.get(shard, []) if name == "propose" else []
        layout = (runtime.shards, runtime.chunks)
        keys = {
            chunk: key
            for chunk, (key, _) in chunk_keys(prefix, records, lambda line: line.ref.key, layout, ingest_chunks.get(part)).items()
        }
        return {"chunk_keys": keys, "layout": layout, "previous": last[name].ref(part, cache)}

    # Pass 1, in one go: the gazetteer counts of each shard, and the hand patterns' token matches
    # and vocabulary of each shard (these need no gazetteer: a model of the hand patterns only).
    hand = read_patterns(section.patterns_dir)
    models = ShardCache(runtime.cache_dir, "preannotate-models", runtime.local_cache_dir())
    hand_model = stored_model(models, fingerprint, {"hand": hand, "counts": {}}, schema, language)
    common = {"documents": section.documents, "labels_path": str(labels_path), "language": language}
    count_keys = {
        shard: digest(fingerprint, "counts", ingest_keys[part_name(shard)], [line.fingerprint() for line in by_shard.get(shard, [])])
        for shard in shards
    }
    hand_key = digest(fingerprint, "hand", hand, schema.to_metadata(), language)
    match_keys = {shard: digest(hand_key, ingest_keys[part_name(shard)]) for shard in shards}
    count_todo = [(count_shard, job(shard, key), key) for shard, key in count_keys.items() if not cache.has(key)]
    match_todo = [
        (
            hand_shard,
            job(shard, key, model=hand_model, model_dir=models.ref(hand_model), **common, **chunked("match", shard, hand_key)),
            key,
        )
        for shard, key in match_keys.items()
        if not cache.has(key)
    ]
    forked = runtime.executor == "local" and runtime.worker_count() > 1
    if match_todo and forked:
        model_for(hand_model, str(models.path(hand_model)), str(labels_path), language)  # inherited by the forked workers
    chunks: Counter[str] = Counter()
    _computed(cache, count_todo + match_todo, runtime, "preannotate (gazetteer, hand patterns)", chunks=chunks)
    cache.used.update(match_keys.values())
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    # phrase → the most counts of one label it has in one shard: no document of a shard has more
    shard_most: dict[str, int] = {}
    for shard in shards:
        cache.used.add(count_keys[shard])
        part = json.loads((cache.path(count_keys[shard]) / "counts.json").read_text(encoding="utf-8"))
        for phrase, labels in part["counts"].items():
            counts[phrase].update(labels)
            most = max(labels.values())
            if most > shard_most.get(phrase, 0):
                shard_most[phrase] = most
    model = stored_model(
        models, fingerprint, {"hand": hand, "counts": {p: dict(sorted(c.items())) for p, c in sorted(counts.items())}}, schema, language
    )
    model_dir = models.path(model)
    more = {"model": model, "model_dir": models.ref(model), **common}

    # Pass 2: proposals and leave-one-document-out tallies, per shard, keyed by the part of the
    # gazetteer that can match in the shard (not all of it: one changed gold label recomputes only
    # the shards where its phrase can match).
    # not under preannotate/: with a local cache_dir that folder is the shard cache, whose prune drops foreign files
    phrases = PhraseTokens(runtime.local_cache_dir() / "phrases" / "preannotate.json", digest(fingerprint, language), language)
    gazetteer = Gazetteer.of(counts, schema.entity_types, shard_most=shard_most, tokens=phrases.of(sorted(counts)))
    part_digests = PartDigests(
        runtime.local_cache_dir() / "last" / "preannotate-parts.json",
        digest(fingerprint, hand_key, section.documents),
        models,
        gazetteer,
        phrases,
    )

    def shard_part(shard: int) -> Callable[[Gazetteer, set[str], set[str] | None], list[list[Any]]]:
        # one per shard: an update asks for the old and the new entries, and its index is read once
        own = PhraseDocuments(cache.path(count_keys[shard]))

        def part(gazetteer: Gazetteer, vocabulary: set[str], only: set[str] | None) -> list[list[Any]]:
            return gazetteer.part(vocabulary, own, own.documents, only)

        return part

    propose_prefix: dict[int, str] = {}
    propose_keys: dict[int, str] = {}
    for shard in shards:
        part_digest = part_digests.digest(
            part_name(shard),
            [count_keys[shard], match_keys[shard]],
            lambda shard=shard: set(json.loads((cache.path(match_keys[shard]) / "vocabulary.json").read_text(encoding="utf-8"))),
            shard_part(shard),
        )
        propose_prefix[shard] = digest(fingerprint, "propose", hand_key, part_digest, section.documents)
        # the count key covers the ingest shard's key and the shard's gold lines
        propose_keys[shard] = digest(propose_prefix[shard], count_keys[shard])
    propose_todo = [
        (
            propose_shard,
            job(shard, key, **more, matches=cache.ref(match_keys[shard]), **chunked("propose", shard, propose_prefix[shard])),
            key,
        )
        for shard, key in propose_keys.items()
        if not cache.has(key)
    ]
    scores = ShardCache(runtime.local_cache_dir(), "preannotate-external")

    def external_key(name: str, corpus: str, vocabulary: set[str]) -> str:
        def part(gazetteer: Gazetteer, vocabulary: set[str], only: set[str] | None) -> list[list[Any]]:
            return gazetteer.part(vocabulary, {}, lambda _: [], only)

        return digest(corpus, [hand_key, part_digests.digest(f"external/{name}", [corpus], lambda: vocabulary, part)])

    external, evaluations = external_jobs(config, model, models.ref(model), scores, external_key, phrases.pipeline)
    if (propose_todo or evaluations) and forked:
        model_for(model, str(model_dir), str(labels_path), language)
    for evaluation, result in zip(
        evaluations,
        _computed(cache, propose_todo, runtime, "preannotate", [(cache.task(evaluate), e) for e in evaluations], chunks),
        strict=True,
    ):
        atomic.write_text(Path(evaluation.cached), json.dumps(result, ensure_ascii=False, sort_keys=True))
        external[evaluation.name] = result
    parts = [cache.path(propose_keys[shard]) for shard in shards]
    for shard in shards:
        cache.used.add(propose_keys[shard])
    summaries = [json.loads((part / "summary.json").read_text(encoding="utf-8")) for part in parts]
    entity_tally: dict[str, list[int]] = {}
    relation_tally: dict[str, list[int]] = {}
    for summary in summaries:
        add_tallies(entity_tally, summary["entities"])
        add_tallies(relation_tally, summary["relations"])
    metrics: dict[str, Any] = {
        "patterns": {"hand": len(hand), "gazetteer": len(counts)},
        "preannotations": {name: sum(summary["proposed"][name] for summary in summaries) for name in PROPOSED},
        "gold_leave_one_document_out": leave_one_out_result(
            sum(summary["records"] for summary in summaries), entity_tally, relation_tally, schema
        ),
        "external": dict(sorted(external.items())),
    }
    out_dir = section.out_dir
    merged_proposals(parts, out_dir / "preannotations.jsonl")
    atomic.write_text(out_dir / "metrics.json", json.dumps(metrics, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    last["match"].save({part_name(shard): key for shard, key in match_keys.items()})
    last["propose"].save({part_name(shard): key for shard, key in propose_keys.items()})
    part_digests.save(model)
    phrases.memo.save()
    cache.prune()
    models.prune()
    scores.prune()
    micro = metrics["gold_leave_one_document_out"]["entities"]["micro"]
    log.info(
        "preannotate: %d documents proposed, %d shards (%d gazetteer and %d proposal shards computed, %d hand-pattern shards); "
        "%d external evaluation(s) computed; chunks of hand-pattern and proposal shards: %d computed, %d reused; "
        "gazetteer parts: %d computed, %d updated, %d reused; "
        "gold LOO entity P/R/F1 %.3f/%.3f/%.3f",
        metrics["preannotations"]["documents"],
        len(shards),
        len(count_todo),
        len(propose_todo),
        len(match_todo),
        len(evaluations),
        chunks["computed"],
        chunks["reused"],
        part_digests.computed,
        part_digests.updated,
        part_digests.reused,
        micro["precision"],
        micro["recall"],
        micro["f1"],
    )
    return metrics


class PhraseTokens:
    """Phrase → its tokens as the proposer's tokenizer cuts it (:func:`~pipeline.core.proposals.phrase_tokens`),
    remembered across runs (``path``, valid for the same ``salt``: the code and the language), so
    that a run whose gazetteer gained no phrase builds no spaCy pipeline in the main process;
    :meth:`pipeline` builds one on first use."""

    def __init__(self, path: Path, salt: str, language: str) -> None:
        self.memo = Memo(path, salt)
        self.language = language
        self._nlp: Any = None

    def pipeline(self) -> Any:
        if self._nlp is None:
            self._nlp = blank_pipeline(self.language)
        return self._nlp

    def of(self, phrases: Sequence[str]) -> dict[str, tuple[str, ...]]:
        missing = [phrase for phrase in phrases if self.memo.get(phrase) is None]
        for phrase, cut in (phrase_tokens(self.pipeline(), missing) if missing else {}).items():
            self.memo.put(phrase, list(cut))
        return {phrase: tuple(self.memo.seen[phrase]) for phrase in phrases}


@dataclass(frozen=True)
class Gazetteer:
    """A run's gazetteer as :func:`~pipeline.core.proposals.gazetteer_part` reads it: the summed
    ``counts``, each phrase's majority ``labels`` and ``leads`` (:func:`~pipeline.core.proposals.majority_leads`),
    the phrases' ``tokens``, and ``shard_most``, the most counts of one label a phrase has in one
    shard (a bound on what one document of any shard has; None: unknown, every maximum is looked up)."""

    counts: Mapping[str, Mapping[str, int]]
    labels: Mapping[str, str | None]
    leads: Mapping[str, int]
    shard_most: Mapping[str, int] | None
    entity_types: Sequence[str]
    tokens: Mapping[str, Sequence[str]]

    @classmethod
    def of(
        cls,
        counts: Mapping[str, Mapping[str, int]],
        entity_types: Sequence[str],
        shard_most: Mapping[str, int] | None,
        tokens: Mapping[str, Sequence[str]],
    ) -> Gazetteer:
        """The gazetteer of ``counts``, its labels and leads computed."""
        labels = {phrase: majority(found, entity_types) for phrase, found in counts.items()}
        return cls(counts, labels, majority_leads(counts, labels), shard_most, entity_types, tokens)

    def part(
        self,
        vocabulary: set[str],
        maxima: Mapping[str, Mapping[str, int]],
        documents_of: Callable[[str], Sequence[tuple[str, Mapping[str, int]]]],
        phrases: set[str] | None = None,
    ) -> list[list[Any]]:
        """The part of a shard (its ``vocabulary`` and documents, :func:`~pipeline.core.proposals.gazetteer_part`),
        or only its entries of ``phrases``."""
        counts = self.counts if phrases is None else {phrase: self.counts[phrase] for phrase in phrases if phrase in self.counts}
        return gazetteer_part(
            counts, self.labels, self.tokens, vocabulary, maxima, documents_of, self.entity_types, self.leads, self.shard_most
        )

    def same_entries(self, then: Gazetteer, phrases: set[str]) -> set[str]:
        """Those of ``phrases`` (whose counts changed since the gazetteer ``then``) whose entry in
        every part is the same as with ``then``, in whichever part they are (see :class:`PartDigests`);
        none without ``shard_most`` (without the bound, any document might flip any of them)."""
        if self.shard_most is None:
            return set()
        most = self.shard_most
        return {
            phrase
            for phrase in phrases
            if phrase in then.counts
            and phrase in self.counts
            and then.labels[phrase] == self.labels[phrase]
            and most.get(phrase, 0) < min(then.leads[phrase], self.leads[phrase])
        }


class PartDigests:
    """The digest of each shard's gazetteer part (:func:`~pipeline.core.proposals.gazetteer_part`,
    what keys its proposals; also of each external corpus's), from the last run's where the part
    can have changed in a few entries only, so that one changed gold record does not make the main
    process walk every shard's phrases again.

    A digest is a :class:`~pipeline.core.proposals.PartSums` sum: the same for the same entries,
    changed entry by entry. A shard's part reads the counts of the phrases whose tokens all occur
    in its vocabulary, and the shard's own per-document counts; it has an entry ``[phrase, label,
    flipped]`` for each such phrase. Consider a shard whose own counts and vocabulary are the same
    entries as last time (``keys``: its count and hand-pattern keys). Only the entries of phrases
    whose counts changed since the last run can differ, and of those only the phrases its
    vocabulary holds: its new sum is the last one minus their entries with the last run's counts
    plus their entries with this run's. A changed phrase may also keep its entry in every part: when
    it was in the gazetteer then and is now, with the same majority label, and no document can flip
    that label (``flipped`` lists only documents with at least the label's lead in counts, and no
    document of the shard has more than the phrase's ``shard_most``, so when that is below the lead
    then and now, ``flipped`` is empty both times: :meth:`Gazetteer.same_entries`). One more count
    of a frequent phrase is such a change. Where no other changed phrase can be in a part, its sum
    is the last one, and when there is no such phrase at all no vocabulary is read.

    The last run's counts are those of its stored model; what it keyed each part by is kept in
    ``path`` (``<local cache>/last/``), valid for the same ``salt`` (the code, the hand patterns,
    the documents setting). Only a hint, like :class:`~pipeline.runtime.chunks.LastEntries`:
    without it every part is computed.
    """

    def __init__(
        self,
        path: Path,
        salt: str,
        models: ShardCache,
        gazetteer: Gazetteer,
        phrases: PhraseTokens,
    ) -> None:
        self.path, self.salt = path, salt
        self.gazetteer = gazetteer
        self.sums = PartSums()
        self.last: dict[str, list[str]] = {}
        self.now: dict[str, list[str]] = {}
        # the changed phrases whose entries can differ in the parts of shards whose vocabulary holds them (None: no last run)
        self.changed: set[str] | None = None
        self.before: Gazetteer | None = None
        self.tokens: Mapping[str, Sequence[str]] = {}
        self.computed = self.updated = self.reused = 0
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return
        if not isinstance(stored, dict) or stored.get("salt") != salt or not models.has(str(stored.get("model"))):
            return
        model = stored["model"]
        before = json.loads((models.path(model) / f"{model}.json").read_text(encoding="utf-8"))["counts"]
        self.last = stored.get("parts", {})
        counts = gazetteer.counts
        changed = {phrase for phrase in counts.keys() | before.keys() if dict(counts.get(phrase, {})) != before.get(phrase, {})}
        # only the changed phrases' entries are ever taken from the last run's gazetteer
        then = Gazetteer.of({phrase: before[phrase] for phrase in changed if phrase in before}, gazetteer.entity_types, None, {})
        self.changed = changed - gazetteer.same_entries(then, changed)
        removed = sorted(phrase for phrase in self.changed if phrase not in gazetteer.tokens)
        self.tokens = {phrase: gazetteer.tokens[phrase] for phrase in self.changed if phrase in gazetteer.tokens} | phrases.of(removed)
        self.before = replace(then, tokens=self.tokens)

    def digest(
        self,
        name: str,
        keys: list[str],
        vocabulary: Callable[[], set[str]],
        part: Callable[[Gazetteer, set[str], set[str] | None], list[list[Any]]],
    ) -> str:
        """The part digest of ``name`` (a shard's part name): the last run's, that one updated, or
        computed; ``part(gazetteer, vocabulary, phrases)`` is the part (its entries of ``phrases``
        only, unless None) with ``gazetteer``."""
        last = self.last.get(name)
        if self.changed is not None and self.before is not None and last is not None and last[:-1] == keys:
            words = vocabulary() if self.changed else set()
            inside = {phrase for phrase in self.changed if words.issuperset(self.tokens[phrase])}
            if not inside:
                self.reused += 1
                self.now[name] = [*keys, last[-1]]
                return last[-1]
            old, new = (self.sums.of(part(gazetteer, words, inside)) for gazetteer in (self.before, self.gazetteer))
            total = (int(last[-1], 16) - old + new) % PART_MODULUS
            self.updated += 1
        else:
            total = self.sums.of(part(self.gazetteer, vocabulary(), None))
            self.computed += 1
        found = f"{total:064x}"
        self.now[name] = [*keys, found]
        return found

    def save(self, model: str) -> None:
        """Remember this run's digests, with ``model``: the stored model whose counts they were computed from."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic.write_text(self.path, json.dumps({"salt": self.salt, "model": model, "parts": self.now}, indent=1, sort_keys=True) + "\n")


def stored_model(models: ShardCache, fingerprint: str, data: dict[str, Any], schema: LabelSchema, language: str) -> str:
    """The key of the model ``data`` (hand patterns + gazetteer counts), stored as an entry of its own
    (``<cache_dir>/preannotate-models/<model>/<model>.json``): a worker reads it by reference
    (downloaded on a URL cache), the main process from its folder."""
    model = digest(fingerprint, data, schema.to_metadata(), language)
    if not models.has(model):
        models.put(model, {f"{model}.json": json.dumps(data, ensure_ascii=False, sort_keys=True).encode("utf-8")})
    models.used.add(model)
    return model


@dataclass(frozen=True)
class ExternalJob:
    """One third-party corpus to score the proposals of ``model`` on, in a worker."""

    name: str
    file: str
    path: str
    mapping: str
    labels_path: str
    model: str
    model_dir: str
    language: str
    cached: str


def external_vocabulary(
    path: Path, mapping: LabelMapping, schema: LabelSchema, pipeline: Callable[[], Any], scores: ShardCache, key: str
) -> set[str]:
    """Every token text of a third-party corpus as the proposer's tokenizer cuts its sentences
    (``pipeline()``: :func:`pipeline.core.proposals.blank_pipeline`), kept in ``scores`` by ``key``
    (the file's bytes, the mapping, the code and the language)."""
    cached = scores.dir / f"{key}.vocabulary.json"
    scores.used.add(cached.name)
    if cached.exists():
        return set(json.loads(cached.read_text(encoding="utf-8")))
    texts = [sentence.text for sentence in germeval_sentences(path, mapping, schema)]
    vocabulary = {token.text for doc in pipeline().tokenizer.pipe(texts) for token in doc}
    atomic.write_text(cached, json.dumps(sorted(vocabulary), ensure_ascii=False))
    return vocabulary


def external_jobs(
    config: StageConfig,
    model: str,
    model_dir: str,
    scores: ShardCache,
    part_key: Callable[[str, str, set[str]], str],
    pipeline: Callable[[], Any],
) -> tuple[dict[str, Any], list[ExternalJob]]:
    """The external evaluations known already, or not available here, and the jobs for the others,
    which run beside the proposal shards.

    An evaluation is cached (``<local cache>/preannotate-external/<key>.json``, ``scores``, whose
    prune drops the files no run used for a while) by the corpus file's bytes, the mapping file and
    the part of the model that can match in the corpus (``part_key(name, corpus key, vocabulary)``:
    the hand patterns and the gazetteer phrases whose tokens all occur in it, with their labels): a
    changed gold label of a phrase the corpus does not contain leaves the score as it is.
    """
    section = config.preannotate
    fingerprint = code_fingerprint(__name__)
    found: dict[str, Any] = {}
    jobs = []
    for name, spec in sorted(section.external.items()):
        path = section.external_dir / spec.file
        if not path.is_file():
            found[name] = {"available": False, "note": f"{path} not found: not evaluated on this machine"}
            log.warning("preannotate: %s not found, external evaluation %s skipped", path, name)
            continue
        corpus = digest(
            fingerprint, name, spec.file, file_sha256(path), Path(spec.mapping).read_text(encoding="utf-8"), config.ingest.language
        )
        try:
            mapping, _ = load_mapping(spec.mapping, config.schemas.labels)
        except ImportFailed as error:
            raise ValueError(f"preannotate.external.{name}.mapping: {error}") from None
        vocabulary = external_vocabulary(path, mapping, load_label_schema(config.schemas.labels), pipeline, scores, corpus)
        key = part_key(name, corpus, vocabulary)
        cached = scores.dir / f"{key}.json"
        scores.used.add(cached.name)
        if cached.exists():
            found[name] = json.loads(cached.read_text(encoding="utf-8"))
            continue
        jobs.append(
            ExternalJob(
                name,
                spec.file,
                str(path),
                str(spec.mapping),
                str(config.schemas.labels),
                model,
                model_dir,
                config.ingest.language,
                str(cached),
            )
        )
    return found, jobs


def evaluate(job: ExternalJob) -> dict[str, Any]:
    """Worker: the proposals of ``job.model`` scored on one third-party corpus."""
    schema = load_label_schema(job.labels_path)
    mapping, _ = load_mapping(Path(job.mapping), Path(job.labels_path))
    label_map = scoring_map(mapping, schema)
    sentences = germeval_sentences(Path(job.path), mapping, schema, job.name)
    proposer = model_for(job.model, job.model_dir, job.labels_path, job.language).proposer
    return {
        "available": True,
        "file": job.file,
        "sentences": len(sentences),
        "label_map": dict(sorted(label_map.items(), key=lambda kv: kv[0])),
        **evaluate_external(proposer, sentences, label_map),
        "note": "outer-level PER/ORG/LOC/OTH; part/deriv spans and exact inner-level entities are not counted; "
        "ruler = gazetteer of all gold documents + hand patterns (nothing built from this corpus)",
    }


def main(config: StageConfig) -> int:
    """The stage command."""
    run(config)
    return 0
