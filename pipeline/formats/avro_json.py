"""JSON values of a text file, and the Avro JSON encoding of a record type decided by its ``.avsc``.

:func:`json_values` reads every JSON value of a text, separated by any whitespace (one per line,
as JSONL has it, or pretty-printed over many lines, as the Avro JSON encoding of SmartData v3 is
distributed), each with the line it starts on.

:class:`AvroRecordType` is one record type of an Avro schema file (``.avsc``: a schema or a list
of named schemas, as DFKI's ``mobie-document.avsc``). :meth:`AvroRecordType.decode` reads a JSON
value in the Avro JSON encoding of that type (a union value wrapped as ``{"string": …}`` /
``{"array": […]}``, named types by full name) with ``fastavro``'s JSON reader, so that which value
is a wrapped union and which a plain object is decided by the schema, not guessed from the data.
A value that is not in that encoding (plain JSON, as MobIE's JSONL writes unions unwrapped) raises
:class:`NotAvroJson`, and the caller reads it as plain JSON.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

NAMED = ("record", "enum", "fixed")


class NotAvroJson(ValueError):
    """The value is not the Avro JSON encoding of the record type."""


def json_values(text: str) -> Iterator[tuple[int, Any]]:
    """(line number, value) for every JSON value in ``text``, separated by any whitespace.

    ``json.JSONDecodeError`` (with ``lineno``/``colno`` into ``text``) when one does not parse.
    """
    decoder = json.JSONDecoder()
    position = 0
    length = len(text)
    line, counted = 1, 0  # newlines counted up to `counted`, so the whole file is scanned once
    while True:
        while position < length and text[position] in " \t\r\n\ufeff":
            position += 1
        if position >= length:
            return
        value, end = decoder.raw_decode(text, position)
        line += text.count("\n", counted, position)
        counted = position
        yield line, value
        position = end


def _fullname(schema: dict[str, Any], namespace: str | None) -> str:
    name = schema["name"]
    space = schema.get("namespace", namespace)
    return name if "." in name or not space else f"{space}.{name}"


class AvroRecordType:
    """One named record type of an ``.avsc`` file, as a standalone schema ``fastavro`` parses."""

    def __init__(self, path: Path, name: str) -> None:
        import fastavro

        self.path = path
        self.name = name
        self._defs: dict[str, tuple[dict[str, Any], str | None]] = {}
        self._collect(json.loads(path.read_text(encoding="utf-8")), None)
        matches = [full for full in self._defs if full == name or full.rpartition(".")[2] == name]
        if len(matches) != 1:
            raise ValueError(f"{path}: {'no' if not matches else 'more than one'} record type named {name!r} ({sorted(self._defs)})")
        self.fullname = matches[0]
        self._seen: set[str] = set()
        self.schema = fastavro.parse_schema(self._inline(self.fullname, None))

    def _collect(self, schema: Any, namespace: str | None) -> None:
        if isinstance(schema, list):
            for item in schema:
                self._collect(item, namespace)
        elif isinstance(schema, dict):
            kind = schema.get("type")
            if kind in NAMED and "name" in schema:
                full = _fullname(schema, namespace)
                space = full.rpartition(".")[0] or None
                self._defs[full] = (schema, space)
                for field in schema.get("fields", []):
                    self._collect(field["type"], space)
            elif kind == "array":
                self._collect(schema["items"], namespace)
            elif kind == "map":
                self._collect(schema["values"], namespace)
            elif isinstance(kind, (dict, list)):
                self._collect(kind, namespace)

    def _inline(self, schema: Any, namespace: str | None) -> Any:
        """The schema with every named type defined where it is first used (``fastavro`` needs
        a standalone schema; the ``.avsc`` defines the types one after another)."""
        if isinstance(schema, str):
            name = schema if schema in self._defs else f"{namespace}.{schema}" if namespace else schema
            if name not in self._defs:
                return schema
            if name in self._seen:
                return name
            self._seen.add(name)
            definition, space = self._defs[name]
            inlined = {key: value for key, value in definition.items() if key != "namespace"} | {"name": name}
            if "fields" in definition:
                inlined["fields"] = [{**field, "type": self._inline(field["type"], space)} for field in definition["fields"]]
            return inlined
        if isinstance(schema, list):
            return [self._inline(item, namespace) for item in schema]
        if isinstance(schema, dict):
            kind = schema.get("type")
            if kind in NAMED and "name" in schema:
                return self._inline(_fullname(schema, namespace), namespace)
            if kind == "array":
                return {**schema, "items": self._inline(schema["items"], namespace)}
            if kind == "map":
                return {**schema, "values": self._inline(schema["values"], namespace)}
            if isinstance(kind, (dict, list, str)) and kind not in NAMED:
                return {**schema, "type": self._inline(kind, namespace)}
        return schema

    def decode(self, value: Any) -> dict[str, Any]:
        """``value`` (one parsed JSON value) decoded as the Avro JSON encoding of this type:
        union values unwrapped, defaults filled in. :class:`NotAvroJson` when it is not one."""
        import fastavro

        try:
            (record,) = list(fastavro.json_reader(io.StringIO(json.dumps(value) + "\n"), self.schema))
        except Exception as error:  # fastavro raises many kinds for a value of another shape
            raise NotAvroJson(f"not the Avro JSON encoding of {self.fullname}: {type(error).__name__}: {error}") from None
        return record

    def encode(self, record: dict[str, Any]) -> str:
        """``record`` in the Avro JSON encoding of this type (one line)."""
        import fastavro

        out = io.StringIO()
        fastavro.json_writer(out, self.schema, [record])
        return out.getvalue().strip()
