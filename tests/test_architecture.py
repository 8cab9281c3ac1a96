"""The layout's import rules, checked on the source (see docs/architecture.md)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipeline.runtime.fingerprint import PACKAGE, imported_modules

REPO = PACKAGE.parent


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(REPO).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "pipeline"


def imports_of(module: str) -> set[str]:
    return {name for name in imported_modules(modules()[module]) if name != module}


#: Which layers a layer may import from the package (besides itself).
ALLOWED = {
    "core": set(),
    "io": {"core"},
    "runtime": {"core", "io"},
    "stages": {"core", "io", "runtime", "config", "formats"},
    "formats": {"core", "io", "runtime", "doccano", "config"},
    "doccano": {"core", "io", "runtime", "config"},
    "release": {"core", "io", "runtime", "config"},
    "config": set(),
    "cli": {"runtime", "stages", "doccano", "formats", "release", "config"},
}


@pytest.mark.parametrize("module", [m for m in modules() if layer(m) in ALLOWED])
def test_a_module_imports_only_the_layers_below_it(module: str):
    own = layer(module)
    bad = sorted(name for name in imports_of(module) if name.count(".") and layer(name) != own and layer(name) not in ALLOWED[own])
    assert not bad, f"{module} ({own}) imports {bad}; {own} may import {sorted(ALLOWED[own])}"


@pytest.mark.parametrize("module", [m for m in modules() if layer(m) == "stages" and m != "pipeline.stages"])
def test_a_stage_imports_no_other_stage(module: str):
    others = sorted(name for name in imports_of(module) if layer(name) == "stages" and name not in ("pipeline.stages", module))
    assert not others, f"{module} imports the stage(s) {others}: shared pieces belong in core/ or io/"


@pytest.mark.parametrize("module", [m for m in modules() if layer(m) in ("formats", "doccano")])
def test_formats_and_doccano_import_no_stage(module: str):
    stages = sorted(name for name in imports_of(module) if layer(name) == "stages")
    assert not stages, f"{module} imports {stages}"


def test_formats_use_only_the_pure_shape_of_doccano():
    for module in (m for m in modules() if layer(m) == "formats"):
        used = {name for name in imports_of(module) if layer(name) == "doccano"}
        assert used <= {"pipeline.doccano", "pipeline.doccano.shape"}, f"{module} imports doccano internals {sorted(used)}"


def test_every_module_is_described_in_the_architecture_doc():
    doc = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    missing = [
        str(path.relative_to(REPO))
        for path in modules().values()
        if f"`{path.relative_to(PACKAGE).as_posix()}`" not in doc and path.name != "__init__.py"
    ]
    assert not missing, f"docs/architecture.md does not describe {missing}"


def test_no_module_is_long_without_a_reason():
    long = []
    for path in modules().values():
        source = path.read_text(encoding="utf-8")
        if len(source.splitlines()) > 400 and not re.search(
            r"over 400 lines|longer than the other modules on purpose", source.split('"""')[1]
        ):
            long.append(f"{path.relative_to(REPO)} ({len(source.splitlines())} lines)")
    assert not long, f"modules over 400 lines whose docstring gives no reason ('over 400 lines because …'): {long}"
