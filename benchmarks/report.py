"""Summaries and tables of benchmark results (``benchmarks/results/*.json``).

    .venv/bin/python benchmarks/report.py benchmarks/results/bench-N1000.json benchmarks/results/bench-N10000.json > benchmarks/results/latest.md

``summarise`` turns one raw result of ``benchmarks/run.py`` into the figures of the table (and
the targets of the issue); ``markdown`` renders one or more results; ``print_table`` prints one
result to the terminal.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

MB = 1024 * 1024
GB = 1024 * MB
#: key: (limit, what, the N the target is set for — None: any N). A target set for another N than
#: the run's is shown with the run's value but not judged met or missed.
TARGETS = {
    "full_vs_floor": (1.5, "full `dvc repro` ≤ 1.5× the all-core floor (ambition 1.25×)", 10_000),
    "full_vs_hf": (1.0, "full `dvc repro` faster than the HF `datasets` peer (ambition)", None),
    "peak_rss": (1.5 * GB, "peak memory, Σ PSS over all processes, ≤ 1.5 GB", 100_000),
    "add_one_share": (0.05, "add one document: re-run ≤ 5% of the full run", 100_000),
    "change_one_share": (0.03, "change one annotation: re-run ≤ 3% of the full run", 100_000),
    "validation_share": (0.20, "validation ≤ 20% of a full run", None),
}


def _rate(count: float | None, seconds: float | None) -> float | None:
    return count / seconds if count and seconds else None


def summarise(result: dict[str, Any]) -> dict[str, Any]:
    runs = result.get("runs", {})
    full = runs.get("full") or {}
    metrics = full.get("metrics") or {}
    wall = full.get("wall_s")
    summary: dict[str, Any] = {"n": result.get("n")}
    if full.get("aborted") or full.get("exit"):
        summary["full_failed"] = full.get("aborted") or f"dvc repro exited {full.get('exit')}"
        # corpus/metrics.json is stale then: count from the corpus builder and the floor's tokenizer
        docs = (result.get("corpus") or {}).get("documents")
        tokens = (runs.get("floor") or {}).get("tokens")
        summary["counts_from"] = "corpus builder (bench documents) and the floor's tokenizer, since the full run failed"
    else:
        docs, tokens = metrics.get("documents"), metrics.get("tokens")
        summary["counts_from"] = "corpus/metrics.json"
    summary.update(documents=docs, tokens=tokens)
    stages = {}
    for name, stage in (full.get("stages") or {}).items():
        stage_wall = stage.get("wall_s")
        stages[name] = {
            "wall_s": stage_wall,
            "with_dvc_s": stage.get("with_dvc_s"),
            "cpu_s": stage.get("cpu_s"),
            "share": stage_wall / wall if stage_wall and wall else None,
            "docs_per_s": _rate(docs, stage_wall),
            "tokens_per_s": _rate(tokens, stage_wall),
            "maxrss_bytes": stage.get("maxrss_bytes"),
            "sampled_tree_peak_bytes": stage.get("sampled_tree_peak_bytes"),
            "output_bytes": (full.get("output_bytes") or {}).get(name),
        }
    summary["stages"] = stages
    peak = max([full.get("maxrss_bytes") or 0, full.get("sampled_tree_peak_bytes") or 0])
    summary["full"] = {
        "loadavg": [full.get("loadavg_before"), full.get("loadavg_after")],
        "wall_s": wall,
        "cpu_s": (full.get("user_s") or 0) + (full.get("sys_s") or 0) or None,
        "docs_per_s": _rate(docs, wall),
        "tokens_per_s": _rate(tokens, wall),
        "dvc_overhead_s": full.get("dvc_overhead_s"),
        "maxrss_bytes": full.get("maxrss_bytes"),
        "sampled_tree_peak_bytes": full.get("sampled_tree_peak_bytes"),
        "peak_rss_bytes": peak or None,
        "published_bytes": full.get("published_bytes"),
        "dvc_cache_bytes": full.get("dvc_cache_bytes"),
        "pipeline_cache_bytes": full.get("pipeline_cache_bytes"),
        "validation_passed": (full.get("validation") or {}).get("passed"),
    }
    for key in ("floor", "floor_1", "hf"):
        floor = runs.get(key)
        if not floor:
            continue
        phases = floor.get("phases") or {}
        work = (phases.get("read_s", 0.0) + phases.get("work_s", 0.0)) if "work_s" in phases else None
        if key == "hf":
            work = sum(phases.get(k, 0.0) for k in ("read_s", "map_s", "to_parquet_s")) or None
        elif work is None:  # a result of the one-process floor before it had work_s
            work = sum(phases.get(k, 0.0) for k in ("read_s", "tokenize_s", "table_write_s")) or None
        summary[key] = {
            "processes": floor.get("processes"),
            "wall_s": floor.get("wall_s"),
            "cpu_s": (floor.get("user_s") or 0) + (floor.get("sys_s") or 0) or None,
            "work_s": work,
            "phases": phases,
            "docs_per_s": _rate(floor.get("documents"), floor.get("wall_s")),
            "tokens_per_s": _rate(floor.get("tokens"), floor.get("wall_s")),
            "tokens": floor.get("tokens"),
            "maxrss_bytes": floor.get("maxrss_bytes"),
            "sampled_tree_peak_bytes": floor.get("sampled_tree_peak_bytes"),
            "output_bytes": floor.get("output_bytes"),
            "loadavg": [floor.get("loadavg_before"), floor.get("loadavg_after")],
        }
        summary[f"full_vs_{key}"] = wall / floor["wall_s"] if wall and floor.get("wall_s") else None
    if summary.get("floor"):
        work = summary["floor"]["work_s"]
        summary["full_vs_floor_work"] = wall / work if wall and work else None
        cpu, floor_cpu = summary["full"]["cpu_s"], summary["floor"]["cpu_s"]
        summary["full_vs_floor_cpu"] = cpu / floor_cpu if cpu and floor_cpu else None
    seed = runs.get("seed")
    if seed:
        summary["seed"] = {
            "wall_s": seed.get("wall_s"),
            "exit": seed.get("exit"),
            "stages": {name: stage.get("wall_s") for name, stage in (seed.get("stages") or {}).items() if "wall_s" in stage},
            "dvc_overhead_s": seed.get("dvc_overhead_s"),
            "loadavg": [seed.get("loadavg_before"), seed.get("loadavg_after")],
        }
    for name in ("noop", "add_one", "change_one"):
        run = runs.get(name)
        if not run:
            continue
        ran = [s for s, v in (run.get("stages") or {}).items() if "wall_s" in v]
        summary[name] = {
            "wall_s": run.get("wall_s"),
            "cpu_s": (run.get("user_s") or 0) + (run.get("sys_s") or 0) or None,
            "share_of_full": run["wall_s"] / wall if wall else None,
            "stages_run": ran,
            "maxrss_bytes": run.get("maxrss_bytes"),
            "sampled_tree_peak_bytes": run.get("sampled_tree_peak_bytes"),
            "edit": run.get("edit"),
            "exit": run.get("exit"),
            "validation_passed": (run.get("validation") or {}).get("passed"),
            "loadavg": [run.get("loadavg_before"), run.get("loadavg_after")],
        }
    validate = stages.get("validate") or {}
    summary["validation_share"] = validate.get("share")
    summary["validation_share_with_dvc"] = validate["with_dvc_s"] / wall if validate.get("with_dvc_s") and wall else None
    values = {
        "full_vs_floor": summary.get("full_vs_floor"),
        "peak_rss": summary["full"]["peak_rss_bytes"],
        "add_one_share": (summary.get("add_one") or {}).get("share_of_full"),
        "change_one_share": (summary.get("change_one") or {}).get("share_of_full"),
        "validation_share": summary["validation_share"],
        "full_vs_hf": summary.get("full_vs_hf"),
    }
    n = result.get("n")
    summary["targets"] = {
        key: {
            "value": values[key],
            "limit": limit,
            "met": None if values[key] is None or (at_n is not None and n != at_n) else values[key] <= limit,
            "what": what + ("" if at_n is None else f" (target at N={at_n:,}; this run N={n:,})" if n else f" (N={at_n:,})"),
        }
        for key, (limit, what, at_n) in TARGETS.items()
    }
    return summary


# --------------------------------------------------------------------------- formatting


def _s(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}" if value < 10 else f"{value:.1f}" if value < 100 else f"{value:.0f}"


def _n(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f}"


def _mb(value: float | None) -> str:
    return "–" if not value else f"{value / MB:,.0f}" if value >= 10 * MB else f"{value / MB:.1f}"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


HEADER = ["", "wall s", "CPU s", "with DVC s", "share", "docs/s", "tokens/s", "peak RSS MB (Σ PSS)", "output MB"]


def rows(summary: dict[str, Any]) -> list[list[str]]:
    """The table rows: stages, DVC overhead, total, floor, incremental runs."""
    table = []
    full = summary.get("full") or {}
    for name, stage in (summary.get("stages") or {}).items():
        if name == "(dvc startup)":
            continue
        rss = f"{_mb(stage.get('maxrss_bytes'))} ({_mb(stage.get('sampled_tree_peak_bytes'))})"
        table.append(
            [
                f"stage {name}",
                _s(stage.get("wall_s")),
                _s(stage.get("cpu_s")),
                _s(stage.get("with_dvc_s")),
                _pct(stage.get("share")),
                _n(stage.get("docs_per_s")),
                _n(stage.get("tokens_per_s")),
                rss,
                _mb(stage.get("output_bytes")),
            ]
        )
    if full.get("dvc_overhead_s") is not None:
        startup = (summary.get("stages") or {}).get("(dvc startup)", {}).get("with_dvc_s")
        share = full["dvc_overhead_s"] / full["wall_s"] if full.get("wall_s") else None
        caches = f"{_mb(full.get('dvc_cache_bytes'))} .dvc/cache, {_mb(full.get('pipeline_cache_bytes'))} .cache"
        table.append(
            [
                "DVC itself (startup, hashing, lock)",
                _s(full["dvc_overhead_s"]),
                "",
                f"startup {_s(startup)}",
                _pct(share),
                "",
                "",
                "",
                caches,
            ]
        )
    peak = f"{_mb(full.get('maxrss_bytes'))} ({_mb(full.get('sampled_tree_peak_bytes'))})"
    table.append(
        [
            "**full run**",
            _s(full.get("wall_s")),
            _s(full.get("cpu_s")),
            _s(full.get("wall_s")),
            "100%",
            _n(full.get("docs_per_s")),
            _n(full.get("tokens_per_s")),
            peak,
            _mb(full.get("published_bytes")) + " published",
        ]
    )
    for key, title in (
        ("floor", "**floor**, all cores: spaCy tokenizer + sentencizer + Parquet write"),
        ("floor_1", "floor, one process"),
        ("hf", "HF `datasets` map(num_proc) + to_parquet"),
    ):
        floor = summary.get(key)
        if not floor:
            continue
        table.append(
            [
                f"{title} ({floor.get('processes') or 1} proc.)",
                _s(floor.get("wall_s")),
                _s(floor.get("cpu_s")),
                f"without start-up {_s(floor.get('work_s'))}",
                _pct(floor["wall_s"] / full["wall_s"]) if full.get("wall_s") and floor.get("wall_s") else "–",
                _n(floor.get("docs_per_s")),
                _n(floor.get("tokens_per_s")),
                f"{_mb(floor.get('maxrss_bytes'))} ({_mb(floor.get('sampled_tree_peak_bytes'))})",
                _mb(floor.get("output_bytes")),
            ]
        )
    for name, title in (
        ("noop", "re-run, nothing changed"),
        ("add_one", "re-run after adding one document"),
        ("change_one", "re-run after changing one annotation"),
        ("seed", "one document end to end (the seed, clean state)"),
    ):
        run = summary.get(name)
        if run:
            peak = f"{_mb(run.get('maxrss_bytes'))} ({_mb(run.get('sampled_tree_peak_bytes'))})"
            table.append(
                [
                    title,
                    _s(run.get("wall_s")),
                    _s(run.get("cpu_s")),
                    "ran: " + (", ".join(run.get("stages_run") or run.get("stages") or []) or "none"),
                    _pct(run.get("share_of_full")),
                    "",
                    "",
                    peak if run.get("maxrss_bytes") else "",
                    "",
                ]
            )
    return table


def target_lines(summary: dict[str, Any]) -> list[str]:
    lines = []
    for key, target in (summary.get("targets") or {}).items():
        value = target["value"]
        if key == "peak_rss":
            shown, limit = _mb(value) + " MB", _mb(target["limit"]) + " MB"
        elif key in ("full_vs_floor", "full_vs_hf"):
            shown, limit = ("–" if value is None else f"{value:.2f}×"), f"{target['limit']}×"
        else:
            shown, limit = _pct(value), _pct(target["limit"])
        verdict = "–" if target["met"] is None else ("met" if target["met"] else "**missed**")
        lines.append(f"| {target['what']} | {shown} | {limit} | {verdict} |")
    return lines


def markdown(results: list[dict[str, Any]]) -> str:
    out = ["# Benchmark results", ""]
    for result in results:
        summary = result.get("summary") or summarise(result)
        env = result.get("environment") or {}
        out += [f"## N = {result['n']:,} documents ({_n(summary.get('tokens'))} tokens), `{result.get('dvc_command', 'dvc repro')}`", ""]
        out.append(
            f"{env.get('when', '')}; commit `{env.get('git_commit', '')[:10]}`{' + uncommitted pipeline changes' if env.get('pipeline_dirty') else ''} "
            f"(pipeline sources sha256 `{env.get('pipeline_sha256', '')}`); {env.get('cpus')} CPU ({env.get('cpu')}), {env.get('memory_gb')} GB RAM; "
            f"Python {env.get('python')}, dvc {(env.get('versions') or {}).get('dvc')}; load average at start "
            f"{', '.join(f'{x:.1f}' for x in env.get('loadavg_at_start') or [])}. Command: `{result.get('dvc_command', 'dvc repro')}`."
        )
        out.append("")
        if summary.get("full_failed"):
            out += [f"**The full run did not complete: {summary['full_failed']}.**", ""]
        out += ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
        out += ["| " + " | ".join(row) + " |" for row in rows(summary)]
        out += [""]
        ratio = summary.get("full_vs_floor_work")
        if ratio:
            out += [
                f"Full run / all-core floor: {summary['full_vs_floor']:.2f}× wall, {ratio:.2f}× the floor without start-up, "
                f"{summary.get('full_vs_floor_cpu') or 0:.2f}× CPU time"
                + "".join(
                    f"; / {title} {summary[key]:.2f}×"
                    for key, title in (("full_vs_floor_1", "one-process floor"), ("full_vs_hf", "HF peer"))
                    if summary.get(key)
                )
                + f". Validation's share of the full run: {_pct(summary.get('validation_share'))} "
                f"(with its DVC bookkeeping {_pct(summary.get('validation_share_with_dvc'))}).",
                "",
            ]
        loads = []
        for name in ("full", "floor", "floor_1", "hf", "add_one", "change_one", "seed"):
            pair = (summary.get(name) or {}).get("loadavg") or []
            if pair and all(pair):
                loads.append(f"{name} {pair[0][0]:.1f}→{pair[1][0]:.1f}")
        if loads:
            out += [
                "Load average (1 min) before → after each run: " + ", ".join(loads) + ". The machine's 2 cores were shared "
                "with other work during the run: a load above 2 means the figures are slower than on an idle machine, the floor's as well.",
                "",
            ]
        for name in ("add_one", "change_one"):
            edit = (summary.get(name) or {}).get("edit")
            if edit:
                out.append(f"- {name}: {edit}")
        for note in result.get("notes") or []:
            out.append(f"- note: {note}")
        out += ["", "| target | measured | limit | |", "|---|---|---|---|"] + target_lines(summary) + [""]
        profile = result.get("profile")
        if profile:
            out += [
                "Import time per stage command (`-X importtime`, top-level modules): "
                + "; ".join(
                    f"{stage} {p['import_s']:.1f} s ({', '.join(f'{m} {t:.1f}' for m, t in p['top_imports'][:3])})"
                    for stage, p in profile.items()
                ),
                "",
            ]
    return "\n".join(out) + "\n"


def print_table(result: dict[str, Any]) -> None:
    summary = result.get("summary") or summarise(result)
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # pragma: no cover
        sys.stdout.write(markdown([result]))
        return
    table = Table(title=f"dvc repro benchmark, N = {result['n']:,} documents, {_n(summary.get('tokens'))} tokens")
    for index, column in enumerate(HEADER):
        table.add_column(column, justify="left" if index == 0 else "right")
    for row in rows(summary):
        table.add_row(*[cell.replace("**", "") for cell in row])
    console = Console(width=max(Console().width, 150))
    console.print(table)
    if summary.get("full_failed"):
        console.print(f"[bold red]full run did not complete: {summary['full_failed']}")
    targets = Table(title="targets")
    for column in ("target", "measured", "limit", ""):
        targets.add_column(column)
    for line in target_lines(summary):
        targets.add_row(*[cell.strip().replace("**", "") for cell in line.strip("|").split(" | ")])
    console.print(targets)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Render benchmark result JSON files as one Markdown document.")
    parser.add_argument("results", nargs="+", type=Path)
    args = parser.parse_args(argv)
    results = [json.loads(path.read_text()) for path in args.results]
    for result in results:
        result["summary"] = summarise(result)
    sys.stdout.write(markdown(sorted(results, key=lambda r: (r["n"], r.get("dvc_command", "")))))


if __name__ == "__main__":
    main()
