"""The curator's review round in doccano: ``doccano push --review`` and ``doccano pull --review``.

``push --review`` loads the adjudicated layer (``python -m pipeline adjudicate``) into a review
project (``<project>-review``): the documents that have an adjudicated record, the accepted
annotations in the pushing account — the curator's — (the same idempotent push as any layer,
:func:`pipeline.doccano.push.push`), and each example's conflicts from ``review.conflicts`` as
doccano comments, one per conflict, every candidate with its annotators (kept in step: comments
of conflicts that no longer exist are removed, none is added twice).

``pull --review`` takes the curator's own labels of the review project (examples the curator
confirmed, by default) and writes them back as the adjudicated records of those documents, in the
layer file each came from: source ``adjudicated:<curator>``, and every entity and relation keeps
``agreed_by``, the annotator layers that drew exactly it (empty when only the curator did). Records
of documents the curator has not confirmed stay as adjudicate wrote them.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.config import StageConfig
from pipeline.core.agreement import annotator_of, entity_keys, relation_keys
from pipeline.core.spans import AnnotationRecord, Document
from pipeline.doccano import convert
from pipeline.doccano.session import DoccanoError, Session
from pipeline.io import atomic

SUFFIX = "-review"
COMMENT_TAG = "[conflict "


def review_project(project: str) -> str:
    """The review project's name for the annotation project ``project``."""
    return project + SUFFIX


def comment_text(conflict: Mapping[str, Any]) -> str:
    """One conflict as a doccano comment: what, where (code points) and every candidate with who drew it."""

    def who(names: Sequence[str]) -> str:
        return ", ".join(name.rsplit("/", 1)[-1] for name in names)

    lines = [f"{COMMENT_TAG}{conflict['id']}] {conflict['kind']} «{conflict['text']}» [{conflict['start']}, {conflict['end']})"]
    for candidate in conflict["candidates"]:
        mark = " (accepted)" if candidate.get("accepted") else ""
        if conflict["kind"] == "entity":
            lines.append(f"- {candidate['label']} «{candidate['text']}»: {who(candidate['annotators'])}{mark}")
        else:
            head, tail = candidate["head"], candidate["tail"]
            lines.append(
                f"- {candidate['label']}: «{head['text']}» ({head['label']}) → «{tail['text']}» ({tail['label']}): "
                f"{who(candidate['annotators'])}{mark}"
            )
    if conflict.get("without"):
        lines.append(f"- nothing: {who(conflict['without'])}")
    return "\n".join(lines)


@dataclass
class ReviewReport:
    project: str
    pushed: str = ""
    comments_added: int = 0
    comments_removed: int = 0
    written: list[str] = field(default_factory=list)
    records: int = 0

    def summary(self) -> str:
        if self.written or self.records:
            files = ", ".join(self.written) or "no file changed"
            return f"review project '{self.project}': {self.records} curated record(s) → {files}"
        return f"{self.pushed}; conflicts as comments: {self.comments_added} added, {self.comments_removed} removed"


def push_review(
    session: Session,
    *,
    project: str,
    documents: Sequence[Document],
    records: Mapping[str, AnnotationRecord],
    conflicts: Sequence[Mapping[str, Any]],
    schema: Any,
) -> ReviewReport:
    """The adjudicated ``records`` (doc_id → record) and their ``conflicts`` into the review ``project``."""
    from pipeline.doccano.push import push

    chosen = [d for d in documents if d.doc_id in records]
    pushed = push(session, project=project, documents=chosen, records=records, schema=schema)
    report = ReviewReport(project=project, pushed=pushed.summary())
    project_id = pushed.project_id
    wanted: dict[str, list[str]] = {}
    for conflict in conflicts:
        wanted.setdefault(str(conflict["doc_id"]), []).append(comment_text(conflict))
    me = session.username
    for example in session.list_examples(project_id):
        doc_id = (example.get("meta") or {}).get(convert.META_DOC_ID)
        if doc_id not in records:
            continue
        with session.api(f"read the comments of document {doc_id}"):
            existing = [
                c for c in session.client.list_comments(project_id, example["id"]) if c.username == me and c.text.startswith(COMMENT_TAG)
            ]
        texts = {c.text for c in existing}
        with session.api(f"update the conflict comments of document {doc_id}"):
            for comment in existing:
                if comment.text not in wanted.get(doc_id, []):
                    session.client.delete_comment(project_id, comment.id)
                    report.comments_removed += 1
            for text in wanted.get(doc_id, []):
                if text not in texts:
                    session.client.create_comment(project_id, example["id"], text)
                    report.comments_added += 1
    return report


def curated(
    record: Mapping[str, Any],
    curator: str,
    drawn: Mapping[tuple[int, int, str], Sequence[str]],
    related: Mapping[tuple[Any, ...], Sequence[str]],
    symmetric: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """The curator's pulled record as the adjudicated record: source ``adjudicated:<curator>``,
    ``agreed_by`` from the annotators (``drawn``/``related``: keyed as
    :func:`~pipeline.core.agreement.entity_keys` / :func:`~pipeline.core.agreement.relation_keys`
    key them, so a symmetric relation matches in either order and no other does)."""
    spans = {e["id"]: (e["start"], e["end"], e["label"]) for e in record["entities"]}
    entities = []
    for entity in record["entities"]:
        names = list(drawn.get((entity["start"], entity["end"], entity["label"]), ()))
        entities.append(entity | ({"agreed_by": names} if names else {}))
    relations = []
    for relation in record["relations"]:
        head, tail = spans.get(relation["head"]), spans.get(relation["tail"])
        if relation["label"] in symmetric and head is not None and tail is not None and tail < head:
            head, tail = tail, head
        names = list(related.get((head, tail, relation["label"]), ()))
        relations.append(relation | ({"agreed_by": names} if names else {}))
    return {
        "doc_id": record["doc_id"],
        "text_sha256": record["text_sha256"],
        "source": f"adjudicated:{curator}",
        "annotator": curator,
        "entities": entities,
        "relations": relations,
        "meta": record.get("meta", {}),
    }


def pull_review(
    session: Session,
    *,
    project: str,
    schema: Any,
    layer_dir: Path,
    default_file: Path,
    annotators: Sequence[AnnotationRecord],
    confirmed_only: bool = True,
    expected_sha: Mapping[str, str] | None = None,
) -> ReviewReport:
    """The curator's (the logged-in user's) labels of the review ``project`` as adjudicated records.

    Each record replaces the document's record in the file of ``layer_dir`` that holds it (else goes
    to ``default_file``); all files are written atomically or none.
    """
    from pipeline.doccano.pull import layer_path, pull, render

    curator = session.username
    with tempfile.TemporaryDirectory(prefix="doccano-review-") as folder:
        pulled = pull(
            session,
            project=project,
            schema=schema,
            out_dir=Path(folder),
            confirmed_only=confirmed_only,
            users=[curator],
            expected_sha=expected_sha,
        )
        path = layer_path(Path(folder), curator, project)
        lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []
    if pulled.skipped:
        raise DoccanoError(f"{len(pulled.skipped)} review example(s) could not be pulled, first: {pulled.skipped[0].format()}")
    drawn: dict[str, dict[tuple[int, int, str], list[str]]] = {}
    related: dict[str, dict[tuple[Any, ...], list[str]]] = {}
    symmetric = frozenset(r.name for r in schema.relation_types if r.symmetric)
    for record in sorted(annotators, key=lambda r: r.layer):
        annotator = annotator_of(record.layer)
        for key in sorted(entity_keys(record)):
            names = drawn.setdefault(record.doc_id, {}).setdefault(key, [])
            names.extend([annotator] if annotator not in names else [])
        for key in sorted(relation_keys(record, symmetric)):
            names = related.setdefault(record.doc_id, {}).setdefault(key, [])
            names.extend([annotator] if annotator not in names else [])
    files: dict[Path, dict[str, dict[str, Any]]] = {}
    home: dict[str, Path] = {}
    for file in sorted(layer_dir.glob("*.jsonl")) if layer_dir.is_dir() else []:
        files[file] = {}
        for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), start=1):
            if line.strip():
                data = json.loads(line)
                if data["doc_id"] in home:
                    raise DoccanoError(
                        f"{file}:{number}: {data['doc_id']}: the adjudicated layer already has this document in {home[data['doc_id']]}"
                    )
                files[file][data["doc_id"]] = data
                home[data["doc_id"]] = file
    report = ReviewReport(project=project)
    for line in lines:
        target = home.get(line["doc_id"], default_file)
        files.setdefault(target, {})[line["doc_id"]] = curated(
            line, curator, drawn.get(line["doc_id"], {}), related.get(line["doc_id"], {}), symmetric
        )
        report.records += 1
    outputs = {path: render(list(records.values())) for path, records in files.items()}
    changed = {path: data for path, data in outputs.items() if not path.exists() or path.read_bytes() != data}
    if changed:
        default_file.parent.mkdir(parents=True, exist_ok=True)
        atomic.write_all(changed, fsync=True)
    report.written = sorted(str(path) for path in changed)
    return report


# --------------------------------------------------------------------------- the command line's side


def push_command(session: Session, config: StageConfig, project: str | None, doc_patterns: Sequence[str] | None = None) -> ReviewReport:
    """``doccano push --review`` (``config``: the ``review`` view of the params): the adjudicated layer and ``review.conflicts`` into ``<project>-review``."""
    import fnmatch

    from pipeline.core.checks import DocumentInfo, check_record
    from pipeline.core.problems import Severity
    from pipeline.doccano.corpus import read_documents
    from pipeline.io.layers import read_layers
    from pipeline.io.schemas import load_json_schema, load_label_schema

    schema = load_label_schema(config.schemas.labels)
    layer_dir = config.annotate.annotations_dir / config.review.adjudicated_layer
    conflicts_path = config.review.conflicts
    if not layer_dir.is_dir() or not conflicts_path.is_file():
        raise DoccanoError(f"no adjudicated layer in {layer_dir} or no {conflicts_path}; run 'python -m pipeline adjudicate' first")
    records, problems = read_layers(layer_dir, load_json_schema(config.schemas.annotation))
    documents = [
        d for d in read_documents(config.ingest.out_dir) if not doc_patterns or any(fnmatch.fnmatchcase(d.doc_id, p) for p in doc_patterns)
    ]
    by_id = {d.doc_id: d for d in documents}
    chosen: dict[str, AnnotationRecord] = {}
    for record in records:
        if record.doc_id not in by_id:
            continue
        document = by_id[record.doc_id]
        info = DocumentInfo(document.doc_id, document.text, document.text_sha256, document.source, None)
        problems.extend(check_record(record, info, schema, Severity(config.validate.whitespace_spans)))
        if record.doc_id in chosen:
            raise DoccanoError(f"{record.path}:{record.line}: {record.doc_id}: the adjudicated layer has this document twice")
        chosen[record.doc_id] = record
    errors = [p for p in problems if p.severity is Severity.ERROR]
    if errors:
        raise DoccanoError(f"{len(errors)} problem(s) in the adjudicated layer, first: {errors[0].format()}; fix them or adjudicate again")
    conflicts = [json.loads(line) for line in conflicts_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return push_review(
        session,
        project=review_project(project or config.publish.dataset_name),
        documents=documents,
        records=chosen,
        conflicts=[c for c in conflicts if c.get("doc_id") in chosen],
        schema=schema,
    )


def pull_command(session: Session, config: StageConfig, project: str | None, confirmed_only: bool = True) -> ReviewReport:
    """``doccano pull --review``: the curator's labels of ``<project>-review`` become the adjudicated records."""
    from pipeline.doccano.corpus import expected_hashes, read_documents
    from pipeline.io.layers import read_matching_layers
    from pipeline.io.schemas import load_json_schema, load_label_schema

    schema = load_label_schema(config.schemas.labels)
    annotators, _ = read_matching_layers(
        config.annotate.annotations_dir, load_json_schema(config.schemas.annotation), config.agreement.layers
    )
    layer_dir = config.annotate.annotations_dir / config.review.adjudicated_layer
    return pull_review(
        session,
        project=review_project(project or config.publish.dataset_name),
        schema=schema,
        layer_dir=layer_dir,
        default_file=layer_dir / f"{config.publish.dataset_name}.jsonl",
        annotators=annotators,
        confirmed_only=confirmed_only,
        expected_sha=expected_hashes(read_documents(config.ingest.out_dir)),
    )
