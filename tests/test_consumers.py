"""Consumers read the published dataset with their own tools, without importing `pipeline`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTS = {
    "pandas": """
import pandas as pd
docs = pd.read_parquet(P / "documents")
ents = pd.read_parquet(P / "entities")
text = dict(zip(docs.doc_id, docs.text))
assert all(text[d][s:e] == t for d, s, e, t in zip(ents.doc_id, ents.start, ents.end, ents.text))
print(json.dumps({"entities": len(ents), "labels": sorted(set(ents.label))}))
""",
    "pyarrow": """
import pyarrow.dataset as ds
import pyarrow.parquet as pq
table = ds.dataset(P / "tokens", format="parquet").to_table()
meta = json.loads(pq.read_schema(next((P / "tokens").glob("*.parquet"))).metadata[b"corpus"])
docs = ds.dataset(P / "documents", format="parquet").to_table().to_pylist()
text = {d["doc_id"]: d["text"] for d in docs}
rows = table.to_pylist()
assert all(text[r["doc_id"]][r["start"]:r["end"]] == r["text"] for r in rows)
assert set(r["ner_tag"] for r in rows) <= set(meta["bio_labels"])
print(json.dumps({"tokens": len(rows), "version": meta["version"]}))
""",
    "polars": """
import polars as pl
ents = pl.read_parquet(str(P / "entities" / "*.parquet"))
rels = pl.read_parquet(str(P / "relations" / "*.parquet"))
joined = rels.join(ents.select(["doc_id", "ent_id", pl.col("label").alias("head_label")]), left_on=["doc_id", "head"], right_on=["doc_id", "ent_id"])
assert joined.height == rels.height
print(json.dumps({"entities": ents.height, "relations": rels.height, "head_labels": sorted(set(joined["head_label"].to_list()))}))
""",
    "duckdb": """
import duckdb
con = duckdb.connect()
n, = con.execute(f"select count(*) from read_parquet('{P}/entities/*.parquet') where label = 'PER'").fetchone()
bad, = con.execute(f\"\"\"select count(*) from read_parquet('{P}/entities/*.parquet') e
    join read_parquet('{P}/documents/*.parquet') d using (doc_id)
    where substring(d.text, e.start + 1, e."end" - e.start) <> e.text\"\"\").fetchone()
assert bad == 0, bad
print(json.dumps({"per": n}))
""",
    "datasets": """
import datasets, glob
files = {Path(f).name.split("-")[0]: f for f in sorted(glob.glob(str(P / "ner" / "*.parquet")))}
ds = datasets.load_dataset("parquet", data_files=files)
split = next(iter(ds))
feature = ds[split].features["ner_tags"]
names = feature.feature.names
row = ds[split][0]
assert [names[i] for i in row["ner_tags"]] == row["ner_labels"]
print(json.dumps({"names": names[:3], "rows": sum(len(d) for d in ds.values()), "feature": type(feature.feature).__name__}))
""",
}


@pytest.mark.parametrize("tool", sorted(SCRIPTS))
def test_a_consumer_reads_the_published_dataset(tool: str, published: Path, tmp_path: Path):
    script = f"import json\nfrom pathlib import Path\nP = Path({str(published)!r})\n" + SCRIPTS[tool]
    script += "\nimport sys\nassert 'pipeline' not in sys.modules\n"
    env = {"HF_DATASETS_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"), "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    expected = {
        "pandas": lambda f: f["entities"] == 47 and f["labels"] == ["DATE", "EVENT", "GPE", "LOC", "ORG", "PER"],
        "pyarrow": lambda f: f["tokens"] > 300 and f["version"] == "0.1.0",
        "polars": lambda f: f["relations"] == 7 and f["head_labels"] == ["PER"],
        "duckdb": lambda f: f["per"] == 13,
        "datasets": lambda f: f["names"] == ["O", "B-PER", "I-PER"] and f["feature"] == "ClassLabel" and f["rows"] > 10,
    }[tool]
    assert expected(figures), figures


CARD_SCRIPT = """
import io, json, logging, sys, warnings
import datasets
from huggingface_hub import DatasetCard
captured = io.StringIO()
logging.getLogger("datasets").addHandler(logging.StreamHandler(captured))
card = DatasetCard.load(P / "README.md")
configs = [c["config_name"] for c in card.data.to_dict()["configs"]]
rows = {}
with warnings.catch_warnings():
    warnings.simplefilter("error")
    for name in configs:
        rows[name] = {split: len(d) for split, d in datasets.load_dataset(str(P), name).items()}
print(json.dumps({"configs": configs, "rows": rows, "log": captured.getvalue(), "pretty_name": card.data.pretty_name}))
"""


def test_the_card_is_valid_for_the_hubs_tooling(published: Path, tmp_path: Path):
    """`huggingface_hub.DatasetCard` parses the card and `datasets` loads every config it declares
    without a warning (the split info needs name, num_bytes and num_examples)."""
    script = f"import json\nfrom pathlib import Path\nP = Path({str(published)!r})\n" + CARD_SCRIPT
    env = {"HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"), "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    manifest = json.loads((published / "manifest.json").read_text(encoding="utf-8"))
    assert figures["log"] == ""
    assert figures["configs"] == ["documents", "sentences", "tokens", "entities", "relations", "ner", "re"]
    assert figures["rows"]["entities"] == {"train": manifest["rows"]["entities"]}
    assert sum(figures["rows"]["ner"].values()) == manifest["rows"]["ner"]
