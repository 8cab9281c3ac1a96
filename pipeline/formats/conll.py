"""CoNLL-2003-style BIO (import and export) and GermEval 2014 TSV (import).

Neither format stores the text, only tokens; the text is rebuilt by
:func:`~pipeline.core.tokens.rebuild_text`: tokens of a sentence joined by one space, sentences
of a document by a line break. Entity offsets are those of the rebuilt text, so every entity's
text is its tokens joined by spaces.

CoNLL-2003
    One token per line, columns separated by whitespace (or tabs); the first column is the token
    and the last the NER tag (BIO; IOB1 and BIOES are read too). A blank line ends a sentence,
    ``-DOCSTART-`` starts a document. Without ``-DOCSTART-`` every sentence is a document. POS and
    chunk columns are not imported. With ``--tag-columns 2`` (:attr:`ImportOptions.tag_columns`),
    or by default in a file whose first line is the exporter's ``-DOCSTART- -X- -X- O O``, the last
    two columns are read as the outer and the inner level (GermEval's order), both into the one
    record. The export writes ``token _ _ OUTER INNER`` (the published outer level, column
    4 as in CoNLL-2003, and the inner level: GermEval's two-column layout), ``-DOCSTART- -X- -X- O O``
    before each document and one ``<split>.conll`` per split; it drops document ids, the
    original spacing, relations and levels below the inner one (the ``ner`` view's ``spans`` has them).
GermEval 2014
    ``#<TAB>url<TAB>[date]`` starts a sentence; token lines are ``index<TAB>token<TAB>outer<TAB>inner``
    (trailing empty columns are ignored). Each sentence is a document (the data set's sentences
    come from different articles), with the url and date kept. The outer (level 0) and the inner
    (level 1) column go into the same record of the layer ``imported/<name>``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.core.bio import bio_spans
from pipeline.core.problems import Problem, Severity
from pipeline.core.tokens import rebuild_text
from pipeline.formats import ExportOptions, ImportFailed
from pipeline.formats.build import ImportOptions, ImportResult, build_result, refresh_stats
from pipeline.formats.reading import decode, expand_paths
from pipeline.formats.source import SourceDocument, SourceEntity
from pipeline.io.jsonl import display_path
from pipeline.io.published import Corpus

DOCSTART = "-DOCSTART-"


@dataclass
class _Sentence:
    line: int
    tokens: list[str] = field(default_factory=list)
    tags: dict[int, list[str]] = field(default_factory=dict)  # nesting level → tags


def _document(sentences: list[_Sentence], path: str, source_id: str, problems: list[Problem]) -> SourceDocument:
    tokens: list[str] = []
    separators: list[str] = []
    for sentence in sentences:
        tokens.extend(sentence.tokens)
        separators.extend([" "] * (len(sentence.tokens) - 1) + ["\n"])
    text, spans = rebuild_text(tokens, separators)
    entities: list[SourceEntity] = []
    offset = 0
    for sentence in sentences:
        for level, tags in sentence.tags.items():
            try:
                found, notes = bio_spans(tags)
            except ValueError as error:
                raise ImportFailed(f"{path}:{sentence.line}: {error}") from None
            problems.extend(
                Problem(path, sentence.line, None, "iob1-tag", f"sentence at line {sentence.line}: {note}", Severity.WARNING)
                for note in notes
            )
            for span in found:
                entities.append(SourceEntity(None, spans[offset + span.first][0], spans[offset + span.last][1], span.label, level=level))
        offset += len(sentence.tokens)
    return SourceDocument(source_id=source_id, text=text, path=path, line=sentences[0].line, offsets="codepoint", entities=entities)


def _fallback_id(path: Path, number: int, several: bool) -> str:
    return f"{path.stem}-{number:06d}" if several else f"{number:06d}"


def _lines(path: Path, shown: str) -> Iterator[tuple[int, str | None]]:
    """Each line of a token-per-line file with its number (CR and a BOM removed); ``None`` for a
    blank line, which ends a sentence."""
    for number, line in enumerate(decode(path.read_bytes(), shown).removeprefix("\ufeff").split("\n"), start=1):
        line = line.rstrip("\r")
        yield number, (line if line.strip() else None)


EXPORTED_DOCSTART = f"{DOCSTART} -X- -X- O O"
"""The ``-DOCSTART-`` line of :func:`write`: its two tag columns say the file has two levels."""


def _tag_columns(path: Path, shown: str) -> int:
    """2 when the file's first line is the ``-DOCSTART-`` line this exporter writes
    (:data:`EXPORTED_DOCSTART`), else 1 (CoNLL-2003: the last column is the tag)."""
    for _, line in _lines(path, shown):
        if line is not None:
            return 2 if line.split() == EXPORTED_DOCSTART.split() else 1
    return 1


def read_conll(paths: Sequence[Path], options: ImportOptions) -> ImportResult:
    files = expand_paths(paths, (".conll", ".txt", ".bio", ".iob", ".tsv"))
    if options.tag_columns not in (None, 1, 2):
        raise ImportFailed(f"--tag-columns must be 1 or 2 (outer, or outer and inner), not {options.tag_columns}")
    documents: list[SourceDocument] = []
    problems: list[Problem] = []
    for path in files:
        shown = display_path(path)
        levels = options.tag_columns or _tag_columns(path, shown)
        docs: list[list[_Sentence]] = [[]]
        has_docstart = False
        sentence: _Sentence | None = None
        for number, line in _lines(path, shown):
            if line is None:
                sentence = None
                continue
            columns = line.split("\t") if "\t" in line else line.split()
            columns = [c.strip() for c in columns]
            if columns[0] == DOCSTART:
                has_docstart = True
                if docs[-1]:
                    docs.append([])
                sentence = None
                continue
            if len(columns) < 1 + levels:
                wanted = "a tag" if levels == 1 else f"{levels} tag columns"
                raise ImportFailed(f"{shown}:{number}: expected a token and {wanted}, got {line!r}")
            if sentence is None:
                sentence = _Sentence(number, tags={level: [] for level in range(levels)})
                docs[-1].append(sentence)
            sentence.tokens.append(columns[0])
            for level in range(levels):
                sentence.tags[level].append(columns[len(columns) - levels + level])
        groups = [d for d in docs if d] if has_docstart else [[s] for d in docs for s in d]
        for index, group in enumerate(groups, start=1):
            documents.append(_document(group, shown, _fallback_id(path, index, len(files) > 1), problems))
    result = build_result(documents, options)
    result.problems[:0] = problems
    refresh_stats(result)
    return result


def read_germeval(paths: Sequence[Path], options: ImportOptions) -> ImportResult:
    files = expand_paths(paths, (".tsv", ".txt"))
    documents: list[SourceDocument] = []
    problems: list[Problem] = []
    for path in files:
        shown = display_path(path)
        sentences: list[tuple[_Sentence, str | None, str | None]] = []
        sentence: _Sentence | None = None
        for number, line in _lines(path, shown):
            if line is None:
                sentence = None
                continue
            columns = line.split("\t")
            while columns and columns[-1] == "":
                columns.pop()
            if columns[0] == "#":
                url = columns[1] if len(columns) > 1 else None
                date = columns[2].strip("[]") if len(columns) > 2 else None
                sentence = _Sentence(number, tags={0: [], 1: []})
                sentences.append((sentence, url, date))
                continue
            if len(columns) != 4 or not columns[0].isdigit():
                raise ImportFailed(f"{shown}:{number}: expected 'index<TAB>token<TAB>outer<TAB>inner', got {line!r}")
            if sentence is None:
                sentence = _Sentence(number, tags={0: [], 1: []})
                sentences.append((sentence, None, None))
            sentence.tokens.append(columns[1])
            sentence.tags[0].append(columns[2])
            sentence.tags[1].append(columns[3])
        for index, (sentence, url, date) in enumerate(sentences, start=1):
            if not sentence.tokens:
                problems.append(
                    Problem(shown, sentence.line, None, "empty-sentence", "a comment line without tokens; skipped", Severity.WARNING)
                )
                continue
            document = _document([sentence], shown, _fallback_id(path, index, len(files) > 1), problems)
            document.url = url
            document.date = date if date and re.fullmatch(r"\d{4}-\d{2}-\d{2}.*", date) else None
            documents.append(document)
    result = build_result(documents, options)
    result.problems[:0] = problems
    refresh_stats(result)
    return result


# --------------------------------------------------------------------------- export


def write(corpus: Corpus, out: Path, options: ExportOptions) -> list[Path]:
    """One ``<split>.conll`` per split: ``-DOCSTART-`` per document, a blank line after each
    sentence, ``token _ _ OUTER INNER`` per token: the published BIO tags of level 0 and level 1."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for split in corpus.splits:
        path = out / f"{split}.conll"
        with open(path, "w", encoding="utf-8") as handle:
            for doc in corpus.split(split):
                handle.write(f"{EXPORTED_DOCSTART}\n\n")
                inner = dict(zip((t.start for t in doc.tokens), doc.level_tags(1), strict=True))
                for sentence in doc.sentence_tokens():
                    for token in sentence:
                        word = doc.text[token.start : token.end]
                        if not word or any(c.isspace() for c in word):
                            raise ValueError(f"{doc.doc_id}: token {word!r} [{token.start}, {token.end}) is empty or holds whitespace")
                        handle.write(f"{word} _ _ {token.tag} {inner[token.start]}\n")
                    handle.write("\n")
        written.append(path)
    return written
