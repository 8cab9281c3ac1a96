"""Benchmark of ``python -m pipeline diff`` on two versions of an N-document corpus.

Builds N documents (``build_corpus.py``) in a temporary copy of the repository, runs
``dvc repro publish`` and keeps the published folder as the old version; then adds 10 documents
(``--n N+10`` keeps the first N), relabels one entity in every 1,000th gold record, runs
``dvc repro publish`` again and diffs the two folders in a process of its own, reporting its wall
time and peak memory (the diff process's peak resident set, ``getrusage``)::

    .venv/bin/python benchmarks/diff.py --n 100000

The figures go to ``benchmarks/results/diff-N<N>.json``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))
sys.path.insert(0, str(REPO / "tests"))

import build_corpus  # noqa: E402
from repo_helpers import copy_repo, run, tool_env  # noqa: E402

EVERY = 1000
# The diff in this process, printing its own peak resident set (KiB) last on stderr.
MEASURED = """
import resource, runpy, sys
sys.argv = {argv!r}
try:
    runpy.run_module("pipeline", run_name="__main__")
except SystemExit as end:
    if end.code:
        raise
finally:
    print("peak_rss_kib", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
"""


def relabel(gold: Path) -> int:
    """Relabel the first entity that no relation uses in every :data:`EVERY`-th record."""
    lines = gold.read_text(encoding="utf-8").splitlines()
    changed = 0
    for index in range(0, len(lines), EVERY):
        record = json.loads(lines[index])
        used = {x for r in record.get("relations", []) for x in (r["head"], r["tail"])}
        entity = next((e for e in record["entities"] if e["id"] not in used), None)
        if entity is not None:
            entity["label"] = "LOC" if entity["label"] == "MISC" else "MISC"
            lines[index] = json.dumps(record, ensure_ascii=False)
            changed += 1
    gold.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return changed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--keep", type=Path, default=None, help="build in this folder and keep it (default: a temporary one)")
    args = parser.parse_args()
    base = args.keep or Path(tempfile.mkdtemp(prefix="bench-diff-"))
    repo = base / "repo"
    if not (repo / "corpus" / "published").exists():
        copy_repo(repo)
        build_corpus.write_corpus(repo, args.n)
        started = time.monotonic()
        run(["dvc", "repro", "publish"], repo, check=True, timeout=7200)
        print(f"built {args.n} documents in {time.monotonic() - started:.0f} s", file=sys.stderr)
    old = base / "old"
    shutil.rmtree(old, ignore_errors=True)
    shutil.copytree(repo / "corpus" / "published", old)
    build_corpus.write_corpus(repo, args.n + 10)
    relabelled = relabel(repo / "corpus" / "annotations" / "gold" / "bench.jsonl")
    run(["dvc", "repro", "publish"], repo, check=True, timeout=7200)
    reports = base / "reports"
    started = time.monotonic()
    argv = ["pipeline", "diff", str(old), str(repo / "corpus" / "published"), "--reports", str(reports)]
    result = subprocess.run(
        [sys.executable, "-c", MEASURED.format(argv=argv)],
        cwd=repo,
        env=tool_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.monotonic() - started
    if result.returncode:
        raise SystemExit(result.stderr)
    peak_mb = int(result.stderr.strip().splitlines()[-1].split()[-1]) / 1024
    diff = json.loads((reports / "diff.json").read_text(encoding="utf-8"))
    figures = {
        "n": args.n,
        "diff_seconds": round(seconds, 1),
        "diff_peak_rss_mb": round(peak_mb),
        "documents_added": diff["documents"]["added"]["count"],
        "entities_relabelled": diff["entities"]["relabelled"]["count"],
        "relabelled_in_gold": relabelled,
        "bump": diff["bump"],
    }
    out = BENCH_DIR / "results" / f"diff-N{args.n}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(figures))
    if args.keep is None:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
