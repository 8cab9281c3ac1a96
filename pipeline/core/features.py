"""The columns of the training views (``ner``, ``re``), declared once, and every description of
them derived from that declaration.

A view is a tuple of :class:`Column` s: a name, a kind (a single value, a sequence of values, a
sequence of class ids, a struct of columns, or a list of such structs) and the dtype of its values. From it come

* :func:`arrow_schema`: the Arrow schema of the view's table (``pipeline.io.tables`` publishes it
  as ``tables.SCHEMAS["ner"]`` / ``["re"]``);
* :func:`hf_features`: the Hugging Face ``datasets`` features as a plain dict, the form
  ``datasets.Features.to_dict`` gives and ``from_dict`` reads, which the ``ner`` files carry in
  their Parquet metadata (``pipeline.io.tables.huggingface_metadata``);
* :func:`card_features`: the ``dataset_info.features`` list of the dataset card's YAML header.

The class names of a class-id sequence are not part of the declaration: they are the label
schema's BIO labels (``LabelSchema.bio_labels``, or ``bio_labels`` of the label schema stored in
``manifest.json``), handed to the functions that need them. Dtypes are the names that pyarrow
(``pa.type_for_alias``) and ``datasets.Value`` both use. Pure: touches no files.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

VALUE = "value"
SEQUENCE = "sequence"
CLASS_LABELS = "class_labels"
STRUCT = "struct"
STRUCT_LIST = "struct_list"
KINDS = (VALUE, SEQUENCE, CLASS_LABELS, STRUCT, STRUCT_LIST)

CLASS_ID_DTYPE = "int64"
"""How a class id is stored: the storage type of ``datasets.ClassLabel``."""


@dataclass(frozen=True)
class Column:
    """One column of a view. ``dtype`` is the type of the value (``VALUE``) or of each element
    (``SEQUENCE``, ``CLASS_LABELS``); a ``STRUCT`` (and a ``STRUCT_LIST``, a list of such structs)
    has ``fields`` instead."""

    name: str
    kind: str
    dtype: str | None = None
    fields: tuple[Column, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"column {self.name!r}: kind {self.kind!r} is not one of {list(KINDS)}")
        is_struct = self.kind in (STRUCT, STRUCT_LIST)
        if is_struct != bool(self.fields) or is_struct == (self.dtype is not None):
            raise ValueError(
                f"column {self.name!r}: a {STRUCT} has fields and no dtype (so has a {STRUCT_LIST}), every other kind a dtype and no fields"
            )


def value(name: str, dtype: str) -> Column:
    return Column(name, VALUE, dtype)


def sequence(name: str, dtype: str) -> Column:
    return Column(name, SEQUENCE, dtype)


def class_labels(name: str) -> Column:
    """A sequence of ids into the label schema's BIO labels."""
    return Column(name, CLASS_LABELS, CLASS_ID_DTYPE)


def struct(name: str, fields: Sequence[Column]) -> Column:
    return Column(name, STRUCT, fields=tuple(fields))


def struct_list(name: str, fields: Sequence[Column]) -> Column:
    """A list of structs (``datasets``: ``List({...})``, each element a dict)."""
    return Column(name, STRUCT_LIST, fields=tuple(fields))


SPAN = (value("start", "int64"), value("end", "int64"), value("label", "string"))
"""An entity in the ``ner`` view's ``spans``: ``[start, end)`` in token indices of the row's
``tokens`` (end exclusive) and its label."""


@dataclass(frozen=True)
class View:
    """A training view's columns, in stored order. ``declares_features``: its Parquet files carry
    the ``datasets`` features and the dataset card lists them. ``ner`` does, because ``datasets``
    cannot tell from the Arrow types that ``ner_tags`` are class ids with names; ``re`` does not,
    since ``datasets`` infers every one of its columns from the Arrow types as it is."""

    name: str
    columns: tuple[Column, ...]
    declares_features: bool


NER = View(
    "ner",
    (
        value("id", "string"),
        value("doc_id", "string"),
        value("sent_idx", "int32"),
        sequence("tokens", "string"),
        class_labels("ner_tags"),
        sequence("ner_labels", "string"),
        sequence("token_starts", "int64"),
        sequence("token_ends", "int64"),
        class_labels("ner_tags_inner"),
        struct_list("spans", SPAN),
        value("split", "string"),
    ),
    declares_features=True,
)
"""One row per sentence: its tokens, BIO tags as class ids and as strings, token offsets, the
BIO tags of the next nesting level (level 1, GermEval's inner column; the same class names) and
every entity of every level as a token span (what nested-NER and span-classification models read)."""

ARGUMENT = (value("id", "string"), value("start", "int64"), value("end", "int64"), value("text", "string"), value("label", "string"))
"""A relation argument in the ``re`` view (offsets relative to the row's ``text``)."""

RE = View(
    "re",
    (
        value("id", "string"),
        value("doc_id", "string"),
        value("rel_id", "string"),
        value("text", "string"),
        value("window_start", "int64"),
        struct("head", ARGUMENT),
        struct("tail", ARGUMENT),
        value("label", "string"),
        value("split", "string"),
    ),
    declares_features=False,
)
"""One row per relation candidate: the sentence window, both arguments, the label."""

VIEWS: dict[str, View] = {"ner": NER, "re": RE}


# --------------------------------------------------------------------------- Arrow


def arrow_schema(view: View) -> pa.Schema:
    """The Arrow schema of ``view``'s table: its columns in order, every field nullable."""
    return pa.schema([(column.name, _arrow_type(column)) for column in view.columns])


def _arrow_type(column: Column) -> pa.DataType:
    if column.kind == STRUCT:
        return pa.struct([(field.name, _arrow_type(field)) for field in column.fields])
    if column.kind == STRUCT_LIST:
        return pa.list_(pa.struct([(field.name, _arrow_type(field)) for field in column.fields]))
    element = pa.type_for_alias(column.dtype)
    return element if column.kind == VALUE else pa.list_(element)


# --------------------------------------------------------------------------- datasets


def hf_features(view: View, bio_labels: Sequence[str]) -> dict[str, Any]:
    """``view``'s ``datasets`` features as a dict (``datasets.Features.from_dict`` reads it),
    a class-id sequence as ``Sequence(ClassLabel(names=bio_labels))``."""
    return {column.name: _hf_feature(column, bio_labels) for column in view.columns}


def _hf_feature(column: Column, bio_labels: Sequence[str]) -> dict[str, Any]:
    if column.kind == VALUE:
        return {"dtype": column.dtype, "_type": "Value"}
    if column.kind == SEQUENCE:
        return {"feature": {"dtype": column.dtype, "_type": "Value"}, "_type": "Sequence"}
    if column.kind == CLASS_LABELS:
        return {"feature": {"names": list(bio_labels), "_type": "ClassLabel"}, "_type": "Sequence"}
    if column.kind == STRUCT_LIST:
        # "List", not "Sequence": a Sequence of a dict is a dict of lists to ``datasets``
        return {"feature": {field.name: _hf_feature(field, bio_labels) for field in column.fields}, "_type": "List"}
    return {field.name: _hf_feature(field, bio_labels) for field in column.fields}


# --------------------------------------------------------------------------- dataset card


def card_features(view: View, bio_labels: Sequence[str]) -> list[dict[str, Any]]:
    """``view``'s entry ``features`` in the dataset card's ``dataset_info`` (the Hugging Face
    card format: ``dtype``, ``sequence``, ``class_label`` with names by id, ``struct``)."""
    return _card_columns(view.columns, bio_labels)


def _card_columns(columns: Sequence[Column], bio_labels: Sequence[str]) -> list[dict[str, Any]]:
    return [{"name": column.name, **_card_type(column, bio_labels)} for column in columns]


def _card_type(column: Column, bio_labels: Sequence[str]) -> dict[str, Any]:
    if column.kind == VALUE:
        return {"dtype": column.dtype}
    if column.kind == SEQUENCE:
        return {"sequence": column.dtype}
    if column.kind == CLASS_LABELS:
        return {"sequence": {"class_label": {"names": {str(i): name for i, name in enumerate(bio_labels)}}}}
    if column.kind == STRUCT_LIST:
        return {"list": _card_columns(column.fields, bio_labels)}
    return {"struct": _card_columns(column.fields, bio_labels)}
