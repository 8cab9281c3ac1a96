"""The Great Expectations adapter: run the table suites on pandas frames, turn failures into problems.

GX takes seconds to import, so :func:`import_gx` can run in a background thread while the tables
are read, and it defers GX's imports of scipy.stats and altair (used only by expectations the
suites do not have) to their first use. :class:`Expectations` keeps one ephemeral context for a
run; a failed expectation becomes one :class:`~pipeline.core.problems.Problem` per document,
naming the rows by the table's :data:`~pipeline.io.tables.ROW_KEYS`.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import json
import logging
import os
import sys
import types
from collections.abc import Sequence
from typing import Any

import pandas as pd

from pipeline.core.problems import Problem
from pipeline.io.tables import ROW_KEYS

# Problems of one expectation: ((table's position in the suites, expectation's position), problems).
Tagged = list[tuple[tuple[int, int], list[Problem]]]


class _Deferred(types.ModuleType):
    """A module imported on first use of one of its attributes (then it is the real module's)."""

    def __getattr__(self, attr: str) -> Any:
        real = self.__dict__.get("_real")
        if real is None:
            if sys.modules.get(self.__name__) is self:
                del sys.modules[self.__name__]
            real = importlib.import_module(self.__name__)
            self.__dict__["_real"] = real
        return getattr(real, attr)


# Imported by GX at import time only for expectations the suites do not use (KL divergence, KS
# tests and their charts); about half of GX's import time (2 of 4.5 s on the benchmark machine).
DEFERRED_BY_GX = ("scipy.stats", "altair")


def import_gx() -> None:
    """Import GX (without analytics), its imports of :data:`DEFERRED_BY_GX` deferred to first use."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    if "great_expectations" not in sys.modules:
        for name in DEFERRED_BY_GX:
            if name not in sys.modules and importlib.util.find_spec(name.split(".")[0]) is not None:
                module = _Deferred(name)
                module.__spec__ = importlib.machinery.ModuleSpec(name, None)
                sys.modules[name] = module
    import great_expectations
    import great_expectations.expectations  # noqa: F401


class Expectations:
    """One ephemeral GX context; each call validates one set of frames (a chunk of shards).

    Each table's data asset, batch definition and suite are made once and reused for every chunk.
    """

    def __init__(self) -> None:
        import_gx()
        import great_expectations as gx
        import great_expectations.expectations as gxe
        from great_expectations.data_context.types.base import ProgressBarsConfig

        for name in list(logging.root.manager.loggerDict):
            if name.startswith("great_expectations"):
                logging.getLogger(name).setLevel(logging.WARNING)
        self.gx, self.gxe = gx, gxe
        from great_expectations.execution_engine import pandas_execution_engine

        # GX labels every pandas batch below this size (1 GB) with an md5 of all its rows, only as
        # a marker in the result's metadata, which nothing here reads: a fifth of GX's time on a
        # large chunk. 0 turns the label off; the checks are not affected.
        pandas_execution_engine.HASH_THRESHOLD = 0
        self.context = gx.get_context(mode="ephemeral")
        self.context.variables.progress_bars = ProgressBarsConfig(globally=False)
        self.source = self.context.data_sources.add_pandas("corpus")
        self.prepared: dict[str, tuple[Any, Any]] = {}

    def _prepare(self, table: str, specs: Sequence[dict[str, Any]]) -> tuple[Any, Any]:
        key = table + "\x00" + json.dumps(specs, sort_keys=True, default=str)
        if key not in self.prepared:
            name = f"{table}-{len(self.prepared) + 1}"
            definition = self.source.add_dataframe_asset(name).add_batch_definition_whole_dataframe("all")
            suite = self.gx.ExpectationSuite(name=name)
            for spec in specs:
                suite.add_expectation(getattr(self.gxe, spec["type"])(**spec["kwargs"]))
            self.prepared[key] = (definition, self.context.suites.add(suite))
        return self.prepared[key]

    def run_tagged(
        self,
        frames: dict[str, pd.DataFrame],
        suites: dict[str, list[dict[str, Any]]],
        table_paths: dict[str, str],
        order: Sequence[str] | None = None,
    ) -> tuple[Tagged, int]:
        """Run each table's suite on its frame (one GX validation per table); problems tagged by
        the table's position in ``order`` (default: the suites') and the expectation's in its suite."""
        order = list(order or suites)
        tagged: Tagged = []
        checked = 0
        for table, specs in suites.items():
            if table not in frames or not specs:
                continue
            frame = frames[table]
            if frame.empty:
                continue
            definition, suite = self._prepare(table, specs)
            batch = definition.get_batch(batch_parameters={"dataframe": frame})
            result = batch.validate(
                suite,
                result_format={
                    "result_format": "COMPLETE",
                    "unexpected_index_column_names": ROW_KEYS[table],
                    "return_unexpected_index_query": False,
                },
            )
            for index, outcome in enumerate(result.results):  # GX orders results by the suite alone
                checked += 1
                if not outcome.success:
                    tagged.append(((order.index(table), index), _expectation_problems(table, table_paths.get(table, table), outcome)))
        return tagged, checked

    def run(
        self, frames: dict[str, pd.DataFrame], suites: dict[str, list[dict[str, Any]]], table_paths: dict[str, str]
    ) -> tuple[list[Problem], int]:
        """Run each table's suite on its frame; one problem per failed expectation and document."""
        tagged, checked = self.run_tagged(frames, suites, table_paths)
        return in_order(tagged), checked


def in_order(tagged: Tagged) -> list[Problem]:
    """The problems by table, then expectation, then in the order found (stable)."""
    return [problem for _, problems in sorted(tagged, key=lambda item: item[0]) for problem in problems]


def _expectation_problems(table: str, path: str, outcome: Any) -> list[Problem]:
    config = outcome.expectation_config
    kwargs = {k: v for k, v in config.kwargs.items() if k in ("column", "column_A", "column_B", "column_list")}
    what = f"{config.type}({', '.join(f'{k}={v}' for k, v in kwargs.items())})"
    rows = outcome.result.get("unexpected_index_list") or []
    if outcome.exception_info and outcome.exception_info.get("raised_exception"):
        return [
            Problem(path, None, None, "table-check", f"{table}: {what} could not run: {outcome.exception_info.get('exception_message')}")
        ]
    by_doc: dict[str | None, list[dict[str, Any]]] = {}
    for row in rows:
        by_doc.setdefault(_plain(row.get("doc_id")), []).append(row)
    if not by_doc:
        return [Problem(path, None, None, "table-check", f"{table}: {what} failed ({outcome.result.get('unexpected_count')} rows)")]
    problems = []
    for doc_id, doc_rows in by_doc.items():
        shown = "; ".join(", ".join(f"{k}={_plain(v)}" for k, v in row.items() if k != "doc_id") for row in doc_rows[:5])
        more = f" and {len(doc_rows) - 5} more" if len(doc_rows) > 5 else ""
        problems.append(Problem(path, None, doc_id, "table-check", f"{table}: {what} failed for {len(doc_rows)} row(s): {shown}{more}"))
    return problems


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value (so that it prints as one)."""
    return value.item() if hasattr(value, "item") else value
