"""Ids of imported documents, entities and relations, and the name of an import.

A source's ids are kept where they are valid ids, else sanitised, shortened with a hash or
generated. What is valid is what ``schemas/`` says (:func:`pipeline.io.schemas.id_rules`), so the
importers cannot drift from the schemas that ingest and annotate check against.
"""

from __future__ import annotations

import hashlib
import re

from pipeline.formats import ImportFailed
from pipeline.io.schemas import IdField

#: An import name becomes a file name, a layer (``imported/<name>``) and a source (``imported:<name>``).
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def sanitise_id(raw: str, *, doc: bool = False) -> str:
    """``raw`` with every character outside ``[A-Za-z0-9_.:-]`` replaced by ``_``; a document id
    also gets a leading ``x`` when it would not start with a letter or digit."""
    cleaned = re.sub(r"[^A-Za-z0-9_.:-]", "_", raw)
    if doc and not re.match(r"[A-Za-z0-9]", cleaned[:1]):
        cleaned = "x" + cleaned
    return cleaned


def check_name(name: str) -> str:
    """An import name becomes a file name, a layer and ``imported:<name>``: keep it plain."""
    if not NAME_PATTERN.match(name):
        raise ImportFailed(f"--name {name!r} must match {NAME_PATTERN.pattern} (letters, digits, '_', '.', '-')")
    return name


def _shorten(value: str, raw: str, limit: int) -> str:
    """``value`` cut to ``limit`` characters, ending in 12 hex digits of the sha256 of ``raw``."""
    return value[: limit - 13] + "-" + hashlib.sha256(raw.encode("utf-8")).hexdigest()[:12]


def make_doc_id(prefix: str, raw: str, rule: IdField) -> str:
    """``prefix`` + the sanitised source id; an id longer than ``rule`` allows keeps its first
    characters and ends in 12 hex digits of the sha256 of the full source id (stable, unique)."""
    doc_id = prefix + sanitise_id(raw)
    if not rule.pattern.search(doc_id):
        doc_id = sanitise_id(doc_id, doc=True)
    if len(doc_id) > rule.max_length:
        doc_id = _shorten(doc_id, raw, rule.max_length)
    return doc_id


class IdMaker:
    """Unique ids inside one record: the source id when it is a valid id (``rule``), else a
    sanitised or generated one (``T1``/``R1``...)."""

    def __init__(self, prefix: str, rule: IdField) -> None:
        self.prefix = prefix
        self.rule = rule
        self.used: set[str] = set()
        self.counter = 0

    def make(self, raw: str | None) -> str:
        candidate = sanitise_id(raw) if raw else None
        if candidate and len(candidate) > self.rule.max_length:
            candidate = _shorten(candidate, raw, self.rule.max_length)
        if candidate and self.rule.allows(candidate) and candidate not in self.used:
            self.used.add(candidate)
            return candidate
        while True:
            self.counter += 1
            generated = f"{self.prefix}{self.counter}"
            if generated not in self.used:
                self.used.add(generated)
                return generated
