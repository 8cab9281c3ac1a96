"""push and pull read their paths from the params file: a bad or missing one is one error line (no server needed)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.cli import app

REPO = Path(__file__).resolve().parents[2]


def invoke(*args: str):
    return CliRunner().invoke(app, ["doccano", *args])


@pytest.mark.parametrize("command", ["push", "pull"])
def test_a_bad_params_value_is_named_as_the_config_names_it(command: str, tmp_path: Path):
    params = tmp_path / "params.yaml"
    params.write_text(
        (REPO / "params.yaml").read_text(encoding="utf-8").replace("whitespace_spans: error", "whitespace_spans: ignore"), encoding="utf-8"
    )
    result = invoke(command, "--project", "p", "--params", str(params))
    assert result.exit_code == 1
    assert result.stderr.strip() == f"error: {params}: validate.whitespace_spans: expected one of error, warning, got 'ignore'"


def test_an_unknown_params_key_is_refused(tmp_path: Path):
    params = tmp_path / "params.yaml"
    params.write_text((REPO / "params.yaml").read_text(encoding="utf-8").replace("layer_priority:", "layer_priorty:"), encoding="utf-8")
    result = invoke("push", "--project", "p", "--params", str(params))
    assert result.exit_code == 1
    assert f"error: {params}: annotate.layer_priorty: unknown key" in result.stderr and "did you mean 'layer_priority'?" in result.stderr


def test_a_missing_params_file_says_where_to_run(tmp_path: Path):
    result = invoke("push", "--project", "p", "--params", str(tmp_path / "nope.yaml"))
    assert result.exit_code == 1
    assert (
        result.stderr.strip()
        == f"error: cannot read {tmp_path / 'nope.yaml'} (No such file or directory); run from the repository root or pass --params"
    )
