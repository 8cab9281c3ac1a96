"""`python -m pipeline show`: a self-contained page per document, one column per layer, checked in a real headless Chromium."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from stage_helpers import for_stage, params_for
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.core.text import text_sha256
from pipeline.stages import adjudicate, ingest, show

CHROMIUM = Path("/usr/bin/chromium")
TEXT = "Anna Schmidt trifft <Bob> in Rom."


def layer(root: Path, name: str, spans, relations=(), doc_id: str = "d1", text: str = TEXT) -> None:
    entities = [
        {"id": f"T{n}", "start": text.index(s), "end": text.index(s) + len(s), "label": label}
        for n, (s, label) in enumerate(spans, start=1)
    ]
    rels = [{"id": f"R{n}", "head": f"T{h}", "tail": f"T{t}", "label": label} for n, (h, t, label) in enumerate(relations, start=1)]
    record = {"doc_id": doc_id, "text_sha256": text_sha256(text), "source": "gold", "entities": entities, "relations": rels}
    folder = root / "annotations" / name
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "p.jsonl", "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")


@pytest.fixture
def workspace(tmp_path: Path) -> dict:
    (tmp_path / "seeds").mkdir()
    (tmp_path / "seeds" / "d1.txt").write_text(TEXT, encoding="utf-8")
    (tmp_path / "seeds" / "d2.txt").write_text("Rom liegt in Italien.", encoding="utf-8")
    params = params_for(tmp_path)
    assert ingest.run(for_stage(params, "ingest")) == []
    layer(tmp_path, "annotators/anna", [("Anna Schmidt", "PER"), ("Bob", "PER"), ("Rom", "GPE")], [(1, 2, "meets")])
    layer(tmp_path, "annotators/ben", [("Anna Schmidt", "PER"), ("Anna", "PER"), ("Bob", "ORG"), ("Rom", "GPE")])
    layer(tmp_path, "annotators/anna", [("Rom", "GPE"), ("Italien", "GPE")], doc_id="d2", text="Rom liegt in Italien.")
    layer(tmp_path, "annotators/ben", [("Rom", "GPE"), ("Italien", "GPE")], doc_id="d2", text="Rom liegt in Italien.")
    return params


def dom(page: Path, tmp_path: Path) -> str:
    """The page's DOM after a real headless Chromium loaded it (and ran its script)."""
    assert CHROMIUM.exists(), "Chromium is missing: `make test` installs the Debian package chromium"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
    flags += ["--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'chromium-profile'}", "--dump-dom"]
    result = subprocess.run([str(CHROMIUM), *flags, page.as_uri()], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_the_page_renders_every_layers_spans_in_a_browser(workspace, tmp_path: Path):
    page = show.show_document(for_stage(workspace, "review"), "d1")
    assert page == tmp_path / "reports" / "show" / "d1.html"
    source = page.read_text(encoding="utf-8")
    assert "http://" not in source.replace("http://www.w3.org", "") and "https://" not in source  # self-contained
    assert "&lt;Bob&gt;" in source or "&lt;" in source  # the text is escaped
    rendered = dom(page, tmp_path)
    assert 'data-ready="yes"' in rendered
    columns = dict(re.findall(r'<section class="layer" data-layer="([^"]+)"[^>]*data-rendered="(\d+)"', rendered))
    # anna: 3 spans; ben: 4 (the nested "Anna" inside "Anna Schmidt" stacks, it does not hide)
    assert columns == {"annotators/anna": "3", "annotators/ben": "4"}
    # Bob (PER vs ORG), Rom agreed, the nested Anna only ben's: disagreements carry ≠
    assert "PER ≠" in rendered and "ORG ≠" in rendered and "GPE ≠" not in rendered
    assert "—meets ≠→" in rendered


def test_layers_choose_the_columns(workspace):
    page = show.show_document(for_stage(workspace, "review"), "d1", layers=["annotators/ben"])
    assert 'data-layer="annotators/anna"' not in page.read_text(encoding="utf-8")


def test_conflicts_renders_the_worst_documents_first_with_the_adjudication(workspace, tmp_path: Path):
    ben = tmp_path / "annotations" / "annotators" / "ben" / "p.jsonl"
    records = [json.loads(line) for line in ben.read_text().splitlines()]
    records[0]["entities"] = [e for e in records[0]["entities"] if (e["start"], e["end"]) != (0, 4)]  # adjudicate refuses the nested span
    ben.write_text("".join(json.dumps(r) + "\n" for r in records))
    adjudicate.run(for_stage(workspace, "review"), min_agree=2, name="r")
    written = show.show_conflicts(for_stage(workspace, "review"))
    assert [p.name for p in written] == ["d1.html", "d2.html", "index.html"]
    index = (tmp_path / "reports" / "show" / "index.html").read_text(encoding="utf-8")
    assert index.index("d1.html") < index.index("d2.html")  # d1 disagrees, d2 does not
    d1 = (tmp_path / "reports" / "show" / "d1.html").read_text(encoding="utf-8")
    assert 'data-layer="adjudicated"' in d1 and "who said what" in d1


def test_the_command_line_refuses_an_unknown_document(workspace, tmp_path: Path):
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(workspace), encoding="utf-8")
    result = CliRunner().invoke(app, ["show", "nope", "--params", str(tmp_path / "params.yaml")])
    assert result.exit_code == 1
    assert "annotates document 'nope'" in result.output
