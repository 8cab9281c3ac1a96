"""The floor: the least work any version of the pipeline has to do on the same documents.

In ``--processes`` processes (default: one per core; the documents split into that many
contiguous parts, one Parquet file each, the workers forked after the imports), only the chosen tokenizer (spaCy's blank ``de`` pipeline + rule-based sentencizer, exactly as
``pipeline/segment.py`` builds it) over every seed text, plus a bare pyarrow Parquet write
(zstd, as ``pipeline/tables.py`` writes) of the resulting ``(doc_id, start, end, text)`` token
table, the tokens read with ``Doc.to_array`` as ``pipeline/segment.py`` reads them (the floor
must not be slower than the pipeline at what both do). No normalisation, no validation, no annotation, no DVC. The table is written in chunks of
``--chunk`` documents through one ``ParquetWriter``, so that the floor's memory stays flat too.

Run as its own process (``benchmarks/run.py`` does, and measures its wall time and peak RSS from
outside); prints one JSON object with the time of each phase measured inside::

    python benchmarks/floor.py --seeds-dir WORK/seeds --out WORK/.bench/floor-tokens [--processes 1]
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import multiprocessing  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402


def read_texts(seeds_dir: Path) -> tuple[list[str], list[str]]:
    ids: list[str] = []
    texts: list[str] = []
    for path in sorted(p for p in seeds_dir.rglob("*") if p.is_file() and p.suffix in (".txt", ".jsonl")):
        if path.suffix == ".txt":
            ids.append(path.stem)
            texts.append(path.read_text(encoding="utf-8-sig"))
            continue
        with open(path, encoding="utf-8-sig") as handle:
            for line in handle:
                if line.strip():
                    data = json.loads(line)
                    ids.append(data["id"])
                    texts.append(data["text"])
    return ids, texts


def _tokenize_and_write(job: tuple[list[str], list[str], str, int, int]) -> dict[str, float | int]:
    """Tokenize ``texts`` and write their token table to ``out`` in chunks; phase times and counts."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq
    from spacy.attrs import IDX, IS_SPACE, LENGTH, SENT_START

    ids, texts, out, batch_size, chunk = job
    nlp = _pipeline()
    schema = pa.schema([("doc_id", pa.string()), ("start", pa.int64()), ("end", pa.int64()), ("text", pa.string())])
    tokenize = write = 0.0
    tokens = sentences = 0
    writer = pq.ParquetWriter(out, schema, compression="zstd", write_statistics=True, store_schema=True)
    try:
        for first in range(0, len(texts), chunk):
            mark = time.perf_counter()
            doc_col: list[str] = []
            starts: list[int] = []
            ends: list[int] = []
            words: list[str] = []
            for doc_id, text, doc in zip(
                ids[first : first + chunk],
                texts[first : first + chunk],
                nlp.pipe(texts[first : first + chunk], batch_size=batch_size),
                strict=True,
            ):
                # Read the results as arrays, as pipeline/core/segment.py does (no Token object per token).
                values = doc.to_array([IDX, LENGTH, IS_SPACE, SENT_START]).astype(np.int64)
                sentences += int((values[:, 3] == 1).sum())
                kept = values[values[:, 2] == 0]
                doc_starts = kept[:, 0].tolist()
                doc_ends = (kept[:, 0] + kept[:, 1]).tolist()
                doc_col.extend([doc_id] * len(doc_starts))
                starts.extend(doc_starts)
                ends.extend(doc_ends)
                words.extend(text[a:b] for a, b in zip(doc_starts, doc_ends, strict=True))
            tokenize += time.perf_counter() - mark
            mark = time.perf_counter()
            table = pa.table(
                [pa.array(doc_col, pa.string()), pa.array(starts, pa.int64()), pa.array(ends, pa.int64()), pa.array(words, pa.string())],
                schema=schema,
            )
            writer.write_table(table, row_group_size=128 * 1024)
            tokens += table.num_rows
            write += time.perf_counter() - mark
    finally:
        mark = time.perf_counter()
        writer.close()
        write += time.perf_counter() - mark
    return {
        "tokenize_s": tokenize,
        "table_write_s": write,
        "tokens": tokens,
        "sentences": sentences,
        "output_bytes": Path(out).stat().st_size,
    }


_NLP: list = []


def _pipeline():
    if not _NLP:
        import spacy

        nlp = spacy.blank("de")
        nlp.add_pipe("sentencizer")
        _NLP.append(nlp)
    return _NLP[0]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="tokenizer + pyarrow write only")
    parser.add_argument("--seeds-dir", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True, help="a folder: one part-NN.parquet per process")
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1, help="default: one per core")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--chunk", type=int, default=2000, help="documents per written table chunk")
    args = parser.parse_args(argv)

    phases: dict[str, float] = {}
    mark = time.perf_counter()
    import numpy  # noqa: F401
    import pyarrow.parquet  # noqa: F401
    import spacy  # noqa: F401

    _pipeline()
    phases["import_s"] = time.perf_counter() - mark

    mark = time.perf_counter()
    ids, texts = read_texts(args.seeds_dir)
    phases["read_s"] = time.perf_counter() - mark

    args.out.mkdir(parents=True, exist_ok=True)
    processes = max(1, min(args.processes, len(texts) or 1))
    size = -(-len(texts) // processes) if texts else 0
    jobs = [
        (
            ids[i * size : (i + 1) * size],
            texts[i * size : (i + 1) * size],
            str(args.out / f"part-{i:02d}.parquet"),
            args.batch_size,
            args.chunk,
        )
        for i in range(processes)
    ]
    mark = time.perf_counter()
    if processes == 1:
        parts = [_tokenize_and_write(jobs[0])]
    else:
        # Forked after the imports, as the pipeline's pool is: the workers start warm.
        with multiprocessing.get_context("fork").Pool(processes) as pool:
            parts = pool.map(_tokenize_and_write, jobs, chunksize=1)
    phases["work_s"] = time.perf_counter() - mark
    phases["tokenize_s"] = max(part["tokenize_s"] for part in parts)
    phases["table_write_s"] = max(part["table_write_s"] for part in parts)
    phases["inside_total_s"] = time.perf_counter() - STARTED
    result = {
        "processes": processes,
        "documents": len(texts),
        "tokens": sum(int(part["tokens"]) for part in parts),
        "sentences": sum(int(part["sentences"]) for part in parts),
        "characters": sum(map(len, texts)),
        "output_bytes": sum(int(part["output_bytes"]) for part in parts),
        "phases": phases,
    }
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
