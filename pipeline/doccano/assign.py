"""Documents spread over a team of annotators, and each annotator's progress (see :func:`assign`, :func:`status`).

doccano 1.8.4 has no example assignment: its ``Assignment`` model and ``assignments`` API came to
doccano's main branch after the 1.8.4 release (migration ``examples/0008_assignment``, July 2023; the
installed server has migrations up to ``0007_example_score`` and no such route). In 1.8.4 every
member of a project sees every example. So each annotator gets a project of their own,
``<project>@<user>``, holding exactly the documents assigned to them, with them as its only
annotator member; the admin who assigns is the project admin. Pull, suggestions and status then
work per project, and the layers are ``annotators/<user>/<project>-<user>``.

The plan (:func:`plan`) is pure and deterministic: documents are ordered by ``sha256(doc_id)``; the
first ``round(overlap * n)`` of them go to ``overlap_with`` annotators (2, or all) for agreement,
the rest to one each; every document goes to the annotators with the fewest documents so far (ties:
the order of ``--annotators``), so the load is balanced. Documents already in an annotator's
project stay there: running ``assign`` again after new documents were ingested assigns only those.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pipeline.core.spans import Document
from pipeline.doccano.push import PushReport, push
from pipeline.doccano.session import DoccanoError, Session, quote

SEPARATOR = "@"


def annotator_project(project: str, username: str) -> str:
    """The doccano project of one annotator's share of ``project``."""
    return f"{project}{SEPARATOR}{username}"


def _order(doc_id: str) -> str:
    return hashlib.sha256(doc_id.encode("utf-8")).hexdigest()


def plan(
    doc_ids: Sequence[str],
    annotators: Sequence[str],
    overlap: float,
    overlap_with: int,
    existing: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, list[str]]:
    """doc_id → its annotators (in ``annotators`` order), for the documents not yet in ``existing``
    (annotator → doc_ids already assigned, which count towards the balance)."""
    if not annotators:
        raise ValueError("no annotators given")
    if len(set(annotators)) != len(annotators):
        raise ValueError(f"an annotator is named twice in {list(annotators)}")
    if not 0.0 <= overlap <= 1.0:
        raise ValueError(f"overlap {overlap} is not a fraction between 0 and 1")
    if not 2 <= overlap_with <= len(annotators) and overlap > 0:
        raise ValueError(f"overlap documents need 2 to {len(annotators)} annotators, not {overlap_with}")
    existing = existing or {}
    load = {name: len(existing.get(name, ())) for name in annotators}
    taken = {doc_id for docs in existing.values() for doc_id in docs}
    new = sorted((d for d in set(doc_ids) if d not in taken), key=lambda d: (_order(d), d))
    n_overlap = round(overlap * len(new)) if len(annotators) > 1 else 0
    rank = {name: index for index, name in enumerate(annotators)}
    result: dict[str, list[str]] = {}
    for index, doc_id in enumerate(new):
        k = overlap_with if index < n_overlap else 1
        chosen = sorted(annotators, key=lambda name: (load[name], rank[name]))[:k]
        for name in chosen:
            load[name] += 1
        result[doc_id] = sorted(chosen, key=rank.__getitem__)
    return result


@dataclass
class AssignReport:
    project: str
    assigned: dict[str, list[str]] = field(default_factory=dict)  # annotator → doc_ids added now
    totals: dict[str, int] = field(default_factory=dict)  # annotator → documents in their project
    overlap_documents: int = 0
    pushes: list[PushReport] = field(default_factory=list)

    def summary(self) -> str:
        parts = [
            f"{name}: +{len(self.assigned.get(name, []))} (total {self.totals.get(name, 0)}) in '{annotator_project(self.project, name)}'"
            for name in self.totals
        ]
        return (
            f"assigned documents of '{self.project}': "
            + "; ".join(parts)
            + f"; {self.overlap_documents} new document(s) to several annotators"
        )


def _project_doc_ids(session: Session, name: str) -> list[str] | None:
    info = session.find_project(name)
    if info is None:
        return None
    return sorted({(e.get("meta") or {}).get("doc_id") for e in session.list_examples(int(info["id"]))} - {None})


def _users(session: Session) -> set[str]:
    with session.api("list the users", hint="listing users needs a staff user; assign with the doccano admin's credentials"):
        found = session.get("users")  # a plain list in doccano 1.8 (no paging)
    return {user["username"] for user in (found["results"] if isinstance(found, dict) else found)}


def _ensure_member(session: Session, project_id: int, username: str) -> None:
    with session.api(f"list the members of project {project_id}"):
        members = {m.username: m for m in session.client.list_members(project_id)}
    if username in members:
        return
    with session.api(f"add '{username}' as annotator of project {project_id}"):
        session.client.add_member(project_id, username, "annotator")


def assign(
    session: Session,
    *,
    project: str,
    annotators: Sequence[str],
    documents: Sequence[Document],
    schema: Any,
    overlap: float,
    overlap_with: int | None = None,
) -> AssignReport:
    """Give every document to one annotator (``overlap`` of them to ``overlap_with``, default 2;
    ``len(annotators)`` for all), each in their own project ``<project>@<user>``; idempotent."""
    if not (session.me().get("is_staff") or session.me().get("is_superuser")):
        raise DoccanoError(f"user '{session.username}' is not a doccano staff user; assign with the doccano admin's credentials")
    known = _users(session)
    missing = [name for name in annotators if name not in known]
    if missing:
        raise DoccanoError(
            f"doccano at {session.url} has no user {', '.join(repr(m) for m in missing)}; create the account(s) first "
            "(Admin page, or client.create_user: see docs/doccano.md, 'Team workflow'), then assign again"
        )
    k = 2 if overlap_with is None else overlap_with
    existing = {name: _project_doc_ids(session, annotator_project(project, name)) or [] for name in annotators}
    try:
        planned = plan([d.doc_id for d in documents], annotators, overlap, min(k, len(annotators)), existing)
    except ValueError as error:
        raise DoccanoError(f"cannot assign: {error}") from None
    by_id = {d.doc_id: d for d in documents}
    report = AssignReport(project=project, overlap_documents=sum(len(names) > 1 for names in planned.values()))
    for name in annotators:
        added = sorted(doc_id for doc_id, names in planned.items() if name in names)
        report.assigned[name] = added
        wanted = sorted(set(existing[name]) | set(added))
        docs = [by_id[d] for d in wanted if d in by_id]
        name_of_project = annotator_project(project, name)
        pushed = push(session, project=name_of_project, documents=docs, records={}, schema=schema)
        report.pushes.append(pushed)
        _ensure_member(session, pushed.project_id, name)
        report.totals[name] = len(wanted)
    return report


# --------------------------------------------------------------------------- progress


@dataclass(frozen=True)
class Progress:
    project: str
    annotator: str
    assigned: int
    labelled: int
    confirmed: int

    def format(self) -> str:
        return (
            f"{self.annotator}: {self.assigned} assigned, {self.labelled} labelled, {self.confirmed} confirmed (project '{self.project}')"
        )


def team_projects(session: Session, project: str) -> list[dict[str, Any]]:
    """``project`` itself (if it exists) and every ``project@<user>`` project."""
    with session.api("list projects"):
        found = [p for p in session.paged("projects") if p.get("name") == project or str(p.get("name", "")).startswith(project + SEPARATOR)]
    if not found:
        raise DoccanoError(
            f"doccano project '{project}' does not exist at {session.url}, nor any '{project}{SEPARATOR}<user>' project; "
            f"create them with 'python -m pipeline doccano assign --project {quote(project)} --annotators …', or check --project"
        )
    return sorted(found, key=lambda p: p["name"])


def status(session: Session, project: str) -> list[Progress]:
    """Per annotator and project: documents assigned (examples in the project), labelled (with at
    least one of their spans or relations), confirmed (marked done by them). Needs a project admin."""
    result = []
    for info in team_projects(session, project):
        project_id = int(info["id"])
        with session.api(f"list the members of project '{info['name']}'"):
            members = [m for m in session.client.list_members(project_id) if str(m.rolename) == "annotator"]
        names = {m.username for m in members}
        if info["name"] != project:
            names = {info["name"][len(project) + 1 :]} & names or names
        everything = session.export(project_id, confirmed_only=False)
        confirmed = session.export(project_id, confirmed_only=True)
        for name in sorted(names):
            lines = everything.get(name, [])
            labelled = sum(1 for line in lines if line.get("entities") or line.get("relations"))
            result.append(Progress(info["name"], name, len(lines), labelled, len(confirmed.get(name, []))))
    return result
