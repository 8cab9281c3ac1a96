"""``python -m pipeline``: one subcommand per stage, plus the tools around the corpus.

Each stage command reads ``params.yaml``, does its I/O and calls the stage's pure core.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import typer
from rich.logging import RichHandler

from pipeline.params import load_params

app = typer.Typer(
    help="German news corpus: ingest → annotate → validate → publish.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # a traceback must never show a password held in a local variable
)

ParamsOption = typer.Option(Path("params.yaml"), "--params", help="The params file (one section per stage).")


@app.callback()
def main(verbose: bool = typer.Option(False, "--verbose", "-v", help="Log debug messages.")) -> None:
    logging.getLogger("pipeline").setLevel(logging.DEBUG if verbose else logging.INFO)
    logging.basicConfig(
        level=logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=None, show_time=False, show_path=False, markup=False)] if sys.stderr.isatty() else [logging.StreamHandler()],
    )


@app.command()
def ingest(params: Path = ParamsOption) -> None:
    """Read seeds/ (*.txt, *.jsonl), normalise, segment into paragraphs, sentences and tokens."""
    from pipeline import ingest as stage

    stage.run(load_params(params))


@app.command()
def annotate(params: Path = ParamsOption) -> None:
    """Apply the annotation layers: entity and relation tables, BIO tags, splits, training views."""
    from pipeline import annotate as stage

    stage.run(load_params(params))


@app.command()
def preannotate(params: Path = ParamsOption) -> None:
    """Propose entities and rule-based relations for documents without gold; report P/R/F1 (DVC metric)."""
    from pipeline import preannotate as stage

    stage.run(load_params(params))


@app.command()
def validate(params: Path = ParamsOption) -> None:
    """Report every problem (structure, semantics, table expectations); exit 1 on any error."""
    from pipeline import validate as stage

    if not stage.run(load_params(params)):
        raise typer.Exit(code=1)


@app.command()
def publish(params: Path = ParamsOption) -> None:
    """Atomically publish the validated tables with manifest and dataset card."""
    from pipeline import publish as stage

    try:
        stage.run(load_params(params))
    except stage.PublishRefused as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=1) from None


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


_mount_optional()
