"""Round-trip defects found when doccano was tried by a team, as a new user would: each test failed
before its fix (issue 15).

An annotator's work must never vanish on the way back: a bad span is reported and the rest of the
example kept, an un-confirmed example is not dropped without a word, a second project does not
collide with the first, files are readable by the team, and a stalled server is named, not waited
for in silence.
"""

from __future__ import annotations

import os
import socket
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import read_jsonl, utf16_offset
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.core.checks import DocumentInfo, check_record
from pipeline.core.problems import Severity
from pipeline.core.selection import check_and_select
from pipeline.core.spans import record_from_json
from pipeline.core.text import text_sha256
from pipeline.doccano.pull import layer_path
from pipeline.doccano.server_config import ServerConfig
from pipeline.doccano.session import Credentials, DoccanoError, connect
from pipeline.io.layers import read_layers
from pipeline.io.schemas import load_json_schema, load_label_schema

pytestmark = pytest.mark.doccano


def invoke(*args: str):
    return CliRunner().invoke(app, ["doccano", *args], catch_exceptions=False)


@pytest.fixture
def small(small_workspace):
    root, config, _docs = small_workspace
    return root, root / "params.yaml", config


def setup_project(small, doccano_env, admin_session, projects, make_user, prefix: str, *extra: str):
    """A pushed project (gold of the small workspace) with one annotator member; returns (project, info, anna, name)."""
    _, params_file, _ = small
    project = projects(prefix)
    pushed = invoke("push", "--project", project, "--params", str(params_file), *extra)
    assert pushed.exit_code == 0, pushed.output
    username, password = make_user("anna")
    info = admin_session.require_project(project)
    admin_session.client.add_member(info["id"], username, "annotator")
    anna = connect(doccano_env.url, Credentials(username, password, "test"))
    anna.password = password  # for tests that act through the CLI as anna
    return project, info, anna, username


def example_of(session, project_id: int, doc_id: str) -> dict:
    return next(e for e in session.list_examples(project_id) if e["meta"]["doc_id"] == doc_id)


def draw(session, project_id: int, example: dict, surface: str, label: str) -> int:
    """A span drawn as the editor sends it: UTF-16 offsets of ``surface`` in the example text."""
    text = example["text"]
    start = text.index(surface)
    labels = session.label_types(project_id, "span")
    made = session.client.create_span(
        project_id, example["id"], utf16_offset(text, start), utf16_offset(text, start + len(surface)), label=labels[label]
    )
    return made.id


def pull_cli(params_file: Path, project: str, out: Path, *extra: str):
    return invoke("pull", "--project", project, "--out-dir", str(out), "--params", str(params_file), *extra)


# --------------------------------------------------------------------------- surrogate-splitting span


def test_span_splitting_a_surrogate_pair_keeps_the_other_annotations_and_is_an_error(
    small, doccano_env, admin_session, projects, make_user, tmp_path: Path
):
    _, params_file, _ = small
    project, info, anna, username = setup_project(small, doccano_env, admin_session, projects, make_user, "surrogate")
    pid = info["id"]
    example = example_of(anna, pid, "hand-emoji")
    draw(anna, pid, example, "Angela Merkel", "PER")
    text = example["text"]
    emoji = utf16_offset(text, text.index("😀"))  # 😀 takes two UTF-16 units: emoji + 1 is inside it
    bad = anna.client.create_span(pid, example["id"], emoji + 1, emoji + 3, label=anna.label_types(pid, "span")["ORG"])
    anna.client.update_example_state(pid, example["id"])

    result = pull_cli(params_file, project, tmp_path, "--user", username)
    assert result.exit_code == 1, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    assert f"span {bad.id} (ORG, UTF-16 offsets {emoji + 1}-{emoji + 3})" in errors[0]
    assert "splits a surrogate pair" in errors[0] and "hand-emoji" in errors[0] and f"example {example['id']}" in errors[0]
    assert "re-draw" in errors[0] and "pull again" in errors[0]
    assert "Angela" in errors[0]  # the text around the span
    records = read_jsonl(layer_path(tmp_path, username, project))
    kept = next(r for r in records if r["doc_id"] == "hand-emoji")
    assert [(e["text"], e["label"]) for e in kept["entities"]] == [("Angela Merkel", "PER")]


# --------------------------------------------------------------------------- un-confirm


def test_unconfirmed_example_is_not_dropped_silently(small, doccano_env, admin_session, projects, make_user, tmp_path: Path):
    _, params_file, _ = small
    project, info, anna, username = setup_project(small, doccano_env, admin_session, projects, make_user, "unconfirm")
    pid = info["id"]
    for doc_id, surface in (("hand-emoji", "Angela Merkel"), ("hand-zwj", "Köln")):
        example = example_of(anna, pid, doc_id)
        draw(anna, pid, example, surface, "PER" if doc_id == "hand-emoji" else "GPE")
        anna.client.update_example_state(pid, example["id"])
    assert pull_cli(params_file, project, tmp_path, "--user", username).exit_code == 0
    layer = layer_path(tmp_path, username, project)
    before = layer.read_bytes()
    assert {r["doc_id"] for r in read_jsonl(layer)} == {"hand-emoji", "hand-zwj"}

    anna.client.update_example_state(pid, example_of(anna, pid, "hand-zwj")["id"])  # toggles: un-confirmed
    refused = pull_cli(params_file, project, tmp_path, "--user", username)
    assert refused.exit_code == 1, refused.output
    assert f"{layer}: hand-zwj: the pull would drop this record" in refused.stderr
    assert "--allow-drop" in refused.stderr and "confirm" in refused.stderr
    assert layer.read_bytes() == before  # nothing written

    allowed = pull_cli(params_file, project, tmp_path, "--user", username, "--allow-drop")
    assert allowed.exit_code == 0, allowed.output
    assert "warning: " in allowed.stderr and "hand-zwj: dropped" in allowed.stderr
    assert {r["doc_id"] for r in read_jsonl(layer)} == {"hand-emoji"}


def test_pull_that_empties_a_record_says_so(small, doccano_env, admin_session, projects, make_user, tmp_path: Path):
    _, params_file, _ = small
    project, info, anna, username = setup_project(small, doccano_env, admin_session, projects, make_user, "empty")
    pid = info["id"]
    example = example_of(anna, pid, "hand-emoji")
    span = draw(anna, pid, example, "Angela Merkel", "PER")
    anna.client.update_example_state(pid, example["id"])
    assert pull_cli(params_file, project, tmp_path, "--user", username).exit_code == 0
    anna.client.delete_span(pid, example["id"], span)
    refused = pull_cli(params_file, project, tmp_path, "--user", username)
    assert refused.exit_code == 1
    assert "hand-emoji: the pull would empty this record (1 entities, 0 relations" in refused.stderr


# --------------------------------------------------------------------------- two projects, one annotator


def test_two_projects_of_one_annotator_publish_without_duplicate_record(
    small, doccano_env, admin_session, projects, make_user, tmp_path: Path
):
    _, params_file, config = small
    first, info, anna, username = setup_project(small, doccano_env, admin_session, projects, make_user, "first")
    second = projects("second")
    assert invoke("push", "--project", second, "--params", str(params_file)).exit_code == 0
    info2 = admin_session.require_project(second)
    admin_session.client.add_member(info2["id"], username, "annotator")
    for project_info in (info, info2):
        example = example_of(anna, project_info["id"], "hand-emoji")
        draw(anna, project_info["id"], example, "Angela Merkel", "PER")
        anna.client.update_example_state(project_info["id"], example["id"])
    out = tmp_path / "annotations"
    for project in (first, second):
        result = pull_cli(params_file, project, out, "--user", username)
        assert result.exit_code == 0, result.output
    assert layer_path(out, username, first) != layer_path(out, username, second)
    schema = load_label_schema(config.schemas.labels)
    records, problems = read_layers(out, load_json_schema(config.schemas.annotation))
    assert not problems
    assert {r.layer for r in records} == {f"annotators/{username}/{first}", f"annotators/{username}/{second}"}
    from pipeline.doccano.corpus import read_documents

    docs = {d.doc_id: DocumentInfo(d.doc_id, d.text, d.text_sha256, d.source, None) for d in read_documents(config.ingest.out_dir)}
    chosen, found = check_and_select(records, docs, schema, priority=config.annotate.layer_priority)
    assert not [p for p in found if p.kind == "duplicate-record"], [p.format() for p in found]
    assert chosen["hand-emoji"].layer == f"annotators/{username}/{first}"  # documented rule: first layer name wins


# --------------------------------------------------------------------------- files: modes, export zips


def test_layer_files_have_the_usual_modes_and_exports_leave_no_zip(small, doccano_env, projects, tmp_path: Path):
    _, params_file, _ = small
    project = projects("modes")
    assert invoke("push", "--project", project, "--params", str(params_file)).exit_code == 0
    media = ServerConfig().data_dir / "media"
    zips_before = sorted(media.glob("*.zip"))
    old = os.umask(0o022)
    try:
        assert pull_cli(params_file, project, tmp_path, "--all").exit_code == 0
    finally:
        os.umask(old)
    layer = layer_path(tmp_path, doccano_env.username, project)
    assert stat.S_IMODE(layer.stat().st_mode) == 0o644
    assert stat.S_IMODE(layer.parent.stat().st_mode) == 0o755
    assert sorted(media.glob("*.zip")) == zips_before  # push exported once, pull once: both cleaned up


# --------------------------------------------------------------------------- suggestions for a subset


def test_suggestions_for_a_subset_pushed_by_the_admin(small, doccano_env, admin_session, projects, make_user, monkeypatch):
    root, params_file, _ = small
    project, info, anna, username = setup_project(
        small, doccano_env, admin_session, projects, make_user, "subset", "--documents", "hand-emoji", "--documents", "hand-zwj"
    )
    layer = root / "corpus" / "preannotations" / "preannotations.jsonl"
    gold = root / "corpus" / "annotations" / "gold" / "roundtrip.jsonl"
    layer.parent.mkdir(parents=True, exist_ok=True)
    layer.write_text(gold.read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setenv("DOCCANO_USER", username)
    monkeypatch.setenv("DOCCANO_PASSWORD", anna.password)
    result = invoke("push", "--project", project, "--as-suggestions", "--params", str(params_file))
    assert result.exit_code == 0, result.output
    assert "2 updated" in result.stdout
    assert "are not in doccano project" in result.stderr and "hand-nfd" in result.stderr
    assert "a project admin must push them first" in result.stderr
    assert anna.client.list_spans(info["id"], example_of(anna, info["id"], "hand-zwj")["id"])


# --------------------------------------------------------------------------- whitespace from doccano


def test_whitespace_span_from_doccano_says_the_fix_belongs_in_doccano(small):
    _, _, config = small
    schema = load_label_schema(config.schemas.labels)
    text = "Heute in Berlin."
    data = {
        "doc_id": "d1",
        "text_sha256": text_sha256(text),
        "source": "annotator:anna",
        "entities": [{"id": "E1", "start": 8, "end": 15, "label": "GPE"}],
        "relations": [],
    }
    record = record_from_json(data, layer="annotators/anna/p", path="corpus/annotations/annotators/anna/p/p.jsonl", line=1)
    problems = check_record(record, DocumentInfo("d1", text, data["text_sha256"], "x", None), schema, Severity.ERROR)
    message = next(p for p in problems if p.kind == "whitespace-span").format()
    assert "fix the span in doccano" in message and "the next pull overwrites" in message


# --------------------------------------------------------------------------- a stalled server


@pytest.fixture
def stalled_server() -> Iterator[str]:
    """A local socket server that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            held.append(connection)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join()
    for connection in held:
        connection.close()
    listener.close()


def test_stalled_server_times_out_and_says_what_it_waited_for(
    stalled_server: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    monkeypatch.setenv("DOCCANO_TIMEOUT", "1")
    monkeypatch.setattr("pipeline.doccano.session.PROGRESS_EVERY_S", 0.2)
    with caplog.at_level("INFO"), pytest.raises(DoccanoError) as excinfo:
        connect(stalled_server, Credentials("anna", "not-secret", "test"))
    message = str(excinfo.value)
    assert message.startswith(f"doccano at {stalled_server} accepted the connection but did not answer within 1 s while trying to log in")
    assert "DOCCANO_TIMEOUT" in message
    assert f"waiting for doccano at {stalled_server} to log in" in caplog.text


def test_a_layer_of_the_earlier_layout_is_moved_into_its_project_folder(small, doccano_env, projects, tmp_path: Path):
    _, params_file, _ = small
    project = projects("moved")
    assert invoke("push", "--project", project, "--params", str(params_file)).exit_code == 0
    assert pull_cli(params_file, project, tmp_path, "--all").exit_code == 0
    layer = layer_path(tmp_path, doccano_env.username, project)
    earlier = layer.parent.parent / f"{project}.jsonl"  # annotators/<user>/<project>.jsonl: one layer per user
    content = layer.read_bytes()
    layer.rename(earlier)
    layer.parent.rmdir()
    result = pull_cli(params_file, project, tmp_path, "--all")
    assert result.exit_code == 0, result.output
    assert f"moved {earlier} into its project folder" in result.stdout
    assert not earlier.exists() and layer.read_bytes() == content


def test_pull_warns_about_a_whitespace_padded_span_and_names_doccano_as_the_place_to_fix_it(
    small, doccano_env, admin_session, projects, make_user, tmp_path: Path
):
    _, params_file, _ = small
    project, info, anna, username = setup_project(small, doccano_env, admin_session, projects, make_user, "padded")
    example = example_of(anna, info["id"], "hand-emoji")
    draw(anna, info["id"], example, "Angela Merkel ", "PER")
    anna.client.update_example_state(info["id"], example["id"])
    result = pull_cli(params_file, project, tmp_path, "--user", username)
    assert result.exit_code == 0, result.output
    assert f"warning: hand-emoji: example {example['id']}: span 'Angela Merkel ' (PER) of '{username}' has whitespace" in result.stderr
    assert f"fix the span in doccano (project '{project}') and pull again" in result.stderr


def test_an_example_no_longer_imported_is_not_dropped_silently_either(
    small, doccano_env, admin_session, projects, make_user, tmp_path: Path
):
    _, params_file, _ = small
    project, info, anna, username = setup_project(small, doccano_env, admin_session, projects, make_user, "edited")
    example = example_of(anna, info["id"], "hand-emoji")
    draw(anna, info["id"], example, "Angela Merkel", "PER")
    anna.client.update_example_state(info["id"], example["id"])
    assert pull_cli(params_file, project, tmp_path, "--user", username).exit_code == 0
    url = f"{admin_session._base.api_url}/projects/{info['id']}/examples/{example['id']}"
    admin_session._base._session.patch(url, json={"text": example["text"] + " (bearbeitet)"}).raise_for_status()
    refused = pull_cli(params_file, project, tmp_path, "--user", username)
    assert refused.exit_code == 1
    assert "warning: not imported: hand-emoji: hash-mismatch" not in refused.stderr  # refused before any report
    assert (
        "hand-emoji: the pull would drop this record (1 entities, 0 relations): its example was not imported this time (hash-mismatch)"
        in refused.stderr
    )
