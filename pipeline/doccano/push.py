"""Push documents and annotations to a doccano project (idempotent, see :func:`push`).

project: created once (SequenceLabeling, relations on, grapheme mode off so that offsets are
UTF-16 units as in the web editor, collaborative annotation off so that every user has their
own labels); label types: created from the label schema when missing; examples: documents not
yet in the project (matched by ``doc_id`` metadata) are uploaded in one UTF-8 JSONL import with
their annotations; documents already there are compared with what the pushing account holds
and, if different, its spans and relations are replaced (mirror mode) or, with
``suggestions``, only filled in where that account has none yet (never overwriting work).
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.core.spans import AnnotationRecord, Document
from pipeline.doccano import convert, shape
from pipeline.doccano.session import DoccanoError, Session

log = logging.getLogger(__name__)

PROJECT_TYPE = "SequenceLabeling"
TASK = "RelationExtraction"
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f")


@dataclass
class PushReport:
    project: str
    project_id: int
    project_created: bool = False
    settings_updated: list[str] = field(default_factory=list)
    labels_created: list[str] = field(default_factory=list)
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    kept: int = 0
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        parts = [f"{self.created} uploaded", f"{self.updated} updated", f"{self.unchanged} unchanged"]
        if self.kept:
            parts.append(f"{self.kept} kept (the account already has labels there)")
        return f"pushed to doccano project '{self.project}' (id {self.project_id}): " + ", ".join(parts) + f" in {self.seconds:.1f} s"


def project_settings(schema: Any) -> dict[str, Any]:
    """The project settings push enforces (the rest is the project admin's choice)."""
    return {
        "use_relation": True,
        "grapheme_mode": False,  # offsets in UTF-16 code units, like the web editor
        "collaborative_annotation": False,  # one label set per user: per-annotator layers
        "allow_overlapping": schema.overlap != "none",
    }


def guideline(schema: Any) -> str:
    """The project's guideline page: the label schema's definitions (docs/annotation-guidelines.md has the rules)."""
    lines = ["# Labels", "", "Full rules: docs/annotation-guidelines.md in the corpus repository.", "", "## Entities", ""]
    lines += [f"- **{name}**: {schema.descriptions[name]}" for name in schema.entity_types]
    lines += ["", "## Relations", ""]
    lines += [
        f"- **{r.name}** ({'/'.join(r.head)} → {'/'.join(r.tail)}{', symmetric' if r.symmetric else ''}): {r.description}"
        for r in schema.relation_types
    ]
    return "\n".join(lines)


def _ensure_project(session: Session, name: str, schema: Any, project: dict[str, Any] | None) -> tuple[dict[str, Any], bool, list[str]]:
    wanted = project_settings(schema)
    if project is None:
        with session.api(f"create project '{name}'", hint="creating projects needs a staff user; ask the doccano admin, or log in as one"):
            created = session.client.create_project(
                name=name,
                project_type=PROJECT_TYPE,
                description="German news entities and relations (pushed by python -m pipeline doccano push)",
                guideline=guideline(schema),
                **wanted,
            )
        log.info("created doccano project '%s' (id %d)", name, created.id)
        return {"id": created.id, "name": name, "project_type": PROJECT_TYPE, **wanted}, True, []
    kind = project.get("project_type") or project.get("resourcetype", "")
    if PROJECT_TYPE not in str(kind):
        raise DoccanoError(f"doccano project '{name}' is a {kind} project, not {PROJECT_TYPE}; choose another --project name")
    changed = {key: value for key, value in wanted.items() if project.get(key) != value}
    if (project.get("guideline") or "").strip() != guideline(schema).strip():
        changed["guideline"] = guideline(schema)
    if changed:
        with session.api(f"update the settings of project '{name}'"):
            session.client.update_project(project["id"], **changed)
        log.info("updated project settings: %s", ", ".join(sorted(changed)))
    return project, False, sorted(changed)


def _ensure_labels(
    session: Session, project_id: int, schema: Any, may_create: bool, warnings: list[str]
) -> tuple[dict[str, int], dict[str, int], list[str]]:
    created = []
    result = []
    for kind, names in (("span", list(schema.entity_types)), ("relation", list(schema.relation_names))):
        existing = session.label_types(project_id, kind)
        keys_used: set[str] = set()
        for index, label in enumerate(names):
            if label in existing:
                continue
            if not may_create:
                raise DoccanoError(
                    f"doccano project has no {kind} label '{label}'; a project admin must push once to create the labels from schemas/labels.yaml"
                )
            suffix = label[0].lower() if kind == "span" and label[0].isalpha() and label[0].lower() not in keys_used else None
            if suffix:
                keys_used.add(suffix)
            with session.api(f"create the {kind} label '{label}'"):
                made = session.client.create_label_type(project_id, kind, label, suffix_key=suffix, color=PALETTE[index % len(PALETTE)])  # type: ignore[arg-type]
            existing[label] = made.id
            created.append(f"{kind}:{label}")
        extra = sorted(set(existing) - set(names))
        if extra:
            warnings.append(
                f"the project has {kind} label(s) {extra} that are not in the label schema; pull will refuse them while they exist"
            )
        result.append(existing)
    return result[0], result[1], created


def push(
    session: Session,
    *,
    project: str,
    documents: Sequence[Document],
    records: Mapping[str, AnnotationRecord],
    schema: Any,
    suggestions: bool = False,
) -> PushReport:
    """Bring the project in line with ``documents`` and the chosen ``records`` (doc_id → record).

    Idempotent: a second push with the same input uploads nothing and changes no label.
    """
    started = time.monotonic()
    warnings: list[str] = []
    found = session.find_project(project)
    if found is None and not (session.me().get("is_staff") or session.me().get("is_superuser")):
        raise DoccanoError(
            f"doccano project '{project}' does not exist at {session.url} or user '{session.username}' is not a member; "
            "a doccano admin must push it first and add you as a member"
        )
    role = session.role(found["id"]) if found is not None else "project_admin"
    if role == "project_admin":
        project_info, created, changed = _ensure_project(session, project, schema, found)
        admin = True
    else:
        project_info, created, changed, admin = found, False, [], False
        if role is None:
            raise DoccanoError(f"user '{session.username}' is not a member of doccano project '{project}'; ask its admin to add you")
        if not suggestions:
            raise DoccanoError(
                f"user '{session.username}' is not an admin of doccano project '{project}': only a project admin can push documents "
                "and annotations (annotators may load pre-annotations into their own account with --as-suggestions)"
            )
    project_id = int(project_info["id"])
    report = PushReport(project=project, project_id=project_id, project_created=created, settings_updated=changed, warnings=warnings)
    span_ids, relation_ids, report.labels_created = _ensure_labels(session, project_id, schema, admin, warnings)

    # What the project holds: every example (by doc_id) and this account's labels on it.
    current: dict[str, dict[str, Any]] = {}
    if admin:
        exported = session.export(project_id, confirmed_only=False) if not created else {}
        lines = exported.get(session.username) or next(iter(exported.values()), [])
        own = session.username in exported
        for line in sorted(lines, key=lambda item: item["id"]):
            doc_id = line.get(convert.META_DOC_ID)
            if isinstance(doc_id, str):
                if doc_id in current:
                    warnings.append(
                        f"{doc_id}: several doccano examples carry this doc_id (ids {current[doc_id]['id']}, {line['id']}); the first is used"
                    )
                    continue
                current[doc_id] = line if own else {**line, "entities": [], "relations": []}
    else:
        for example in sorted(session.list_examples(project_id), key=lambda e: e["id"]):
            doc_id = (example.get("meta") or {}).get(convert.META_DOC_ID)
            if isinstance(doc_id, str) and doc_id not in current:
                current[doc_id] = {
                    "id": example["id"],
                    "text": example["text"],
                    **example.get("meta", {}),
                    "entities": None,
                    "relations": None,
                }

    new_lines: list[dict[str, Any]] = []
    changes: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for document in sorted(documents, key=lambda d: d.doc_id):
        try:
            line = convert.to_doccano(document.doc_id, document.text, records.get(document.doc_id))
        except convert.ConversionError as error:
            raise DoccanoError(f"cannot push {error}") from None
        existing = current.get(document.doc_id)
        if existing is None:
            new_lines.append(line)
            continue
        if existing.get("text") != document.text:
            warnings.append(
                f"{document.doc_id}: the text of doccano example {existing['id']} differs from the corpus text; not updated "
                "(its annotations would no longer fit; delete the example in doccano to push it anew)"
            )
            continue
        if existing.get("entities") is None:  # annotator: fetch own labels of this example only
            existing = dict(existing, **_own_labels(session, project_id, existing["id"], span_ids, relation_ids))
        have = convert.label_state(existing)
        want = convert.label_state(line)
        if suggestions:  # fill in only: never touch labels the account already has
            if have[0] or have[1]:
                report.kept += 1
                continue
            if not (want[0] or want[1]):
                report.unchanged += 1
                continue
        elif have == want and (not admin or existing.get(convert.META_IDS) == line[convert.META_IDS]):
            report.unchanged += 1
            continue
        changes.append((existing, line))

    if new_lines and not admin:
        # An annotator loads suggestions only into examples that exist: the admin may have pushed a subset.
        missing = [item[convert.META_DOC_ID] for item in new_lines]
        shown = ", ".join(missing[:20]) + (f", … ({len(missing) - 20} more)" if len(missing) > 20 else "")
        because = (
            f"{len(missing)} document(s) are not in doccano project '{project}': {shown}; no suggestions for them "
            f"(only a project admin can add documents: a project admin must push them first, e.g. with --documents)"
        )
        if len(missing) == len(documents):
            raise DoccanoError(because)
        warnings.append(because)
        new_lines = []
    if new_lines:
        _upload(session, project_id, new_lines)
        report.created = len(new_lines)
    for existing, line in changes:
        _replace_labels(session, project_id, existing, line, span_ids, relation_ids, update_meta=admin)
        report.updated += 1
    report.seconds = time.monotonic() - started
    return report


def _own_labels(
    session: Session, project_id: int, example_id: int, span_ids: Mapping[str, int], relation_ids: Mapping[str, int]
) -> dict[str, Any]:
    span_names = {v: k for k, v in span_ids.items()}
    relation_names = {v: k for k, v in relation_ids.items()}
    with session.api("read your labels"):
        spans = session.client.list_spans(project_id, example_id)
        relations = session.client.list_relations(project_id, example_id)
    return {
        "entities": [shape.entity(s.id, s.start_offset, s.end_offset, span_names.get(s.label, f"#{s.label}")) for s in spans],
        "relations": [shape.relation(r.id, r.from_id, r.to_id, relation_names.get(r.type, f"#{r.type}")) for r in relations],
    }


def _upload(session: Session, project_id: int, lines: Sequence[dict[str, Any]]) -> None:
    """One JSONL import of all new examples, decoded by doccano as UTF-8 (never guessed)."""
    for line in lines:
        if tuple(k for k in line if k not in ("text", "entities", "relations")) != convert.META_KEYS:
            raise DoccanoError(f"internal error: example {line.get('doc_id')} does not carry exactly the metadata keys {convert.META_KEYS}")
    before = _count(session, project_id)
    with tempfile.TemporaryDirectory(prefix="doccano-push-") as folder:
        path = Path(folder) / "push.jsonl"
        with open(path, "w", encoding="utf-8", newline="\n") as handle:
            for line in lines:
                handle.write(json.dumps(line, ensure_ascii=False) + "\n")
        repository = session.client._data_import_repository
        tasks = session.client._task_status_repository
        with session.api(f"import {len(lines)} document(s)", hint="the upload was rejected; see the doccano server log", long=True):
            upload_id = repository.upload(str(path))
            task_id = repository.ingest(project_id, [upload_id], TASK, "JSONL", encoding="utf_8")
            status = tasks.wait(task_id)
    errors = (status.result or {}).get("error") if isinstance(status.result, dict) else None
    if status.error or errors:
        first = (errors or [status.error])[0]
        message = first.get("message", first) if isinstance(first, dict) else first
        where = f" line {first.get('line')}" if isinstance(first, dict) and first.get("line") else ""
        raise DoccanoError(
            f"doccano rejected the upload ({len(errors or [1])} error(s), first at{where}: {' '.join(str(message).split())[:200]}); "
            "fix the documents or records named there and push again (examples already imported are found by doc_id and not duplicated)"
        )
    after = _count(session, project_id)
    if after - before != len(lines):
        raise DoccanoError(
            f"doccano imported {after - before} of {len(lines)} examples without reporting an error; check the server log and push again"
        )


def _count(session: Session, project_id: int) -> int:
    with session.api("count the examples"):
        return int(session.get(f"projects/{project_id}/examples", limit=1)["count"])


def _replace_labels(
    session: Session,
    project_id: int,
    existing: Mapping[str, Any],
    line: Mapping[str, Any],
    span_ids: Mapping[str, int],
    relation_ids: Mapping[str, int],
    *,
    update_meta: bool,
) -> None:
    """Replace this account's spans and relations on one example by those of ``line``."""
    example_id = int(existing["id"])
    with session.api(f"update the labels of document {line[convert.META_DOC_ID]}"):
        if existing.get("entities") or existing.get("relations"):
            session.client.delete_all_relations(project_id, example_id)
            session.client.delete_all_spans(project_id, example_id)
        made: dict[int, int] = {}
        for entity in line["entities"]:
            span = session.client.create_span(
                project_id, example_id, entity["start_offset"], entity["end_offset"], label=span_ids[entity["label"]]
            )
            made[entity["id"]] = span.id
        for relation in line["relations"]:
            session.client.create_relation(
                project_id, example_id, made[relation["from_id"]], made[relation["to_id"]], label=relation_ids[relation["type"]]
            )
        if update_meta:
            meta = {key: line[key] for key in convert.META_KEYS}
            from doccano_client.repositories.base import verbose_raise_for_status

            url = f"{session._base.api_url}/projects/{project_id}/examples/{example_id}"
            verbose_raise_for_status(session._base._session.patch(url, json={"meta": meta}))
