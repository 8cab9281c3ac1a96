"""Problems handed from a stage to ``validate``: one JSON object per line."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path

from pipeline.core.problems import Problem
from pipeline.io import atomic


def write_problems(problems: Iterable[Problem], path: Path) -> None:
    """One line per problem, written atomically: a reader sees the old log or the new one, never a part."""
    with atomic.writing(path) as temp, open(temp, "w", encoding="utf-8", newline="\n") as handle:
        for problem in problems:
            handle.write(json.dumps(problem.to_json(), ensure_ascii=False, sort_keys=True) + "\n")


def read_problems(path: Path) -> Iterator[Problem]:
    if not path.exists():
        return
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield Problem.from_json(json.loads(line))
