"""The typed config: ``params.yaml`` read once per run into one frozen dataclass per section.

Each section's keys, their types, their defaults and their checks live in its dataclass below and
nowhere else: :func:`load_config` refuses an unknown section or key (a typo must not silently fall
back to a default) and every bad value with a ``ValueError`` naming the dotted key, the value and
what was expected (``params.yaml: annotate.splits.train: expected a non-negative number, got -0.1``).

A stage does not get the whole config: :meth:`Config.for_stage` gives it a :class:`StageConfig`
that shows exactly the keys :data:`READS` declares for it, so reaching into another section is an
explicit line in one table, and that table is what ``dvc.yaml``'s ``params:`` lists say (a test
compares them).

This module imports nothing from ``pipeline``: every stage imports it, so its imports would join
every stage's code dependencies. It is longer than the other modules on purpose: the value checks,
the sections, the table of who reads what and the stage view are the one home of the config.
"""

from __future__ import annotations

import difflib
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import MISSING, FrozenInstanceError, dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

import yaml

DEFAULT_PARAMS = Path("params.yaml")

# Semantic Versioning 2.0.0 (semver.org), the published dataset's version.
SEMVER = re.compile(
    r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?"
)
MAX_AUTO_WORKERS = 8
# The per-shard cache by default; with a URL cache, what only the main process reads stays here.
LOCAL_CACHE_DIR = Path(".cache/pipeline")


class FrozenDict(dict):
    """A dict that cannot change; ``json.dumps``, ``digest`` and pickle see a plain dict."""

    def _read_only(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("config values cannot change; build another Config")

    __setitem__ = __delitem__ = __ior__ = clear = pop = popitem = setdefault = update = _read_only  # type: ignore[assignment]

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(self.items()))

    def __reduce__(self) -> tuple[Any, ...]:
        return (FrozenDict, (dict(self),))


# --------------------------------------------------------------------------- checks of one value
# Each takes the value and its dotted key and returns the typed value (accepting its own output,
# so a dataclass built in code is checked the same way as one read from YAML).


def _bad(key: str, expected: str, value: Any) -> ValueError:
    return ValueError(f"{key}: expected {expected}, got {value!r}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _path(value: Any, key: str) -> Path:
    if isinstance(value, Path):
        return value
    if not isinstance(value, str) or not value.strip():
        raise _bad(key, "a non-empty path", value)
    return Path(value)


def _cache_location(value: Any, key: str) -> Path | str:
    """A local folder (a Path), or an fsspec URL such as ``s3://bucket/prefix`` (kept as text)."""
    if isinstance(value, str) and re.match(r"[A-Za-z][A-Za-z0-9+.-]*://", value):
        if value.startswith("memory://"):
            raise _bad(key, "a folder or a URL every worker process sees (memory:// is one process's own)", value)
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*://\S+", value):
            raise _bad(key, "a folder or an fsspec URL such as s3://bucket/prefix", value)
        return value.rstrip("/")
    return _path(value, key)


def _home_path(value: Any, key: str) -> Path:
    """A path that may start with ``~`` (a folder outside the repository)."""
    return Path(os.path.expanduser(_path(value, key)))


def _text(value: Any, key: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _bad(key, "a non-empty string", value)
    return value


def _scheduler(value: Any, key: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not re.fullmatch(r"(tcp|tls|inproc|ucx|ws|wss)://\S+", value):
        raise _bad(key, "a Dask scheduler address such as tcp://10.0.0.5:8786 (or null)", value)
    return value


def _prose(value: Any, key: str) -> str:
    if not isinstance(value, str):
        raise _bad(key, "a string", value)
    return value


def _matching(pattern: str, expected: str) -> Callable[[Any, str], str]:
    compiled = re.compile(pattern)

    def check(value: Any, key: str) -> str:
        if not isinstance(value, str) or not compiled.fullmatch(value):
            raise _bad(key, expected, value)
        return value

    return check


def _version(value: Any, key: str) -> str:
    if not isinstance(value, str) or not SEMVER.fullmatch(value):
        quote = " (quote it: YAML reads it as a number)" if isinstance(value, (int, float)) else ""
        raise _bad(key, f"a semantic version string such as 1.2.3{quote}", value)
    return value


def _optional(check: Callable[[Any, str], Any]) -> Callable[[Any, str], Any]:
    """``check``, or ``None`` (YAML ``null``) for a value not set yet."""

    def optional(value: Any, key: str) -> Any:
        return None if value is None else check(value, key)

    return optional


def _at_least(minimum: int) -> Callable[[Any, str], int]:
    def check(value: Any, key: str) -> int:
        if not _is_int(value) or value < minimum:
            raise _bad(key, f"an integer >= {minimum}", value)
        return value

    return check


def _one_of(*options: str) -> Callable[[Any, str], str]:
    def check(value: Any, key: str) -> str:
        if not isinstance(value, str) or value not in options:
            raise _bad(key, "one of " + ", ".join(options), value)
        return value

    return check


def _workers(value: Any, key: str) -> int | str:
    if value == "auto" or (_is_int(value) and value >= 1):
        return value
    raise _bad(key, "'auto' or an integer >= 1", value)


def _patterns(value: Any, key: str) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)) or not value:
        raise _bad(key, "a non-empty list of fnmatch patterns", value)
    for index, item in enumerate(value):
        if not isinstance(item, str) or not item:
            raise _bad(f"{key}[{index}]", "a non-empty fnmatch pattern", item)
    return tuple(value)


def _mapping(value: Any, key: str, expected: str = "a mapping") -> Mapping[Any, Any]:
    if not isinstance(value, Mapping):
        raise _bad(key, expected, value)
    for name in value:
        _text(name, f"{key} key")
    return value


def _ratios(value: Any, key: str) -> FrozenDict:
    """Split name → share of the documents: non-negative, summing to 1, in the order given."""
    _mapping(value, key, "a mapping of split names to ratios")
    if not value:
        raise _bad(key, "at least one split", value)
    for name, ratio in value.items():
        if not isinstance(ratio, (int, float)) or isinstance(ratio, bool) or not math.isfinite(ratio) or ratio < 0:
            raise _bad(f"{key}.{name}", "a non-negative number", ratio)
    total = sum(value.values())
    if abs(total - 1.0) > 1e-9:
        raise _bad(key, f"ratios summing to 1 (they sum to {total})", dict(value))
    return FrozenDict(value)


def _external(value: Any, key: str) -> FrozenDict:
    _mapping(value, key, "a mapping of corpus names to {file, mapping}")
    return FrozenDict(
        {
            name: spec if isinstance(spec, ExternalCorpus) else _build(ExternalCorpus, spec, f"{key}.{name}", name=name)
            for name, spec in value.items()
        }
    )


def _setting(default: Any = MISSING, check: Callable[[Any, str], Any] = _text) -> Any:
    """A field of a section: its default (none: the key is required) and its check."""
    return field(default=default, metadata={"check": check})


def _part(cls: type) -> Any:
    """A field holding a whole section, built from its mapping."""

    def check(value: Any, key: str) -> Any:
        return value if isinstance(value, cls) else _build(cls, value, key)

    required = any(f.default is MISSING and f.default_factory is MISSING for f in fields(cls))
    return field(metadata={"check": check}) if required else field(default_factory=cls, metadata={"check": check})


# --------------------------------------------------------------------------- building sections


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _build(cls: type, data: Any, key: str, **given: Any) -> Any:
    """``cls`` from the mapping ``data`` found at ``key``: unknown and missing keys are errors."""
    what = "section" if cls is Config else "key"
    if not isinstance(data, Mapping):
        raise _bad(key or "params", "a mapping", data)
    known = [f.name for f in fields(cls) if f.name not in given]
    for name in data:
        if name not in known:
            close = difflib.get_close_matches(str(name), known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"{_join(key, str(name))}: unknown {what} (known: {', '.join(known)}){hint}")
    for f in fields(cls):
        if f.name not in data and f.name not in given and f.default is MISSING and f.default_factory is MISSING:
            raise ValueError(f"{_join(key, f.name)}: missing (this {what} is required)")
    return cls(**data, **given)


class _Checked:
    """Base of every config dataclass: checks and converts each field after construction."""

    def _key(self) -> str:
        return getattr(self, "KEY", "")

    def __post_init__(self) -> None:
        for f in fields(self):  # type: ignore[arg-type]
            object.__setattr__(self, f.name, f.metadata["check"](getattr(self, f.name), _join(self._key(), f.name)))


@dataclass(frozen=True, kw_only=True)
class SchemasConfig(_Checked):
    """``schemas``: the label schema, the JSON Schemas of the inputs, the table expectations."""

    KEY: ClassVar[str] = "schemas"
    labels: Path = _setting(Path("schemas/labels.yaml"), _path)
    annotation: Path = _setting(Path("schemas/annotation.schema.json"), _path)
    document: Path = _setting(Path("schemas/document.schema.json"), _path)
    expectations: Path = _setting(Path("schemas/expectations.yaml"), _path)


@dataclass(frozen=True, kw_only=True)
class RuntimeConfig(_Checked):
    """``runtime``: how the stages scale; only ``shards`` (the file layout) shows in the outputs."""

    KEY: ClassVar[str] = "runtime"
    shards: int = _setting(64, _at_least(1))
    # Chunks per shard: what a stage recomputes of a shard when some of its documents changed.
    chunks: int = _setting(16, _at_least(1))
    # A folder, or an fsspec URL (s3://bucket/prefix) the workers of a cluster share.
    cache_dir: Path | str = _setting(LOCAL_CACHE_DIR, _cache_location)
    # With a URL cache_dir: the folder for what only the main process reads; null: .cache/pipeline.
    local_dir: Path | None = _setting(None, _optional(_path))
    workers: int | str = _setting("auto", _workers)
    # Where the shard work runs: `local` (the process pool) or `dask` (a cluster's workers).
    executor: str = _setting("local", _one_of("local", "dask"))
    # The Dask scheduler's address; null: $DASK_SCHEDULER_ADDRESS.
    dask_scheduler: str | None = _setting(None, _scheduler)

    def local_cache_dir(self) -> Path:
        """Where what only the main process reads is cached (line memos, preannotate's external
        scores, the mirror of a URL cache's entries): ``cache_dir`` itself when it is a folder,
        else ``local_dir`` (default ``.cache/pipeline``)."""
        if isinstance(self.cache_dir, Path):
            return self.cache_dir
        return self.local_dir if self.local_dir is not None else LOCAL_CACHE_DIR

    def worker_count(self) -> int:
        """Worker processes: the configured number, or for ``auto`` one per core, at most 8."""
        if self.workers == "auto":
            return max(1, min(os.cpu_count() or 1, MAX_AUTO_WORKERS))
        return int(self.workers)

    def scheduler_address(self) -> str:
        """The Dask scheduler to run on: ``dask_scheduler``, else ``$DASK_SCHEDULER_ADDRESS``."""
        address = self.dask_scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS")
        if not address:
            raise ValueError("runtime.executor is dask but neither runtime.dask_scheduler nor DASK_SCHEDULER_ADDRESS names a scheduler")
        return _scheduler(address, "DASK_SCHEDULER_ADDRESS" if not self.dask_scheduler else "runtime.dask_scheduler")  # type: ignore[return-value]


@dataclass(frozen=True, kw_only=True)
class IngestConfig(_Checked):
    """``ingest``: where the seed documents are, where the interim tables go, the spaCy language."""

    KEY: ClassVar[str] = "ingest"
    seeds_dir: Path = _setting(Path("seeds"), _path)
    out_dir: Path = _setting(Path("corpus/interim/ingest"), _path)
    language: str = _setting("de", _matching(r"[a-z]{2,3}", "a language code such as de"))


@dataclass(frozen=True, kw_only=True)
class AnnotateConfig(_Checked):
    """``annotate``: the annotation layers, which record a document takes, the document splits."""

    KEY: ClassVar[str] = "annotate"
    annotations_dir: Path = _setting(Path("corpus/annotations"), _path)
    out_dir: Path = _setting(Path("corpus/interim/tables"), _path)
    # fnmatch patterns over layer names; the first that matches a document's layers wins.
    layer_priority: tuple[str, ...] = _setting(("gold", "adjudicated", "annotators/*", "imported/*", "preannotation/*", "*"), _patterns)
    # split name → ratio, in this order (a document's split comes from sha256(doc_id)).
    splits: Mapping[str, float] = _setting(FrozenDict(train=0.8, dev=0.1, test=0.1), _ratios)


@dataclass(frozen=True, kw_only=True)
class ValidateConfig(_Checked):
    """``validate``: where the reports go, how whitespace at span edges counts, the chunk bound."""

    KEY: ClassVar[str] = "validate"
    report: Path = _setting(Path("corpus/reports/validation.json"), _path)
    problems: Path = _setting(Path("corpus/reports/validation-problems.jsonl"), _path)
    summary: Path = _setting(Path("corpus/reports/validation.md"), _path)
    whitespace_spans: str = _setting("error", _one_of("error", "warning"))
    chunk_rows: int = _setting(1_000_000, _at_least(1))


@dataclass(frozen=True, kw_only=True)
class ExternalCorpus(_Checked):
    """One third-party corpus the proposals are measured on: ``preannotate.external.<name>``."""

    name: str = _setting()
    file: str = _setting()  # relative to preannotate.external_dir
    mapping: Path = _setting(check=_path)  # the corpus's label mapping, read backwards for scoring

    def _key(self) -> str:
        return f"preannotate.external.{self.name}"


@dataclass(frozen=True, kw_only=True)
class PreannotateConfig(_Checked):
    """``preannotate``: the patterns, which documents get proposals, the external evaluations."""

    KEY: ClassVar[str] = "preannotate"
    gold_layer: str = _setting("gold")
    patterns_dir: Path = _setting(Path("corpus/patterns"), _path)
    out_dir: Path = _setting(Path("corpus/preannotations"), _path)
    documents: str = _setting("without_gold", _one_of("without_gold", "all"))
    external_dir: Path = _setting(Path("../shared/external"), _home_path)
    external: Mapping[str, ExternalCorpus] = _setting(FrozenDict(), _external)


@dataclass(frozen=True, kw_only=True)
class AgreementConfig(_Checked):
    """``agreement``: which layers are the annotators compared, where the figures go, the bootstrap."""

    KEY: ClassVar[str] = "agreement"
    # fnmatch patterns over layer names: every matching layer is one annotator.
    layers: tuple[str, ...] = _setting(("annotators/*",), _patterns)
    report: Path = _setting(Path("corpus/reports/agreement.json"), _path)
    documents: Path = _setting(Path("corpus/reports/agreement-documents.jsonl"), _path)
    confusion: Path = _setting(Path("corpus/reports/agreement-confusion.json"), _path)
    bootstrap_resamples: int = _setting(1000, _at_least(1))
    seed: int = _setting(0, _at_least(0))


@dataclass(frozen=True, kw_only=True)
class ReviewConfig(_Checked):
    """``review``: adjudication (who must agree, where the accepted layer and the conflicts go) and the review pages."""

    KEY: ClassVar[str] = "review"
    # an entity or relation is accepted when at least this many annotators drew exactly it
    min_agree: int = _setting(2, _at_least(1))
    # the layer adjudicate writes (corpus/annotations/<layer>/<name>.jsonl); the curator's pull replaces it
    adjudicated_layer: str = _setting("adjudicated", _matching(r"[A-Za-z0-9_.-]+", "a folder name of letters, digits, '.', '_' and '-'"))
    conflicts: Path = _setting(Path("corpus/reports/conflicts.jsonl"), _path)
    # python -m pipeline show: where the pages go, how many of the worst documents --conflicts renders
    show_dir: Path = _setting(Path("corpus/reports/show"), _path)
    worst: int = _setting(10, _at_least(1))


@dataclass(frozen=True, kw_only=True)
class PublishConfig(_Checked):
    """``publish``: where the dataset goes and what it is called (no defaults for its identity)."""

    KEY: ClassVar[str] = "publish"
    out_dir: Path = _setting(Path("corpus/published"), _path)
    metrics: Path = _setting(Path("corpus/metrics.json"), _path)
    dataset_name: str = _setting(check=_matching(r"[A-Za-z0-9][A-Za-z0-9._-]*", "a name of letters, digits, '.', '_' and '-'"))
    pretty_name: str = _setting()
    # The one source of truth for the version (README "Releases and versions"); `pipeline release`
    # rewrites it together with the two keys below, which chain a version to the one before.
    version: str = _setting(check=_version)
    previous_version: str | None = _setting(None, _optional(_version))
    previous_manifest_sha256: str | None = _setting(None, _optional(_matching(r"[0-9a-f]{64}", "a sha256 hex digest")))
    # The dataset changelog (git-tracked; `pipeline release` prepends each version's diff), copied
    # into the published folder and summarised in the card's "Changes" section.
    changelog: Path = _setting(Path("corpus/CHANGELOG.md"), _path)
    license: str = _setting("other")
    description: str = _setting("", _prose)
    sources: str = _setting("", _prose)
    license_note: str = _setting("", _prose)


@dataclass(frozen=True, kw_only=True)
class Config(_Checked):
    """All of ``params.yaml``, checked. Build it with :func:`load_config`; give a stage :meth:`for_stage`."""

    schemas: SchemasConfig = _part(SchemasConfig)
    runtime: RuntimeConfig = _part(RuntimeConfig)
    ingest: IngestConfig = _part(IngestConfig)
    annotate: AnnotateConfig = _part(AnnotateConfig)
    validate: ValidateConfig = _part(ValidateConfig)
    preannotate: PreannotateConfig = _part(PreannotateConfig)
    agreement: AgreementConfig = _part(AgreementConfig)
    review: ReviewConfig = _part(ReviewConfig)
    publish: PublishConfig = _part(PublishConfig)

    def for_stage(self, stage: str) -> StageConfig:
        """What ``stage`` may read (:data:`READS`)."""
        if stage not in READS:
            raise ValueError(f"unknown stage {stage!r}; READS declares {', '.join(READS)}")
        keys = READS[stage].keys()

        def seen(name: str) -> Any:
            whole = getattr(self, name)
            return (
                whole if name in keys else _Declared(stage, whole, frozenset(k.split(".", 1)[1] for k in keys if k.startswith(f"{name}.")))
            )

        return StageConfig(stage, **{f.name: seen(f.name) for f in fields(self)})


# --------------------------------------------------------------------------- who reads what


@dataclass(frozen=True)
class Reads:
    """What one stage (or command) reads: whole sections (``annotate``) or dotted keys.

    ``params`` are the values its outputs depend on; for a ``dvc.yaml`` stage they are exactly its
    ``params:`` list, in that order (a test compares). ``untracked`` are read too but cannot change
    the outputs: how fast or in how much memory it runs, or the path of an input ``dvc.yaml``
    already declares as a dependency (its contents are tracked; the key only says where it is).
    """

    params: tuple[str, ...]
    untracked: tuple[str, ...] = ()

    def keys(self) -> tuple[str, ...]:
        return self.params + self.untracked


# How fast a stage runs and where it keeps its per-shard cache: never what it writes.
SPEED = ("runtime.cache_dir", "runtime.chunks", "runtime.local_dir", "runtime.workers", "runtime.executor", "runtime.dask_scheduler")

# The one table of which stage reads which values; dvc.yaml's `params:` follow it.
READS: dict[str, Reads] = {
    "ingest": Reads(("ingest", "runtime.shards", "schemas.document"), untracked=SPEED),
    "annotate": Reads(
        (
            "annotate",
            "runtime.shards",
            "validate.whitespace_spans",
            "publish.dataset_name",
            "publish.version",
            "schemas.annotation",
            "schemas.labels",
        ),
        # publish.out_dir: only which inode holds a file whose bytes are already published (runtime/cache.py link_identical)
        untracked=(*SPEED, "ingest.out_dir", "publish.out_dir"),
    ),
    "preannotate": Reads(
        ("preannotate", "annotate.annotations_dir", "ingest.out_dir", "ingest.language", "schemas.labels", "schemas.annotation"),
        # The shard count does not show in its outputs (merged in doc_id order, tallies summed).
        untracked=(*SPEED, "runtime.shards"),
    ),
    "validate": Reads(
        ("validate.report", "validate.problems", "validate.summary", "annotate.splits", "schemas.labels", "schemas.expectations"),
        untracked=(*SPEED, "validate.chunk_rows", "ingest.out_dir", "annotate.out_dir"),
    ),
    "agreement": Reads(
        ("agreement", "schemas.labels", "schemas.annotation", "validate.whitespace_spans"),
        untracked=("annotate.annotations_dir", "ingest.out_dir"),
    ),
    "publish": Reads(
        ("publish", "annotate.splits", "schemas.labels"),
        # the cache folders: where the facts of published files are remembered (:mod:`pipeline.io.memo`)
        untracked=("annotate.out_dir", "validate.report", "runtime.cache_dir", "runtime.local_dir"),
    ),
    # `python -m pipeline doccano push|pull` (not a dvc.yaml stage).
    "doccano": Reads(
        (
            "schemas.labels",
            "schemas.annotation",
            "ingest.out_dir",
            "annotate.annotations_dir",
            "annotate.layer_priority",
            "preannotate.out_dir",
            "validate.whitespace_spans",
            "publish.dataset_name",
        )
    ),
    # `python -m pipeline adjudicate|show` (not dvc.yaml stages: adjudicate writes an input layer the curator revises).
    "review": Reads(
        (
            "review",
            "agreement.layers",
            "schemas.labels",
            "schemas.annotation",
            "ingest.out_dir",
            "annotate.annotations_dir",
            "validate.whitespace_spans",
            "publish.dataset_name",
        )
    ),
    # `python -m pipeline diff|release` (not dvc.yaml stages): the dataset's identity and where it is.
    "release": Reads(
        (
            "publish.out_dir",
            "publish.dataset_name",
            "publish.version",
            "publish.previous_version",
            "publish.previous_manifest_sha256",
            "publish.changelog",
        )
    ),
    # `python -m pipeline import|export` (not a dvc.yaml stage): where an option left out points.
    "formats": Reads(("schemas.labels", "ingest.seeds_dir", "annotate.annotations_dir", "publish.out_dir")),
}


class _Declared:
    """A section as one stage sees it: the keys it declares, and the section's methods (which then
    read through this view, so ``worker_count()`` works only where ``runtime.workers`` is declared)."""

    __slots__ = ("_keys", "_section", "_stage")

    def __init__(self, stage: str, section: Any, keys: frozenset[str]) -> None:
        object.__setattr__(self, "_stage", stage)
        object.__setattr__(self, "_section", section)
        object.__setattr__(self, "_keys", keys)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        section = self._section
        if name in self._keys:
            return getattr(section, name)
        if name in section.__dataclass_fields__:
            raise AttributeError(f"stage {self._stage!r} does not declare {section.KEY}.{name}: add it to READS in pipeline/config.py")
        attribute = getattr(type(section), name)
        return attribute.__get__(self) if callable(attribute) else attribute

    def __setattr__(self, name: str, value: Any) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (_Declared, (self._stage, self._section, self._keys))

    def __repr__(self) -> str:
        return f"{type(self._section).__name__}({', '.join(f'{k}={getattr(self._section, k)!r}' for k in sorted(self._keys))})"


@dataclass(frozen=True)
class StageConfig:
    """The config as one stage sees it (``config.annotate.splits``, ``config.runtime.worker_count()``):
    a section it reads whole as is, of the others only the keys :data:`READS` declares for it."""

    stage: str
    schemas: SchemasConfig
    runtime: RuntimeConfig
    ingest: IngestConfig
    annotate: AnnotateConfig
    validate: ValidateConfig
    preannotate: PreannotateConfig
    agreement: AgreementConfig
    review: ReviewConfig
    publish: PublishConfig


# --------------------------------------------------------------------------- reading params.yaml


class _UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.safe_load`` that refuses a key written twice in one mapping (YAML keeps the last one)."""


def _unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            duplicate = key in seen
        except TypeError:  # an unhashable key: construct_mapping says what is wrong with it
            continue
        if duplicate:
            raise yaml.constructor.ConstructorError(
                "while reading a mapping", node.start_mark, f"found the key {key!r} twice", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping)


def parse_config(data: Any, source: str = str(DEFAULT_PARAMS)) -> Config:
    """The :class:`Config` of ``data`` (a ``params.yaml`` as read by YAML); errors start with ``source``."""
    try:
        return _build(Config, data, "")
    except ValueError as error:
        raise ValueError(f"{source}: {error}") from None


def load_config(path: str | Path = DEFAULT_PARAMS) -> Config:
    """Read and check ``params.yaml``: once per run, then every stage reads its :meth:`Config.for_stage`."""
    with open(path, encoding="utf-8") as handle:
        try:
            data = yaml.load(handle, Loader=_UniqueKeyLoader)
        except yaml.YAMLError as error:
            raise ValueError(f"{path}: not valid YAML: {error}") from None
    return parse_config({} if data is None else data, str(path))
