"""Build a benchmark corpus of N news-length German documents from real annotated text.

The documents are assembled from the real corpora in ``../shared/external/`` (see its README):

* GermEval 2014 dev sentences, rebuilt from their tokens,
* HIPE-2022 SONAR (German) sentences, rebuilt from their tokens,
* MobIE dev documents (tweets, news, traffic reports), taken as they are,

and the real entity annotations of those pieces are carried over as a gold annotation layer with
code-point offsets into the assembled document. Output, inside a repository copy:

* ``seeds/bench.jsonl``                       one document a line (schemas/document.schema.json)
* ``corpus/annotations/gold/bench.jsonl``     one record a line (schemas/annotation.schema.json)

Document ``i`` (1-based, id ``bench-000001``) depends only on ``(seed, i)`` and the source files:
building N+1 documents gives the first N unchanged, which is what the "add one document"
measurement of ``benchmarks/run.py`` relies on.

Benchmark simplifications (the texts and spans are real, the documents are collages):

* Sentences are reused (each one about 60 times at N=10,000) and shuffled into new documents.
* GermEval: only the outer layer; ``LOC→LOC``, ``PER→PER``, ``ORG→ORG``, ``OTH→MISC``; the
  ``*part`` and ``*deriv`` labels are skipped (no counterpart in our guidelines). LOC is not split
  into GPE/LOC.
* GermEval has no original spacing and this HIPE release has no ``NoSpaceAfter`` flags, so text
  is rebuilt by a rule: tokens joined by a space, no space before ``, . ; : ! ? ) ]`` and ``“``,
  none after ``( [ „``; ``"`` alternates between opening and closing. ``NoSpaceAfter`` is honoured
  when present.
* HIPE: ``NE-COARSE-LIT`` only; ``pers/PER→PER``, ``org/ORG→ORG``, ``loc/LOC→LOC``,
  ``time→DATE``, ``prod→MISC``.
* MobIE: UTF-16 offsets converted with :func:`pipeline.core.text.utf16_to_codepoint`; line breaks
  inside a text become spaces (one paragraph per MobIE text, same length so offsets stay);
  ``person→PER``, ``organization(-company)→ORG``, ``location-city→GPE``,
  ``location/-street/-stop→LOC``, ``date→DATE``; every other type is skipped, and of overlapping
  mentions the first (longest) is kept. No relations are carried over (MobIE's n-ary traffic
  relations have no counterpart in the label schema), so the relations table is empty.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import random
import sys
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pipeline.core.text import utf16_to_codepoint  # noqa: E402

SEED_FILE = Path("seeds/bench.jsonl")
LAYER_FILE = Path("corpus/annotations/gold/bench.jsonl")
MIN_TOKENS, MAX_TOKENS = 400, 500
ANNOTATOR = "benchmarks/build_corpus.py"

GERMEVAL_LABELS = {"PER": "PER", "ORG": "ORG", "LOC": "LOC", "OTH": "MISC"}
HIPE_LABELS = {"pers": "PER", "PER": "PER", "org": "ORG", "ORG": "ORG", "loc": "LOC", "LOC": "LOC", "time": "DATE", "prod": "MISC"}
MOBIE_LABELS = {
    "person": "PER",
    "organization": "ORG",
    "organization-company": "ORG",
    "location-city": "GPE",
    "location": "LOC",
    "location-street": "LOC",
    "location-stop": "LOC",
    "date": "DATE",
}
NO_SPACE_BEFORE = {",", ".", ";", ":", "!", "?", ")", "]", "“", "..."}
NO_SPACE_AFTER = {"(", "[", "„"}


def external_dir() -> Path:
    """``$CORPUS_EXTERNAL_DIR``, else ``../shared/external`` next to the repository."""
    return Path(os.environ.get("CORPUS_EXTERNAL_DIR") or ROOT.parent / "shared" / "external")


@dataclass(frozen=True)
class Unit:
    """A piece of real text (a sentence or a MobIE document) with its entities."""

    text: str
    entities: tuple[tuple[int, int, str], ...]  # (start, end, label), code points into text
    tokens: int
    source: str  # imported:<corpus>


# --------------------------------------------------------------------------- sources


def _join_tokens(tokens: list[str], no_space_after: list[bool] | None = None) -> tuple[str, list[tuple[int, int]]]:
    """Text from tokens by the spacing rule in the module docstring; offsets of every token."""
    parts: list[str] = []
    offsets: list[tuple[int, int]] = []
    position = 0
    glue = True  # no space before the first token
    quote_open = False
    for index, token in enumerate(tokens):
        if token == '"':
            closing = quote_open
            quote_open = not quote_open
        else:
            closing = token in NO_SPACE_BEFORE
        if not glue and not closing:
            parts.append(" ")
            position += 1
        parts.append(token)
        offsets.append((position, position + len(token)))
        position += len(token)
        glue = token in NO_SPACE_AFTER or (token == '"' and quote_open)
        if no_space_after is not None and no_space_after[index]:
            glue = True
    return "".join(parts), offsets


def _bio_spans(tags: list[str], mapping: dict[str, str]) -> list[tuple[int, int, str]]:
    """(first token, last token + 1, label) for each entity of an IOB2 column; stray I- opens one."""
    spans: list[tuple[int, int, str]] = []
    current: list | None = None
    for index, tag in enumerate(tags + ["O"]):
        prefix, _, raw = tag.partition("-")
        if current is not None and (prefix != "I" or raw != current[2]):
            spans.append((current[0], index, current[2]))
            current = None
        if prefix in ("B", "I") and current is None and index < len(tags):
            current = [index, index + 1, raw]
    return [(a, b, mapping[label]) for a, b, label in spans if label in mapping]


def _unit(
    tokens: list[str], tags: list[str], mapping: dict[str, str], source: str, no_space_after: list[bool] | None = None
) -> Unit | None:
    tokens = [unicodedata.normalize("NFC", t) for t in tokens]
    text, offsets = _join_tokens(tokens, no_space_after)
    if not text.strip() or "\n" in text or "\r" in text or not unicodedata.is_normalized("NFC", text):
        return None
    entities = tuple((offsets[a][0], offsets[b - 1][1], label) for a, b, label in _bio_spans(tags, mapping))
    return Unit(text, entities, len(tokens), source)


def read_germeval(path: Path) -> list[Unit]:
    units: list[Unit] = []
    tokens: list[str] = []
    tags: list[str] = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            line = line.rstrip("\n")
            if line.startswith("#"):
                continue
            if not line.strip():
                if tokens:
                    unit = _unit(tokens, tags, GERMEVAL_LABELS, "imported:germeval2014")
                    if unit:
                        units.append(unit)
                tokens, tags = [], []
                continue
            columns = line.split("\t")
            tokens.append(columns[1])
            tags.append(columns[2])  # outer layer; *part/*deriv are not in the mapping
    if tokens:
        unit = _unit(tokens, tags, GERMEVAL_LABELS, "imported:germeval2014")
        if unit:
            units.append(unit)
    return units


def read_hipe(path: Path) -> list[Unit]:
    units: list[Unit] = []
    tokens: list[str] = []
    tags: list[str] = []
    glue: list[bool] = []

    def flush() -> None:
        if tokens:
            unit = _unit(tokens, tags, HIPE_LABELS, "imported:hipe2022", glue)
            if unit:
                units.append(unit)
        tokens.clear(), tags.clear(), glue.clear()

    with open(path, encoding="utf-8") as handle:
        for line in handle:
            line = line.rstrip("\n")
            if line.startswith("TOKEN\t"):
                continue
            if line.startswith("#") or not line.strip():
                if line.startswith("# hipe2022:document_id"):
                    flush()
                continue
            columns = line.split("\t")
            flags = set(columns[9].split("|")) if len(columns) > 9 else set()
            tokens.append(columns[0])
            tags.append(columns[1])
            glue.append("NoSpaceAfter" in flags)
            if "EndOfSentence" in flags:
                flush()
    flush()
    return units


def read_mobie(path: Path) -> list[Unit]:
    units: list[Unit] = []
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            data = json.loads(line)
            raw = data["text"]
            if not unicodedata.is_normalized("NFC", raw):
                continue  # offsets would move under NFC; rare, and skipping keeps them exact
            mentions = []
            for mention in data.get("conceptMentions") or []:
                label = MOBIE_LABELS.get(mention["type"])
                if label is None:
                    continue
                try:
                    start, end = utf16_to_codepoint(raw, [mention["span"]["start"], mention["span"]["end"]])
                except ValueError:
                    continue
                mentions.append((start, end, label))
            flat = raw.replace("\r", " ").replace("\n", " ").replace("\t", " ")
            lead = len(flat) - len(flat.lstrip())
            text = flat.strip()
            if not text:
                continue
            kept: list[tuple[int, int, str]] = []
            for start, end, label in sorted(mentions, key=lambda m: (m[0], -(m[1] - m[0]))):
                start, end = start - lead, end - lead
                if not (0 <= start < end <= len(text)) or text[start:end] != text[start:end].strip():
                    continue
                if kept and start < kept[-1][1]:
                    continue  # overlaps the previous kept mention
                kept.append((start, end, label))
            units.append(Unit(text, tuple(kept), len(data.get("tokens") or text.split()), "imported:mobie"))
    return units


@lru_cache(maxsize=4)
def load_units(external: Path) -> tuple[Unit, ...]:
    """Every unit of the three corpora, in a fixed order."""
    units = (
        read_germeval(external / "germeval2014-dev.tsv")
        + read_hipe(external / "hipe2022-sonar-dev-de.tsv")
        + read_mobie(external / "mobie-dev.jsonl.gz")
    )
    if not units:
        raise RuntimeError(f"no text found in {external}")
    return tuple(units)


# --------------------------------------------------------------------------- documents


def doc_id(index: int) -> str:
    return f"bench-{index:06d}"


def make_document(index: int, units: tuple[Unit, ...], seed: int = 0) -> tuple[dict, dict]:
    """Document ``index`` and its annotation record; depends only on (seed, index, units)."""
    rng = random.Random(f"bench:{seed}:{index}")
    target = rng.randint(MIN_TOKENS, MAX_TOKENS)
    paragraphs: list[list[Unit]] = []
    tokens = 0
    while tokens < target:
        paragraph: list[Unit] = []
        for _ in range(rng.randint(2, 6)):
            unit = units[rng.randrange(len(units))]
            if tokens >= MIN_TOKENS and tokens + unit.tokens > MAX_TOKENS:
                break
            paragraph.append(unit)
            tokens += unit.tokens
            if tokens >= target:
                break
        if paragraph:
            paragraphs.append(paragraph)
        elif tokens >= MIN_TOKENS:
            break
    pieces: list[str] = []
    entities: list[dict] = []
    position = 0
    for p_index, paragraph in enumerate(paragraphs):
        for u_index, unit in enumerate(paragraph):
            separator = ("\n\n" if p_index else "") if u_index == 0 else " "
            pieces.append(separator)
            position += len(separator)
            for start, end, label in unit.entities:
                entities.append(
                    {
                        "id": f"T{len(entities) + 1}",
                        "start": position + start,
                        "end": position + end,
                        "label": label,
                        "text": unit.text[start:end],
                        "source": unit.source,
                    }
                )
            pieces.append(unit.text)
            position += len(unit.text)
    text = "".join(pieces)
    identifier = doc_id(index)
    day = rng.randrange(3650)
    document = {
        "id": identifier,
        "text": text,
        "title": f"Benchmark-Dokument {index}",
        "date": f"{2010 + day // 365:04d}-{1 + (day % 365) // 31 % 12:02d}-{1 + day % 28:02d}",
    }
    record = {
        "doc_id": identifier,
        "text_sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),  # the text is already NFC, LF-only
        "source": "gold",
        "annotator": ANNOTATOR,
        "entities": entities,
        "relations": [],
    }
    return document, record


def iter_documents(n: int, external: Path | None = None, seed: int = 0, first: int = 1) -> Iterator[tuple[dict, dict]]:
    units = load_units((external or external_dir()).resolve())
    for index in range(first, first + n):
        yield make_document(index, units, seed)


def write_corpus(repo: Path, n: int, external: Path | None = None, seed: int = 0) -> dict:
    """Write ``seeds/bench.jsonl`` and the gold layer ``bench.jsonl`` into ``repo``; return stats."""
    seeds, layer = repo / SEED_FILE, repo / LAYER_FILE
    seeds.parent.mkdir(parents=True, exist_ok=True)
    layer.parent.mkdir(parents=True, exist_ok=True)
    stats = {"documents": 0, "words": 0, "entities": 0, "characters": 0}
    with open(seeds, "w", encoding="utf-8") as docs_out, open(layer, "w", encoding="utf-8") as layer_out:
        for document, record in iter_documents(n, external, seed):
            docs_out.write(json.dumps(document, ensure_ascii=False) + "\n")
            layer_out.write(json.dumps(record, ensure_ascii=False) + "\n")
            stats["documents"] += 1
            stats["entities"] += len(record["entities"])
            stats["characters"] += len(document["text"])
            stats["words"] += len(document["text"].split())
    stats["seeds_bytes"] = seeds.stat().st_size
    stats["layer_bytes"] = layer.stat().st_size
    return stats


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, required=True, help="number of documents")
    parser.add_argument("--repo", type=Path, required=True, help="repository copy to write seeds/ and the gold layer into")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--external", type=Path, default=None, help="default: $CORPUS_EXTERNAL_DIR or ../shared/external")
    args = parser.parse_args(argv)
    stats = write_corpus(args.repo, args.n, args.external, args.seed)
    print(json.dumps(stats, indent=2))


if __name__ == "__main__":
    main()
