"""Stage agreement: how far the annotators agree, for every document two or more of them annotated.

Reads the layers matching ``agreement.layers`` (default ``annotators/*``: one layer per doccano user,
written by ``doccano pull``) and the ingested documents (text and tokens), checks every record as
``annotate`` does, and writes (figures defined in :mod:`pipeline.core.agreement`):

* ``agreement.report`` (``corpus/reports/agreement.json``, a DVC metric): per pair of annotators
  exact/partial entity P/R/F1, per label, relation F1, token Cohen's κ; overall Fleiss' κ,
  Krippendorff's α, the mean pairwise exact F1 and its bootstrap 95 % interval;
* ``agreement.documents`` (JSONL): per document mean pairwise exact F1 and disagreements, worst first,
  which ``python -m pipeline show --conflicts`` renders;
* ``agreement.confusion`` (a DVC plot, confusion template): the label pairs between annotators.

With no annotator layers (the seed corpus) the report says ``documents: 0``. A record with an
error stops the stage (exit 1, every problem printed) rather than leave a disagreement unmeasured.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

from pipeline.config import StageConfig
from pipeline.core.problems import Severity
from pipeline.io import atomic

log = logging.getLogger(__name__)


def run(config: StageConfig) -> dict[str, Any] | None:
    """The report written, or ``None`` when an annotator record has an error (printed to stderr)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from pipeline.core.agreement import group_documents, measure
    from pipeline.core.checks import DocumentInfo
    from pipeline.io.interim import read_documents, read_tokens
    from pipeline.io.layers import read_matching_layers
    from pipeline.io.schemas import load_json_schema, load_label_schema

    section = config.agreement
    schema = load_label_schema(config.schemas.labels)
    validator = load_json_schema(config.schemas.annotation)
    records, problems = read_matching_layers(config.annotate.annotations_dir, validator, section.layers)
    wanted = {r.doc_id for r in records}
    documents = {}
    if wanted:  # only the annotated documents' texts become Python strings
        table = read_documents(config.ingest.out_dir, columns=["doc_id", "text", "text_sha256", "source"])
        table = table.filter(pc.is_in(table.column("doc_id"), value_set=pa.array(sorted(wanted), pa.string())))
        documents = {d["doc_id"]: DocumentInfo(d["doc_id"], d["text"], d["text_sha256"], d["source"], None) for d in table.to_pylist()}
    tokens = read_tokens(config.ingest.out_dir, documents)
    annotated, found = group_documents(records, documents, tokens, schema, Severity(config.validate.whitespace_spans))
    problems.extend(found)
    errors = [p for p in problems if p.severity is Severity.ERROR]
    for problem in problems:
        print(problem.format(), file=sys.stderr)
    if errors:
        print(f"agreement: {len(errors)} error(s) in the annotator layers; no figures written", file=sys.stderr)
        return None
    symmetric = frozenset(r.name for r in schema.relation_types if r.symmetric)
    result = measure(annotated, labels=schema.entity_types, symmetric=symmetric, resamples=section.bootstrap_resamples, seed=section.seed)
    report = {"layers": list(section.layers), **result.metrics}
    atomic.write_all(
        {
            section.report: (json.dumps(report, indent=2, ensure_ascii=False) + "\n").encode("utf-8"),
            section.documents: "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in result.documents).encode("utf-8"),
            section.confusion: (json.dumps(result.confusion, indent=1, ensure_ascii=False) + "\n").encode("utf-8"),
        }
    )
    overall = result.metrics["overall"]
    log.info(
        "agreement: %d document(s), %d annotator(s); mean pairwise exact F1 %s, Krippendorff's alpha %s",
        result.metrics["documents"],
        len(result.metrics["annotators"]),
        overall["entities_exact_f1"],
        overall["krippendorff_alpha"],
    )
    return report


def main(config: StageConfig) -> int:
    """The stage command."""
    return 0 if run(config) is not None else 1
