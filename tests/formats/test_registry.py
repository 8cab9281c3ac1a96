"""The registries of importers and exporters, and what importing an adapter costs."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pipeline.formats import EXPORTERS, IMPORTERS, exporter, importer


def test_registries_resolve():
    for name in IMPORTERS:
        assert callable(importer(name))
    for name in EXPORTERS:
        assert callable(exporter(name))
    with pytest.raises(ValueError, match="known: brat"):
        importer("xml")


ADAPTERS = sorted({target.partition(":")[0] for target in (*IMPORTERS.values(), *EXPORTERS.values())} | {"pipeline.formats.cli"})


@pytest.mark.parametrize("module", ADAPTERS)
def test_importing_an_adapter_does_not_import_spacy(module: str):
    """The importers share the paragraph rule of ``pipeline.core.segment``, which loads spaCy only
    when it segments; importing an adapter (even the spaCy one) must not."""
    script = f"import sys, {module}\nassert 'spacy' not in sys.modules, sorted(m for m in sys.modules if m.startswith('spacy'))[:5]"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
