"""The agreement stage in the real `dvc repro` of the repository (seed corpus: no annotator layers)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from repo_helpers import run

pytestmark = pytest.mark.e2e


def test_the_seed_corpus_has_no_annotators_to_compare(built_repo: Path):
    report = json.loads((built_repo / "corpus" / "reports" / "agreement.json").read_text(encoding="utf-8"))
    assert report["documents"] == 0
    assert report["annotators"] == [] and report["pairs"] == []


def test_agreement_is_a_dvc_metric(built_repo: Path):
    shown = json.loads(run(["dvc", "metrics", "show", "--json"], built_repo, check=True).stdout)
    metrics = shown[""]["data"]["corpus/reports/agreement.json"]["data"]
    assert metrics["documents"] == 0
    assert "overall" in metrics


def test_the_label_confusion_is_a_dvc_plot(built_repo: Path):
    shown = json.loads(run(["dvc", "plots", "show", "--json"], built_repo, check=True).stdout)
    assert "corpus/reports/agreement-confusion.json" in json.dumps(shown)
