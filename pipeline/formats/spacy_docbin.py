"""spaCy ``DocBin`` (``.spacy``): export one file per split, import them back.

Each document becomes one ``Doc`` built from the published tokens, not re-tokenised: the pipeline
cuts tokens at entity edges and around hyphens (``US`` ``-`` ``Präsident``), so every entity is a
whole-token span. ``doc.ents`` holds the outermost level (level 0 of ``entities.level``: what a
``ner`` component trains on, which allows no overlap) and ``doc.spans["entities"]`` every entity
of every level (a ``SpanGroup`` allows nesting and overlap: what ``spancat`` trains on, with
``spans_key = "entities"``). Whitespace between tokens is
kept (``Token.whitespace_`` or whitespace tokens), so ``doc.text`` is the document text. Sentence
starts come from the sentences table. ``doc.user_data`` carries ``doc_id``, ``split`` and the
relations (``[{"id", "head", "tail", "label"}]`` by entity id; entity ids are in ``entity_ids`` in
``doc.spans["entities"]`` order), which spaCy itself ignores. The importer reads
``doc.spans["entities"]`` when the file has it, else ``doc.ents``.

spaCy's default German tokenizer does not split ``US-Präsident``, so train or debug with
``[corpora.train] gold_preproc = true`` (and the same for ``dev``) to use these tokens; with the
default ``gold_preproc = false`` spaCy re-tokenises the text and such entities misalign. The
exporter writes ``README.md`` with the commands.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pipeline.formats import ExportOptions, ImportFailed
from pipeline.formats.build import ImportOptions, ImportResult, build_result, refresh_stats
from pipeline.formats.reading import expand_paths
from pipeline.formats.source import SourceDocument, SourceEntity, SourceRelation
from pipeline.io.jsonl import display_path
from pipeline.io.published import Corpus, CorpusDocument

README = """# spaCy DocBin export

One `<split>.spacy` per split, built from the published tokens (entities are whole tokens).
Use the gold tokenisation when training or debugging:

```sh
python -m spacy init config -l de -p ner config.cfg
python -m spacy debug data config.cfg --paths.train train.spacy --paths.dev dev.spacy \\
    --corpora.train.gold_preproc true --corpora.dev.gold_preproc true
```

`doc.ents` holds the outermost entities, `doc.spans["entities"]` every entity (nested ones too).
To train a span categorizer on all levels (without `gold_preproc`: spaCy's sentence split for
`gold_preproc` drops span groups; a span its own tokenizer does not align with is then left out):

```sh
python -m spacy init config -l de -p spancat spancat.cfg
python -m spacy train spancat.cfg --paths.train train.spacy --paths.dev dev.spacy \\
    --components.spancat.spans_key entities
```

`doc.user_data` holds `doc_id`, `split`, `entity_ids` (in `doc.spans["entities"]` order) and `relations`.
"""

SPANS_KEY = "entities"
"""The ``doc.spans`` key that holds every entity."""


def to_doc(nlp_vocab: Any, doc: CorpusDocument) -> Any:
    """A spaCy ``Doc`` with the document's tokens, whitespace, sentence starts, entities and
    (in ``user_data``) relations."""
    from spacy.tokens import Doc

    words: list[str] = []
    spaces: list[bool] = []
    sent_starts: list[bool] = []
    sentence_starts = {start for start, _ in doc.sentences}
    position = 0
    tokens = doc.tokens

    def gap(text: str) -> None:
        # whitespace between tokens: a single space goes on the previous token, the rest
        # becomes a whitespace token (spaCy keeps doc.text == text that way)
        if not text:
            return
        if text == " " and words and not spaces[-1]:
            spaces[-1] = True
            return
        if words and not spaces[-1] and text.startswith(" ") and len(text) > 1:
            spaces[-1] = True
            text = text[1:]
        words.append(text)
        spaces.append(False)
        sent_starts.append(False)

    for index, token in enumerate(tokens):
        gap(doc.text[position : token.start])
        words.append(doc.text[token.start : token.end])
        spaces.append(False)
        sent_starts.append(token.start in sentence_starts or index == 0)
        position = token.end
    gap(doc.text[position:])
    if sent_starts:
        # leading whitespace belongs to the first sentence instead of forming one of its own
        first_word = next((i for i, w in enumerate(words) if not w.isspace()), None)
        if first_word:
            sent_starts[first_word] = False
        sent_starts[0] = True
    spacy_doc = Doc(nlp_vocab, words=words, spaces=spaces, sent_starts=sent_starts)
    if spacy_doc.text != doc.text:
        raise ValueError(f"{doc.doc_id}: the tokens do not rebuild the text")
    spans = []
    for entity in doc.entities:
        span = spacy_doc.char_span(entity.start, entity.end, label=entity.label, alignment_mode="strict")
        if span is None:
            raise ValueError(f"{doc.doc_id}: entity {entity.id} [{entity.start}, {entity.end}) is not a whole-token span")
        spans.append(span)
    outermost = {e.id for e in doc.outermost()}
    levels = doc.nesting()
    # under overlap: any two level-0 spans may cross; doc.ents keeps the first of such a pair
    spacy_doc.ents = [
        span for entity, span in zip(doc.entities, spans, strict=True) if entity.id in outermost and _free(entity, doc, levels)
    ]
    spacy_doc.spans[SPANS_KEY] = spans
    spacy_doc.user_data["doc_id"] = doc.doc_id
    spacy_doc.user_data["split"] = doc.split
    spacy_doc.user_data["entity_ids"] = [e.id for e in doc.entities]
    spacy_doc.user_data["relations"] = [{"id": r.id, "head": r.head, "tail": r.tail, "label": r.label} for r in doc.relations]
    return spacy_doc


def _free(entity: Any, doc: CorpusDocument, levels: dict[str, Any]) -> bool:
    """Whether no level-0 entity before ``entity`` (in ``doc.entities`` order) overlaps it."""
    for other in doc.entities:
        if other is entity:
            return True
        if levels[other.id].level == 0 and other.start < entity.end and entity.start < other.end:
            return False
    return True


def write(corpus: Corpus, out: Path, options: ExportOptions) -> list[Path]:
    import spacy
    from spacy.tokens import DocBin

    nlp = spacy.blank("de")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for split in corpus.splits:
        docbin = DocBin(attrs=["ORTH", "SPACY", "SENT_START", "ENT_IOB", "ENT_TYPE"], store_user_data=True)
        for doc in corpus.split(split):
            docbin.add(to_doc(nlp.vocab, doc))
        path = out / f"{split}.spacy"
        docbin.to_disk(path)
        written.append(path)
    (out / "README.md").write_text(README, encoding="utf-8")
    return written + [out / "README.md"]


def read(paths: Sequence[Path], options: ImportOptions) -> ImportResult:
    """Documents from ``.spacy`` files: text, ``doc.ents`` and, when present, the relations and
    ids stored in ``user_data`` by :func:`write`. Offsets are spaCy's character (code point)
    offsets."""
    import spacy
    from spacy.tokens import DocBin

    nlp = spacy.blank("de")
    documents: list[SourceDocument] = []
    files = expand_paths(paths, (".spacy",))
    for path in files:
        shown = display_path(path)
        for number, doc in enumerate(DocBin().from_disk(path).get_docs(nlp.vocab), start=1):
            found = list(doc.spans[SPANS_KEY]) if SPANS_KEY in doc.spans else list(doc.ents)
            ids = doc.user_data.get("entity_ids") or [f"T{i}" for i in range(1, len(found) + 1)]
            if len(ids) != len(found):
                raise ImportFailed(f"{shown}: document {number}: user_data has {len(ids)} entity ids for {len(found)} entities")
            entities = [
                SourceEntity(entity_id, span.start_char, span.end_char, span.label_) for entity_id, span in zip(ids, found, strict=True)
            ]
            relations = [SourceRelation(r.get("id"), r["head"], r["tail"], r["label"]) for r in doc.user_data.get("relations") or []]
            fallback = f"{path.stem}-{number:06d}" if len(files) > 1 else f"{number:06d}"
            documents.append(
                SourceDocument(
                    source_id=doc.user_data.get("doc_id") or fallback,
                    text=doc.text,
                    path=shown,
                    line=number,
                    offsets="codepoint",
                    entities=entities,
                    relations=relations,
                )
            )
    result = build_result(documents, options)
    refresh_stats(result)
    return result
