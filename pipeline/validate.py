"""Stage 3, validate: the gate before publishing.

Runs in order and reports every problem of a run at once:
1. input decoding and structure (collected by ``ingest`` and ``annotate`` while reading),
2. annotation semantics (collected by ``annotate`` against the documents and the label schema),
3. table checks with Great Expectations over exactly the tables ``publish`` is about to ship,
   with the suites read from ``schemas/expectations.yaml``.

Writes ``validation.json`` (a DVC metric: counts by problem kind), ``validation-problems.jsonl``
and a Markdown summary, prints ``path:line: doc_id: problem`` for each problem to stderr, and
exits non-zero on any error. Warnings do not fail the run.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd
import yaml

from pipeline import tables
from pipeline.model import Problem, Severity
from pipeline.problemlog import read_problems, write_problems
from pipeline.schema import LabelSchema, load_label_schema

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


def expected_tags(tokens: pd.DataFrame, entities: pd.DataFrame) -> np.ndarray:
    """The tag each token should carry according to the entity table, vectorised.

    Same rule as ``annotate.tagged_entities``: entities in order of start (longest first), each
    one overlapping an earlier entity of its document is not tagged.
    """
    tags = np.full(len(tokens), "O", dtype=object)
    if entities.empty or tokens.empty:
        return tags
    ents = entities.sort_values(["doc_id", "start", "end"], ascending=[True, True, False], kind="stable")
    reach = ents.groupby("doc_id", sort=False)["end"].cummax().groupby(ents["doc_id"], sort=False).shift(1)
    ents = ents[reach.isna().to_numpy() | (ents["start"].to_numpy() >= reach.fillna(-1).to_numpy())]
    codes, _ = pd.factorize(pd.concat([tokens["doc_id"], ents["doc_id"]], ignore_index=True))
    scale = np.int64(1) << np.int64(40)
    token_keys = codes[: len(tokens)].astype(np.int64) * scale + tokens["start"].to_numpy(np.int64)
    ent_codes = codes[len(tokens) :].astype(np.int64)
    ent_starts = ent_codes * scale + ents["start"].to_numpy(np.int64)
    ent_ends = ent_codes * scale + ents["end"].to_numpy(np.int64)
    order = np.argsort(ent_starts, kind="stable")
    ent_starts, ent_ends, labels = ent_starts[order], ent_ends[order], ents["label"].to_numpy(object)[order]
    index = np.searchsorted(ent_starts, token_keys, side="right") - 1
    safe = index.clip(0)
    inside = (index >= 0) & (token_keys < ent_ends[safe])
    begins = token_keys == ent_starts[safe]
    prefixes = np.where(begins, "B-", "I-").astype(object)
    tags[inside] = prefixes[inside] + labels[safe[inside]]
    return tags


def derive_columns(frames: dict[str, pd.DataFrame], known_docs: pd.Series | None = None) -> None:
    """Add the derived columns the expectation suites refer to (see schemas/expectations.yaml).

    ``known_docs`` are all document ids of the corpus (the frames may hold a chunk of it).
    """
    documents = frames["documents"]
    if "doc_length" not in documents:
        documents["doc_length"] = documents["text"].str.len()
    lengths = dict(zip(documents["doc_id"], documents["doc_length"]))
    known = pd.Index(documents["doc_id"] if known_docs is None else known_docs)
    for name in ("sentences", "tokens", "entities"):
        frame = frames[name]
        frame["doc_length"] = frame["doc_id"].map(lengths).fillna(-1).astype("int64")
    for name in ("sentences", "tokens", "entities", "relations", "ner", "re"):
        frames[name]["doc_known"] = frames[name]["doc_id"].isin(known)
    entities = frames["entities"]
    entity_keys = pd.Index(entities["doc_id"] + KEY_SEPARATOR + entities["ent_id"])
    relations = frames["relations"]
    relations["head_known"] = (relations["doc_id"] + KEY_SEPARATOR + relations["head"]).isin(entity_keys)
    relations["tail_known"] = (relations["doc_id"] + KEY_SEPARATOR + relations["tail"]).isin(entity_keys)
    tokens = frames["tokens"]
    previous = tokens["ner_tag"].shift(1, fill_value="O")
    sentence_start = (tokens["doc_id"] != tokens["doc_id"].shift(1)) | (tokens["sent_idx"] != tokens["sent_idx"].shift(1))
    tokens["bio_transition"] = previous.where(~sentence_start, "O") + " " + tokens["ner_tag"]
    tokens["expected_tag"] = pd.array(expected_tags(tokens, entities), dtype=tokens["ner_tag"].dtype)


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


class Expectations:
    """One ephemeral GX context; each call validates one set of frames (a chunk of shards)."""

    def __init__(self) -> None:
        os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
        import great_expectations as gx
        import great_expectations.expectations as gxe
        from great_expectations.data_context.types.base import ProgressBarsConfig

        for name in list(logging.root.manager.loggerDict):
            if name.startswith("great_expectations"):
                logging.getLogger(name).setLevel(logging.WARNING)
        self.gx, self.gxe = gx, gxe
        self.context = gx.get_context(mode="ephemeral")
        self.context.variables.progress_bars = ProgressBarsConfig(globally=False)
        self.source = self.context.data_sources.add_pandas("corpus")
        self.calls = 0

    def run(self, frames: dict[str, pd.DataFrame], suites: dict[str, list[dict[str, Any]]], table_paths: dict[str, str]) -> tuple[list[Problem], int]:
        """Run each table's suite on its frame; one problem per failed expectation and document."""
        self.calls += 1
        problems: list[Problem] = []
        checked = 0
        for table, specs in suites.items():
            if table not in frames:
                continue
            frame = frames[table]
            if frame.empty:
                continue
            name = f"{table}-{self.calls}"
            batch = self.source.add_dataframe_asset(name).add_batch_definition_whole_dataframe("all").get_batch(batch_parameters={"dataframe": frame})
            suite = self.gx.ExpectationSuite(name=name)
            for spec in specs:
                suite.add_expectation(getattr(self.gxe, spec["type"])(**spec["kwargs"]))
            suite = self.context.suites.add(suite)
            result = batch.validate(
                suite,
                result_format={"result_format": "COMPLETE", "unexpected_index_column_names": KEYS[table], "return_unexpected_index_query": False},
            )
            for outcome in result.results:
                checked += 1
                if not outcome.success:
                    problems.extend(_expectation_problems(table, table_paths.get(table, table), outcome))
        return problems, checked


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
        by_doc.setdefault(row.get("doc_id"), []).append(row)
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


def chunks(parts: Sequence[str], tables_dir: Path, max_rows: int) -> list[list[str]]:
    """Consecutive shards grouped so that each group has at most ``max_rows`` tokens (or one shard)."""
    import pyarrow.parquet as pq

    groups: list[list[str]] = []
    rows = 0
    for part in parts:
        count = pq.ParquetFile(tables_dir / "tokens" / f"part-{part}.parquet").metadata.num_rows
        if not groups or rows + count > max_rows:
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


def load_frames(tables_dir: Path, parts: Sequence[str], suites: dict[str, list[dict[str, Any]]]) -> dict[str, pd.DataFrame]:
    import pyarrow as pa

    frames = {}
    for table in CHUNK_TABLES:
        columns = needed_columns(table, suites.get(table, []))
        paths = [p for part in parts for p in shard_paths(tables_dir, part)[table]]
        arrow = pa.concat_tables(tables.read_parquet(p, columns=columns) for p in paths) if paths else tables.SCHEMAS[table].empty_table().select(columns)
        frames[table] = arrow.to_pandas()
    return frames


def validate(params: dict[str, Any]) -> tuple[dict[str, Any], list[Problem]]:
    """Collect the stage problems, run the table suites, return the summary and all problems.

    The documents table is checked whole; the other tables shard by shard, in chunks, skipping
    shards whose exact contents already passed the same suites (a per-shard cache of passes).
    """
    import pyarrow.compute as pc

    from pipeline.ingest import read_documents
    from pipeline.shards import ShardCache, digest

    problems = list(read_problems(Path(params["ingest"]["out_dir"]) / "problems.jsonl"))
    tables_dir = Path(params["annotate"]["out_dir"])
    problems += list(read_problems(tables_dir / "problems.jsonl"))
    schema = load_label_schema(params["schemas"]["labels"])
    splits = list(params["annotate"]["splits"])
    suites_path = Path(params["schemas"]["expectations"])
    section = params["validate"]

    arrow_documents = read_documents(tables_dir, ["doc_id", "text", "text_sha256", "split"])
    arrow_documents = arrow_documents.append_column("doc_length", pc.utf8_length(arrow_documents.column("text"))).drop_columns(["text"])
    documents = arrow_documents.to_pandas()
    expectations = Expectations()
    paths = {name: str(tables_dir / name) for name in tables.SCHEMAS}
    suites = load_suites(suites_path, substitutions(schema, splits))
    unknown = set(suites) - set(KEYS)
    if unknown:
        raise ValueError(f"{suites_path} names table(s) {sorted(unknown)}, which validate does not know")
    found, checked = expectations.run({"documents": documents}, {"documents": suites.get("documents", [])}, paths)
    problems += found

    shard_keys: dict[str, str] = json.loads((tables_dir / "shards.json").read_text(encoding="utf-8")) if (tables_dir / "shards.json").exists() else {}
    passes = ShardCache(Path(params["runtime"]["cache_dir"]), "validate")
    suite_key = digest(suites_path.read_text(encoding="utf-8"), schema.to_metadata(), splits)
    pass_key = {part: digest(suite_key, key) for part, key in shard_keys.items()}
    todo = [part for part in sorted(shard_keys) if not passes.has(pass_key[part])]
    lengths = documents[["doc_id", "doc_length"]]
    for group_parts in chunks(todo, tables_dir, int(section.get("chunk_rows", 2_000_000))):
        frames = load_frames(tables_dir, group_parts, suites)
        frames["documents"] = lengths
        derive_columns(frames)
        found, count = expectations.run(frames, {t: specs for t, specs in suites.items() if t != "documents"}, paths)
        problems += found
        checked += count
        if not found:
            for part in group_parts:
                staging = passes.staging(pass_key[part])
                passes.commit(pass_key[part], staging)
    passes.used.update(pass_key.values())
    passes.prune()
    log.info("validate: %d of %d shards checked (%d expectation results) in %d GX run(s)", len(todo), len(shard_keys), checked, expectations.calls)
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
