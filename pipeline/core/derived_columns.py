"""The derived columns the table suites check (``schemas/expectations.yaml``) and the values of the
suites' ``$`` placeholders.

GX checks one column, or a pair, at a time; what a row must satisfy against other rows or other
tables (its document's length, that its document or the relation's head exists, the previous tag
in the sentence, the tag the entity table implies) is computed here as plain columns first.
``validate`` reads the tables and runs the suites; this module only turns frames into frames.

Pure pandas/numpy (and pyarrow for the list columns of the ``ner`` view): no files. String key columns become pandas categoricals (in place), so a value
per document is computed once per distinct ``doc_id``, not once per row.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.core.labels import LabelSchema

KEY_SEPARATOR = "\x1f"
"""Joins ``doc_id`` and an entity id into one key: the ASCII unit separator, which the id patterns of
``schemas/*.schema.json`` exclude."""

NO_RELATION = "no_relation"
"""The ``re`` view's negative label: the value of ``$relation_labels`` besides the schema's types."""

DERIVED_FROM = {
    "tokens": {"doc_id", "sent_idx", "start", "ner_tag"},
    "entities": {"doc_id", "ent_id", "start", "end", "label", "level", "parent"},
    "relations": {"doc_id", "head", "tail"},
    "sentences": {"doc_id"},
    "ner": {"doc_id", "ner_tags", "ner_tags_inner", "spans"},
    "re": {"doc_id"},
}
"""The stored columns :func:`derive_columns` reads, per table (besides the documents table)."""


def bio_transitions(schema: LabelSchema) -> list[tuple[str, str]]:
    """Allowed (previous tag, tag) pairs inside one sentence: I-X only after B-X or I-X."""
    labels = schema.bio_labels
    pairs = []
    for previous in labels:
        for tag in labels:
            if tag.startswith("I-") and previous[2:] != tag[2:]:
                continue
            pairs.append((previous, tag))
    return pairs


def substitutions(schema: LabelSchema, splits: Sequence[str]) -> dict[str, Any]:
    """The values of the ``$`` placeholders in ``schemas/expectations.yaml``."""
    return {
        "$entity_types": list(schema.entity_types),
        "$relation_types": list(schema.relation_names),
        "$relation_labels": list(schema.relation_names) + [NO_RELATION],
        "$bio_labels": list(schema.bio_labels),
        "$bio_transitions": [f"{previous} {tag}" for previous, tag in bio_transitions(schema)],
        "$splits": list(splits),
    }


def _category(frame: pd.DataFrame, column: str) -> pd.Series:
    """The column as a pandas categorical (converted in place when it is not one already)."""
    if not isinstance(frame[column].dtype, pd.CategoricalDtype):
        frame[column] = frame[column].astype("category")
    return frame[column]


def _codes(series: pd.Series) -> np.ndarray:
    return series.cat.codes.to_numpy().astype(np.int64)


def _per_document(frame: pd.DataFrame, per_category: np.ndarray, missing: Any) -> np.ndarray:
    """Spread a value per ``doc_id`` category over the rows (``missing`` for a null ``doc_id``)."""
    return np.append(per_category, np.array([missing], dtype=per_category.dtype))[_codes(_category(frame, "doc_id"))]


def expected_tags(tokens: pd.DataFrame, entities: pd.DataFrame) -> pd.Categorical:
    """The tag each token should carry according to the entity table, vectorised.

    A deliberate, independent re-derivation of BIO, not a call of the encoder that built
    ``tokens.ner_tag`` (``pipeline.core.bio.tagged_entities``/``bio_tags``): the suite's check
    ``ner_tag == expected_tag`` exists to catch a bug in that encoder (or tokens and entities that
    disagree), and a check that ran the same code would agree with any such bug. So the rule is
    the same — entities in order of start (longest first), each one overlapping an earlier entity
    of its document is not tagged — but the algorithm is another one (sorted arrays and
    ``searchsorted`` over all documents at once, not a loop per entity and document).

    Returns a categorical whose categories extend those of ``tokens.ner_tag`` (made a categorical,
    its categories widened in place), so that the two compare.
    """
    tag_column = _category(tokens, "ner_tag")
    categories = list(tag_column.cat.categories)
    position = {tag: index for index, tag in enumerate(categories)}

    def code(tag: str) -> int:
        if tag not in position:
            position[tag] = len(categories)
            categories.append(tag)
        return position[tag]

    outside = code("O")
    result = np.full(len(tokens), outside, dtype=np.int64)
    if len(entities) and len(tokens):
        # The entities' documents as codes of the tokens' doc_id categories; -1: no such tokens.
        token_docs = _codes(_category(tokens, "doc_id"))
        entity_doc = _category(entities, "doc_id")
        to_token_code = np.append(tokens["doc_id"].cat.categories.get_indexer(entity_doc.cat.categories), -1)
        docs = to_token_code[_codes(entity_doc)]
        starts = entities["start"].to_numpy(np.int64)
        ends = entities["end"].to_numpy(np.int64)
        label = _category(entities, "label")
        label_codes = _codes(label)
        begin_of = np.array([code(f"B-{name}") for name in label.cat.categories] + [-1], dtype=np.int64)
        inside_of = np.array([code(f"I-{name}") for name in label.cat.categories] + [-1], dtype=np.int64)
        keep = docs >= 0
        docs, starts, ends, label_codes = docs[keep], starts[keep], ends[keep], label_codes[keep]
        order = np.lexsort((-ends, starts, docs))  # stable: by document, start, longest first
        docs, starts, ends, label_codes = docs[order], starts[order], ends[order], label_codes[order]
        # Drop an entity that starts before the furthest end of an earlier one of its document.
        frame = pd.DataFrame({"doc": docs, "end": ends})
        reach = frame.groupby("doc", sort=False)["end"].cummax().groupby(frame["doc"], sort=False).shift(1)
        kept = reach.isna().to_numpy() | (starts >= reach.fillna(-1).to_numpy())
        docs, starts, ends, label_codes = docs[kept], starts[kept], ends[kept], label_codes[kept]
        scale = np.int64(1) << np.int64(40)
        token_keys = token_docs * scale + tokens["start"].to_numpy(np.int64)
        ent_starts = docs * scale + starts
        ent_ends = docs * scale + ends
        index = np.searchsorted(ent_starts, token_keys, side="right") - 1
        safe = index.clip(0)
        inside = (index >= 0) & (token_keys < ent_ends[safe]) & (token_docs >= 0)
        begins = token_keys == ent_starts[safe]
        tag_codes = np.where(begins, begin_of[label_codes[safe]], inside_of[label_codes[safe]])
        result[inside] = tag_codes[inside]
    tokens["ner_tag"] = tag_column.cat.set_categories(categories)
    return pd.Categorical.from_codes(result, categories=pd.Index(categories, dtype=tokens["ner_tag"].cat.categories.dtype))


def bio_transition_column(tokens: pd.DataFrame) -> pd.Series:
    """``"<previous tag in the sentence, O at its start> <tag>"`` per token, as a categorical."""
    tags = _category(tokens, "ner_tag")
    categories = list(tags.cat.categories)
    if "O" not in categories:
        categories.append("O")
    names = [f"{previous} {tag}" for previous in categories for tag in categories]
    if len(set(names)) != len(names):  # tags with spaces: fall back to the plain strings
        plain = tags.astype("str")
        docs = tokens["doc_id"]
        start = (docs != docs.shift(1)) | (tokens["sent_idx"] != tokens["sent_idx"].shift(1))
        return plain.shift(1, fill_value="O").where(~start, "O") + " " + plain
    codes = _codes(tags)
    docs = _codes(_category(tokens, "doc_id"))
    sentences = tokens["sent_idx"].to_numpy()
    start = np.ones(len(tokens), dtype=bool)
    start[1:] = (docs[1:] != docs[:-1]) | (sentences[1:] != sentences[:-1])
    start |= docs < 0  # a null doc_id never equals the previous one
    outside = categories.index("O")
    previous = np.empty(len(tokens), dtype=np.int64)
    previous[:1] = outside
    previous[1:] = codes[:-1]
    previous[start] = outside
    width = len(categories)
    transition = previous * width + codes
    transition[(previous < 0) | (codes < 0)] = -1
    return pd.Series(pd.Categorical.from_codes(transition, categories=pd.Index(names, dtype=tags.cat.categories.dtype)), index=tokens.index)


def expected_nesting(entities: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Each entity's level and parent (``None`` at level 0) as the entity table implies them.

    A deliberate, independent re-derivation of ``pipeline.core.spans.nesting`` (which built
    ``entities.level``/``parent``): the same rule — the parent is the smallest entity of the
    document enclosing the span (of two identical spans the one with the smaller ``ent_id``
    encloses the other; among equally long enclosing entities the one starting last, then the
    larger ``ent_id``), the level is the parent's plus one — by another algorithm: a self-join of
    the entities per document, not a sweep over sorted spans.
    """
    count = len(entities)
    parents = np.full(count, -1, dtype=np.int64)
    if count:
        frame = pd.DataFrame(
            {
                "doc": _codes(_category(entities, "doc_id")),
                "id": entities["ent_id"].astype("str").to_numpy(),
                "start": entities["start"].to_numpy(np.int64),
                "end": entities["end"].to_numpy(np.int64),
                "row": np.arange(count),
            }
        )
        # Only an entity that some entity before it (by document, start, longest first) reaches
        # past can be enclosed; only those are joined with their document's entities.
        ordered = frame.sort_values(["doc", "start", "end", "id"], ascending=[True, True, False, True])
        reach = ordered.groupby("doc", sort=False)["end"].cummax().groupby(ordered["doc"], sort=False).shift(1)
        maybe = ordered[(reach >= ordered["end"]).to_numpy()]
        if len(maybe):
            pairs = maybe.merge(frame[frame["doc"].isin(maybe["doc"].unique())], on="doc", suffixes=("", "_c"))
            encloses = (pairs["start_c"] <= pairs["start"]) & (pairs["end"] <= pairs["end_c"]) & (pairs["row"] != pairs["row_c"])
            identical = (pairs["start_c"] == pairs["start"]) & (pairs["end_c"] == pairs["end"])
            pairs = pairs[encloses & (~identical | (pairs["id_c"] < pairs["id"]))].copy()
            pairs["length_c"] = pairs["end_c"] - pairs["start_c"]
            pairs = pairs.sort_values(["row", "length_c", "start_c", "id_c"], ascending=[True, True, False, False])
            best = pairs.drop_duplicates("row")
            parents[best["row"].to_numpy()] = best["row_c"].to_numpy()
    levels = np.zeros(count, dtype=np.int64)
    for _ in range(count):  # the level is the length of the parent chain
        updated = np.where(parents >= 0, levels[parents.clip(0)] + 1, 0)
        if np.array_equal(updated, levels):
            break
        levels = updated
    ids = entities["ent_id"].astype("object").to_numpy() if count else np.array([], dtype=object)
    parent_ids = np.where(parents >= 0, ids[parents.clip(0)] if count else ids, None).astype(object)
    return levels, parent_ids


def _arrow_lists(column: pd.Series) -> pa.Array:
    """A column of lists as one Arrow list array: zero-copy when it is Arrow-backed
    (``validate`` reads list columns so), converted otherwise."""
    array = pa.array(column.array) if isinstance(column.dtype, pd.ArrowDtype) else pa.array(list(column.to_numpy()))
    return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array


def _list_lengths(array: pa.Array) -> np.ndarray:
    return pc.fill_null(pc.list_value_length(array), 0).to_numpy(zero_copy_only=False).astype(np.int64)


def bio_well_formed(tag_lists: pd.Series, bio_labels: Sequence[str]) -> np.ndarray:
    """Per row of class-id lists: every id is a BIO label and every ``I-X`` follows ``B-X`` or ``I-X``."""
    rows_count = len(tag_lists)
    if not rows_count:
        return np.zeros(0, dtype=bool)
    outside, begin, inside_kind, unknown = 0, 1, 2, 3
    kinds = np.array(
        [{"B": begin, "I": inside_kind}.get(label[:1], outside) if label != "O" else outside for label in bio_labels] + [unknown]
    )
    type_names = sorted({label[2:] for label in bio_labels})
    types = np.array([type_names.index(label[2:]) for label in bio_labels] + [-1])
    array = _arrow_lists(tag_lists)
    lengths = _list_lengths(array)
    if not lengths.sum():
        return np.ones(rows_count, dtype=bool)
    flat = pc.list_flatten(array).to_numpy(zero_copy_only=False).astype(np.int64)
    rows = pc.list_parent_indices(array).to_numpy(zero_copy_only=False)
    flat = np.where((flat >= 0) & (flat < len(bio_labels)), flat, len(bio_labels))
    previous = np.empty_like(flat)
    previous[0] = 0
    previous[1:] = flat[:-1]
    first = np.ones(len(flat), dtype=bool)
    first[1:] = rows[1:] != rows[:-1]
    previous[first] = 0  # O before the first token of a row
    kind, previous_kind = kinds[flat], kinds[previous]
    continues = ((previous_kind == begin) | (previous_kind == inside_kind)) & (types[previous] == types[flat])
    bad = (kind == unknown) | ((kind == inside_kind) & ~continues)
    return np.bincount(rows, weights=bad, minlength=rows_count) == 0


def _spans_valid(frame: pd.DataFrame) -> np.ndarray:
    """Per ``ner`` row: every span is a non-empty token range of the row with a label."""
    rows_count = len(frame)
    lengths = _list_lengths(_arrow_lists(frame["ner_tags"]))
    spans = _arrow_lists(frame["spans"])
    flat = pc.list_flatten(spans)
    if not len(flat):
        return np.ones(rows_count, dtype=bool)
    rows = pc.list_parent_indices(spans).to_numpy(zero_copy_only=False)
    starts = pc.fill_null(flat.field("start"), -1).to_numpy(zero_copy_only=False)
    ends = pc.fill_null(flat.field("end"), -1).to_numpy(zero_copy_only=False)
    labelled = pc.fill_null(pc.greater(pc.utf8_length(flat.field("label")), 0), False).to_numpy(zero_copy_only=False)
    bad = ~((starts >= 0) & (starts < ends) & (ends <= lengths[rows]) & labelled)
    return np.bincount(rows, weights=bad, minlength=rows_count) == 0


def _length(value: Any) -> int:
    return -1 if value is None or value != value else int(value)  # unknown document (or no length): -1


def derive_columns(frames: dict[str, pd.DataFrame], known_docs: pd.Series | None = None, bio_labels: Sequence[str] = ()) -> None:
    """Add the derived columns the expectation suites refer to (see schemas/expectations.yaml).

    ``frames`` holds ``documents`` (with ``doc_length`` or ``text``) and the tables of
    :data:`DERIVED_FROM`; ``known_docs`` are all document ids of the corpus (the frames may hold a
    chunk of it); ``bio_labels`` the label schema's, the names of the ``ner`` view's class ids.
    Turns ``doc_id`` (and the tag and label columns) into categoricals: the derived columns are
    computed once per distinct document, not once per row.
    """
    documents = frames["documents"]
    if "doc_length" not in documents:
        documents["doc_length"] = documents["text"].str.len()
    lengths = dict(zip(documents["doc_id"].tolist(), documents["doc_length"].tolist(), strict=True))  # the last of a repeated id
    known = set(documents["doc_id"].tolist() if known_docs is None else known_docs.tolist())
    for name in ("sentences", "tokens", "entities", "relations", "ner", "re"):
        frame = frames[name]
        categories = _category(frame, "doc_id").cat.categories.tolist()
        if name in ("sentences", "tokens", "entities"):
            per_doc = np.array([_length(lengths.get(doc)) for doc in categories], dtype=np.int64)
            frame["doc_length"] = _per_document(frame, per_doc, -1)
        frame["doc_known"] = _per_document(frame, np.array([doc in known for doc in categories], dtype=bool), False)
    entities = frames["entities"]
    relations = frames["relations"]
    if len(relations):
        related = entities[entities["doc_id"].isin(relations["doc_id"].astype("str").unique())]
        entity_keys = pd.Index(related["doc_id"].astype("str") + KEY_SEPARATOR + related["ent_id"].astype("str"))
        relation_docs = relations["doc_id"].astype("str") + KEY_SEPARATOR
        relations["head_known"] = (relation_docs + relations["head"].astype("str")).isin(entity_keys)
        relations["tail_known"] = (relation_docs + relations["tail"].astype("str")).isin(entity_keys)
    else:
        relations["head_known"] = np.zeros(0, dtype=bool)
        relations["tail_known"] = np.zeros(0, dtype=bool)
    levels, parents = expected_nesting(entities)
    entities["expected_level"] = levels
    stored, expected = pd.Series(entities["parent"].to_numpy(), dtype=object), pd.Series(parents, dtype=object)
    entities["parent_consistent"] = ((stored.isna() & expected.isna()) | (stored == expected)).to_numpy(dtype=bool)
    ner = frames["ner"]
    if len(ner):
        # the outermost level's BIO is checked on the tokens table (bio_transition, expected_tag)
        ner["bio_levels_valid"] = bio_well_formed(ner["ner_tags_inner"], bio_labels) & (
            _list_lengths(_arrow_lists(ner["ner_tags"])) == _list_lengths(_arrow_lists(ner["ner_tags_inner"]))
        )
        ner["spans_valid"] = _spans_valid(ner)
    else:
        ner["bio_levels_valid"] = np.zeros(0, dtype=bool)
        ner["spans_valid"] = np.zeros(0, dtype=bool)
    tokens = frames["tokens"]
    expected = expected_tags(tokens, entities)  # also widens ner_tag's categories to compare
    tokens["expected_tag"] = expected
    tokens["bio_transition"] = bio_transition_column(tokens)
