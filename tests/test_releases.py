"""Versioned releases end to end: cut v0.1.0 of the seed corpus, change the gold layer, cut v0.2.0
(refused for 0.1.1 and for 0.1.0 again), then fetch both versions from a separate consumer
environment (dvc, dvc-s3, pandas, pyarrow, datasets; no `pipeline`) against the local remote and
a real S3-compatible server (moto's standalone server on 127.0.0.1, started by the suite), and
check every file against the version's manifest. A release killed at each step is completed by
the next run, never leaving a tag on data a remote lacks; no credential reaches a file or a log.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from repo_helpers import REPO, copy_repo, tool_env
from s3_helpers import free_port, moto_server

pytestmark = pytest.mark.e2e

NAME = "german-news-entities-relations"
CONSUMER_PYTHON = REPO / ".venv-consumer" / "bin" / "python"
SECRET = f"moto-secret-{uuid.uuid4().hex}"
KEY_ID = "release-test-key"
BUCKET = "corpus-releases"
LOGS: list[str] = []
"""Every output of every command these tests run (searched for the secret)."""
KEPT: dict[str, Path] = {}


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """A real S3-compatible HTTP server (moto) on 127.0.0.1 for this module, with one bucket."""
    with moto_server(KEY_ID, SECRET, BUCKET) as endpoint:
        yield endpoint


def env() -> dict[str, str]:
    """The tools' environment: credentials only here (never in a file), a git identity."""
    return tool_env() | {
        "AWS_ACCESS_KEY_ID": KEY_ID,
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_DEFAULT_REGION": "us-east-1",
        "GIT_AUTHOR_NAME": "test",
        "GIT_AUTHOR_EMAIL": "test@example.org",
        "GIT_COMMITTER_NAME": "test",
        "GIT_COMMITTER_EMAIL": "test@example.org",
    }


def run(cmd: list[str], cwd: Path, check: bool = True, extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(cmd, cwd=cwd, env=env() | (extra or {}), capture_output=True, text=True, timeout=900)
    LOGS.append(f"$ {' '.join(cmd)}\n{result.stdout}\n{result.stderr}")
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def release(repo: Path, version: str, check: bool = True, kill_at: str | None = None) -> subprocess.CompletedProcess[str]:
    extra = {"PIPELINE_RELEASE_KILL_AT": kill_at} if kill_at else None
    cmd = [sys.executable, "-m", "pipeline", "release", version, "--remote", "local", "--remote", "s3"]
    return run(cmd, repo, check=check, extra=extra)


def commit_all(repo: Path, message: str) -> None:
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", message], repo)


def change_gold(repo: Path) -> None:
    """Add an entity (T99 MISC), relabel one (T12 GPE → LOC), add a document (001_added)."""
    layer = repo / "corpus" / "annotations" / "gold" / "seed.jsonl"
    record = json.loads(layer.read_text(encoding="utf-8").splitlines()[0])
    text = (repo / "seeds" / "000_ea687b33c55d6d88.txt").read_text(encoding="utf-8")
    relabelled = next(e for e in record["entities"] if e["id"] == "T12")
    assert relabelled["label"] == "GPE"
    relabelled["label"] = "LOC"
    start = text.index("Sanktionen")
    record["entities"].append({"id": "T99", "start": start, "end": start + 10, "label": "MISC", "text": "Sanktionen"})
    added = "Angela Merkel besuchte Paris."
    (repo / "seeds" / "001_added.txt").write_text(added, encoding="utf-8")
    new = {
        "doc_id": "001_added",
        "text_sha256": hashlib.sha256(added.encode("utf-8")).hexdigest(),
        "source": "gold",
        "entities": [
            {"id": "T1", "start": 0, "end": 13, "label": "PER", "text": "Angela Merkel"},
            {"id": "T2", "start": 23, "end": 28, "label": "GPE", "text": "Paris"},
        ],
        "relations": [],
    }
    layer.write_text(json.dumps(record, ensure_ascii=False) + "\n" + json.dumps(new, ensure_ascii=False) + "\n", encoding="utf-8")


def tag(version: str) -> str:
    return f"{NAME}@v{version}"


def tag_commit(repo: Path, version: str) -> str | None:
    result = run(["git", "rev-parse", "--verify", "--quiet", f"refs/tags/{tag(version)}^{{commit}}"], repo, check=False)
    return result.stdout.strip() or None


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory, s3_endpoint: str) -> Path:
    """v0.1.0 released to both remotes; then the gold layer changed, rebuilt and committed."""
    repo = copy_repo(tmp_path_factory.mktemp("release") / "repo")
    (repo / ".dvc-storage").mkdir()
    run(["dvc", "remote", "add", "s3", f"s3://{BUCKET}/corpus"], repo)
    run(["dvc", "remote", "modify", "s3", "endpointurl", s3_endpoint], repo)
    run(["dvc", "repro"], repo)
    commit_all(repo, "built, S3 remote")
    release(repo, "0.1.0")
    change_gold(repo)
    run(["dvc", "repro"], repo)
    commit_all(repo, "gold: T99 added, T12 relabelled, 001_added")
    return repo


@pytest.fixture(scope="module")
def refusals(prepared: Path) -> dict[str, subprocess.CompletedProcess[str]]:
    return {version: release(prepared, version, check=False) for version in ("0.1.1", "0.1.0")}


@pytest.fixture(scope="module")
def released(prepared: Path, refusals: dict, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """v0.2.0 released (after the refusals); the producer's DVC cache is removed, so every
    consumer fetch below must come from a remote."""
    release(prepared, "0.2.0")
    kept = KEPT["repo"] = tmp_path_factory.mktemp("kept") / "repo"
    shutil.copytree(prepared, kept, symlinks=True)  # the kill tests start from a copy with its cache
    shutil.rmtree(prepared / ".dvc" / "cache")
    return prepared


def test_an_understated_version_and_an_existing_one_are_refused(refusals: dict):
    patch, again = refusals["0.1.1"], refusals["0.1.0"]
    assert patch.returncode == 1
    assert "version 0.1.1 is a patch bump over 0.1.0, but the changes need a minor bump" in patch.stderr
    assert again.returncode == 1
    assert f"version 0.1.0 is released already ({tag('0.1.0')}" in again.stderr


def test_a_release_is_a_tagged_commit_and_a_manifest_chained_to_the_one_before(released: Path):
    assert run(["git", "tag", "--list", f"{NAME}@*"], released).stdout.split() == [tag("0.1.0"), tag("0.2.0")]
    assert tag_commit(released, "0.2.0") == run(["git", "rev-parse", "HEAD"], released).stdout.strip()
    assert run(["git", "status", "--porcelain"], released).stdout == ""
    old = run(["git", "show", f"{tag('0.1.0')}:params.yaml"], released).stdout
    assert "version: 0.1.0" in old
    manifest = json.loads((released / "corpus" / "published" / "manifest.json").read_text(encoding="utf-8"))
    assert (manifest["version"], manifest["previous_version"]) == ("0.2.0", "0.1.0")
    changelog = (released / "corpus" / "published" / "CHANGELOG.md").read_text(encoding="utf-8")
    assert changelog.index("## 0.2.0 (since 0.1.0)") < changelog.index("## 0.1.0")
    card = (released / "corpus" / "published" / "README.md").read_text(encoding="utf-8")
    assert "Version **0.2.0** (previous version 0.1.0, whose `manifest.json` has sha256" in card
    assert "### 0.2.0 (since 0.1.0)" in card


def test_the_diff_names_exactly_the_changes_made(released: Path):
    result = run([sys.executable, "-m", "pipeline", "diff", "0.1.0", "0.2.0"], released)
    diff = json.loads((released / "corpus" / "reports" / "diff.json").read_text(encoding="utf-8"))
    assert diff["bump"] == "minor"
    assert diff["documents"]["added"]["items"] == ["001_added"]
    assert [diff["documents"][k]["count"] for k in ("removed", "text_changed", "metadata_changed", "split_changed")] == [0, 0, 0, 0]
    assert [(e["doc_id"], e["ent_id"], e["label"]) for e in diff["entities"]["added"]["items"]] == [("000_ea687b33c55d6d88", "T99", "MISC")]
    assert diff["entities"]["relabelled"]["items"] == [{"doc_id": "000_ea687b33c55d6d88", "ent_id": "T12", "old": "GPE", "new": "LOC"}]
    assert diff["entities"]["in_added_documents"] == 2
    assert [diff["entities"][k]["count"] for k in ("removed", "moved", "changed")] == [0, 0, 0]
    assert all(diff["relations"][k]["count"] == 0 for k in ("added", "removed", "relabelled", "arguments_changed", "changed"))
    assert diff["schema"] == {"tables": {"added": [], "removed": []}, "columns": {}, "labels": {}, "relation_constraints_changed": []}
    assert diff["counts"]["entities_by_label"]["MISC"] == [0, 1]
    assert "relabelled: 1 — `000_ea687b33c55d6d88/T12 GPE → LOC`" in result.stdout
    # the same diff from the tag (a git revision) to the working copy (NEW left out)
    run([sys.executable, "-m", "pipeline", "diff", tag("0.1.0")], released)
    again = json.loads((released / "corpus" / "reports" / "diff.json").read_text(encoding="utf-8"))
    assert (again["old"], again["new"]) == (tag("0.1.0"), "working copy")
    assert {k: v for k, v in again.items() if k not in ("old", "new")} == {k: v for k, v in diff.items() if k not in ("old", "new")}


CONSUMER = r"""
import hashlib, json, subprocess, sys
from pathlib import Path
import dvc.api

repo, remote, name, out = sys.argv[1], sys.argv[2], sys.argv[3], Path(sys.argv[4])
try:
    import pipeline  # noqa: F401
except ImportError:
    pass
else:
    raise SystemExit("pipeline is importable in the consumer environment")
DVC = str(Path(sys.executable).with_name("dvc"))
remote_args = ["--remote", remote]


def check(folder):
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    for path, info in manifest["files"].items():
        digest = hashlib.sha256((folder / path).read_bytes()).hexdigest()
        assert digest == info["sha256"], (folder, path)
    return manifest


def sh(*cmd, cwd=None):
    subprocess.run(cmd, check=True, cwd=cwd)


found = {}
for version in ("0.1.0", "0.2.0"):
    tag = f"{name}@v{version}"
    art, got = out / f"artifact-{version}", out / f"get-{version}"
    sh(DVC, "artifacts", "get", repo, name, "--rev", f"v{version}", "-o", str(art), *remote_args)
    sh(DVC, "get", repo, "corpus/published", "--rev", tag, "-o", str(got), *remote_args)
    a, g = check(art), check(got)
    assert a == g and a["version"] == version, (a["version"], g["version"])
    first = sorted(a["files"])[0]
    with dvc.api.open(f"corpus/published/{first}", repo=repo, rev=tag, remote=remote, mode="rb") as handle:
        assert hashlib.sha256(handle.read()).hexdigest() == a["files"][first]["sha256"]
    found[version] = {"files": len(a["files"]), "documents": a["rows"]["documents"], "previous": a["previous_version"]}

training = out / "training"
training.mkdir()
sh("git", "init", "-q", cwd=training)
sh(DVC, "init", "-q", cwd=training)
sh(DVC, "import", repo, "corpus/published", "--rev", f"{name}@v0.1.0", "-o", "data", *remote_args, cwd=training)
before = check(training / "data")["version"]
sh(DVC, "update", "--rev", f"{name}@v0.2.0", "data.dvc", cwd=training)
after = check(training / "data")["version"]

import datasets
ner = datasets.load_dataset(str(out / "artifact-0.2.0"), "ner")
names = next(iter(ner.values())).features["ner_tags"].feature.names
print(json.dumps({"found": found, "import": [before, after], "splits": sorted(ner), "names": names[:3]}))
"""


@pytest.mark.parametrize("remote", ["local", "s3"])
def test_a_consumer_without_our_code_fetches_every_version(remote: str, released: Path, tmp_path: Path):
    assert CONSUMER_PYTHON.exists(), f"{CONSUMER_PYTHON} is missing: `make test` (or `make consumer-env`) builds it"
    extra = {
        "HF_DATASETS_OFFLINE": "1",
        "HF_HUB_OFFLINE": "1",
        "HF_HOME": str(tmp_path / "hf"),
        "PATH": f"{CONSUMER_PYTHON.parent}:/usr/bin:/bin",
    }
    result = run([str(CONSUMER_PYTHON), "-c", CONSUMER, str(released), remote, NAME, str(tmp_path)], tmp_path, extra=extra)
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["found"]["0.1.0"]["documents"] == 1 and figures["found"]["0.2.0"]["documents"] == 2
    assert (figures["found"]["0.1.0"]["previous"], figures["found"]["0.2.0"]["previous"]) == (None, "0.1.0")
    assert figures["import"] == ["0.1.0", "0.2.0"]
    assert figures["names"] == ["O", "B-PER", "I-PER"]


@pytest.fixture
def interrupted_copy(released: Path, tmp_path: Path) -> Path:
    """The repository as it was before v0.2.0 (a fresh S3 prefix, so nothing of it is there)."""
    repo = tmp_path / "repo"
    shutil.copytree(KEPT["repo"], repo, symlinks=True)
    run(["git", "tag", "-d", tag("0.2.0")], repo)
    run(["git", "reset", "-q", "--hard", "HEAD~1"], repo)
    run(["dvc", "repro"], repo)  # the interim outputs (cache: false) back to that commit
    shutil.rmtree(repo / ".dvc-storage")
    (repo / ".dvc-storage").mkdir()
    run(["dvc", "remote", "modify", "--local", "s3", "url", f"s3://{BUCKET}/{uuid.uuid4().hex}"], repo)
    return repo


def remote_holds(repo: Path, remote: str) -> bool:
    status = run(["dvc", "status", "--cloud", "--remote", remote, "--json"], repo).stdout.strip()
    return json.loads(status or "{}") == {}


@pytest.mark.parametrize("step", ["before-commit", "after-commit", "mid-push", "before-tag"])
def test_a_release_killed_at_any_step_is_completed_by_the_next_run(step: str, interrupted_copy: Path):
    repo = interrupted_copy
    killed = release(repo, "0.2.0", check=False, kill_at=step)
    assert killed.returncode == -9, killed.stderr
    commit = tag_commit(repo, "0.2.0")
    assert commit is None, f"killed at {step}, yet {tag('0.2.0')} exists"
    release(repo, "0.2.0")
    assert tag_commit(repo, "0.2.0") == run(["git", "rev-parse", "HEAD"], repo).stdout.strip()
    assert run(["git", "status", "--porcelain"], repo).stdout == ""
    assert remote_holds(repo, "local") and remote_holds(repo, "s3")
    assert run(["git", "log", "--format=%s", f"{tag('0.1.0')}..HEAD"], repo).stdout.splitlines()[0] == f"Release {NAME} v0.2.0"


def test_a_release_whose_remote_is_unreachable_leaves_no_tag(interrupted_copy: Path):
    repo = interrupted_copy
    run(["dvc", "remote", "modify", "--local", "s3", "endpointurl", f"http://127.0.0.1:{free_port()}"], repo)
    failed = release(repo, "0.2.0", check=False)
    assert failed.returncode == 1
    assert "dvc push to s3 failed" in failed.stderr
    assert tag_commit(repo, "0.2.0") is None
    run(["dvc", "remote", "modify", "--local", "--unset", "s3", "endpointurl"], repo)
    release(repo, "0.2.0")
    assert remote_holds(repo, "s3")


def test_no_credential_reaches_a_file_or_a_log(released: Path, tmp_path_factory: pytest.TempPathFactory):
    assert "endpointurl" in (released / ".dvc" / "config").read_text(encoding="utf-8")
    assert not any(SECRET in log for log in LOGS), "the secret is in a command's output"
    base = released.parent.parent
    hits = [str(p) for p in base.rglob("*") if p.is_file() and not p.is_symlink() and SECRET.encode() in p.read_bytes()]
    assert not hits, hits


def test_a_release_from_a_dirty_tree_is_refused(interrupted_copy: Path):
    (interrupted_copy / "seeds" / "002_uncommitted.txt").write_text("Noch nicht eingecheckt.", encoding="utf-8")
    refused = release(interrupted_copy, "0.2.0", check=False)
    assert refused.returncode == 1
    assert "the git working tree is not clean; commit or stash first:\n?? seeds/002_uncommitted.txt" in refused.stderr
    assert tag_commit(interrupted_copy, "0.2.0") is None
