"""The Great Expectations adapter: deferred imports, problems per document, a fixed order."""

from __future__ import annotations

import sys

import pandas as pd

from pipeline.core.problems import Problem
from pipeline.runtime.gx import Expectations, _Deferred, in_order


def test_a_deferred_module_is_imported_on_first_use():
    name = "colorsys"
    saved = sys.modules.pop(name, None)
    try:
        sys.modules[name] = module = _Deferred(name)
        assert module.rgb_to_hsv(1.0, 0.0, 0.0) == (0.0, 1.0, 1.0)
        assert sys.modules[name] is not module and sys.modules[name].rgb_to_hsv is module.rgb_to_hsv
    finally:
        sys.modules.pop(name, None)
        if saved is not None:
            sys.modules[name] = saved


def test_a_failed_expectation_is_one_problem_per_document_naming_rows_by_their_keys():
    frame = pd.DataFrame({"doc_id": ["a", "a", "b"], "ent_id": ["T1", "T2", "T1"], "label": ["PER", "PERSON", "ORGA"]})
    suites = {"entities": [{"type": "ExpectColumnValuesToBeInSet", "kwargs": {"column": "label", "value_set": ["PER"]}}]}
    problems, checked = Expectations().run({"entities": frame}, suites, {"entities": "tables/entities"})
    assert checked == 1
    assert [p.format() for p in problems] == [
        "tables/entities: a: table-check: entities: expect_column_values_to_be_in_set(column=label) failed for 1 row(s): label=PERSON, ent_id=T2",
        "tables/entities: b: table-check: entities: expect_column_values_to_be_in_set(column=label) failed for 1 row(s): label=ORGA, ent_id=T1",
    ]


def test_problems_are_ordered_by_table_then_expectation_whatever_the_order_found():
    def problem(doc_id: str) -> Problem:
        return Problem("t", None, doc_id, "table-check", "failed")

    tagged = [((1, 0), [problem("c")]), ((0, 2), [problem("b")]), ((0, 1), [problem("a"), problem("z")])]
    assert [p.doc_id for p in in_order(tagged)] == ["a", "z", "b", "c"]
