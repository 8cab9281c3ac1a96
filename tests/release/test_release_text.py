"""The text edits of a release: params.yaml's version keys and the changelog entry."""

from __future__ import annotations

import pytest
import yaml

from pipeline.release.release import Previous, ReleaseRefused, changelog_with, set_version_keys

PARAMS = """# comment kept
publish:
  dataset_name: d
  # the version
  version: 0.1.0
  previous_version: null
  previous_manifest_sha256: null
  changelog: corpus/CHANGELOG.md
"""
PREVIOUS = Previous("0.1.0", "d@v0.1.0", "a" * 64)


def test_the_version_keys_are_rewritten_and_comments_kept():
    text = set_version_keys(PARAMS, "0.2.0", PREVIOUS)
    assert yaml.safe_load(text)["publish"] == {
        "dataset_name": "d",
        "version": "0.2.0",
        "previous_version": "0.1.0",
        "previous_manifest_sha256": "a" * 64,
        "changelog": "corpus/CHANGELOG.md",
    }
    assert "# comment kept" in text and "  # the version\n  version: 0.2.0\n" in text


def test_params_without_a_publish_section_are_refused():
    with pytest.raises(ReleaseRefused, match=r"params\.yaml: no top-level 'publish:' section"):
        set_version_keys("runtime:\n  shards: 1\n", "0.2.0", None)


def test_the_newest_entry_comes_first():
    first = changelog_with("# Changelog\n\nIntro.\n", "0.1.0", None, None)
    assert first == "# Changelog\n\nIntro.\n\n## 0.1.0\n\nThe first release.\n"
    second = changelog_with(first, "0.2.0", PREVIOUS, "Changes from `v0.1.0` to `v0.2.0`")
    assert second.index("## 0.2.0 (since 0.1.0)") < second.index("## 0.1.0") < second.index("The first release.")
