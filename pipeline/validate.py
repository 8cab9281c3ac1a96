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


def expected_tags(tokens: pd.DataFrame, entities: pd.DataFrame) -> list[str]:
    """The tag each token should carry according to the entity table (outermost entity wins)."""
    from pipeline.annotate import bio_tags
    from pipeline.model import Entity

    result: list[str] = []
    grouped = {doc_id: frame for doc_id, frame in entities.groupby("doc_id", sort=False)} if len(entities) else {}
    for doc_id, frame in tokens.groupby("doc_id", sort=False):
        spans = list(zip(frame["start"].tolist(), frame["end"].tolist()))
        ents = grouped.get(doc_id)
        doc_entities = [] if ents is None else [
            Entity(id=i, start=s, end=e, label=label, source="")
            for i, s, e, label in zip(ents["ent_id"], ents["start"], ents["end"], ents["label"])
        ]
        result.extend(bio_tags(spans, doc_entities))
    return result


def derive_columns(frames: dict[str, pd.DataFrame]) -> None:
    """Add the derived columns the expectation suites refer to (see schemas/expectations.yaml)."""
    documents = frames["documents"]
    lengths = dict(zip(documents["doc_id"], documents["text"].str.len()))
    for name in ("sentences", "tokens", "entities"):
        frame = frames[name]
        frame["doc_length"] = frame["doc_id"].map(lengths).fillna(-1).astype("int64")
    relations = frames["relations"]
    relations["head_key"] = relations["doc_id"] + KEY_SEPARATOR + relations["head"]
    relations["tail_key"] = relations["doc_id"] + KEY_SEPARATOR + relations["tail"]
    tokens = frames["tokens"]
    previous = tokens["ner_tag"].shift(1, fill_value="O")
    sentence_start = (tokens["doc_id"] != tokens["doc_id"].shift(1)) | (tokens["sent_idx"] != tokens["sent_idx"].shift(1))
    tokens["prev_tag"] = previous.where(~sentence_start, "O")
    tokens["expected_tag"] = expected_tags(tokens, frames["entities"])


def substitutions(frames: dict[str, pd.DataFrame], schema: LabelSchema, splits: Sequence[str]) -> dict[str, Any]:
    entities = frames["entities"]
    return {
        "$entity_types": list(schema.entity_types),
        "$relation_types": list(schema.relation_names),
        "$relation_labels": list(schema.relation_names) + [NO_RELATION],
        "$bio_labels": list(schema.bio_labels),
        "$bio_transitions": [list(pair) for pair in bio_transitions(schema)],
        "$splits": list(splits),
        "$doc_ids": frames["documents"]["doc_id"].tolist(),
        "$entity_keys": (entities["doc_id"] + KEY_SEPARATOR + entities["ent_id"]).tolist(),
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
    "relations": ["doc_id", "rel_id"],
    "ner": ["id", "doc_id"],
    "re": ["id", "doc_id"],
}


def run_expectations(frames: dict[str, pd.DataFrame], suites: dict[str, list[dict[str, Any]]], table_paths: dict[str, str]) -> tuple[list[Problem], int]:
    """Run each table's suite with GX; one problem per failed expectation and document."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations as gx
    import great_expectations.expectations as gxe
    from great_expectations.data_context.types.base import ProgressBarsConfig

    for name in list(logging.root.manager.loggerDict):
        if name.startswith("great_expectations"):
            logging.getLogger(name).setLevel(logging.WARNING)

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    source = context.data_sources.add_pandas("corpus")
    problems: list[Problem] = []
    checked = 0
    for table, specs in suites.items():
        if table not in frames:
            raise ValueError(f"schemas/expectations.yaml names table {table!r}, which validate does not know")
        frame = frames[table]
        if frame.empty:
            continue
        batch = source.add_dataframe_asset(table).add_batch_definition_whole_dataframe("all").get_batch(
            batch_parameters={"dataframe": frame}
        )
        suite = gx.ExpectationSuite(name=table)
        for spec in specs:
            suite.add_expectation(getattr(gxe, spec["type"])(**spec["kwargs"]))
        suite = context.suites.add(suite)
        result = batch.validate(
            suite,
            result_format={"result_format": "COMPLETE", "unexpected_index_column_names": KEYS[table], "return_unexpected_index_query": False},
        )
        for outcome in result.results:
            checked += 1
            if outcome.success:
                continue
            problems.extend(_expectation_problems(table, table_paths.get(table, table), outcome))
    return problems, checked


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


def summarise(problems: Sequence[Problem], checked: int) -> dict[str, Any]:
    errors = [p for p in problems if p.severity is Severity.ERROR]
    warnings = [p for p in problems if p.severity is Severity.WARNING]
    return {
        "errors": len(errors),
        "warnings": len(warnings),
        "errors_by_kind": dict(sorted(Counter(p.kind for p in errors).items())),
        "warnings_by_kind": dict(sorted(Counter(p.kind for p in warnings).items())),
        "expectations_checked": checked,
        "passed": not errors,
    }


def markdown_report(summary: dict[str, Any], problems: Iterable[Problem]) -> str:
    lines = ["# Validation report", "", f"**{'PASSED' if summary['passed'] else 'FAILED'}**: "
             f"{summary['errors']} error(s), {summary['warnings']} warning(s), "
             f"{summary['expectations_checked']} table expectations checked.", ""]
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


def validate(params: dict[str, Any]) -> tuple[dict[str, Any], list[Problem]]:
    """Collect the stage problems, run the table suites, return the summary and all problems."""
    problems = list(read_problems(Path(params["ingest"]["out_dir"]) / "problems.jsonl"))
    tables_dir = Path(params["annotate"]["out_dir"])
    problems += list(read_problems(tables_dir / "problems.jsonl"))
    schema = load_label_schema(params["schemas"]["labels"])
    paths = {name: str(tables_dir / f"{name}.parquet") for name in tables.SCHEMAS}
    frames = {name: tables.read_parquet(path).to_pandas() for name, path in paths.items()}
    derive_columns(frames)
    suites = load_suites(Path(params["schemas"]["expectations"]), substitutions(frames, schema, list(params["annotate"]["splits"])))
    table_problems, checked = run_expectations(frames, suites, paths)
    problems += table_problems
    return summarise(problems, checked), problems


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
