"""``python -m pipeline adjudicate --min-agree K``: accept what K annotators agree on, list the rest.

Not a ``dvc.yaml`` stage: its output is an input layer, ``<annotations_dir>/<review.adjudicated_layer>/<name>.jsonl``
(default ``corpus/annotations/adjudicated/<dataset name>.jsonl``), which a curator then revises in
doccano (``doccano push --review`` / ``doccano pull --review``) and which ``annotate`` publishes before
the annotators' layers (``annotate.layer_priority``). It reads the layers matching ``agreement.layers``,
checks every record as ``annotate`` does (an error stops it, nothing is written), and writes
atomically the adjudicated layer (each entity and relation with ``agreed_by``, see
:mod:`pipeline.core.adjudication`) and ``review.conflicts`` (one JSON line per conflict: document,
span or relation, every candidate with its annotators, who drew none).

A curator's revision is never overwritten by accident: if the layer file holds records a curator
pulled (source other than ``adjudicated:min-agree-K``), adjudicate refuses unless ``force``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from pipeline.config import StageConfig
from pipeline.core.problems import Severity
from pipeline.io import atomic

log = logging.getLogger(__name__)

AUTOMATIC = "adjudicated:min-agree-"


class AdjudicationError(Exception):
    """Why nothing was written: one line (or several problems, one a line) for the user."""


@dataclass(frozen=True)
class AdjudicateReport:
    layer_file: Path
    conflicts_file: Path
    documents: int
    entities: int
    relations: int
    conflicts: int

    def summary(self) -> str:
        return (
            f"adjudicated {self.documents} document(s): {self.entities} entities and {self.relations} relations accepted "
            f"→ {self.layer_file}; {self.conflicts} conflict(s) → {self.conflicts_file}"
        )


def layer_file(config: StageConfig, name: str) -> Path:
    """Where the adjudicated layer of ``name`` is."""
    return config.annotate.annotations_dir / config.review.adjudicated_layer / f"{name}.jsonl"


def default_name(config: StageConfig) -> str:
    """The layer file's name: the dataset's name (as ``doccano pull`` names a project's files)."""
    return config.publish.dataset_name


def curated_records(path: Path) -> list[str]:
    """The doc_ids of the records in ``path`` that a curator made (not this command)."""
    if not path.is_file():
        return []
    found = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            data = json.loads(line)
            if not str(data.get("source", "")).startswith(AUTOMATIC):
                found.append(str(data.get("doc_id")))
    return found


def run(config: StageConfig, min_agree: int | None = None, name: str | None = None, force: bool = False) -> AdjudicateReport:
    from pipeline.core.adjudication import adjudicate
    from pipeline.core.agreement import group_documents
    from pipeline.core.checks import DocumentInfo
    from pipeline.io.interim import read_documents
    from pipeline.io.layers import read_matching_layers
    from pipeline.io.schemas import load_json_schema, load_label_schema

    k = config.review.min_agree if min_agree is None else min_agree
    if k < 1:
        raise AdjudicationError(f"--min-agree: expected an integer >= 1, got {k}")
    name = name or default_name(config)
    target = layer_file(config, name)
    curated = curated_records(target)
    if curated and not force:
        raise AdjudicationError(
            f"{target} holds {len(curated)} record(s) a curator revised (e.g. {curated[0]}); adjudicating again would replace them. "
            "Pass --force to start over from the annotators, or --name to write another file"
        )
    schema = load_label_schema(config.schemas.labels)
    validator = load_json_schema(config.schemas.annotation)
    records, problems = read_matching_layers(config.annotate.annotations_dir, validator, config.agreement.layers)
    wanted = {r.doc_id for r in records}
    table = read_documents(config.ingest.out_dir, columns=["doc_id", "text", "text_sha256", "source"]).to_pylist()
    documents = {
        d["doc_id"]: DocumentInfo(d["doc_id"], d["text"], d["text_sha256"], d["source"], None) for d in table if d["doc_id"] in wanted
    }
    annotated, found = group_documents(records, documents, {}, schema, Severity(config.validate.whitespace_spans))
    errors = [p for p in problems + found if p.severity is Severity.ERROR]
    if errors:
        raise AdjudicationError(
            f"{len(errors)} error(s) in the annotator layers; nothing written:\n" + "\n".join(p.format() for p in errors)
        )
    symmetric = frozenset(r.name for r in schema.relation_types if r.symmetric)
    result = adjudicate(
        annotated,
        k,
        source=f"{AUTOMATIC}{k}",
        layer=config.review.adjudicated_layer,
        overlap=schema.overlap,
        symmetric=symmetric,
    )
    texts = {d.doc_id: d.text for d in annotated}
    layer_bytes = "".join(json.dumps(r.to_json(texts[r.doc_id]), ensure_ascii=False) + "\n" for r in result.records)
    conflict_bytes = "".join(json.dumps(c, ensure_ascii=False) + "\n" for c in result.conflicts)
    for path in (target, config.review.conflicts):
        path.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_all({target: layer_bytes.encode("utf-8"), config.review.conflicts: conflict_bytes.encode("utf-8")})
    report = AdjudicateReport(
        layer_file=target,
        conflicts_file=config.review.conflicts,
        documents=len(result.records),
        entities=sum(len(r.entities) for r in result.records),
        relations=sum(len(r.relations) for r in result.records),
        conflicts=len(result.conflicts),
    )
    log.info("%s", report.summary())
    return report
