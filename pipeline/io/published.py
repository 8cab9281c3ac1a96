"""The one reader of the published dataset (``corpus/published``), as every exporter reads it.

:func:`load_published` reads the flat tables and ``manifest.json`` into a :class:`Corpus`:
documents with their entities, relations, sentences and tagged tokens, plus the label schema the
dataset was published with. pyarrow is imported only when a corpus is read.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
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
