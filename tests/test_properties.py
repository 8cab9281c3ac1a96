"""Property-based: every valid corpus passes validation and reaches the published tables unchanged."""

from __future__ import annotations

import json
import re
import shutil
import unicodedata
from pathlib import Path

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stage_helpers import for_stage, params_for

from pipeline.core.spans import Entity, nesting
from pipeline.core.text import normalise_text, text_sha256
from pipeline.io.schemas import load_label_schema
from pipeline.stages import annotate, ingest, publish, validate

REPO = Path(__file__).resolve().parent.parent
SCHEMA = load_label_schema(REPO / "schemas" / "labels.yaml")
WORDS = [
    "Kim",
    "Moon",
    "Südkorea",
    "Straße",
    "Öl",
    "Ärger",
    "café",
    unicodedata.normalize("NFD", "Müller"),
    "q\u0301x",
    "🙂",
    "Gipfel🇩🇪",
    "👩‍👩‍👧",
    "US-Präsident",
    "Grüße",
    "Jae",
    "2018",
]


@st.composite
def documents(draw, crossing: bool = False):
    paragraphs = []
    for _ in range(draw(st.integers(1, 3))):
        sentences = []
        for _ in range(draw(st.integers(1, 3))):
            words = draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=8))
            sentences.append(" ".join(words) + ".")
        line_break = draw(st.sampled_from(["\n", "\r\n", "\r"]))
        paragraphs.append(line_break.join(sentences) if draw(st.booleans()) else " ".join(sentences))
    raw = draw(st.sampled_from(["\n\n", "\r\n\r\n"])).join(paragraphs)
    if draw(st.booleans()):
        raw = "\ufeff" + raw
    text = normalise_text(raw)
    runs = list(re.finditer(r"[^\s.]+", text))
    chosen = draw(st.lists(st.integers(0, len(runs) - 1), unique=True, max_size=6)) if runs else []
    entities = []
    for number, index in enumerate(sorted(chosen), start=1):
        match = runs[index]
        entities.append(
            {
                "id": f"T{number}",
                "start": match.start(),
                "end": match.end(),
                "label": draw(st.sampled_from(SCHEMA.entity_types)),
                "text": match.group(),
            }
        )
    # spans over two neighbouring words of one paragraph: nested around a chosen word, and with
    # ``crossing`` also pairs of them sharing a word (crossing spans, allowed only by overlap: any)
    pairs = [i for i in range(len(runs) - 1) if "\n\n" not in text[runs[i].start() : runs[i + 1].end()]]
    wrapped = draw(st.lists(st.sampled_from(pairs), unique=True, max_size=3)) if pairs else []
    if not crossing:
        wrapped = [i for i in sorted(wrapped) if i - 1 not in wrapped]
    for index in sorted(wrapped):
        start, end = runs[index].start(), runs[index + 1].end()
        label = draw(st.sampled_from(SCHEMA.entity_types))
        entities.append({"id": f"W{index}", "start": start, "end": end, "label": label, "text": text[start:end]})
    relations = []
    seen = set()
    for head in entities:
        for tail in entities:
            if head is tail or not draw(st.booleans()):
                continue
            allowed = [r for r in SCHEMA.relation_types if head["label"] in r.head and tail["label"] in r.tail]
            if not allowed:
                continue
            rtype = draw(st.sampled_from(allowed))
            key = (rtype.name, head["id"], tail["id"])
            if key in seen or (rtype.symmetric and (rtype.name, tail["id"], head["id"]) in seen):
                continue
            seen.add(key)
            relations.append({"id": f"R{len(relations) + 1}", "head": head["id"], "tail": tail["id"], "label": rtype.name})
    return raw, text, entities, relations


@st.composite
def corpora(draw):
    """A label schema's ``overlap`` (nested: the default, or any) and documents valid under it."""
    overlap = draw(st.sampled_from(["nested", "any"]))
    return overlap, draw(st.lists(documents(crossing=overlap == "any"), min_size=1, max_size=3))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(corpora())
def test_valid_corpora_pass_and_round_trip(tmp_path: Path, drawn):
    overlap, corpus = drawn
    root = tmp_path / "corpus"
    shutil.rmtree(root, ignore_errors=True)
    (root / "seeds").mkdir(parents=True)
    (root / "annotations" / "gold").mkdir(parents=True)
    records = []
    for number, (raw, text, entities, relations) in enumerate(corpus):
        (root / "seeds" / f"doc{number}.txt").write_bytes(raw.encode("utf-8"))
        records.append(
            {"doc_id": f"doc{number}", "text_sha256": text_sha256(text), "source": "gold", "entities": entities, "relations": relations}
        )
    (root / "annotations" / "gold" / "g.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8"
    )
    params = params_for(root)
    schemas = root / "schemas"
    schemas.mkdir()
    shutil.copy2(REPO / "schemas" / "labels.schema.json", schemas / "labels.schema.json")
    labels = (REPO / "schemas" / "labels.yaml").read_text(encoding="utf-8")
    (schemas / "labels.yaml").write_text(re.sub(r"(?m)^overlap: \w+$", f"overlap: {overlap}", labels), encoding="utf-8")
    params["schemas"]["labels"] = str(schemas / "labels.yaml")

    assert ingest.run(for_stage(params, "ingest")) == []
    assert annotate.run(for_stage(params, "annotate")) == []
    assert validate.run(for_stage(params, "validate")), (root / "reports" / "p.jsonl").read_text()
    publish.run(for_stage(params, "publish"))

    published = root / "published"
    documents_table = pd.read_parquet(published / "documents")
    assert dict(zip(documents_table.doc_id, documents_table.text, strict=True)) == {f"doc{i}": c[1] for i, c in enumerate(corpus)}
    entities = pd.read_parquet(published / "entities")
    got = sorted(zip(entities.doc_id, entities.ent_id, entities.start, entities.end, entities.label, entities.text, strict=True))
    want = sorted((f"doc{i}", e["id"], e["start"], e["end"], e["label"], e["text"]) for i, c in enumerate(corpus) for e in c[2])
    assert got == want
    # every level in the one record: level and parent as the spans imply them
    for i, c in enumerate(corpus):
        levels = nesting([Entity(e["id"], e["start"], e["end"], e["label"], "gold") for e in c[2]])
        rows = entities[entities.doc_id == f"doc{i}"]
        assert {r.ent_id: (r.level, None if pd.isna(r.parent) else r.parent) for r in rows.itertuples()} == {
            k: (v.level, v.parent) for k, v in levels.items()
        }
    ner = pd.read_parquet(published / "ner")
    assert sum(len(spans) for spans in ner.spans) == len(entities)  # every entity of every level is a span of its sentence
    relations = pd.read_parquet(published / "relations")
    got = sorted(zip(relations.doc_id, relations.rel_id, relations["head"], relations["tail"], relations.label, strict=True))
    want = sorted((f"doc{i}", r["id"], r["head"], r["tail"], r["label"]) for i, c in enumerate(corpus) for r in c[3])
    assert got == want
    tokens = pd.read_parquet(published / "tokens")
    texts = dict(zip(documents_table.doc_id, documents_table.text, strict=True))
    assert all(texts[d][s:e] == t for d, s, e, t in zip(tokens.doc_id, tokens.start, tokens.end, tokens.text, strict=True))
