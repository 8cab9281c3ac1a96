"""Test data for the doccano round trips: documents built from third-party corpora plus handcrafted ones.

Documents come from ``$CORPUS_EXTERNAL_DIR`` (default ``../shared/external`` relative to the repository):
MobIE texts (tweets with emoji, traffic reports) with their entity mentions mapped to our labels, and
GermEval 2014 sentences; plus handcrafted texts with emoji, ZWJ sequences, flags, umlauts, ß, CRLF
and NFD input. Relations are synthesised between entities whose types the label schema allows: the
round trip is about fidelity, not about the relations being true.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import os
import shutil
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from pipeline.config import Config

REPO = Path(__file__).resolve().parents[2]
EXTERNAL_ENV = "CORPUS_EXTERNAL_DIR"

MOBIE_LABELS = {
    "person": "PER",
    "organization": "ORG",
    "organization-company": "ORG",
    "location-city": "GPE",
    "location": "LOC",
    "location-stop": "LOC",
    "location-street": "LOC",
    "location-route": "LOC",
    "date": "DATE",
}
GERMEVAL_LABELS = {"PER": "PER", "ORG": "ORG", "LOC": "LOC", "OTH": "MISC"}


def repo_conftest() -> Any:
    """tests/repo_helpers.py (copy_repo, run, tree_bytes), loaded by path."""
    spec = importlib.util.spec_from_file_location("repo_helpers_by_path", REPO / "tests" / "repo_helpers.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def external_dir() -> Path:
    return Path(os.environ.get(EXTERNAL_ENV) or REPO / ".." / "shared" / "external").resolve()


def utf16_len(text: str) -> int:
    """UTF-16 code units, computed independently of pipeline.core.text (what JavaScript's .length says)."""
    return len(text.encode("utf-16-le")) // 2


def utf16_offset(text: str, codepoint: int) -> int:
    return utf16_len(text[:codepoint])


# --------------------------------------------------------------------------- handcrafted texts

# (id, raw text as a file would hold it, entities as (surface, label, occurrence)); offsets are found
# in the *normalised* text, which is what ingest produces and push sends.
HANDCRAFTED: list[tuple[str, str, list[tuple[str, str]]]] = [
    (
        "hand-emoji",
        "😀 Angela Merkel trifft 🇫🇷 Emmanuel Macron in Straßburg 👩‍👩‍👧.",
        [("Angela Merkel", "PER"), ("Emmanuel Macron", "PER"), ("Straßburg", "GPE")],
    ),
    (
        "hand-zwj",
        "Familie 👨‍👩‍👧‍👦 aus Köln besucht die Nordsee 🌊🌊 mit der Deutschen Bahn.",
        [("Köln", "GPE"), ("Nordsee", "LOC"), ("Deutschen Bahn", "ORG")],
    ),
    (
        "hand-crlf",
        "Erste Zeile über München.\r\nZweite Zeile: Die Bundesregierung 🏛️ tagt.\r\n\r\nDritter Absatz in Dresden.",
        [("München", "GPE"), ("Bundesregierung", "ORG"), ("Dresden", "GPE")],
    ),
    (
        "hand-nfd",
        unicodedata.normalize("NFD", "Jürgen Müller aus Düsseldorf grüßt Österreich 🙂 am 9. November 1989."),
        [("Jürgen Müller", "PER"), ("Düsseldorf", "GPE"), ("Österreich", "GPE"), ("9. November 1989", "DATE")],
    ),
    (
        "hand-eszett",
        "Die Straße in Gießen heißt 𝔊𝔬𝔱𝔥𝔦𝔰𝔠𝔥 nicht; Siemens 💶 zahlt in Fußball-Euro.",
        [("Gießen", "GPE"), ("Siemens", "ORG")],
    ),
    (
        "hand-combining",
        "Die Band Spın̈al Tap 🎸 spielte beim Wacken 🤘 mit Zoë aus Genf.",
        [("Spın̈al Tap", "ORG"), ("Wacken", "LOC"), ("Zoë", "PER"), ("Genf", "GPE")],
    ),
    ("hand-cr", "Alte Mac-Datei aus Bern.\rZweite Zeile mit 🐻 Berlin.", [("Bern", "GPE"), ("Berlin", "GPE")]),
    ("hand-bom", "\ufeffMit BOM: Nato 🛡️ tagt in Brüssel.", [("Nato", "ORG"), ("Brüssel", "GPE")]),
    # nested spans (overlap: nested): the push turns on the project's allow_overlapping, the pull brings both levels back
    (
        "hand-nested",
        "Die Bank von England 🏦 und die Universität Bremen.",
        [("Bank von England", "ORG"), ("England", "GPE"), ("Universität Bremen", "ORG"), ("Bremen", "GPE")],
    ),
]


@dataclass
class Doc:
    doc_id: str
    raw: str  # as written to seeds (may hold CRLF, NFD, a BOM)
    entities: list[tuple[int, int, str]]  # code points into the normalised text


def _normalise(raw: str) -> str:
    from pipeline.core.text import normalise_text

    return normalise_text(raw)


def handcrafted() -> list[Doc]:
    docs = []
    for doc_id, raw, wanted in HANDCRAFTED:
        text = _normalise(raw)
        entities, position = [], 0
        for surface, label in wanted:
            start = text.index(surface, position)
            entities.append((start, start + len(surface), label))
            position = start + 1  # the next surface may nest in this one
        docs.append(Doc(doc_id, raw, entities))
    return docs


# --------------------------------------------------------------------------- third-party texts


def mobie_docs(limit: int) -> list[Doc]:
    """MobIE documents (UTF-16 offsets in the source) with at least one mapped, clean, non-overlapping entity."""
    from pipeline.core.text import utf16_to_codepoint

    path = external_dir() / "mobie-dev.jsonl.gz"
    docs = []
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            data = json.loads(line)
            text = data["text"]
            if _normalise(text) != text or not text.strip():
                continue
            spans = []
            for mention in data.get("conceptMentions") or []:
                label = MOBIE_LABELS.get(mention["type"])
                if label is None:
                    continue
                try:
                    start, end = utf16_to_codepoint(text, [mention["span"]["start"], mention["span"]["end"]])
                except ValueError:
                    continue
                surface = text[start:end]
                if start < end and surface == surface.strip() and "\n" not in surface:
                    spans.append((start, end, label))
            spans = _non_overlapping(spans)
            if spans:
                docs.append(Doc(f"mobie-{data['id']}", text, spans))
    # texts with astral characters (emoji) first: they are what the offset conversion is about
    docs.sort(key=lambda d: (all(ord(c) <= 0xFFFF for c in d.raw), d.doc_id))
    return sorted(docs[:limit], key=lambda d: d.doc_id)


def germeval_docs(limit: int) -> list[Doc]:
    """GermEval 2014 dev sentences (text rebuilt from tokens) with outer PER/ORG/LOC/OTH entities."""
    path = external_dir() / "germeval2014-dev.tsv"
    docs: list[Doc] = []
    rows: list[list[str]] = []
    count = 0

    def flush() -> None:
        nonlocal count
        if not rows:
            return
        count += 1
        tokens = [r[1] for r in rows]
        text = " ".join(tokens)
        spans, position, current = [], 0, None
        for row, token in zip(rows, tokens, strict=True):
            tag = row[2]
            start, end = position, position + len(token)
            position = end + 1
            if tag.startswith("B-") and tag[2:] in GERMEVAL_LABELS:
                if current:
                    spans.append(current)
                current = (start, end, GERMEVAL_LABELS[tag[2:]])
            elif tag.startswith("I-") and current and GERMEVAL_LABELS.get(tag[2:]) == current[2]:
                current = (current[0], end, current[2])
            else:
                if current:
                    spans.append(current)
                current = None
        if current:
            spans.append(current)
        rows.clear()
        if spans and _normalise(text) == text:
            docs.append(Doc(f"germeval-dev-{count:04d}", text, spans))

    for line in path.read_text(encoding="utf-8").splitlines():
        if len(docs) >= limit:
            break
        if line.startswith("#"):
            continue
        if not line.strip():
            flush()
            continue
        rows.append(line.rstrip("\t").split("\t"))
    flush()
    return docs[:limit]


def _non_overlapping(spans: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    kept: list[tuple[int, int, str]] = []
    for span in sorted(set(spans)):
        if kept and span[0] < kept[-1][1]:
            continue
        kept.append(span)
    return kept


# --------------------------------------------------------------------------- records and workspace


def synth_relations(entities: list[tuple[int, int, str]], schema: Any, limit: int = 3) -> list[tuple[int, int, str]]:
    """Up to ``limit`` (head index, tail index, label) pairs whose types the schema allows."""
    found = []
    for i, head in enumerate(entities):
        for j, tail in enumerate(entities):
            if i == j:
                continue
            for relation in schema.relation_types:
                if head[2] in relation.head and tail[2] in relation.tail and (not relation.symmetric or i < j):
                    found.append((i, j, relation.name))
                    break
            if len(found) >= limit:
                return found
    return found


def gold_record(doc: Doc, schema: Any, source: str = "gold") -> dict[str, Any]:
    from pipeline.core.text import text_sha256

    text = _normalise(doc.raw)
    entities = [
        {"id": f"T{n}", "start": s, "end": e, "label": label, "text": text[s:e]} for n, (s, e, label) in enumerate(doc.entities, start=1)
    ]
    relations = [
        {"id": f"R{n}", "head": f"T{h + 1}", "tail": f"T{t + 1}", "label": label}
        for n, (h, t, label) in enumerate(synth_relations(doc.entities, schema), start=1)
    ]
    return {
        "doc_id": doc.doc_id,
        "text_sha256": text_sha256(text),
        "source": source,
        "annotator": "round-trip-test",
        "entities": entities,
        "relations": relations,
    }


def build_documents(n_external: int) -> list[Doc]:
    """Handcrafted documents plus ``n_external`` documents from MobIE (about two thirds) and GermEval."""
    mobie = mobie_docs(min(n_external * 2 // 3, 400))
    germeval = germeval_docs(n_external - len(mobie))
    return handcrafted() + mobie + germeval


def write_workspace(root: Path, docs: list[Doc], *, with_repo_seed: bool = True) -> Config:
    """A corpus folder (seeds, gold layer, params.yaml with absolute paths) ingested in-process.

    Returns the config of its params.yaml after running the ingest stage.
    """
    from pipeline.config import load_config
    from pipeline.io.schemas import load_label_schema
    from pipeline.stages import ingest

    schema = load_label_schema(REPO / "schemas" / "labels.yaml")
    params = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    (root / "seeds").mkdir(parents=True, exist_ok=True)
    gold_dir = root / "corpus" / "annotations" / "gold"
    gold_dir.mkdir(parents=True, exist_ok=True)
    if with_repo_seed:
        for path in sorted((REPO / "seeds").iterdir()):
            shutil.copy2(path, root / "seeds" / path.name)
        shutil.copy2(REPO / "corpus" / "annotations" / "gold" / "seed.jsonl", gold_dir / "seed.jsonl")
    with open(root / "seeds" / "roundtrip.jsonl", "w", encoding="utf-8", newline="") as handle:
        for doc in docs:
            handle.write(json.dumps({"id": doc.doc_id, "text": doc.raw}, ensure_ascii=False) + "\n")
    with open(gold_dir / "roundtrip.jsonl", "w", encoding="utf-8") as handle:
        for doc in docs:
            handle.write(json.dumps(gold_record(doc, schema), ensure_ascii=False) + "\n")
    params["schemas"] = {k: str(REPO / v) for k, v in params["schemas"].items()}
    params["ingest"]["seeds_dir"] = str(root / "seeds")
    params["ingest"]["out_dir"] = str(root / "corpus" / "interim" / "ingest")
    params["annotate"]["annotations_dir"] = str(root / "corpus" / "annotations")
    params["annotate"]["out_dir"] = str(root / "corpus" / "interim" / "tables")
    params["preannotate"]["out_dir"] = str(root / "corpus" / "preannotations")
    params["preannotate"]["patterns_dir"] = str(REPO / "corpus" / "patterns")
    params["publish"]["out_dir"] = str(root / "corpus" / "published")
    params["publish"]["changelog"] = str(REPO / "corpus" / "CHANGELOG.md")
    params["runtime"]["cache_dir"] = str(root / ".cache" / "pipeline")
    (root / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True, sort_keys=False), encoding="utf-8")
    config = load_config(root / "params.yaml")
    problems = ingest.run(config.for_stage("ingest"))
    errors = [p for p in problems if p.severity.value == "error"]
    assert not errors, [p.format() for p in errors[:5]]
    return config


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def comparable(record: dict[str, Any]) -> tuple[Any, ...]:
    """Everything the round trip must preserve: document, hash, every entity and relation with ids."""
    return (
        record["doc_id"],
        record["text_sha256"],
        sorted((e["id"], e["start"], e["end"], e["label"]) for e in record["entities"]),
        sorted((r["id"], r["head"], r["tail"], r["label"]) for r in record.get("relations", [])),
    )
