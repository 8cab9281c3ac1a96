"""Stage preannotate: propose entities (and rule-based relations) so annotators correct, not start from zero.

Model
    A spaCy ``EntityRuler`` on a blank German pipeline whose tokenizer also splits hyphens inside
    and at the end of words (so that ``US`` in ``US-Präsident`` and ``Nord`` in ``Nord- und
    Südkorea`` are tokens). Its patterns come only from data in the repository:

    * the gazetteer of the gold layer: every gold span text with its label (the most frequent label
      when a text was annotated with several), as a case-sensitive phrase pattern;
    * hand-written patterns, ``corpus/patterns/*.jsonl`` in EntityRuler JSONL form
      (``{"label": ..., "pattern": "text" | [token specs], "id": ...}``).

    Relations come from rules over the proposed entities: ``GPE|ORG [-] [≤2 words] ROLE [,] PER`` gives
    ``head_of`` (ROLE a head-of-state/leader noun) or ``works_for`` (a minister/adviser/spokesperson
    noun), where the label schema allows the pair.

Output
    ``preannotations.jsonl``: one record (source ``preannotation:gazetteer``) for every ingested
    document without a gold record, in the shape of ``schemas/annotation.schema.json``. It is not
    an annotation layer the corpus publishes: ``python -m pipeline doccano push --as-suggestions``
    loads it into doccano for annotators to correct.

Metrics (``metrics.json``, a DVC metric), never measured on the patterns' own training data
    * ``gold_leave_one_document_out``: for each gold document, a ruler built from the *other* gold
      documents plus the hand patterns proposes entities and relations for it. With a single gold
      document the gazetteer part learns nothing (the figure then measures the hand patterns alone);
      the metrics say so.
    * ``external``: the ruler built from all gold documents plus the hand patterns, on a third-party
      corpus (GermEval 2014 dev), read by the GermEval importer (texts rebuilt from its tokens)
      and scored in its labels through the importer's mapping file (see :func:`scoring_map`).
"""

from __future__ import annotations

import json
import logging
from collections import Counter, defaultdict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from pipeline.config import StageConfig
from pipeline.core.labels import LabelSchema
from pipeline.core.spans import AnnotationRecord
from pipeline.io import atomic
from pipeline.formats import conll
from pipeline.formats import ImportFailed
from pipeline.formats.build import ImportOptions
from pipeline.formats.mapping import LabelMapping, load_mapping
from pipeline.formats.source import MAIN_LAYER

log = logging.getLogger(__name__)

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


# --------------------------------------------------------------------------- the model


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
        label = min(counts[span], key=lambda l: (-counts[span][l], order.get(l, len(order)), l))
        patterns.append({"label": label, "pattern": span, "id": "gazetteer"})
    return patterns


def read_patterns(patterns_dir: Path) -> list[dict[str, Any]]:
    """Every pattern of ``patterns_dir/*.jsonl``, in file and line order."""
    patterns = []
    for path in sorted(patterns_dir.glob("*.jsonl")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                pattern = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f"{path}:{number}: not JSON: {error.msg}") from None
            if not isinstance(pattern, dict) or "label" not in pattern or "pattern" not in pattern:
                raise ValueError(f"{path}:{number}: an EntityRuler pattern needs 'label' and 'pattern'")
            patterns.append(pattern)
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


# --------------------------------------------------------------------------- scoring


def prf(tp: int, fp: int, fn: int) -> dict[str, Any]:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"tp": tp, "fp": fp, "fn": fn, "precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4)}


def score(pairs: Iterable[tuple[set[tuple[Any, ...]], set[tuple[Any, ...]]]], labels: Sequence[str]) -> dict[str, Any]:
    """P/R/F1 per label and micro-averaged, from (gold, predicted) sets of tuples whose last item is the label."""
    counts = {label: [0, 0, 0] for label in labels}
    for gold, predicted in pairs:
        for item in predicted:
            counts.setdefault(item[-1], [0, 0, 0])[0 if item in gold else 1] += 1
        for item in gold - predicted:
            counts.setdefault(item[-1], [0, 0, 0])[2] += 1
    per_label = {label: prf(*counts[label]) for label in sorted(counts, key=lambda l: (labels.index(l) if l in labels else len(labels), l))}
    total = [sum(c[i] for c in counts.values()) for i in range(3)]
    return {"per_label": per_label, "micro": prf(*total)}


def leave_one_document_out(
    gold: Sequence[AnnotationRecord], texts: Mapping[str, str], hand: Sequence[Mapping[str, Any]], schema: Any, language: str = "de"
) -> dict[str, Any]:
    """Each gold document annotated by a ruler built from the other gold documents plus the hand patterns."""
    entity_pairs, relation_pairs = [], []
    for record in gold:
        text = texts[record.doc_id]
        others = [r for r in gold if r.doc_id != record.doc_id]
        proposer = Proposer(list(gazetteer(others, texts, schema.entity_types)) + list(hand), schema, language)
        spans, relations = proposer.propose(text)
        entity_pairs.append(({(e.start, e.end, e.label) for e in record.entities}, set(spans)))
        by_id = {e.id: e for e in record.entities}
        gold_relations = {
            (by_id[r.head].start, by_id[r.head].end, by_id[r.tail].start, by_id[r.tail].end, r.label)
            for r in record.relations
            if r.head in by_id and r.tail in by_id
        }
        predicted = {(spans[h][0], spans[h][1], spans[t][0], spans[t][1], label) for h, t, label in relations}
        relation_pairs.append((gold_relations, predicted))
    result: dict[str, Any] = {
        "documents": len(gold),
        "entities": score(entity_pairs, list(schema.entity_types)),
        "relations": score(relation_pairs, list(schema.relation_names)),
    }
    if len(gold) < 2:
        result["note"] = (
            f"degenerate: {len(gold)} gold document(s), so the gazetteer built from the other documents is empty and these "
            "figures measure the hand-written patterns alone (whose authors know the seed text: optimistic); see external"
        )
    return result


# --------------------------------------------------------------------------- GermEval 2014


@dataclass(frozen=True)
class Sentence:
    """One sentence of a third-party corpus as it is scored (offsets into ``text``, their labels)."""

    text: str
    entities: frozenset[tuple[int, int, str]]  # outer level, labels the mapping maps to ours (PER, ORG, LOC, OTH)
    ignored: tuple[tuple[int, int], ...]  # spans of either level mapped to null (part/deriv): predictions there are not counted
    inner: frozenset[tuple[int, int, str]]  # inner-level entities: an exact prediction of one is not counted


def scoring_map(mapping: LabelMapping, schema: LabelSchema) -> dict[str, str | None]:
    """Our entity label → the third-party label a proposal with it is scored as (``None``: not scored).

    The mapping file maps their labels to ours; read backwards it scores each of our labels as the
    label that maps to it. Their coarser labels cover several of ours (GermEval's LOC our GPE and
    LOC), which the mapping cannot say: its ``options.score_as`` names, for such a type of ours,
    the type of ours it is scored as (GPE as LOC). A type no label maps to (DATE) is not scored.
    """
    where = mapping.path or "the label mapping"
    backwards: dict[str, str] = {}
    for theirs, ours in mapping.entities.items():
        if ours is None:
            continue
        if ours in backwards:
            raise ValueError(f"{where}: {backwards[ours]!r} and {theirs!r} both map to {ours!r}, so a proposal of {ours!r} cannot be scored as one of them")
        backwards[ours] = theirs
    score_as = mapping.options.get("score_as") or {}
    if not isinstance(score_as, dict):
        raise ValueError(f"{where}: options.score_as must map our entity types to our entity types, got {score_as!r}")
    for ours, target in score_as.items():
        if ours not in schema.entity_types:
            raise ValueError(f"{where}: options.score_as: {ours!r} is not an entity type of {schema.path} ({list(schema.entity_types)})")
        if target not in backwards:
            raise ValueError(f"{where}: options.score_as.{ours}: {target!r} is none of the types the mapping maps to ({sorted(backwards)})")
    return {ours: backwards.get(score_as.get(ours, ours)) for ours in schema.entity_types}


def germeval_sentences(path: Path, mapping: LabelMapping, schema: LabelSchema, name: str = "external") -> list[Sentence]:
    """Sentences of a GermEval 2014 TSV file as the GermEval importer reads them (text rebuilt by
    joining tokens with single spaces), labels as GermEval has them.

    ``mapping`` (GermEval → ours) says which labels are entities (mapped to one of ours) and which
    are spans not to score (mapped to null: the ``part``/``deriv`` variants).
    """
    own_labels = replace(mapping, entities={label: label for label in mapping.entities}, relations={})
    options = ImportOptions(name=name, mapping=own_labels, schema=schema)
    try:
        result = conll.read_germeval([path], options)
    except ImportFailed as error:
        raise ValueError(str(error)) from None
    if result.problems:
        log.warning("preannotate: %d problem(s) reading %s (first: %s)", len(result.problems), path, result.problems[0].format())
    main = options.layer(MAIN_LAYER)
    levels: dict[str, dict[str, list[tuple[int, int, str]]]] = defaultdict(lambda: defaultdict(list))
    for record in result.records:
        levels[record.doc_id]["outer" if record.layer == main else "inner"].extend((e.start, e.end, e.label) for e in record.entities)
    sentences = []
    for document in result.documents:
        outer, inner = levels[document.doc_id]["outer"], levels[document.doc_id]["inner"]
        sentences.append(
            Sentence(
                text=document.text,
                entities=frozenset(s for s in outer if mapping.entity(s[2]) is not None),
                ignored=tuple((s[0], s[1]) for s in outer + inner if mapping.entity(s[2]) is None),
                inner=frozenset(s for s in inner if mapping.entity(s[2]) is not None),
            )
        )
    return sentences


def evaluate_external(proposer: Proposer, sentences: Sequence[Sentence], label_map: Mapping[str, str | None]) -> dict[str, Any]:
    """P/R/F1 on a third-party corpus: our labels mapped into theirs, unmapped labels not counted."""
    predicted_all = proposer.entities([s.text for s in sentences])
    pairs = []
    for sentence, predicted in zip(sentences, predicted_all):
        mapped = set()
        for start, end, label in predicted:
            theirs = label_map.get(label)
            if not theirs:
                continue
            if (start, end, theirs) in sentence.inner and (start, end, theirs) not in sentence.entities:
                continue
            if any(start < e and s < end for s, e in sentence.ignored):
                continue
            mapped.add((start, end, theirs))
        pairs.append((set(sentence.entities), mapped))
    labels = sorted({v for v in label_map.values() if v})
    result = score(pairs, labels)
    scored = {label for label in labels}
    missing = sorted({e[2] for s in sentences for e in s.entities} - scored)
    result["unscored_gold_labels"] = missing
    return result


# --------------------------------------------------------------------------- the stage


def build_records(
    proposer: Proposer, documents: Sequence[tuple[str, str, str]], *, source: str = SOURCE
) -> list[dict[str, Any]]:
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
                "entities": [{"id": ids[i], "start": spans[i][0], "end": spans[i][1], "label": spans[i][2], "text": text[spans[i][0] : spans[i][1]]} for i in order],
                "relations": [
                    {"id": f"PR{n}", "head": ids[h], "tail": ids[t], "label": label}
                    for n, (h, t, label) in enumerate(sorted(relations, key=lambda r: (spans[r[0]], spans[r[1]], r[2])), start=1)
                ],
            }
        )
    return records


def run(config: StageConfig) -> dict[str, Any]:
    from pipeline.io.interim import read_documents
    from pipeline.io.layers import read_layers
    from pipeline.io.schemas import load_json_schema, load_label_schema

    section = config.preannotate
    schema = load_label_schema(config.schemas.labels)
    validator = load_json_schema(config.schemas.annotation)
    language = config.ingest.language
    documents = read_documents(config.ingest.out_dir, columns=["doc_id", "text", "text_sha256"]).sort_by("doc_id").to_pylist()
    texts = {d["doc_id"]: d["text"] for d in documents}
    hashes = {d["doc_id"]: d["text_sha256"] for d in documents}
    gold_dir = config.annotate.annotations_dir / section.gold_layer
    records, problems = read_layers(gold_dir, validator)
    if problems:
        log.warning("preannotate: %d problem(s) in the gold layer (first: %s); those lines are left out", len(problems), problems[0].format())
    gold = sorted((r for r in records if hashes.get(r.doc_id) == r.text_sha256), key=lambda r: r.doc_id)
    hand = read_patterns(section.patterns_dir)
    learned = gazetteer(gold, texts, schema.entity_types)
    proposer = Proposer(learned + hand, schema, language)

    annotated = {r.doc_id for r in records}
    targets = [(d["doc_id"], d["text"], d["text_sha256"]) for d in documents if section.documents == "all" or d["doc_id"] not in annotated]
    output = build_records(proposer, sorted(targets))

    metrics: dict[str, Any] = {
        "patterns": {"hand": len(hand), "gazetteer": len(learned)},
        "preannotations": {
            "documents": len(output),
            "entities": sum(len(r["entities"]) for r in output),
            "relations": sum(len(r["relations"]) for r in output),
        },
        "gold_leave_one_document_out": leave_one_document_out(gold, texts, hand, schema, language),
        "external": {},
    }
    for name, spec in sorted(section.external.items()):
        path = section.external_dir / spec.file
        if not path.is_file():
            metrics["external"][name] = {"available": False, "note": f"{path} not found: not evaluated on this machine"}
            log.warning("preannotate: %s not found, external evaluation %s skipped", path, name)
            continue
        try:
            mapping, _ = load_mapping(spec.mapping, config.schemas.labels)
        except ImportFailed as error:
            raise ValueError(f"preannotate.external.{name}.mapping: {error}") from None
        label_map = scoring_map(mapping, schema)
        sentences = germeval_sentences(path, mapping, schema, name)
        result = evaluate_external(proposer, sentences, label_map)
        metrics["external"][name] = {
            "available": True,
            "file": spec.file,
            "sentences": len(sentences),
            "label_map": dict(sorted(label_map.items(), key=lambda kv: kv[0])),
            **result,
            "note": "outer-level PER/ORG/LOC/OTH; part/deriv spans and exact inner-level entities are not counted; "
            "ruler = gazetteer of all gold documents + hand patterns (nothing built from this corpus)",
        }
    out_dir = section.out_dir
    atomic.write_text(out_dir / "preannotations.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in output))
    atomic.write_text(out_dir / "metrics.json", json.dumps(metrics, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    micro = metrics["gold_leave_one_document_out"]["entities"]["micro"]
    log.info(
        "preannotate: %d documents proposed; gold LOO entity P/R/F1 %.3f/%.3f/%.3f", len(output), micro["precision"], micro["recall"], micro["f1"]
    )
    return metrics



def main(config: StageConfig) -> int:
    """The stage command."""
    run(config)
    return 0


__all__ = [
    "Proposer",
    "build_records",
    "evaluate_external",
    "gazetteer",
    "germeval_sentences",
    "leave_one_document_out",
    "read_patterns",
    "role_relations",
    "scoring_map",
    "main",
    "run",
    "score",
]
