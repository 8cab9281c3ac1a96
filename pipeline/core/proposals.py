"""Pre-annotation proposals: a spaCy ``EntityRuler`` over a blank German pipeline plus relation
rules, and the annotation records it proposes.

The ruler's patterns are data (the gold layer's gazetteer, :func:`gazetteer`, plus hand-written
EntityRuler patterns); relations come from rules over the proposed entities:
``GPE|ORG [-] [≤2 words] ROLE [,] PER`` gives ``head_of`` (ROLE a head-of-state/leader noun) or
``works_for`` (a minister/adviser/spokesperson noun), where the label schema allows the pair.
Pure: text in, spans out (spaCy is imported when a pipeline is built). It is over 400 lines
because the proposer's leave-one-document-out matching and the gazetteer parts that key its cache
(which must agree with that matching exactly) belong together.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from pipeline.core.spans import AnnotationRecord
from pipeline.core.token_patterns import TokenPatternFilter

SOURCE = "preannotation:gazetteer"
GAZETTEER_ID = "gazetteer"
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


def gazetteer_counts(records: Iterable[AnnotationRecord], texts: Mapping[str, str]) -> dict[str, Counter[str]]:
    """Span text → how often each label annotates it (texts shorter than 2, with edge whitespace or
    a line break are no phrase), over the records whose document is in ``texts``."""
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for record in records:
        text = texts.get(record.doc_id)
        if text is None:
            continue
        for entity in record.entities:
            span = text[entity.start : entity.end]
            if len(span) >= 2 and span == span.strip() and "\n" not in span:
                counts[span][entity.label] += 1
    return dict(counts)


def majority(counts: Mapping[str, int], entity_types: Sequence[str]) -> str | None:
    """The most frequent label (ties: schema order, then name); ``None`` when no count is left."""
    order = {label: index for index, label in enumerate(entity_types)}
    present = [name for name, count in counts.items() if count > 0]
    if not present:
        return None
    return min(present, key=lambda name: (-counts[name], order.get(name, len(order)), name))


def gazetteer(records: Iterable[AnnotationRecord], texts: Mapping[str, str], entity_types: Sequence[str]) -> list[dict[str, Any]]:
    """Phrase patterns from annotated spans: each distinct span text once, with its majority label."""
    counts = gazetteer_counts(records, texts)
    return [{"label": majority(counts[span], entity_types), "pattern": span, "id": GAZETTEER_ID} for span in sorted(counts)]


def phrase_tokens(nlp: Any, phrases: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """Phrase → the token texts the ``EntityRuler`` of ``nlp`` (:func:`blank_pipeline`) matches it
    as: it cuts a phrase pattern with ``nlp.pipe`` (only the tokenizer before the ruler) and the
    ``PhraseMatcher`` compares ``ORTH``, the exact token text."""
    phrases = list(phrases)
    return {phrase: tuple(token.text for token in doc) for phrase, doc in zip(phrases, nlp.pipe(phrases), strict=True)}


def documents_by_phrase(own: Mapping[str, Mapping[str, Mapping[str, int]]]) -> dict[str, dict[str, Any]]:
    """Per-document gazetteer counts (doc_id → phrase → label → n) turned phrase-major, for
    :func:`gazetteer_part`: phrase → ``{"max": {label: the most one document has}, "documents":
    [[doc_id, {label: n}], ...]}`` in ``doc_id`` order."""
    by_phrase: dict[str, dict[str, Any]] = {}
    for doc_id in sorted(own):
        for phrase, mine in sorted(own[doc_id].items()):
            entry = by_phrase.setdefault(phrase, {"max": {}, "documents": []})
            entry["documents"].append([doc_id, dict(sorted(mine.items()))])
            for label, count in mine.items():
                entry["max"][label] = max(entry["max"].get(label, 0), count)
    return {phrase: {"max": dict(sorted(e["max"].items())), "documents": e["documents"]} for phrase, e in sorted(by_phrase.items())}


def gazetteer_part(
    counts: Mapping[str, Mapping[str, int]],
    labels: Mapping[str, str | None],
    tokens: Mapping[str, Sequence[str]],
    vocabulary: set[str],
    maxima: Mapping[str, Mapping[str, int]],
    documents_of: Callable[[str], Sequence[tuple[str, Mapping[str, int]]]],
    entity_types: Sequence[str],
    leads: Mapping[str, int],
    most: Mapping[str, int] | None = None,
) -> list[list[Any]]:
    """The part of the gazetteer ``counts`` that can change what :class:`GazetteerProposer` proposes,
    also leaving one document out, for documents whose token texts are all in ``vocabulary``.

    A phrase matches only where each of its ``tokens`` is a token, so no other phrase matches
    there; of a phrase that can match, the proposals use its majority label (``labels``: the
    :func:`majority` of each phrase's counts, computed once for all shards), and leaving out one of
    the documents that have the phrase (``documents_of(phrase)``: ``[doc_id, its counts]`` of the
    shard's gold documents, :func:`documents_by_phrase`) uses the majority of the counts without
    the document's (:meth:`GazetteerProposer.propose_without`). That is the majority label itself
    unless the document has at least ``leads[phrase]`` (:func:`majority_leads`) of its counts, so
    only phrases whose ``maxima`` (the most one document of the shard has, per label) reach it are
    looked at, and only documents whose label flips are listed: one more count of a frequent
    phrase changes no part. ``most`` (optional): a bound on the counts of one label any one document
    has of a phrase; a phrase whose bound is below its lead is not looked up in ``maxima`` (which
    may then be read lazily). ``[phrase, label, [[doc_id, label left out], ...]]`` in phrase
    order, for a cache key (the documents and their counts are in the key through the shard's gold lines).
    """
    part = []
    for phrase in sorted(phrase for phrase in counts if vocabulary.issuperset(tokens[phrase])):
        label, lead = labels[phrase], leads[phrase]
        flipped = []
        if (most is None or most.get(phrase, 0) >= lead) and maxima.get(phrase, {}).get(label, 0) >= lead:  # type: ignore[call-overload]
            for doc_id, mine in documents_of(phrase):
                if mine.get(label, 0) < lead:
                    continue
                rest = {name: count - mine.get(name, 0) for name, count in counts[phrase].items()}
                other = majority(rest, entity_types)
                if other != label:
                    flipped.append([doc_id, other])
        part.append([phrase, label, flipped])
    return part


PART_MODULUS = 1 << 256


class PartSums:
    """A gazetteer part's digest as the sum, modulo 2**256, of the sha256 of each of its entries
    (:func:`gazetteer_part`: one ``[phrase, label, flipped]`` per phrase, so no entry occurs twice).

    A sum does not depend on the entries' order, and it changes entry by entry: when only the
    entries of some phrases can differ from a part's last ones, its new sum is the last sum minus
    their old entries' digests plus their new ones', without walking the rest of the part (see
    ``PartDigests`` in :mod:`pipeline.stages.preannotate`). The digest of an entry that no document
    flips (most of them, in every part) is kept per phrase and label. Cache keys, not security:
    nobody chooses the entries to make two parts collide.
    """

    def __init__(self) -> None:
        self._plain: dict[tuple[str, str | None], int] = {}

    @staticmethod
    def entry(entry: Sequence[Any]) -> int:
        data = json.dumps(list(entry), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return int.from_bytes(hashlib.sha256(data).digest(), "big")

    def of(self, part: Iterable[Sequence[Any]]) -> int:
        """The sum of the entries of ``part``."""
        total = 0
        for phrase, label, flipped in part:
            if flipped:
                total += self.entry([phrase, label, flipped])
                continue
            found = self._plain.get((phrase, label))
            if found is None:
                found = self._plain[(phrase, label)] = self.entry([phrase, label, []])
            total += found
        return total % PART_MODULUS


def majority_leads(counts: Mapping[str, Mapping[str, int]], labels: Mapping[str, str | None]) -> dict[str, int]:
    """Phrase → how many more counts its majority label has than any other label: taking fewer than
    that many of the majority label's counts out (and any of the others') leaves the majority as it is."""
    leads = {}
    for phrase, found in counts.items():
        best = found.get(labels[phrase], 0) if labels[phrase] is not None else 0
        leads[phrase] = best - max((count for name, count in found.items() if name != labels[phrase]), default=0)
    return leads


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
        return self.propose_doc(self.nlp.make_doc(text))

    def propose_doc(self, doc: Any) -> tuple[list[tuple[int, int, str]], list[tuple[int, int, str]]]:
        """:meth:`propose` for a ``Doc`` of this pipeline's tokenizer (e.g. :func:`pipeline.core.token_docs.doc_from_tokens`)."""
        for _, component in self.nlp.pipeline:
            doc = component(doc)
        ents = list(doc.ents)
        spans = [(e.start_char, e.end_char, e.label_) for e in ents]
        return spans, role_relations(doc, ents, self.schema)


class GazetteerProposer:
    """The :class:`Proposer` of the gazetteer of ``counts`` plus the ``hand`` patterns, which also
    proposes as the ruler built from all gold documents but one would (leave-one-document-out),
    without building a ruler per document.

    That ruler's matches on a document are this one's with the document's own counts taken out:
    a gazetteer phrase found in it takes the label of the other documents' counts (or is no match
    when only it has the phrase). Everything else is the ``EntityRuler``'s own (spaCy 3.8): its
    matches in their order into one set, sorted longest first then leftmost (ties keep the set's
    order, which depends on the sequence the set was built from, hence the same sequence here),
    and a match whose first or last token is already taken is dropped.
    """

    def __init__(
        self, hand: Sequence[Mapping[str, Any]], counts: Mapping[str, Mapping[str, int]], schema: Any, language: str = "de"
    ) -> None:
        self.schema = schema
        self.counts = counts
        phrases = sorted(counts)
        self.labels = {phrase: majority(counts[phrase], schema.entity_types) for phrase in phrases}
        learned = [{"label": self.labels[phrase], "pattern": phrase, "id": GAZETTEER_ID} for phrase in phrases]
        self.proposer = Proposer(learned + list(hand), schema, language)
        self.nlp = self.proposer.nlp
        self.ruler = self.nlp.get_pipe("entity_ruler") if self.nlp.has_pipe("entity_ruler") else None
        self.token_filter = TokenPatternFilter(self.nlp.vocab, [p["pattern"] for p in hand if not isinstance(p["pattern"], str)])
        strings = self.nlp.vocab.strings
        self.key_of = {label: strings.add(f"{label}||{GAZETTEER_ID}") for label in schema.entity_types}
        self.label_of_key = {key: label for label, key in self.key_of.items()}
        # A match of a gazetteer key is one of the phrases with that label and that token sequence.
        self.by_tokens: dict[tuple[int, tuple[int, ...]], list[str]] = defaultdict(list)
        if self.ruler is not None:
            for label in schema.entity_types:
                for pattern in self.ruler.phrase_patterns.get(f"{label}||{GAZETTEER_ID}", []):
                    self.by_tokens[(self.key_of[label], tuple(token.orth for token in pattern))].append(pattern.text)

    def token_matches(
        self, doc: Any, words: Sequence[str] | None = None, stretches: Sequence[tuple[int, int]] | None = None
    ) -> list[tuple[int, int, int]]:
        """The ruler's token-pattern matches (``(match_id, start, end)`` in its order): only the hand
        patterns have token patterns, so these do not depend on the gazetteer and can be kept.

        The ``Matcher`` runs on the stretches where a match can be (:class:`pipeline.core.token_patterns.TokenPatternFilter`;
        ``stretches`` when computed for many documents at once, else from ``words``, the token
        texts), one after the other. No match crosses the tokens between them and none of them
        ends a match, so the matches and their order are those of the whole ``doc``."""
        if self.ruler is None:
            return []
        if stretches is None:
            stretches = self.token_filter.stretches([[token.text for token in doc] if words is None else words])[0]
        found: list[tuple[int, int, int]] = []
        for start, end in stretches:
            found.extend((match_id, start + first, start + last) for match_id, first, last in self.ruler.matcher(doc[start:end]))
        return found

    def token_matches_of_words(
        self, words: Sequence[str], spaces: Sequence[bool], stretches: Sequence[tuple[int, int]]
    ) -> list[tuple[int, int, int]]:
        """:meth:`token_matches` of the ``Doc`` of ``words`` and ``spaces`` without building it: a
        small ``Doc`` of each stretch is matched instead (the token specs test lexical attributes
        only, which are a token's text's, whatever ``Doc`` it is in); the whole ``Doc`` when a
        spec tests another attribute."""
        from spacy.tokens import Doc

        if self.ruler is None:
            return []
        vocab = self.nlp.vocab
        if self.token_filter.every:
            return self.token_matches(Doc(vocab, words=list(words), spaces=list(spaces)), stretches=stretches)
        found: list[tuple[int, int, int]] = []
        for start, end in stretches:
            part = Doc(vocab, words=list(words[start:end]), spaces=list(spaces[start:end]))
            found.extend((match_id, start + first, start + last) for match_id, first, last in self.ruler.matcher(part))
        return found

    def propose(
        self, doc: Any, token_matches: Sequence[tuple[int, int, int]] | None = None
    ) -> tuple[list[tuple[int, int, str]], list[tuple[int, int, str]]]:
        """:meth:`Proposer.propose` for a ``Doc`` of :attr:`nlp`'s tokenizer (:func:`pipeline.core.token_docs.doc_from_tokens`);
        ``token_matches``: :meth:`token_matches` of this doc, kept from an earlier run."""
        return self.propose_without(doc, {}, token_matches)

    def propose_without(
        self, doc: Any, own: Mapping[str, Mapping[str, int]], token_matches: Sequence[tuple[int, int, int]] | None = None
    ) -> tuple[list[tuple[int, int, str]], list[tuple[int, int, str]]]:
        """What the ruler from the gazetteer without the counts ``own`` (one document's) proposes
        (``own`` empty: the ruler of all of it, what its ``__call__`` does)."""
        if self.ruler is None:
            return [], []
        if token_matches is None:
            token_matches = self.token_matches(doc)
        matches: list[tuple[int, int, int]] = list(token_matches) + list(self.ruler.phrase_matcher(doc))
        resolved: list[tuple[int, int, int]] = []
        orths: list[int] | None = None
        for match_id, start, end in matches:
            if match_id not in self.label_of_key:
                resolved.append((match_id, start, end))
                continue
            if orths is None:
                orths = doc.to_array("ORTH").tolist()
            phrases = self.by_tokens.get((match_id, tuple(orths[start:end])), [])
            if not any(phrase in own for phrase in phrases):
                resolved.append((match_id, start, end))
                continue
            for phrase in phrases:
                mine = own.get(phrase, {})
                label = majority({name: count - mine.get(name, 0) for name, count in self.counts[phrase].items()}, self.schema.entity_types)
                if label is not None:
                    resolved.append((self.key_of[label], start, end))
        final = sorted({(m, s, e) for m, s, e in resolved if s != e}, key=lambda m: (m[2] - m[1], -m[1]), reverse=True)
        from spacy.tokens import Span

        seen: set[int] = set()
        spans = []
        for match_id, start, end in final:
            if start not in seen and end - 1 not in seen:
                label = self.label_of_key.get(match_id) or self.ruler._ent_ids.get(match_id, (self.nlp.vocab.strings[match_id],))[0]
                spans.append(Span(doc, start, end, label=label))
                seen.update(range(start, end))
        doc.ents = spans
        ents = list(doc.ents)
        return [(e.start_char, e.end_char, e.label_) for e in ents], role_relations(doc, ents, self.schema)


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


def proposed_record(
    doc_id: str,
    text: str,
    sha: str,
    spans: Sequence[tuple[int, int, str]],
    relations: Sequence[tuple[int, int, str]],
    *,
    source: str = SOURCE,
) -> dict[str, Any]:
    """The annotation record (schema shape) of one document's proposed entities and relations."""
    order = sorted(range(len(spans)), key=lambda i: spans[i])
    ids = {index: f"P{n}" for n, index in enumerate(order, start=1)}
    return {
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
