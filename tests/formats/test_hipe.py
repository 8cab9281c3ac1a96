"""HIPE-2022 TSV: spacing from the MISC flags, coarse and nested layers, links."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from pipeline.formats import ImportFailed, hipe

from .corpus_strategies import pipeline_problems

HEADER = "TOKEN\tNE-COARSE-LIT\tNE-COARSE-METO\tNE-FINE-LIT\tNE-FINE-METO\tNE-FINE-COMP\tNE-NESTED\tNEL-LIT\tNEL-METO\tMISC\n"


def row(token: str, coarse: str = "O", nested: str = "O", link: str = "_", misc: str = "_", fine: str = "_") -> str:
    return f"{token}\t{coarse}\t_\t{fine}\t_\t_\t{nested}\t{link}\t_\t{misc}\n"


def documents(path: Path) -> list[tuple[str, list[dict[str, str]]]]:
    """(document id, rows) parsed independently of the adapter."""
    docs: list[tuple[str, list[dict[str, str]]]] = []
    header: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# hipe2022:document_id"):
            docs.append((line.split("=", 1)[1].strip(), []))
        elif line.startswith("TOKEN"):
            header = line.split("\t")
        elif line.strip() and not line.startswith("#"):
            docs[-1][1].append(dict(zip(header, line.split("\t"), strict=True)))
    return docs


def test_sonar_dev(external_dir, make_options):
    path = external_dir / "hipe2022-sonar-dev-de.tsv"
    source = documents(path)
    result = hipe.read([path], make_options("hipe-sonar-dev", "hipe2022"))
    assert [d.doc_id for d in result.documents] == [f"hipe-sonar-dev-{doc_id}" for doc_id, _ in source] and len(source) == 10
    expected, links = Counter(), Counter()
    for index, (_, rows) in enumerate(source):
        text = ""
        starts = []
        for r in rows:
            starts.append(len(text))
            flags = r["MISC"].split("|")
            text += r["TOKEN"] + ("" if "NoSpaceAfter" in flags else "\n" if "EndOfLine" in flags else " ")
        text = text[:-1]
        assert result.documents[index].text == text
        for i, r in enumerate(rows):
            if r["NE-COARSE-LIT"].startswith("B-"):
                j = i
                while j + 1 < len(rows) and rows[j + 1]["NE-COARSE-LIT"] == "I-" + r["NE-COARSE-LIT"][2:]:
                    j += 1
                expected[(index, text[starts[i] : starts[j] + len(rows[j]["TOKEN"])], r["NE-COARSE-LIT"][2:])] += 1
                links[r["NEL-LIT"]] += 1
    found = Counter()
    index_of = {d.doc_id: i for i, d in enumerate(result.documents)}
    for record in result.records:
        text = result.documents[index_of[record.doc_id]].text
        found.update((index_of[record.doc_id], text[e.start : e.end], e.label) for e in record.entities)
    assert found == expected and sum(found.values()) == 654
    stored = Counter(link["nel"] for meta in result.record_meta.values() for link in meta["entities"].values())
    assert stored == links
    assert result.documents[0].date == "1886-06-22" and result.documents[0].meta["sonar:page"] == "1"
    assert not result.problems
    assert pipeline_problems(result) == []


def test_spacing_flags_and_nested_layer(tmp_path, make_options):
    path = tmp_path / "h.tsv"
    path.write_text(
        HEADER
        + "# hipe2022:document_id = doc-1\n# hipe2022:date = 1900-01-01\n"
        + row("Die")
        + row("Stadt", "B-LOC", misc="NoSpaceAfter")
        + row("-", "I-LOC", misc="NoSpaceAfter")
        + row("Verwaltung", "I-LOC", misc="EndOfLine")
        + row("Berlin", "B-ORG", "B-LOC", link="Q64", misc="NoSpaceAfter|EndOfSentence")
        + row(".", misc="EndOfParagraph")
        + row("Ende", fine="B-time")
        + "\n# hipe2022:document_id = doc-2\n"
        + row("Leer"),
        encoding="utf-8",
    )
    result = hipe.read([path], make_options("h", "hipe2022"))
    first = result.documents[0]
    assert first.text == "Die Stadt-Verwaltung\nBerlin.\n\nEnde" and first.date == "1900-01-01"
    layers = {r.layer: [(first.text[e.start : e.end], e.label) for e in r.entities] for r in result.records if r.doc_id == first.doc_id}
    assert layers == {"imported/h": [("Stadt-Verwaltung", "LOC"), ("Berlin", "ORG"), ("Berlin", "LOC")]}  # both levels, one record
    assert result.record_meta[("imported/h", "h-doc-1")] == {"entities": {"T2": {"nel": "Q64"}}}
    assert result.stats["not_imported_columns"] == {"NE-FINE-LIT": 1}
    assert result.stats["misc_flags"] == {"EndOfLine": 1, "EndOfParagraph": 1, "EndOfSentence": 1, "NoSpaceAfter": 3}


def test_column_count_is_checked(tmp_path, make_options):
    path = tmp_path / "bad.tsv"
    path.write_text(HEADER + "# hipe2022:document_id = d\nnur\tO\n", encoding="utf-8")
    with pytest.raises(ImportFailed, match=r"bad.tsv:3: 2 columns, the header has 10"):
        hipe.read([path], make_options("h", "hipe2022"))


def test_a_document_of_empty_tokens_is_reported_like_any_empty_document(tmp_path, make_options):
    path = tmp_path / "empty.tsv"
    path.write_text(
        HEADER + "# hipe2022:document_id = e\n" + row("") + "# hipe2022:document_id = f\n" + row("Berlin", "B-loc"), encoding="utf-8"
    )
    result = hipe.read([path], make_options("h", "hipe2022"))
    assert [d.doc_id for d in result.documents] == ["h-f"]
    assert [(p.line, p.doc_id, p.kind, p.message) for p in result.problems] == [
        (3, "e", "empty-token", "an empty token; skipped"),
        (2, "h-e", "empty-document", "the document has no text after normalisation; it is skipped"),
    ]


def test_the_mapping_covers_every_documented_german_tag_set(tmp_path, make_options):
    """newseye (HumanProd), hipe2020 (fine types in the nested column) and ajmc as HIPE-2022
    documents them (hipe-eval/HIPE-2022-data documentation/README-*.md) import without 'labels not covered'."""
    documented = {
        "newseye": (["PER", "LOC", "ORG", "HumanProd"], ["PERS.author"]),
        "hipe2020": (
            ["pers", "org", "prod", "time", "loc"],
            ["pers.ind", "pers.coll", "pers.ind.articleauthor", "org.adm", "org.ent", "org.ent.pressagency", "prod.media", "prod.doctr"]
            + ["time.date.abs", "loc.adm.town", "loc.adm.reg", "loc.adm.nat", "loc.adm.sup", "loc.phys.geo", "loc.phys.hydro"]
            + ["loc.phys.astro", "loc.oro", "loc.fac", "loc.add.phys", "loc.add.elec", "loc.unk"],
        ),
        "ajmc": (
            ["pers", "work", "loc", "object", "date", "scope"],
            ["pers.author", "pers.editor", "pers.myth", "pers.other", "work.primlit", "work.seclit", "work.fragm"]
            + ["object.manuscr", "object.museum"],
        ),
    }
    for dataset, (coarse, fine) in documented.items():
        path = tmp_path / f"{dataset}.tsv"
        rows = "".join(row("Wort", f"B-{label}") for label in coarse)
        rows += "".join(row("Wort", f"B-{coarse[0]}", f"B-{label}") for label in fine)
        path.write_text(HEADER + f"# hipe2022:document_id = {dataset}-1\n" + rows, encoding="utf-8")
        result = hipe.read([path], make_options("h", "hipe2022"))
        levels = result.stats["levels"]
        assert sorted(levels["0"]) == sorted(set(coarse)), dataset
        assert sorted(levels.get("1", {})) == sorted(fine), dataset
