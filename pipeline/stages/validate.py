"""Stage 3, validate: the gate before publishing.

Runs in order and reports every problem of a run at once:
1. input decoding and structure (collected by ``ingest`` and ``annotate`` while reading),
2. annotation semantics (collected by ``annotate`` against the documents and the label schema),
3. table checks with Great Expectations over exactly the tables ``publish`` is about to ship,
   with the suites read from ``schemas/expectations.yaml``: the columns they check beyond the
   stored ones come from :mod:`pipeline.core.derived_columns`, GX is run by :mod:`pipeline.runtime.gx`.

Writes ``validation.json`` (a DVC metric: counts by problem kind), ``validation-problems.jsonl``
and a Markdown summary, prints ``path:line: doc_id: problem`` for each problem to stderr, and
exits non-zero on any error. Warnings do not fail the run.

Cost (``benchmarks/``): Great Expectations takes seconds to import, so it is imported in a
background thread while the documents are read, and not at all when every shard and the documents
table already passed the same suites with the same code (the pass cache). String columns with few
distinct values (``doc_id``, tags, labels, splits) are read from Parquet as dictionaries and
handed to GX as pandas categoricals: the same values, so the same checks, at a fraction of the
cost of hashing millions of strings. Chunks of shards are checked in a process pool forked after
the import; the problems are put in a fixed order (table, expectation, chunk) so the report does
not depend on how the shards were grouped or on the number of workers.
"""

from __future__ import annotations

import json
import logging
import math
import sys
import threading
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline.config import StageConfig
from pipeline.core.derived_columns import DERIVED_FROM, derive_columns, substitutions
from pipeline.core.labels import LabelSchema
from pipeline.core.problems import Problem, Severity
from pipeline.io import atomic, tables
from pipeline.io.problemlog import read_problems, write_problems
from pipeline.io.schemas import load_label_schema, load_suites
from pipeline.runtime.cache import ShardCache
from pipeline.runtime.executor import shard_map
from pipeline.runtime.fingerprint import code_fingerprint, digest
from pipeline.runtime.gx import Expectations, Tagged, import_gx, in_order

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------- reading annotate's tables


# Checked shard by shard, in chunks; the documents table is checked whole.
CHUNK_TABLES = tuple(name for name in tables.SCHEMAS if name != "documents")

# String columns with few distinct values, read from Parquet as dictionaries (pandas categoricals).
DICTIONARY_COLUMNS = {"doc_id", "ner_tag", "label", "split", "source", "layer"}


def shard_paths(tables_dir: Path, part: str) -> dict[str, list[Path]]:
    """The files of one shard, per table (training views have one file per split)."""
    return {
        "sentences": [tables_dir / "sentences" / f"part-{part}.parquet"],
        "tokens": [tables_dir / "tokens" / f"part-{part}.parquet"],
        "entities": [tables_dir / "entities" / f"part-{part}.parquet"],
        "relations": [tables_dir / "relations" / f"part-{part}.parquet"],
        "ner": sorted((tables_dir / "ner").glob(f"*-{part}.parquet")),
        "re": sorted((tables_dir / "re").glob(f"*-{part}.parquet")),
    }


def chunks(parts: Sequence[str], tables_dir: Path, max_rows: int, workers: int = 1) -> list[list[str]]:
    """Consecutive shards in groups of at most ``max_rows`` tokens (or one shard), of even size.

    As few groups as that allows (GX has a fixed cost per group), rounded up to a multiple of
    ``workers`` so that every worker gets an equal share.
    """
    counts = []
    for part in parts:
        with pq.ParquetFile(tables_dir / "tokens" / f"part-{part}.parquet") as handle:
            counts.append(handle.metadata.num_rows)
    total = sum(counts)
    if not parts:
        return []
    wanted = max(1, math.ceil(total / max(1, max_rows)))
    wanted = min(len(parts), workers * math.ceil(wanted / max(1, workers)))
    # Each shard goes to the group its middle row falls into when the rows are cut in equal parts.
    balanced: list[list[tuple[str, int]]] = [[] for _ in range(wanted)]
    before = 0
    for part, count in zip(parts, counts, strict=True):
        index = min(wanted - 1, int((before + count / 2) * wanted / total)) if total else 0
        balanced[index].append((part, count))
        before += count
    groups: list[list[str]] = []
    for group in balanced:
        rows = 0
        for position, (part, count) in enumerate(group):  # never more than max_rows, unless one shard
            if position == 0 or rows + count > max_rows:
                groups.append([])
                rows = 0
            groups[-1].append(part)
            rows += count
    return groups


def needed_columns(table: str, specs: Sequence[dict[str, Any]]) -> list[str]:
    """The stored columns a table's checks touch: named by its suite, its keys, or a derived column's sources."""
    wanted = set(tables.ROW_KEYS[table]) | DERIVED_FROM.get(table, set())
    for spec in specs:
        for key in ("column", "column_A", "column_B"):
            if key in spec["kwargs"]:
                wanted.add(spec["kwargs"][key])
        wanted.update(spec["kwargs"].get("column_list", []))
    return [name for name in tables.SCHEMAS[table].names if name in wanted]


def _read_files(paths: Sequence[Path], columns: list[str]) -> pa.Table:
    """Some columns of Parquet files as one Arrow table; ``DICTIONARY_COLUMNS`` as dictionaries."""
    dictionary = [name for name in columns if name in DICTIONARY_COLUMNS]

    def read(path: Path) -> pa.Table:  # ParquetFile: a third of read_table's cost on small files
        with pq.ParquetFile(path, read_dictionary=dictionary) as handle:
            return handle.read(columns=columns, use_threads=False)

    return pa.concat_tables(read(path) for path in paths)


def _arrow_backed_lists(arrow_type: pa.DataType) -> pd.ArrowDtype | None:
    """List columns stay Arrow-backed in pandas: the derived columns read them as Arrow arrays,
    without a Python object per element."""
    return pd.ArrowDtype(arrow_type) if pa.types.is_list(arrow_type) else None


def _read(paths: Sequence[Path], table: str, columns: list[str]) -> pd.DataFrame:
    if not paths:
        return tables.SCHEMAS[table].empty_table().select(columns).to_pandas(types_mapper=_arrow_backed_lists)
    return _read_files(paths, columns).to_pandas(types_mapper=_arrow_backed_lists)


def load_frames(tables_dir: Path, parts: Sequence[str], suites: dict[str, list[dict[str, Any]]]) -> dict[str, pd.DataFrame]:
    """The chunk tables of some shards, only the columns the checks need."""
    paths = [shard_paths(tables_dir, part) for part in parts]
    return {
        table: _read([p for shard in paths for p in shard[table]], table, needed_columns(table, suites.get(table, [])))
        for table in CHUNK_TABLES
    }


def read_document_lengths(tables_dir: Path, stored: ShardCache | None = None, shard_keys: Mapping[str, str] | None = None) -> pd.DataFrame:
    """annotate's documents table (every shard) as its suite checks it: ``doc_id``,
    ``text_sha256``, ``split`` and ``doc_length`` (code points) instead of the text.

    With ``stored`` (validate's cache) and annotate's ``shard_keys``, each shard's lengths are kept
    under its shard's key: a run after one shard changed reads the others' texts no more.
    """
    columns = ["doc_id", "text", "text_sha256", "split"]

    def lengths(table: pa.Table) -> pa.Table:
        return table.append_column("doc_length", pc.utf8_length(table.column("text"))).drop_columns(["text"])

    def shard_lengths(path: Path) -> pa.Table:
        shard_key = (shard_keys or {}).get(path.stem.rsplit("-", 1)[-1])
        if stored is None or shard_key is None:
            return lengths(_read_files([path], columns))
        key = digest(code_fingerprint(__name__), "document lengths", shard_key)
        stored.used.add(key)
        if stored.has(key):
            return pq.read_table(stored.path(key) / "lengths.parquet")
        table = lengths(_read_files([path], columns))
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, compression="zstd")
        stored.put(key, {"lengths.parquet": sink.getvalue().to_pybytes()})
        return table

    files = sorted((tables_dir / "documents").glob("*.parquet"))
    if not files:
        return lengths(tables.SCHEMAS["documents"].empty_table().select(columns)).to_pandas()
    # one shard's texts at a time: the texts of the corpus are never in memory together
    return pa.concat_tables(shard_lengths(path) for path in files).to_pandas()


# --------------------------------------------------------------------------- the pass cache

# What a recorded pass depends on besides the suites: the code validate imports (its closure in
# ``pipeline``, :func:`code_fingerprint`) and the libraries behind the checks.
CHECK_PACKAGES = ("great-expectations", "pandas", "pyarrow", "numpy")


def suite_key(suites_path: Path, schema: LabelSchema, splits: Sequence[str]) -> str:
    """What a recorded pass of a shard depends on besides the shard's contents: the suites, the
    label schema and splits they are filled with, the code and the libraries that check them."""
    return digest(suites_path.read_text(encoding="utf-8"), schema.to_metadata(), list(splits), code_fingerprint(__name__, CHECK_PACKAGES))


# --------------------------------------------------------------------------- checking

# What forked workers inherit: the GX context and what every chunk needs (set by ``validate``).
_WORK: dict[str, Any] = {}


def prepare_chunk(parts: Sequence[str]) -> dict[str, pd.DataFrame]:
    """Load one group of shards and derive the columns the suites check."""
    work = _WORK
    frames = load_frames(work["tables_dir"], parts, work["suites"])
    frames["documents"] = work["lengths"]
    derive_columns(frames, work["known"], work["bio_labels"])
    return frames


def check_chunk(index: int) -> tuple[Tagged, int]:
    """Check group ``index`` of ``_WORK["groups"]`` (runs in a worker); its frames may have been
    prepared before the fork, while GX was being imported."""
    work = _WORK
    frames = work["prepared"].pop(index, None)
    if frames is None:
        frames = prepare_chunk(work["groups"][index])
    chunk_suites = {t: specs for t, specs in work["suites"].items() if t != "documents"}
    return work["expectations"].run_tagged(frames, chunk_suites, work["paths"], order=list(work["suites"]))


def validate(config: StageConfig) -> tuple[dict[str, Any], list[Problem]]:
    """Collect the stage problems, run the table suites, return the summary and all problems.

    The documents table is checked whole; the other tables shard by shard, in chunks, skipping
    shards whose exact contents already passed the same suites (a per-shard cache of passes).
    """
    problems = list(read_problems(config.ingest.out_dir / "problems.jsonl"))
    tables_dir = config.annotate.out_dir
    problems += list(read_problems(tables_dir / "problems.jsonl"))
    schema = load_label_schema(config.schemas.labels)
    splits = list(config.annotate.splits)
    suites_path = config.schemas.expectations
    paths = {name: str(tables_dir / name) for name in tables.SCHEMAS}
    suites = load_suites(suites_path, substitutions(schema, splits))

    # Which checks can be skipped: every shard's contents (and so the whole documents table) are
    # named by annotate's shard keys; a pass is recorded per shard key and suites + code.
    shard_keys: dict[str, str] = (
        json.loads((tables_dir / "shards.json").read_text(encoding="utf-8")) if (tables_dir / "shards.json").exists() else {}
    )
    passes = ShardCache(config.runtime.cache_dir, "validate", config.runtime.local_cache_dir())
    checks = suite_key(suites_path, schema, splits)
    pass_key = {part: digest(checks, key) for part, key in shard_keys.items()}
    documents_key = digest(checks, "documents", sorted(shard_keys.items())) if shard_keys else None
    todo = [part for part in sorted(shard_keys) if not passes.has(pass_key[part])]
    documents_todo = documents_key is None or not passes.has(documents_key)

    checked = 0
    runs = 0
    if todo or documents_todo:
        # GX takes seconds to import: do it while the documents are read.
        importer = threading.Thread(target=import_gx, name="import-gx", daemon=True)
        importer.start()
        documents = read_document_lengths(tables_dir, passes, shard_keys)
        workers = config.runtime.worker_count()
        groups = chunks(todo, tables_dir, config.validate.chunk_rows, workers)
        _WORK.update(
            tables_dir=tables_dir,
            suites=suites,
            paths=paths,
            groups=groups,
            prepared={},
            lengths=documents[["doc_id", "doc_length"]],
            known=documents["doc_id"],
            bio_labels=list(schema.bio_labels),
        )
        try:
            # Until GX is imported, prepare the first group of each worker (Parquet reading and
            # numpy mostly run without the GIL); never more than one group a worker (memory).
            for index in range(min(workers, len(groups))):
                if not importer.is_alive():
                    break
                _WORK["prepared"][index] = prepare_chunk(groups[index])
            importer.join()
            expectations = Expectations()
            _WORK["expectations"] = expectations
            tagged: Tagged = []
            documents_found: Tagged = []
            if documents_todo:
                documents_found, count = expectations.run_tagged(
                    {"documents": documents}, {"documents": suites.get("documents", [])}, paths, order=list(suites)
                )
                tagged += documents_found
                checked += count
            # Forked after the import: the workers share GX and the prepared frames.
            results = list(shard_map(check_chunk, list(range(len(groups))), config.runtime, forked_state=True))
        finally:
            _WORK.clear()
        for group_parts, (found, count) in zip(groups, results, strict=True):
            tagged += found
            checked += count
            if not found:
                for part in group_parts:
                    passes.commit(pass_key[part], passes.staging(pass_key[part]))
        if documents_todo and documents_key is not None and not documents_found:
            passes.commit(documents_key, passes.staging(documents_key))
        runs = int(documents_todo) + len(groups)
        problems += in_order(tagged)
    passes.used.update(pass_key.values())
    if documents_key is not None:
        passes.used.add(documents_key)
    passes.prune()
    log.info("validate: %d of %d shards checked (%d expectation results) in %d GX run(s)", len(todo), len(shard_keys), checked, runs)
    return summarise(problems, sum(len(specs) for specs in suites.values())), problems


# --------------------------------------------------------------------------- the report


def summarise(problems: Sequence[Problem], expectations: int) -> dict[str, Any]:
    """The metric: counts only, the same for the same inputs whatever the cache held."""
    errors = [p for p in problems if p.severity is Severity.ERROR]
    warnings = [p for p in problems if p.severity is Severity.WARNING]
    return {
        "errors": len(errors),
        "warnings": len(warnings),
        "errors_by_kind": dict(sorted(Counter(p.kind for p in errors).items())),
        "warnings_by_kind": dict(sorted(Counter(p.kind for p in warnings).items())),
        "expectations": expectations,
        "passed": not errors,
    }


def markdown_report(summary: dict[str, Any], problems: Iterable[Problem]) -> str:
    lines = [
        "# Validation report",
        "",
        f"**{'PASSED' if summary['passed'] else 'FAILED'}**: "
        f"{summary['errors']} error(s), {summary['warnings']} warning(s), "
        f"{summary['expectations']} table expectations in the suites.",
        "",
    ]
    for title, key in (("Errors by kind", "errors_by_kind"), ("Warnings by kind", "warnings_by_kind")):
        if summary[key]:
            lines += [f"## {title}", "", "| kind | count |", "|---|---|"]
            lines += [f"| {kind} | {count} |" for kind, count in summary[key].items()]
            lines.append("")
    listed = list(problems)
    if listed:
        lines += ["## Problems", ""]
        lines += [f"- `{p.format()}`" for p in listed]
        lines.append("")
    return "\n".join(lines)


def run(config: StageConfig) -> bool:
    """Validate, write the reports (each atomically: ``publish`` reads the verdict), print every
    problem; True when nothing is an error."""
    summary, problems = validate(config)
    section = config.validate
    report = section.report
    atomic.write_text(report, json.dumps(summary, indent=2, sort_keys=True) + "\n")
    write_problems(problems, section.problems)
    atomic.write_text(section.summary, markdown_report(summary, problems))
    for problem in problems:
        print(problem.format(), file=sys.stderr)
    log.info("validate: %d error(s), %d warning(s); report in %s", summary["errors"], summary["warnings"], report)
    return bool(summary["passed"])


def main(config: StageConfig) -> int:
    """The stage command: exit 1 when any problem is an error."""
    return 0 if run(config) else 1
