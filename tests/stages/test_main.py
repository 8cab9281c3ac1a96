"""``python -m pipeline.stages <stage>``: the params file is read and checked once, before the stage runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipeline.stages.__main__ import run_stage

REPO = Path(__file__).resolve().parents[2]


def test_a_bad_params_value_stops_the_stage_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    params = tmp_path / "params.yaml"
    params.write_text((REPO / "params.yaml").read_text(encoding="utf-8").replace("shards: 64", "shards: 0"), encoding="utf-8")
    assert run_stage("ingest", params) == 2
    assert capsys.readouterr().err == f"error: {params}: runtime.shards: expected an integer >= 1, got 0\n"


def test_a_missing_params_file_stops_the_stage(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert run_stage("publish", tmp_path / "params.yaml") == 2
    assert capsys.readouterr().err == f"error: cannot read {tmp_path / 'params.yaml'}: No such file or directory\n"


def test_the_stage_gets_its_own_view(monkeypatch: pytest.MonkeyPatch):
    from pipeline.stages import publish

    seen = []
    monkeypatch.setattr(publish, "main", lambda config: seen.append(config) or 0)
    assert run_stage("publish", REPO / "params.yaml") == 0
    (config,) = seen
    assert config.stage == "publish" and config.publish.dataset_name == "german-news-entities-relations"
    with pytest.raises(AttributeError, match=re.escape("stage 'publish' does not declare ingest.out_dir")):
        _ = config.ingest.out_dir
