"""Helpers for tests that run the stages in-process on a small corpus in a temporary folder
(imported by name, like repo_helpers): the params, every path moved under the folder, and each
stage's view of them, checked as ``params.yaml`` is (:func:`pipeline.config.parse_config`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from pipeline.config import StageConfig, parse_config
from pipeline.core.text import text_sha256

REPO = Path(__file__).resolve().parent.parent
SENTENCES = [
    "Kim Jong Un traf Moon Jae In in Panmunjom.",
    "Die Gespräche in Seoul dauerten bis Ende Mai.",
    "Trump äußerte sich in Washington zurückhaltend. 🙂",
]


def corpus(root: Path, count: int) -> None:
    """``count`` small documents with gold annotations, as seeds/*.jsonl + a gold layer."""
    (root / "seeds").mkdir(parents=True, exist_ok=True)
    (root / "annotations" / "gold").mkdir(parents=True, exist_ok=True)
    lines, records = [], []
    for number in range(count):
        text = " ".join(SENTENCES[(number + k) % 3] for k in range(1 + number % 3))
        doc_id = f"doc-{number:03d}"
        lines.append({"id": doc_id, "text": text})
        start = text.index("Kim") if "Kim" in text else text.index("Trump")
        end = start + (11 if text[start:].startswith("Kim") else 5)
        records.append(
            {
                "doc_id": doc_id,
                "text_sha256": text_sha256(text),
                "source": "gold",
                "entities": [{"id": "T1", "start": start, "end": end, "label": "PER"}],
                "relations": [],
            }
        )
    (root / "seeds" / "docs.jsonl").write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines), encoding="utf-8")
    (root / "annotations" / "gold" / "g.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8"
    )


def params_for(
    root: Path, cache: Path | None = None, workers: int | None = None, shards: int | None = None, chunks: int | None = None
) -> dict[str, Any]:
    """The repository's params with every input and output under ``root`` (the schemas stay the
    repository's); ``cache``, ``workers``, ``shards`` and ``chunks`` replace the ``runtime`` values given."""
    params = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    params["schemas"] = {k: str(REPO / v) for k, v in params["schemas"].items()}
    runtime = {"cache_dir": None if cache is None else str(cache), "workers": workers, "shards": shards, "chunks": chunks}
    params["runtime"].update({k: v for k, v in runtime.items() if v is not None})
    params["ingest"].update(seeds_dir=str(root / "seeds"), out_dir=str(root / "interim" / "ingest"))
    params["annotate"].update(annotations_dir=str(root / "annotations"), out_dir=str(root / "interim" / "tables"))
    params["validate"].update(
        report=str(root / "reports" / "v.json"), problems=str(root / "reports" / "p.jsonl"), summary=str(root / "reports" / "v.md")
    )
    params["publish"].update(out_dir=str(root / "published"), metrics=str(root / "metrics.json"))
    params["agreement"].update(
        report=str(root / "reports" / "agreement.json"),
        documents=str(root / "reports" / "agreement-documents.jsonl"),
        confusion=str(root / "reports" / "agreement-confusion.json"),
    )
    params["review"].update(conflicts=str(root / "reports" / "conflicts.jsonl"), show_dir=str(root / "reports" / "show"))
    return params


def for_stage(params: dict[str, Any], stage: str) -> StageConfig:
    """What ``stage`` gets of ``params`` when ``run_stage`` reads them from a file."""
    return parse_config(params).for_stage(stage)


def build(params: dict[str, Any]) -> None:
    """Every stage a published corpus needs, in-process, in ``dvc.yaml``'s order."""
    from pipeline.stages import annotate, ingest, preannotate, publish, validate

    assert ingest.run(for_stage(params, "ingest")) == []
    assert annotate.run(for_stage(params, "annotate")) == []
    preannotate.run(for_stage(params, "preannotate"))
    assert validate.run(for_stage(params, "validate"))
    publish.run(for_stage(params, "publish"))


def params_on(root: Path, cache: Path | str, address: str | None) -> dict[str, Any]:
    """:func:`params_for` with 2 workers, 8 shards, the repository's patterns, no external corpus,
    preannotate's output in ``root/pre``, and the Dask scheduler at ``address`` (None: local pool)."""
    params = params_for(root, cache, 2, shards=8)  # type: ignore[arg-type]
    params["preannotate"].update(
        patterns_dir=str(REPO / "corpus" / "patterns"), out_dir=str(root / "pre"), external_dir=str(root.parent / "no-external")
    )
    if address:
        params["runtime"].update(executor="dask", dask_scheduler=address)
    return params
