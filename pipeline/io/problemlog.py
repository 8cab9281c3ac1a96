"""Problems handed from a stage to ``validate``: one JSON object per line."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path

from pipeline.core.problems import Problem


def write_problems(problems: Iterable[Problem], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        for problem in problems:
            handle.write(json.dumps(problem.to_json(), ensure_ascii=False, sort_keys=True) + "\n")


def read_problems(path: Path) -> Iterator[Problem]:
    if not path.exists():
        return
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield Problem.from_json(json.loads(line))
