"""``python -m pipeline import`` and ``python -m pipeline export`` (mounted by ``pipeline.cli``).

Where an option is left out, the path comes from the params file (``READS["formats"]`` in
:mod:`pipeline.config`): the label schema, the seeds, the annotation layers and the published
dataset are where the pipeline reads and writes them. The params file is read only then.
"""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import typer

from pipeline.config import DEFAULT_PARAMS, StageConfig, load_config
from pipeline.core.problems import Severity
from pipeline.core.text import OFFSET_UNITS
from pipeline.formats import EXPORTERS, IMPORTERS, ExportOptions, ImportFailed, exporter, importer
from pipeline.formats.build import KEPT_INVALID, ImportOptions, ImportResult
from pipeline.formats.ids import check_name
from pipeline.formats.mapping import load_mapping
from pipeline.formats.writer import write_import
from pipeline.io.published import load_published

SHOWN_PER_KIND = 10
ParamsOption = typer.Option(DEFAULT_PARAMS, "--params", help="The params file the defaults of the path options come from.")


class _Defaults:
    """The paths of the params file, read when the first option left out needs one (an explicit option wins)."""

    def __init__(self, params: Path) -> None:
        self.params = params
        self._config: StageConfig | None = None

    def __call__(self, given: Path | None, key: str, option: str) -> Path:
        """``given``, else the value of the dotted ``key`` (the default of ``option``)."""
        if given is not None:
            return given
        if self._config is None:
            try:
                self._config = load_config(self.params).for_stage("formats")
            except OSError as error:
                raise ValueError(
                    f"cannot read {self.params} ({error.strerror or type(error).__name__}) for the default of {option} ({key}); pass {option} or --params"
                ) from None
        section, name = key.split(".")
        return getattr(getattr(self._config, section), name)


def run_import(
    format: str,
    paths: list[Path],
    *,
    name: str,
    mapping: Path | None = None,
    offsets: str = "utf16",
    labels: Path,
    id_prefix: str | None = None,
    strip_whitespace: bool = False,
    user: str | None = None,
    limit: int | None = None,
    overlaps: str = "error",
    tag_columns: int | None = None,
    avro_schema: Path | None = None,
) -> ImportResult:
    """Read ``paths`` in ``format`` into an :class:`ImportResult` (no files written)."""
    check_name(name)
    if offsets not in OFFSET_UNITS:
        raise ImportFailed(f"--offsets must be one of {list(OFFSET_UNITS)}, not {offsets!r}")
    label_mapping, schema = load_mapping(mapping, labels)
    options = ImportOptions(
        name=name,
        mapping=label_mapping,
        schema=schema,
        offsets=offsets,
        id_prefix=id_prefix,
        strip_whitespace=strip_whitespace,
        user=user,
        limit=limit,
        overlaps=overlaps,
        tag_columns=tag_columns,
        avro_schema=avro_schema,
    )
    return importer(format)(paths, options)


def _report(result: ImportResult) -> None:
    by_kind: dict[str, list] = {}
    for problem in result.problems:
        by_kind.setdefault(problem.kind, []).append(problem)
    for kind, problems in sorted(by_kind.items()):
        for problem in problems[:SHOWN_PER_KIND]:
            typer.echo(problem.format(), err=True)
        if len(problems) > SHOWN_PER_KIND:
            typer.echo(f"... {len(problems) - SHOWN_PER_KIND} more {kind} problem(s), all in the report", err=True)
    stats = result.stats
    typer.echo(f"import {result.name}: {stats['documents']} documents", err=True)
    for layer, counts in stats["layers"].items():
        typer.echo(f"  {layer}: {counts['records']} records, {counts['entities']} entities, {counts['relations']} relations", err=True)
    dropped = stats["dropped_by_mapping"]
    for what, counts in (
        ("entities", dropped["entities"]),
        ("relations", dropped["relations"]),
        ("relations with a dropped argument", dropped["relations_with_dropped_argument"]),
    ):
        if counts:
            typer.echo(
                f"  dropped by the mapping (null), {what}: {sum(counts.values())} " + ", ".join(f"{k}={v}" for k, v in counts.items()),
                err=True,
            )
    if stats.get("overlaps_resolved"):
        resolved = stats["overlaps_resolved"]
        typer.echo(f"  dropped by --overlaps: {sum(resolved.values())} " + ", ".join(f"{k}={v}" for k, v in resolved.items()), err=True)
    for level, labels in stats.get("levels", {}).items():
        source = sum(c["source"] for c in labels.values())
        published = sum(c["published"] for c in labels.values())
        reasons: Counter[str] = Counter()
        for c in labels.values():
            reasons.update(c["dropped"])
        why = ", ".join(f"{k}={v}" for k, v in sorted(reasons.items()))
        typer.echo(f"  level {level}: {source} source span(s), {published} written" + (f", dropped: {why}" if why else ""), err=True)
    changed = stats["changed"]
    if changed["whitespace_stripped"]:
        typer.echo(f"  whitespace stripped from {changed['whitespace_stripped']} span(s) (--strip-whitespace)", err=True)
    if changed["duplicate_entities_merged"]:
        typer.echo(f"  {changed['duplicate_entities_merged']} duplicate entities merged", err=True)
    counts = Counter(p.severity for p in result.problems)
    typer.echo(f"  problems: {counts[Severity.ERROR]} error(s), {counts[Severity.WARNING]} warning(s)", err=True)


def import_corpus(
    format: str = typer.Argument(..., help=f"Source format: {', '.join(sorted(IMPORTERS))}."),
    paths: list[Path] = typer.Argument(..., help="Files or folders to import."),
    name: str = typer.Option(..., "--name", help="Import name: seeds/<name>.jsonl, layer imported/<name>, source imported:<name>."),
    mapping: Path | None = typer.Option(
        None, "--mapping", help="Label mapping file (schemas/mappings/<corpus>.yaml); without it labels must already be ours."
    ),
    offsets: str = typer.Option(
        "utf16", "--offsets", help="Unit of the source offsets (doccano): utf16 (doccano's editor, MobIE) or codepoint."
    ),
    id_prefix: str | None = typer.Option(None, "--id-prefix", help="Prefix of the document ids (default '<name>-')."),
    strip_whitespace: bool = typer.Option(
        False, "--strip-whitespace", help="Strip leading/trailing whitespace from spans (reported); default: keep and report them."
    ),
    user: str | None = typer.Option(None, "--user", help="doccano: import only this annotator's spans (default: one layer per annotator)."),
    limit: int | None = typer.Option(None, "--limit", help="Import only the first N documents."),
    overlaps: str = typer.Option(
        "error",
        "--overlaps",
        help="Overlaps the label schema does not allow (crossing spans under overlap: nested): error (keep both, report each), "
        "keep-longest or keep-first (drop the other, counted in the report).",
    ),
    tag_columns: int | None = typer.Option(
        None,
        "--tag-columns",
        help="conll: the last N columns are tag columns (1, or 2: outer and inner level; default: 2 for a file the conll exporter wrote, else 1).",
    ),
    avro_schema: Path | None = typer.Option(
        None,
        "--avro-schema",
        help="mobie: the Avro schema (mobie-document.avsc) that decides the Avro JSON encoding (default: the one *.avsc beside the input).",
    ),
    seeds_dir: Path | None = typer.Option(None, "--seeds-dir", help="Where the documents go (default: ingest.seeds_dir)."),
    annotations_dir: Path | None = typer.Option(
        None, "--annotations-dir", help="Where the annotation layers go (default: annotate.annotations_dir)."
    ),
    reports_dir: Path = typer.Option(Path("corpus/imported"), "--reports-dir", help="Where the import report and side tables go."),
    labels: Path | None = typer.Option(
        None, "--labels", help="The label schema to map onto when the mapping file names none (default: schemas.labels)."
    ),
    params: Path = ParamsOption,
    force: bool = typer.Option(False, "--force", help="Replace an earlier import of the same name."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Report only; write nothing."),
) -> None:
    """Import a third-party corpus: documents into seeds/, annotations into corpus/annotations/imported/.

    Exits 1 when nothing could be imported (unmapped labels, unreadable input: nothing is
    written), and after writing when errors were reported: items kept that `validate` will reject
    (whitespace-padded spans without --strip-whitespace, overlaps, self-relations, relation type
    violations: the kinds formats/build.py POLICY keeps) or
    items the source has broken (bad offsets, span text mismatches, spans across a blank line)."""
    configured = _Defaults(params)
    try:
        labels = configured(labels, "schemas.labels", "--labels")
        if not dry_run:
            seeds_dir = configured(seeds_dir, "ingest.seeds_dir", "--seeds-dir")
            annotations_dir = configured(annotations_dir, "annotate.annotations_dir", "--annotations-dir")
        result = run_import(
            format,
            paths,
            name=name,
            mapping=mapping,
            offsets=offsets,
            labels=labels,
            id_prefix=id_prefix,
            strip_whitespace=strip_whitespace,
            user=user,
            limit=limit,
            overlaps=overlaps,
            tag_columns=tag_columns,
            avro_schema=avro_schema,
        )
        _report(result)
        if not dry_run:
            info = {
                "format": format,
                "paths": [str(p) for p in paths],
                "mapping": str(mapping) if mapping else None,
                "offsets": offsets,
                "strip_whitespace": strip_whitespace,
                "overlaps": overlaps,
            }
            files = write_import(
                result, seeds_dir=seeds_dir, annotations_dir=annotations_dir, reports_dir=reports_dir, force=force, info=info
            )
            for key, path in files.items():
                typer.echo(f"  wrote {key}: {path}", err=True)
    except (ImportFailed, ValueError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=1) from None
    if result.errors:
        kept = sum(1 for p in result.errors if p.kind in KEPT_INVALID)
        skipped = len(result.errors) - kept
        parts = [f"{kept} written item(s) that validate will reject"] if kept else []
        parts += [f"{skipped} item(s) not imported because the source is broken there"] if skipped else []
        typer.echo(f"error: {len(result.errors)} error(s) above: " + "; ".join(parts), err=True)
        raise typer.Exit(code=1)


def export_corpus(
    format: str = typer.Argument(..., help=f"Target format: {', '.join(sorted(EXPORTERS))}."),
    out: Path = typer.Argument(..., help="Output folder."),
    published: Path | None = typer.Option(None, "--published", help="The published dataset to export (default: publish.out_dir)."),
    offsets: str = typer.Option("utf16", "--offsets", help="doccano: offset unit written (utf16 or codepoint)."),
    force: bool = typer.Option(False, "--force", help="Replace OUT if it exists."),
    params: Path = ParamsOption,
) -> None:
    """Export the published dataset: hf, spacy, conll, brat or doccano (see docs/formats.md)."""
    try:
        published = _Defaults(params)(published, "publish.out_dir", "--published")
        if offsets not in OFFSET_UNITS:
            raise ValueError(f"--offsets must be one of {list(OFFSET_UNITS)}, not {offsets!r}")
        write = exporter(format)
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            if not force:
                raise ValueError(f"{out} exists and is not empty; pass --force to replace it")
            if out.is_dir():
                shutil.rmtree(out)
            else:
                out.unlink()
        corpus = load_published(published)
        written = write(corpus, out, ExportOptions(offsets=offsets))
    except (ValueError, FileNotFoundError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=1) from None
    typer.echo(f"export {format}: {len(corpus.documents)} documents, {len(written)} files in {out}", err=True)
