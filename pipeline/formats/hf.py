"""Hugging Face ``datasets`` layout (export only).

Copies the published Parquet files into ``OUT`` in the layout the dataset card's ``configs``
describe (``ner/<split>-<shard>.parquet``, ``re/<split>-<shard>.parquet`` and one folder per
flat table) and writes ``README.md``: the card's YAML header plus a loading snippet.

``ner_tags`` loads as ``Sequence(ClassLabel(names=[...]))`` because every ``ner`` file carries
the ``datasets`` features in its Parquet schema metadata under the key ``huggingface``
(``{"info": {"features": ...}}``, as ``datasets`` writes and reads it). ``publish`` stores them;
a file without them gets them here, built from the label schema in ``manifest.json``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from pipeline.formats import ExportOptions
from pipeline.io.published import Corpus
from pipeline.io.tables import FLAT_TABLES, SPLIT_TABLES

HF_KEY = b"huggingface"

SNIPPET = '''
## Loading

```python
import datasets

ner = datasets.load_dataset("parquet", data_files={data_files})
ner["train"].features["ner_tags"]   # Sequence(ClassLabel(names=[...]))
# or, with this folder as the dataset: datasets.load_dataset("{path}", "ner")
```
'''


def ner_features(bio_labels: list[str]) -> dict:
    string = {"dtype": "string", "_type": "Value"}
    int64 = {"dtype": "int64", "_type": "Value"}
    return {
        "id": string,
        "doc_id": string,
        "sent_idx": {"dtype": "int32", "_type": "Value"},
        "tokens": {"feature": string, "_type": "Sequence"},
        "ner_tags": {"feature": {"names": list(bio_labels), "_type": "ClassLabel"}, "_type": "Sequence"},
        "ner_labels": {"feature": string, "_type": "Sequence"},
        "token_starts": {"feature": int64, "_type": "Sequence"},
        "token_ends": {"feature": int64, "_type": "Sequence"},
        "split": string,
    }


def _copy_ner(source: Path, target: Path, bio_labels: list[str]) -> None:
    import pyarrow.parquet as pq

    metadata = pq.read_schema(source).metadata or {}
    if HF_KEY in metadata:
        shutil.copyfile(source, target)
        return
    table = pq.read_table(source)
    features = {"info": {"features": ner_features(bio_labels)}}
    table = table.replace_schema_metadata({**metadata, HF_KEY: json.dumps(features, sort_keys=True).encode()})
    pq.write_table(table, target, compression="zstd")


def _front_matter(card: str) -> str:
    if card.startswith("---\n"):
        end = card.find("\n---", 4)
        if end != -1:
            return card[: end + 4] + "\n"
    return ""


def write(corpus: Corpus, out: Path, options: ExportOptions) -> list[Path]:
    if corpus.root is None:
        raise ValueError("the hf export copies the published Parquet files: load the corpus with load_published()")
    published = corpus.root
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name in FLAT_TABLES + SPLIT_TABLES:
        for source in sorted((published / name).glob("*.parquet")):
            target = out / name / source.name
            target.parent.mkdir(parents=True, exist_ok=True)
            if name == "ner":
                _copy_ner(source, target, list(corpus.bio_labels))
            else:
                shutil.copyfile(source, target)
            written.append(target)
    splits = [s for s in corpus.splits if any((out / "ner").glob(f"{s}-*.parquet"))]
    data_files = "{" + ", ".join(f'"{s}": "{out}/ner/{s}-*.parquet"' for s in splits) + "}"
    card_path = published / "README.md"
    card = card_path.read_text(encoding="utf-8") if card_path.exists() else ""
    title = "# Hugging Face export\n\nExported from the published corpus with `python -m pipeline export hf`.\n"
    readme = out / "README.md"
    readme.write_text(_front_matter(card) + "\n" + title + SNIPPET.format(data_files=data_files, path=out), encoding="utf-8")
    written.append(readme)
    return written
