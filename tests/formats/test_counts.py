"""Counts that add up: for every real corpus in ../shared/external, the import report's count of
source spans per level and source label equals the spans written plus the drops it reports, and
the source counts agree with the source files read independently of the adapters."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from pathlib import Path

import pytest

from pipeline.formats import importer

from .conftest import IMPORTS, MAPPINGS, options


def _tag_spans(tags: list[str]) -> int:
    """Entities in one BIO column: a B- tag, or an I- tag not continuing one of its type."""
    count, previous = 0, "O"
    for tag in tags:
        if tag.startswith("B-") or (tag.startswith("I-") and previous[2:] != tag[2:]):
            count += 1
        previous = tag if tag not in ("_", "") else "O"
    return count


def source_counts(fmt: str, files: list[Path]) -> dict[str, int]:
    """Source spans per level, read from the files without the adapters."""
    if fmt == "germeval":
        columns: dict[str, list[list[str]]] = {"0": [], "1": []}
        for block in files[0].read_text(encoding="utf-8").split("\n\n"):
            rows = [line.split("\t") for line in block.split("\n") if line.strip() and not line.startswith("#")]
            columns["0"].append([r[2] for r in rows])
            columns["1"].append([r[3] for r in rows])
        return {level: sum(_tag_spans(tags) for tags in sentences) for level, sentences in columns.items()}
    if fmt == "hipe":
        counts = Counter()
        header, docs = None, []
        for line in files[0].read_text(encoding="utf-8").split("\n"):
            if line.startswith("TOKEN"):
                header = line.split("\t")
            elif line.startswith("# hipe2022:document_id"):
                docs.append([])
            elif line.strip() and not line.startswith("#"):
                docs[-1].append(dict(zip(header, line.split("\t"), strict=True)))
        for rows in docs:
            counts["0"] += _tag_spans([r["NE-COARSE-LIT"] for r in rows])
            counts["1"] += _tag_spans([r["NE-NESTED"] for r in rows])
        return {k: v for k, v in counts.items() if v}
    if fmt == "mobie":
        lines = gzip.decompress(files[0].read_bytes()).decode("utf-8").splitlines()
        return {"all": sum(len(json.loads(line)["conceptMentions"] or []) for line in lines if line.strip())}
    if fmt == "conll":
        tags = [line.split()[-1] for line in files[0].read_text(encoding="utf-8").splitlines() if line.strip()]
        return {"all": _tag_spans(tags)}
    total = 0  # doccano JSONL: entities (or 1.x annotations, or [start, end, label] labels) of every line
    for path in files:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                data = json.loads(line)
                total += len(data.get("entities") or data.get("annotations") or data.get("label") or data.get("labels") or [])
    return {"all": total}


@pytest.mark.parametrize("fmt,files,name,mapping,extra", IMPORTS, ids=[i[2] for i in IMPORTS])
def test_source_spans_equal_published_plus_reported_drops_per_level(external_dir, fmt, files, name, mapping, extra):
    paths = [external_dir / f for f in files]
    kwargs = {"strip_whitespace": True} if "--strip-whitespace" in extra else {}
    result = importer(fmt)(paths, options(name, MAPPINGS / f"{mapping}.yaml", **kwargs))
    levels = result.stats["levels"]
    written = 0
    for level, labels in levels.items():
        for label, counts in labels.items():
            assert counts["source"] == counts["published"] + sum(counts["dropped"].values()), (level, label, counts)
            written += counts["published"]
    assert written == sum(len(r.entities) for r in result.records)  # published: what the records hold
    expected = source_counts(fmt, paths)
    found = {level: sum(c["source"] for c in labels.values()) for level, labels in levels.items()}
    if set(expected) == {"all"}:
        assert sum(found.values()) == expected["all"], found
    else:
        assert found == expected
    dropped = Counter()
    for labels in levels.values():
        for counts in labels.values():
            dropped.update(counts["dropped"])
    by_mapping = sum(result.stats["dropped_by_mapping"]["entities"].values())
    assert dropped["mapped-to-null"] == by_mapping
    assert dropped["merged-duplicate"] == result.stats["changed"]["duplicate_entities_merged"]
    assert dropped["whitespace-only"] == result.stats["changed"]["whitespace_only_skipped"]
