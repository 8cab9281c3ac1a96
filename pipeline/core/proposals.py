"""Pre-annotation proposals: a spaCy ``EntityRuler`` over a blank German pipeline plus relation
rules, and the annotation records it proposes.

The ruler's patterns are data (the gold layer's gazetteer, :func:`gazetteer`, plus hand-written
EntityRuler patterns); relations come from rules over the proposed entities:
``GPE|ORG [-] [≤2 words] ROLE [,] PER`` gives ``head_of`` (ROLE a head-of-state/leader noun) or
``works_for`` (a minister/adviser/spokesperson noun), where the label schema allows the pair.
Pure: text in, spans out (spaCy is imported when a pipeline is built).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pipeline.core.spans import AnnotationRecord

SOURCE = "preannotation:gazetteer"
HEAD_OF_ROLES = (
    "präsident", "staatschef", "regierungschef", "kanzler", "bundeskanzler", "ministerpräsident", "premierminister",
    "machthaber", "könig", "vorsitzende", "parteichef", "bürgermeister", "oberbürgermeister", "generalsekretär",
    "diktator", "staatsoberhaupt", "präsidentin", "chef",
)  # fmt: skip
WORKS_FOR_ROLES = (
    "außenminister", "minister", "verteidigungsminister", "innenminister", "finanzminister", "wirtschaftsminister",
    "sicherheitsberater", "berater", "sprecher", "botschafter", "gesandte", "diplomat", "mitarbeiter", "abgeordnete",
    "staatssekretär", "beamte", "unterhändler", "vize",
)  # fmt: skip
ROLE_RELATIONS = (("head_of", HEAD_OF_ROLES), ("works_for", WORKS_FOR_ROLES))


def blank_pipeline(language: str = "de") -> Any:
    """A blank spaCy pipeline whose tokenizer splits word-internal and word-final hyphens."""
    import spacy
    from spacy.util import compile_infix_regex, compile_suffix_regex

    nlp = spacy.blank(language)
    nlp.tokenizer.infix_finditer = compile_infix_regex(list(nlp.Defaults.infixes) + [r"(?<=\w)-(?=\w)"]).finditer
    nlp.tokenizer.suffix_search = compile_suffix_regex(list(nlp.Defaults.suffixes) + [r"(?<=\w)-$"]).search
    return nlp


def gazetteer(records: Iterable[AnnotationRecord], texts: Mapping[str, str], entity_types: Sequence[str]) -> list[dict[str, Any]]:
    """Phrase patterns from annotated spans: each distinct span text once, with its majority label."""
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for record in records:
        text = texts.get(record.doc_id)
        if text is None:
            continue
        for entity in record.entities:
            span = text[entity.start : entity.end]
            if len(span) >= 2 and span == span.strip() and "\n" not in span:
                counts[span][entity.label] += 1
    order = {label: index for index, label in enumerate(entity_types)}
    patterns = []
    for span in sorted(counts):
        label = min(counts[span], key=lambda name: (-counts[span][name], order.get(name, len(order)), name))
        patterns.append({"label": label, "pattern": span, "id": "gazetteer"})
    return patterns


class Proposer:
    """An EntityRuler over the blank German pipeline, plus the relation rules."""

    def __init__(self, patterns: Sequence[Mapping[str, Any]], schema: Any, language: str = "de") -> None:
        unknown = sorted({p["label"] for p in patterns} - set(schema.entity_types))
        if unknown:
            raise ValueError(f"patterns use labels {unknown} that are not in the label schema")
        self.nlp = blank_pipeline(language)
        if patterns:  # an empty ruler only warns; no patterns simply proposes nothing
            ruler = self.nlp.add_pipe("entity_ruler", config={"overwrite_ents": True, "validate": True})
            ruler.add_patterns([dict(p) for p in patterns])
        self.schema = schema

    def entities(self, texts: Sequence[str]) -> list[list[tuple[int, int, str]]]:
        """``(start, end, label)`` in code points for each text."""
        return [[(e.start_char, e.end_char, e.label_) for e in doc.ents] for doc in self.nlp.pipe(texts, batch_size=64)]

    def propose(self, text: str) -> tuple[list[tuple[int, int, str]], list[tuple[int, int, str]]]:
        """Entities, and relations as ``(head index, tail index, label)`` into the entity list."""
        doc = self.nlp(text)
        ents = list(doc.ents)
        spans = [(e.start_char, e.end_char, e.label_) for e in ents]
        return spans, role_relations(doc, ents, self.schema)


def _role(token_text: str) -> str | None:
    lower = token_text.lower()
    for label, stems in ROLE_RELATIONS:
        if any(lower.startswith(stem) and len(lower) - len(stem) <= 3 for stem in stems):
            return label
    return None


def role_relations(doc: Any, ents: Sequence[Any], schema: Any) -> list[tuple[int, int, str]]:
    """``GPE|ORG [-] [≤2 words] ROLE [,] PER`` → (PER, GPE|ORG, head_of|works_for), if the schema allows it."""
    found = []
    for index, person in enumerate(ents):
        if person.label_ != "PER":
            continue
        position = person.start - 1
        if position >= 0 and doc[position].text == ",":
            position -= 1
        if position < 0:
            continue
        label = _role(doc[position].text)
        if label is None or schema.relation(label) is None:
            continue
        position -= 1
        if position >= 0 and doc[position].text == "-":
            position -= 1
        skipped = 0
        while position >= 0 and skipped <= 2:
            owner = next((j for j, e in enumerate(ents) if e.end - 1 == position), None)
            if owner is not None:
                if schema.relation(label).allows("PER", ents[owner].label_):
                    found.append((index, owner, label))
                break
            if not doc[position].is_alpha or doc[position].ent_type_:
                break
            skipped += 1
            position -= 1
    return found


def build_records(proposer: Proposer, documents: Sequence[tuple[str, str, str]], *, source: str = SOURCE) -> list[dict[str, Any]]:
    """Annotation records (schema shape) for ``(doc_id, text, text_sha256)`` documents."""
    records = []
    for doc_id, text, sha in documents:
        spans, relations = proposer.propose(text)
        order = sorted(range(len(spans)), key=lambda i: spans[i])
        ids = {index: f"P{n}" for n, index in enumerate(order, start=1)}
        records.append(
            {
                "doc_id": doc_id,
                "text_sha256": sha,
                "source": source,
                "annotator": source.split(":", 1)[1],
                "entities": [
                    {"id": ids[i], "start": spans[i][0], "end": spans[i][1], "label": spans[i][2], "text": text[spans[i][0] : spans[i][1]]}
                    for i in order
                ],
                "relations": [
                    {"id": f"PR{n}", "head": ids[h], "tail": ids[t], "label": label}
                    for n, (h, t, label) in enumerate(sorted(relations, key=lambda r: (spans[r[0]], spans[r[1]], r[2])), start=1)
                ],
            }
        )
    return records
