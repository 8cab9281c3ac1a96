"""Stage 3, validate: the gate before publishing.

Runs in order and reports every problem of a run at once:
1. input decoding and structure (collected by ``ingest`` and ``annotate`` while reading),
2. annotation semantics (collected by ``annotate`` against the documents and the label schema),
3. table checks with Great Expectations over exactly the tables ``publish`` is about to ship,
   with the suites read from ``schemas/expectations.yaml``.

Writes ``validation.json`` (a DVC metric: counts by problem kind), ``validation-problems.jsonl``
and a Markdown summary, prints ``path:line: doc_id: problem`` for each problem to stderr, and
exits non-zero on any error. Warnings do not fail the run.

Cost (``benchmarks/``): Great Expectations takes seconds to import, so it is imported in a
background thread while the documents are read (with its imports of scipy.stats and altair, used
only by expectations the suites do not have, deferred to their first use), and not at all when
every shard and the documents table already passed the same suites with the same code (the pass
cache). String columns with few distinct values (``doc_id``, tags, labels, splits) are read from
Parquet as dictionaries and handed to GX as pandas categoricals: the same values, so the same
checks, at a fraction of the cost of hashing millions of strings. Chunks of shards are checked in
a process pool forked after the import; the problems are put in a fixed order (table,
expectation, chunk) so the report does not depend on how the shards were grouped or on the number
of workers.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import json
import logging
import math
import os
import sys
import threading
import types
from collections import Counter
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd
import yaml

from pipeline.io import tables
from pipeline.core.problems import Problem, Severity
from pipeline.io.problemlog import read_problems, write_problems
from pipeline.core.labels import LabelSchema
from pipeline.io.schemas import load_label_schema

log = logging.getLogger(__name__)

KEY_SEPARATOR = "\x1f"
NO_RELATION = "no_relation"


def bio_transitions(schema: LabelSchema) -> list[tuple[str, str]]:
    """Allowed (previous tag, tag) pairs inside one sentence: I-X only after B-X or I-X."""
    labels = schema.bio_labels
    pairs = []
    for previous in labels:
        for tag in labels:
            if tag.startswith("I-") and previous[2:] != tag[2:]:
                continue
            pairs.append((previous, tag))
    return pairs


def _category(frame: pd.DataFrame, column: str) -> pd.Series:
    """The column as a pandas categorical (converted in place when it is not one already)."""
    if not isinstance(frame[column].dtype, pd.CategoricalDtype):
        frame[column] = frame[column].astype("category")
    return frame[column]


def _codes(series: pd.Series) -> np.ndarray:
    return series.cat.codes.to_numpy().astype(np.int64)


def _per_document(frame: pd.DataFrame, per_category: np.ndarray, missing: Any) -> np.ndarray:
    """Spread a value per ``doc_id`` category over the rows (``missing`` for a null ``doc_id``)."""
    return np.append(per_category, np.array([missing], dtype=per_category.dtype))[_codes(_category(frame, "doc_id"))]


def expected_tags(tokens: pd.DataFrame, entities: pd.DataFrame) -> pd.Categorical:
    """The tag each token should carry according to the entity table, vectorised.

    Same rule as ``pipeline.core.bio.tagged_entities``: entities in order of start (longest first), each
    one overlapping an earlier entity of its document is not tagged. Returns a categorical whose
    categories extend those of ``tokens.ner_tag`` (a categorical), so that the two compare.
    """
    tag_column = _category(tokens, "ner_tag")
    categories = list(tag_column.cat.categories)
    position = {tag: index for index, tag in enumerate(categories)}

    def code(tag: str) -> int:
        if tag not in position:
            position[tag] = len(categories)
            categories.append(tag)
        return position[tag]

    outside = code("O")
    result = np.full(len(tokens), outside, dtype=np.int64)
    if len(entities) and len(tokens):
        # The entities' documents as codes of the tokens' doc_id categories; -1: no such tokens.
        token_docs = _codes(_category(tokens, "doc_id"))
        entity_doc = _category(entities, "doc_id")
        to_token_code = np.append(tokens["doc_id"].cat.categories.get_indexer(entity_doc.cat.categories), -1)
        docs = to_token_code[_codes(entity_doc)]
        starts = entities["start"].to_numpy(np.int64)
        ends = entities["end"].to_numpy(np.int64)
        label = _category(entities, "label")
        label_codes = _codes(label)
        begin_of = np.array([code(f"B-{name}") for name in label.cat.categories] + [-1], dtype=np.int64)
        inside_of = np.array([code(f"I-{name}") for name in label.cat.categories] + [-1], dtype=np.int64)
        keep = docs >= 0
        docs, starts, ends, label_codes = docs[keep], starts[keep], ends[keep], label_codes[keep]
        order = np.lexsort((-ends, starts, docs))  # stable: by document, start, longest first
        docs, starts, ends, label_codes = docs[order], starts[order], ends[order], label_codes[order]
        # Drop an entity that starts before the furthest end of an earlier one of its document.
        frame = pd.DataFrame({"doc": docs, "end": ends})
        reach = frame.groupby("doc", sort=False)["end"].cummax().groupby(frame["doc"], sort=False).shift(1)
        kept = reach.isna().to_numpy() | (starts >= reach.fillna(-1).to_numpy())
        docs, starts, ends, label_codes = docs[kept], starts[kept], ends[kept], label_codes[kept]
        scale = np.int64(1) << np.int64(40)
        token_keys = token_docs * scale + tokens["start"].to_numpy(np.int64)
        ent_starts = docs * scale + starts
        ent_ends = docs * scale + ends
        index = np.searchsorted(ent_starts, token_keys, side="right") - 1
        safe = index.clip(0)
        inside = (index >= 0) & (token_keys < ent_ends[safe]) & (token_docs >= 0)
        begins = token_keys == ent_starts[safe]
        tag_codes = np.where(begins, begin_of[label_codes[safe]], inside_of[label_codes[safe]])
        result[inside] = tag_codes[inside]
    tokens["ner_tag"] = tag_column.cat.set_categories(categories)
    return pd.Categorical.from_codes(result, categories=pd.Index(categories, dtype=tokens["ner_tag"].cat.categories.dtype))


def bio_transition_column(tokens: pd.DataFrame) -> pd.Series:
    """``"<previous tag in the sentence, O at its start> <tag>"`` per token, as a categorical."""
    tags = _category(tokens, "ner_tag")
    categories = list(tags.cat.categories)
    if "O" not in categories:
        categories.append("O")
    names = [f"{previous} {tag}" for previous in categories for tag in categories]
    if len(set(names)) != len(names):  # tags with spaces: fall back to the plain strings
        plain = tags.astype("str")
        docs = tokens["doc_id"]
        start = (docs != docs.shift(1)) | (tokens["sent_idx"] != tokens["sent_idx"].shift(1))
        return plain.shift(1, fill_value="O").where(~start, "O") + " " + plain
    codes = _codes(tags)
    docs = _codes(_category(tokens, "doc_id"))
    sentences = tokens["sent_idx"].to_numpy()
    start = np.ones(len(tokens), dtype=bool)
    start[1:] = (docs[1:] != docs[:-1]) | (sentences[1:] != sentences[:-1])
    start |= docs < 0  # a null doc_id never equals the previous one
    outside = categories.index("O")
    previous = np.empty(len(tokens), dtype=np.int64)
    previous[:1] = outside
    previous[1:] = codes[:-1]
    previous[start] = outside
    width = len(categories)
    transition = previous * width + codes
    transition[(previous < 0) | (codes < 0)] = -1
    return pd.Series(pd.Categorical.from_codes(transition, categories=pd.Index(names, dtype=tags.cat.categories.dtype)), index=tokens.index)


def _length(value: Any) -> int:
    return -1 if value is None or value != value else int(value)  # unknown document (or no length): -1


def derive_columns(frames: dict[str, pd.DataFrame], known_docs: pd.Series | None = None) -> None:
    """Add the derived columns the expectation suites refer to (see schemas/expectations.yaml).

    ``known_docs`` are all document ids of the corpus (the frames may hold a chunk of it).
    Turns ``doc_id`` (and the tag and label columns) into categoricals: the derived columns are
    computed once per distinct document, not once per row.
    """
    documents = frames["documents"]
    if "doc_length" not in documents:
        documents["doc_length"] = documents["text"].str.len()
    lengths = dict(zip(documents["doc_id"].tolist(), documents["doc_length"].tolist()))  # the last of a repeated id
    known = set(documents["doc_id"].tolist() if known_docs is None else known_docs.tolist())
    for name in ("sentences", "tokens", "entities", "relations", "ner", "re"):
        frame = frames[name]
        categories = _category(frame, "doc_id").cat.categories.tolist()
        if name in ("sentences", "tokens", "entities"):
            per_doc = np.array([_length(lengths.get(doc)) for doc in categories], dtype=np.int64)
            frame["doc_length"] = _per_document(frame, per_doc, -1)
        frame["doc_known"] = _per_document(frame, np.array([doc in known for doc in categories], dtype=bool), False)
    entities = frames["entities"]
    relations = frames["relations"]
    if len(relations):
        related = entities[entities["doc_id"].isin(relations["doc_id"].astype("str").unique())]
        entity_keys = pd.Index(related["doc_id"].astype("str") + KEY_SEPARATOR + related["ent_id"].astype("str"))
        relation_docs = relations["doc_id"].astype("str") + KEY_SEPARATOR
        relations["head_known"] = (relation_docs + relations["head"].astype("str")).isin(entity_keys)
        relations["tail_known"] = (relation_docs + relations["tail"].astype("str")).isin(entity_keys)
    else:
        relations["head_known"] = np.zeros(0, dtype=bool)
        relations["tail_known"] = np.zeros(0, dtype=bool)
    tokens = frames["tokens"]
    expected = expected_tags(tokens, entities)  # also widens ner_tag's categories to compare
    tokens["expected_tag"] = expected
    tokens["bio_transition"] = bio_transition_column(tokens)


def substitutions(schema: LabelSchema, splits: Sequence[str]) -> dict[str, Any]:
    """The values of the ``$`` placeholders in ``schemas/expectations.yaml``."""
    return {
        "$entity_types": list(schema.entity_types),
        "$relation_types": list(schema.relation_names),
        "$relation_labels": list(schema.relation_names) + [NO_RELATION],
        "$bio_labels": list(schema.bio_labels),
        "$bio_transitions": [f"{previous} {tag}" for previous, tag in bio_transitions(schema)],
        "$splits": list(splits),
    }


def load_suites(path: Path, values: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    with open(path, encoding="utf-8") as handle:
        suites = yaml.safe_load(handle)

    def fill(value: Any) -> Any:
        if isinstance(value, str) and value.startswith("$"):
            if value not in values:
                raise ValueError(f"{path}: unknown placeholder {value!r}; known: {sorted(values)}")
            return values[value]
        return value

    return {
        table: [{"type": spec["type"], "kwargs": {k: fill(v) for k, v in spec.get("kwargs", {}).items()}} for spec in specs]
        for table, specs in suites.items()
    }


KEYS = {
    "documents": ["doc_id"],
    "sentences": ["doc_id", "sent_idx"],
    "tokens": ["doc_id", "tok_idx"],
    "entities": ["doc_id", "ent_id"],
    "relations": ["doc_id", "rel_id", "head", "tail"],
    "ner": ["id", "doc_id"],
    "re": ["id", "doc_id"],
}

# Problems of one expectation: ((table's position in the suites, expectation's position), problems).
Tagged = list[tuple[tuple[int, int], list[Problem]]]


class _Deferred(types.ModuleType):
    """A module imported on first use of one of its attributes (then it is the real module's)."""

    def __getattr__(self, attr: str) -> Any:
        real = self.__dict__.get("_real")
        if real is None:
            if sys.modules.get(self.__name__) is self:
                del sys.modules[self.__name__]
            real = importlib.import_module(self.__name__)
            self.__dict__["_real"] = real
        return getattr(real, attr)


# Imported by GX at import time only for expectations the suites do not use (KL divergence, KS
# tests and their charts); about half of GX's import time (2 of 4.5 s on the benchmark machine).
DEFERRED_BY_GX = ("scipy.stats", "altair")


def _import_gx() -> None:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    if "great_expectations" not in sys.modules:
        for name in DEFERRED_BY_GX:
            if name not in sys.modules and importlib.util.find_spec(name.split(".")[0]) is not None:
                module = _Deferred(name)
                module.__spec__ = importlib.machinery.ModuleSpec(name, None)
                sys.modules[name] = module
    import great_expectations  # noqa: F401
    import great_expectations.expectations  # noqa: F401


class Expectations:
    """One ephemeral GX context; each call validates one set of frames (a chunk of shards).

    Each table's data asset, batch definition and suite are made once and reused for every chunk.
    """

    def __init__(self) -> None:
        _import_gx()
        import great_expectations as gx
        import great_expectations.expectations as gxe
        from great_expectations.data_context.types.base import ProgressBarsConfig

        for name in list(logging.root.manager.loggerDict):
            if name.startswith("great_expectations"):
                logging.getLogger(name).setLevel(logging.WARNING)
        self.gx, self.gxe = gx, gxe
        from great_expectations.execution_engine import pandas_execution_engine

        # GX labels every pandas batch below this size (1 GB) with an md5 of all its rows, only as
        # a marker in the result's metadata, which nothing here reads: a fifth of GX's time on a
        # large chunk. 0 turns the label off; the checks are not affected.
        pandas_execution_engine.HASH_THRESHOLD = 0
        self.context = gx.get_context(mode="ephemeral")
        self.context.variables.progress_bars = ProgressBarsConfig(globally=False)
        self.source = self.context.data_sources.add_pandas("corpus")
        self.prepared: dict[str, tuple[Any, Any]] = {}
        self.calls = 0

    def _prepare(self, table: str, specs: Sequence[dict[str, Any]]) -> tuple[Any, Any]:
        key = table + "\x00" + json.dumps(specs, sort_keys=True, default=str)
        if key not in self.prepared:
            name = f"{table}-{len(self.prepared) + 1}"
            definition = self.source.add_dataframe_asset(name).add_batch_definition_whole_dataframe("all")
            suite = self.gx.ExpectationSuite(name=name)
            for spec in specs:
                suite.add_expectation(getattr(self.gxe, spec["type"])(**spec["kwargs"]))
            self.prepared[key] = (definition, self.context.suites.add(suite))
        return self.prepared[key]

    def run_tagged(self, frames: dict[str, pd.DataFrame], suites: dict[str, list[dict[str, Any]]], table_paths: dict[str, str], order: Sequence[str] | None = None) -> tuple[Tagged, int]:
        """Run each table's suite on its frame (one GX validation per table); problems tagged by
        the table's position in ``order`` (default: the suites') and the expectation's in its suite."""
        self.calls += 1
        order = list(order or suites)
        tagged: Tagged = []
        checked = 0
        for table, specs in suites.items():
            if table not in frames or not specs:
                continue
            frame = frames[table]
            if frame.empty:
                continue
            definition, suite = self._prepare(table, specs)
            batch = definition.get_batch(batch_parameters={"dataframe": frame})
            result = batch.validate(
                suite,
                result_format={"result_format": "COMPLETE", "unexpected_index_column_names": KEYS[table], "return_unexpected_index_query": False},
            )
            for index, outcome in enumerate(result.results):  # GX orders results by the suite alone
                checked += 1
                if not outcome.success:
                    tagged.append(((order.index(table), index), _expectation_problems(table, table_paths.get(table, table), outcome)))
        return tagged, checked

    def run(self, frames: dict[str, pd.DataFrame], suites: dict[str, list[dict[str, Any]]], table_paths: dict[str, str]) -> tuple[list[Problem], int]:
        """Run each table's suite on its frame; one problem per failed expectation and document."""
        tagged, checked = self.run_tagged(frames, suites, table_paths)
        return _in_order(tagged), checked


def _in_order(tagged: Tagged) -> list[Problem]:
    """The problems by table, then expectation, then in the order found (stable)."""
    return [problem for _, problems in sorted(tagged, key=lambda item: item[0]) for problem in problems]


def run_expectations(frames: dict[str, pd.DataFrame], suites: dict[str, list[dict[str, Any]]], table_paths: dict[str, str]) -> tuple[list[Problem], int]:
    unknown = set(suites) - set(KEYS)
    if unknown:
        raise ValueError(f"schemas/expectations.yaml names table(s) {sorted(unknown)}, which validate does not know")
    return Expectations().run(frames, suites, table_paths)


def _expectation_problems(table: str, path: str, outcome: Any) -> list[Problem]:
    config = outcome.expectation_config
    kwargs = {k: v for k, v in config.kwargs.items() if k in ("column", "column_A", "column_B", "column_list")}
    what = f"{config.type}({', '.join(f'{k}={v}' for k, v in kwargs.items())})"
    rows = outcome.result.get("unexpected_index_list") or []
    if outcome.exception_info and outcome.exception_info.get("raised_exception"):
        return [Problem(path, None, None, "table-check", f"{table}: {what} could not run: {outcome.exception_info.get('exception_message')}")]
    by_doc: dict[str | None, list[dict[str, Any]]] = {}
    for row in rows:
        by_doc.setdefault(_plain(row.get("doc_id")), []).append(row)
    if not by_doc:
        return [Problem(path, None, None, "table-check", f"{table}: {what} failed ({outcome.result.get('unexpected_count')} rows)")]
    problems = []
    for doc_id, doc_rows in by_doc.items():
        shown = "; ".join(", ".join(f"{k}={_plain(v)}" for k, v in row.items() if k != "doc_id") for row in doc_rows[:5])
        more = f" and {len(doc_rows) - 5} more" if len(doc_rows) > 5 else ""
        problems.append(Problem(path, None, doc_id, "table-check", f"{table}: {what} failed for {len(doc_rows)} row(s): {shown}{more}"))
    return problems


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


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
    lines = ["# Validation report", "", f"**{'PASSED' if summary['passed'] else 'FAILED'}**: "
             f"{summary['errors']} error(s), {summary['warnings']} warning(s), "
             f"{summary['expectations']} table expectations in the suites.", ""]
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


CHUNK_TABLES = ("sentences", "tokens", "entities", "relations", "ner", "re")

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
    import pyarrow.parquet as pq

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
    for part, count in zip(parts, counts):
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


DERIVED_FROM = {
    "tokens": {"doc_id", "sent_idx", "start", "ner_tag"},
    "entities": {"doc_id", "ent_id", "start", "end", "label"},
    "relations": {"doc_id", "head", "tail"},
    "sentences": {"doc_id"},
    "ner": {"doc_id"},
    "re": {"doc_id"},
}


def needed_columns(table: str, specs: Sequence[dict[str, Any]]) -> list[str]:
    """The stored columns a table's checks touch: named by its suite, its keys, or a derived column's sources."""
    wanted = set(KEYS[table]) | DERIVED_FROM.get(table, set())
    for spec in specs:
        for key in ("column", "column_A", "column_B"):
            if key in spec["kwargs"]:
                wanted.add(spec["kwargs"][key])
        wanted.update(spec["kwargs"].get("column_list", []))
    return [name for name in tables.SCHEMAS[table].names if name in wanted]


def _read_files(paths: Sequence[Path], columns: list[str]) -> Any:
    """Some columns of Parquet files as one Arrow table; ``DICTIONARY_COLUMNS`` as dictionaries."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    dictionary = [name for name in columns if name in DICTIONARY_COLUMNS]

    def read(path: Path) -> pa.Table:  # ParquetFile: a third of read_table's cost on small files
        with pq.ParquetFile(path, read_dictionary=dictionary) as handle:
            return handle.read(columns=columns, use_threads=False)

    return pa.concat_tables(read(path) for path in paths)


def _read(paths: Sequence[Path], table: str, columns: list[str]) -> pd.DataFrame:
    if not paths:
        return tables.SCHEMAS[table].empty_table().select(columns).to_pandas()
    return _read_files(paths, columns).to_pandas()


def load_frames(tables_dir: Path, parts: Sequence[str], suites: dict[str, list[dict[str, Any]]]) -> dict[str, pd.DataFrame]:
    """The chunk tables of some shards, only the columns the checks need."""
    paths = [shard_paths(tables_dir, part) for part in parts]
    return {
        table: _read([p for shard in paths for p in shard[table]], table, needed_columns(table, suites.get(table, [])))
        for table in CHUNK_TABLES
    }


def read_documents(tables_dir: Path) -> pd.DataFrame:
    """The documents table (every shard) with ``doc_length`` (code points) instead of the text."""
    import pyarrow.compute as pc

    columns = ["doc_id", "text", "text_sha256", "split"]
    files = sorted((tables_dir / "documents").glob("*.parquet"))
    arrow = _read_files(files, columns) if files else tables.SCHEMAS["documents"].empty_table().select(columns)
    arrow = arrow.append_column("doc_length", pc.utf8_length(arrow.column("text"))).drop_columns(["text"])
    return arrow.to_pandas()


# What a recorded pass depends on besides the suites: this module and the libraries behind the checks.
CHECK_PACKAGES = ("great-expectations", "pandas", "pyarrow", "numpy")


# What forked workers inherit: the GX context and what every chunk needs (set by ``validate``).
_WORK: dict[str, Any] = {}


def prepare_chunk(parts: Sequence[str]) -> dict[str, pd.DataFrame]:
    """Load one group of shards and derive the columns the suites check."""
    work = _WORK
    frames = load_frames(work["tables_dir"], parts, work["suites"])
    frames["documents"] = work["lengths"]
    derive_columns(frames, work["known"])
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


def validate(params: dict[str, Any]) -> tuple[dict[str, Any], list[Problem]]:
    """Collect the stage problems, run the table suites, return the summary and all problems.

    The documents table is checked whole; the other tables shard by shard, in chunks, skipping
    shards whose exact contents already passed the same suites (a per-shard cache of passes).
    """
    from pipeline.runtime.cache import ShardCache
    from pipeline.runtime.fingerprint import code_fingerprint, digest
    from pipeline.runtime.pool import parallel_map, workers_from

    problems = list(read_problems(Path(params["ingest"]["out_dir"]) / "problems.jsonl"))
    tables_dir = Path(params["annotate"]["out_dir"])
    problems += list(read_problems(tables_dir / "problems.jsonl"))
    schema = load_label_schema(params["schemas"]["labels"])
    splits = list(params["annotate"]["splits"])
    suites_path = Path(params["schemas"]["expectations"])
    section = params["validate"]
    paths = {name: str(tables_dir / name) for name in tables.SCHEMAS}
    suites = load_suites(suites_path, substitutions(schema, splits))
    unknown = set(suites) - set(KEYS)
    if unknown:
        raise ValueError(f"{suites_path} names table(s) {sorted(unknown)}, which validate does not know")

    # Which checks can be skipped: every shard's contents (and so the whole documents table) are
    # named by annotate's shard keys; a pass is recorded per shard key and suites + code.
    shard_keys: dict[str, str] = json.loads((tables_dir / "shards.json").read_text(encoding="utf-8")) if (tables_dir / "shards.json").exists() else {}
    passes = ShardCache(Path(params["runtime"]["cache_dir"]), "validate")
    suite_key = digest(suites_path.read_text(encoding="utf-8"), schema.to_metadata(), splits, code_fingerprint(__name__, CHECK_PACKAGES))
    pass_key = {part: digest(suite_key, key) for part, key in shard_keys.items()}
    documents_key = digest(suite_key, "documents", sorted(shard_keys.items())) if shard_keys else None
    todo = [part for part in sorted(shard_keys) if not passes.has(pass_key[part])]
    documents_todo = documents_key is None or not passes.has(documents_key)

    checked = 0
    runs = 0
    if todo or documents_todo:
        # GX takes seconds to import: do it while the documents are read.
        importer = threading.Thread(target=_import_gx, name="import-gx", daemon=True)
        importer.start()
        documents = read_documents(tables_dir)
        workers = workers_from(params)
        groups = chunks(todo, tables_dir, int(section.get("chunk_rows", 2_000_000)), workers)
        _WORK.update(
            tables_dir=tables_dir, suites=suites, paths=paths, groups=groups, prepared={},
            lengths=documents[["doc_id", "doc_length"]], known=documents["doc_id"],
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
                documents_found, count = expectations.run_tagged({"documents": documents}, {"documents": suites.get("documents", [])}, paths, order=list(suites))
                tagged += documents_found
                checked += count
            # Forked after the import: the workers share GX and the prepared frames.
            results = list(parallel_map(check_chunk, list(range(len(groups))), workers))
        finally:
            _WORK.clear()
        for group_parts, (found, count) in zip(groups, results):
            tagged += found
            checked += count
            if not found:
                for part in group_parts:
                    passes.commit(pass_key[part], passes.staging(pass_key[part]))
        if documents_todo and documents_key is not None and not documents_found:
            passes.commit(documents_key, passes.staging(documents_key))
        runs = int(documents_todo) + len(groups)
        problems += _in_order(tagged)
    passes.used.update(pass_key.values())
    if documents_key is not None:
        passes.used.add(documents_key)
    passes.prune()
    log.info("validate: %d of %d shards checked (%d expectation results) in %d GX run(s)", len(todo), len(shard_keys), checked, runs)
    return summarise(problems, sum(len(specs) for specs in suites.values())), problems


def run(params: dict[str, Any]) -> bool:
    """Validate, write the reports, print every problem; True when nothing is an error."""
    summary, problems = validate(params)
    section = params["validate"]
    report = Path(section["report"])
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    write_problems(problems, Path(section["problems"]))
    Path(section["summary"]).write_text(markdown_report(summary, problems), encoding="utf-8")
    for problem in problems:
        print(problem.format(), file=sys.stderr)
    log.info("validate: %d error(s), %d warning(s); report in %s", summary["errors"], summary["warnings"], report)
    return bool(summary["passed"])


def main(params: dict[str, Any]) -> int:
    """The stage command: exit 1 when any problem is an error."""
    return 0 if run(params) else 1
