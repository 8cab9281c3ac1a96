"""``python -m pipeline.stages <stage> [--params params.yaml]``: what ``dvc.yaml`` runs.

The stage commands of ``python -m pipeline`` call the same :func:`run_stage`; this entry point
imports nothing but the stage itself (and what it imports), so a stage's code dependencies are
exactly the modules it imports, whatever other commands the CLI has.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from pipeline.config import DEFAULT_PARAMS, load_config
from pipeline.runtime.logs import setup_logging

STAGES = ("ingest", "annotate", "preannotate", "agreement", "validate", "publish")


def run_stage(name: str, params_path: Path) -> int:
    """Run stage ``name`` with its view of the params file (:meth:`Config.for_stage`, built once
    here); the exit code (non-zero: the stage refused, 2: the params file is unreadable or wrong)."""
    if name not in STAGES:
        raise ValueError(f"unknown stage {name!r}; stages: {', '.join(STAGES)}")
    try:
        config = load_config(params_path).for_stage(name)
    except OSError as error:
        print(f"error: cannot read {params_path}: {error.strerror or error}", file=sys.stderr)
        return 2
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    stage = importlib.import_module(f"pipeline.stages.{name}")
    return stage.main(config)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.stages", description="Run one stage of dvc.yaml.")
    parser.add_argument("stage", choices=STAGES)
    parser.add_argument("--params", type=Path, default=DEFAULT_PARAMS, help="the params file (one section per stage)")
    parser.add_argument("--verbose", "-v", action="store_true")
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    return run_stage(args.stage, args.params)


if __name__ == "__main__":
    sys.exit(main())
