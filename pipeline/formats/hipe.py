"""HIPE-2022 TSV (import).

A header line names the columns (``TOKEN NE-COARSE-LIT NE-COARSE-METO NE-FINE-LIT NE-FINE-METO
NE-FINE-COMP NE-NESTED NEL-LIT NEL-METO MISC``); ``# hipe2022:document_id = …`` starts a
document and the other ``# key = value`` lines become its metadata (``hipe2022:date`` its date).

The text is rebuilt from the tokens with the ``MISC`` flags (``|``-separated): a token is followed
by nothing with ``NoSpaceAfter``, by a line break with ``EndOfLine``, by a blank line with
``EndOfParagraph``, else by one space. ``EndOfSentence`` does not change spacing (the pipeline
segments sentences itself).

Kept: ``NE-COARSE-LIT`` (level 0) and ``NE-NESTED`` (level 1) in the same record of the layer
``imported/<name>``, the ``NEL-LIT`` link (Wikidata QID or ``NIL``) of each entity in the record's ``meta``. Not
imported, and counted in the report: the metonymic, fine-grained and component columns and
``NEL-METO``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from pipeline.core.bio import bio_spans
from pipeline.core.problems import Problem, Severity
from pipeline.core.tokens import rebuild_text
from pipeline.formats import ImportFailed
from pipeline.formats.build import ImportOptions, ImportResult, build_result, refresh_stats
from pipeline.formats.reading import decode, expand_paths
from pipeline.formats.source import SourceDocument, SourceEntity
from pipeline.io.jsonl import display_path

COLUMNS = (
    "TOKEN",
    "NE-COARSE-LIT",
    "NE-COARSE-METO",
    "NE-FINE-LIT",
    "NE-FINE-METO",
    "NE-FINE-COMP",
    "NE-NESTED",
    "NEL-LIT",
    "NEL-METO",
    "MISC",
)
LEVELS = {"NE-COARSE-LIT": 0, "NE-NESTED": 1}
NOT_IMPORTED = ("NE-COARSE-METO", "NE-FINE-LIT", "NE-FINE-METO", "NE-FINE-COMP", "NEL-METO")
DOCUMENT_KEY = "hipe2022:document_id"


def separator(flags: set[str]) -> str:
    """What follows a token with these MISC flags in the original text."""
    if "EndOfParagraph" in flags:
        return "\n\n"
    if "EndOfLine" in flags:
        return "\n"
    if "NoSpaceAfter" in flags:
        return ""
    return " "


class _Doc:
    def __init__(self, source_id: str | None, line: int) -> None:
        self.source_id = source_id
        self.line = line
        self.meta: dict[str, str] = {}
        self.rows: list[dict[str, str]] = []


def read(paths: Sequence[Path], options: ImportOptions) -> ImportResult:
    documents: list[SourceDocument] = []
    problems: list[Problem] = []
    not_imported: Counter[str] = Counter()
    flags_seen: Counter[str] = Counter()
    for path in expand_paths(paths, (".tsv",)):
        shown = display_path(path)
        header: list[str] | None = None
        docs: list[_Doc] = []
        for number, line in enumerate(decode(path.read_bytes(), shown).removeprefix("\ufeff").split("\n"), start=1):
            line = line.rstrip("\r")
            if not line.strip():
                continue
            if line.startswith("#"):
                key, _, value = line[1:].partition("=")
                key, value = key.strip(), value.strip()
                if key == DOCUMENT_KEY:
                    docs.append(_Doc(value, number))
                elif docs and key:
                    docs[-1].meta[key] = value
                continue
            columns = line.split("\t")
            if columns[0] == "TOKEN":
                header = columns
                missing = [c for c in ("TOKEN", "NE-COARSE-LIT", "MISC") if c not in header]
                if missing:
                    raise ImportFailed(f"{shown}:{number}: the header lacks the column(s) {missing}")
                continue
            if header is None:
                header = list(COLUMNS)
            if len(columns) != len(header):
                raise ImportFailed(f"{shown}:{number}: {len(columns)} columns, the header has {len(header)}: {line!r}")
            if not docs:
                docs.append(_Doc(None, number))
            row = dict(zip(header, columns, strict=True))
            row["#line"] = str(number)
            docs[-1].rows.append(row)
        for index, doc in enumerate(docs, start=1):
            documents.append(_document(doc, shown, index, problems, not_imported, flags_seen))
    result = build_result(documents, options)
    result.problems[:0] = problems
    result.stats["not_imported_columns"] = dict(sorted(not_imported.items()))
    result.stats["misc_flags"] = dict(sorted(flags_seen.items()))
    refresh_stats(result)
    return result


def _document(
    doc: _Doc, path: str, index: int, problems: list[Problem], not_imported: Counter[str], flags_seen: Counter[str]
) -> SourceDocument:
    source_id = doc.source_id or f"{index:06d}"
    rows = []
    for row in doc.rows:
        if row["TOKEN"] == "":
            problems.append(Problem(path, int(row["#line"]), source_id, "empty-token", "an empty token; skipped", Severity.WARNING))
            continue
        rows.append(row)
    if not rows:
        # no text: reported and skipped by the importer's checks (empty-document)
        return SourceDocument(source_id=source_id, text="", path=path, line=doc.line, offsets="codepoint")
    separators = []
    for row in rows:
        flags = {f for f in row.get("MISC", "_").split("|") if f and f != "_"}
        flags_seen.update(flags)
        separators.append(separator(flags))
        for column in NOT_IMPORTED:
            if row.get(column, "_") not in ("_", "O", ""):
                not_imported[column] += 1
    text, spans = rebuild_text([r["TOKEN"] for r in rows], separators)
    entities: list[SourceEntity] = []
    for column, level in LEVELS.items():
        if column not in rows[0]:
            continue
        try:
            found, notes = bio_spans([r[column] for r in rows])
        except ValueError as error:
            raise ImportFailed(f"{path}:{doc.line}: {column}: {error}") from None
        problems.extend(Problem(path, doc.line, source_id, "iob1-tag", f"{column} {note}", Severity.WARNING) for note in notes)
        for span in found:
            link = rows[span.first].get("NEL-LIT", "_") if level == 0 else "_"
            meta = {"nel": link} if link not in ("_", "") else None
            entities.append(SourceEntity(None, spans[span.first][0], spans[span.last][1], span.label, meta=meta, level=level))
    date = doc.meta.get("hipe2022:date")
    return SourceDocument(
        source_id=source_id,
        text=text,
        path=path,
        line=doc.line,
        offsets="codepoint",
        entities=entities,
        date=date or None,
        meta=dict(doc.meta),
    )
