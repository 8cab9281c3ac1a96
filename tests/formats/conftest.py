"""Fixtures for the format adapters: the real third-party corpora, import options, and one
temporary repository into which the real corpora are imported and published with ``dvc repro``."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]

from repo_helpers import copy_repo, tool_env  # noqa: E402

from pipeline.formats.build import ImportOptions  # noqa: E402
from pipeline.formats.mapping import load_mapping  # noqa: E402

MAPPINGS = REPO / "schemas" / "mappings"
LABELS = REPO / "schemas" / "labels.yaml"


@pytest.fixture(scope="session")
def external_dir() -> Path:
    """``$CORPUS_EXTERNAL_DIR``, default ``../shared/external`` next to the repository."""
    configured = os.environ.get("CORPUS_EXTERNAL_DIR")
    path = Path(configured) if configured else REPO.parent / "shared" / "external"
    if not path.is_dir():
        pytest.skip(f"the external corpora are not at {path}; set CORPUS_EXTERNAL_DIR to the folder holding them")
    return path.resolve()


def options(name: str, mapping: str | Path | None = None, **kwargs) -> ImportOptions:
    """Import options with a mapping from ``schemas/mappings`` (by stem or path) or the identity."""
    if isinstance(mapping, str) and not mapping.endswith(".yaml"):
        mapping = MAPPINGS / f"{mapping}.yaml"
    label_mapping, schema = load_mapping(mapping, LABELS)
    return ImportOptions(name=name, mapping=label_mapping, schema=schema, **kwargs)


@pytest.fixture(scope="session")
def make_options():
    return options


# --------------------------------------------------------------------------- the e2e repository

IMPORTS = [
    # (format, files relative to the external folder, name, mapping stem, extra CLI options)
    ("mobie", ["mobie-dev.jsonl.gz"], "mobie-dev", "mobie", []),
    # a slice keeps dvc repro short; the whole file passes annotate's checks in test_conll.py
    ("germeval", ["germeval2014-dev.tsv"], "germeval-dev", "germeval2014", ["--limit", "200"]),
    ("hipe", ["hipe2022-sonar-dev-de.tsv"], "hipe-sonar-dev", "hipe2022", []),
    ("doccano", ["doccano/sief-relation-export-60.jsonl"], "sief", "sief", ["--strip-whitespace"]),
    (
        "doccano",
        [
            "doccano/doccano-transformer-labeling.jsonl",
            "doccano/import_pipeline_examples_relation_extraction_example.jsonl",
            "doccano/export_pipeline_examples_sequence_labeling_example.jsonl",
        ],
        "doccano-examples",
        "doccano-examples",
        [],
    ),
    ("conll", ["doccano/import_tests_data_sequence_labeling_example.conll"], "doccano-conll", "doccano-examples", []),
]


@dataclass
class PublishedRepo:
    root: Path
    import_exit_codes: dict[str, int]
    import_output: dict[str, str]

    @property
    def published(self) -> Path:
        return self.root / "corpus" / "published"

    def report(self, name: str) -> dict:
        return json.loads((self.root / "corpus" / "imported" / name / "report.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def published_repo(tmp_path_factory, external_dir) -> PublishedRepo:
    """A copy of the repository with every real corpus imported through the CLI and published
    by ``dvc repro``."""
    from typer.testing import CliRunner

    from pipeline.cli import app

    root = copy_repo(tmp_path_factory.mktemp("e2e") / "repo")
    runner = CliRunner()
    codes: dict[str, int] = {}
    outputs: dict[str, str] = {}
    for fmt, files, name, mapping, extra in IMPORTS:
        args = [
            "import",
            fmt,
            *[str(external_dir / f) for f in files],
            "--name",
            name,
            "--mapping",
            str(root / "schemas/mappings" / f"{mapping}.yaml"),
        ]
        args += ["--labels", str(root / "schemas/labels.yaml"), "--seeds-dir", str(root / "seeds")]
        args += ["--annotations-dir", str(root / "corpus/annotations"), "--reports-dir", str(root / "corpus/imported"), "--force", *extra]
        outcome = runner.invoke(app, args)
        codes[name] = outcome.exit_code
        outputs[name] = outcome.output
    repro = subprocess.run(["dvc", "repro"], cwd=root, env=tool_env(), capture_output=True, text=True, timeout=600)
    if repro.returncode != 0:
        problems = root / "corpus" / "reports" / "validation-problems.jsonl"
        detail = problems.read_text(encoding="utf-8")[:5000] if problems.exists() else ""
        pytest.fail(f"dvc repro failed ({repro.returncode}):\n{repro.stdout[-3000:]}\n{repro.stderr[-3000:]}\n{detail}")
    return PublishedRepo(root, codes, outputs)
