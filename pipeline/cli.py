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
def validate(params: Path = ParamsOption) -> None:
    """Report every problem (structure, semantics, table expectations); exit 1 on any error."""
    _stage("validate", params)


@app.command()
def publish(params: Path = ParamsOption) -> None:
    """Atomically publish the validated tables with manifest and dataset card."""
    _stage("publish", params)


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
