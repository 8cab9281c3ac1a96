"""The one reader of the published dataset (``corpus/published``), as every exporter reads it.

:func:`load_published` reads the flat tables and ``manifest.json`` into a :class:`Corpus`:
documents with their entities, relations, sentences and tagged tokens, plus the label schema the
dataset was published with. pyarrow is imported only when a corpus is read.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.core.bio import bio_tags
from pipeline.core.spans import Entity, Nesting, Relation, nesting


@dataclass(frozen=True)
class Token:
    start: int
    end: int
    sent_idx: int
    tag: str


@dataclass(frozen=True)
class CorpusDocument:
    doc_id: str
    text: str
    split: str
    entities: tuple[Entity, ...]
    relations: tuple[Relation, ...]
    sentences: tuple[tuple[int, int], ...]
    tokens: tuple[Token, ...]
    title: str | None = None
    date: str | None = None
    url: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def nesting(self) -> dict[str, Nesting]:
        """Entity id → level and parent (what the published ``entities.level``/``parent`` hold:
        the same rule, :func:`pipeline.core.spans.nesting`)."""
        return nesting(self.entities)

    def outermost(self) -> list[Entity]:
        """The level-0 entities."""
        levels = self.nesting()
        return [e for e in self.entities if levels[e.id].level == 0]

    def level_tags(self, level: int) -> list[str]:
        """BIO tags per token (in :attr:`tokens` order) of the entities at ``level``."""
        levels = self.nesting()
        return bio_tags([(t.start, t.end) for t in self.tokens], [e for e in self.entities if levels[e.id].level == level])

    def sentence_tokens(self) -> list[list[Token]]:
        """Tokens grouped by sentence, in order."""
        groups: dict[int, list[Token]] = defaultdict(list)
        for token in self.tokens:
            groups[token.sent_idx].append(token)
        return [groups[i] for i in sorted(groups)]


@dataclass(frozen=True)
class Corpus:
    """The published dataset as exporters see it: documents with entities, relations, sentences
    and tagged tokens, plus the label schema it was published with."""

    documents: tuple[CorpusDocument, ...]
    entity_types: tuple[str, ...]
    relation_types: dict[str, dict[str, Any]]
    bio_labels: tuple[str, ...]
    splits: tuple[str, ...]
    root: Path | None = None

    def split(self, name: str) -> list[CorpusDocument]:
        return [d for d in self.documents if d.split == name]


SPLIT_ORDER = ("train", "dev", "validation", "test")


def order_splits(names: Iterable[str]) -> tuple[str, ...]:
    names = set(names)
    return tuple([s for s in SPLIT_ORDER if s in names] + sorted(names - set(SPLIT_ORDER)))


def corpus_from_tables(tables: dict[str, Any], label_schema: dict[str, Any], root: Path | None = None) -> Corpus:
    """Build a :class:`Corpus` from the published tables (pyarrow tables by name) and the label
    schema metadata (``LabelSchema.to_metadata()``, as stored in ``manifest.json``)."""
    by_doc: dict[str, dict[str, list[Any]]] = defaultdict(lambda: defaultdict(list))
    for row in tables["entities"].to_pylist():
        by_doc[row["doc_id"]]["entities"].append(Entity(row["ent_id"], row["start"], row["end"], row["label"], row["source"]))
    for row in tables["relations"].to_pylist():
        by_doc[row["doc_id"]]["relations"].append(Relation(row["rel_id"], row["head"], row["tail"], row["label"], row["source"]))
    for row in tables["sentences"].select(["doc_id", "sent_idx", "start", "end"]).to_pylist():
        by_doc[row["doc_id"]]["sentences"].append((row["sent_idx"], row["start"], row["end"]))
    columns = [tables["tokens"].column(c).to_pylist() for c in ("doc_id", "tok_idx", "start", "end", "sent_idx", "ner_tag")]
    for doc_id, tok_idx, start, end, sent_idx, tag in zip(*columns, strict=True):
        by_doc[doc_id]["tokens"].append((tok_idx, Token(start, end, sent_idx, tag)))
    documents = []
    for row in tables["documents"].to_pylist():
        parts = by_doc.get(row["doc_id"], {})
        documents.append(
            CorpusDocument(
                doc_id=row["doc_id"],
                text=row["text"],
                split=row["split"],
                entities=tuple(sorted(parts.get("entities", []), key=lambda e: (e.start, e.end, e.id))),
                relations=tuple(sorted(parts.get("relations", []), key=lambda r: r.id)),
                sentences=tuple((s, e) for _, s, e in sorted(parts.get("sentences", []))),
                tokens=tuple(t for _, t in sorted(parts.get("tokens", []), key=lambda item: item[0])),
                title=row.get("title"),
                date=row.get("date"),
                url=row.get("url"),
                meta=json.loads(row["meta"]) if row.get("meta") else {},
            )
        )
    documents.sort(key=lambda d: d.doc_id)
    return Corpus(
        documents=tuple(documents),
        entity_types=tuple(label_schema["entity_types"]),
        relation_types=dict(label_schema.get("relation_types", {})),
        bio_labels=tuple(label_schema["bio_labels"]),
        splits=order_splits(d.split for d in documents),
        root=root,
    )


def load_published(published: Path) -> Corpus:
    """Read ``corpus/published`` (the flat tables, every shard, and ``manifest.json``)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pipeline.io.tables import FLAT_TABLES

    manifest_path = published / "manifest.json"
    if not manifest_path.exists():
        raise FileNotFoundError(f"{manifest_path} does not exist: build the dataset first (dvc repro)")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    tables = {}
    for name in FLAT_TABLES:
        files = sorted((published / name).glob("*.parquet"))
        if not files:
            raise FileNotFoundError(f"{published / name} holds no Parquet files")
        tables[name] = pa.concat_tables([pq.read_table(f) for f in files])
    return corpus_from_tables(tables, manifest["label_schema"], root=published)


# --------------------------------------------------------------------------- streaming reads (the diff)


def read_manifest(published: Path) -> dict[str, Any]:
    """``manifest.json`` of a published folder (:class:`FileNotFoundError` naming it if absent)."""
    path = published / "manifest.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: not a published dataset folder")
    return json.loads(path.read_text(encoding="utf-8"))


def table_columns(published: Path) -> dict[str, dict[str, str]]:
    """Every table's columns and their Arrow types (as strings), from the Parquet schemas of its
    files (the first file of each table; all of a table's files share one schema)."""
    import pyarrow.parquet as pq

    found: dict[str, dict[str, str]] = {}
    for folder in sorted(p for p in published.iterdir() if p.is_dir()):
        files = sorted(folder.glob("*.parquet"))
        if files:
            schema = pq.read_schema(files[0])
            found[folder.name] = {name: str(schema.field(name).type) for name in schema.names}
    return found


def shard_files(published: Path) -> dict[str, dict[str, list[Path]]]:
    """The Parquet files of every table, grouped by shard: ``{part: {table: [files]}}`` where
    ``part`` is the shard number in the file name (``part-00040``, ``train-00040`` → ``00040``)."""
    grouped: dict[str, dict[str, list[Path]]] = defaultdict(lambda: defaultdict(list))
    for folder in sorted(p for p in published.iterdir() if p.is_dir()):
        for path in sorted(folder.glob("*.parquet")):
            grouped[path.stem.rsplit("-", 1)[-1]][folder.name].append(path)
    return {part: dict(tables) for part, tables in sorted(grouped.items())}


def read_columns(paths: Iterable[Path], columns: Iterable[str] | None = None, skip: Iterable[str] = ()) -> Any:
    """The rows of ``paths`` (one table's files) as one pyarrow table, without schema metadata:
    ``columns`` if given (those the files have), else every column but ``skip``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    parts = []
    for path in paths:
        names = pq.read_schema(path).names
        wanted = [c for c in (columns if columns is not None else names) if c in names and c not in set(skip)]
        parts.append(pq.read_table(path, columns=wanted).replace_schema_metadata(None))
    if not parts:
        return pa.table({})
    return pa.concat_tables(parts, promote_options="permissive")


def row_count(path: Path) -> int:
    """Rows of one Parquet file, from its footer."""
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).metadata.num_rows


def iter_batches(path: Path, columns: list[str], batch_size: int = 65_536) -> Iterator[Any]:
    """``columns`` of one Parquet file as record batches of at most ``batch_size`` rows (files
    with the same rows and row groups give batches with the same boundaries)."""
    import pyarrow.parquet as pq

    yield from pq.ParquetFile(path).iter_batches(batch_size=batch_size, columns=columns)


def column_names(path: Path) -> list[str]:
    import pyarrow.parquet as pq

    return list(pq.read_schema(path).names)
