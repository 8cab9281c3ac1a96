"""Tests of the format adapters (a package, so that its module names cannot clash with
``tests/test_*.py`` or another folder's ``conftest``)."""
