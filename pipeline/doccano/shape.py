"""doccano's JSON shape of spans and relations: the one writer of it, pure (no I/O, no doccano client).

Sequence labelling with relations (doccano >= 1.6), as doccano imports and exports it::

    "entities": [{"id", "start_offset", "end_offset", "label"}]
    "relations": [{"id", "from_id", "to_id", "type"}]

Both the exporter (:mod:`pipeline.formats.doccano`, files for doccano or other tools) and push/pull
(:mod:`pipeline.doccano.convert`, lines for the server) build their lines from here. It lives with
doccano because it is doccano's format; it imports only :mod:`pipeline.core.text`, so a format may
import it without pulling in the client, the server or its HTTP libraries.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pipeline.core.text import codepoint_to_utf16

Span = tuple[int, int, int, str]
"""``(doccano id, start, end, label)``, offsets in code points."""
Link = tuple[int, int, int, str]
"""``(doccano id, from id, to id, label)``: a relation between the doccano ids of two spans."""


def entity(number: int, start: int, end: int, label: str) -> dict[str, Any]:
    return {"id": number, "start_offset": start, "end_offset": end, "label": label}


def relation(number: int, from_id: int, to_id: int, label: str) -> dict[str, Any]:
    return {"id": number, "from_id": from_id, "to_id": to_id, "type": label}


def annotations(
    text: str, spans: Sequence[Span], links: Sequence[Link], *, utf16: bool = True
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The ``entities`` and ``relations`` of one line, in the given order. Offsets become UTF-16
    code units of ``text`` (what doccano's editor counts, with grapheme mode off) unless ``utf16``
    is false, when they stay code points."""
    edges = [edge for _, start, end, _ in spans for edge in (start, end)]
    if utf16:
        edges = codepoint_to_utf16(text, edges)
    entities = [entity(number, edges[2 * i], edges[2 * i + 1], label) for i, (number, _, _, label) in enumerate(spans)]
    relations = [relation(*link) for link in links]
    return entities, relations
