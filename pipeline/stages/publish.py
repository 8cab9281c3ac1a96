"""Stage 4, publish: promote the validated tables to ``corpus/published/``, atomically.

The new dataset is assembled in a staging folder beside the old one, completed with
``manifest.json`` (row counts and sha256 of every file) and a Hugging Face style dataset card,
flushed to disk, and only then swapped in by two renames. A run killed at any moment leaves the
previous dataset readable (at worst under ``.published.old``, which the next run restores), and
the next run cleans up without help.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pyarrow.parquet as pq
import yaml

from pipeline.config import StageConfig
from pipeline.core import features
from pipeline.core.labels import LabelSchema
from pipeline.io import atomic, tables
from pipeline.io.memo import Memo, file_identity
from pipeline.io.schemas import load_label_schema
from pipeline.runtime import faults
from pipeline.runtime.fingerprint import code_fingerprint, file_sha256

log = logging.getLogger(__name__)

KILL_SWITCH = "PIPELINE_PUBLISH_KILL_AT"


def checkpoint(name: str) -> None:
    """Fault injection for the crash tests: ``PIPELINE_PUBLISH_KILL_AT=<name>`` makes the process
    SIGKILL itself here, exactly as ``kill -9`` would at that moment."""
    faults.checkpoint(KILL_SWITCH, name)


class PublishRefused(RuntimeError):
    """Validation did not pass: nothing is published."""


def staging_dir(published: Path) -> Path:
    return published.with_name(f".{published.name}.staging")


def old_dir(published: Path) -> Path:
    return published.with_name(f".{published.name}.old")


def recover(published: Path) -> None:
    """Finish or undo a swap that a killed run left half done, and drop stale staging data."""
    old = old_dir(published)
    if old.exists():
        if published.exists():
            shutil.rmtree(old)
        else:
            os.replace(old, published)
            log.warning("publish: restored the previous dataset from %s", old)
    staging = staging_dir(published)
    if staging.exists():
        shutil.rmtree(staging)


def swap_in(staging: Path, published: Path) -> None:
    old = old_dir(published)
    if published.exists():
        os.replace(published, old)
    checkpoint("mid-swap")
    os.replace(staging, published)
    atomic.fsync_dir(published.parent)
    if old.exists():
        shutil.rmtree(old)


def table_files(tables_dir: Path) -> dict[str, list[Path]]:
    """Every Parquet shard of every published table, by table, in name order."""
    return {name: sorted((tables_dir / name).glob("*.parquet")) for name in tables.SCHEMAS}


# The column of a table whose values the metrics count.
COUNTED = {"entities": "label", "relations": "label", "documents": "split", "re": "label"}


def file_facts(path: Path, table: str) -> dict[str, Any]:
    """What the manifest and the metrics need of one file of ``table``: its rows, bytes and sha256
    and, for a table in :data:`COUNTED`, how often each value of that column occurs."""
    facts: dict[str, Any] = {"rows": pq.ParquetFile(path).metadata.num_rows, "bytes": path.stat().st_size, "sha256": file_sha256(path)}
    if table in COUNTED:
        column = COUNTED[table]
        counts = pc.value_counts(pq.read_table(path, columns=[column]).column(column)).to_pylist()
        facts["counts"] = {pair["values"]: pair["counts"] for pair in counts}
    return facts


def remembered_facts(memo: Memo, path: Path, table: str) -> dict[str, Any]:
    """:func:`file_facts`, remembered by the file's identity: the tables' files are hard links of
    cache entries, never modified in place, so an unchanged shard is neither hashed nor read again."""
    identity = f"{table}:{file_identity(path)}"
    facts = memo.get(identity)
    if facts is None:
        facts = file_facts(path, table)
        memo.put(identity, facts)
    return facts


def metrics(facts: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Counts for ``corpus/metrics.json`` from the :func:`file_facts` of each table's files."""

    def column_counts(name: str) -> dict[str, int]:
        counter: Counter[str] = Counter()
        for found in facts[name]:
            counter.update(found["counts"])
        return dict(sorted(counter.items()))

    def rows(name: str) -> int:
        return sum(found["rows"] for found in facts[name])

    return {
        "documents": rows("documents"),
        "sentences": rows("sentences"),
        "tokens": rows("tokens"),
        "entities": rows("entities"),
        "relations": rows("relations"),
        "entities_by_label": column_counts("entities"),
        "relations_by_label": column_counts("relations"),
        "documents_by_split": column_counts("documents"),
        "re_candidates_by_label": column_counts("re"),
    }


def latest_changes(changelog: str) -> str:
    """The newest entry of the changelog (its first ``## `` section, heading level lowered), for
    the card's "Changes" section; a changelog without entries gives a sentence saying so."""
    sections = changelog.split("\n## ")[1:]
    if not sections:
        return "No release yet: this build is not a released version (`CHANGELOG.md` lists every release)."
    heading, _, body = sections[0].partition("\n")
    body = "\n".join(("#" + line) if line.startswith("### ") else line for line in body.strip().splitlines())
    return f"### {heading.strip()}\n\n{body}\n\nEvery version's changes: `CHANGELOG.md`."


def dataset_card(config: StageConfig, schema: LabelSchema, manifest: dict[str, Any], stats: dict[str, Any], changelog: str = "") -> str:
    """A dataset card in the Hugging Face style: YAML header (configs, features, splits) + prose."""
    changes = latest_changes(changelog)
    publish = config.publish
    files = manifest["files"]
    configs = []
    infos = []
    for name in tables.FLAT_TABLES + tables.SPLIT_TABLES:
        if name in tables.FLAT_TABLES:
            configs.append({"config_name": name, "data_files": [{"split": "train", "path": f"{name}/*.parquet"}]})
            continue
        split_files = {s: [f for path, f in files.items() if path.startswith(f"{name}/{s}-")] for s in config.annotate.splits}
        splits = [s for s, listed in split_files.items() if sum(f["rows"] for f in listed)]
        configs.append({"config_name": name, "data_files": [{"split": s, "path": f"{name}/{s}-*.parquet"} for s in splits]})
        # `datasets` reads a split only with name, num_bytes and num_examples (else it warns and
        # ignores the split info); num_bytes are the split's Parquet bytes.
        info: dict[str, Any] = {
            "config_name": name,
            "splits": [
                {"name": s, "num_bytes": sum(f["bytes"] for f in split_files[s]), "num_examples": sum(f["rows"] for f in split_files[s])}
                for s in splits
            ],
        }
        view = features.VIEWS[name]
        if view.declares_features:
            info["features"] = features.card_features(view, schema.bio_labels)
        infos.append(info)
    header = {
        "language": ["de"],
        "license": publish.license,
        "pretty_name": publish.pretty_name,
        "task_categories": ["token-classification", "text-classification"],
        "task_ids": ["named-entity-recognition"],
        "tags": ["relation-extraction", "german", "news"],
        "configs": configs,
        "dataset_info": infos,
    }
    entity_rows = "\n".join(f"| {t} | {schema.descriptions[t]} | {stats['entities_by_label'].get(t, 0)} |" for t in schema.entity_types)
    relation_rows = "\n".join(
        f"| {r.name} | {', '.join(r.head)} | {', '.join(r.tail)} | {'yes' if r.symmetric else 'no'} | {r.description} | {stats['relations_by_label'].get(r.name, 0)} |"
        for r in schema.relation_types
    )
    file_rows = "\n".join(f"| `{path}` | {info['rows']} | `{info['sha256'][:16]}…` |" for path, info in files.items())
    split_rows = "\n".join(f"| {s} | {n} |" for s, n in stats["documents_by_split"].items())
    layer_rows = "\n".join(f"| {layer} | {n} |" for layer, n in manifest["layers"].items()) or "| (none) | 0 |"
    previous = (
        f" (previous version {manifest['previous_version']}, whose `manifest.json` has sha256 `{manifest['previous_manifest_sha256']}`)"
        if manifest["previous_version"]
        else " (the first version)"
    )
    return f"""---
{yaml.safe_dump(header, sort_keys=False, allow_unicode=True, width=1000)}---

# {publish.pretty_name}

{publish.description.strip()}

Version **{manifest["version"]}**{previous}, label schema **{manifest["schema_version"]}**.

## Loading

```python
import pandas as pd
entities = pd.read_parquet("entities")            # one folder per table
import datasets
ner = datasets.load_dataset("parquet", data_files={{"train": "ner/train-*.parquet"}})
```

Offsets (`start`, `end`) are half-open `[start, end)` in Unicode code points into `documents.text`,
which is NFC-normalised with LF line endings: `text[start:end]` is the token, sentence or entity.
In the `re` view, argument offsets are relative to the row's `text` (the sentence window), which
starts at `window_start` in the document.

## Sources

{publish.sources.strip()}

## Annotation process

Entities and relations are annotated by the rules in `docs/annotation-guidelines.md` of the source
repository, in doccano or as JSONL annotation layers. Every entity and relation keeps its
provenance in `source` (`gold`, `annotator:<name>`, `preannotation:<tool>`, `imported:<corpus>`)
and the layer it came from in `layer`. Each document's annotations come from one layer, chosen by
priority; every record of every layer is validated before anything is published.

| layer | documents |
|---|---|
{layer_rows}

## Label schema

| entity type | definition | mentions |
|---|---|---|
{entity_rows}

| relation | head | tail | symmetric | definition | count |
|---|---|---|---|---|---|
{relation_rows}

Entities may nest (the label schema's `overlap: {schema.overlap}`): `entities.level` is 0 for an
outermost entity, 1 inside a level-0 entity, and so on; `entities.parent` is the `ent_id` of the
smallest enclosing entity. Token tags are BIO over the entity types of the outermost level
(`ner_tags` as class ids, `ner_labels` as strings); `ner_tags_inner` tags level 1 with the same
class names, and `spans` lists every entity of every level as `{{start, end, label}}` in token
indices of the row (end exclusive), the input of span-classification and nested-NER models. In the `re` view, entity pairs in one sentence
whose types a relation type allows but that carry no relation are labelled `no_relation`.

## Changes

{changes}

## Licence

{publish.license_note.strip()}

## Statistics

| split | documents |
|---|---|
{split_rows}

| file | rows | sha256 |
|---|---|---|
{file_rows}
"""


def assemble(config: StageConfig, staging: Path) -> dict[str, Any]:
    """Put every file of the new dataset into ``staging``; return the manifest."""
    tables_dir = config.annotate.out_dir
    schema = load_label_schema(config.schemas.labels)
    files = table_files(tables_dir)
    memo = Memo(config.runtime.local_cache_dir() / "publish" / "files.json", code_fingerprint(__name__))
    listed: dict[str, dict[str, Any]] = {}
    facts: dict[str, list[dict[str, Any]]] = {}
    for name, paths in files.items():
        facts[name] = []
        for source in paths:
            written = len(listed) + 1
            relative = f"{name}/{source.name}"
            target = staging / relative
            atomic.link_or_copy(source, target)  # tables' files are never modified in place once written
            checkpoint(f"wrote:{written}")
            found = remembered_facts(memo, target, name)
            facts[name].append(found)
            listed[relative] = {key: found[key] for key in ("rows", "bytes", "sha256")}
    memo.save()
    stats = metrics(facts)
    layers = json.loads((tables_dir / "layers.json").read_text(encoding="utf-8"))
    manifest = {
        "dataset": config.publish.dataset_name,
        "version": config.publish.version,
        "previous_version": config.publish.previous_version,
        "previous_manifest_sha256": config.publish.previous_manifest_sha256,
        "schema_version": schema.schema_version,
        "label_schema": schema.to_metadata(),
        "offsets": "half-open [start, end) in Unicode code points into NFC, LF-only documents.text",
        "layers": layers,
        "rows": {name: stats[name] for name in tables.FLAT_TABLES}
        | {name: sum(listed[f"{name}/{p.name}"]["rows"] for p in files[name]) for name in tables.SPLIT_TABLES},
        "files": dict(sorted(listed.items())),
    }
    (staging / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    changelog = config.publish.changelog.read_text(encoding="utf-8")
    (staging / "CHANGELOG.md").write_text(changelog, encoding="utf-8")
    (staging / "README.md").write_text(dataset_card(config, schema, manifest, stats, changelog), encoding="utf-8")
    for path in sorted(staging.rglob("*")):
        if path.is_file():
            atomic.fsync_file(path)
    manifest["metrics"] = stats
    return manifest


def run(config: StageConfig) -> dict[str, Any]:
    """Publish the tables if ``validate`` passed (:class:`PublishRefused` if not); the manifest."""
    report = config.validate.report
    if not report.exists():
        raise PublishRefused(f"{report} does not exist: run validate first; nothing was published")
    summary = json.loads(report.read_text(encoding="utf-8"))
    if not summary.get("passed"):
        raise PublishRefused(f"{report} records {summary.get('errors')} validation error(s); nothing was published")
    published = config.publish.out_dir
    published.parent.mkdir(parents=True, exist_ok=True)
    recover(published)
    staging = staging_dir(published)
    staging.mkdir(parents=True)
    manifest = assemble(config, staging)
    checkpoint("before-swap")
    swap_in(staging, published)
    checkpoint("after-swap")
    metrics_path = config.publish.metrics
    atomic.write_text(metrics_path, json.dumps(manifest["metrics"], indent=2, sort_keys=True) + "\n")
    log.info("publish: %s %s → %s", manifest["dataset"], manifest["version"], published)
    return manifest


def main(config: StageConfig) -> int:
    """The stage command: exit 1, naming why, when validation did not pass (nothing is published)."""
    try:
        run(config)
    except PublishRefused as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0
