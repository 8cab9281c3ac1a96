"""``python -m pipeline``: one subcommand per stage, plus the tools around the corpus.

A stage command runs exactly what ``dvc.yaml`` runs (:func:`pipeline.stages.__main__.run_stage`).
"""

from __future__ import annotations

from pathlib import Path

import typer

from pipeline.config import DEFAULT_PARAMS
from pipeline.runtime.logs import setup_logging

app = typer.Typer(
    help="German news corpus: ingest → annotate → validate → publish.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # a traceback must never show a password held in a local variable
)

ParamsOption = typer.Option(DEFAULT_PARAMS, "--params", help="The params file (one section per stage).")


@app.callback()
def main(verbose: bool = typer.Option(False, "--verbose", "-v", help="Log debug messages.")) -> None:
    setup_logging(verbose)


def _stage(name: str, params: Path) -> None:
    from pipeline.stages.__main__ import run_stage

    code = run_stage(name, params)
    if code:
        raise typer.Exit(code=code)


@app.command()
def ingest(params: Path = ParamsOption) -> None:
    """Read seeds/ (*.txt, *.jsonl), normalise, segment into paragraphs, sentences and tokens."""
    _stage("ingest", params)


@app.command()
def annotate(params: Path = ParamsOption) -> None:
    """Apply the annotation layers: entity and relation tables, BIO tags, splits, training views."""
    _stage("annotate", params)


@app.command()
def preannotate(params: Path = ParamsOption) -> None:
    """Propose entities and rule-based relations for documents without gold; report P/R/F1 (DVC metric)."""
    _stage("preannotate", params)


@app.command()
def agreement(params: Path = ParamsOption) -> None:
    """Inter-annotator agreement of the annotator layers (DVC metric and confusion plot)."""
    _stage("agreement", params)


@app.command()
def validate(params: Path = ParamsOption) -> None:
    """Report every problem (structure, semantics, table expectations); exit 1 on any error."""
    _stage("validate", params)


@app.command()
def publish(params: Path = ParamsOption) -> None:
    """Atomically publish the validated tables with manifest and dataset card."""
    _stage("publish", params)


def _review_config(params: Path):
    """What adjudicate and show read of the params file (``READS["review"]``); exit 2 when it is unreadable or wrong."""
    from pipeline.config import load_config

    try:
        return load_config(params).for_stage("review")
    except OSError as error:
        typer.echo(f"error: cannot read {params}: {error.strerror or error}", err=True)
        raise typer.Exit(code=2) from None
    except ValueError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=2) from None


@app.command()
def adjudicate(
    min_agree: int | None = typer.Option(
        None, "--min-agree", help="Accept what at least K annotators drew exactly (default review.min_agree)."
    ),
    name: str | None = typer.Option(None, "--name", help="The layer file's name (default publish.dataset_name)."),
    force: bool = typer.Option(False, "--force", help="Replace a layer a curator already revised."),
    params: Path = ParamsOption,
) -> None:
    """Accept what K annotators agree on (corpus/annotations/adjudicated/), list the conflicts (corpus/reports/conflicts.jsonl)."""
    from pipeline.stages.adjudicate import AdjudicationError, run

    config = _review_config(params)
    try:
        report = run(config, min_agree=min_agree, name=name, force=force)
    except AdjudicationError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=1) from None
    typer.echo(report.summary())


@app.command()
def show(
    doc_id: str | None = typer.Argument(None, help="The document to show."),
    layers: list[str] | None = typer.Option(None, "--layers", help="Layers to show (fnmatch, repeat or comma-separate; default: all)."),
    conflicts: bool = typer.Option(False, "--conflicts", help="Pages of the worst documents by agreement (review.worst) and an index."),
    out: Path | None = typer.Option(None, "--out", help="The page to write (default review.show_dir/<doc_id>.html)."),
    params: Path = ParamsOption,
) -> None:
    """A self-contained HTML page of a document: one column per layer, disagreements highlighted."""
    from pipeline.stages.show import ShowError, show_conflicts, show_document

    patterns = [p for item in layers or [] for p in item.split(",") if p] or None
    if conflicts == (doc_id is not None):
        typer.echo("error: give a DOC_ID or --conflicts", err=True)
        raise typer.Exit(code=2)
    config = _review_config(params)
    try:
        written = show_conflicts(config, patterns) if conflicts else [show_document(config, doc_id, patterns, out)]  # type: ignore[arg-type]
    except ShowError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=1) from None
    for path in written:
        typer.echo(f"wrote {path}")


def _mount_optional() -> None:
    """Sub-apps of other modules (doccano, formats) join the CLI when present."""
    try:
        from pipeline.doccano.cli import app as doccano_app
    except ImportError:
        pass
    else:
        app.add_typer(doccano_app, name="doccano", help="Run a local doccano server; push and pull annotations.")
    try:
        from pipeline.formats.cli import export_corpus, import_corpus
    except ImportError:
        pass
    else:
        app.command("import")(import_corpus)
        app.command("export")(export_corpus)
    try:
        from pipeline.release.cli import diff_command, release_command
    except ImportError:
        pass
    else:
        app.command("diff")(diff_command)
        app.command("release")(release_command)


_mount_optional()
