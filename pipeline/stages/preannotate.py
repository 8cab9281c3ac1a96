"""Stage preannotate: propose entities (and rule-based relations) so annotators correct, not start from zero.

Model (:mod:`pipeline.core.proposals`; scored by :mod:`pipeline.core.scoring`)
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
from collections import defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Any

from pipeline.config import StageConfig
from pipeline.core.labels import LabelSchema
from pipeline.core.proposals import Proposer, build_records, gazetteer
from pipeline.core.scoring import Sentence, evaluate_external, leave_one_document_out
from pipeline.core.spans import nesting
from pipeline.formats import ImportFailed, conll
from pipeline.formats.build import ImportOptions
from pipeline.formats.mapping import LabelMapping, load_mapping
from pipeline.io import atomic

log = logging.getLogger(__name__)


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


# --------------------------------------------------------------------------- GermEval 2014


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
            raise ValueError(
                f"{where}: {backwards[ours]!r} and {theirs!r} both map to {ours!r}, so a proposal of {ours!r} cannot be scored as one of them"
            )
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
    levels: dict[str, dict[str, list[tuple[int, int, str]]]] = defaultdict(lambda: defaultdict(list))
    for record in result.records:
        # both GermEval levels are in the one record; with every label kept, level 0 is the outer column
        nested = nesting(record.entities)
        for e in record.entities:
            levels[record.doc_id]["outer" if nested[e.id].level == 0 else "inner"].append((e.start, e.end, e.label))
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


# --------------------------------------------------------------------------- the stage


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
        log.warning(
            "preannotate: %d problem(s) in the gold layer (first: %s); those lines are left out", len(problems), problems[0].format()
        )
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
        "preannotate: %d documents proposed; gold LOO entity P/R/F1 %.3f/%.3f/%.3f",
        len(output),
        micro["precision"],
        micro["recall"],
        micro["f1"],
    )
    return metrics


def main(config: StageConfig) -> int:
    """The stage command."""
    run(config)
    return 0
