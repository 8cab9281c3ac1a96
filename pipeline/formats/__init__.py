"""Importers and exporters of third-party annotation formats.

One small adapter module per format; none imports another. What they share is one module per
concept: :mod:`~pipeline.formats.source` (what an adapter reads), :mod:`~pipeline.formats.mapping`
(foreign labels → ours), :mod:`~pipeline.formats.ids`, :mod:`~pipeline.formats.build` (source
documents → checked documents and records), :mod:`~pipeline.formats.reading` (input files) and
:mod:`~pipeline.formats.writer` (an import's files); offsets are converted by
:mod:`pipeline.core.text`, token-based text is rebuilt by :mod:`pipeline.core.tokens` and BIO is
decoded by :mod:`pipeline.core.bio`; and exporters read the published dataset with
:mod:`pipeline.io.published`. ``docs/formats.md`` describes every format, its offset unit and what
an import or export keeps or drops.

The registries name the module that implements each format; modules are imported on demand so
that, e.g., exporting BRAT does not load spaCy. This module also holds what every importer raises
(:class:`ImportFailed`) and what every exporter takes (:class:`ExportOptions`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


class ImportFailed(Exception):
    """The input cannot be imported at all (unmapped labels, unreadable input): nothing is written."""


@dataclass
class ExportOptions:
    offsets: str = "utf16"


#: format name → ``module:function`` with ``function(paths, options) -> ImportResult``
IMPORTERS: dict[str, str] = {
    "doccano": "pipeline.formats.doccano:read",
    "mobie": "pipeline.formats.mobie:read",
    "conll": "pipeline.formats.conll:read_conll",
    "germeval": "pipeline.formats.conll:read_germeval",
    "hipe": "pipeline.formats.hipe:read",
    "brat": "pipeline.formats.brat:read",
    "spacy": "pipeline.formats.spacy_docbin:read",
}

#: format name → ``module:function`` with ``function(corpus, out, options) -> list[Path]``
EXPORTERS: dict[str, str] = {
    "hf": "pipeline.formats.hf:write",
    "spacy": "pipeline.formats.spacy_docbin:write",
    "conll": "pipeline.formats.conll:write",
    "brat": "pipeline.formats.brat:write",
    "doccano": "pipeline.formats.doccano:write",
}


def _resolve(target: str) -> Callable[..., Any]:
    module, _, function = target.partition(":")
    return getattr(importlib.import_module(module), function)


def importer(name: str) -> Callable[..., Any]:
    """The function importing format ``name``; ``ValueError`` listing the known formats otherwise."""
    if name not in IMPORTERS:
        raise ValueError(f"unknown import format {name!r}; known: {', '.join(sorted(IMPORTERS))}")
    return _resolve(IMPORTERS[name])


def exporter(name: str) -> Callable[..., Any]:
    """The function exporting format ``name``; ``ValueError`` listing the known formats otherwise."""
    if name not in EXPORTERS:
        raise ValueError(f"unknown export format {name!r}; known: {', '.join(sorted(EXPORTERS))}")
    return _resolve(EXPORTERS[name])
