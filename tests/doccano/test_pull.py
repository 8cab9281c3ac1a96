"""Pull's files on our side (no server): only changed layer files are rewritten."""

from __future__ import annotations

from pathlib import Path

from pipeline.doccano.pull import PullReport, write_changed


def test_write_changed_leaves_unchanged_files_alone(tmp_path: Path):
    path = tmp_path / "annotators" / "anna" / "p.jsonl"
    report = PullReport(project="p", project_id=1)
    write_changed({path: b"a\n"}, report)
    mtime = path.stat().st_mtime_ns
    report = PullReport(project="p", project_id=1)
    write_changed({path: b"a\n"}, report)
    assert report.unchanged == [str(path)] and not report.written and path.stat().st_mtime_ns == mtime
    assert sorted(p.name for p in path.parent.iterdir()) == ["p.jsonl"]
