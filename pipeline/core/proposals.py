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
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from pipeline.core.spans import AnnotationRecord

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
    phrase changes no part. ``[phrase, label, [[doc_id, label left out], ...]]`` in phrase
    order, for a cache key (the documents and their counts are in the key through the shard's gold lines).
    """
    part = []
    for phrase in sorted(phrase for phrase in counts if all(token in vocabulary for token in tokens[phrase])):
        label, lead = labels[phrase], leads[phrase]
        flipped = []
        if maxima.get(phrase, {}).get(label, 0) >= lead:  # type: ignore[call-overload]
            for doc_id, mine in documents_of(phrase):
                if mine.get(label, 0) < lead:
                    continue
                rest = {name: count - mine.get(name, 0) for name, count in counts[phrase].items()}
                other = majority(rest, entity_types)
                if other != label:
                    flipped.append([doc_id, other])
        part.append([phrase, label, flipped])
    return part


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
        """:meth:`propose` for a ``Doc`` of this pipeline's tokenizer (e.g. :func:`doc_from_tokens`)."""
        for _, component in self.nlp.pipeline:
            doc = component(doc)
        ents = list(doc.ents)
        spans = [(e.start_char, e.end_char, e.label_) for e in ents]
        return spans, role_relations(doc, ents, self.schema)


def token_words(nlp: Any, text: str, starts: Sequence[int], ends: Sequence[int]) -> tuple[list[str], list[bool]]:
    """The words and trailing spaces of the ``Doc`` that ``nlp``'s tokenizer (:func:`blank_pipeline`)
    makes of ``text``, from the tokens ingest already cut (code-point ``starts``/``ends``, whitespace
    tokens dropped): :func:`doc_from_tokens` builds the ``Doc`` of them.

    spaCy splits text at whitespace first and tokenizes each whitespace-free chunk on its own, so
    ingest's tokens of a chunk are this tokenizer's tokens unless the chunk has a hyphen (the only
    rule :func:`blank_pipeline` adds): such chunks are tokenized again, the rest taken as they are.
    Whitespace is rebuilt as spaCy does: a single space after a token is its trailing space, any
    other run of whitespace is a token of its own. Several times faster than tokenizing the text.
    """
    count = len(starts)
    words = [text[start:end] for start, end in zip(starts, ends, strict=True)]
    spaces = [False] * count
    # What goes after token k (k = -1: before the first): whitespace, beyond one trailing space.
    inserted: dict[int, str] = {}

    def gap(after: int, run: str) -> None:
        if run[0] == " " and after >= 0:
            spaces[after] = True
            run = run[1:]
        if run:
            inserted[after] = run

    if count and starts[0] > 0:
        gap(-1, text[: starts[0]])
    for k in range(count - 1):
        if starts[k + 1] != ends[k] and (starts[k + 1] - ends[k] != 1 or text[ends[k]] != " "):
            gap(k, text[ends[k] : starts[k + 1]])
        elif starts[k + 1] != ends[k]:
            spaces[k] = True
    tail = ends[-1] if count else 0
    if tail < len(text):
        gap(count - 1, text[tail:])
    # Runs of tokens with no whitespace between them that hold a hyphen, tokenized again.
    retokenized: dict[int, tuple[int, list[str]]] = {}
    if "-" in text:
        for k in [k for k, word in enumerate(words) if "-" in word]:
            if any(first <= k < last for first, (last, _) in retokenized.items()):
                continue
            first = last = k
            while first > 0 and starts[first] == ends[first - 1]:
                first -= 1
            while last + 1 < count and starts[last + 1] == ends[last]:
                last += 1
            retokenized[first] = (last + 1, _chunk_words(nlp, text[starts[first] : ends[last]]))
    if not inserted and not retokenized:
        return words, spaces
    out_words: list[str] = []
    out_spaces: list[bool] = []
    if -1 in inserted:
        out_words.append(inserted[-1])
        out_spaces.append(False)
    k = 0
    while k < count:
        if k in retokenized:
            last, pieces = retokenized[k]
            out_words.extend(pieces)
            out_spaces.extend([False] * len(pieces))
            out_spaces[-1] = spaces[last - 1]
            k = last
        else:
            out_words.append(words[k])
            out_spaces.append(spaces[k])
            k += 1
        if k - 1 in inserted:
            out_words.append(inserted[k - 1])
            out_spaces.append(False)
    return out_words, out_spaces


_CHUNKS: dict[int, dict[str, list[str]]] = {}


def _chunk_words(nlp: Any, chunk: str) -> list[str]:
    """The token texts ``nlp``'s tokenizer cuts a whitespace-free ``chunk`` into (kept per tokenizer)."""
    known = _CHUNKS.setdefault(id(nlp.tokenizer), {})
    if chunk not in known:
        if len(known) > 200_000:
            known.clear()
        known[chunk] = [token.text for token in nlp.tokenizer(chunk)]
    return known[chunk]


def doc_from_tokens(nlp: Any, text: str, starts: Sequence[int], ends: Sequence[int]) -> Any:
    """The ``Doc`` of :func:`token_words`: what ``nlp``'s tokenizer makes of ``text``, from ingest's tokens."""
    from spacy.tokens import Doc

    words, spaces = token_words(nlp, text, starts, ends)
    return Doc(nlp.vocab, words=words, spaces=spaces)


# Token attributes whose value is the lexeme's: the same for every token with the same text.
LEXICAL_ATTRIBUTES = frozenset(
    {
        "ORTH", "TEXT", "LOWER", "LENGTH", "SHAPE", "PREFIX", "SUFFIX", "IS_ALPHA", "IS_ASCII", "IS_DIGIT", "IS_LOWER",
        "IS_UPPER", "IS_TITLE", "IS_PUNCT", "IS_SPACE", "IS_STOP", "IS_BRACKET", "IS_QUOTE", "IS_LEFT_PUNCT",
        "IS_RIGHT_PUNCT", "IS_CURRENCY", "LIKE_NUM", "LIKE_URL", "LIKE_EMAIL",
    }
)  # fmt: skip


class TokenPatternFilter:
    """Where in a text a match of the token ``patterns`` (EntityRuler token patterns) can be, so
    that the ``Matcher`` runs on those stretches only, not on the whole text.

    Each token of a match is consumed by one position of its pattern, so it satisfies that
    position's token spec. For one pattern, a match therefore lies inside a run of tokens that each
    satisfy one of its specs, and that run holds a token for each of its required positions (no
    ``OP``, or ``+``). The stretches are those runs, over all patterns, merged where they overlap or
    touch. When every spec tests lexical attributes only (:data:`LEXICAL_ATTRIBUTES`), whether a
    token satisfies a spec depends on its text alone: a ``Matcher`` of the specs as one-token
    patterns decides it once per distinct text. A spec with another attribute (POS, ENT_TYPE,
    ``_``, …) or a negated one (``OP: "!"``) makes the whole text one stretch.
    """

    def __init__(self, vocab: Any, patterns: Sequence[Sequence[Mapping[str, Any]]]) -> None:
        import numpy as np
        from spacy.matcher import Matcher

        index_of: dict[str, int] = {}
        self.every = False
        self.patterns: list[tuple[list[int], list[int]]] = []
        for pattern in patterns:
            columns, required = [], []
            for spec in pattern:
                if spec.get("OP") == "!" or any(name.upper() not in LEXICAL_ATTRIBUTES for name in spec if name != "OP"):
                    self.every = True
                plain = {name: value for name, value in spec.items() if name != "OP"}
                column = index_of.setdefault(repr(sorted(plain.items())), len(index_of))
                columns.append(column)
                if spec.get("OP") in (None, "+"):
                    required.append(column)
            self.patterns.append((sorted(set(columns)), sorted(set(required))))
        self.vocab = vocab
        self.matcher = Matcher(vocab)
        for key, column in index_of.items():
            self.matcher.add(f"spec-{column}", [[eval_spec(key)]])
        self.columns = len(index_of)
        self.row_of: dict[str, int] = {}
        self.table = np.zeros((1, self.columns), dtype=bool)

    def _rows(self, words: Sequence[str]) -> Any:
        """The row of each word in :attr:`table` (word × spec: does its token satisfy the spec?);
        rows for words not seen before are added (row 0 satisfies nothing: the separator)."""
        import numpy as np

        unknown = sorted(set(words).difference(self.row_of))
        if unknown:
            from spacy.tokens import Doc

            added = np.zeros((len(unknown), self.columns), dtype=bool)
            strings = self.vocab.strings
            for match_id, start, _ in self.matcher(Doc(self.vocab, words=unknown, spaces=[True] * len(unknown))):
                added[start, int(strings[match_id].removeprefix("spec-"))] = True
            self.row_of.update((word, len(self.table) + row) for row, word in enumerate(unknown))
            self.table = np.concatenate([self.table, added])
        row_of = self.row_of
        return np.fromiter((row_of[word] for word in words), dtype=np.int64, count=len(words))

    def stretches(self, documents: Sequence[Sequence[str]]) -> list[list[tuple[int, int]]]:
        """Per document (its token texts), the stretches ``[start, end)`` a match can be in, in order."""
        import numpy as np

        if self.every:
            return [[(0, len(words))] if words else [] for words in documents]
        if not self.columns:
            return [[] for _ in documents]
        # All documents at once, with a row that satisfies nothing after each.
        firsts = np.cumsum([0] + [len(document) + 1 for document in documents])
        rows = np.zeros(int(firsts[-1]), dtype=np.int64)
        inside = np.ones(len(rows), dtype=bool)
        inside[firsts[1:] - 1] = False
        rows[inside] = self._rows([word for document in documents for word in document])
        table = self.table[rows]
        covered = np.zeros(len(rows) + 1, dtype=np.int64)
        for columns, required in self.patterns:
            candidate = table[:, columns].any(axis=1)
            edges = np.diff(np.concatenate(([0], candidate.astype(np.int8), [0])))
            starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
            keep = np.ones(len(starts), dtype=bool)
            for column in required:
                seen = np.concatenate(([0], np.cumsum(table[:, column])))
                keep &= seen[ends] > seen[starts]
            np.add.at(covered, starts[keep], 1)
            np.add.at(covered, ends[keep], -1)
        inside = np.cumsum(covered)[:-1] > 0
        edges = np.diff(np.concatenate(([0], inside.astype(np.int8), [0])))
        starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
        result: list[list[tuple[int, int]]] = [[] for _ in documents]
        owners = np.searchsorted(firsts, starts, side="right") - 1
        for owner, start, end in zip(owners.tolist(), starts.tolist(), ends.tolist(), strict=True):
            result[owner].append((start - int(firsts[owner]), end - int(firsts[owner])))
        return result


def eval_spec(key: str) -> dict[str, Any]:
    """The token spec whose ``repr(sorted(spec.items()))`` is ``key`` (:class:`TokenPatternFilter`)."""
    import ast

    return dict(ast.literal_eval(key))


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

        The ``Matcher`` runs on the stretches where a match can be (:class:`TokenPatternFilter`;
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

    def propose(
        self, doc: Any, token_matches: Sequence[tuple[int, int, int]] | None = None
    ) -> tuple[list[tuple[int, int, str]], list[tuple[int, int, str]]]:
        """:meth:`Proposer.propose` for a ``Doc`` of :attr:`nlp`'s tokenizer (:func:`doc_from_tokens`);
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
