"""Hypothesis strategies for small annotated corpora, and the helpers that turn them into the
:class:`~pipeline.io.published.Corpus` exporters read (through the real ingest and annotate
code, without DVC) and compare an import with it."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from hypothesis import strategies as st

from pipeline.core.labels import LabelSchema
from pipeline.core.selection import check_and_select
from pipeline.core.spans import AnnotationRecord, Document, Entity, Relation
from pipeline.core.text import text_sha256
from pipeline.formats.build import ImportResult
from pipeline.io.published import Corpus, corpus_from_tables
from pipeline.io.schemas import load_label_schema
from pipeline.stages.annotate import build_shard, document_infos
from pipeline.stages.ingest import SourcedDocument, segment_documents

REPO = Path(__file__).resolve().parents[2]
SCHEMA: LabelSchema = load_label_schema(REPO / "schemas" / "labels.yaml")
RATIOS = {"train": 0.5, "dev": 0.25, "test": 0.25}

WORDS = [
    "Donald",
    "Trump",
    "Kim",
    "Jong",
    "Un",
    "Nordkorea",
    "US-Präsident",
    "Südkoreas",
    "Gipfel",
    "in",
    "und",
    "der",
    "Washington",
    "Pjöngjang",
    "Café",
    "Straße",
    "2018",
    "Ende",
    "Mai",
    "„Hwasong-15“",
    "(UN)",
    ",",
    ".",
    "🙂",
    "🇩🇪",
    "naïve",
    "Ελλάδα",
    "z.B.",
    "Nord-",
    "—",
]


@dataclass(frozen=True)
class DocSpec:
    doc_id: str
    text: str
    entities: tuple[Entity, ...]
    relations: tuple[Relation, ...]


@st.composite
def documents(draw, doc_id: str) -> DocSpec:
    """A document of 1-2 paragraphs of 1-2 lines of words; entities are disjoint runs of words
    inside one paragraph (sometimes across a line break), some with a nested entity over their
    first or last word (overlap: nested); relations obey the label schema."""
    parts: list[str] = []
    words: list[tuple[int, int, int]] = []  # start, end, paragraph
    position = 0
    for paragraph in range(draw(st.integers(1, 2))):
        if paragraph:
            parts.append("\n\n")
            position += 2
        for line in range(draw(st.integers(1, 2))):
            if line:
                parts.append("\n")
                position += 1
            for index, word in enumerate(draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=7))):
                if index:
                    parts.append(" ")
                    position += 1
                parts.append(word)
                words.append((position, position + len(word), paragraph))
                position += len(word)
    text = "".join(parts)
    entities: list[Entity] = []
    index = 0
    while index < len(words):
        if draw(st.booleans()):
            length = draw(st.integers(1, 3))
            run = [w for w in words[index : index + length] if w[2] == words[index][2]]
            label = draw(st.sampled_from(SCHEMA.entity_types))
            entities.append(Entity(f"T{len(entities) + 1}", run[0][0], run[-1][1], label, "gold"))
            if len(run) > 1 and draw(st.booleans()):  # a nested entity (level 1) over its first or last word
                word = run[0] if draw(st.booleans()) else run[-1]
                entities.append(Entity(f"T{len(entities) + 1}", word[0], word[1], draw(st.sampled_from(SCHEMA.entity_types)), "gold"))
            index += len(run)
        index += 1
    relations: list[Relation] = []
    seen: set[frozenset[str] | tuple[str, str, str]] = set()
    if len(entities) > 1:
        for _ in range(draw(st.integers(0, 3))):
            head, tail = draw(st.permutations(entities))[:2]
            allowed = [
                r for r in SCHEMA.relation_types if r.allows(head.label, tail.label) and head.label in r.head and tail.label in r.tail
            ]
            if not allowed:
                continue
            rtype = draw(st.sampled_from(allowed))
            key = frozenset((rtype.name, head.id, tail.id)) if rtype.symmetric else (rtype.name, head.id, tail.id)
            if key in seen:
                continue
            seen.add(key)
            relations.append(Relation(f"R{len(relations) + 1}", head.id, tail.id, rtype.name, "gold"))
    return DocSpec(doc_id, text, tuple(entities), tuple(relations))


@st.composite
def corpora(draw, max_documents: int = 3) -> list[DocSpec]:
    count = draw(st.integers(1, max_documents))
    return [draw(documents(f"doc-{i}")) for i in range(count)]


def run_annotate(documents: list[Document], records: list[AnnotationRecord], priority=("gold", "imported/*", "*")):
    """The real ingest segmentation and annotate core (no DVC, no shards): tables and problems."""
    sourced = [SourcedDocument(d, "test.jsonl", i + 1, d.text_sha256) for i, d in enumerate(documents)]
    documents_table, sentences, tokens = segment_documents(sourced, "de")
    chosen, problems = check_and_select(records, document_infos(documents_table), SCHEMA, priority=list(priority))
    result = build_shard(documents_table, sentences, tokens, chosen, SCHEMA, RATIOS)
    return result.tables, problems + result.problems


def pipeline_problems(result: ImportResult) -> list[str]:
    """Every problem annotate finds in an import (all layers checked, one record per document
    chosen, tokens aligned, paragraphs respected): what validate would report besides the
    table checks."""
    _, problems = run_annotate(result.documents, result.records)
    return [p.format() for p in problems]


def build_corpus(specs: list[DocSpec]) -> Corpus:
    """Run the real ingest segmentation and annotate core over ``specs``; fail on any problem."""
    documents = [Document(s.doc_id, s.text, "test") for s in specs]
    records = [
        AnnotationRecord(s.doc_id, text_sha256(s.text), "gold", "gold", s.entities, s.relations, "gold.jsonl", i + 1)
        for i, s in enumerate(specs)
    ]
    result_tables, problems = run_annotate(documents, records)
    assert not problems, [p.format() for p in problems]
    return corpus_from_tables(result_tables, SCHEMA.to_metadata())


def entity_key(text: str, entity: Entity) -> tuple[int, int, str]:
    assert text[entity.start : entity.end]
    return (entity.start, entity.end, entity.label)


def relation_keys(entities: dict[str, Entity], relations) -> Counter:
    return Counter(
        ((entities[r.head].start, entities[r.head].end), (entities[r.tail].start, entities[r.tail].end), r.label) for r in relations
    )


def assert_same(corpus: Corpus, result: ImportResult, *, relations: bool = True) -> None:
    """``result`` holds exactly the documents, entities and relations of ``corpus`` (ids aside)."""
    assert not result.errors, [p.format() for p in result.errors]
    imported = {d.doc_id: d for d in result.documents}
    assert set(imported) == {d.doc_id for d in corpus.documents}
    records = {r.doc_id: r for r in result.records}
    for doc in corpus.documents:
        assert imported[doc.doc_id].text == doc.text
        record = records[doc.doc_id]
        assert sorted(entity_key(doc.text, e) for e in record.entities) == sorted(entity_key(doc.text, e) for e in doc.entities)
        if relations:
            assert relation_keys({e.id: e for e in record.entities}, record.relations) == relation_keys(
                {e.id: e for e in doc.entities}, doc.relations
            )
