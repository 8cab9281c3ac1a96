"""Push documents and annotations to doccano and pull annotators' work back: the I/O around convert.py.

Talks to doccano 1.8 through doccano-client 1.2.8 (its public calls where they suffice, its HTTP
session for the few endpoints it does not wrap well: paged lists with a page size, my-role). Every
failure becomes a :class:`DoccanoError` with a one-line message that names the cause and the fix;
credentials never appear in a message, a log line or a file.

Push (idempotent, see :func:`push`)
    project: created once (SequenceLabeling, relations on, grapheme mode off so that offsets are
    UTF-16 units as in the web editor, collaborative annotation off so that every user has their
    own labels); label types: created from the label schema when missing; examples: documents not
    yet in the project (matched by ``doc_id`` metadata) are uploaded in one UTF-8 JSONL import with
    their annotations; documents already there are compared with what the pushing account holds
    and, if different, its spans and relations are replaced (mirror mode) or, with
    ``suggestions``, only filled in where that account has none yet (never overwriting work).

Pull (deterministic, atomic, see :func:`pull`)
    one export per call (one file per project member), offsets back to code points, ids mapped
    back, one layer file per user at ``<out>/annotators/<user>/<project>.jsonl``; files are only
    rewritten when their bytes change, and nothing is written at all when any error occurs.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import netrc
import os
import re
import tempfile
import time
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from pipeline.doccano import convert
from pipeline.core.spans import AnnotationRecord, Document

log = logging.getLogger(__name__)

URL_ENV = "DOCCANO_URL"
USER_ENV = "DOCCANO_USER"
PASSWORD_ENV = "DOCCANO_PASSWORD"
ADMIN_USER_ENV = "DOCCANO_ADMIN_USER"
ADMIN_PASSWORD_ENV = "DOCCANO_ADMIN_PASSWORD"
NETRC_ENV = "NETRC"

PROJECT_TYPE = "SequenceLabeling"
TASK = "RelationExtraction"
PAGE = 500
CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 900.0  # imports run inside the request (eager celery): allow big files
START_HINT = "start it with 'make doccano-start' (or 'python -m pipeline doccano server start'), or set DOCCANO_URL"
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f")


class DoccanoError(RuntimeError):
    """A failure talking to doccano; ``str()`` is the one-line message shown to the user."""


# --------------------------------------------------------------------------- settings and credentials


def default_url() -> str:
    """``$DOCCANO_URL``, else the local managed server's URL (``$DOCCANO_PORT`` or 8765)."""
    url = os.environ.get(URL_ENV, "").strip()
    if url:
        return url.rstrip("/")
    from pipeline.doccano import server as srv

    try:
        return srv.ServerConfig().url
    except srv.DoccanoServerError as error:
        raise DoccanoError(str(error)) from None


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str = field(repr=False)
    origin: str  # where they came from, for messages: never the values themselves

    def __str__(self) -> str:
        return f"{self.username} (from {self.origin})"


def resolve_credentials(url: str, environ: Mapping[str, str] | None = None) -> Credentials:
    """From ``DOCCANO_USER``/``DOCCANO_PASSWORD``, else the admin variables, else a netrc entry."""
    environ = os.environ if environ is None else environ
    for user_var, password_var in ((USER_ENV, PASSWORD_ENV), (ADMIN_USER_ENV, ADMIN_PASSWORD_ENV)):
        user, password = environ.get(user_var, ""), environ.get(password_var, "")
        if user and password:
            return Credentials(user, password, f"{user_var}/{password_var}")
        if user or password:
            missing = password_var if user else user_var
            present = user_var if user else password_var
            raise DoccanoError(f"{present} is set but {missing} is not; set both in the environment")
    host = urlparse(url).hostname or ""
    path = Path(environ.get(NETRC_ENV) or Path.home() / ".netrc").expanduser()
    if path.is_file():
        try:
            entry = netrc.netrc(str(path)).authenticators(host)
        except (netrc.NetrcParseError, OSError) as error:
            line = getattr(error, "lineno", None)
            raise DoccanoError(f"cannot read the netrc file {path}{f' (line {line})' if line else ''}; fix its syntax or set {USER_ENV} and {PASSWORD_ENV}") from None
        if entry and entry[0] and entry[2]:
            return Credentials(entry[0], entry[2], f"netrc {path}")
    raise DoccanoError(
        f"no doccano credentials: set {USER_ENV} and {PASSWORD_ENV} (or {ADMIN_USER_ENV} and {ADMIN_PASSWORD_ENV}) "
        f"in the environment, or add 'machine {host or 'HOST'} login USER password PASSWORD' to the netrc file {path}"
    )


# --------------------------------------------------------------------------- the session


def _detail(response: Any) -> str:
    try:
        data = response.json()
    except ValueError:
        data = (response.text or "").strip()
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    text = " ".join(text.split())
    return text[:200] + ("…" if len(text) > 200 else "")


class Session:
    """A logged-in doccano client whose calls fail with one-line :class:`DoccanoError` messages."""

    def __init__(self, url: str, credentials: Credentials) -> None:
        from doccano_client import DoccanoClient

        self.url = url.rstrip("/")
        self.username = credentials.username
        self.client = DoccanoClient(self.url)
        self._base = self.client._base_repository  # the shared requests session (pinned client 1.2.8)
        session = self._base._session
        session.request = functools.partial(session.request, timeout=(CONNECT_TIMEOUT_S, READ_TIMEOUT_S))  # type: ignore[method-assign]
        self._login(credentials)
        self._me: dict[str, Any] | None = None

    @contextlib.contextmanager
    def api(self, what: str, hint: str = "") -> Iterator[None]:
        """Translate connection and HTTP errors of the calls inside into a :class:`DoccanoError`."""
        import requests
        from doccano_client.exceptions import DoccanoAPIError

        try:
            yield
        except DoccanoAPIError as error:
            response = error.response
            status = response.status_code if response is not None else "?"
            detail = _detail(response) if response is not None else str(error)
            if not hint:
                hint = {
                    403: f"user '{self.username}' lacks the rights for this (a project admin or a staff user is needed)",
                    404: "it does not exist (any more)",
                }.get(status, "see the doccano server log")
            raise DoccanoError(f"doccano refused to {what} (HTTP {status}: {detail}); {hint}") from None
        except requests.exceptions.ConnectionError as error:
            reason = "connection refused" if "refused" in str(error).lower() else type(error).__name__
            raise DoccanoError(f"cannot reach doccano at {self.url} ({reason}); {START_HINT}") from None
        except requests.exceptions.Timeout:
            raise DoccanoError(f"doccano at {self.url} did not answer in time while trying to {what}; check the server log") from None
        except requests.exceptions.RequestException as error:
            raise DoccanoError(f"cannot talk to doccano at {self.url} ({type(error).__name__}); {START_HINT}") from None

    def _login(self, credentials: Credentials) -> None:
        from doccano_client.exceptions import DoccanoAPIError

        with self.api("log in"):
            try:
                self.client.login(username=credentials.username, password=credentials.password)
            except DoccanoAPIError as error:
                status = error.response.status_code if error.response is not None else None
                if status in (400, 401, 403):
                    raise DoccanoError(
                        f"doccano at {self.url} rejected the login of user '{credentials.username}' (wrong user name or password); "
                        f"check the credentials from {credentials.origin}"
                    ) from None
                raise

    # -- small HTTP helpers --------------------------------------------------------------------
    def get(self, resource: str, **params: Any) -> Any:
        return self._base.get(resource, params=params or None).json()

    def paged(self, resource: str, **params: Any) -> Iterator[dict[str, Any]]:
        offset = 0
        while True:
            page = self.get(resource, limit=PAGE, offset=offset, **params)
            yield from page["results"]
            offset += len(page["results"])
            if not page.get("next") or not page["results"]:
                return

    def me(self) -> dict[str, Any]:
        if self._me is None:
            with self.api("read the logged-in user"):
                self._me = self.get("me")
        return self._me

    # -- projects --------------------------------------------------------------------------------
    def find_project(self, name: str) -> dict[str, Any] | None:
        with self.api("list projects"):
            found = [p for p in self.paged("projects") if p.get("name") == name]
        if len(found) > 1:
            ids = ", ".join(str(p["id"]) for p in found)
            raise DoccanoError(f"several doccano projects are named '{name}' (ids {ids}); rename all but one in doccano")
        return found[0] if found else None

    def require_project(self, name: str) -> dict[str, Any]:
        project = self.find_project(name)
        if project is None:
            raise DoccanoError(
                f"doccano project '{name}' does not exist at {self.url} (or user '{self.username}' is not a member); "
                f"create it with 'python -m pipeline doccano push --project {quote(name)}', or check --project"
            )
        return project

    def role(self, project_id: int) -> str | None:
        if self.me().get("is_superuser"):
            return "project_admin"
        with self.api("read your role in the project"):
            try:
                return self.get(f"projects/{project_id}/my-role").get("rolename")
            except Exception as error:  # 404: not a member
                from doccano_client.exceptions import DoccanoAPIError

                if isinstance(error, DoccanoAPIError) and error.response is not None and error.response.status_code == 404:
                    return None
                raise

    def label_types(self, project_id: int, kind: str) -> dict[str, int]:
        with self.api(f"list the {kind} labels"):
            return {t.text: t.id for t in self.client.list_label_types(project_id, kind)}  # type: ignore[arg-type]

    def export(self, project_id: int, confirmed_only: bool) -> dict[str, list[dict[str, Any]]]:
        """One export of the project: username → that user's lines (each example, own labels only)."""
        with self.api("export the project", hint=f"exporting needs the project_admin role; pull with a project admin's credentials"):
            with tempfile.TemporaryDirectory(prefix="doccano-export-") as folder:
                path = self.client.download(project_id, "JSONL", only_approved=confirmed_only, dir_name=folder)
                with zipfile.ZipFile(path) as archive:
                    result = {}
                    for name in sorted(archive.namelist()):
                        if not name.endswith(".jsonl"):
                            continue
                        raw = archive.read(name).decode("utf-8")
                        result[Path(name).stem] = [json.loads(line) for line in raw.splitlines() if line.strip()]
        return result

    def list_examples(self, project_id: int) -> list[dict[str, Any]]:
        with self.api("list the examples"):
            return list(self.paged(f"projects/{project_id}/examples"))


def quote(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z0-9_.:/-]+", name) else "'" + name.replace("'", "'\\''") + "'"


def connect(url: str | None = None, credentials: Credentials | None = None) -> Session:
    """A logged-in session from the environment (or the given URL and credentials)."""
    url = url or default_url()
    return Session(url, credentials or resolve_credentials(url))


# --------------------------------------------------------------------------- push


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
    lines += [f"- **{r.name}** ({'/'.join(r.head)} → {'/'.join(r.tail)}{', symmetric' if r.symmetric else ''}): {r.description}" for r in schema.relation_types]
    return "\n".join(lines)


def _ensure_project(session: Session, name: str, schema: Any, project: dict[str, Any] | None) -> tuple[dict[str, Any], bool, list[str]]:
    wanted = project_settings(schema)
    if project is None:
        with session.api(f"create project '{name}'", hint=f"creating projects needs a staff user; ask the doccano admin, or log in as one"):
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


def _ensure_labels(session: Session, project_id: int, schema: Any, may_create: bool, warnings: list[str]) -> tuple[dict[str, int], dict[str, int], list[str]]:
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
            warnings.append(f"the project has {kind} label(s) {extra} that are not in the label schema; pull will refuse them while they exist")
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
        for line in sorted(lines, key=lambda l: l["id"]):
            doc_id = line.get(convert.META_DOC_ID)
            if isinstance(doc_id, str):
                if doc_id in current:
                    warnings.append(f"{doc_id}: several doccano examples carry this doc_id (ids {current[doc_id]['id']}, {line['id']}); the first is used")
                    continue
                current[doc_id] = line if own else {**line, "entities": [], "relations": []}
    else:
        for example in sorted(session.list_examples(project_id), key=lambda e: e["id"]):
            doc_id = (example.get("meta") or {}).get(convert.META_DOC_ID)
            if isinstance(doc_id, str) and doc_id not in current:
                current[doc_id] = {"id": example["id"], "text": example["text"], **example.get("meta", {}), "entities": None, "relations": None}

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

    if new_lines:
        if not admin:
            missing = ", ".join(l[convert.META_DOC_ID] for l in new_lines[:3])
            raise DoccanoError(
                f"{len(new_lines)} document(s) are not in doccano project '{project}' yet (e.g. {missing}); a project admin must push them first"
            )
        _upload(session, project_id, new_lines)
        report.created = len(new_lines)
    for existing, line in changes:
        _replace_labels(session, project_id, existing, line, span_ids, relation_ids, update_meta=admin)
        report.updated += 1
    report.seconds = time.monotonic() - started
    return report


def _own_labels(session: Session, project_id: int, example_id: int, span_ids: Mapping[str, int], relation_ids: Mapping[str, int]) -> dict[str, Any]:
    span_names = {v: k for k, v in span_ids.items()}
    relation_names = {v: k for k, v in relation_ids.items()}
    with session.api("read your labels"):
        spans = session.client.list_spans(project_id, example_id)
        relations = session.client.list_relations(project_id, example_id)
    return {
        "entities": [{"id": s.id, "start_offset": s.start_offset, "end_offset": s.end_offset, "label": span_names.get(s.label, f"#{s.label}")} for s in spans],
        "relations": [{"id": r.id, "from_id": r.from_id, "to_id": r.to_id, "type": relation_names.get(r.type, f"#{r.type}")} for r in relations],
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
        with session.api("accept the upload", hint="the upload was rejected; see the doccano server log"):
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
            span = session.client.create_span(project_id, example_id, entity["start_offset"], entity["end_offset"], label=span_ids[entity["label"]])
            made[entity["id"]] = span.id
        for relation in line["relations"]:
            session.client.create_relation(project_id, example_id, made[relation["from_id"]], made[relation["to_id"]], label=relation_ids[relation["type"]])
        if update_meta:
            meta = {key: line[key] for key in convert.META_KEYS}
            from doccano_client.repositories.base import verbose_raise_for_status

            url = f"{session._base.api_url}/projects/{project_id}/examples/{example_id}"
            verbose_raise_for_status(session._base._session.patch(url, json={"meta": meta}))


# --------------------------------------------------------------------------- pull


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
        raise DoccanoError(f"doccano project '{project}' has no member named '{unknown[0]}'; members: {', '.join(sorted(exported))}; check --user")
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
            raise DoccanoError(f"doccano project '{project}' has several examples for document {duplicates[0]}; delete the extra ones in doccano, then pull again")
        report.records[username] = len(records)
        path = layer_path(out_dir, username, project)
        if records or path.exists():
            outputs[path] = render(records)
    write_atomically(outputs, report)
    report.seconds = time.monotonic() - started
    return report


def write_atomically(outputs: Mapping[Path, bytes], report: PullReport) -> None:
    """Write every changed file through a temporary file and a rename; unchanged files stay untouched."""
    staged: list[tuple[Path, Path]] = []
    try:
        for path, data in sorted(outputs.items()):
            if path.exists() and path.read_bytes() == data:
                report.unchanged.append(str(path))
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            staged.append((Path(temp), path))
    except BaseException:
        for temp, _ in staged:
            temp.unlink(missing_ok=True)
        raise
    for temp, path in staged:
        os.replace(temp, path)
        report.written.append(str(path))


# --------------------------------------------------------------------------- reading the corpus side


def read_documents(ingest_dir: Path, published_documents: Path | None = None) -> list[Document]:
    """The ingested documents (ingest's ``documents`` tables), else the published ones."""
    import pyarrow.parquet as pq

    from pipeline.stages.ingest import read_documents as read_interim

    columns = ["doc_id", "text", "source"]
    table = read_interim(ingest_dir, columns=columns)
    if table.num_rows == 0 and (ingest_dir / "documents.parquet").is_file():  # the layout before sharding
        table = pq.read_table(ingest_dir / "documents.parquet", columns=columns)
    if table.num_rows == 0 and published_documents is not None and any(published_documents.glob("*.parquet")):
        table = pq.read_table(published_documents, columns=columns)
    if table.num_rows == 0:
        raise DoccanoError(f"no ingested documents in {ingest_dir}; run 'dvc repro' (or 'python -m pipeline ingest') first")
    return [Document(doc_id=row["doc_id"], text=row["text"], source=row["source"]) for row in table.to_pylist()]


def expected_hashes(documents: Sequence[Document]) -> dict[str, str]:
    return {d.doc_id: d.text_sha256 for d in documents}
