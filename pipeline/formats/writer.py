"""Writing an import: documents to ``seeds/<name>.jsonl``, records to
``corpus/annotations/imported/<name>[-<layer>]/…jsonl``, side tables and a report to
``corpus/imported/<name>/``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pipeline.core.spans import Document
from pipeline.formats import ImportFailed
from pipeline.formats.build import ImportResult
from pipeline.io import atomic


def document_line(document: Document) -> dict[str, Any]:
    """The ``schemas/document.schema.json`` form of a document."""
    line: dict[str, Any] = {"id": document.doc_id, "text": document.text}
    for key in ("title", "date", "url"):
        value = getattr(document, key)
        if value is not None:
            line[key] = value
    if document.meta:
        line["meta"] = document.meta
    return line


def _existing_doc_ids(seeds_dir: Path, skip: Path) -> dict[str, str]:
    ids: dict[str, str] = {}
    if not seeds_dir.exists():
        return ids
    for path in sorted(seeds_dir.rglob("*")):
        if not path.is_file() or path.resolve() == skip.resolve():
            continue
        if path.suffix == ".txt":
            ids[path.stem] = str(path)
        elif path.suffix == ".jsonl":
            for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
                try:
                    data = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(data, dict) and isinstance(data.get("id"), str):
                    ids[data["id"]] = f"{path}:{number}"
    return ids


def write_import(
    result: ImportResult,
    *,
    seeds_dir: Path,
    annotations_dir: Path,
    reports_dir: Path,
    force: bool = False,
    info: dict[str, Any] | None = None,
) -> dict[str, Path]:
    """Write the documents, one JSONL file per annotation layer, side tables and a report.

    Refuses (``ImportFailed``) to overwrite an earlier import of the same name without ``force``
    and to add a document whose id another seed file already uses. With ``force`` the files of
    the earlier import (as its report lists them) are replaced.
    """
    name = result.name
    seeds_file = seeds_dir / f"{name}.jsonl"
    report_dir = reports_dir / name
    report_file = report_dir / "report.json"
    if seeds_file.exists() or report_file.exists():
        if not force:
            raise ImportFailed(
                f"{seeds_file} or {report_file} exists: an import named {name!r} was written before; pass --force to replace it"
            )
        if report_file.exists():
            previous = json.loads(report_file.read_text(encoding="utf-8"))
            for relative in previous.get("files", {}).values():
                old = Path(relative)
                if old.exists() and old.is_file():
                    old.unlink()
    existing = _existing_doc_ids(seeds_dir, seeds_file) if result.documents else {}
    clashes = {d.doc_id: existing[d.doc_id] for d in result.documents if d.doc_id in existing}
    if clashes:
        listed = "\n".join(f"  {doc_id} (already in {where})" for doc_id, where in sorted(clashes.items())[:50])
        raise ImportFailed(
            f"{len(clashes)} imported document id(s) are already used by other seed files; choose another --name or --id-prefix:\n{listed}"
        )

    texts = {d.doc_id: d.text for d in result.documents}
    files: dict[str, Path] = {"documents": seeds_file}
    atomic.write_text(seeds_file, "".join(json.dumps(document_line(d), ensure_ascii=False) + "\n" for d in result.documents))
    for layer in result.layers:
        layer_dir = annotations_dir / layer
        layer_file = layer_dir / f"{layer.rsplit('/', 1)[-1]}.jsonl"
        lines = []
        for record in result.records_of(layer):
            data = record.to_json(texts[record.doc_id])
            meta = result.record_meta.get((layer, record.doc_id))
            if meta:
                data["meta"] = meta
            lines.append(json.dumps(data, ensure_ascii=False) + "\n")
        atomic.write_text(layer_file, "".join(lines))
        files[f"layer:{layer}"] = layer_file
    for extra, rows in result.extras.items():
        extra_file = report_dir / f"{extra}.jsonl"
        atomic.write_text(extra_file, "".join(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n" for row in rows))
        files[f"table:{extra}"] = extra_file
    problems_file = report_dir / "problems.jsonl"
    atomic.write_text(problems_file, "".join(json.dumps(p.to_json(), ensure_ascii=False, sort_keys=True) + "\n" for p in result.problems))
    files["problems"] = problems_file
    report = {"name": name, **(info or {}), **result.stats, "files": {k: str(v) for k, v in files.items()}}
    atomic.write_text(report_file, json.dumps(report, indent=2, ensure_ascii=False, sort_keys=True) + "\n")
    files["report"] = report_file
    return files
