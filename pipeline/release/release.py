"""``python -m pipeline release VERSION``: cut an immutable, verifiable version of the dataset.

The version lives in one place, ``params.yaml`` ``publish.version`` (with ``previous_version``
and ``previous_manifest_sha256``, which chain it to the release before); the publish stage writes
them into ``manifest.json`` and the card, and copies the changelog. A release:

1. refuses unless the git working tree and ``dvc status`` are clean (what is published is what
   the commit describes);
2. finds the previous release (the highest GTO tag ``<dataset_name>@v<X.Y.Z>``), refuses a
   version that is not greater, diffs the previous release's dataset against the working copy's
   (:mod:`pipeline.release.diff`) and refuses a version that understates the change
   (:func:`pipeline.core.diff.required_bump`);
3. writes the version keys into ``params.yaml``, prepends the diff to the changelog, runs
   ``dvc repro`` (the publish stage rewrites manifest and card) and commits
   ``Release <dataset_name> v<VERSION>``;
4. pushes the data to every remote (``dvc push``), and only then
5. registers the version with GTO: the annotated tag ``<dataset_name>@v<VERSION>``.

The tag comes last, so a tag never points at data a remote lacks. A run killed or failing before
the commit leaves a journal (``.dvc/tmp/release.json``); the next run puts back the files it had
changed and starts again. A run stopped after the commit (push failed, remote unreachable, killed
mid-push) leaves the release commit without its tag; the next run with the same version pushes
and tags it. An existing tag is never moved or reused: the same version again is a no-op when the
tag is the current commit (it pushes once more), and refused otherwise.
"""

from __future__ import annotations

import json
import logging
import re
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from pipeline.config import StageConfig
from pipeline.core.diff import BUMPS, bump_of, parse_version
from pipeline.io import atomic
from pipeline.io.published import read_manifest
from pipeline.release.diff import compute_diff, write_reports
from pipeline.release.revisions import commit_of, git, materialise, tag_name
from pipeline.runtime import faults
from pipeline.runtime.fingerprint import file_sha256

log = logging.getLogger(__name__)

KILL_SWITCH = "PIPELINE_RELEASE_KILL_AT"
PARAMS = Path("params.yaml")
LOCK = Path("dvc.lock")
JOURNAL = Path(".dvc/tmp/release.json")


class ReleaseRefused(RuntimeError):
    """The release cannot be cut as asked; nothing was committed, pushed or tagged."""


@dataclass(frozen=True)
class Previous:
    version: str
    tag: str
    manifest_sha256: str


def checkpoint(name: str) -> None:
    """``PIPELINE_RELEASE_KILL_AT=<name>`` kills the release here (the crash tests)."""
    faults.checkpoint(KILL_SWITCH, name)


def commit_message(dataset_name: str, version: str) -> str:
    return f"Release {dataset_name} v{version}"


def _run(root: Path, cmd: Sequence[str], what: str) -> str:
    """Run a tool (dvc) in ``root``; a failure names it with the tail of its output."""
    log.info("release: %s", " ".join(cmd))
    result = subprocess.run(list(cmd), cwd=root, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
        raise ReleaseRefused(f"{what} failed (exit {result.returncode}):\n{tail}")
    return result.stdout


def released_versions(root: Path, dataset_name: str) -> dict[str, str]:
    """Every release: version → tag, from the GTO tags ``<dataset_name>@v<X.Y.Z>``."""
    found = {}
    pattern = re.compile(re.escape(dataset_name) + r"@v(\d+\.\d+\.\d+)")
    for tag in git(root, "tag", "--list", f"{dataset_name}@v*").splitlines():
        match = pattern.fullmatch(tag.strip())
        if match:
            found[match.group(1)] = tag.strip()
    return dict(sorted(found.items(), key=lambda item: parse_version(item[0])))


def set_version_keys(params: str, version: str, previous: Previous | None) -> str:
    """``params.yaml`` text with ``publish.version`` and the two chain keys set (comments kept)."""
    head, marker, section = params.partition("\npublish:\n")
    if not marker:
        raise ReleaseRefused(f"{PARAMS}: no top-level 'publish:' section to write the version into")
    values = {
        "version": version,
        "previous_version": previous.version if previous else "null",
        "previous_manifest_sha256": previous.manifest_sha256 if previous else "null",
    }
    for key, value in values.items():
        section, count = re.subn(rf"(?m)^  {key}:.*$", f"  {key}: {value}", section, count=1)
        if not count:
            section = f"  {key}: {value}\n" + section
    return head + marker + section


def changelog_with(changelog: str, version: str, previous: Previous | None, markdown: str | None) -> str:
    """The changelog with this version's entry first (after the title and intro)."""
    title, sep, rest = changelog.partition("\n## ")
    body = markdown.strip() if markdown else "The first release."
    since = f" (since {previous.version})" if previous else ""
    entry = f"## {version}{since}\n\n{body}\n"
    return title.rstrip("\n") + "\n\n" + entry + (("\n## " + rest) if sep else "")


def _clean_tree(root: Path) -> None:
    status = git(root, "status", "--porcelain", "--untracked-files=normal")
    if status:
        raise ReleaseRefused(f"the git working tree is not clean; commit or stash first:\n{status}")
    dvc = _run(root, ["dvc", "status", "--json"], "dvc status").strip()
    if json.loads(dvc or "{}"):
        raise ReleaseRefused(f"dvc status is not clean (run `dvc repro` and commit dvc.lock first): {dvc}")


def _recover(root: Path) -> None:
    """Undo what a run stopped before its commit changed (it left the journal)."""
    journal = root / JOURNAL
    if not journal.exists():
        return
    state = json.loads(journal.read_text(encoding="utf-8"))
    if commit_of(root, "HEAD") == state["head"]:
        # The tree was clean when the journal was written: every change since is the release's.
        changed = git(root, "diff", "--name-only", "HEAD").splitlines()
        if changed:
            git(root, "checkout", "HEAD", "--", *changed)
        _run(root, ["dvc", "repro"], "dvc repro (back to the commit's dataset)")
        log.warning("release: put back %s from an interrupted release of %s", ", ".join(changed) or "nothing", state["version"])
    journal.unlink()


def _previous(root: Path, config: StageConfig, version: str, scratch: Path) -> tuple[Previous | None, Path | None]:
    versions = released_versions(root, config.publish.dataset_name)
    if not versions:
        return None, None
    last = list(versions)[-1]
    if bump_of(last, version) is None:
        raise ReleaseRefused(f"version {version} is not greater than the last release {last} ({versions[last]})")
    folder = materialise(root, versions[last], str(config.publish.out_dir), scratch / "previous")
    digest = file_sha256(folder / "manifest.json")
    return Previous(last, versions[last], digest), folder


def _push(root: Path, remotes: Sequence[str]) -> None:
    targets = list(remotes) or [""]
    for index, remote in enumerate(targets):
        if index:
            checkpoint("mid-push")
        _run(root, ["dvc", "push", *(["--remote", remote] if remote else [])], "dvc push" + (f" to {remote}" if remote else ""))


def _tag(root: Path, dataset_name: str, version: str) -> None:
    from gto import api as gto

    gto.register(str(root), dataset_name, "HEAD", version=f"v{version}", message=commit_message(dataset_name, version))


def release(root: Path, config: StageConfig, version: str, remotes: Sequence[str] = (), reports: Path | None = None) -> str:
    """Cut ``version`` in the repository at ``root`` (the steps in the module docstring); the tag."""
    parse_version(version)
    publish = config.publish
    name = publish.dataset_name
    tag = tag_name(name, version)
    published = str(publish.out_dir)
    _recover(root)
    head = commit_of(root, "HEAD")
    tagged = commit_of(root, f"refs/tags/{tag}")
    if tagged is not None:
        if tagged != head:
            raise ReleaseRefused(f"version {version} is released already ({tag} → {tagged[:12]}); a tag is never moved or reused")
        _clean_tree(root)
        _push(root, remotes)
        log.info("release: %s is this commit already; pushed its data again", tag)
        return tag
    committed = git(root, "log", "-1", "--format=%s") == commit_message(name, version)
    if committed:
        _clean_tree(root)
        if publish.version != version:
            raise ReleaseRefused(f"HEAD is the release commit of {version} but {PARAMS} says publish.version {publish.version}")
        log.info("release: completing %s (its commit exists; push and tag)", tag)
    else:
        _clean_tree(root)
        with tempfile.TemporaryDirectory(prefix="release-") as scratch:
            previous, old_folder = _previous(root, config, version, Path(scratch))
            markdown = None
            if previous is not None and old_folder is not None:
                diff = compute_diff(old_folder, root / published, f"v{previous.version}", f"v{version}")
                markdown = write_reports(diff, reports or root / "corpus" / "reports")
                asked = bump_of(previous.version, version)
                if BUMPS.index(asked or "patch") < BUMPS.index(diff["bump"]):
                    raise ReleaseRefused(
                        f"version {version} is a {asked} bump over {previous.version}, but the changes need a {diff['bump']} bump:\n"
                        + "\n".join(f"  - {reason}" for reason in diff["reasons"])
                    )
        changelog = publish.changelog
        files = [str(PARAMS), str(LOCK), str(changelog)]
        atomic.write_text(root / JOURNAL, json.dumps({"version": version, "head": head, "files": files}) + "\n")
        params_text = set_version_keys((root / PARAMS).read_text(encoding="utf-8"), version, previous)
        yaml.safe_load(params_text)  # still YAML
        atomic.write_text(root / PARAMS, params_text)
        atomic.write_text(root / changelog, changelog_with((root / changelog).read_text(encoding="utf-8"), version, previous, markdown))
        _run(root, ["dvc", "repro"], "dvc repro")
        manifest = read_manifest(root / published)
        if manifest.get("version") != version:
            raise ReleaseRefused(f"{published}/manifest.json says version {manifest.get('version')!r} after dvc repro, not {version}")
        checkpoint("before-commit")
        git(root, "add", "--update")  # the tree was clean: only what this release changed
        git(root, "commit", "--quiet", "-m", commit_message(name, version))
        (root / JOURNAL).unlink()
        checkpoint("after-commit")
    _push(root, remotes)
    checkpoint("before-tag")
    _tag(root, name, version)
    log.info("release: %s registered (tag %s) and pushed", version, tag)
    return tag
