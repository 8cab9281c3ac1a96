"""Pull annotators' work back from doccano as annotation layers (deterministic, atomic, see :func:`pull`).

One export per call (one file per project member), offsets back to code points, ids mapped back,
one layer per user *and project*: ``<out>/annotators/<user>/<project>/<project>.jsonl`` (layer
``annotators/<user>/<project>``), so that one annotator working in several projects never gives a
layer two records of one document. A file of the earlier layout, ``annotators/<user>/<project>.jsonl``,
is moved into its folder by the next pull. Files are only rewritten when their bytes change.

Nothing an annotator did is lost without a word:

* a span whose offsets are no text positions (doccano's API accepts any integers, e.g. one that
  splits a surrogate pair) is reported as an error naming the span; the example's other
  annotations are written, and the pull exits non-zero;
* a document whose record the pull would drop (un-confirmed or deleted in doccano) or empty (every
  label removed) is refused, per document, unless ``allow_drop`` (then each one is a warning);
* any other error writes nothing at all.
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


class DropRefused(DoccanoError):
    """The pull would drop or empty existing records; ``problems`` has one line per document."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__(
            f"the pull would drop or empty {len(problems)} record(s) of the existing layers (listed above); nothing was written"
        )
        self.problems = list(problems)


@dataclass
class PullReport:
    project: str
    project_id: int
    records: dict[str, int] = field(default_factory=dict)
    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[convert.Skipped] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # spans not imported: the pull must exit non-zero
    dropped: list[str] = field(default_factory=list)  # records dropped or emptied with allow_drop
    moved: list[str] = field(default_factory=list)  # files of the earlier layout, moved into their folder
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        users = ", ".join(f"{user}: {n}" for user, n in sorted(self.records.items())) or "no user has annotations in scope"
        return (
            f"pulled doccano project '{self.project}' (id {self.project_id}): records per user {users}; "
            f"{len(self.written)} file(s) written, {len(self.unchanged)} unchanged, {len(self.skipped)} example(s) not imported"
            + (f", {len(self.errors)} span(s) not imported (errors above)" if self.errors else "")
            + f" in {self.seconds:.1f} s"
        )


def project_slug(name: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.")
    return slug or "project"


def layer_path(out_dir: Path, username: str, project: str) -> Path:
    """The layer file of one user's work in one project (layer ``annotators/<user>/<project>``)."""
    slug = project_slug(project)
    return out_dir / "annotators" / username / slug / f"{slug}.jsonl"


def earlier_layer_path(out_dir: Path, username: str, project: str) -> Path:
    """Where pulls before the per-project layers wrote the same file (layer ``annotators/<user>``)."""
    return out_dir / "annotators" / username / f"{project_slug(project)}.jsonl"


def _read_existing(path: Path) -> dict[str, dict[str, Any]]:
    """The records of a layer file this module wrote (doc_id → record); {} if there is none."""
    if not path.is_file():
        return {}
    records = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            record = json.loads(line)
            records[record["doc_id"]] = record
    return records


@dataclass(frozen=True)
class Loss:
    """A document whose existing record a pull would ``drop`` or ``empty``."""

    path: Path
    doc_id: str
    kind: str
    reason: str
    fix: str

    def refused(self) -> str:
        return f"{self.path}: {self.doc_id}: the pull would {self.kind} this record {self.reason}; {self.fix}"

    def allowed(self) -> str:
        done = "dropped" if self.kind == "drop" else "emptied"
        return f"{self.path}: {self.doc_id}: {done} this record (--allow-drop) {self.reason}"


def losses(
    path: Path,
    before: Mapping[str, dict[str, Any]],
    after: Sequence[dict[str, Any]],
    username: str,
    confirmed_only: bool,
    reported: frozenset[str] = frozenset(),
    skipped: Mapping[str, str] | None = None,
) -> list[Loss]:
    """Every document whose record the new layer would drop or empty (``reported``: documents whose
    bad spans are already errors, not counted again as emptied; ``skipped``: doc_id → why its
    example was not imported this time)."""
    skipped = skipped or {}
    now = {r["doc_id"]: r for r in after}
    scope = "confirmed examples" if confirmed_only else "examples with a label or a confirmation"
    found = []
    for doc_id, old in sorted(before.items()):
        example = (old.get("meta") or {}).get("doccano", {}).get("example_id")
        had = (len(old.get("entities") or []), len(old.get("relations") or []))
        new = now.get(doc_id)
        if new is None and doc_id in skipped:
            found.append(
                Loss(
                    path,
                    doc_id,
                    "drop",
                    f"({had[0]} entities, {had[1]} relations): its example was not imported this time ({skipped[doc_id]})",
                    "fix that in doccano or the corpus, or pull with --allow-drop to drop it",
                )
            )
        elif new is None:
            found.append(
                Loss(
                    path,
                    doc_id,
                    "drop",
                    f"({had[0]} entities, {had[1]} relations): example {example} is no longer among the {scope} of '{username}' "
                    f"(un-confirmed or deleted in doccano{', or the earlier pull used --all' if confirmed_only else ''})",
                    "confirm it again in doccano, or pull with --allow-drop to drop it",
                )
            )
        elif doc_id not in reported and any(had) and not new.get("entities") and not new.get("relations"):
            found.append(
                Loss(
                    path,
                    doc_id,
                    "empty",
                    f"({had[0]} entities, {had[1]} relations before, none now): '{username}' removed every label of example {example} in doccano",
                    "restore them there, or pull with --allow-drop to keep the empty record",
                )
            )
    return found


def padded_spans(record: Mapping[str, Any], username: str, project: str) -> list[str]:
    """Spans drawn with whitespace at an edge: validation refuses them, and the fix is in doccano."""
    example = record["meta"]["doccano"]["example_id"]
    return [
        f"{record['doc_id']}: example {example}: span {e['text']!r} ({e['label']}) of '{username}' has whitespace at its edge; "
        f"validation will report it (whitespace-span): fix the span in doccano (project '{project}') and pull again, "
        "not in the layer file (the next pull overwrites it)"
        for e in record["entities"]
        if e["text"] != e["text"].strip()
    ]


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
    allow_drop: bool = False,
) -> PullReport:
    """Write each user's annotations as ``<out_dir>/annotators/<user>/<project>/<project>.jsonl``.

    ``confirmed_only``: only examples the user marked as confirmed (done); otherwise every example
    on which the user has a label or which they confirmed. All files are computed before any is
    written; on any error nothing is written. Bad spans are in ``report.errors`` (the rest is
    written); records that would be dropped or emptied raise :class:`DropRefused` unless
    ``allow_drop`` (then they are in ``report.dropped``).
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
    moves: list[Path] = []
    lost: list[Loss] = []
    for username in sorted(exported):
        if users and username not in users:
            continue
        if not re.fullmatch(r"[^\s:/\\]+", username) or username in (".", ".."):
            raise DoccanoError(f"doccano user name {username!r} cannot name a layer (no spaces, ':' or slashes); rename the user")
        done = {line["id"] for line in confirmed.get(username, [])}
        records = []
        with_bad_spans: set[str] = set()
        not_imported: dict[str, str] = {}
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
                if pulled.skipped.doc_id is not None:
                    not_imported[pulled.skipped.doc_id] = pulled.skipped.kind
            elif pulled.record is not None:
                records.append(pulled.record)
                report.warnings.extend(padded_spans(pulled.record, username, project))
            report.errors.extend(bad.format(username, project) for bad in pulled.bad_spans)
            with_bad_spans.update(bad.doc_id for bad in pulled.bad_spans)
        doc_ids = [r["doc_id"] for r in records]
        duplicates = sorted({d for d in doc_ids if doc_ids.count(d) > 1})
        if duplicates:
            raise DoccanoError(
                f"doccano project '{project}' has several examples for document {duplicates[0]}; delete the extra ones in doccano, then pull again"
            )
        report.records[username] = len(records)
        path = layer_path(out_dir, username, project)
        earlier = earlier_layer_path(out_dir, username, project)
        before = _read_existing(path) if path.exists() else _read_existing(earlier)
        lost.extend(losses(path, before, records, username, confirmed_only, frozenset(with_bad_spans), not_imported))
        if earlier.is_file():
            moves.append(earlier)
        if records or path.exists() or earlier.exists():
            outputs[path] = render(records)
    if lost and not allow_drop:
        raise DropRefused([loss.refused() for loss in lost])
    report.dropped.extend(loss.allowed() for loss in lost)
    write_changed(outputs, report)
    for earlier in moves:  # its records now live in the per-project folder
        earlier.unlink()
        report.moved.append(str(earlier))
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
