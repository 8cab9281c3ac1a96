"""Command line for doccano: ``python -m pipeline doccano server start|stop|status|env`` and
``python -m pipeline doccano push|pull|assign|status``.

Also runnable on its own: ``python -m pipeline.doccano.cli server start``.
Credentials for push and pull come only from the environment (``DOCCANO_USER``/``DOCCANO_PASSWORD``,
else ``DOCCANO_ADMIN_USER``/``DOCCANO_ADMIN_PASSWORD``) or a netrc entry; the URL from ``DOCCANO_URL``
(default: the local server, ``http://127.0.0.1:$DOCCANO_PORT``).
This module is over 400 lines: one typer command per doccano action with its documented options;
the work itself is in the modules they call.
"""

from __future__ import annotations

import fnmatch
import logging
from pathlib import Path
from typing import Annotated, Any

import typer

from pipeline.config import DEFAULT_PARAMS, StageConfig, load_config
from pipeline.doccano import server as srv
from pipeline.doccano.server_config import DEFAULT_PORT, PORT_ENV, SERVER_DIR_ENV, DoccanoServerError, ServerConfig
from pipeline.doccano.server_env import ensure_env

# Never show local variables in a traceback: a password may be among them.
app = typer.Typer(
    no_args_is_help=True, help="Local doccano annotation server; push and pull annotations.", pretty_exceptions_show_locals=False
)
server_app = typer.Typer(no_args_is_help=True, help="Install, start, stop the local doccano server (127.0.0.1 only).")
app.add_typer(server_app, name="server")

PortOption = Annotated[
    int | None,
    typer.Option("--port", "-p", help=f"Port on 127.0.0.1 (default ${PORT_ENV} or {DEFAULT_PORT})."),
]
HomeOption = Annotated[
    Path | None,
    typer.Option("--home", help=f"Server directory (default ${SERVER_DIR_ENV} or <repo>/.doccano)."),
]


def _config(port: int | None, home: Path | None) -> ServerConfig:
    kwargs: dict[str, object] = {}
    if port is not None:
        kwargs["port"] = port
    if home is not None:
        kwargs["home"] = home
    return ServerConfig(**kwargs)  # type: ignore[arg-type]


def _setup_logging() -> None:
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")


def _fail(err: Exception) -> typer.Exit:
    typer.echo(f"error: {err}", err=True)
    return typer.Exit(code=1)


@server_app.command("env")
def env_cmd(home: HomeOption = None) -> None:
    """Create or update the server's own virtual environment (idempotent)."""
    _setup_logging()
    try:
        config = _config(None, home)
        typer.echo(ensure_env(config))
    except DoccanoServerError as err:
        raise _fail(err) from None


@server_app.command("start")
def start_cmd(port: PortOption = None, home: HomeOption = None) -> None:
    """Install if needed, initialise on first use, start, and print the URL (idempotent)."""
    _setup_logging()
    try:
        config = _config(port, home)
        config.require_credentials()
        ensure_env(config)
        typer.echo(srv.start(config))
    except DoccanoServerError as err:
        raise _fail(err) from None


@server_app.command("stop")
def stop_cmd(port: PortOption = None, home: HomeOption = None) -> None:
    """Stop the server started from the server directory (idempotent)."""
    _setup_logging()
    try:
        srv.stop(_config(port, home))
    except DoccanoServerError as err:
        raise _fail(err) from None


@server_app.command("status")
def status_cmd(port: PortOption = None, home: HomeOption = None) -> None:
    """Print the URL if the server answers; exit 1 if it does not."""
    try:
        state = srv.status(_config(port, home))
    except DoccanoServerError as err:
        raise _fail(err) from None
    if state.running:
        typer.echo(state.url)
    else:
        typer.echo(f"not running ({state.url})", err=True)
        raise typer.Exit(code=1)


# --------------------------------------------------------------------------- push / pull

ParamsOption = Annotated[Path, typer.Option("--params", help="The params file (paths of the corpus and the schemas).")]
ProjectOption = Annotated[
    str | None, typer.Option("--project", help="doccano project name (default: publish.dataset_name from params.yaml).")
]


class UsageError(Exception):
    """A problem on our side of push/pull (params, layers, documents): one line for the user."""


def _stage_config(path: Path, section: str = "doccano") -> StageConfig:
    """What push and pull read of the params file (``READS["doccano"]``, or ``READS["review"]`` for
    ``--review``); a bad value is named as the config names it."""
    try:
        return load_config(path).for_stage(section)
    except OSError as error:
        raise UsageError(
            f"cannot read {path} ({error.strerror or type(error).__name__}); run from the repository root or pass --params"
        ) from None
    except ValueError as error:
        raise UsageError(str(error)) from None


def _project(config: StageConfig, project: str | None) -> str:
    return project or config.publish.dataset_name


def _warn(message: str) -> None:
    typer.echo(f"warning: {message}", err=True)


def select_documents(documents: list[Any], patterns: list[str] | None) -> list[Any]:
    if not patterns:
        return documents
    chosen = [d for d in documents if any(fnmatch.fnmatchcase(d.doc_id, p) for p in patterns)]
    if not chosen:
        raise UsageError(f"no document id matches --documents {' '.join(patterns)} ({len(documents)} documents ingested)")
    return chosen


def load_records(config: StageConfig, layers: list[str], documents: list[Any], schema: Any) -> dict[str, Any]:
    """doc_id → the record to push: from the layers matching ``layers``, chosen by annotate.layer_priority,
    each checked against its document and the label schema (an error stops the push)."""
    from pipeline.core.checks import DocumentInfo, check_record
    from pipeline.core.problems import Severity
    from pipeline.core.selection import select_records
    from pipeline.io.layers import layer_name, read_layers
    from pipeline.io.schemas import load_json_schema

    validator = load_json_schema(config.schemas.annotation)
    folders = [config.annotate.annotations_dir, config.preannotate.out_dir]
    records, problems = [], []
    for folder in folders:
        found, found_problems = read_layers(folder, validator)
        records.extend(found)
        for problem in found_problems:
            try:
                layer = layer_name(Path(problem.path).resolve(), folder.resolve())
            except ValueError:
                layer = ""
            if any(fnmatch.fnmatchcase(layer, pattern) for pattern in layers):
                problems.append(problem)
    available = sorted({layer_name(path, folder) for folder in folders if folder.is_dir() for path in folder.rglob("*.jsonl")})
    selected = [r for r in records if any(fnmatch.fnmatchcase(r.layer, pattern) for pattern in layers)]
    for pattern in layers:
        if not any(fnmatch.fnmatchcase(layer, pattern) for layer in available):
            _warn(f"no annotation layer matches --layer {pattern!r} (layers: {', '.join(available) or 'none'})")
    chosen, duplicates = select_records(selected, config.annotate.layer_priority)
    problems.extend(duplicates)
    by_id = {d.doc_id: d for d in documents}
    whitespace = Severity(config.validate.whitespace_spans)
    result = {}
    for doc_id, record in sorted(chosen.items()):
        document = by_id.get(doc_id)
        if document is None:
            continue
        info = DocumentInfo(doc_id, document.text, document.text_sha256, document.source, None)
        found = check_record(record, info, schema, whitespace)
        problems.extend(found)
        if not any(p.severity is Severity.ERROR for p in found):
            result[doc_id] = record
    errors = [p for p in problems if p.severity is Severity.ERROR]
    if errors:
        raise UsageError(
            f"{len(errors)} problem(s) in the annotation layers to push, first: {errors[0].format()}; "
            "fix them (see 'python -m pipeline validate') or leave the layer out with --layer"
        )
    return result


ReviewOption = Annotated[
    bool,
    typer.Option(
        "--review",
        help="The curator's round (<project>-review): push the adjudicated layer with its conflicts as comments; pull the curator's labels back as the adjudicated layer.",
    ),
]


def _review(direction: str, project: str | None, params_path: Path, **options: Any) -> None:
    """``push --review`` / ``pull --review`` (:mod:`pipeline.doccano.review`)."""
    from pipeline.core.labels import SchemaError
    from pipeline.doccano import review
    from pipeline.doccano.session import DoccanoError, connect

    try:
        config = _stage_config(params_path, "review")
        session = connect()
        if direction == "push":
            report = review.push_command(session, config, project, options.get("documents"))
        else:
            report = review.pull_command(session, config, project, options.get("confirmed_only", True))
    except (DoccanoError, UsageError, SchemaError) as error:
        raise _fail(error) from None
    for path in report.written:
        typer.echo(f"wrote {path}")
    typer.echo(report.summary())


@app.command("push")
def push_cmd(
    project: ProjectOption = None,
    layer: Annotated[
        list[str] | None,
        typer.Option(
            "--layer",
            help="Layer(s) whose records are pushed, fnmatch globs over layer names (default: gold; with --as-suggestions: preannotations). Among several, annotate.layer_priority chooses.",
        ),
    ] = None,
    as_suggestions: Annotated[
        bool,
        typer.Option(
            "--as-suggestions", help="Pre-annotations: fill in only examples where your account has no labels yet; never overwrite."
        ),
    ] = False,
    documents: Annotated[
        list[str] | None, typer.Option("--documents", help="Only documents whose doc_id matches these fnmatch globs.")
    ] = None,
    params_path: ParamsOption = DEFAULT_PARAMS,
    review: ReviewOption = False,
) -> None:
    """Create or update the doccano project, its labels, and upload documents with their annotations."""
    _setup_logging()
    if review:
        return _review("push", project, params_path, documents=documents)
    from pipeline.core.labels import SchemaError
    from pipeline.doccano.corpus import read_documents
    from pipeline.doccano.push import push
    from pipeline.doccano.session import DoccanoError, connect
    from pipeline.io.schemas import load_label_schema

    try:
        config = _stage_config(params_path)
        schema = load_label_schema(config.schemas.labels)
        docs = select_documents(read_documents(config.ingest.out_dir), documents)
        layers = layer or (["preannotations"] if as_suggestions else ["gold"])
        records = load_records(config, layers, docs, schema)
        session = connect()
        report = push(
            session, project=_project(config, project), documents=docs, records=records, schema=schema, suggestions=as_suggestions
        )
    except (DoccanoError, UsageError, SchemaError) as error:
        raise _fail(error) from None
    for message in report.warnings:
        _warn(message)
    typer.echo(report.summary())


@app.command("pull")
def pull_cmd(
    project: ProjectOption = None,
    confirmed_only: Annotated[
        bool,
        typer.Option(
            "--confirmed-only/--all", help="Only examples each user marked as confirmed (default), or every example they labelled."
        ),
    ] = True,
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--out-dir", help="Annotations folder (default: annotate.annotations_dir); layers go to annotators/<user>/<project>/."
        ),
    ] = None,
    user: Annotated[list[str] | None, typer.Option("--user", help="Only these doccano users (default: every member).")] = None,
    allow_drop: Annotated[
        bool,
        typer.Option(
            "--allow-drop",
            help="Let the pull drop or empty records of the existing layer (an example un-confirmed or cleared in doccano); each is a warning.",
        ),
    ] = False,
    team: Annotated[
        bool,
        typer.Option("--team", help="Pull PROJECT (if it exists) and every PROJECT@USER project of 'assign', each for its annotator."),
    ] = False,
    params_path: ParamsOption = DEFAULT_PARAMS,
    review: ReviewOption = False,
) -> None:
    """Download each annotator's labels as annotation layers (code points, our ids, provenance annotator:<user>)."""
    _setup_logging()
    if review:
        return _review("pull", project, params_path, confirmed_only=confirmed_only)
    from pipeline.core.labels import SchemaError
    from pipeline.doccano.corpus import expected_hashes, read_documents
    from pipeline.doccano.pull import DropRefused, pull
    from pipeline.doccano.session import DoccanoError, connect
    from pipeline.io.schemas import load_label_schema

    try:
        config = _stage_config(params_path)
        schema = load_label_schema(config.schemas.labels)
        try:
            expected: dict[str, str] | None = expected_hashes(read_documents(config.ingest.out_dir))
        except DoccanoError:
            expected = None  # nothing ingested here: only doccano's own text hash is checked
        session = connect()
        name = _project(config, project)
        targets: list[tuple[str, list[str] | None]] = [(name, user)]
        if team:
            from pipeline.doccano.assign import team_projects

            targets = []
            for info in team_projects(session, name):
                owner = [info["name"][len(name) + 1 :]] if info["name"] != name else user
                if owner is None or not user or set(owner) & set(user):
                    targets.append((info["name"], owner))
    except (DoccanoError, UsageError, SchemaError) as error:
        raise _fail(error) from None
    failed = False
    for target, users in targets:  # one pull per project, each all or nothing
        try:
            report = pull(
                session,
                project=target,
                schema=schema,
                out_dir=out_dir or config.annotate.annotations_dir,
                confirmed_only=confirmed_only,
                users=users,
                expected_sha=expected,
                allow_drop=allow_drop,
            )
        except DropRefused as error:
            for problem in error.problems:
                typer.echo(f"error: {problem}", err=True)
            typer.echo(str(error), err=True)
            raise typer.Exit(code=1) from None
        except (DoccanoError, UsageError, SchemaError) as error:
            raise _fail(error) from None
        _show_pull(report)
        failed = failed or bool(report.errors)
    if failed:
        raise typer.Exit(code=1)


def _show_pull(report: Any) -> None:
    for skipped in report.skipped:
        _warn(f"not imported: {skipped.format()}")
    for dropped in report.dropped:
        _warn(dropped)
    for message in report.warnings:
        _warn(message)
    for path in report.moved:
        typer.echo(f"moved {path} into its project folder (one layer per user and project)")
    for path in report.written:
        typer.echo(f"wrote {path}")
    for message in report.errors:
        typer.echo(f"error: {message}", err=True)
    typer.echo(report.summary())


# --------------------------------------------------------------------------- team: assign / status


def _overlap_with(value: str, annotators: list[str]) -> int:
    if value == "all":
        return len(annotators)
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 2:
        raise UsageError(f"--overlap-with {value!r} is not a number of annotators (2 or more) or 'all'")
    return number


@app.command("assign")
def assign_cmd(
    annotators: Annotated[str, typer.Option("--annotators", help="Comma-separated doccano user names, e.g. anna,ben,cara.")],
    project: ProjectOption = None,
    overlap: Annotated[
        float, typer.Option("--overlap", help="Fraction of the documents (by sha256 of doc_id) that several annotators get, for agreement.")
    ] = 0.0,
    overlap_with: Annotated[
        str, typer.Option("--overlap-with", help="How many annotators an overlap document goes to: a number (default 2) or 'all'.")
    ] = "2",
    documents: Annotated[
        list[str] | None, typer.Option("--documents", help="Only documents whose doc_id matches these fnmatch globs.")
    ] = None,
    params_path: ParamsOption = DEFAULT_PARAMS,
) -> None:
    """Give every ingested document to one annotator (an --overlap fraction to several), each in their own project PROJECT@USER."""
    _setup_logging()
    from pipeline.core.labels import SchemaError
    from pipeline.doccano.assign import assign
    from pipeline.doccano.corpus import read_documents
    from pipeline.doccano.session import DoccanoError, connect
    from pipeline.io.schemas import load_label_schema

    try:
        names = [name.strip() for name in annotators.split(",") if name.strip()]
        if not names:
            raise UsageError("--annotators names no user; give e.g. --annotators anna,ben,cara")
        config = _stage_config(params_path)
        schema = load_label_schema(config.schemas.labels)
        docs = select_documents(read_documents(config.ingest.out_dir), documents)
        report = assign(
            connect(),
            project=_project(config, project),
            annotators=names,
            documents=docs,
            schema=schema,
            overlap=overlap,
            overlap_with=_overlap_with(overlap_with, names),
        )
    except (DoccanoError, UsageError, SchemaError) as error:
        raise _fail(error) from None
    for pushed in report.pushes:
        for message in pushed.warnings:
            _warn(message)
    typer.echo(report.summary())


@app.command("status")
def status_cmd_team(project: ProjectOption = None, params_path: ParamsOption = DEFAULT_PARAMS) -> None:
    """Per annotator: documents assigned, labelled and confirmed (in PROJECT and every PROJECT@USER)."""
    _setup_logging()
    from pipeline.doccano.assign import status
    from pipeline.doccano.session import DoccanoError, connect

    try:
        config = _stage_config(params_path)
        rows = status(connect(), _project(config, project))
    except (DoccanoError, UsageError) as error:
        raise _fail(error) from None
    for row in rows:
        typer.echo(row.format())
    if not rows:
        typer.echo("no annotator is a member of these projects yet")


if __name__ == "__main__":
    app()
