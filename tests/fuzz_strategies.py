"""Hypothesis strategies for fuzzing the input readers: arbitrary bytes and arbitrary JSON values
per line, with the characters that break readers (lone surrogates, controls, non-characters,
BOM, CR) made likely rather than left to chance (imported by name, like ``repo_helpers``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from hypothesis import strategies as st

AWKWARD = "\ud800\udfff\udcff\x00\x01\x08\x0c\x1f\x7f\x84\x9f\ufdd0\ufffe\uffff\U0010ffff\U0001fffe\ufeff\r\n\t \u2028\u0301 äß🙂"
# Any code point (no category excluded: surrogates too), the awkward ones densely, or plain text.
strings = st.one_of(
    st.text(alphabet=st.characters(exclude_categories=()), max_size=30),
    st.text(alphabet=st.sampled_from(AWKWARD), max_size=12),
    st.text(alphabet=st.sampled_from("Kim traf Moon. \n"), min_size=1, max_size=30),
)
# Ids the schemas accept, so that some lines reach the readers behind the schema check.
ids = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9_.:-]{0,8}\Z") | strings

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | strings,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(strings, children, max_size=4),
    max_leaves=12,
)


def strings_in(value: Any) -> Iterator[str]:
    """Every string in a JSON value, keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)


def encode_line(value: Any, ascii_only: bool) -> bytes:
    """``value`` as one JSON line; unescaped lone surrogates become the (invalid) bytes that
    "surrogatepass" writes, as a careless writer would produce."""
    return json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


def json_lines(objects: st.SearchStrategy[Any]) -> st.SearchStrategy[bytes]:
    """A file's bytes: lines of ``objects`` (mostly, and mostly with ``\\u`` escapes, the only way a
    lone surrogate gets past UTF-8 decoding) or of any JSON value."""
    line = st.one_of(
        st.builds(encode_line, objects, st.just(True)),
        st.builds(encode_line, objects, st.just(True)),
        st.builds(encode_line, objects, st.just(False)),
        st.builds(encode_line, json_values, st.booleans()),
    )
    return files_of(line)


def byte_lines() -> st.SearchStrategy[bytes]:
    """A file's bytes: lines of arbitrary bytes."""
    return files_of(st.binary(max_size=40))


def files_of(line: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    return st.builds(
        lambda bom, items, end: (b"\xef\xbb\xbf" if bom else b"") + end.join(items),
        st.booleans(),
        st.lists(line, min_size=1, max_size=4),
        st.sampled_from([b"\n", b"\r\n"]),
    )
