"""``python -m pipeline show DOC_ID [--layers …]`` and ``show --conflicts``: review pages to look at.

Not a ``dvc.yaml`` stage: a tool for people. For one document it writes a self-contained HTML page
(:mod:`pipeline.core.review_page`) with one column per layer — by default every layer that annotates
the document, or those matching ``--layers`` (fnmatch) — and the document's conflicts from
``review.conflicts`` when adjudicate has listed any. ``--conflicts`` writes a page for each of the
``review.worst`` documents with the lowest mean pairwise exact F1 between the annotator layers
(``agreement.layers``; computed afresh, so it never shows stale figures) plus an ``index.html``.
Pages go to ``review.show_dir`` as ``<doc_id>.html``.
"""

from __future__ import annotations

import fnmatch
import html
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.config import StageConfig
from pipeline.core.problems import Severity
from pipeline.io import atomic

# Errors a page can still show (the offsets fit the text); the page lists them.
SHOWABLE = frozenset(
    {
        "overlapping-spans",
        "unknown-label",
        "unknown-relation-label",
        "relation-type-violation",
        "whitespace-span",
        "span-text-mismatch",
        "missing-argument",
        "self-relation",
        "duplicate-relation",
        "symmetric-duplicate",
        "unaligned-span",
        "entity-crosses-paragraph",
    }
)


class ShowError(Exception):
    """Why no page was written (one line for the user)."""


@dataclass(frozen=True)
class _Corpus:
    documents: list[Any]  # AnnotatedDocument, every layer
    labels: tuple[str, ...]
    symmetric: frozenset[str]
    conflicts: dict[str, list[dict[str, Any]]]
    problems: dict[str, list[str]]


def page_name(doc_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", doc_id) + ".html"


def _load(config: StageConfig, doc_ids: set[str] | None) -> _Corpus:
    from pipeline.core.agreement import group_documents
    from pipeline.core.checks import DocumentInfo
    from pipeline.io.interim import read_documents, read_tokens
    from pipeline.io.layers import read_matching_layers
    from pipeline.io.schemas import load_json_schema, load_label_schema

    schema = load_label_schema(config.schemas.labels)
    validator = load_json_schema(config.schemas.annotation)
    records, _ = read_matching_layers(config.annotate.annotations_dir, validator, ["*"])
    if doc_ids is not None:
        records = [r for r in records if r.doc_id in doc_ids]
    wanted = {r.doc_id for r in records}
    table = read_documents(config.ingest.out_dir, columns=["doc_id", "text", "text_sha256", "source"]).to_pylist()
    documents = {
        d["doc_id"]: DocumentInfo(d["doc_id"], d["text"], d["text_sha256"], d["source"], None) for d in table if d["doc_id"] in wanted
    }
    tokens = read_tokens(config.ingest.out_dir, documents)
    grouped, problems = group_documents(records, documents, tokens, schema, Severity(config.validate.whitespace_spans), tolerated=SHOWABLE)
    errors = [p for p in problems if p.severity is Severity.ERROR and p.kind not in SHOWABLE]
    if errors:
        raise ShowError(f"{len(errors)} error(s) in the layers of these documents, first: {errors[0].format()}")
    found: dict[str, list[str]] = {}
    for problem in problems:
        found.setdefault(problem.doc_id or "", []).append(problem.format())
    conflicts: dict[str, list[dict[str, Any]]] = {}
    if config.review.conflicts.is_file():
        for line in config.review.conflicts.read_text(encoding="utf-8").splitlines():
            if line.strip():
                conflict = json.loads(line)
                conflicts.setdefault(conflict["doc_id"], []).append(conflict)
    symmetric = frozenset(r.name for r in schema.relation_types if r.symmetric)
    return _Corpus(grouped, schema.entity_types, symmetric, conflicts, found)


def _only(document: Any, patterns: Sequence[str] | None) -> Any:
    from dataclasses import replace

    if not patterns:
        return document
    return replace(document, records={k: v for k, v in document.records.items() if any(fnmatch.fnmatchcase(k, p) for p in patterns)})


def _page(corpus: _Corpus, document: Any, summary: dict[str, Any] | None = None) -> str:
    from pipeline.core.review_page import render_page

    return render_page(
        document,
        labels=corpus.labels,
        symmetric=corpus.symmetric,
        summary=summary,
        conflicts=corpus.conflicts.get(document.doc_id, []),
        problems=corpus.problems.get(document.doc_id, []),
    )


def show_document(config: StageConfig, doc_id: str, layers: Sequence[str] | None = None, out: Path | None = None) -> Path:
    """Write the page of ``doc_id``; its path."""
    corpus = _load(config, {doc_id})
    found = [d for d in corpus.documents if d.doc_id == doc_id]
    if not found:
        raise ShowError(f"no layer in {config.annotate.annotations_dir} annotates document {doc_id!r} (or it is not ingested)")
    document = _only(found[0], layers)
    if not document.records:
        raise ShowError(
            f"no layer of document {doc_id!r} matches --layers {' '.join(layers or [])} (its layers: {', '.join(found[0].records)})"
        )
    target = out or config.review.show_dir / page_name(doc_id)
    atomic.write_text(target, _page(corpus, document))
    return target


def show_conflicts(config: StageConfig, layers: Sequence[str] | None = None, worst: int | None = None) -> list[Path]:
    """Pages of the worst documents by agreement between the annotator layers, and an index; the paths."""
    from pipeline.core.agreement import measure

    corpus = _load(config, None)
    annotators = [_only(d, config.agreement.layers) for d in corpus.documents]
    ranking = measure(annotators, labels=corpus.labels, symmetric=corpus.symmetric, resamples=1).documents
    if not ranking:
        raise ShowError(f"no document is annotated by two or more layers matching agreement.layers {list(config.agreement.layers)}")
    by_id = {d.doc_id: d for d in corpus.documents}
    outputs: dict[Path, bytes] = {}
    rows = []
    for entry in ranking[: worst or config.review.worst]:
        document = _only(by_id[entry["doc_id"]], layers or list(config.agreement.layers) + [config.review.adjudicated_layer])
        summary = {"mean pairwise exact F1": entry["mean_exact_f1"], "disagreements": entry["disagreements"]}
        path = config.review.show_dir / page_name(entry["doc_id"])
        outputs[path] = _page(corpus, document, summary).encode("utf-8")
        rows.append(
            f'<tr><td><a href="{html.escape(path.name)}">{html.escape(entry["doc_id"])}</a></td>'
            f"<td>{entry['mean_exact_f1']}</td><td>{entry['disagreements']}</td><td>{len(entry['annotators'])}</td></tr>"
        )
    index = config.review.show_dir / "index.html"
    outputs[index] = (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>worst documents</title></head><body>'
        "<h1>Documents to review first</h1><table><tr><th>document</th><th>mean pairwise exact F1</th>"
        "<th>disagreements</th><th>annotators</th></tr>" + "".join(rows) + "</table></body></html>\n"
    ).encode("utf-8")
    config.review.show_dir.mkdir(parents=True, exist_ok=True)
    atomic.write_all(outputs)
    return list(outputs)
