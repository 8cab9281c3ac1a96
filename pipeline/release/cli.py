"""``python -m pipeline diff OLD [NEW]`` and ``python -m pipeline release VERSION``.

Both run in the repository's root (where ``params.yaml`` is) and print one line per refusal or
failure, exit 1; ``diff`` prints the Markdown summary and writes ``diff.md`` and ``diff.json``.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import typer

from pipeline.config import DEFAULT_PARAMS, load_config
from pipeline.release.diff import compute_diff, write_reports
from pipeline.release.release import ReleaseRefused, release
from pipeline.release.revisions import RevisionError, materialise, resolve

REPORTS = Path("corpus/reports")
WORKING_COPY = "working copy"


def diff_command(
    old: str = typer.Argument(..., help="A version (0.1.0, v0.1.0), a tag, a git revision or a published folder."),
    new: str = typer.Argument(WORKING_COPY, help="The same kinds; default: the working copy's published folder."),
    params: Path = typer.Option(DEFAULT_PARAMS, "--params", help="The params file."),
    reports: Path = typer.Option(REPORTS, "--reports", help="Where diff.md and diff.json go."),
) -> None:
    """Semantic diff of two published datasets: documents, entities, relations, counts, schema."""
    config = load_config(params).for_stage("release")
    root = params.resolve().parent
    published = str(config.publish.out_dir)
    try:
        with tempfile.TemporaryDirectory(prefix="diff-") as scratch:
            folders = []
            for index, spec in enumerate((old, new)):
                if spec == WORKING_COPY:
                    folders.append(root / published)
                    continue
                rev, folder = resolve(spec, root, config.publish.dataset_name)
                folders.append(folder or materialise(root, rev, published, Path(scratch) / str(index)))
            diff = compute_diff(folders[0], folders[1], old, new)
    except (RevisionError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        raise typer.Exit(code=1) from None
    print(write_reports(diff, reports), end="")


def release_command(
    version: str = typer.Argument(..., help="The new version, MAJOR.MINOR.PATCH (no leading v)."),
    remote: list[str] = typer.Option([], "--remote", "-r", help="DVC remote to push to (repeatable); default: the default remote."),
    params: Path = typer.Option(DEFAULT_PARAMS, "--params", help="The params file."),
) -> None:
    """Cut a release: checks, semver against the last release, changelog, commit, push, GTO tag."""
    config = load_config(params).for_stage("release")
    root = params.resolve().parent
    try:
        tag = release(root, config, version, remote)
    except (ReleaseRefused, RevisionError, ValueError) as error:
        print(f"error: release {version}: {error}", file=sys.stderr)
        raise typer.Exit(code=1) from None
    print(f"released {tag}")
