"""Where a match of EntityRuler token patterns can be: the stretches of a text the spaCy
``Matcher`` needs to run on (:class:`TokenPatternFilter`), so that hand patterns whose token
predicates (REGEX, IN, IS_TITLE …) would be tried at every token are tried only where they can match.

Pure: token texts in, stretches out (spaCy's ``Matcher`` decides which texts satisfy a spec).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

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
        specs: list[dict[str, Any]] = []
        self.every = False
        self.patterns: list[tuple[list[int], list[int]]] = []
        for pattern in patterns:
            columns, required = [], []
            for spec in pattern:
                if spec.get("OP") == "!" or any(name.upper() not in LEXICAL_ATTRIBUTES for name in spec if name != "OP"):
                    self.every = True
                plain = {name: value for name, value in spec.items() if name != "OP"}
                column = index_of.setdefault(repr(sorted(plain.items())), len(index_of))
                if column == len(specs):
                    specs.append(plain)
                columns.append(column)
                if spec.get("OP") in (None, "+"):
                    required.append(column)
            self.patterns.append((sorted(set(columns)), sorted(set(required))))
        self.vocab = vocab
        self.matcher = Matcher(vocab)
        for column, spec in enumerate(specs):
            self.matcher.add(f"spec-{column}", [[spec]])
        self.columns = len(specs)
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
