"""Hugging Face ``datasets`` layout (export only).

Copies the published Parquet files into ``OUT`` in the layout the dataset card's ``configs``
describe (``ner/<split>-<shard>.parquet``, ``re/<split>-<shard>.parquet`` and one folder per
flat table) and writes ``README.md``: the card's YAML header plus a loading snippet.

``ner_tags`` loads as ``Sequence(ClassLabel(names=[...]))`` because every ``ner`` file carries
the ``datasets`` features in its Parquet schema metadata under the key ``huggingface``
(``{"info": {"features": ...}}``, as ``datasets`` writes and reads it). ``annotate`` stores them;
a file without them gets them here (:func:`pipeline.io.tables.huggingface_metadata`, derived from
the view's declaration in :mod:`pipeline.core.features`), with the class names from the label
schema in ``manifest.json``.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

from pipeline.formats import ExportOptions
from pipeline.io.published import Corpus
from pipeline.io.tables import FLAT_TABLES, HF_METADATA_KEY, SPLIT_TABLES, huggingface_metadata

SNIPPET = """
## Loading

```python
import datasets

ner = datasets.load_dataset("parquet", data_files={data_files})
ner["train"].features["ner_tags"]   # Sequence(ClassLabel(names=[...]))
# or, with this folder as the dataset: datasets.load_dataset("{path}", "ner")
```
"""


def _copy(name: str, source: Path, target: Path, bio_labels: Sequence[str]) -> None:
    """Copy one published file; a file of a view that declares ``datasets`` features but lacks
    them is rewritten with them."""
    import pyarrow.parquet as pq

    features = huggingface_metadata(name, bio_labels)
    metadata = pq.read_schema(source).metadata or {}
    if not features or HF_METADATA_KEY in metadata:
        shutil.copyfile(source, target)
        return
    table = pq.read_table(source)
    table = table.replace_schema_metadata({**metadata, **features})
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
            _copy(name, source, target, corpus.bio_labels)
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
