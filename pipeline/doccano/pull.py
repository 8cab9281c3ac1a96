"""Pull annotators' work back from doccano as annotation layers (deterministic, atomic, see :func:`pull`).

One export per call (one file per project member), offsets back to code points, ids mapped back,
one layer file per user at ``<out>/annotators/<user>/<project>.jsonl``; files are only rewritten
when their bytes change, and nothing is written at all when any error occurs.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.doccano import convert
from pipeline.doccano.session import DoccanoError, Session
from pipeline.io import atomic


@dataclass
class PullReport:
    project: str
    project_id: int
    records: dict[str, int] = field(default_factory=dict)
    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[convert.Skipped] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        users = ", ".join(f"{user}: {n}" for user, n in sorted(self.records.items())) or "no user has annotations in scope"
        return (
            f"pulled doccano project '{self.project}' (id {self.project_id}): records per user {users}; "
            f"{len(self.written)} file(s) written, {len(self.unchanged)} unchanged, {len(self.skipped)} example(s) not imported "
            f"in {self.seconds:.1f} s"
        )


def project_slug(name: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.")
    return slug or "project"


def layer_path(out_dir: Path, username: str, project: str) -> Path:
    return out_dir / "annotators" / username / f"{project_slug(project)}.jsonl"


def render(records: Sequence[dict[str, Any]]) -> bytes:
    """The layer file: one record a line, sorted by doc_id, UTF-8, no timestamps."""
    ordered = sorted(records, key=lambda r: r["doc_id"])
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in ordered).encode("utf-8")


def pull(
    session: Session,
    *,
    project: str,
    schema: Any,
    out_dir: Path,
    confirmed_only: bool = True,
    users: Sequence[str] | None = None,
    expected_sha: Mapping[str, str] | None = None,
) -> PullReport:
    """Write each user's annotations as ``<out_dir>/annotators/<user>/<project>.jsonl``.

    ``confirmed_only``: only examples the user marked as confirmed (done); otherwise every example
    on which the user has a label or which they confirmed. All files are computed before any is
    written; on any error nothing is written.
    """
    started = time.monotonic()
    info = session.require_project(project)
    project_id = int(info["id"])
    if info.get("grapheme_mode"):
        raise DoccanoError(
            f"doccano project '{project}' counts offsets in grapheme clusters (grapheme mode on); switch it off in the project settings "
            "so that offsets are UTF-16 units, then pull again"
        )
    labels = convert.Labels.of(schema)
    for kind, allowed in (("span", labels.entities), ("relation", labels.relations)):
        extra = sorted(set(session.label_types(project_id, kind)) - allowed)
        if extra:
            raise DoccanoError(
                f"doccano project '{project}' has {kind} label '{extra[0]}' that is not in the label schema {schema.path}; "
                "rename or delete it in doccano (Labels page), or add it to the schema, then pull again"
            )
    exported = session.export(project_id, confirmed_only=confirmed_only)
    confirmed = exported if confirmed_only else session.export(project_id, confirmed_only=True)
    report = PullReport(project=project, project_id=project_id)
    unknown = sorted(set(users or ()) - set(exported))
    if unknown:
        raise DoccanoError(
            f"doccano project '{project}' has no member named '{unknown[0]}'; members: {', '.join(sorted(exported))}; check --user"
        )
    outputs: dict[Path, bytes] = {}
    for username in sorted(exported):
        if users and username not in users:
            continue
        if not re.fullmatch(r"[^\s:/\\]+", username) or username in (".", ".."):
            raise DoccanoError(f"doccano user name {username!r} cannot name a layer (no spaces, ':' or slashes); rename the user")
        done = {line["id"] for line in confirmed.get(username, [])}
        records = []
        for line in exported[username]:
            if not confirmed_only and line["id"] not in done and not line.get("entities") and not line.get("relations"):
                continue
            try:
                pulled = convert.from_doccano(line, username=username, project=project, labels=labels, expected_sha=expected_sha)
            except convert.UnknownLabelError as error:
                raise DoccanoError(
                    f"doccano project '{project}' holds {error}, not in the label schema {schema.path}; fix the label in doccano or the schema, then pull again"
                ) from None
            if pulled.skipped:
                report.skipped.append(pulled.skipped)
            elif pulled.record is not None:
                records.append(pulled.record)
        doc_ids = [r["doc_id"] for r in records]
        duplicates = sorted({d for d in doc_ids if doc_ids.count(d) > 1})
        if duplicates:
            raise DoccanoError(
                f"doccano project '{project}' has several examples for document {duplicates[0]}; delete the extra ones in doccano, then pull again"
            )
        report.records[username] = len(records)
        path = layer_path(out_dir, username, project)
        if records or path.exists():
            outputs[path] = render(records)
    write_changed(outputs, report)
    report.seconds = time.monotonic() - started
    return report


def write_changed(outputs: Mapping[Path, bytes], report: PullReport) -> None:
    """Write every changed file, all or none (:func:`pipeline.io.atomic.write_all`, flushed to disk);
    files whose bytes are already right stay untouched."""
    changed = {}
    for path, data in sorted(outputs.items()):
        if path.exists() and path.read_bytes() == data:
            report.unchanged.append(str(path))
        else:
            changed[path] = data
    atomic.write_all(changed, fsync=True)
    report.written.extend(str(path) for path in changed)
