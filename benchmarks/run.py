"""Benchmark the real ``dvc repro`` on N news-length documents, against the floor.

    .venv/bin/python benchmarks/run.py --n 10000            # or: make bench N=10000

1. Copies the repository with the tests' ``copy_repo`` (what a clone holds, minus tests and
   docs; git init; no outputs, no caches) into a temporary directory.
2. Writes N documents built from real annotated German text (``benchmarks/build_corpus.py``) as
   ``seeds/bench.jsonl`` + the gold layer ``corpus/annotations/gold/bench.jsonl``.
3. Runs, each measured on its own:
   * ``full``     ``dvc repro`` from nothing,
   * ``noop``     ``dvc repro`` again (nothing changed),
   * ``floor``    ``benchmarks/floor.py``: tokenizer + sentencizer + bare Parquet write, same texts, in
                  as many processes as cores (``floor_1``: the same in one process),
   * ``hf``       ``benchmarks/hf_peer.py``: Hugging Face ``datasets`` map(num_proc=cores) + to_parquet,
   * ``add_one``  ``dvc repro`` after appending one document (and its gold record),
   * ``change_one`` ``dvc repro`` after changing the label of one entity in the gold layer,
   * ``seed``     ``dvc repro`` of the repository's one seed document from a clean state (the fixed cost).
   The load average is recorded after every run: other work on the machine shows there.
4. Prints the table and writes ``benchmarks/results/bench-N<N>.json`` (+ ``.md``).

How it measures (see benchmarks/README.md):
* wall time of ``dvc repro`` from spawn to exit, and ``os.wait4``'s peak RSS of its process tree
  (Linux reports the largest single process, i.e. max(dvc, any stage));
* every stage command separately, through a ``python`` shim first on PATH that forks the real
  interpreter and records its wall time, CPU time and peak RSS (``wait4``) — exact per stage,
  with no change to the commands in dvc.yaml;
* DVC's own share per stage from the time its ``Running stage`` lines appear (DVC runs with
  ``PYTHONUNBUFFERED=1``; the shim removes it for the stage);
* the memory of all live processes of the tree together (dvc + the running stage + its workers),
  sampled every 0.1 s with psutil as summed PSS (shared copy-on-write pages of forked workers
  counted once) and summed RSS; the sampler aborts a run whose PSS sum exceeds ``--rss-limit-gb``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import yaml

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))
sys.path.insert(0, str(REPO))

import build_corpus  # noqa: E402
import report  # noqa: E402

VENV_BIN = Path(sys.executable).parent
MB = 1024 * 1024

SHIM = """#!{python} -IS
# benchmarks/run.py: time one stage command (wall, CPU, peak RSS) and pass its exit status on.
import json, os, sys, time
real = os.environ["BENCH_REAL_PYTHON"]
log = os.environ["BENCH_STAGE_LOG"]
env = dict(os.environ)
for name in ("BENCH_REAL_PYTHON", "BENCH_STAGE_LOG", "PYTHONUNBUFFERED"):
    env.pop(name, None)
started = time.time()
t0 = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.execve(real, [real] + sys.argv[1:], env)
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - t0
code = os.waitstatus_to_exitcode(status)
with open(log, "a") as handle:
    handle.write(json.dumps({{"argv": sys.argv[1:], "start": started, "wall_s": wall, "user_s": usage.ru_utime,
                             "sys_s": usage.ru_stime, "maxrss_kb": usage.ru_maxrss, "exit": code}}) + "\\n")
sys.exit(code if code >= 0 else 128 - code)
"""


# --------------------------------------------------------------------------- repository copy


def copy_repo(target: Path) -> Path:
    """A git + DVC working copy of the project, without outputs or caches: exactly what the
    end-to-end tests copy (``tests/repo_helpers.copy_repo``)."""
    sys.path.insert(0, str(REPO / "tests"))
    try:
        from repo_helpers import copy_repo as tests_copy_repo  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(REPO / "tests"))
    tests_copy_repo(target)
    (target / ".bench").mkdir(exist_ok=True)
    (target / ".bench" / ".gitignore").write_text("*\n")
    return target


def start_dask(work: Path, workers: int, processes: list[subprocess.Popen]) -> str:
    """A Dask scheduler and ``workers`` worker processes (one thread each) started from the work
    copy, so that they import its ``pipeline`` (as a cluster runs the repository's code); its address."""
    env = dict(base_env(), PYTHONPATH=str(work))
    scheduler_file = work / ".bench" / "scheduler.json"
    scheduler_file.unlink(missing_ok=True)
    common = {"cwd": work, "env": env, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "start_new_session": True}
    processes.append(
        subprocess.Popen(
            [str(VENV_BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--no-dashboard", "--scheduler-file", str(scheduler_file)],
            **common,
        )
    )
    deadline = time.monotonic() + 60
    while not scheduler_file.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    address = json.loads(scheduler_file.read_text())["address"]
    processes.append(
        subprocess.Popen(
            [str(VENV_BIN / "dask"), "worker", address, "--nworkers", str(workers), "--nthreads", "1", "--no-dashboard"], **common
        )
    )
    from distributed import Client

    with Client(address, timeout="60s") as client:
        client.wait_for_workers(workers, timeout=120)
    return address


def use_external(work: Path, external: Path) -> None:
    """Point the copy's ``preannotate.external_dir`` at the real corpora, as in the user's clone
    (the copy's relative ``../shared/external`` does not exist): the GermEval evaluation runs."""
    params = work / "params.yaml"
    text = params.read_text(encoding="utf-8")
    params.write_text(text.replace("external_dir: ../shared/external", f"external_dir: {external}"), encoding="utf-8")


def base_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["DVC_NO_ANALYTICS"] = "1"
    env["GX_ANALYTICS_ENABLED"] = "False"
    env.pop("PYTHONPATH", None)
    return env


def install_shim(work: Path) -> Path:
    shim_dir = work / ".bench" / "bin"
    shim_dir.mkdir(parents=True, exist_ok=True)
    shim = shim_dir / "python"
    shim.write_text(SHIM.format(python=VENV_BIN / "python"))
    shim.chmod(0o755)
    return shim_dir


# --------------------------------------------------------------------------- measuring


class Sampler(threading.Thread):
    """Memory of a whole process tree every ``interval`` s; kills the tree above ``limit`` bytes.

    Sums both RSS and PSS over the live processes. Forked workers share their parent's pages
    copy-on-write, and RSS counts a shared page in every process that maps it; PSS splits it
    between them, so the PSS sum is what the tree really occupies (and what the limit checks).
    """

    def __init__(self, pid: int, interval: float = 0.1, limit: int | None = None):
        super().__init__(daemon=True)
        self.pid, self.interval, self.limit = pid, interval, limit
        self.peak = 0  # PSS sum
        self.peak_rss_sum = 0
        self.per_stage: dict[str, int] = {}
        self.exceeded: dict[str, Any] | None = None
        self.samples = 0
        self._halt = threading.Event()

    def run(self) -> None:
        try:
            root = psutil.Process(self.pid)
        except psutil.NoSuchProcess:
            return
        while not self._halt.wait(self.interval):
            try:
                processes = [root] + root.children(recursive=True)
            except psutil.NoSuchProcess:
                return
            pss = rss = 0
            stage = None
            for process in processes:
                try:
                    info = process.memory_full_info()
                    cmdline = process.cmdline()
                except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                    continue
                rss += info.rss
                pss += getattr(info, "pss", info.rss)
                stage = stage_name(cmdline) or stage
            self.samples += 1
            self.peak = max(self.peak, pss)
            self.peak_rss_sum = max(self.peak_rss_sum, rss)
            if stage:
                self.per_stage[stage] = max(self.per_stage.get(stage, 0), pss)
            if self.limit and pss > self.limit and self.exceeded is None:
                self.exceeded = {"pss_bytes": pss, "stage": stage}
                _kill_group(self.pid)
                return

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=5)


def _kill_group(pid: int) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        time.sleep(2)


def stage_name(argv: list[str]) -> str | None:
    """The stage of a ``python -m pipeline.stages <stage>`` (or ``-m pipeline <stage>``) command line."""
    for module in ("pipeline.stages", "pipeline"):
        if module in argv and argv.index(module) + 1 < len(argv):
            return argv[argv.index(module) + 1]
    return None


STAGE_LINE = re.compile(r"Running stage '([^']+)'")
SKIP_LINE = re.compile(r"Stage '([^']+)' didn't change, skipping")


def measure(
    cmd: list[str],
    cwd: Path,
    env: dict[str, str],
    *,
    stage_log: Path | None = None,
    rss_limit: int | None = None,
    timeout: float | None = None,
) -> dict[str, Any]:
    """Run ``cmd`` to the end; wall time, peak RSS (wait4 and sampled), output lines with times."""
    env = dict(env)
    load_before = os.getloadavg()
    if stage_log is not None:
        env["BENCH_STAGE_LOG"] = str(stage_log)
        stage_log.unlink(missing_ok=True)
        stage_log.touch()
    t0 = time.perf_counter()
    process = subprocess.Popen(
        cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1, start_new_session=True
    )
    sampler = Sampler(process.pid, limit=rss_limit)
    sampler.start()
    timer = threading.Timer(timeout, _kill_group, args=(process.pid,)) if timeout else None
    if timer:
        timer.start()
    lines: list[tuple[float, str]] = []
    assert process.stdout is not None
    for line in process.stdout:
        lines.append((time.perf_counter() - t0, line.rstrip("\n")))
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - t0
    process.returncode = os.waitstatus_to_exitcode(status)
    if timer:
        timer.cancel()
    sampler.stop()
    result: dict[str, Any] = {
        "cmd": " ".join(cmd),
        "loadavg_before": load_before,
        "exit": process.returncode,
        "wall_s": wall,
        "user_s": usage.ru_utime,
        "sys_s": usage.ru_stime,
        "maxrss_bytes": usage.ru_maxrss * 1024,
        "sampled_tree_peak_bytes": sampler.peak,
        "sampled_tree_peak_measure": "pss",
        "sampled_tree_rss_sum_peak_bytes": sampler.peak_rss_sum,
        "samples": sampler.samples,
        "output": [[round(t, 3), text] for t, text in lines],
    }
    if sampler.exceeded:
        result["aborted"] = (
            f"the process tree's memory (summed PSS) reached {sampler.exceeded['pss_bytes'] / MB:,.0f} MB, over the --rss-limit-gb limit, in stage {sampler.exceeded['stage']}: killed"
        )
    elif timeout and wall >= timeout:
        result["aborted"] = f"timeout after {timeout:.0f} s"
    if stage_log is not None:
        result["stages"] = _stages(stage_log, lines, wall, sampler.per_stage)
        result["dvc_overhead_s"] = wall - sum(s["wall_s"] for s in result["stages"].values() if "wall_s" in s)
    return result


def _stages(stage_log: Path, lines: list[tuple[float, str]], wall: float, sampled: dict[str, int]) -> dict[str, dict[str, Any]]:
    stages: dict[str, dict[str, Any]] = {}
    for _, text in lines:
        if match := SKIP_LINE.search(text):
            stages.setdefault(match.group(1), {})["skipped"] = True
    running = [(t, m.group(1)) for t, text in lines if (m := STAGE_LINE.search(text))]
    for index, (t, name) in enumerate(running):
        end = running[index + 1][0] if index + 1 < len(running) else wall
        stages.setdefault(name, {})["with_dvc_s"] = end - t
    for line in stage_log.read_text().splitlines():
        record = json.loads(line)
        argv = record["argv"]
        name = stage_name(argv) or " ".join(argv)
        stages.setdefault(name, {}).update(
            wall_s=record["wall_s"], cpu_s=record["user_s"] + record["sys_s"], maxrss_bytes=record["maxrss_kb"] * 1024, exit=record["exit"]
        )
        if name in sampled:
            stages[name]["sampled_tree_peak_bytes"] = sampled[name]
    if running:
        stages["(dvc startup)"] = {"with_dvc_s": running[0][0]}
    return stages


def tree_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


def stage_outputs(work: Path) -> dict[str, list[str]]:
    """Each stage's outs and metrics paths, read from the copy's dvc.yaml."""
    spec = yaml.safe_load((work / "dvc.yaml").read_text())
    found: dict[str, list[str]] = {}
    for name, stage in (spec.get("stages") or {}).items():
        paths = []
        for key in ("outs", "metrics", "plots"):
            for item in stage.get(key) or []:
                paths.append(item if isinstance(item, str) else next(iter(item)))
        found[name] = paths
    return found


def read_json(path: Path) -> Any:
    return json.loads(path.read_text()) if path.exists() else None


# --------------------------------------------------------------------------- edits


FLIP = {"LOC": "GPE", "GPE": "LOC", "PER": "ORG", "ORG": "PER", "MISC": "EVENT", "EVENT": "MISC", "DATE": "EVENT"}


def add_one_document(work: Path, n: int, seed: int, external: Path) -> str:
    units = build_corpus.load_units(external.resolve())
    document, record = build_corpus.make_document(n + 1, units, seed)
    with open(work / build_corpus.SEED_FILE, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(document, ensure_ascii=False) + "\n")
    with open(work / build_corpus.LAYER_FILE, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    return document["id"]


def change_one_annotation(work: Path, n: int) -> str:
    """Flip the label of the first entity of the middle document (a label the schema allows there:
    the layer has no relations, so no relation type can be violated)."""
    layer = work / build_corpus.LAYER_FILE
    target = build_corpus.doc_id(max(1, n // 2))
    tmp = layer.with_suffix(".tmp")
    changed = ""
    with open(layer, encoding="utf-8") as source, open(tmp, "w", encoding="utf-8") as out:
        for line in source:
            if not changed and line.startswith(f'{{"doc_id": "{target}"'):
                record = json.loads(line)
                for entity in record["entities"]:
                    if entity["label"] in FLIP:
                        old, entity["label"] = entity["label"], FLIP[entity["label"]]
                        changed = f"{target} {entity['id']} {entity['text']!r}: {old} → {entity['label']}"
                        break
                line = json.dumps(record, ensure_ascii=False) + "\n"
            out.write(line)
    os.replace(tmp, layer)
    if not changed:
        raise RuntimeError(f"no entity to change in {target}")
    return changed


# --------------------------------------------------------------------------- profiling


def profile_stages(work: Path, env: dict[str, str], out_dir: Path, stages: list[str], top: int = 30) -> dict[str, Any]:
    """cProfile and -X importtime of each stage command, run directly in the work copy.

    With ``runtime.workers: 1`` (cProfile sees only its own process) and an empty shard cache
    (``runtime.cache_dir`` pointed at a fresh folder), so that the profile shows the full work of
    the stage rather than the pool waiting or cache hits. The outputs are rewritten identically.
    """
    import pstats

    out_dir.mkdir(parents=True, exist_ok=True)
    found: dict[str, Any] = {}
    python = str(VENV_BIN / "python")
    params = yaml.safe_load((work / "params.yaml").read_text())
    for stage in stages:
        fresh = work / ".bench" / f"profile-cache-{stage}"
        shutil.rmtree(fresh, ignore_errors=True)
        stage_params = dict(params, runtime={**(params.get("runtime") or {}), "workers": 1, "cache_dir": str(fresh)})
        params_path = work / ".bench" / f"params-profile-{stage}.yaml"
        params_path.write_text(yaml.safe_dump(stage_params, sort_keys=False, allow_unicode=True))
        prof = work / ".bench" / f"{stage}.prof"
        t0 = time.perf_counter()
        done = subprocess.run(
            [python, "-m", "cProfile", "-o", str(prof), "-m", "pipeline", stage, "--params", str(params_path)],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
        )
        profiled = time.perf_counter() - t0
        text_path = out_dir / f"profile-{stage}.txt"
        with open(text_path, "w") as handle:
            handle.write(
                f"# python -m cProfile -m pipeline {stage} (workers 1, empty shard cache): exit {done.returncode}, {profiled:.1f} s\n"
            )
            hot: list[list[Any]] = []
            if prof.exists():
                stats = pstats.Stats(str(prof), stream=handle)
                stats.sort_stats("cumulative").print_stats(top)
                stats.sort_stats("tottime").print_stats(top)
                raw = stats.stats  # type: ignore[attr-defined]
                for (path, line, function), (_, calls, own, cumulative, _) in sorted(raw.items(), key=lambda item: -item[1][2])[:10]:
                    hot.append([f"{Path(path).name}:{line}({function})", calls, round(own, 3), round(cumulative, 3)])
            else:
                handle.write(done.stderr[-4000:])
        shutil.rmtree(fresh, ignore_errors=True)
        fresh.mkdir(parents=True)
        imports = subprocess.run(
            [python, "-X", "importtime", "-m", "pipeline", stage, "--params", str(params_path)],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
        )
        shutil.rmtree(fresh, ignore_errors=True)
        top_imports = _top_imports(imports.stderr)
        found[stage] = {
            "profiled_wall_s": profiled,
            "exit": done.returncode,
            "profile": str(text_path),
            "hot_own_time": hot,
            "import_s": sum(us for _, us in top_imports) / 1e6,
            "top_imports": [[name, us / 1e6] for name, us in sorted(top_imports, key=lambda x: -x[1])[:8]],
        }
    return found


def _top_imports(stderr: str) -> list[tuple[str, int]]:
    """Top-level modules and their cumulative import time (µs) from ``-X importtime`` output."""
    result = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line[len("import time:") :].split("|", 2)
        if not name.startswith(" ") or name.startswith("  "):
            continue  # only depth 0: one space after the bar, nested imports are indented further
        result.append((name.strip(), int(cumulative)))
    return result


# --------------------------------------------------------------------------- main


def environment() -> dict[str, Any]:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True).stdout.strip()

    digest = hashlib.sha256()
    for path in sorted((REPO / "pipeline").rglob("*.py")):
        digest.update(path.relative_to(REPO).as_posix().encode() + b"\0" + path.read_bytes())
    cpu = (
        next(
            (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")),
            platform.processor(),
        )
        if Path("/proc/cpuinfo").exists()
        else platform.processor()
    )
    versions = {}
    for module in ("dvc", "spacy", "pyarrow", "pandas", "great_expectations"):
        try:
            from importlib.metadata import version

            versions[module] = version(module.replace("_", "-"))
        except Exception:  # pragma: no cover - informative only
            versions[module] = None
    return {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "git_commit": git("rev-parse", "HEAD"),
        "pipeline_dirty": bool(git("status", "--porcelain", "--", "pipeline", "dvc.yaml", "params.yaml")),
        "pipeline_sha256": digest.hexdigest()[:16],
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 1024**3, 1),
        "loadavg_at_start": os.getloadavg(),
        "versions": versions,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark dvc repro on N documents against the floor.")
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--workdir", type=Path, default=None, help="where to build the repository copy (default: a new temporary directory)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the work copy (always kept when --workdir is given)")
    parser.add_argument("--json-out", type=Path, default=None, help="default: benchmarks/results/bench-N<N>[-<target>...].json")
    parser.add_argument("--external", type=Path, default=None, help="default: $CORPUS_EXTERNAL_DIR or ../shared/external")
    parser.add_argument(
        "--rss-limit-gb",
        type=float,
        default=10.0,
        help="abort a run whose processes together (summed PSS) exceed this (protects the machine)",
    )
    parser.add_argument("--timeout", type=float, default=None, help="abort any single dvc repro after this many seconds")
    parser.add_argument(
        "--skip",
        nargs="*",
        default=[],
        choices=["noop", "floor", "floor_1", "hf", "add_one", "change_one", "seed"],
        help="experiments to leave out",
    )
    parser.add_argument(
        "--target",
        nargs="*",
        default=[],
        metavar="STAGE",
        help="stages to pass to `dvc repro` (default: none, i.e. the whole pipeline); e.g. `--target publish` for the published corpus only",
    )
    parser.add_argument(
        "--profile",
        nargs="*",
        default=None,
        metavar="STAGE",
        help="afterwards, cProfile and -X importtime these stages (no name: every stage that ran) in the work copy",
    )
    parser.add_argument(
        "--executor",
        choices=["local", "dask"],
        default="local",
        help="dask: start a distributed.LocalCluster (one worker process per core) and run the stages on it",
    )
    args = parser.parse_args(argv)

    external = (args.external or build_corpus.external_dir()).resolve()
    if not external.exists():
        parser.error(f"{external} does not exist: set --external or CORPUS_EXTERNAL_DIR")
    suffix = "".join(f"-{t}" for t in args.target) + ("-dask" if args.executor == "dask" else "")
    json_out = args.json_out or BENCH_DIR / "results" / f"bench-N{args.n}{suffix}.json"
    json_out.parent.mkdir(parents=True, exist_ok=True)
    created = args.workdir is None
    work = Path(tempfile.mkdtemp(prefix=f"bench-N{args.n}-")) if created else args.workdir.resolve()
    if not created and work.exists() and any(work.iterdir()):
        parser.error(f"{work} is not empty")
    rss_limit = int(args.rss_limit_gb * 1024**3) if args.rss_limit_gb else None

    dask_processes: list[subprocess.Popen] = []
    log = lambda message: print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)  # noqa: E731
    result: dict[str, Any] = {"n": args.n, "seed": args.seed, "workdir": str(work), "environment": environment(), "runs": {}}
    try:
        log(f"copying the repository to {work}")
        copy_repo(work)
        log(f"building {args.n} documents from {external}")
        t0 = time.perf_counter()
        result["corpus"] = build_corpus.write_corpus(work, args.n, external, args.seed)
        result["corpus"]["build_s"] = time.perf_counter() - t0
        use_external(work, external)
        if args.executor == "dask":
            address = start_dask(work, os.cpu_count() or 1, dask_processes)
            params = work / "params.yaml"
            params.write_text(
                params.read_text(encoding="utf-8")
                .replace("executor: local", "executor: dask")
                .replace("dask_scheduler: null", f"dask_scheduler: {address}"),
                encoding="utf-8",
            )
            result["executor"] = {"executor": "dask", "scheduler": address, "workers": os.cpu_count() or 1}
            result.setdefault("notes", []).append(
                "executor dask: a `dask scheduler` and `dask worker --nworkers <cores> --nthreads 1` started from the work copy; "
                "their memory is not in the sampled process tree of dvc repro"
            )
            log(f"dask: scheduler at {address}")
        shim_dir = install_shim(work)
        env = base_env()
        dvc_env = dict(env, PATH=f"{shim_dir}{os.pathsep}{env['PATH']}", BENCH_REAL_PYTHON=str(VENV_BIN / "python"), PYTHONUNBUFFERED="1")
        dvc = [str(VENV_BIN / "dvc"), "repro", *args.target]
        result["dvc_command"] = "dvc repro" + "".join(f" {t}" for t in args.target)
        logs = work / ".bench"

        def repro(name: str) -> dict[str, Any]:
            log(f"{name}: {result['dvc_command']}")
            run = measure(dvc, work, dvc_env, stage_log=logs / f"stages-{name}.jsonl", rss_limit=rss_limit, timeout=args.timeout)
            run["validation"] = read_json(work / "corpus/reports/validation.json")
            run["metrics"] = read_json(work / "corpus/metrics.json")
            run["loadavg_after"] = os.getloadavg()
            result["runs"][name] = run
            status = run.get("aborted") or f"exit {run['exit']}"
            log(f"{name}: {run['wall_s']:.1f} s, {status}")
            return run

        full = repro("full")
        ok = full["exit"] == 0 and not full.get("aborted")
        if ok:
            outputs = stage_outputs(work)
            full["output_bytes"] = {stage: sum(tree_size(work / p) for p in paths) for stage, paths in outputs.items()}
            full["published_bytes"] = tree_size(work / "corpus/published")
            full["dvc_cache_bytes"] = tree_size(work / ".dvc/cache")
            full["pipeline_cache_bytes"] = tree_size(work / ".cache")
            if "noop" not in args.skip:
                repro("noop")
        cores = os.cpu_count() or 1
        peers = [
            ("floor", "floor.py", ["--processes", str(cores)], logs / "floor-tokens"),
            ("floor_1", "floor.py", ["--processes", "1"], logs / "floor-tokens-1"),
            ("hf", "hf_peer.py", ["--processes", str(cores)], logs / "hf-tokens.parquet"),
        ]
        for name, script, extra, out in peers:
            if name.split("_")[0] in args.skip or name in args.skip:
                continue
            log(f"{name}: {script} {' '.join(extra)}")
            peer = measure(
                [str(VENV_BIN / "python"), str(BENCH_DIR / script), "--seeds-dir", str(work / "seeds"), "--out", str(out), *extra],
                work,
                env,
                rss_limit=rss_limit,
                timeout=args.timeout,
            )
            with contextlib.suppress(IndexError, ValueError):
                peer.update(json.loads(peer["output"][-1][1]))
            peer["loadavg_after"] = os.getloadavg()
            result["runs"][name] = peer
            log(f"{name}: {peer['wall_s']:.1f} s")
        if ok and "add_one" not in args.skip:
            t0 = time.perf_counter()
            added = add_one_document(work, args.n, args.seed, external)
            repro("add_one").update(edit=f"appended {added} and its gold record", edit_s=time.perf_counter() - t0)
        if ok and "change_one" not in args.skip:
            t0 = time.perf_counter()
            changed = change_one_annotation(work, args.n)
            edit_s = time.perf_counter() - t0
            repro("change_one").update(edit=f"label of {changed}", edit_s=edit_s)
        if "seed" not in args.skip:
            seed_work = work.parent / (work.name + "-seed")
            shutil.rmtree(seed_work, ignore_errors=True)
            copy_repo(seed_work)
            use_external(seed_work, external)
            seed_shim = install_shim(seed_work)
            seed_env = dict(dvc_env, PATH=f"{seed_shim}{os.pathsep}{env['PATH']}")
            log("seed: dvc repro of the one seed document from a clean state")
            seed = measure(
                [str(VENV_BIN / "dvc"), "repro", *args.target], seed_work, seed_env, stage_log=seed_work / ".bench" / "stages-seed.jsonl"
            )
            seed["loadavg_after"] = os.getloadavg()
            result["runs"]["seed"] = seed
            log(f"seed: {seed['wall_s']:.1f} s, exit {seed['exit']}")
            shutil.rmtree(seed_work, ignore_errors=True)
        if ok and args.profile is not None:
            ran = [name for name, stage in full["stages"].items() if "wall_s" in stage]
            stages = args.profile or ran
            log(f"profiling {', '.join(stages)} (cProfile, -X importtime)")
            result["profile"] = profile_stages(work, env, json_out.with_name(json_out.stem + "-profile"), stages)
    finally:
        result["summary"] = report.summarise(result)
        json_out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
        json_out.with_suffix(".md").write_text(report.markdown([result]))
        report.print_table(result)
        log(f"results: {json_out}")
        for process in dask_processes:
            _kill_group(process.pid)
        if created and not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            log(f"work copy kept: {work}")
    full = result["runs"].get("full", {})
    return 0 if full.get("exit") == 0 and not full.get("aborted") else 1


if __name__ == "__main__":
    sys.exit(main())
