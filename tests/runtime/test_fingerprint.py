"""Stage code dependencies are derived from imports, and dvc.yaml declares exactly them."""

from __future__ import annotations

from pathlib import Path

import yaml

from pipeline.runtime import fingerprint
from pipeline.runtime.fingerprint import code_fingerprint, imported_modules, module_closure, stage_code_files

REPO = Path(__file__).resolve().parents[2]


def dvc_stages() -> dict[str, dict]:
    return yaml.safe_load((REPO / "dvc.yaml").read_text(encoding="utf-8"))["stages"]


def test_dvc_yaml_declares_exactly_the_modules_each_stage_imports():
    for name, stage in dvc_stages().items():
        declared = sorted(dep for dep in stage["deps"] if dep.startswith("pipeline/"))
        expected = stage_code_files(name)
        assert declared == expected, f"dvc.yaml stage {name!r}: declare exactly these code deps:\n" + "\n".join(
            f"      - {f}" for f in expected
        )


def test_every_stage_runs_through_the_stage_entry_point():
    for name, stage in dvc_stages().items():
        assert stage["cmd"] == f"python -m pipeline.stages {name}"


def test_imports_inside_functions_and_package_attributes_count(tmp_path: Path):
    source = tmp_path / "m.py"
    source.write_text(
        "from pipeline.io import tables\n\ndef f():\n    from pipeline.core.text import normalise_text\n    import pipeline.runtime.pool\n"
    )
    assert imported_modules(source) == {"pipeline.io", "pipeline.io.tables", "pipeline.core.text", "pipeline.runtime.pool"}


def test_closure_includes_packages_and_transitive_imports():
    closure = module_closure("pipeline.stages.ingest")
    assert {"pipeline", "pipeline.stages", "pipeline.core.text", "pipeline.io.tables"} <= set(closure)
    assert not [name for name in closure if name.startswith(("pipeline.doccano", "pipeline.formats"))]


def test_fingerprint_changes_when_an_imported_module_changes(monkeypatch, tmp_path: Path):
    before = code_fingerprint("pipeline.stages.ingest")
    assert "pipeline.core.text" not in module_closure("pipeline.stages.publish")
    publish_before = code_fingerprint("pipeline.stages.publish")
    original = fingerprint.module_file

    def patched(module: str):
        path = original(module)
        if module == "pipeline.core.text":
            copy = tmp_path / "text.py"
            copy.write_text(path.read_text(encoding="utf-8") + "\n# changed\n", encoding="utf-8")
            return copy
        return path

    monkeypatch.setattr(fingerprint, "module_file", patched)
    fingerprint.module_closure.cache_clear()
    try:
        assert code_fingerprint("pipeline.stages.ingest") != before
        assert code_fingerprint("pipeline.stages.publish") == publish_before  # it does not import core.text
    finally:
        fingerprint.module_closure.cache_clear()
