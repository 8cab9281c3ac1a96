"""Read ``params.yaml``: one section per stage, plus the shared ``schemas`` section."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

DEFAULT_PARAMS = Path("params.yaml")


def load_params(path: str | Path = DEFAULT_PARAMS) -> dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        params = yaml.safe_load(handle) or {}
    if not isinstance(params, dict):
        raise ValueError(f"{path}: expected a mapping of stage sections, got {type(params).__name__}")
    return params


def section(params: dict[str, Any], name: str) -> dict[str, Any]:
    try:
        value = params[name]
    except KeyError:
        raise ValueError(f"params.yaml has no '{name}' section") from None
    if not isinstance(value, dict):
        raise ValueError(f"params.yaml section '{name}' must be a mapping")
    return value
