"""Versioned releases of the published dataset: the semantic diff of two versions and ``release``."""
