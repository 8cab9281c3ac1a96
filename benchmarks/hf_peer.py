"""The peer: what a user writes by hand with Hugging Face ``datasets`` on the same documents.

The seed texts into a ``Dataset``, ``map(batched=True, num_proc=<cores>)`` with spaCy's blank
``de`` tokenizer + sentencizer giving the token offsets, then ``to_parquet``. No normalisation, no
annotations, no validation. Caching is off (``datasets.disable_caching``) so it does the work
every time. Prints one JSON object (phases measured inside); ``benchmarks/run.py`` measures it
from outside like the other runs::

    python benchmarks/hf_peer.py --seeds-dir WORK/seeds --out WORK/.bench/hf-tokens.parquet
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from floor import read_texts  # noqa: E402

_NLP: list = []


def tokenize(batch: dict[str, list]) -> dict[str, list]:
    if not _NLP:
        import spacy

        nlp = spacy.blank("de")
        nlp.add_pipe("sentencizer")
        _NLP.append(nlp)
    starts, ends = [], []
    for doc in _NLP[0].pipe(batch["text"], batch_size=64):
        kept = [token for token in doc if not token.is_space]
        starts.append([token.idx for token in kept])
        ends.append([token.idx + len(token) for token in kept])
    return {"doc_id": batch["doc_id"], "starts": starts, "ends": ends}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="HF datasets map(num_proc) + to_parquet")
    parser.add_argument("--seeds-dir", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)
    phases: dict[str, float] = {}
    mark = time.perf_counter()
    import datasets

    datasets.disable_caching()
    datasets.utils.logging.disable_progress_bar()
    phases["import_s"] = time.perf_counter() - mark
    mark = time.perf_counter()
    ids, texts = read_texts(args.seeds_dir)
    dataset = datasets.Dataset.from_dict({"doc_id": ids, "text": texts})
    phases["read_s"] = time.perf_counter() - mark
    mark = time.perf_counter()
    tokens = dataset.map(tokenize, batched=True, batch_size=256, num_proc=args.processes, remove_columns=["text"])
    phases["map_s"] = time.perf_counter() - mark
    mark = time.perf_counter()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tokens.to_parquet(str(args.out))
    phases["to_parquet_s"] = time.perf_counter() - mark
    phases["inside_total_s"] = time.perf_counter() - STARTED
    result = {
        "processes": args.processes,
        "documents": len(ids),
        "tokens": sum(len(row) for row in tokens["starts"]),
        "output_bytes": args.out.stat().st_size,
        "phases": phases,
    }
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
