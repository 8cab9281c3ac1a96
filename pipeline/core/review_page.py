"""The review page: one document, one column per annotation layer, disagreements highlighted.

Entities are drawn by spaCy's displaCy in its ``span`` style (overlapping and nested spans stack
under the text instead of hiding each other); the tokens are the document's tokens cut at every
entity edge of every layer shown (:func:`pipeline.core.agreement.document_tokens`), so each span is
whole tokens. An entity or relation that not every shown layer has exactly is a disagreement: its
label gets a ``≠`` and a red colour, and relations are listed under each column (head —label→ tail)
with the disagreeing ones marked; problems the checks found in a record are listed on top. A small inline script counts the labels the browser laid out
(``data-rendered``), which a test reads through headless Chromium.

The page is self-contained: inline styles and script, nothing fetched. Pure: touches no files
(spaCy is imported when a page is built).
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

from pipeline.core.agreement import AnnotatedDocument, document_tokens, entity_keys, relation_keys
from pipeline.core.spans import AnnotationRecord

DISAGREE = " ≠"
DISAGREE_COLOUR = "#ff8a80"
PALETTE = ("#7aecec", "#bfeeb7", "#feca74", "#ff9561", "#aa9cfc", "#c887fb", "#9cc9cc", "#e4e7d2")

SCRIPT = """
for (const column of document.querySelectorAll('section.layer')) {
  const labels = [...column.querySelectorAll('.spans span[style*="z-index: 10"]')];
  column.dataset.rendered = labels.filter(label => label.getBoundingClientRect().width > 0).length;
}
document.body.dataset.ready = 'yes';
"""

STYLE = """
body { font-family: -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; margin: 1.5em; color: #222; }
.columns { display: flex; gap: 1.5em; align-items: flex-start; }
section.layer { flex: 1; min-width: 18em; border: 1px solid #ddd; border-radius: 6px; padding: 0 1em 1em; }
section.layer h2 { font-size: 1em; border-bottom: 1px solid #eee; padding-bottom: .4em; }
ul.relations li.disagree, p.legend .disagree { background: #ffd6d1; }
.summary { color: #555; }
table.conflicts { border-collapse: collapse; margin-top: 1em; }
table.conflicts td, table.conflicts th { border: 1px solid #ddd; padding: .2em .5em; text-align: left; vertical-align: top; }
"""


def _colours(labels: Sequence[str]) -> dict[str, str]:
    colours = {label: PALETTE[i % len(PALETTE)] for i, label in enumerate(labels)}
    colours.update({label + DISAGREE: DISAGREE_COLOUR for label in labels})
    return colours


def _spans_html(
    text: str, tokens: Sequence[tuple[int, int]], record: AnnotationRecord, shared: set[tuple[int, int, str]], labels: Sequence[str]
) -> str:
    """displaCy's span rendering of one layer's entities (gaps other than one space become tokens of their own)."""
    import spacy
    from spacy import displacy
    from spacy.tokens import Doc, Span

    words: list[str] = []
    spaces: list[bool] = []
    index: dict[int, int] = {}
    position = 0
    for start, end in tokens:
        gap = text[position:start]
        if gap and gap != " ":
            if spaces:
                spaces[-1] = False
            words.append(gap)
            spaces.append(False)
        elif gap == " " and spaces:
            spaces[-1] = True
        index[start] = len(words)
        words.append(text[start:end])
        spaces.append(False)
        position = end
    if position < len(text):
        words.append(text[position:])
        spaces.append(False)
    ends = {end: index[start] + 1 for start, end in tokens}
    doc = Doc(spacy.blank("xx").vocab, words=words, spaces=spaces)
    spans = []
    for entity in sorted(record.entities, key=lambda e: (e.start, -e.end, e.label)):
        if entity.start not in index or entity.end not in ends:
            continue  # cannot happen: the tokens are cut at every entity edge
        label = entity.label + ("" if (entity.start, entity.end, entity.label) in shared else DISAGREE)
        spans.append(Span(doc, index[entity.start], ends[entity.end], label=label))
    doc.spans["sc"] = spans
    return displacy.render(doc, style="span", page=False, options={"colors": _colours(labels)})


def _relations_html(record: AnnotationRecord, text: str, shared: set[Any], symmetric: frozenset[str]) -> str:
    spans = {e.id: e for e in record.entities}
    keys = relation_keys(record, symmetric)
    items = []
    for relation in record.relations:
        head, tail = spans.get(relation.head), spans.get(relation.tail)
        if head is None or tail is None:
            continue
        key = next(
            (
                k
                for k in keys
                if k[2] == relation.label and {k[0], k[1]} == {(head.start, head.end, head.label), (tail.start, tail.end, tail.label)}
            ),
            None,
        )
        agreed = key in shared
        mark = "" if agreed else DISAGREE
        items.append(
            f'<li class="{"agree" if agreed else "disagree"}">{html.escape(text[head.start : head.end])} '
            f"—{html.escape(relation.label)}{mark}→ {html.escape(text[tail.start : tail.end])}</li>"
        )
    if not items:
        return '<p class="relations">no relations</p>'
    return '<ul class="relations">' + "".join(items) + "</ul>"


def _conflicts_html(conflicts: Sequence[Mapping[str, Any]]) -> str:
    if not conflicts:
        return ""
    rows = []
    for conflict in conflicts:
        candidates = []
        for candidate in conflict["candidates"]:
            what = (
                f"{candidate['label']} «{candidate['text']}»"
                if conflict["kind"] == "entity"
                else f"«{candidate['head']['text']}» —{candidate['label']}→ «{candidate['tail']['text']}»"
            )
            who = ", ".join(candidate["annotators"])
            candidates.append(html.escape(f"{what}: {who}" + (" (accepted)" if candidate.get("accepted") else "")))
        if conflict.get("without"):
            candidates.append(html.escape("nothing: " + ", ".join(conflict["without"])))
        rows.append(
            f"<tr><td>{html.escape(conflict['id'])}</td><td>{html.escape(conflict['kind'])}</td>"
            f"<td>«{html.escape(conflict['text'])}»</td><td>{'<br>'.join(candidates)}</td></tr>"
        )
    return '<table class="conflicts"><tr><th>id</th><th>kind</th><th>where</th><th>who said what</th></tr>' + "".join(rows) + "</table>"


def render_page(
    document: AnnotatedDocument,
    *,
    labels: Sequence[str],
    symmetric: frozenset[str] = frozenset(),
    summary: Mapping[str, Any] | None = None,
    conflicts: Sequence[Mapping[str, Any]] = (),
    problems: Sequence[str] = (),
) -> str:
    """The HTML page of ``document``: one column per layer of ``document.records`` (in that order)."""
    layers = list(document.records)
    records = [document.records[layer] for layer in layers]
    entity_sets = [entity_keys(r) for r in records]
    relation_sets = [relation_keys(r, symmetric) for r in records]
    shared_entities = set.intersection(*entity_sets) if entity_sets else set()
    shared_relations = set.intersection(*relation_sets) if relation_sets else set()
    tokens = document_tokens(document)
    columns = []
    for layer, record in zip(layers, records, strict=True):
        columns.append(
            f'<section class="layer" data-layer="{html.escape(layer)}" data-entities="{len(record.entities)}">'
            f"<h2>{html.escape(layer)} <small>({len(record.entities)} entities, {len(record.relations)} relations)</small></h2>"
            + _spans_html(document.text, tokens, record, shared_entities, labels)
            + _relations_html(record, document.text, shared_relations, symmetric)
            + "</section>"
        )
    facts = ""
    if summary:
        facts = '<p class="summary">' + html.escape(", ".join(f"{key}: {value}" for key, value in summary.items())) + "</p>"
    if problems:
        facts += '<ul class="problems">' + "".join(f"<li>{html.escape(p)}</li>" for p in problems) + "</ul>"
    title = html.escape(document.doc_id)
    return (
        '<!DOCTYPE html>\n<html lang="de"><head><meta charset="utf-8">'
        f"<title>{title}</title><style>{STYLE}</style></head><body>"
        f"<h1>{title}</h1>{facts}"
        f'<p class="legend">one column per layer; <span class="disagree">{html.escape(DISAGREE.strip())}</span> '
        "marks an entity or relation that not every layer shown has exactly</p>"
        f'<div class="columns">{"".join(columns)}</div>'
        f"{_conflicts_html(conflicts)}"
        f"<script>{SCRIPT}</script></body></html>\n"
    )
