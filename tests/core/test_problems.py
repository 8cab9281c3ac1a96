"""A problem is named by file, line and document, and survives its JSON form."""

from __future__ import annotations

from pipeline.core.problems import Problem, Severity


def test_problem_format_names_file_line_document():
    problem = Problem("corpus/annotations/gold/a.jsonl", 3, "doc-1", "unknown-label", "entity T1 has label 'FOO'")
    assert problem.format() == "corpus/annotations/gold/a.jsonl:3: doc-1: unknown-label: entity T1 has label 'FOO'"
    assert Problem.from_json(problem.to_json()) == problem
    warning = Problem("x.jsonl", None, None, "whitespace-span", "m", Severity.WARNING)
    assert warning.format() == "x.jsonl: -: warning: whitespace-span: m"
