"""Compare German tokenizers on real text with gold tokens: speed and token-boundary agreement.

MobIE dev (494 German news, tweets and traffic reports) ships the original text with gold token
offsets (UTF-16 units, converted with the project's one conversion function), so each
tokenizer's output can be compared with the gold tokens as character spans. (GermEval and the
HIPE sonar file carry no original spacing, so they cannot serve here.)
Runs spaCy's blank German tokenizer (what ``pipeline/segment.py`` uses) and, when installed,
SoMaJo. Usage: ``python benchmarks/tokenizers.py [--external ../shared/external]``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def mobie_documents(path: Path) -> list[tuple[str, set[tuple[int, int]], str]]:
    """MobIE documents (news, tweets, traffic reports) with their gold tokens as code-point spans."""
    import gzip
    import json

    from pipeline.core.text import utf16_to_codepoint

    documents = []
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            data = json.loads(line)
            text = data["text"]
            edges = [e for t in data["tokens"] for e in (t["span"]["start"], t["span"]["end"])]
            points = utf16_to_codepoint(text, edges)
            kind = {"RSS_XML": "news", "TWITTER_JSON": "tweets"}.get(data.get("docType"), data.get("docType") or "other")
            documents.append((text, {(points[i], points[i + 1]) for i in range(0, len(points), 2)}, kind))
    return documents


def score(gold: set[tuple[int, int]], predicted: set[tuple[int, int]]) -> tuple[int, int, int]:
    return len(gold & predicted), len(predicted), len(gold)


def spacy_spans(texts: list[str]) -> list[set[tuple[int, int]]]:
    import spacy

    nlp = spacy.blank("de")
    nlp.add_pipe("sentencizer")
    return [{(t.idx, t.idx + len(t.text)) for t in doc if not t.is_space} for doc in nlp.pipe(texts)]


def somajo_spans(texts: list[str]) -> list[set[tuple[int, int]]]:
    from somajo import SoMaJo

    tokenizer = SoMaJo("de_CMC", split_camel_case=False, character_offsets=True)
    result = []
    for text in texts:
        spans = set()
        for sentence in tokenizer.tokenize_text([text]):
            for token in sentence:
                start, end = token.character_offset
                spans.add((start, end))
        result.append(spans)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--external", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "external")
    args = parser.parse_args()
    documents = mobie_documents(args.external / "mobie-dev.jsonl.gz")
    texts = [d[0] for d in documents]
    gold_tokens = sum(len(d[1]) for d in documents)
    print(f"MobIE dev: {len(documents)} documents, {gold_tokens} gold tokens, {sum(map(len, texts))} characters")
    kinds = sorted({d[2] for d in documents})
    print(f"{'tokenizer':<10} {'tokens/s':>10} {'precision':>10} {'recall':>8} {'F1':>6}  " + "  ".join(f"F1 {k}" for k in kinds))
    for name, function in (("spaCy", spacy_spans), ("SoMaJo", somajo_spans)):
        try:
            function(texts[:1])
        except ImportError:
            print(f"{name:<10} not installed")
            continue
        started = time.perf_counter()
        predicted = function(texts)
        seconds = time.perf_counter() - started

        def f1(selected: list[int], predicted: list = predicted) -> tuple[float, float, float]:
            hits, found, wanted = map(sum, zip(*(score(documents[i][1], predicted[i]) for i in selected), strict=True))
            return hits / found, hits / wanted, 2 * hits / (found + wanted)

        precision, recall, overall = f1(list(range(len(documents))))
        by_kind = "  ".join(f"{f1([i for i, d in enumerate(documents) if d[2] == k])[2]:>{len(k) + 3}.3f}" for k in kinds)
        found = sum(len(p) for p in predicted)
        print(f"{name:<10} {found / seconds:>10,.0f} {precision:>10.3f} {recall:>8.3f} {overall:>6.3f}  {by_kind}")


if __name__ == "__main__":
    main()
