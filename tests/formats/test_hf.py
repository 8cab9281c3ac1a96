"""Hugging Face export: `datasets` loads the ner view with ClassLabel names and every split."""

from __future__ import annotations

import json

import pytest

from pipeline.formats import ExportOptions, hf
from pipeline.io.published import load_published

pytestmark = pytest.mark.e2e


def test_datasets_loads_ner_with_class_labels(published_repo, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "cache"))
    import datasets

    corpus = load_published(published_repo.published)
    out = tmp_path / "hf"
    hf.write(corpus, out, ExportOptions())
    manifest = json.loads((published_repo.published / "manifest.json").read_text(encoding="utf-8"))
    names = manifest["label_schema"]["bio_labels"]
    data_files = {split: sorted(str(p) for p in (out / "ner").glob(f"{split}-*.parquet")) for split in corpus.splits}
    assert set(data_files) == {"train", "dev", "test"} and all(data_files.values())
    loaded = datasets.load_dataset("parquet", data_files=data_files, cache_dir=str(tmp_path / "cache"))
    assert set(loaded) == {"train", "dev", "test"}
    for split in loaded.values():
        assert split.features["ner_tags"] == datasets.Sequence(datasets.ClassLabel(names=names))
    ner_rows = sum(info["rows"] for path, info in manifest["files"].items() if path.startswith("ner/"))
    assert sum(len(split) for split in loaded.values()) == ner_rows
    first = loaded["train"][0]
    assert [names[i] for i in first["ner_tags"]] == first["ner_labels"]
    # the README's configs make the folder itself a dataset
    readme = (out / "README.md").read_text(encoding="utf-8")
    assert readme.startswith("---\n") and "load_dataset" in readme
    by_config = datasets.load_dataset(str(out), "ner", cache_dir=str(tmp_path / "cache"))
    assert by_config["train"].features["ner_tags"].feature.names == names
